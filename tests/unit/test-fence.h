/* SPDX-License-Identifier: MIT */
/*
 * Private: a fence type for unit tests whose RCU-deferred frees are
 * counted, so a test can check that every fence it made was released.
 * It counts enable_signaling and set_deadline calls too.
 */
#ifndef DMASYNC_TEST_FENCE_H
#define DMASYNC_TEST_FENCE_H

#include <dmasync/dma-fence.h>

struct tfence {
	struct dma_fence base;
	spinlock_t own_lock;
	int enable_calls;
	int deadline_calls;
	ktime_t deadline;
};

extern const struct dma_fence_ops tf_ops;

static inline struct tfence *to_tf(struct dma_fence *f)
{
	return container_of(f, struct tfence, base);
}

/* A fence on @lock (NULL: a lock of its own); names "tfence"/"tfence-timeline". */
struct dma_fence *tf_new(spinlock_t *lock, u64 ctx, u64 seqno);
/* A fence on a fresh context, seqno 1. */
struct dma_fence *tf_simple(void);
/* Test fences created and not yet freed (waits for deferred frees). */
long tf_live(void);

#define CHECK_ALL_FREED() CHECK_EQ(tf_live(), 0)

#endif
