/* SPDX-License-Identifier: MIT */
/*
 * spinlock_t on a pthread mutex with owner tracking.  When a thread drops
 * its last spinlock, the work and wake-ups it deferred run (irq_work.c).
 */
#include <stdio.h>
#include <stdlib.h>

#include <dmasync/spinlock.h>
#include "debug.h"
#include "irq_work.h"
#include "spinlock-priv.h"

/* A unique non-zero id per thread: the address of a thread-local. */
static _Thread_local char thread_tag;
/* Spinlocks the calling thread holds. */
static _Thread_local unsigned int locks_held;

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
	if (--locks_held == 0 && core_irq_work_pending)
		irq_work_unlocked();
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
