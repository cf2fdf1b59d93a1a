/* SPDX-License-Identifier: MIT */
/*
 * Wound/wait mutexes.
 *
 * Lock word (ww_mutex.state): the address of the owning acquire context (or
 * 0 for a context-less owner) ORed with WW_LOCKED and, while anybody sleeps
 * on the lock, WW_WAITERS.  Publishing the owner's context in the same
 * atomic operation that takes the lock means a waiter can never observe a
 * locked mutex whose owner context is not yet known.
 *
 *  - Fast paths: lock is a CAS 0 -> ctx|LOCKED, unlock a CAS ctx|LOCKED -> 0.
 *    Both fail as soon as WW_WAITERS is set, which sends the caller to the
 *    slow path under wait_lock.
 *  - WW_WAITERS is only changed under wait_lock and is set exactly while
 *    wait_list is non-empty; a free lock never has waiters, because unlock
 *    hands the lock to the first waiter (the word goes straight from the
 *    old owner to the new one) instead of letting it race for it.
 *  - Every decision about waiting, dying or wounding is taken under the
 *    lock's wait_lock.  A waiter sleeps on a futex word: its context's
 *    @wake counter (so that a wound coming through a different lock can
 *    wake it), or a word on its own stack without a context.  Wakers bump
 *    the word and futex-wake it while holding wait_lock; a waiter always
 *    retakes wait_lock before it leaves, so the word is still alive then.
 *  - A context referenced by a lock word stays valid while the waker holds
 *    that lock's wait_lock with WW_WAITERS set: its owner cannot complete
 *    the unlock (the fast CAS fails) without taking wait_lock first.
 *
 * Context fields shared between threads (acquired, wounded, wake) are
 * accessed atomically; the rest is written only by the context's thread.
 * Other threads read a context's stamp after finding it in a lock word, so
 * the locking CAS releases (publishes ww_acquire_init's stores) and the
 * unlocking CAS acquires (orders a departed waiter's reads before the
 * context is reused).
 */
#include <limits.h>
#include <pthread.h>

#include <dmasync/ww_mutex.h>
#include "debug.h"
#include "futex.h"

#define WW_LOCKED ((uintptr_t)1)
#define WW_WAITERS ((uintptr_t)2)
#define WW_FLAGS (WW_LOCKED | WW_WAITERS)

#define WW_CTX_ACTIVE 0x77616374u /* between ww_acquire_init and _fini */
#define WW_CTX_DEAD 0x77646561u	  /* after ww_acquire_fini */

struct ww_waiter {
	struct list_head node;
	struct ww_acquire_ctx *ctx;
	u32 *wake;	/* futex word this waiter sleeps on */
	u32 own_wake;	/* the word of a context-less waiter */
	bool handed;	/* the lock was handed to us (we are dequeued) */
};

static inline unsigned long self_id(void)
{
	return (unsigned long)pthread_self();
}

static inline struct ww_acquire_ctx *word_ctx(uintptr_t v)
{
	return (struct ww_acquire_ctx *)(v & ~WW_FLAGS);
}

static inline unsigned int ctx_acquired(const struct ww_acquire_ctx *ctx)
{
	return __atomic_load_n(&ctx->acquired, __ATOMIC_RELAXED);
}

/* True if @a is younger (started later) than @b; wrap-safe. */
static inline bool ctx_younger(const struct ww_acquire_ctx *a, const struct ww_acquire_ctx *b)
{
	return (long)(a->stamp - b->stamp) > 0;
}

/* Wake the thread sleeping on @word (caller holds the wait_lock that keeps it alive). */
static void wake_word(u32 *word)
{
	__atomic_fetch_add(word, 1, __ATOMIC_SEQ_CST);
	futex_wake(word, 1); /* one thread sleeps on a word */
}

/* ---- contexts ------------------------------------------------------------ */

void ww_acquire_init(struct ww_acquire_ctx *ctx, struct ww_class *ww_class)
{
	DMASYNC_ASSERT(((uintptr_t)ctx & WW_FLAGS) == 0, "misaligned ww_acquire_ctx");
	ctx->stamp = __atomic_add_fetch(&ww_class->stamp, 1, __ATOMIC_RELAXED);
	__atomic_store_n(&ctx->acquired, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&ctx->wounded, 0, __ATOMIC_RELAXED);
	ctx->is_wait_die = (unsigned short)ww_class->is_wait_die;
	ctx->ww_class = ww_class;
	ctx->contending_lock = NULL;
	ctx->done_acquire = 0;
	__atomic_store_n(&ctx->wake, 0, __ATOMIC_RELAXED);
	ctx->magic = WW_CTX_ACTIVE;
}

void ww_acquire_done(struct ww_acquire_ctx *ctx)
{
	DMASYNC_ASSERT(ctx->magic == WW_CTX_ACTIVE,
		       "ww_acquire_done on a context that is not initialised (or already finished)");
	DMASYNC_ASSERT(!ctx->done_acquire, "ww_acquire_done called twice on one context");
	ctx->done_acquire = 1;
}

void ww_acquire_fini(struct ww_acquire_ctx *ctx)
{
	DMASYNC_ASSERT(ctx->magic == WW_CTX_ACTIVE,
		       "ww_acquire_fini on a context that is not initialised (double fini?)");
	DMASYNC_ASSERT(ctx_acquired(ctx) == 0, "ww_acquire_fini with locks still held");
	ctx->magic = WW_CTX_DEAD;
}

/* ---- mutexes ------------------------------------------------------------- */

void ww_mutex_init(struct ww_mutex *lock, struct ww_class *ww_class)
{
	__atomic_store_n(&lock->state, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&lock->owner, 0, __ATOMIC_RELAXED);
	lock->ww_class = ww_class;
	pthread_mutex_init(&lock->wait_lock, NULL);
	INIT_LIST_HEAD(&lock->wait_list);
}

void ww_mutex_destroy(struct ww_mutex *lock)
{
	DMASYNC_ASSERT(__atomic_load_n(&lock->state, __ATOMIC_RELAXED) == 0,
		       "ww_mutex_destroy of a locked ww_mutex");
	pthread_mutex_destroy(&lock->wait_lock);
}

bool ww_mutex_is_locked(struct ww_mutex *lock)
{
	return __atomic_load_n(&lock->state, __ATOMIC_RELAXED) & WW_LOCKED;
}

bool ww_mutex_is_held(struct ww_mutex *lock)
{
	return __atomic_load_n(&lock->owner, __ATOMIC_RELAXED) == self_id();
}

struct ww_acquire_ctx *ww_mutex_locking_ctx(struct ww_mutex *lock)
{
	return word_ctx(__atomic_load_n(&lock->state, __ATOMIC_RELAXED));
}

bool ww_mutex_is_owned_by(struct ww_mutex *lock, struct ww_acquire_ctx *ctx)
{
	if (!ctx)
		return ww_mutex_is_held(lock) && !ww_mutex_locking_ctx(lock);
	return ww_mutex_locking_ctx(lock) == ctx;
}

void dmasync_ww_mutex_assert_held(struct ww_mutex *lock, const char *file, int line,
				  const char *func)
{
	if (DMASYNC_DEBUG_CHECKS && !ww_mutex_is_held(lock))
		core_bug(file, line, func, "ww_mutex not held by the calling thread");
}

/*
 * Checks at the start of every lock call with a context.  Return: -EALREADY
 * if @ctx holds @lock, else 0.
 */
static inline int ctx_lock_prologue(struct ww_mutex *lock, struct ww_acquire_ctx *ctx)
{
	DMASYNC_ASSERT(ctx->magic == WW_CTX_ACTIVE,
		       "ww_acquire_ctx used before ww_acquire_init or after ww_acquire_fini");
	if (unlikely(ww_mutex_locking_ctx(lock) == ctx))
		return -EALREADY;
	DMASYNC_ASSERT(!ctx->done_acquire, "ww_mutex_lock with a context after ww_acquire_done");
	DMASYNC_ASSERT(lock->ww_class == ctx->ww_class,
		       "ww_mutex locked with an acquire context of a different ww_class");
	DMASYNC_ASSERT(!ctx->contending_lock || ctx->contending_lock == lock,
		       "after -EDEADLK the context must first reacquire the contended lock");
	DMASYNC_ASSERT(!ctx->contending_lock || ctx_acquired(ctx) == 0,
		       "after -EDEADLK the context must release all its locks before relocking");
	/*
	 * A context that holds nothing cannot be wounded any more (no lock word
	 * names it), so a wound from the previous attempt is cleared here.
	 */
	if (ctx_acquired(ctx) == 0)
		__atomic_store_n(&ctx->wounded, 0, __ATOMIC_RELAXED);
	return 0;
}

/* Bookkeeping once the calling thread owns @lock (through @ctx if not NULL). */
static inline void lock_acquired(struct ww_mutex *lock, struct ww_acquire_ctx *ctx)
{
	__atomic_store_n(&lock->owner, self_id(), __ATOMIC_RELAXED);
	if (ctx) {
		__atomic_store_n(&ctx->acquired, ctx_acquired(ctx) + 1, __ATOMIC_RELAXED);
		if (unlikely(ctx->contending_lock == lock))
			ctx->contending_lock = NULL;
	}
}

/*
 * Wait-Die: wake waiter @w so that it re-checks and dies, if it holds locks
 * and is younger than @ctx.  Caller holds wait_lock.
 */
static void wd_wake_younger(struct ww_waiter *w, struct ww_acquire_ctx *ctx)
{
	if (ctx_acquired(w->ctx) > 0 && ctx_younger(w->ctx, ctx))
		wake_word(w->wake);
}

/*
 * Wound-Wait: @req (waiting for the lock) wounds @hold (holding it) if @req
 * is older and holds other locks; a requester that holds nothing cannot be
 * part of a deadlock and just waits.  The holder's thread is woken in case
 * it sleeps on another lock, where it will see the wound and back off.
 * Caller holds wait_lock with WW_WAITERS set (keeps @hold alive).
 * Return: true if @hold was wounded.
 */
static bool ww_wound(struct ww_acquire_ctx *req, struct ww_acquire_ctx *hold)
{
	if (!hold || hold == req)
		return false;
	if (ctx_acquired(req) > 0 && ctx_younger(hold, req)) {
		__atomic_store_n(&hold->wounded, 1, __ATOMIC_SEQ_CST);
		wake_word(&hold->wake);
		return true;
	}
	return false;
}

/*
 * @hold just became the owner of @lock: make the waiters that have to back
 * off because of it notice.  Caller holds wait_lock.
 */
static void check_waiters(struct ww_mutex *lock, struct ww_acquire_ctx *hold)
{
	struct list_head *pos;

	for (pos = lock->wait_list.next; pos != &lock->wait_list; pos = pos->next) {
		struct ww_waiter *cur = container_of(pos, struct ww_waiter, node);

		if (!cur->ctx)
			continue;
		if (hold->is_wait_die) {
			/* Only the first context waiter may hold locks. */
			wd_wake_younger(cur, hold);
			break;
		}
		if (ww_wound(cur->ctx, hold))
			break;
	}
}

/* Remove a waiter that gives up; keeps WW_WAITERS == !list_empty. */
static void waiter_leave(struct ww_mutex *lock, struct ww_waiter *w)
{
	list_del(&w->node);
	if (list_empty(&lock->wait_list))
		__atomic_fetch_and(&lock->state, ~WW_WAITERS, __ATOMIC_SEQ_CST);
}

static int kill_ctx(struct ww_mutex *lock, struct ww_acquire_ctx *ctx)
{
	if (ctx_acquired(ctx) == 0)
		return 0;
	ctx->contending_lock = lock;
	return -EDEADLK;
}

/*
 * Queue @w (with context) in stamp order, context-less waiters keeping
 * their FIFO place.  Wait-Die: die at once if an older context already
 * waits (we would have to die as soon as it got the lock), and wake the
 * younger lock-holding waiters we overtake so they die.  Wound-Wait: wound
 * a younger owner.  Caller holds wait_lock.  Return: 0 or -EDEADLK (not
 * queued).
 */
static int add_ctx_waiter(struct ww_mutex *lock, struct ww_waiter *w)
{
	struct ww_acquire_ctx *ctx = w->ctx;
	struct list_head *pos, *before = &lock->wait_list;

	for (pos = lock->wait_list.prev; pos != &lock->wait_list; pos = pos->prev) {
		struct ww_waiter *cur = container_of(pos, struct ww_waiter, node);

		if (!cur->ctx)
			continue;
		if (ctx_younger(ctx, cur->ctx)) {
			if (ctx->is_wait_die) {
				int ret = kill_ctx(lock, ctx);

				if (ret)
					return ret;
			}
			break;
		}
		before = pos;
		if (ctx->is_wait_die)
			wd_wake_younger(cur, ctx);
	}
	list_add_tail(&w->node, before);
	if (!ctx->is_wait_die)
		ww_wound(ctx, word_ctx(__atomic_load_n(&lock->state, __ATOMIC_SEQ_CST)));
	return 0;
}

/*
 * Whether the queued waiter @w must back off now.  Wound-Wait: if it was
 * wounded.  Wait-Die: if the owner or any waiter ahead of it is an (older,
 * by list order) context.  Never while the context holds no locks.
 * Caller holds wait_lock.
 */
static int check_kill(struct ww_mutex *lock, struct ww_waiter *w)
{
	struct ww_acquire_ctx *ctx = w->ctx, *hold;
	struct list_head *pos;

	if (ctx_acquired(ctx) == 0)
		return 0;
	if (!ctx->is_wait_die) {
		if (__atomic_load_n(&ctx->wounded, __ATOMIC_SEQ_CST))
			return kill_ctx(lock, ctx);
		return 0;
	}
	hold = word_ctx(__atomic_load_n(&lock->state, __ATOMIC_SEQ_CST));
	if (hold && ctx_younger(ctx, hold))
		return kill_ctx(lock, ctx);
	for (pos = w->node.prev; pos != &lock->wait_list; pos = pos->prev)
		if (container_of(pos, struct ww_waiter, node)->ctx)
			return kill_ctx(lock, ctx);
	return 0;
}

static __attribute__((noinline)) int lock_slowpath(struct ww_mutex *lock,
						   struct ww_acquire_ctx *ctx, bool intr)
{
	const uintptr_t mine = (uintptr_t)ctx | WW_LOCKED;
	struct ww_waiter w;
	bool interrupted = false;
	uintptr_t v;
	int ret;

	pthread_mutex_lock(&lock->wait_lock);
	DMASYNC_ASSERT(__atomic_load_n(&lock->owner, __ATOMIC_RELAXED) != self_id(),
		       "ww_mutex_lock on a ww_mutex the calling thread already holds (self-deadlock)");

	/* Take the lock if it is free, else announce that we are going to wait. */
	v = __atomic_load_n(&lock->state, __ATOMIC_RELAXED);
	for (;;) {
		if (!(v & WW_LOCKED)) {
			DMASYNC_ASSERT(!(v & WW_WAITERS), "ww_mutex: free lock with waiters");
			if (__atomic_compare_exchange_n(&lock->state, &v, mine, false,
							__ATOMIC_ACQ_REL, __ATOMIC_RELAXED)) {
				pthread_mutex_unlock(&lock->wait_lock);
				lock_acquired(lock, ctx);
				return 0;
			}
			continue;
		}
		if ((v & WW_WAITERS) ||
		    __atomic_compare_exchange_n(&lock->state, &v, v | WW_WAITERS, false,
						__ATOMIC_SEQ_CST, __ATOMIC_RELAXED))
			break;
	}

	w.ctx = ctx;
	w.own_wake = 0;
	w.wake = ctx ? &ctx->wake : &w.own_wake;
	w.handed = false;
	if (!ctx) {
		list_add_tail(&w.node, &lock->wait_list);
	} else {
		ret = add_ctx_waiter(lock, &w);
		if (ret) {
			if (list_empty(&lock->wait_list))
				__atomic_fetch_and(&lock->state, ~WW_WAITERS, __ATOMIC_SEQ_CST);
			pthread_mutex_unlock(&lock->wait_lock);
			return ret;
		}
	}

	for (;;) {
		/* Read the word before the conditions a waker changes first. */
		u32 seq = __atomic_load_n(w.wake, __ATOMIC_SEQ_CST);

		if (w.handed)
			break;
		if (interrupted) {
			waiter_leave(lock, &w);
			pthread_mutex_unlock(&lock->wait_lock);
			return -EINTR;
		}
		if (ctx) {
			ret = check_kill(lock, &w);
			if (ret) {
				waiter_leave(lock, &w);
				pthread_mutex_unlock(&lock->wait_lock);
				return ret;
			}
		}
		pthread_mutex_unlock(&lock->wait_lock);
		if (futex_wait_until(w.wake, seq, -1) == -EINTR && intr)
			interrupted = true;
		pthread_mutex_lock(&lock->wait_lock);
	}
	/* The unlocker made us the owner and removed us from the list. */
	pthread_mutex_unlock(&lock->wait_lock);
	lock_acquired(lock, ctx);
	return 0;
}

static inline int lock_common(struct ww_mutex *lock, struct ww_acquire_ctx *ctx, bool intr)
{
	uintptr_t expected = 0;

	if (ctx) {
		int ret = ctx_lock_prologue(lock, ctx);

		if (ret)
			return ret;
	}
	if (likely(__atomic_compare_exchange_n(&lock->state, &expected,
					       (uintptr_t)ctx | WW_LOCKED, false,
					       __ATOMIC_ACQ_REL, __ATOMIC_RELAXED))) {
		lock_acquired(lock, ctx);
		return 0;
	}
	return lock_slowpath(lock, ctx, intr);
}

int ww_mutex_lock(struct ww_mutex *lock, struct ww_acquire_ctx *ctx)
{
	return lock_common(lock, ctx, false);
}

int ww_mutex_lock_interruptible(struct ww_mutex *lock, struct ww_acquire_ctx *ctx)
{
	return lock_common(lock, ctx, true);
}

void ww_mutex_lock_slow(struct ww_mutex *lock, struct ww_acquire_ctx *ctx)
{
	int ret;

	DMASYNC_ASSERT(!ctx || ctx_acquired(ctx) == 0,
		       "ww_mutex_lock_slow while the context still holds other locks");
	ret = lock_common(lock, ctx, false);
	DMASYNC_ASSERT(ret == 0, "ww_mutex_lock_slow failed to acquire");
	(void)ret;
}

int ww_mutex_lock_slow_interruptible(struct ww_mutex *lock, struct ww_acquire_ctx *ctx)
{
	DMASYNC_ASSERT(!ctx || ctx_acquired(ctx) == 0,
		       "ww_mutex_lock_slow while the context still holds other locks");
	return lock_common(lock, ctx, true);
}

int ww_mutex_trylock(struct ww_mutex *lock, struct ww_acquire_ctx *ctx)
{
	uintptr_t expected = 0;

	if (ctx && ctx_lock_prologue(lock, ctx))
		return 0; /* already ours: the lock is busy for a trylock */
	if (__atomic_compare_exchange_n(&lock->state, &expected, (uintptr_t)ctx | WW_LOCKED,
					false, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED)) {
		lock_acquired(lock, ctx);
		return 1;
	}
	return 0;
}

/* Hand the lock to the first waiter, or free it.  Lock word still says "ours". */
static __attribute__((noinline)) void unlock_slowpath(struct ww_mutex *lock)
{
	struct ww_waiter *w;
	uintptr_t v;

	pthread_mutex_lock(&lock->wait_lock);
	if (list_empty(&lock->wait_list)) {
		/* The waiters gave up meanwhile. */
		__atomic_store_n(&lock->state, 0, __ATOMIC_RELEASE);
		pthread_mutex_unlock(&lock->wait_lock);
		return;
	}
	w = container_of(lock->wait_list.next, struct ww_waiter, node);
	list_del(&w->node);
	v = (uintptr_t)w->ctx | WW_LOCKED;
	if (!list_empty(&lock->wait_list))
		v |= WW_WAITERS;
	/* Nobody else writes the word while it is locked and we hold wait_lock. */
	__atomic_store_n(&lock->state, v, __ATOMIC_SEQ_CST);
	w->handed = true;
	wake_word(w->wake);
	if (w->ctx)
		check_waiters(lock, w->ctx);
	pthread_mutex_unlock(&lock->wait_lock);
}

void ww_mutex_unlock(struct ww_mutex *lock)
{
	uintptr_t v = __atomic_load_n(&lock->state, __ATOMIC_RELAXED);
	struct ww_acquire_ctx *ctx = word_ctx(v);
	uintptr_t expected = (uintptr_t)ctx | WW_LOCKED;

	DMASYNC_ASSERT((v & WW_LOCKED) &&
			       __atomic_load_n(&lock->owner, __ATOMIC_RELAXED) == self_id(),
		       "ww_mutex_unlock of a ww_mutex the calling thread does not hold");
	if (ctx) {
		unsigned int n = ctx_acquired(ctx);

		DMASYNC_ASSERT(n > 0, "ww_mutex_unlock: context lock count underflow");
		__atomic_store_n(&ctx->acquired, n - 1, __ATOMIC_RELAXED);
	}
	__atomic_store_n(&lock->owner, 0, __ATOMIC_RELAXED);
	/*
	 * Acquire as well: a waiter that looked at our context and then left
	 * (clearing WW_WAITERS) must be ordered before we reuse the context.
	 */
	if (likely(__atomic_compare_exchange_n(&lock->state, &expected, 0, false,
					       __ATOMIC_ACQ_REL, __ATOMIC_RELAXED)))
		return;
	unlock_slowpath(lock);
}
