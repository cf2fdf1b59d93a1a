/* SPDX-License-Identifier: MIT */
/*
 * spinlock_t on a pthread mutex with owner tracking, and the per-thread
 * deferred-work queue that runs when a thread drops its last spinlock.
 */
#include <stdio.h>
#include <stdlib.h>

#include <dmasync/spinlock.h>
#include "debug.h"
#include "irq_work.h"
#include "futex.h"

/* A unique non-zero id per thread: the address of a thread-local. */
static _Thread_local char thread_tag;
/* Spinlocks the calling thread holds, and work deferred until it holds none. */
static _Thread_local unsigned int locks_held;
static _Thread_local struct irq_work *work_head, *work_tail;
static _Thread_local bool work_running;
/* Futex wake-ups deferred until the thread holds no spinlock. */
#define MAX_DEFERRED_WAKES 16
static _Thread_local uint32_t *wakes[MAX_DEFERRED_WAKES];
static _Thread_local unsigned int nr_wakes;

static void run_deferred_wakes(void)
{
	while (nr_wakes)
		futex_wake(wakes[--nr_wakes], 1);
}

void core_futex_wake_deferred(uint32_t *addr)
{
	if (locks_held == 0 || nr_wakes == MAX_DEFERRED_WAKES) {
		futex_wake(addr, 1);
		return;
	}
	wakes[nr_wakes++] = addr;
}

static inline unsigned long self_id(void)
{
	return (unsigned long)&thread_tag;
}

void spin_lock_init(spinlock_t *lock)
{
	pthread_mutex_init(&lock->mutex, NULL);
	__atomic_store_n(&lock->owner, 0, __ATOMIC_RELAXED);
}

void spin_lock(spinlock_t *lock)
{
	DMASYNC_ASSERT(__atomic_load_n(&lock->owner, __ATOMIC_RELAXED) != self_id(),
		       "spinlock taken recursively by its owner (self-deadlock)");
	pthread_mutex_lock(&lock->mutex);
	__atomic_store_n(&lock->owner, self_id(), __ATOMIC_RELAXED);
	locks_held++;
}

bool spin_trylock(spinlock_t *lock)
{
	if (pthread_mutex_trylock(&lock->mutex))
		return false;
	__atomic_store_n(&lock->owner, self_id(), __ATOMIC_RELAXED);
	locks_held++;
	return true;
}

void spin_unlock(spinlock_t *lock)
{
	DMASYNC_ASSERT(__atomic_load_n(&lock->owner, __ATOMIC_RELAXED) == self_id(),
		       "spin_unlock of a lock this thread does not hold");
	__atomic_store_n(&lock->owner, 0, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&lock->mutex);
	if (--locks_held == 0) {
		if (nr_wakes)
			run_deferred_wakes();
		if (work_head)
			irq_work_run();
	}
}

bool core_spinlocks_held(void)
{
	return locks_held != 0;
}

bool spin_is_locked(spinlock_t *lock)
{
	return __atomic_load_n(&lock->owner, __ATOMIC_RELAXED) != 0;
}

bool spin_is_held(spinlock_t *lock)
{
	return __atomic_load_n(&lock->owner, __ATOMIC_RELAXED) == self_id();
}

void dmasync_lockdep_assert_held(spinlock_t *lock, const char *file, int line,
				 const char *func)
{
	if (DMASYNC_DEBUG_CHECKS && !spin_is_held(lock))
		core_bug(file, line, func, "lock not held by the calling thread");
}

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
	if (locks_held == 0)
		irq_work_run();
	return true;
}

void irq_work_run(void)
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
