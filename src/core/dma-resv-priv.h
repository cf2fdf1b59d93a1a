/* SPDX-License-Identifier: MIT */
/*
 * Private: change hooks on reservation objects (dma-resv.c), a dmasync
 * extension in the manner of wlroots' signals and SPA's hooks.  The
 * reservation object announces that its fences changed; whoever keeps
 * state derived from them listens (a dma-buf keeps its epoll mirrors
 * current), so code that adds fences does not have to tell anybody.
 *
 * dma_resv_unlock() calls every hook of the object if fences were added
 * or replaced (dma_resv_add_fence(), dma_resv_replace_fences(),
 * dma_resv_copy_fences()) while it was locked.  Hooks run after the
 * object's lock is dropped, under the object's hooks_lock (a spinlock_t):
 * a hook must not sleep, lock a reservation object or add or remove a
 * hook; work it queues with irq_work_queue() runs once the unlocking
 * thread holds no spinlock, normally before dma_resv_unlock() returns.
 */
#ifndef DMASYNC_PRIV_DMA_RESV_H
#define DMASYNC_PRIV_DMA_RESV_H

#include <dmasync/dma-resv.h>
#include <dmasync/list.h>

struct core_resv_hook {
	struct list_head link;		/* on the object's hooks (hooks_lock) */
	void (*changed)(struct core_resv_hook *hook, struct dma_resv *obj);
};

/* Add @hook to @obj (locked or not); @hook stays the caller's. */
void core_resv_hook_add(struct dma_resv *obj, struct core_resv_hook *hook);

/* Remove @hook from @obj; after this it is not called any more.  Never
 * from inside a hook. */
void core_resv_hook_del(struct dma_resv *obj, struct core_resv_hook *hook);

/*
 * Remote views.  A reservation object may mirror one held by another
 * process (a dma-buf of this process shared through the broker:
 * src/client/adopt.c).  Its remote's ops run with the object locked by
 * the calling thread and may block (a request to the broker):
 *  - @stale: whether the other side changed since the last @pull (cheap:
 *    a load from shared memory);
 *  - @pull: bring the other side's fences in (with dma_resv_add_fence()
 *    and dma_resv_replace_fences(), as any writer);
 *  - @push: fences changed under this lock: send the new ones over.
 * @pull runs when a thread takes the lock (dma_resv_lock() and its
 * variants, dma_resv_trylock()) and the view is stale, and before an
 * unlocked reader's walk (dma_resv_iter_first_unlocked(): under the lock
 * if the thread holds it, else if dma_resv_trylock() gets it; never in a
 * thread that holds a spinlock_t); @push runs
 * in dma_resv_unlock() before the lock is let go.  Lockers of objects
 * without one pay a load and a branch.
 */
struct core_resv_remote;

struct core_resv_remote_ops {
	bool (*stale)(struct core_resv_remote *remote);
	void (*pull)(struct core_resv_remote *remote, struct dma_resv *obj);
	void (*push)(struct core_resv_remote *remote, struct dma_resv *obj);
};

struct core_resv_remote {
	const struct core_resv_remote_ops *ops;
};

/*
 * core_resv_set_remote - attach @remote to @obj (NULL: detach).  Takes the
 * object's lock unless the calling thread holds it (without pulling), so
 * that once it returns no thread is in an op of the remote it replaced,
 * which the caller may then free; a new @remote's @push is called there
 * for the fences @obj holds already.
 */
void core_resv_set_remote(struct dma_resv *obj, struct core_resv_remote *remote);

/*
 * core_resv_refresh - what an unlocked reader's walk does first: pull if
 * @obj has a remote view that is stale (and the thread holds no spinlock
 * and can take or holds the lock).  For readers that walk under a
 * spinlock of their own: call it before taking that.
 */
void core_resv_refresh(struct dma_resv *obj);

#endif
