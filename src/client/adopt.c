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
 */
#include <errno.h>
#include <fcntl.h>
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
}
