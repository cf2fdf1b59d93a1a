/* SPDX-License-Identifier: MIT */
/*
 * The client's half of proxy fences (src/broker/proxy.h, docs/design.md
 * section 5).  In broker mode a sync file made in this process of one of
 * its own fences (sync_file_create_fd(), sync_file_install(), an EXPORT of
 * a buffer of its own) is the broker's sync file of a proxy, put at the fd
 * number the program was to get; a callback on our fence sends its status
 * and timestamp when it signals.  So every process that receives the fd
 * can use it, as any other.  What the hook receives it borrows; it keeps a
 * reference on the fence until the fence signaled and the broker was told.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <linux/sync_file.h>
#include <sys/stat.h>

#include <dmasync/dma-fence.h>
#include "client.h"
#include "fork.h"
#include "irq_work.h"
#include "sync_file-priv.h"

struct proxy_cb {
	struct dma_fence_cb cb;
	struct irq_work work;
	struct dma_fence *fence;
	uint64_t id, broker;
	int status;
	int64_t timestamp;
	dev_t dev;			/* the broker's sync file */
	ino_t ino;
	struct proxy_cb *prev, *next;	/* in its pending bucket */
	bool listed;			/* in pending (under pending_lock) */
};

/*
 * Proxies whose fence has not signaled yet, by their sync file's inode:
 * sync_file_get_fence() of their fds gives our fence back, as the kernel
 * would.  n_pending lets a process with none skip the fstat.
 */
#define PENDING_BUCKETS 256
static pthread_mutex_t pending_lock = PTHREAD_MUTEX_INITIALIZER;
static struct proxy_cb *pending[PENDING_BUCKETS];
static unsigned long n_pending;

static struct proxy_cb **pending_bucket(ino_t ino)
{
	return &pending[(ino ^ (ino >> 8)) % PENDING_BUCKETS];
}

static void pending_add(struct proxy_cb *pc)
{
	struct proxy_cb **b = pending_bucket(pc->ino);

	pthread_mutex_lock(&pending_lock);
	pc->prev = NULL;
	pc->next = *b;
	if (*b)
		(*b)->prev = pc;
	*b = pc;
	pc->listed = true;
	__atomic_store_n(&n_pending, n_pending + 1, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&pending_lock);
}

static void pending_del(struct proxy_cb *pc)
{
	pthread_mutex_lock(&pending_lock);
	if (pc->listed) {
		if (pc->prev)
			pc->prev->next = pc->next;
		else
			*pending_bucket(pc->ino) = pc->next;
		if (pc->next)
			pc->next->prev = pc->prev;
		pc->listed = false;
		__atomic_store_n(&n_pending, n_pending - 1, __ATOMIC_RELEASE);
	}
	pthread_mutex_unlock(&pending_lock);
}

/* With no lock held: tell the broker, drop what we held. */
static void proxy_send(struct irq_work *work)
{
	struct proxy_cb *pc = container_of(work, struct proxy_cb, work);

	pending_del(pc);
	client_proxy_signal(pc->broker, pc->id, pc->status, pc->timestamp);
	dma_fence_put(pc->fence);
	free(pc);
}

/* Our fence signaled (its lock held): send once the thread holds none. */
static void proxy_signaled(struct dma_fence *fence, struct dma_fence_cb *cb)
{
	struct proxy_cb *pc = container_of(cb, struct proxy_cb, cb);

	pc->status = fence->error ? fence->error : 1;
	pc->timestamp = fence->timestamp;
	irq_work_queue(&pc->work);
}

void client_proxy_describe(struct dma_fence *fence, const char *name, struct ipc_proxy *p)
{
	memset(p, 0, sizeof(*p));
	snprintf(p->driver, sizeof(p->driver), "%s", dma_fence_driver_name(fence));
	snprintf(p->timeline, sizeof(p->timeline), "%s", dma_fence_timeline_name(fence));
	snprintf(p->name, sizeof(p->name), "%s", name);
	p->context = fence->context;
	p->seqno = fence->seqno;
	if (fence->ops->use_64bit_seqno)
		p->flags |= IPC_PROXY_SEQNO64;
	if (dma_fence_is_signaled(fence)) {
		p->status = dma_fence_get_status(fence);
		p->timestamp = dma_fence_timestamp(fence);
	}
}

/* Arm @pc (filled in, listed or not) on its fence; send at once if it has
 * signaled already. */
static void proxy_arm(struct proxy_cb *pc)
{
	init_irq_work(&pc->work, proxy_send);
	if (dma_fence_add_callback(pc->fence, &pc->cb, proxy_signaled)) {
		/* It signaled since we looked. */
		pc->status = dma_fence_get_status(pc->fence);
		pc->timestamp = dma_fence_timestamp(pc->fence);
		proxy_send(&pc->work);
	}
}

int client_proxy_watch(struct dma_fence *fence, uint64_t id, uint64_t broker)
{
	struct proxy_cb *pc = calloc(1, sizeof(*pc));

	if (!pc)
		return -ENOMEM;
	pc->fence = dma_fence_get(fence);
	pc->id = id;
	pc->broker = broker;
	proxy_arm(pc);
	return 0;
}

static int proxy_install(struct dma_fence *fence, const char *name, int fd)
{
	struct proxy_cb *pc = NULL;
	struct ipc_proxy p;
	uint64_t id, broker;
	struct stat st;
	int r;

	client_proxy_describe(fence, name, &p);
	if (!p.status) {
		pc = calloc(1, sizeof(*pc));
		if (!pc)
			return -ENOMEM;
	}
	r = client_proxy_create(&p, fd, &id, &broker, &st);
	if (r < 0 || !pc) {
		free(pc);
		return r;
	}
	pc->fence = dma_fence_get(fence);
	pc->id = id;
	pc->broker = broker;
	pc->dev = st.st_dev;
	pc->ino = st.st_ino;
	pending_add(pc);
	proxy_arm(pc);
	return 0;
}

/* A number for the proxy's fd, which proxy_install() puts there. */
static int proxy_reserve(void)
{
	int fd;

	if (!client_enabled())
		return -EOPNOTSUPP;	/* process mode, or the broker itself */
	fd = eventfd(0, EFD_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

/* Our fence, if @fd is the sync file of a proxy of ours still pending. */
static struct dma_fence *proxy_fence_of(int fd)
{
	struct dma_fence *fence = NULL;
	struct stat st;

	if (!__atomic_load_n(&n_pending, __ATOMIC_ACQUIRE) || fstat(fd, &st))
		return NULL;
	pthread_mutex_lock(&pending_lock);
	for (struct proxy_cb *pc = *pending_bucket(st.st_ino); pc && !fence; pc = pc->next)
		if (pc->dev == st.st_dev && pc->ino == st.st_ino)
			fence = dma_fence_get(pc->fence);
	pthread_mutex_unlock(&pending_lock);
	return fence;
}

/*
 * The other way: a sync file of the broker's (another process's, or one of
 * ours whose fence signaled) given to sync_file_get_fence() becomes a
 * fence of this process, as a kernel sync_file does (src/uapi/sync_file.c:
 * it signals when the fd turns readable, with FILE_INFO's status).  Here:
 * that FILE_INFO (@info as the caller set it up: count only, or one entry
 * for the names) through the client (the page or the signal record where
 * they can say; else a request).
 */
static int broker_sync_file_info(int fd, struct sync_file_info *info)
{
	struct client_obj obj;
	long r;

	if (!client_enabled() || client_find(fd, &obj) <= 0 || obj.kind != IPC_KIND_SYNC_FILE)
		return -ENOTTY;
	r = client_ioctl(fd, &obj, SYNC_IOC_FILE_INFO, info);
	return r < 0 ? (int)r : 0;
}

static void fork_prepare(void)
{
	pthread_mutex_lock(&pending_lock);
}

static void fork_parent(void)
{
	pthread_mutex_unlock(&pending_lock);
}

/* Only the parent may signal its proxies: the child's copies of our
 * callbacks still send (the broker ignores another connection's ids). */
static void fork_child(void)
{
	/* The parent's entries stay allocated (its callbacks' copies free
	 * them when they run here); they are no longer listed. */
	for (unsigned int i = 0; i < PENDING_BUCKETS; i++) {
		for (struct proxy_cb *pc = pending[i]; pc; pc = pc->next)
			pc->listed = false;
		pending[i] = NULL;
	}
	__atomic_store_n(&n_pending, 0, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&pending_lock);	/* taken by fork_prepare() */
}

static const struct core_fork_handler proxy_fork = {
	.prepare = fork_prepare,
	.parent = fork_parent,
	.child = fork_child,
};

__attribute__((constructor)) static void proxy_init(void)
{
	core_fork_register(CORE_FORK_PROXY, &proxy_fork);
	__atomic_store_n(&uapi_sync_file_proxy_hook, proxy_install, __ATOMIC_RELEASE);
	__atomic_store_n(&uapi_sync_file_reserve_hook, proxy_reserve, __ATOMIC_RELEASE);
	__atomic_store_n(&uapi_sync_file_info_hook, broker_sync_file_info, __ATOMIC_RELEASE);
	__atomic_store_n(&uapi_sync_file_fence_hook, proxy_fence_of, __ATOMIC_RELEASE);
}
