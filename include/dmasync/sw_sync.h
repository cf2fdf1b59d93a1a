/* SPDX-License-Identifier: MIT */
/*
 * dmasync - software timelines: the kernel's sw_sync test driver as an
 * in-process object.
 *
 * A sync_timeline is a 32-bit counter that starts at 0.  sync_pt_create()
 * makes a dma_fence ("point") at some value on it; the point signals once
 * the counter reaches that value (compared with the 32-bit wrap rule of
 * __dma_fence_is_later()).  sync_timeline_signal() advances the counter and
 * signals the points it passed, in seqno order.  sync_timeline_destroy() is
 * what closing the kernel's sw_sync file does: every point still pending
 * signals with error -ENOENT.
 *
 * Locking: all points of a timeline share the timeline's spinlock
 * (fence->lock); callbacks of signaled points run in the thread calling
 * sync_timeline_signal()/sync_timeline_destroy() with that lock held, so
 * they must not create points on, signal or destroy the same timeline, nor
 * set a deadline on or drop the last reference to one of its points that
 * is still unsignaled (a callback may drop references to points that have
 * signaled, and may test any point with dma_fence_is_signaled(): during
 * the signaling loop points it has not reached yet still read as
 * unsignaled).  A callback that needs more must defer the work (irq_work).
 *
 * Lifetime: a timeline is reference counted.  The creator owns one
 * reference and gives it up with sync_timeline_destroy(); every point
 * holds another, so the timeline (and its name) outlives its fences.
 * Points are ordinary reference-counted dma_fences, freed after an RCU
 * grace period.
 *
 * Like the kernel's, this is a test and emulation facility: nothing but
 * the owner of the timeline ever signals its points, so a point nobody
 * advances the counter for waits for ever.
 */
#ifndef DMASYNC_SW_SYNC_H
#define DMASYNC_SW_SYNC_H

#include <stdio.h>
#include <dmasync/types.h>
#include <dmasync/dma-fence.h>

#ifdef __cplusplus
extern "C" {
#endif

/** SYNC_TIMELINE_NAME_LEN - size of a timeline name buffer, NUL included. */
#define SYNC_TIMELINE_NAME_LEN 32

/**
 * struct sync_timeline - a software timeline (opaque).
 */
struct sync_timeline;

/**
 * sync_timeline_create - create a software timeline.
 * @name: its name; copied, truncated to SYNC_TIMELINE_NAME_LEN - 1 bytes.
 *	NULL is taken as "".
 *
 * The timeline gets a fresh fence context from dma_fence_context_alloc()
 * and the value 0.  The caller owns the returned (creator's) reference and
 * must end it with sync_timeline_destroy() (or, to skip the -ENOENT
 * signaling, with sync_timeline_put()).
 *
 * Return: the timeline, or NULL if out of memory.
 */
DMASYNC_EXPORT struct sync_timeline *sync_timeline_create(const char *name);

/**
 * sync_timeline_get - take a reference on @tl.
 * @tl: the timeline; the caller must already hold a reference (directly or
 *	through one of its points)
 *
 * Return: @tl.
 */
DMASYNC_EXPORT struct sync_timeline *sync_timeline_get(struct sync_timeline *tl);

/**
 * sync_timeline_put - drop a reference on @tl; NULL is ignored.
 * @tl: the timeline
 *
 * The timeline is freed (after an RCU grace period) when its creator's
 * reference is gone and no point refers to it any more.  Dropping the
 * creator's reference this way leaves pending points pending: only
 * sync_timeline_signal() or sync_timeline_destroy() signal them.  Must not
 * be called with the timeline lock held.
 */
DMASYNC_EXPORT void sync_timeline_put(struct sync_timeline *tl);

/**
 * sync_timeline_destroy - close @tl (the kernel's release of the sw_sync fd).
 * @tl: the timeline; consumes the caller's reference
 *
 * Every point still pending gets error -ENOENT and signals, in seqno order,
 * in the calling thread (callbacks run with the timeline lock held); then
 * the reference is dropped.  Points created afterwards by someone still
 * holding a reference behave normally.  Must not be called with the
 * timeline lock held or from a callback of one of its points.
 */
DMASYNC_EXPORT void sync_timeline_destroy(struct sync_timeline *tl);

/**
 * sync_timeline_signal - advance @tl by @inc and signal what it passed.
 * @tl: the timeline
 * @inc: the increment; the 32-bit value wraps around
 *
 * The increment is applied in steps of at most INT_MAX (each taking and
 * releasing the timeline lock), so that the wrap-around comparison stays
 * meaningful even for @inc > INT_MAX.  After each step every pending point
 * that is not later than the new value signals, in seqno order, in the
 * calling thread with the timeline lock held.  Deferred work queued by the
 * callbacks (irq_work) runs before this returns.  Must not be called with
 * the timeline lock held or from a callback of one of its points.
 *
 * Return: the number of points signaled (>= 0), or -EINVAL (with a
 * warning) if @tl is NULL.
 */
DMASYNC_EXPORT int sync_timeline_signal(struct sync_timeline *tl, u32 inc);

/**
 * sync_timeline_value - the current value of @tl.
 * @tl: the timeline
 *
 * Lock-free; the value may advance right after it is read.
 */
DMASYNC_EXPORT u32 sync_timeline_value(struct sync_timeline *tl);

/**
 * sync_timeline_name - the name of @tl.
 * @tl: the timeline
 *
 * Return: a NUL-terminated string valid as long as the caller holds a
 * reference on @tl (or on one of its points).
 */
DMASYNC_EXPORT const char *sync_timeline_name(struct sync_timeline *tl);

/**
 * sync_timeline_context - the fence context of @tl's points.
 * @tl: the timeline
 */
DMASYNC_EXPORT u64 sync_timeline_context(struct sync_timeline *tl);

/**
 * sync_pt_create - a point (fence) at @value on @tl.
 * @tl: the timeline; the caller must hold a reference
 * @value: the seqno of the point (32-bit ordering)
 *
 * If @value is not later than the timeline's current value (wrap-aware),
 * the point is born signaled.  If an unsignaled point at @value already
 * exists, a new reference to that same fence is returned (as the kernel
 * does: two sync files, one dma_fence).  Takes the timeline lock; must not
 * be called with it held.
 *
 * Return: a fence with a reference owned by the caller (release it with
 * dma_fence_put()), or NULL if out of memory (or, with a warning, if @tl is
 * NULL).
 */
DMASYNC_EXPORT struct dma_fence *sync_pt_create(struct sync_timeline *tl, u32 value);

/**
 * dma_fence_is_sw_sync - whether @fence is a point of a software timeline.
 * @fence: any fence (NULL gives false)
 */
DMASYNC_EXPORT bool dma_fence_is_sw_sync(struct dma_fence *fence);

/**
 * sync_pt_timeline - the timeline a point belongs to.
 * @fence: a point; the caller holds a reference on it
 *
 * Return: the timeline (no new reference: take one with
 * sync_timeline_get() to keep it beyond the point), or NULL if @fence is
 * not an sw_sync point.
 */
DMASYNC_EXPORT struct sync_timeline *sync_pt_timeline(struct dma_fence *fence);

/**
 * sync_pt_get_deadline - the earliest deadline set on a point.
 * @fence: the fence; the caller holds a reference
 * @deadline: receives the deadline (CLOCK_MONOTONIC ns) on success
 *
 * Deadlines are set with dma_fence_set_deadline(); a point keeps the
 * earliest one it was given (only while it was unsignaled).  Takes the
 * timeline lock.  Backs the kernel's SW_SYNC_GET_DEADLINE ioctl.
 *
 * Return: 0; -ENOENT if no deadline was ever set; -EINVAL if @fence is not
 * an sw_sync point.
 */
DMASYNC_EXPORT int sync_pt_get_deadline(struct dma_fence *fence, ktime_t *deadline);

/**
 * sync_timeline_describe - print @tl like the kernel's sync/info does.
 * @tl: the timeline
 * @f: the stream
 *
 * Prints "name: value", then one line per pending point, in seqno order:
 * "  fence <active|signaled|error>[@sec.nsec]: <seqno> / <value>".  Takes
 * the timeline lock.
 */
DMASYNC_EXPORT void sync_timeline_describe(struct sync_timeline *tl, FILE *f);

/**
 * sync_timeline_describe_all - sync_timeline_describe() for every live
 * timeline, in creation order (the "objs:" part of the kernel's sync/info).
 * @f: the stream
 *
 * Takes a global lock and each timeline's lock (never both at once).
 */
DMASYNC_EXPORT void sync_timeline_describe_all(FILE *f);

#ifdef __cplusplus
}
#endif

#endif /* DMASYNC_SW_SYNC_H */
