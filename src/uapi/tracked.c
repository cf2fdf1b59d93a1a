/* SPDX-License-Identifier: MIT */
/*
 * Tracked objects: dma-buf fds, released when the kernel says their last
 * copy is gone (see tracked.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "debug.h"
#include "fork.h"
#include "tracked.h"

static pthread_mutex_t tracked_lock = PTHREAD_MUTEX_INITIALIZER;
static LIST_HEAD(tracked_list);
static unsigned int tracked_count;

static void fork_prepare(void)
{
	pthread_mutex_lock(&tracked_lock);
}

static void fork_parent(void)
{
	pthread_mutex_unlock(&tracked_lock);
}

/*
 * The registry forgets every object in a fork child (file.c); so do we.
 * Memory shared through MAP_SHARED mappings and the fds themselves are
 * the kernel's and stay shared.  Objects drop their process-local state
 * (a dma-buf closes our copies of its epoll mirror fds; the parent's stay
 * registered).
 */
static void tracked_fork_child(void)
{
	struct uapi_tracked *t;

	list_for_each_entry(t, &tracked_list, node) {
		t->listed = false;
		if (t->fork_child)
			t->fork_child(t);
	}
	INIT_LIST_HEAD(&tracked_list);
	__atomic_store_n(&tracked_count, 0, __ATOMIC_RELAXED);
	/* Taken by this very thread in fork_prepare(). */
	pthread_mutex_unlock(&tracked_lock);
}

static const struct core_fork_handler tracked_fork = {
	.prepare = fork_prepare,
	.parent = fork_parent,
	.child = tracked_fork_child,
};

static struct uapi_reaper tracked_reaper = { .reap = uapi_tracked_reap };

__attribute__((constructor)) static void tracked_init(void)
{
	core_fork_register(CORE_FORK_TRACKED, &tracked_fork);
	uapi_reaper_register(&tracked_reaper);
}

void uapi_tracked_init(struct uapi_tracked *t, const struct uapi_file_ops *ops,
		       enum tracked_kind kind)
{
	DMASYNC_ASSERT(ops->match == uapi_tracked_match,
		       "a tracked object's ops must use the tracked match");
	uapi_file_init(&t->file, ops);
	t->kind = kind;
	t->cookie = 0;
	t->peer = -1;
	t->listed = false;
	INIT_LIST_HEAD(&t->node);
	t->survived = NULL;
	t->fork_child = NULL;
}

static int socket_cookie(int fd, u64 *cookie)
{
	socklen_t len = sizeof(*cookie);

	if (getsockopt(fd, SOL_SOCKET, SO_COOKIE, cookie, &len))
		return -errno;
	return 0;
}

bool uapi_tracked_match(struct uapi_file *file, int fd)
{
	struct uapi_tracked *t = container_of(file, struct uapi_tracked, file);
	u64 cookie;

	/* A memfd's inode is watched: it leaves the registry when it goes. */
	if (t->kind == TRACKED_MEMFD)
		return true;
	return socket_cookie(fd, &cookie) == 0 && cookie == t->cookie;
}

unsigned int uapi_tracked_count(void)
{
	return __atomic_load_n(&tracked_count, __ATOMIC_RELAXED);
}

int uapi_tracked_socketpair(struct uapi_tracked *t, int flags)
{
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) &&
	    (!uapi_files_reclaim_fds(errno) || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv)))
		return -errno;
	if ((!(flags & O_CLOEXEC) && fcntl(sv[0], F_SETFD, 0)) || shutdown(sv[1], SHUT_WR)) {
		int e = errno;

		close(sv[0]);
		close(sv[1]);
		return -e;
	}
	t->peer = sv[1];
	return sv[0];
}

int uapi_tracked_install(struct uapi_tracked *t, int fd)
{
	int r;

	if (t->kind == TRACKED_SOCKET) {
		r = socket_cookie(fd, &t->cookie);
		if (!r)
			r = uapi_file_install(&t->file, fd, t->peer, -1);
		if (!r)
			t->peer = -1;	/* the registry's now */
	} else {
		r = uapi_file_install_inode(&t->file, fd);
	}
	if (r)
		return r;
	pthread_mutex_lock(&tracked_lock);
	list_add_tail(&t->node, &tracked_list);
	t->listed = true;
	__atomic_store_n(&tracked_count, tracked_count + 1, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&tracked_lock);
	return 0;
}

void uapi_tracked_fini(struct uapi_tracked *t)
{
	pthread_mutex_lock(&tracked_lock);
	if (t->listed) {
		list_del_init(&t->node);
		t->listed = false;
		__atomic_store_n(&tracked_count, tracked_count - 1, __ATOMIC_RELAXED);
	}
	pthread_mutex_unlock(&tracked_lock);
	if (t->peer >= 0)
		close(t->peer);
	t->peer = -1;
}

static void survived(struct uapi_file *file, void *arg)
{
	struct uapi_tracked *t = container_of(file, struct uapi_tracked, file);

	if (file->ops->match == uapi_tracked_match && t->survived)
		t->survived(t);
}

int uapi_tracked_reap(void)
{
	int n = uapi_files_drain_inodes();

	uapi_file_for_each(NULL, survived, NULL);
	return n;
}
