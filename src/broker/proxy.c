/* SPDX-License-Identifier: MIT */
/* Proxy fences for clients' own fences: see proxy.h. */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <dmasync/dma-fence.h>
#include <dmasync/spinlock.h>
#include <dmasync/sync_file.h>
#include "proxy.h"
#include "sync_file-priv.h"

struct proxy {
	struct dma_fence base;		/* first: dma_fence_free() frees us */
	spinlock_t lock;
	uint64_t id;
	struct proxy_set *set;		/* while pending */
	struct proxy *prev, *next;	/* in set->pending */
	struct proxy *hnext;		/* in its id bucket, while pending */
	char driver[32], timeline[32];
};

struct proxy_ctx {
	uint64_t theirs, ours;		/* theirs == 0: a free slot */
};

static uint64_t last_id;
/* Pending proxies of every client by id: chained, grown at load 1. */
static struct proxy **by_id;
static size_t by_id_cap, by_id_n;

static size_t bucket(uint64_t id, size_t cap)
{
	return (size_t)(id * 0x9E3779B97F4A7C15ull >> 20) & (cap - 1);
}

/* Return: false if out of memory (@pr is then not pending). */
static bool by_id_add(struct proxy *pr)
{
	if (by_id_n >= by_id_cap) {
		size_t cap = by_id_cap ? by_id_cap * 2 : 64;
		struct proxy **fresh = calloc(cap, sizeof(*fresh));

		if (!fresh)
			return false;
		for (size_t b = 0; b < by_id_cap; b++) {
			while (by_id[b]) {
				struct proxy *q = by_id[b];

				by_id[b] = q->hnext;
				q->hnext = fresh[bucket(q->id, cap)];
				fresh[bucket(q->id, cap)] = q;
			}
		}
		free(by_id);
		by_id = fresh;
		by_id_cap = cap;
	}
	pr->hnext = by_id[bucket(pr->id, by_id_cap)];
	by_id[bucket(pr->id, by_id_cap)] = pr;
	by_id_n++;
	return true;
}

static void by_id_del(struct proxy *pr)
{
	struct proxy **pp = &by_id[bucket(pr->id, by_id_cap)];

	while (*pp != pr)
		pp = &(*pp)->hnext;
	*pp = pr->hnext;
	by_id_n--;
}

static struct proxy *to_proxy(struct dma_fence *fence)
{
	return (struct proxy *)fence;
}

static const char *proxy_driver_name(struct dma_fence *fence)
{
	return to_proxy(fence)->driver;
}

static const char *proxy_timeline_name(struct dma_fence *fence)
{
	return to_proxy(fence)->timeline;
}

static const struct dma_fence_ops proxy_ops = {
	.get_driver_name = proxy_driver_name,
	.get_timeline_name = proxy_timeline_name,
};

static const struct dma_fence_ops proxy_ops64 = {
	.use_64bit_seqno = true,
	.get_driver_name = proxy_driver_name,
	.get_timeline_name = proxy_timeline_name,
};

/* The broker's context for the client's @theirs (never 0: a client's
 * contexts start at 1 too), made on first use.  Return: 0 if out of memory. */
static uint64_t context_of(struct proxy_set *set, uint64_t theirs)
{
	unsigned int mask, i;

	if (set->n_ctx * 2 >= set->ctx_cap) {
		unsigned int cap = set->ctx_cap ? set->ctx_cap * 2 : 16;
		struct proxy_ctx *fresh = calloc(cap, sizeof(*fresh)), *old = set->ctx;

		if (!fresh)
			return 0;
		for (unsigned int k = 0; k < set->ctx_cap; k++) {
			if (!old[k].theirs)
				continue;
			for (i = (unsigned int)(old[k].theirs * 0x9E3779B97F4A7C15ull >> 32) & (cap - 1);
			     fresh[i].theirs; i = (i + 1) & (cap - 1))
				;
			fresh[i] = old[k];
		}
		free(old);
		set->ctx = fresh;
		set->ctx_cap = cap;
	}
	mask = set->ctx_cap - 1;
	for (i = (unsigned int)(theirs * 0x9E3779B97F4A7C15ull >> 32) & mask; set->ctx[i].theirs;
	     i = (i + 1) & mask)
		if (set->ctx[i].theirs == theirs)
			return set->ctx[i].ours;
	set->ctx[i].theirs = theirs;
	set->ctx[i].ours = dma_fence_context_alloc(1);
	set->n_ctx++;
	return set->ctx[i].ours;
}

static void copy_name(char *dst, const char *src, size_t len)
{
	size_t n = strnlen(src, len - 1);

	memcpy(dst, src, n);
	dst[n] = '\0';
}

/* Signal @pr (pending, in its set) with @status at @timestamp, take it out
 * of the set and drop the set's reference. */
static void proxy_settle(struct proxy *pr, int status, ktime_t timestamp)
{
	struct proxy_set *set = pr->set;

	by_id_del(pr);
	if (pr->prev)
		pr->prev->next = pr->next;
	else
		set->pending = pr->next;
	if (pr->next)
		pr->next->prev = pr->prev;
	pr->set = NULL;
	if (status < 0)
		dma_fence_set_error(&pr->base, status);
	dma_fence_signal_timestamp(&pr->base, timestamp);
	dma_fence_put(&pr->base);
}

/* What a client may say: 1, or an errno the kernel could report. */
static int valid_status(int status)
{
	return status < 0 && status >= -4095 ? status : 1;
}

/* A client's time, never after now (same clock, CLOCK_MONOTONIC). */
static ktime_t valid_time(int64_t t)
{
	ktime_t now = ktime_get();

	return t > 0 && t <= now ? t : now;
}

struct dma_fence *broker_proxy_fence(struct proxy_set *set, const struct ipc_proxy *p,
				     uint64_t *id)
{
	struct proxy *pr = calloc(1, sizeof(*pr));
	uint64_t ctx = pr ? context_of(set, p->context ? p->context : 1) : 0;

	*id = 0;
	if (!ctx) {
		free(pr);
		return NULL;
	}
	spin_lock_init(&pr->lock);
	copy_name(pr->driver, p->driver, sizeof(pr->driver));
	copy_name(pr->timeline, p->timeline, sizeof(pr->timeline));
	if (p->flags & IPC_PROXY_SEQNO64)
		dma_fence_init64(&pr->base, &proxy_ops64, &pr->lock, ctx, p->seqno);
	else
		dma_fence_init(&pr->base, &proxy_ops, &pr->lock, ctx, p->seqno);

	if (p->status) {
		if (valid_status(p->status) < 0)
			dma_fence_set_error(&pr->base, valid_status(p->status));
		dma_fence_signal_timestamp(&pr->base, valid_time(p->timestamp));
	} else {
		/* The set's reference, until it signals. */
		pr->id = ++last_id;
		if (!by_id_add(pr)) {
			dma_fence_put(&pr->base);
			return NULL;
		}
		pr->set = set;
		pr->next = set->pending;
		if (pr->next)
			pr->next->prev = pr;
		set->pending = pr;
		dma_fence_get(&pr->base);
		*id = pr->id;
	}
	return &pr->base;
}

void broker_proxy_abandon(struct dma_fence *fence)
{
	struct proxy *pr = to_proxy(fence);

	if (pr->set)
		proxy_settle(pr, -EPIPE, ktime_get());	/* nobody can wait on it */
}

bool broker_proxy_is_of(struct dma_fence *fence, struct proxy_set *set)
{
	return (fence->ops == &proxy_ops || fence->ops == &proxy_ops64) && to_proxy(fence)->set == set;
}

int broker_proxy_create(struct proxy_set *set, const struct ipc_proxy *p, uint64_t *id)
{
	struct dma_fence *fence = broker_proxy_fence(set, p, id);
	struct sync_file *sf;
	int fd;

	if (!fence)
		return -ENOMEM;
	sf = sync_file_create(fence);
	if (sf) {
		char name[32];

		copy_name(name, p->name, sizeof(name));
		if (name[0])
			sync_file_set_name(sf, name);
		fd = sync_file_install(sf);
	} else {
		fd = -errno;
	}
	if (fd < 0) {
		broker_proxy_abandon(fence);
		*id = 0;
	}
	dma_fence_put(fence);
	return fd;
}

void broker_proxy_signal(struct proxy_set *set, uint64_t id, int status, int64_t timestamp)
{
	struct proxy *pr = by_id_cap ? by_id[bucket(id, by_id_cap)] : NULL;

	while (pr && pr->id != id)
		pr = pr->hnext;
	/* Only its own client may signal it. */
	if (pr && pr->set == set)
		proxy_settle(pr, valid_status(status), valid_time(timestamp));
}

void broker_proxy_set_fini(struct proxy_set *set)
{
	while (set->pending)
		proxy_settle(set->pending, -EPIPE, ktime_get());
	free(set->ctx);
	memset(set, 0, sizeof(*set));
}
