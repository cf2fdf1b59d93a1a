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

#endif
