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

#endif
