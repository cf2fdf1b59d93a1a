/* SPDX-License-Identifier: MIT */
/*
 * Private: the library across fork() (fork.c).  One pthread_atfork()
 * registration for the whole library; every module that keeps state a
 * child must not inherit as it is registers a handler for its stage, and
 * the order in which they run is the order of this enum, written here
 * once (as the kernel's cpuhotplug.h orders its states).
 *
 * Before fork() the prepare handlers run in stage order: each takes the
 * locks guarding what its child handler resets, so the child finds that
 * state consistent.  (Locks of different stages are never held while another
 * is taken, except that any may be held while a leaf of the last stage
 * is: so this order cannot deadlock.)  After fork() the parent and
 * child handlers run in the reverse order: the fd layer forgets its
 * objects before the core resets below it.  A child is single-threaded
 * and holds copies of the locks taken in prepare: its handler must
 * re-initialise (or unlock) them and take no other lock.
 */
#ifndef DMASYNC_PRIV_FORK_H
#define DMASYNC_PRIV_FORK_H

#include <pthread.h>

enum core_fork_stage {
	/* client/adopt.c: chan_lock, held around the request that gives the
	 * broker this process's CPU-access channel (so before conn_lock);
	 * the child closes its copy of the parent's channel. */
	CORE_FORK_ADOPT,
	/* client/client.c: conn_lock and stub_lock; the child keeps its
	 * parent's connection number only, and connects on its own first
	 * request. */
	CORE_FORK_CLIENT,
	/* client/proxy.c: pending_lock; the child forgets the parent's
	 * pending proxies (only the parent may signal them). */
	CORE_FORK_PROXY,
	/* core/trace.c: trace_lock; the child neither records nor writes
	 * its parent's trace session. */
	CORE_FORK_TRACE,
	/* uapi/uaccess.c: the child forgets the cached pid. */
	CORE_FORK_UACCESS,
	/* uapi/file.c: registry_lock; the child forgets the parent's objects
	 * (closing its copies of their internal fds) and its monitor. */
	CORE_FORK_REGISTRY,
	/* uapi/tracked.c: tracked_lock; the child forgets tracked objects
	 * (dma-bufs close their copies of epoll mirror fds), the background
	 * pass, and gets a /proc/self/fd directory fd of its own. */
	CORE_FORK_TRACKED,
	/* uapi/sync_file.c: a new fork generation, so that fence callbacks
	 * inherited from the parent leave the parent's watch sockets alone. */
	CORE_FORK_SYNC_FILE,
	/* client/client.c: the client's leaf locks (known objects, fd table,
	 * epoll registrations), last: any lock above may be held while one
	 * of them is taken (a poll of a buffer looks up a foreign fence's fd
	 * under the buffer's poll lock), none is held while another is. */
	CORE_FORK_CLIENT_LEAVES,
	/* uapi/device.c: devices_lock (a leaf). */
	CORE_FORK_DEVICES,
	/* preload/preload.c: standin_lock (making the emulated nodes' stand-ins),
	 * then maps_lock, the recorded mappings (leaves). */
	CORE_FORK_PRELOAD,
	CORE_FORK_STAGES
};

/* Each handler may be NULL. */
struct core_fork_handler {
	void (*prepare)(void);
	void (*parent)(void);
	void (*child)(void);
};

/*
 * CORE_FORK_MUTEX_HANDLER - define @name, a handler that only holds the
 * pthread mutex @lock (a leaf) across fork(): taken before, let go after
 * in parent and child alike (unlocked, not re-initialised, so that TSan
 * sees it).
 */
#define CORE_FORK_MUTEX_HANDLER(name, lock)                                       \
	static void name##_take(void) { pthread_mutex_lock(lock); }               \
	static void name##_give(void) { pthread_mutex_unlock(lock); }             \
	static const struct core_fork_handler name = {                            \
		.prepare = name##_take, .parent = name##_give, .child = name##_give, \
	}

/* Install @handler (static storage) for @stage; from a constructor. */
void core_fork_register(enum core_fork_stage stage, const struct core_fork_handler *handler);

#endif
