/* SPDX-License-Identifier: MIT */
#include <stdlib.h>

#include "rcu.h"
#include "test-fence.h"

static long tf_created, tf_freed;

static const char *tf_driver(struct dma_fence *f) { return "tfence"; }
static const char *tf_timeline(struct dma_fence *f) { return "tfence-timeline"; }

static bool tf_enable(struct dma_fence *f)
{
	__atomic_fetch_add(&to_tf(f)->enable_calls, 1, __ATOMIC_RELAXED);
	return true;
}

static void tf_free(struct core_rcu_head *h)
{
	free(container_of((void *)h, struct tfence, base.rcu));
	__atomic_fetch_add(&tf_freed, 1, __ATOMIC_RELAXED);
}

static void tf_release(struct dma_fence *f)
{
	core_call_rcu((struct core_rcu_head *)(void *)&f->rcu, tf_free);
}

static void tf_set_deadline(struct dma_fence *f, ktime_t d)
{
	__atomic_store_n(&to_tf(f)->deadline, d, __ATOMIC_RELAXED);
	__atomic_fetch_add(&to_tf(f)->deadline_calls, 1, __ATOMIC_RELAXED);
}

const struct dma_fence_ops tf_ops = {
	.get_driver_name = tf_driver,
	.get_timeline_name = tf_timeline,
	.enable_signaling = tf_enable,
	.release = tf_release,
	.set_deadline = tf_set_deadline,
};

struct dma_fence *tf_new(spinlock_t *lock, u64 ctx, u64 seqno)
{
	struct tfence *t = calloc(1, sizeof(*t));

	if (!t)
		abort();
	spin_lock_init(&t->own_lock);
	dma_fence_init(&t->base, &tf_ops, lock ? lock : &t->own_lock, ctx, seqno);
	__atomic_fetch_add(&tf_created, 1, __ATOMIC_RELAXED);
	return &t->base;
}

struct dma_fence *tf_simple(void)
{
	return tf_new(NULL, dma_fence_context_alloc(1), 1);
}

long tf_live(void)
{
	dmasync_rcu_barrier();
	return __atomic_load_n(&tf_created, __ATOMIC_RELAXED) -
	       __atomic_load_n(&tf_freed, __ATOMIC_RELAXED);
}
