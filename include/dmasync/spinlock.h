/* SPDX-License-Identifier: MIT */
/*
 * dmasync - the kernel's spinlock_t, as a sleeping userspace lock.
 *
 * A kernel spinlock protects short critical sections and is what a fence's
 * callbacks run under.  In userspace a spinning lock is a poor citizen (the
 * holder may be preempted), so spinlock_t here is a pthread mutex that
 * records its owner.  The owner lets lockdep_assert_held() check locking
 * contracts in builds with debug checks, the way lockdep does in the kernel.
 *
 * The _irq and _irqsave variants exist so that kernel code compiles
 * unchanged; there are no interrupts to mask, and @flags is set to 0.
 */
#ifndef DMASYNC_SPINLOCK_H
#define DMASYNC_SPINLOCK_H

#include <pthread.h>
#include <dmasync/types.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct spinlock {
	pthread_mutex_t mutex;
	unsigned long owner; /* id of the holding thread, 0 when free */
} spinlock_t;

#define __SPIN_LOCK_UNLOCKED(name) { PTHREAD_MUTEX_INITIALIZER, 0 }
#define DEFINE_SPINLOCK(name) spinlock_t name = __SPIN_LOCK_UNLOCKED(name)

/** spin_lock_init - initialize an unlocked spinlock. */
DMASYNC_EXPORT void spin_lock_init(spinlock_t *lock);

/**
 * spin_lock - acquire @lock, sleeping while another thread holds it.
 *
 * Not recursive: taking a lock the calling thread already holds is a bug
 * (caught in builds with debug checks).
 */
DMASYNC_EXPORT void spin_lock(spinlock_t *lock);

/** spin_trylock - acquire @lock if it is free. Return: true if acquired. */
DMASYNC_EXPORT bool spin_trylock(spinlock_t *lock);

/**
 * spin_unlock - release @lock, which the calling thread must hold.
 *
 * When the thread releases the last spinlock it holds, work deferred by
 * fence callbacks (the equivalent of the kernel's irq_work) runs here.
 */
DMASYNC_EXPORT void spin_unlock(spinlock_t *lock);

/** spin_is_locked - whether any thread holds @lock (racy, for asserts). */
DMASYNC_EXPORT bool spin_is_locked(spinlock_t *lock);

/** spin_is_held - whether the calling thread holds @lock. */
DMASYNC_EXPORT bool spin_is_held(spinlock_t *lock);

#define spin_lock_irq(lock) spin_lock(lock)
#define spin_unlock_irq(lock) spin_unlock(lock)
#define spin_lock_irqsave(lock, flags) do { (flags) = 0; spin_lock(lock); } while (0)
#define spin_unlock_irqrestore(lock, flags) do { (void)(flags); spin_unlock(lock); } while (0)

/**
 * lockdep_assert_held - abort with a message unless the calling thread holds
 * @lock.  Active in builds with debug checks (the default), a no-op otherwise.
 */
DMASYNC_EXPORT void dmasync_lockdep_assert_held(spinlock_t *lock, const char *file,
						int line, const char *func);
#define lockdep_assert_held(lock) \
	dmasync_lockdep_assert_held((lock), __FILE__, __LINE__, __func__)

#ifdef __cplusplus
}
#endif

#endif /* DMASYNC_SPINLOCK_H */
