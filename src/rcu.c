/* SPDX-License-Identifier: MIT */
/* RCU read-side sections and deferred frees on liburcu-bp. */
#include <urcu-bp.h>
#include <urcu/urcu-bp.h>

#include <stddef.h>

#include "rcu.h"

#if defined(__SANITIZE_THREAD__)
#define DMASYNC_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define DMASYNC_TSAN 1
#endif
#endif

#ifdef DMASYNC_TSAN
void __tsan_acquire(void *addr);
void __tsan_release(void *addr);
static char grace_period_sync;
#define tsan_acquire(a) __tsan_acquire(a)
#define tsan_release(a) __tsan_release(a)
#else
#define tsan_acquire(a) ((void)0)
#define tsan_release(a) ((void)0)
#endif

_Static_assert(offsetof(struct dmasync_rcu_head, func) >= sizeof(struct rcu_head),
	       "rcu head storage too small");

void dmasync_rcu_read_lock(void)
{
	urcu_bp_read_lock();
}

void dmasync_rcu_read_unlock(void)
{
	tsan_release(&grace_period_sync);
	urcu_bp_read_unlock();
}

void dmasync_synchronize_rcu(void)
{
	urcu_bp_synchronize_rcu();
	tsan_acquire(&grace_period_sync);
}

void dmasync_rcu_barrier(void)
{
	urcu_bp_barrier();
}

static void rcu_trampoline(struct rcu_head *head)
{
	struct dmasync_rcu_head *h = (struct dmasync_rcu_head *)(void *)head;

	tsan_acquire(&grace_period_sync);
	tsan_acquire(h);
	h->func(h);
}

void dmasync_call_rcu(struct dmasync_rcu_head *head, void (*func)(struct dmasync_rcu_head *))
{
	head->func = func;
	tsan_release(head);
	urcu_bp_call_rcu((struct rcu_head *)(void *)head, rcu_trampoline);
}
