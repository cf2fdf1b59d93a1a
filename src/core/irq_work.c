/* SPDX-License-Identifier: MIT */
/*
 * irq_work: the per-thread queue of work deferred until the thread holds
 * no spinlock_t, and of futex wake-ups deferred the same way (irq_work.h).
 * spin_unlock() runs both when it drops the thread's last spinlock.
 */
#include <stdbool.h>
#include <stdint.h>

#include "futex.h"
#include "irq_work.h"
#include "spinlock-priv.h"

/* Work deferred until the calling thread holds no spinlock. */
static _Thread_local struct irq_work *work_head, *work_tail;
static _Thread_local bool work_running;
/* Futex wake-ups deferred until the thread holds no spinlock. */
#define MAX_DEFERRED_WAKES 16
static _Thread_local uint32_t *wakes[MAX_DEFERRED_WAKES];
static _Thread_local unsigned int nr_wakes;
_Thread_local bool core_irq_work_pending;

static void run_deferred_wakes(void)
{
	while (nr_wakes)
		futex_wake(wakes[--nr_wakes], 1);
}

void core_futex_wake_deferred(uint32_t *addr)
{
	if (!core_spinlocks_held() || nr_wakes == MAX_DEFERRED_WAKES) {
		futex_wake(addr, 1);
		return;
	}
	wakes[nr_wakes++] = addr;
	core_irq_work_pending = true;
}

static void irq_work_run(void);

bool irq_work_queue(struct irq_work *work)
{
	if (__atomic_exchange_n(&work->pending, 1, __ATOMIC_ACQ_REL))
		return false;
	work->next = NULL;
	if (work_head)
		work_tail->next = work;
	else
		work_head = work;
	work_tail = work;
	if (!core_spinlocks_held())
		irq_work_run();
	else
		core_irq_work_pending = true;
	return true;
}

/* Run the calling thread's queued work; it holds no spinlock. */
static void irq_work_run(void)
{
	if (work_running)
		return; /* the outer loop picks up what was queued meanwhile */
	work_running = true;
	while (work_head) {
		struct irq_work *work = work_head;

		work_head = work->next;
		/* Clear before running so the work may queue itself again. */
		__atomic_store_n(&work->pending, 0, __ATOMIC_RELEASE);
		work->func(work);
	}
	work_running = false;
}

void irq_work_unlocked(void)
{
	core_irq_work_pending = false;
	if (nr_wakes)
		run_deferred_wakes();
	if (work_head)
		irq_work_run();
}
