/* SPDX-License-Identifier: MIT */
/*
 * The client's half of adopted dma-bufs (ipc.h, IPC_BUF_ADOPT; docs/design.md
 * section 5).  A buffer this process made with the in-process kernel API
 * (dma_buf_export()) becomes, at dma_buf_fd(), a buffer of the broker's as
 * well: its pages are a memfd already, so the broker wraps the same inode,
 * and every process the fd reaches imports, exports, polls and SYNCs
 * through the broker as with any other buffer.  This process keeps its
 * own object (the driver holds struct dma_buf and reads buf->resv), and
 * the two reservation objects are kept in step through the remote view of
 * dma-resv-priv.h, with the local object's lock held:
 *  - push (dma_resv_unlock() after a change): each unsignaled fence this
 *    process added goes over as a proxy fence with its usage
 *    (IPC_BUF_PUSH, one request for all of them), signaled by us when it
 *    signals (proxy.c);
 *  - pull (taking the lock, or an unlocked reader's walk, when the
 *    broker's change count in the timeline page differs from the one last
 *    pulled): the unsignaled writers and readers the other processes added
 *    come back as two sync files (IPC_BUF_PULL), which become fences of
 *    this process (sync_file_get_fence()) that replace the ones pulled
 *    before, with usage WRITE and READ.
 * Our own pushes count as changes too; the broker tells us the count
 * before and after each push, so that a push with nobody else in between
 * does not make the next lock pull.  A fork child's copies do nothing:
 * the broker knows its parent's connection only.
 *
 * The exporter's begin_cpu_access/end_cpu_access ops are this process's
 * code, which other processes' DMA_BUF_IOCTL_SYNC must run too, as on
 * Linux.  The first adoption of a buffer with either op gives the broker a
 * channel (IPC_ACCESS_CHANNEL, a SOCK_SEQPACKET socket pair) and starts a
 * thread that serves it: the broker sends IPC_CPU_ACCESS there with an
 * answer socket, the thread runs the op and writes its result on that
 * socket, which the other process waits on.  The broker itself never
 * waits.  One channel per process and broker; a fork child closes its copy
 * (the parent's thread serves the parent's buffers).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sys/socket.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <dmasync/dma-buf.h>
#include <dmasync/dma-resv.h>
#include <dmasync/sync_file.h>
#include "client.h"
#include "dma-buf-priv.h"
#include "dma-resv-priv.h"
#include "file.h"
#include "fork.h"

struct pushed {
	struct dma_fence *fence;	/* a reference, until it signals */
	enum dma_resv_usage usage;
};

struct adopted {
	struct core_resv_remote remote;	/* first */
	struct client_obj obj;		/* the broker's buffer */
	pid_t pid;			/* the process that adopted it */
	bool dead;			/* the broker's buffer is gone */
	uint32_t seen;			/* the change count pulled */
	u64 pulled[2];			/* contexts of the fences pulled: writers, readers */
	struct pushed *pushed;
	unsigned int n_pushed;
};

static inline struct adopted *to_adopted(struct core_resv_remote *remote)
{
	return (struct adopted *)remote;
}

/* Whether requests on @a are due: not dead, and our own (not a fork child's copy). */
static bool live(struct adopted *a)
{
	return !a->dead && a->pid == getpid();
}

/* After a failed request: the broker's buffer, or the broker, is gone. */
static void check_gone(struct adopted *a, long r)
{
	if (r == -ENOENT || r == -EPERM || r == -ENOLINK || r == -EPROTO)
		a->dead = true;
}

static void close_received(int fd)
{
	close(fd);
	client_fds_closed((unsigned int)fd, (unsigned int)fd);
}

static bool adopted_stale(struct core_resv_remote *remote)
{
	struct adopted *a = to_adopted(remote);
	uint32_t changes;

	if (!live(a))
		return false;
	/* UINT32_MAX: the page does not say (no slot for it): always ask. */
	changes = client_buffer_changes(&a->obj);
	return changes == UINT32_MAX || changes != a->seen;
}

static void adopted_pull(struct core_resv_remote *remote, struct dma_resv *resv)
{
	static const enum dma_resv_usage usage[2] = { DMA_RESV_USAGE_WRITE, DMA_RESV_USAGE_READ };
	struct adopted *a = to_adopted(remote);
	const uint64_t arg[3] = { (uint64_t)a->obj.dev, (uint64_t)a->obj.ino, 0 };
	struct dma_fence *fences[2] = { NULL, NULL };
	unsigned int nfds, next = 0;
	bool missing = false;
	uint64_t rarg[2];
	int fds[2];
	long r;

	if (!live(a))
		return;
	r = client_call(IPC_BUF_PULL, a->obj.broker, -1, arg, NULL, 0, rarg, NULL, NULL, fds, 2,
			&nfds, NULL);
	if (r < 0) {
		for (unsigned int i = 0; i < nfds; i++)
			close_received(fds[i]);
		check_gone(a, r);
		return;
	}
	for (unsigned int k = 0; k < 2; k++) {
		if (!(rarg[0] & (1u << k)))
			continue;
		if (next < nfds) {
			fences[k] = sync_file_get_fence(fds[next]);
			close_received(fds[next++]);
		}
		if (!fences[k])
			missing = true;
	}
	while (next < nfds)
		close_received(fds[next++]);
	if (missing || dma_resv_reserve_fences(resv, 2)) {
		/* Out of memory or fds: keep what we had, and the count we had,
		 * so that the next lock asks again. */
		dma_fence_put(fences[0]);
		dma_fence_put(fences[1]);
		return;
	}
	for (unsigned int k = 0; k < 2; k++) {
		/* What the others hold now replaces what they held before. */
		if (a->pulled[k]) {
			struct dma_fence *stub = dma_fence_get_stub();

			dma_resv_replace_fences(resv, a->pulled[k], stub, usage[k]);
			dma_fence_put(stub);
			a->pulled[k] = 0;
		}
		if (fences[k]) {
			dma_resv_add_fence(resv, fences[k], usage[k]);
			a->pulled[k] = fences[k]->context;
			dma_fence_put(fences[k]);
		}
	}
	a->seen = (uint32_t)r;
}

/* Whether @fence went over already with @usage or a stronger one. */
static bool was_pushed(struct adopted *a, struct dma_fence *fence, enum dma_resv_usage usage)
{
	for (unsigned int i = 0; i < a->n_pushed; i++)
		if (a->pushed[i].fence == fence && a->pushed[i].usage <= usage)
			return true;
	return false;
}

static void put_pushed(struct pushed *p, unsigned int n)
{
	for (unsigned int i = 0; i < n; i++)
		dma_fence_put(p[i].fence);
}

/*
 * With the object locked and changed: the unsignaled fences it holds that
 * we did not pull go over, those not sent before in one IPC_BUF_PUSH.
 * What was sent is remembered as long as the object holds it unsignaled
 * (the list is rebuilt from the object each time, so it never outgrows it).
 */
static void adopted_push(struct core_resv_remote *remote, struct dma_resv *resv)
{
	struct adopted *a = to_adopted(remote);
	const uint64_t arg[3] = { (uint64_t)a->obj.dev, (uint64_t)a->obj.ino, 0 };
	struct pushed *now = NULL;
	struct ipc_push *entries = NULL;
	unsigned int n = 0, kept = 0, max = 0, nfds;
	struct dma_resv_iter cursor;
	struct dma_fence *fence;
	uint64_t *ids = NULL, rarg[2];
	size_t out_len;
	long r;

	if (!live(a))
		return;
	dma_resv_for_each_fence(&cursor, resv, DMA_RESV_USAGE_BOOKKEEP, fence)
		max++;
	if (max) {
		now = calloc(max, sizeof(*now));
		entries = calloc(max, sizeof(*entries));
		ids = calloc(max, sizeof(*ids));
		if (!now || !entries || !ids)
			goto out_free;
	}
	/* now[0..kept): sent before, still here; now[max - n..max): new. */
	dma_resv_for_each_fence(&cursor, resv, DMA_RESV_USAGE_BOOKKEEP, fence) {
		enum dma_resv_usage usage = dma_resv_iter_usage(&cursor);

		if (kept + n == max || dma_fence_is_signaled(fence) ||
		    fence->context == a->pulled[0] || fence->context == a->pulled[1])
			continue;
		if (was_pushed(a, fence, usage)) {
			now[kept].fence = dma_fence_get(fence);
			now[kept++].usage = usage;
			continue;
		}
		n++;
		entries[n - 1].usage = usage;
		client_proxy_describe(fence, "", &entries[n - 1].fence);
		now[max - n].fence = dma_fence_get(fence);
		now[max - n].usage = usage;
	}
	if (n) {
		out_len = n * sizeof(*ids);
		r = client_call(IPC_BUF_PUSH, a->obj.broker, -1, arg, entries, n * sizeof(*entries),
				rarg, ids, &out_len, NULL, 0, &nfds, NULL);
		if (r < 0 || out_len != n * sizeof(*ids)) {
			check_gone(a, r < 0 ? r : -EPROTO);
			/* Not sent: not remembered either (the next change tries again). */
			put_pushed(now + max - n, n);
			n = 0;
		} else {
			for (unsigned int i = 0; i < n; i++)
				if (ids[i])	/* a proxy made pending: ours to signal */
					client_proxy_watch(now[max - 1 - i].fence, ids[i],
							   a->obj.broker);
			/* Nobody else changed it since our last look: still up to date. */
			if ((uint32_t)rarg[0] == a->seen)
				a->seen = (uint32_t)rarg[1];
		}
		memmove(now + kept, now + max - n, n * sizeof(*now));
	}
	put_pushed(a->pushed, a->n_pushed);
	free(a->pushed);
	a->pushed = now;
	a->n_pushed = kept + n;
	now = NULL;
out_free:
	free(now);
	free(entries);
	free(ids);
}

static const struct core_resv_remote_ops adopted_ops = {
	.stale = adopted_stale,
	.pull = adopted_pull,
	.push = adopted_push,
};

/* ---- the CPU-access channel ------------------------------------------------------ */

/*
 * chan_lock guards the set-up (held around its request, so it comes before
 * conn_lock: CORE_FORK_ADOPT) and the fields below, which are also read
 * atomically (client_adopt_fd_is_own()).  chan_fd is the channel's number,
 * moved by client_adopt_move_fd(); whoever clears it closes it.
 */
static pthread_mutex_t chan_lock = PTHREAD_MUTEX_INITIALIZER;
static int chan_fd = -1;
static pid_t chan_pid;
static uint64_t chan_broker;
static unsigned int chan_gen;

/* One IPC_CPU_ACCESS: run the op, answer on the socket it came with. */
static void serve_one(const struct ipc_hdr *hdr, int answer)
{
	unsigned int op = (unsigned int)(hdr->arg2 & 0xff);
	int dir = (int)(hdr->arg2 >> 8 & 0xff);
	int32_t r = 0;

	if (hdr->op == IPC_CPU_ACCESS && (op == IPC_CPU_BEGIN || op == IPC_CPU_END) &&
	    dir <= DMA_FROM_DEVICE) {
		r = uapi_dmabuf_exporter_op((dev_t)hdr->arg0, (ino_t)hdr->arg1, op == IPC_CPU_END,
					    (enum dma_data_direction)dir);
		if (r == -ENOENT)
			r = 0;	/* released here: its ops are gone */
	}
	if (answer >= 0) {
		send(answer, &r, sizeof(r), MSG_DONTWAIT | MSG_NOSIGNAL);
		close(answer);
	}
}

static void *chan_main(void *arg)
{
	unsigned int gen = (unsigned int)(uintptr_t)arg;

	for (;;) {
		union {
			struct cmsghdr align;
			char buf[CMSG_SPACE(sizeof(int))];
		} ctl;
		struct ipc_hdr hdr;
		struct iovec iov = { .iov_base = &hdr, .iov_len = sizeof(hdr) };
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf,
				     .msg_controllen = sizeof(ctl.buf) };
		struct cmsghdr *cm;
		int fd = __atomic_load_n(&chan_fd, __ATOMIC_RELAXED), answer = -1;
		ssize_t n;

		if (fd < 0 || __atomic_load_n(&chan_gen, __ATOMIC_RELAXED) != gen)
			return NULL;	/* replaced: the replacer closed ours */
		n = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EBADF || errno == ENOTSOCK)) {
			/* The program closed the number (not under the preload,
			 * which keeps it from that): nothing of ours to close. */
			pthread_mutex_lock(&chan_lock);
			if (__atomic_load_n(&chan_gen, __ATOMIC_RELAXED) == gen && chan_fd == fd)
				__atomic_store_n(&chan_fd, -1, __ATOMIC_RELAXED);
			pthread_mutex_unlock(&chan_lock);
			return NULL;
		}
		if (n <= 0)
			break;
		for (cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm))
			if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS &&
			    cm->cmsg_len == CMSG_LEN(sizeof(int)))
				memcpy(&answer, CMSG_DATA(cm), sizeof(int));
		if (n == (ssize_t)sizeof(hdr))
			serve_one(&hdr, answer);
		else if (answer >= 0)
			close(answer);
	}
	/* The broker is gone (or let the channel go): so is the channel. */
	pthread_mutex_lock(&chan_lock);
	if (__atomic_load_n(&chan_gen, __ATOMIC_RELAXED) == gen && chan_fd >= 0) {
		close(chan_fd);
		__atomic_store_n(&chan_fd, -1, __ATOMIC_RELAXED);
	}
	pthread_mutex_unlock(&chan_lock);
	return NULL;
}

/* The broker has our channel and a thread serves it.  Return: 0 or a
 * negative errno (the ops then run for this process's own calls only). */
static int chan_ensure(void)
{
	const uint64_t arg[3] = { 0, 0, 0 };
	unsigned int nfds, gen;
	uint64_t rarg[2];
	int sv[2], r;
	long ret;

	pthread_mutex_lock(&chan_lock);
	if (chan_fd >= 0 && chan_pid == getpid() && chan_broker == client_broker_id()) {
		pthread_mutex_unlock(&chan_lock);
		return 0;
	}
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv)) {
		r = -errno;
		goto out_unlock;
	}
	sv[0] = client_fd_above_floor(sv[0]);
	ret = client_call(IPC_ACCESS_CHANNEL, 0, sv[1], arg, NULL, 0, rarg, NULL, NULL, NULL, 0,
			  &nfds, NULL);
	close(sv[1]);
	if (ret < 0) {
		r = (int)ret;
		goto out_close;
	}
	/* An earlier channel (another broker's) is let go: its thread sees
	 * the new generation, or its broker's hang-up. */
	if (chan_fd >= 0)
		close(chan_fd);
	gen = __atomic_add_fetch(&chan_gen, 1, __ATOMIC_RELAXED);
	__atomic_store_n(&chan_fd, sv[0], __ATOMIC_RELAXED);
	chan_pid = getpid();
	chan_broker = client_broker_id();
	r = uapi_thread_start(chan_main, (void *)(uintptr_t)gen);
	if (r) {
		__atomic_store_n(&chan_fd, -1, __ATOMIC_RELAXED);
		goto out_close;
	}
	pthread_mutex_unlock(&chan_lock);
	return 0;
out_close:
	close(sv[0]);
out_unlock:
	pthread_mutex_unlock(&chan_lock);
	return r;
}

int client_adopt_fd(void)
{
	return __atomic_load_n(&chan_fd, __ATOMIC_RELAXED);
}

bool client_adopt_fd_is_own(int fd)
{
	return fd >= 0 && fd == __atomic_load_n(&chan_fd, __ATOMIC_RELAXED);
}

int client_adopt_move_fd(int fd, int min)
{
	int r = -ENOENT;

	pthread_mutex_lock(&chan_lock);
	if (fd >= 0 && fd == chan_fd) {
		int high = fcntl(fd, F_DUPFD_CLOEXEC, min > 0 ? min : 0);

		/* The thread's recvmsg() in flight holds the socket: it ends
		 * there, and the next one starts on the new number. */
		r = high < 0 ? -errno : 0;
		if (high >= 0)
			__atomic_store_n(&chan_fd, high, __ATOMIC_RELAXED);
	}
	pthread_mutex_unlock(&chan_lock);
	return r;
}

static void chan_fork_take(void)
{
	pthread_mutex_lock(&chan_lock);
}

static void chan_fork_parent(void)
{
	pthread_mutex_unlock(&chan_lock);
}

/* The child has no thread to serve the parent's channel: a copy it kept
 * would let the broker queue requests nobody answers. */
static void chan_fork_child(void)
{
	if (chan_fd >= 0)
		close(chan_fd);
	chan_fd = -1;
	chan_pid = 0;
	__atomic_add_fetch(&chan_gen, 1, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&chan_lock);
}

static const struct core_fork_handler chan_fork = {
	.prepare = chan_fork_take, .parent = chan_fork_parent, .child = chan_fork_child,
};

/* ---- sharing ------------------------------------------------------------------------ */

static struct core_resv_remote *adopted_share(struct dma_buf *buf, int fd)
{
	const uint64_t arg[3] = { 0, 0, 0 };
	struct ipc_adopt req;
	struct adopted *a;
	unsigned int nfds;
	uint64_t rarg[2];
	int fl, back;
	long r;

	if (!client_enabled())
		return NULL;
	fl = fcntl(fd, F_GETFL);
	if (fl < 0)
		return NULL;
	a = calloc(1, sizeof(*a));
	if (!a)
		return NULL;
	memset(&req, 0, sizeof(req));
	req.size = buf->size;
	req.accmode = (uint32_t)(fl & O_ACCMODE);
	strncpy(req.exp_name, buf->exp_name ? buf->exp_name : "", sizeof(req.exp_name) - 1);
	spin_lock(&buf->name_lock);
	if (buf->name) {
		req.has_name = 1;
		strncpy(req.name, buf->name, sizeof(req.name) - 1);
	}
	spin_unlock(&buf->name_lock);
	if (buf->ops->begin_cpu_access)
		req.cpu_ops |= IPC_CPU_BEGIN;
	if (buf->ops->end_cpu_access)
		req.cpu_ops |= IPC_CPU_END;
	/* Best effort: without it, only this process's calls run the ops. */
	if (req.cpu_ops)
		chan_ensure();
	r = client_call(IPC_BUF_ADOPT, 0, fd, arg, &req, sizeof(req), rarg, NULL, NULL, &back, 1,
			&nfds, &a->obj);
	if (nfds)
		close_received(back);
	if (r < 0 || !nfds || a->obj.kind != IPC_KIND_DMA_BUF) {
		free(a);
		return NULL;
	}
	a->remote.ops = &adopted_ops;
	a->pid = getpid();
	a->seen = client_buffer_changes(&a->obj);
	return &a->remote;
}

static void adopted_unshare(struct core_resv_remote *remote)
{
	struct adopted *a = to_adopted(remote);

	/* A fork child's copies are references it holds too (copied memory). */
	put_pushed(a->pushed, a->n_pushed);
	free(a->pushed);
	free(a);
}

/* The maker named it (the broker's copy is what other processes and the
 * tools show).  A failure leaves the broker's name as it was. */
static void adopted_set_name(struct core_resv_remote *remote, const char *name)
{
	struct adopted *a = to_adopted(remote);
	const uint64_t arg[3] = { (uint64_t)a->obj.dev, (uint64_t)a->obj.ino, 0 };
	unsigned int nfds;
	uint64_t rarg[2];
	long r;

	if (!live(a))
		return;
	r = client_call(IPC_BUF_NAME, a->obj.broker, -1, arg, name, name ? strlen(name) + 1 : 0,
			rarg, NULL, NULL, NULL, 0, &nfds, NULL);
	check_gone(a, r);
}

static const struct uapi_dmabuf_share_ops share_ops = {
	.share = adopted_share,
	.unshare = adopted_unshare,
	.set_name = adopted_set_name,
};

__attribute__((constructor)) static void adopt_init(void)
{
	__atomic_store_n(&uapi_dmabuf_share_hook, &share_ops, __ATOMIC_RELEASE);
	core_fork_register(CORE_FORK_ADOPT, &chan_fork);
}
