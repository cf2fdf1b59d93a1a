/* SPDX-License-Identifier: MIT */
/*
 * dmasync - wound/wait mutexes: sleeping locks with deadlock avoidance for
 * taking many locks of one class in no particular order.
 *
 * Every lock of a ww_class may be taken inside an acquire context (a
 * "transaction").  A context draws a ticket (stamp) from its class when it
 * is initialised; a smaller stamp means an older transaction.  When two
 * transactions could deadlock, the younger one is told to back off: the
 * lock call returns -EDEADLK, the caller drops every lock of the context,
 * sleeps on the contended lock with ww_mutex_lock_slow() and retries the
 * rest, keeping the same context (and so its age) until it succeeds.  The
 * oldest transaction never backs off, so every transaction eventually
 * completes.
 *
 * The class picks the back-off rule:
 *  - Wait-Die (DEFINE_WD_CLASS, what dma_resv uses): a younger context that
 *    already holds locks and asks for a lock held by an older context, or
 *    would queue behind an older waiter, dies (-EDEADLK) at once; an older
 *    one waits.
 *  - Wound-Wait (DEFINE_WW_CLASS): an older context that holds locks and
 *    asks for a lock held by a younger context "wounds" the younger one and
 *    waits.  The wounded context backs off lazily: it gets -EDEADLK the
 *    next time one of its lock calls has to wait while it holds locks (or
 *    at once if it is already waiting).  A younger context simply waits.
 *
 * -EDEADLK is only ever returned while the context holds at least one lock,
 * so the first lock of a transaction never fails.  A NULL context turns a
 * ww_mutex into a plain mutex that never fails.
 *
 * Waiters sleep (futex); nothing spins.  The wait list keeps waiters with a
 * context in stamp order (oldest first) and context-less waiters in FIFO
 * order between them; an unlock hands the lock directly to the first
 * waiter.
 *
 * Threads: a ww_mutex is held by a thread; only that thread may unlock it.
 * An acquire context belongs to the thread that initialised it, for the
 * whole transaction.  Misuse (unlocking a lock you do not hold, locking
 * after ww_acquire_done(), mixing classes, ww_acquire_fini() with locks
 * held, ww_mutex_lock_slow() with locks held, locking another lock right
 * after -EDEADLK) aborts with a message in builds with debug checks.
 *
 * Interruptible variants: userspace has no "pending signal" state to poll,
 * so a wait counts as interrupted when a signal handler installed WITHOUT
 * SA_RESTART runs in the sleeping thread (the rule read(2) follows).  The
 * call then returns -EINTR without the lock.  Handlers installed with
 * SA_RESTART do not interrupt the wait, and a signal that arrives just
 * before the thread goes to sleep is only noticed at its next wakeup.
 */
#ifndef DMASYNC_WW_MUTEX_H
#define DMASYNC_WW_MUTEX_H

#include <pthread.h>
#include <dmasync/types.h>
#include <dmasync/list.h>

#ifdef __cplusplus
extern "C" {
#endif

/**
 * struct ww_class - a class of ww_mutexes that may be locked together.
 * @stamp: ticket counter; each ww_acquire_init() takes the next value.
 *	Compared wrap-safely, so it may start anywhere (tests start it near
 *	ULONG_MAX).
 * @acquire_name: name of the class's acquire contexts (for messages).
 * @mutex_name: name of the class's mutexes (for messages).
 * @is_wait_die: 1 for Wait-Die, 0 for Wound-Wait.
 */
struct ww_class {
	unsigned long stamp;
	const char *acquire_name;
	const char *mutex_name;
	unsigned int is_wait_die;
};

#define __WW_CLASS_INITIALIZER(classname, wait_die)                             \
	{ .stamp = 0, .acquire_name = #classname "_acquire",                     \
	  .mutex_name = #classname "_mutex", .is_wait_die = (wait_die) }

/** DEFINE_WW_CLASS - define a Wound-Wait class (usable at file scope). */
#define DEFINE_WW_CLASS(classname) \
	struct ww_class classname = __WW_CLASS_INITIALIZER(classname, 0)

/** DEFINE_WD_CLASS - define a Wait-Die class (usable at file scope). */
#define DEFINE_WD_CLASS(classname) \
	struct ww_class classname = __WW_CLASS_INITIALIZER(classname, 1)

/**
 * struct ww_acquire_ctx - one locking transaction (acquire context).
 * @stamp: the ticket; smaller (wrap-safe) is older and wins conflicts.
 * @acquired: number of locks currently held through this context.
 * @wounded: set by an older Wound-Wait context that wants one of our locks;
 *	cleared when the context next locks while holding nothing.
 * @is_wait_die: copy of the class's algorithm.
 * @ww_class: the class the context was initialised for.
 * @contending_lock: the lock that returned -EDEADLK, until reacquired.
 * @done_acquire: set by ww_acquire_done(); no more locking after it.
 * @wake: futex word the owning thread sleeps on while it waits for a lock.
 * @magic: initialisation state (catches use before init / after fini).
 *
 * Fields are read by other threads (atomically) while the context holds or
 * waits for locks; treat them as read-only and use the functions below.
 * The memory must stay valid until ww_acquire_fini().
 */
struct ww_acquire_ctx {
	unsigned long stamp;
	unsigned int acquired;
	unsigned short wounded;
	unsigned short is_wait_die;
	struct ww_class *ww_class;
	struct ww_mutex *contending_lock;
	unsigned int done_acquire;
	u32 wake;
	u32 magic;
};

/**
 * struct ww_mutex - a wound/wait mutex.
 * @state: the owning context's address ORed with lock/waiter flag bits;
 *	0 when free.  Read it with ww_mutex_is_locked() and
 *	ww_mutex_locking_ctx().
 * @owner: id (pthread_self()) of the holding thread, 0 while free.
 * @ww_class: the class the mutex was initialised with.
 * @wait_lock: protects @wait_list (and every slow-path decision).
 * @wait_list: sleeping waiters.
 */
struct ww_mutex {
	uintptr_t state;
	unsigned long owner;
	struct ww_class *ww_class;
	pthread_mutex_t wait_lock;
	struct list_head wait_list;
};

#define __WW_MUTEX_INITIALIZER(lockname, class)                                  \
	{ .state = 0, .owner = 0, .ww_class = &(class),                          \
	  .wait_lock = PTHREAD_MUTEX_INITIALIZER,                                \
	  .wait_list = LIST_HEAD_INIT((lockname).wait_list) }

/** DEFINE_WW_MUTEX - define an unlocked ww_mutex of class @class (file scope). */
#define DEFINE_WW_MUTEX(mutexname, class) \
	struct ww_mutex mutexname = __WW_MUTEX_INITIALIZER(mutexname, class)

/**
 * ww_mutex_init - initialise an unlocked ww_mutex.
 * @lock: the mutex.
 * @ww_class: its class; every context that locks it must be of this class.
 *
 * Must not be called on a mutex that is in use.
 */
DMASYNC_EXPORT void ww_mutex_init(struct ww_mutex *lock, struct ww_class *ww_class);

/**
 * ww_mutex_destroy - release the resources of an unlocked ww_mutex.
 * @lock: the mutex; must be unlocked and have no waiters (checked in
 *	builds with debug checks).
 */
DMASYNC_EXPORT void ww_mutex_destroy(struct ww_mutex *lock);

/**
 * ww_acquire_init - start a transaction (initialise an acquire context).
 * @ctx: the context, owned by the calling thread until ww_acquire_fini().
 * @ww_class: the class of every lock the context will take.
 *
 * Draws a new stamp from @ww_class (atomically).  After a back-off keep
 * using the same context: its age is what guarantees forward progress.
 */
DMASYNC_EXPORT void ww_acquire_init(struct ww_acquire_ctx *ctx, struct ww_class *ww_class);

/**
 * ww_acquire_done - mark the end of the acquire phase.
 * @ctx: the context.
 *
 * Optional.  Afterwards the context may only unlock; locking with it is a
 * bug (caught in builds with debug checks), as is calling this twice.
 */
DMASYNC_EXPORT void ww_acquire_done(struct ww_acquire_ctx *ctx);

/**
 * ww_acquire_fini - end a transaction.
 * @ctx: the context; every lock taken through it must have been unlocked
 *	(checked in builds with debug checks, as is a second fini).
 *
 * The memory of @ctx may be reused afterwards.
 */
DMASYNC_EXPORT void ww_acquire_fini(struct ww_acquire_ctx *ctx);

/**
 * ww_mutex_lock - acquire a ww_mutex, sleeping if needed.
 * @lock: the mutex.
 * @ctx: acquire context of @lock's class, or NULL to use @lock as a plain
 *	mutex (then the call always returns 0).
 *
 * The calling thread must not already hold @lock through another context or
 * without one (self-deadlock, caught in builds with debug checks).
 *
 * Return: 0 when acquired (the lock is accounted to @ctx); -EALREADY if
 * @ctx already holds @lock (nothing changes); -EDEADLK if the transaction
 * must back off: release every lock of @ctx, then ww_mutex_lock_slow() on
 * @lock, then retry.  -EDEADLK is only returned while @ctx holds at least
 * one lock.
 */
DMASYNC_EXPORT int ww_mutex_lock(struct ww_mutex *lock, struct ww_acquire_ctx *ctx);

/**
 * ww_mutex_lock_interruptible - ww_mutex_lock() whose wait a signal can end.
 * @lock: the mutex.
 * @ctx: acquire context, or NULL.
 *
 * See the header comment for what "interrupted" means in userspace.
 *
 * Return: as ww_mutex_lock(), plus -EINTR when the wait was interrupted
 * (the lock is not held then).
 */
DMASYNC_EXPORT int ww_mutex_lock_interruptible(struct ww_mutex *lock,
					       struct ww_acquire_ctx *ctx);

/**
 * ww_mutex_lock_slow - sleep until the contended lock is acquired.
 * @lock: the lock that returned -EDEADLK.
 * @ctx: the context, which must hold no locks now (checked in builds with
 *	debug checks).
 *
 * Use after -EDEADLK and releasing every lock of @ctx; cannot fail because a
 * context without locks is never told to back off.
 */
DMASYNC_EXPORT void ww_mutex_lock_slow(struct ww_mutex *lock, struct ww_acquire_ctx *ctx);

/**
 * ww_mutex_lock_slow_interruptible - interruptible ww_mutex_lock_slow().
 * @lock: the lock that returned -EDEADLK.
 * @ctx: the context, holding no locks.
 *
 * Return: 0 when acquired, -EINTR when interrupted (lock not held).
 */
DMASYNC_EXPORT int ww_mutex_lock_slow_interruptible(struct ww_mutex *lock,
						    struct ww_acquire_ctx *ctx);

/**
 * ww_mutex_trylock - acquire a ww_mutex if it is free, without sleeping.
 * @lock: the mutex.
 * @ctx: acquire context (the lock is then accounted to it and must be
 *	released before ww_acquire_fini()), or NULL.
 *
 * No deadlock avoidance is involved: a busy lock simply fails, including
 * one that @ctx already holds.
 *
 * Return: 1 if acquired, 0 otherwise.
 */
DMASYNC_EXPORT int ww_mutex_trylock(struct ww_mutex *lock, struct ww_acquire_ctx *ctx);

/**
 * ww_mutex_unlock - release a ww_mutex held by the calling thread.
 * @lock: the mutex; releasing one the calling thread does not hold is a bug
 *	(caught in builds with debug checks).
 *
 * If the lock was taken through a context, the context's lock count drops.
 * The first waiter, if any, becomes the owner and is woken.
 */
DMASYNC_EXPORT void ww_mutex_unlock(struct ww_mutex *lock);

/**
 * ww_mutex_is_locked - whether any thread holds @lock.
 * @lock: the mutex.
 *
 * Return: true if locked.  Racy unless the caller holds @lock.
 */
DMASYNC_EXPORT bool ww_mutex_is_locked(struct ww_mutex *lock);

/**
 * ww_mutex_is_held - whether the calling thread holds @lock (with or
 * without a context).
 * @lock: the mutex.
 *
 * Return: true if the calling thread is the owner.  Exact for the caller.
 */
DMASYNC_EXPORT bool ww_mutex_is_held(struct ww_mutex *lock);

/**
 * ww_mutex_locking_ctx - the acquire context that holds @lock.
 * @lock: the mutex.
 *
 * Return: the context, or NULL when @lock is free or held without a
 * context.  Only stable while the caller holds @lock.
 */
DMASYNC_EXPORT struct ww_acquire_ctx *ww_mutex_locking_ctx(struct ww_mutex *lock);

/**
 * ww_mutex_is_owned_by - whether @lock is held through @ctx.
 * @lock: the mutex.
 * @ctx: a context, or NULL to ask whether the calling thread holds @lock
 *	without a context.
 *
 * Return: true if so.
 */
DMASYNC_EXPORT bool ww_mutex_is_owned_by(struct ww_mutex *lock, struct ww_acquire_ctx *ctx);

/**
 * ww_mutex_assert_held - abort with a message unless the calling thread
 * holds @lock.  Active in builds with debug checks, a no-op otherwise.
 */
DMASYNC_EXPORT void dmasync_ww_mutex_assert_held(struct ww_mutex *lock, const char *file,
						 int line, const char *func);
#define ww_mutex_assert_held(lock) \
	dmasync_ww_mutex_assert_held((lock), __FILE__, __LINE__, __func__)

#ifdef __cplusplus
}
#endif

#endif /* DMASYNC_WW_MUTEX_H */
