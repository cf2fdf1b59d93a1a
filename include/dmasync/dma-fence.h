/* SPDX-License-Identifier: MIT */
/*
 * dmasync - dma_fence: the kernel's cross-device synchronization primitive.
 *
 * A fence is a one-shot event: it starts unsignaled and is signaled exactly
 * once, optionally carrying an error.  Fences belong to a timeline
 * ("context"); within one context seqnos grow and fences signal in order.
 *
 * Locking and threads:
 *  - Every fence points at a spinlock_t (usually shared by all fences of one
 *    timeline).  Signaling, enabling signaling and callback list changes
 *    happen under it.
 *  - Callbacks registered with dma_fence_add_callback() run in the thread
 *    that signals the fence, with the fence lock held, in registration
 *    order.  They must not sleep for long, must not take a dma_resv lock,
 *    and must not wait on fences.  Work that has to take other fence locks
 *    may be deferred the way the kernel uses irq_work (see the containers).
 *  - Waiting sleeps on a futex; nothing spins.
 *
 * Lifetime: reference counted with dma_fence_get()/dma_fence_put().  The
 * memory of a released fence is freed after an RCU grace period, so a
 * reader inside rcu_read_lock() may still call dma_fence_get_rcu() on a
 * pointer it loaded without holding a reference.
 *
 * Timeouts are in nanoseconds; MAX_SCHEDULE_TIMEOUT waits forever.
 */
#ifndef DMASYNC_DMA_FENCE_H
#define DMASYNC_DMA_FENCE_H

#include <stdio.h>
#include <dmasync/types.h>
#include <dmasync/list.h>
#include <dmasync/kref.h>
#include <dmasync/spinlock.h>
#include <dmasync/rcupdate.h>

#ifdef __cplusplus
extern "C" {
#endif

struct dma_fence;
struct dma_fence_cb;
struct dma_fence_ops;

/**
 * struct dma_fence - a software or hardware synchronization point.
 * @lock: spinlock protecting @cb_list and signaling; owned by the creator.
 * @ops: the fence's operations; must outlive the fence.
 * @cb_list: callbacks to run at signal time, in registration order.
 * @timestamp: signal time (CLOCK_MONOTONIC ns), valid once
 *	DMA_FENCE_FLAG_TIMESTAMP_BIT is set.
 * @context: timeline id from dma_fence_context_alloc().
 * @seqno: position on the timeline.
 * @flags: DMA_FENCE_FLAG_* bits; bits from DMA_FENCE_FLAG_USER_BITS up are
 *	free for the fence's implementation.  Access with the atomic bitops.
 * @refcount: reference count.
 * @error: 0, or a negative errno set with dma_fence_set_error() before
 *	signaling.
 * @rcu: storage for the RCU-deferred free.
 */
struct dma_fence {
	spinlock_t *lock;
	const struct dma_fence_ops *ops;
	struct list_head cb_list;
	ktime_t timestamp;
	u64 context;
	u64 seqno;
	unsigned long flags;
	struct kref refcount;
	int error;
	struct {
		void *p[3];
	} rcu;
};

enum dma_fence_flag_bits {
	DMA_FENCE_FLAG_INITIALIZED_BIT,
	DMA_FENCE_FLAG_SEQNO64_BIT,
	DMA_FENCE_FLAG_SIGNALED_BIT,
	DMA_FENCE_FLAG_TIMESTAMP_BIT,
	DMA_FENCE_FLAG_ENABLE_SIGNAL_BIT,
	DMA_FENCE_FLAG_USER_BITS, /* must always be last */
};

typedef void (*dma_fence_func_t)(struct dma_fence *fence, struct dma_fence_cb *cb);

/**
 * struct dma_fence_cb - a callback slot, embedded in the caller's structure.
 * @node: list link; empty when not queued (always initialised by
 *	dma_fence_add_callback(), so dma_fence_remove_callback() is safe).
 * @func: function to run when the fence signals.
 */
struct dma_fence_cb {
	struct list_head node;
	dma_fence_func_t func;
};

/**
 * struct dma_fence_ops - operations implemented by a fence's provider.
 * @use_64bit_seqno: compare seqnos as plain 64-bit numbers (as
 *	dma_fence_init64() does) instead of with the 32-bit wrap rule.
 * @get_driver_name: mandatory; name of the provider.
 * @get_timeline_name: mandatory; name of the fence's timeline.
 * @enable_signaling: optional; called once, with the fence lock held, when
 *	someone first needs the fence to signal (a callback, a wait or
 *	dma_fence_enable_sw_signaling()).  Return false if the fence has
 *	already passed (the core then signals it).
 * @signaled: optional; a cheap peek whether the fence has passed.  Must be
 *	monotonic.  dma_fence_is_signaled() signals the fence when it says so.
 * @wait: optional custom wait, returning like dma_fence_wait_timeout().
 *	Deprecated in the kernel; dma_fence_default_wait() otherwise.
 * @release: optional; frees the fence.  The default is dma_fence_free(),
 *	which requires the fence to be at the start of a malloc()ed block.
 * @fence_value_str: optional; write the fence's value for debug output.
 * @timeline_value_str: optional; write the timeline's value for debug output.
 * @set_deadline: optional hint that the fence should signal by @deadline.
 */
struct dma_fence_ops {
	bool use_64bit_seqno;
	const char *(*get_driver_name)(struct dma_fence *fence);
	const char *(*get_timeline_name)(struct dma_fence *fence);
	bool (*enable_signaling)(struct dma_fence *fence);
	bool (*signaled)(struct dma_fence *fence);
	signed long (*wait)(struct dma_fence *fence, bool intr, signed long timeout);
	void (*release)(struct dma_fence *fence);
	void (*fence_value_str)(struct dma_fence *fence, char *str, int size);
	void (*timeline_value_str)(struct dma_fence *fence, char *str, int size);
	void (*set_deadline)(struct dma_fence *fence, ktime_t deadline);
};

/**
 * dma_fence_init - initialise a fence with 32-bit seqno ordering.
 * @fence: the fence (caller-allocated)
 * @ops: operations; get_driver_name and get_timeline_name are mandatory
 * @lock: the spinlock protecting this fence (must outlive it)
 * @context: timeline, from dma_fence_context_alloc()
 * @seqno: position on the timeline
 *
 * The fence starts with one reference held by the caller.  Aborts on a
 * missing @ops, name callback or @lock, like the kernel's BUG_ON.
 */
DMASYNC_EXPORT void dma_fence_init(struct dma_fence *fence, const struct dma_fence_ops *ops,
				   spinlock_t *lock, u64 context, u64 seqno);

/**
 * dma_fence_init64 - like dma_fence_init(), with plain 64-bit seqno ordering.
 */
DMASYNC_EXPORT void dma_fence_init64(struct dma_fence *fence, const struct dma_fence_ops *ops,
				     spinlock_t *lock, u64 context, u64 seqno);

/**
 * dma_fence_context_alloc - reserve @num consecutive fence contexts.
 *
 * Thread-safe.  The first context ever returned is 1; context 0 belongs to
 * stub fences.  @num == 0 is a bug (warned) and returns a fresh context.
 *
 * Return: the first context of the range.
 */
DMASYNC_EXPORT u64 dma_fence_context_alloc(unsigned int num);

/**
 * dma_fence_release - kref release function of a fence; do not call directly.
 *
 * A fence released while still unsignaled with callbacks queued is a bug
 * in its provider: it is warned about, its error is set to -EDEADLK and it
 * is signaled so that no waiter hangs, then ops->release (or
 * dma_fence_free) runs.
 */
DMASYNC_EXPORT void dma_fence_release(struct kref *kref);

/**
 * dma_fence_free - free a fence after an RCU grace period.
 *
 * The default release; the fence must be the start of a malloc()ed block.
 */
DMASYNC_EXPORT void dma_fence_free(struct dma_fence *fence);

/**
 * dma_fence_put - drop a reference; NULL is ignored.
 *
 * Dropping more references than were taken is detected (the count would go
 * negative) and aborts with a message instead of corrupting memory.
 */
static inline void dma_fence_put(struct dma_fence *fence)
{
	if (fence)
		kref_put(&fence->refcount, dma_fence_release);
}

/** dma_fence_get - take a reference; NULL is returned unchanged. */
static inline struct dma_fence *dma_fence_get(struct dma_fence *fence)
{
	if (fence)
		kref_get(&fence->refcount);
	return fence;
}

/**
 * dma_fence_get_rcu - take a reference unless the fence is being released.
 *
 * The caller must be inside rcu_read_lock() if it holds no reference.
 * Return: @fence with a new reference, or NULL if its count already hit 0.
 */
static inline struct dma_fence *dma_fence_get_rcu(struct dma_fence *fence)
{
	if (kref_get_unless_zero(&fence->refcount))
		return fence;
	return NULL;
}

/**
 * dma_fence_get_rcu_safe - take a reference on the fence @fencep points at.
 *
 * Loads *@fencep, takes a reference and checks that *@fencep still points
 * at the same fence (it may be replaced and recycled concurrently),
 * retrying until it does.  Must be called inside rcu_read_lock().
 *
 * Return: a referenced fence, or NULL if *@fencep is NULL.
 */
DMASYNC_EXPORT struct dma_fence *dma_fence_get_rcu_safe(struct dma_fence *__rcu *fencep);

/**
 * dma_fence_signal - signal @fence, run its callbacks, record the time.
 *
 * Takes the fence lock.  Callbacks run in this thread, in registration
 * order, before this returns.
 *
 * Return: 0, or -EINVAL if @fence is NULL or was already signaled (in
 * which case nothing happens).
 */
DMASYNC_EXPORT int dma_fence_signal(struct dma_fence *fence);

/** dma_fence_signal_locked - dma_fence_signal() with the fence lock held. */
DMASYNC_EXPORT int dma_fence_signal_locked(struct dma_fence *fence);

/** dma_fence_signal_timestamp - dma_fence_signal() recording @timestamp. */
DMASYNC_EXPORT int dma_fence_signal_timestamp(struct dma_fence *fence, ktime_t timestamp);

/** dma_fence_signal_timestamp_locked - the same, fence lock held. */
DMASYNC_EXPORT int dma_fence_signal_timestamp_locked(struct dma_fence *fence,
						     ktime_t timestamp);

/**
 * dma_fence_check_and_signal - signal @fence (newer kernels' form).
 * Return: true if it had already been signaled.
 */
DMASYNC_EXPORT bool dma_fence_check_and_signal(struct dma_fence *fence);
/** dma_fence_check_and_signal_locked - the same, fence lock held. */
DMASYNC_EXPORT bool dma_fence_check_and_signal_locked(struct dma_fence *fence);

/**
 * dma_fence_enable_sw_signaling - make sure ops->enable_signaling has run.
 *
 * Takes the fence lock.  If the provider reports the fence already passed,
 * the fence is signaled here.
 */
DMASYNC_EXPORT void dma_fence_enable_sw_signaling(struct dma_fence *fence);

/**
 * dma_fence_add_callback - run @func when @fence signals.
 * @fence: the fence
 * @cb: the caller's callback slot; must stay valid until it ran or was
 *	removed
 * @func: the function
 *
 * Enables signaling.  Takes the fence lock.  @func runs later in the
 * signaling thread with the fence lock held.
 *
 * Return: 0 when queued; -ENOENT if the fence is already signaled, in
 * which case @func is never called; -EINVAL (with a warning) if @fence or
 * @func is NULL.  @cb->node is initialised in every case.
 */
DMASYNC_EXPORT int dma_fence_add_callback(struct dma_fence *fence, struct dma_fence_cb *cb,
					  dma_fence_func_t func);

/**
 * dma_fence_remove_callback - dequeue a callback added earlier.
 *
 * Takes the fence lock, so once it returns the callback is neither queued
 * nor running.
 *
 * Return: true if @cb was still queued and is now removed; false if it
 * already ran (or was never queued).
 */
DMASYNC_EXPORT bool dma_fence_remove_callback(struct dma_fence *fence, struct dma_fence_cb *cb);

/**
 * dma_fence_default_wait - sleep until @fence signals or @timeout passes.
 *
 * Return: see dma_fence_wait_timeout().
 */
DMASYNC_EXPORT signed long dma_fence_default_wait(struct dma_fence *fence, bool intr,
						  signed long timeout);

/**
 * dma_fence_wait_timeout - sleep until @fence signals.
 * @fence: the fence
 * @intr: if true, a signal handler running in this thread ends the wait
 * @timeout: nanoseconds to wait at most; MAX_SCHEDULE_TIMEOUT for ever;
 *	0 only tests
 *
 * Enables signaling.  Must not be called from a fence callback or with a
 * fence lock held.
 *
 * Return: the remaining time (>0) once signaled (1 if @timeout was 0 or
 * ran out at the same moment); 0 on timeout; -ERESTARTSYS if interrupted;
 * -EINVAL (with a warning) if @timeout is negative.
 */
DMASYNC_EXPORT signed long dma_fence_wait_timeout(struct dma_fence *fence, bool intr,
						  signed long timeout);

/**
 * dma_fence_wait - wait for ever.
 * Return: 0 once signaled, -ERESTARTSYS if interrupted.
 */
static inline signed long dma_fence_wait(struct dma_fence *fence, bool intr)
{
	signed long ret = dma_fence_wait_timeout(fence, intr, MAX_SCHEDULE_TIMEOUT);

	return ret < 0 ? ret : 0;
}

/**
 * dma_fence_wait_any_timeout - sleep until any of @fences signals.
 * @fences: array of fences
 * @count: number of fences
 * @intr: interruptible by signal handlers
 * @timeout: nanoseconds; 0 only tests
 * @idx: if not NULL, receives the index of the first signaled fence in
 *	array order
 *
 * Return: remaining time (>0; 1 when @timeout is 0 and one is signaled),
 * 0 on timeout, -EINVAL if @fences is NULL, @count is 0 or @timeout is
 * negative, -ENOMEM, or -ERESTARTSYS.
 */
DMASYNC_EXPORT signed long dma_fence_wait_any_timeout(struct dma_fence **fences, u32 count,
						      bool intr, signed long timeout,
						      u32 *idx);

/**
 * dma_fence_set_deadline - hint that @fence should signal by @deadline.
 *
 * Calls ops->set_deadline if the fence has one and is not yet signaled.
 */
DMASYNC_EXPORT void dma_fence_set_deadline(struct dma_fence *fence, ktime_t deadline);

/**
 * dma_fence_describe - print "context:seqno timeline driver [un]signaled".
 * @fence: the fence
 * @seq: the stream (the kernel takes a seq_file)
 */
DMASYNC_EXPORT void dma_fence_describe(struct dma_fence *fence, FILE *seq);

/**
 * dma_fence_get_stub - the global, always-signaled stub fence.
 *
 * Context 0, seqno 0, names "stub"; its timestamp is the time of its first
 * use.  Return: a new reference to it.
 */
DMASYNC_EXPORT struct dma_fence *dma_fence_get_stub(void);

/**
 * dma_fence_allocate_private_stub - a new signaled stub fence.
 * @timestamp: the signal time it carries
 *
 * Return: the fence with one reference, or NULL if out of memory.
 */
DMASYNC_EXPORT struct dma_fence *dma_fence_allocate_private_stub(ktime_t timestamp);

/**
 * dma_fence_driver_name / dma_fence_timeline_name - the fence's names.
 *
 * Unlike Linux 6.17+ these keep reporting the provider's names after the
 * fence signaled (as Linux 6.1 does; see docs/kernel-compat.md).
 */
DMASYNC_EXPORT const char *dma_fence_driver_name(struct dma_fence *fence);
DMASYNC_EXPORT const char *dma_fence_timeline_name(struct dma_fence *fence);

/**
 * dma_fence_is_signaled_locked - test, fence lock held; may signal.
 */
static inline bool dma_fence_is_signaled_locked(struct dma_fence *fence)
{
	if (test_bit(DMA_FENCE_FLAG_SIGNALED_BIT, &fence->flags))
		return true;
	if (fence->ops->signaled && fence->ops->signaled(fence)) {
		dma_fence_signal_locked(fence);
		return true;
	}
	return false;
}

/**
 * dma_fence_is_signaled - whether @fence has signaled.
 *
 * Consults ops->signaled and, when it reports the fence passed, signals
 * the fence (taking its lock).  Never enables signaling.
 */
static inline bool dma_fence_is_signaled(struct dma_fence *fence)
{
	if (test_bit(DMA_FENCE_FLAG_SIGNALED_BIT, &fence->flags))
		return true;
	if (fence->ops->signaled && fence->ops->signaled(fence)) {
		dma_fence_signal(fence);
		return true;
	}
	return false;
}

/** dma_fence_test_signaled_flag - the pure flag test, no side effects. */
static inline bool dma_fence_test_signaled_flag(struct dma_fence *fence)
{
	return test_bit(DMA_FENCE_FLAG_SIGNALED_BIT, &fence->flags);
}

/**
 * __dma_fence_is_later - whether seqno @f1 is later than @f2 on @fence's
 * timeline.
 *
 * 64-bit fences compare plainly; all others compare the low 32 bits with
 * wrap-around: @f1 is later if (s32)(f1 - f2) > 0.
 */
static inline bool __dma_fence_is_later(struct dma_fence *fence, u64 f1, u64 f2)
{
	if (test_bit(DMA_FENCE_FLAG_SEQNO64_BIT, &fence->flags) || fence->ops->use_64bit_seqno)
		return f1 > f2;
	return (s32)(lower_32_bits(f1) - lower_32_bits(f2)) > 0;
}

/**
 * dma_fence_is_later - whether @f1 is later than @f2 (same context only;
 * warns and returns false otherwise).
 */
DMASYNC_EXPORT bool dma_fence_is_later(struct dma_fence *f1, struct dma_fence *f2);

/** dma_fence_is_later_or_same - @f1 == @f2 or dma_fence_is_later(). */
static inline bool dma_fence_is_later_or_same(struct dma_fence *f1, struct dma_fence *f2)
{
	return f1 == f2 || dma_fence_is_later(f1, f2);
}

/**
 * dma_fence_later - the later of two same-context fences, or NULL if that
 * one has already signaled (or the contexts differ, with a warning).
 */
DMASYNC_EXPORT struct dma_fence *dma_fence_later(struct dma_fence *f1, struct dma_fence *f2);

/**
 * dma_fence_get_status_locked - 0 pending, 1 signaled, <0 signaled with
 * that error.  Fence lock held.
 */
static inline int dma_fence_get_status_locked(struct dma_fence *fence)
{
	if (dma_fence_is_signaled_locked(fence))
		return fence->error ? fence->error : 1;
	return 0;
}

/** dma_fence_get_status - as _locked, taking the fence lock. */
DMASYNC_EXPORT int dma_fence_get_status(struct dma_fence *fence);

/**
 * dma_fence_set_error - record an error to report when @fence signals.
 * @error: a negative errno in [-MAX_ERRNO, -1]
 *
 * Must be called before signaling.  A call after signaling, or with an
 * out-of-range @error, is warned about and ignored.
 */
DMASYNC_EXPORT void dma_fence_set_error(struct dma_fence *fence, int error);

/**
 * dma_fence_timestamp - the time @fence signaled, or now if it has not.
 */
DMASYNC_EXPORT ktime_t dma_fence_timestamp(struct dma_fence *fence);

/* Signaling annotations; lockdep-only in the kernel, no-ops here. */
static inline bool dma_fence_begin_signalling(void) { return true; }
static inline void dma_fence_end_signalling(bool cookie) { (void)cookie; }

#ifdef __cplusplus
}
#endif

#endif /* DMASYNC_DMA_FENCE_H */
