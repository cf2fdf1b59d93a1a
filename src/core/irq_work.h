/* SPDX-License-Identifier: MIT */
/*
 * Private: deferred work, the userspace counterpart of the kernel's irq_work.
 *
 * Fence callbacks run with the signaled fence's lock held.  A container
 * (array, chain) whose member signaled must signal itself, which takes its
 * own lock; doing that inside the callback would nest locks in an order
 * that its enable_signaling path inverts, and would recurse along long
 * chains.  Instead the callback queues a work item.  Work items queue on
 * the calling thread and run in that thread as soon as it releases the
 * last spinlock it holds (immediately if it holds none), one after the
 * other, never nested.  So work runs before dma_fence_signal() returns,
 * without recursion, with no lock held.
 */
#ifndef DMASYNC_PRIV_IRQ_WORK_H
#define DMASYNC_PRIV_IRQ_WORK_H

#include <stdbool.h>
#include <stdint.h>

struct irq_work {
	struct irq_work *next;
	void (*func)(struct irq_work *work);
	unsigned int pending;
};

static inline void init_irq_work(struct irq_work *work, void (*func)(struct irq_work *))
{
	work->next = 0;
	work->func = func;
	work->pending = 0;
}

/* Queue @work unless it is already queued. Return: true if queued now. */
bool irq_work_queue(struct irq_work *work);

/*
 * Whether the calling thread has work or wake-ups deferred until it holds
 * no spinlock: spin_unlock() tests it (in the same thread-local block as
 * its own lock count) before it calls irq_work_unlocked().
 */
extern __attribute__((visibility("hidden"), tls_model("local-dynamic"))) _Thread_local bool
	core_irq_work_pending;

/* spin_unlock() dropped the thread's last spinlock: run the deferred
 * futex wake-ups, then the queued work. */
void irq_work_unlocked(void);

/*
 * Wake the futex at @addr once this thread holds no spinlock (at once if it
 * holds none).  Lets a fence callback wake a waiter without a system call
 * inside the fence lock, which would make the woken thread collide with
 * the lock it is about to need.  The waiter may already be gone by then:
 * a wake-up on a stale address is only ever spurious, and futex users
 * tolerate spurious wake-ups.
 */
void core_futex_wake_deferred(uint32_t *addr);

#endif
