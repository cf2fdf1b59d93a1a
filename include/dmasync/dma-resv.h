/* SPDX-License-Identifier: MIT */
/*
 * dmasync - dma_resv: the reservation object every shared buffer carries.
 *
 * A reservation object holds the fences of everyone who uses the buffer,
 * each tagged with a usage class.  Writers (holding the object's ww_mutex)
 * add and replace fences; readers that only need to know what to wait for
 * take no lock at all: the fence list is published with RCU and fences are
 * referenced with dma_fence_get_rcu(), so a reader never waits for a writer.
 *
 * Usage classes are ordered; asking for usage U returns every fence whose
 * usage is U or lower:
 *   KERNEL   memory management (moves, clears): everyone waits for these;
 *   WRITE    implicit-sync writers;
 *   READ     implicit-sync readers;
 *   BOOKKEEP not part of implicit sync (explicitly synced work).
 *
 * Locking rules: functions documented "lock held" require
 * dma_resv_lock(); adding fences further requires slots reserved with
 * dma_resv_reserve_fences() since the lock was taken.  Containers (arrays,
 * chains) are never stored: add their components.
 */
#ifndef DMASYNC_DMA_RESV_H
#define DMASYNC_DMA_RESV_H

#include <stdio.h>
#include <dmasync/dma-fence.h>
#include <dmasync/list.h>
#include <dmasync/spinlock.h>
#include <dmasync/ww_mutex.h>

#ifdef __cplusplus
extern "C" {
#endif

/** The ww_mutex class of every reservation object (wait-die). */
DMASYNC_EXPORT extern struct ww_class reservation_ww_class;

enum dma_resv_usage {
	DMA_RESV_USAGE_KERNEL,
	DMA_RESV_USAGE_WRITE,
	DMA_RESV_USAGE_READ,
	DMA_RESV_USAGE_BOOKKEEP,
};

/**
 * dma_resv_usage_rw - what a new access has to wait for.
 * @write: true for a write access
 *
 * A writer must wait for readers and writers (returns READ); a reader only
 * for writers (returns WRITE).
 */
static inline enum dma_resv_usage dma_resv_usage_rw(bool write)
{
	return write ? DMA_RESV_USAGE_READ : DMA_RESV_USAGE_WRITE;
}

struct dma_resv_list;

/**
 * struct dma_resv - a reservation object.
 * @lock: the ww_mutex serialising writers (class reservation_ww_class)
 * @fences: RCU-published fence list; private
 * @reserved: slots promised by dma_resv_reserve_fences() since the lock
 *	was taken; private (debug contract check)
 * @changed: fences were added or replaced since the lock was taken; private
 * @hooks_lock: protects @hooks; private
 * @hooks: the library's listeners, told at dma_resv_unlock() that fences
 *	changed (a dma-buf's keeps its epoll registrations current); private
 * @num_hooks: entries on @hooks; private
 * @remote: another process's view of the same buffer that this object
 *	mirrors (a dma-buf of the in-process API whose fd was shared, with
 *	the broker); private
 */
struct dma_resv {
	struct ww_mutex lock;
	struct dma_resv_list *fences;
	unsigned int reserved;
	bool changed;
	spinlock_t hooks_lock;
	struct list_head hooks;
	unsigned int num_hooks;
	void *remote;
};

/**
 * struct dma_resv_iter - cursor over a reservation object's fences.
 *
 * Use through dma_resv_iter_begin() / _first_unlocked() / _next_unlocked()
 * / dma_resv_iter_end(), or the locked dma_resv_for_each_fence().
 */
struct dma_resv_iter {
	struct dma_resv *obj;
	enum dma_resv_usage usage;
	struct dma_fence *fence;
	enum dma_resv_usage fence_usage;
	unsigned int index;
	struct dma_resv_list *fences;
	unsigned int num_fences;
	bool is_restarted;
};

/** dma_resv_init - initialise an empty, unlocked reservation object. */
DMASYNC_EXPORT void dma_resv_init(struct dma_resv *obj);

/**
 * dma_resv_fini - drop every fence and destroy the lock.  The object must
 * be unlocked and no longer reachable by other threads.
 */
DMASYNC_EXPORT void dma_resv_fini(struct dma_resv *obj);

/**
 * dma_resv_lock - lock @obj, as part of the acquire context @ctx (or as a
 * plain mutex when @ctx is NULL).
 *
 * Return: 0; -EALREADY if @ctx already holds it; -EDEADLK if @ctx must
 * back off (drop all its locks, then dma_resv_lock_slow() this one).
 */
DMASYNC_EXPORT int dma_resv_lock(struct dma_resv *obj, struct ww_acquire_ctx *ctx);
/** dma_resv_lock_interruptible - as dma_resv_lock(), or -EINTR. */
DMASYNC_EXPORT int dma_resv_lock_interruptible(struct dma_resv *obj,
					       struct ww_acquire_ctx *ctx);
/** dma_resv_lock_slow - sleep until @obj is locked, after -EDEADLK. */
DMASYNC_EXPORT void dma_resv_lock_slow(struct dma_resv *obj, struct ww_acquire_ctx *ctx);
/** dma_resv_lock_slow_interruptible - as _slow, or -EINTR. */
DMASYNC_EXPORT int dma_resv_lock_slow_interruptible(struct dma_resv *obj,
						    struct ww_acquire_ctx *ctx);
/** dma_resv_trylock - lock @obj if free. Return: true if locked. */
DMASYNC_EXPORT bool dma_resv_trylock(struct dma_resv *obj);
/**
 * dma_resv_unlock - unlock @obj; unused reserved slots are forgotten.
 *
 * If fences were added or replaced while @obj was locked, the library's
 * users of @obj (the epoll registrations of a dma-buf whose reservation
 * object it is) are brought up to date before this returns, as long as
 * the caller holds no spinlock_t (then as soon as it drops the last one).
 */
DMASYNC_EXPORT void dma_resv_unlock(struct dma_resv *obj);
/** dma_resv_is_locked - whether anyone holds @obj's lock. */
DMASYNC_EXPORT bool dma_resv_is_locked(struct dma_resv *obj);
/** dma_resv_locking_ctx - the acquire context holding @obj, or NULL. */
DMASYNC_EXPORT struct ww_acquire_ctx *dma_resv_locking_ctx(struct dma_resv *obj);

/**
 * dma_resv_assert_held - abort unless the calling thread holds @obj's lock
 * (builds with debug checks).
 */
#define dma_resv_assert_held(obj) ww_mutex_assert_held(&(obj)->lock)

/**
 * dma_resv_reserve_fences - make room for @num_fences more fences.
 *
 * Lock held.  The slots stay reserved until dma_resv_unlock().  Growing the
 * list also drops fences that have signaled.
 *
 * Return: 0, -ENOMEM, or -EINVAL (with a warning) when @num_fences is 0.
 */
DMASYNC_EXPORT int dma_resv_reserve_fences(struct dma_resv *obj, unsigned int num_fences);

/**
 * dma_resv_add_fence - add @fence with @usage.
 *
 * Lock held, and a slot reserved.  Takes its own reference.  Replaces an
 * entry of the same context whose usage is the same or higher and whose
 * fence is not later, or any entry whose fence has signaled; otherwise
 * uses a reserved slot.  Adding with no reserved slot is a bug that aborts
 * with a message (never a heap overflow).  A container fence is warned
 * about and its components are added instead, each using a slot if needed.
 */
DMASYNC_EXPORT void dma_resv_add_fence(struct dma_resv *obj, struct dma_fence *fence,
				       enum dma_resv_usage usage);

/**
 * dma_resv_replace_fences - replace every fence of @context by
 * @replacement with @usage.  Lock held.  Used e.g. when a preemption
 * fence is swapped for the completion fence of the same work.
 */
DMASYNC_EXPORT void dma_resv_replace_fences(struct dma_resv *obj, u64 context,
					    struct dma_fence *replacement,
					    enum dma_resv_usage usage);

/** dma_resv_iter_begin - start iterating @obj's fences with usage <= @usage. */
static inline void dma_resv_iter_begin(struct dma_resv_iter *cursor, struct dma_resv *obj,
				       enum dma_resv_usage usage)
{
	cursor->obj = obj;
	cursor->usage = usage;
	cursor->fence = NULL;
	cursor->fences = NULL;
	cursor->index = 0;
	cursor->num_fences = 0;
	cursor->is_restarted = false;
}

/** dma_resv_iter_end - finish an unlocked iteration (drops the reference
 * on the current fence). */
static inline void dma_resv_iter_end(struct dma_resv_iter *cursor)
{
	dma_fence_put(cursor->fence);
	cursor->fence = NULL;
}

/** dma_resv_iter_usage - usage of the fence the cursor is at. */
static inline enum dma_resv_usage dma_resv_iter_usage(struct dma_resv_iter *cursor)
{
	return cursor->fence_usage;
}

/**
 * dma_resv_iter_is_restarted - true when the cursor started over (the
 * object changed underneath an unlocked walk): results gathered so far
 * must be discarded.
 */
static inline bool dma_resv_iter_is_restarted(struct dma_resv_iter *cursor)
{
	return cursor->is_restarted;
}

/**
 * dma_resv_iter_first_unlocked / dma_resv_iter_next_unlocked - lock-free
 * walk over the unsignaled fences with usage <= the cursor's usage.
 *
 * No lock needed.  Each returned fence is referenced by the cursor until
 * the next step or dma_resv_iter_end().  When the fence list is replaced
 * during the walk, the walk restarts from the beginning and
 * dma_resv_iter_is_restarted() reports it.
 *
 * Return: the next fence, or NULL at the end.
 */
DMASYNC_EXPORT struct dma_fence *dma_resv_iter_first_unlocked(struct dma_resv_iter *cursor);
DMASYNC_EXPORT struct dma_fence *dma_resv_iter_next_unlocked(struct dma_resv_iter *cursor);

/**
 * dma_resv_iter_first / dma_resv_iter_next - walk with the lock held.
 *
 * Returns signaled fences too; takes no references (the lock keeps the
 * fences alive).
 */
DMASYNC_EXPORT struct dma_fence *dma_resv_iter_first(struct dma_resv_iter *cursor);
DMASYNC_EXPORT struct dma_fence *dma_resv_iter_next(struct dma_resv_iter *cursor);

#define dma_resv_for_each_fence_unlocked(cursor, fence)                          \
	for (fence = dma_resv_iter_first_unlocked(cursor); fence;                \
	     fence = dma_resv_iter_next_unlocked(cursor))

#define dma_resv_for_each_fence(cursor, obj, usage, fence)                       \
	for (dma_resv_iter_begin(cursor, obj, usage),                           \
	     fence = dma_resv_iter_first(cursor); fence;                        \
	     fence = dma_resv_iter_next(cursor))

/**
 * dma_resv_get_fences - snapshot the unsignaled fences with usage <= @usage.
 * @num_fences: receives the count
 * @fences: receives a malloc()ed array of references (NULL when none);
 *	the caller puts each fence and frees the array
 *
 * No lock needed.  Return: 0 or -ENOMEM (nothing returned then).
 */
DMASYNC_EXPORT int dma_resv_get_fences(struct dma_resv *obj, enum dma_resv_usage usage,
				       unsigned int *num_fences, struct dma_fence ***fences);

/**
 * dma_resv_get_singleton - one fence standing for every unsignaled fence
 * with usage <= @usage.
 * @fence: receives NULL when nothing is pending, the fence itself when one
 *	is, or a new dma_fence_array (signal on all) of them; a reference
 *	the caller owns
 *
 * No lock needed.  Never add the result back into a reservation object.
 * Return: 0 or -ENOMEM.
 */
DMASYNC_EXPORT int dma_resv_get_singleton(struct dma_resv *obj, enum dma_resv_usage usage,
					  struct dma_fence **fence);

/**
 * dma_resv_get_singleton_extra - the seed series' "singleton plus an extra
 * fence", done right.
 * @obj: the reservation object
 * @usage: which of @obj's fences to include (usage <= @usage)
 * @extra: a further fence (may be NULL, an array, a chain or a nesting of
 *	them); borrowed
 * @fence: receives NULL when nothing in @obj or @extra is pending,
 *	otherwise one referenced fence that signals once every unsignaled
 *	fence of @obj and every unsignaled component of @extra has: a single
 *	fence, or a flat dma_fence_array with one fence per context (the
 *	later one wins), never nested
 *
 * No lock needed.  Return: 0 or -ENOMEM.
 */
DMASYNC_EXPORT int dma_resv_get_singleton_extra(struct dma_resv *obj, enum dma_resv_usage usage,
						struct dma_fence *extra, struct dma_fence **fence);

/**
 * dma_resv_copy_fences - make @dst's fences a copy of @src's unsignaled
 * fences (all usages).  @dst locked; @src need not be.
 * Return: 0 or -ENOMEM (then @dst is unchanged).
 */
DMASYNC_EXPORT int dma_resv_copy_fences(struct dma_resv *dst, struct dma_resv *src);

/**
 * dma_resv_wait_timeout - wait for every fence with usage <= @usage.
 * @intr: interruptible by signal handlers
 * @timeout: nanoseconds; MAX_SCHEDULE_TIMEOUT for ever
 *
 * No lock needed (and it must not be held: the waits could deadlock).
 * Return: remaining time (>0; 1 when @timeout was 0 and all are signaled),
 * 0 on timeout, -ERESTARTSYS when interrupted.
 */
DMASYNC_EXPORT long dma_resv_wait_timeout(struct dma_resv *obj, enum dma_resv_usage usage,
					  bool intr, unsigned long timeout);

/**
 * dma_resv_test_signaled - whether every fence with usage <= @usage has
 * signaled.  No lock needed; never waits for a writer.
 */
DMASYNC_EXPORT bool dma_resv_test_signaled(struct dma_resv *obj, enum dma_resv_usage usage);

/** dma_resv_set_deadline - forward a deadline to every unsignaled fence
 * with usage <= @usage.  No lock needed. */
DMASYNC_EXPORT void dma_resv_set_deadline(struct dma_resv *obj, enum dma_resv_usage usage,
					  ktime_t deadline);

/** dma_resv_describe - print every fence with its usage.  Lock held. */
DMASYNC_EXPORT void dma_resv_describe(struct dma_resv *obj, FILE *seq);

#ifdef __cplusplus
}
#endif

#endif /* DMASYNC_DMA_RESV_H */
