/* SPDX-License-Identifier: MIT */
/* Private: what the layers above see of software timelines beyond the API. */
#ifndef DMASYNC_CORE_SW_SYNC_PRIV_H
#define DMASYNC_CORE_SW_SYNC_PRIV_H

#include <dmasync/sw_sync.h>

/*
 * core_sync_timeline_for_each_pending - call @fn for every point of @tl
 * that has not signaled, in seqno order, with the timeline's lock held
 * (@fn must not take it, nor signal, create or release points of @tl).
 * For listings (the broker's IPC_LIST).
 */
void core_sync_timeline_for_each_pending(struct sync_timeline *tl,
					 void (*fn)(struct dma_fence *pt, void *arg), void *arg);

/*
 * struct core_sync_fault - errors to signal points with (fault injection).
 * @error_of: called for each point about to signal, with the timeline's
 *	lock held (it must not take it, nor touch other points): 0, or the
 *	negative errno the point signals with.
 * @arg: for @error_of.
 * @timestamp: when the points signal (dma_fence_signal_timestamp()); 0:
 *	now.  The broker applies an INC a client made through the timeline
 *	page (src/ipc/tlpage.h) with the time the client made it.
 *
 * @error_of may be NULL.
 */
struct core_sync_fault {
	int (*error_of)(struct dma_fence *pt, void *arg);
	void *arg;
	ktime_t timestamp;
};

/*
 * core_sync_timeline_signal_faulty - sync_timeline_signal(), with the
 * points that reach their value signaled with the error @fault chooses
 * (@fault may be NULL).  Same locking and return as sync_timeline_signal().
 */
int core_sync_timeline_signal_faulty(struct sync_timeline *tl, u32 inc,
				     const struct core_sync_fault *fault);

/* When the sw_sync point @fence was made (ktime_get()); 0 for other fences. */
ktime_t core_sync_pt_created(struct dma_fence *fence);

#endif
