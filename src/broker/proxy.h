/* SPDX-License-Identifier: MIT */
/*
 * Proxy fences: the broker's stand-ins for fences that live in a client
 * (made with the in-process kernel API, then given a sync file fd with
 * sync_file_create() or an EXPORT of an in-process buffer).  The sync file
 * the program gets is the broker's, of a proxy fence that carries the
 * original's driver and timeline names and seqno; the client signals it
 * (IPC_PROXY_SIGNAL) with its fence's status and timestamp when that
 * fence signals.  So the fd works in every process, as any other.
 *
 * Each client connection has a set: its pending proxies, and its fence
 * contexts mapped to contexts of the broker's (two proxies of one client
 * context share one here, so merges and reservation objects treat them as
 * one timeline, as the client's own fences are).  When the connection
 * goes, every proxy still pending signals -EPIPE: nobody is left to
 * signal it.
 *
 * Main thread only (the request loop): no locking.
 */
#ifndef DMASYNC_BROKER_PROXY_H
#define DMASYNC_BROKER_PROXY_H

#include <stdbool.h>
#include <stdint.h>

#include "ipc.h"

struct proxy;
struct proxy_ctx;

struct proxy_set {
	struct proxy *pending;		/* doubly linked, newest first */
	struct proxy_ctx *ctx;		/* open addressing, @ctx_cap slots */
	unsigned int n_ctx, ctx_cap;
};

/**
 * broker_proxy_create - a sync file of a new proxy fence described by @p,
 * for the client of @set.
 * @id: set to the proxy's id, or 0 if it was made signaled (@p->status)
 *
 * Return: the sync file's fd in the broker (the caller sends it and closes
 * its copy), or a negative errno.
 */
int broker_proxy_create(struct proxy_set *set, const struct ipc_proxy *p, uint64_t *id);

/**
 * broker_proxy_fence - a new proxy fence described by @p (@p->name unused)
 * for the client of @set, with a reference for the caller; @id as for
 * broker_proxy_create().  Return: the fence, or NULL if out of memory.
 */
struct dma_fence *broker_proxy_fence(struct proxy_set *set, const struct ipc_proxy *p,
				     uint64_t *id);

/* broker_proxy_abandon - nobody will see the pending proxy @fence (its
 * sync file could not be made): it signals -EPIPE now. */
void broker_proxy_abandon(struct dma_fence *fence);

/* broker_proxy_is_of - whether @fence is a proxy of @set still pending. */
struct dma_fence;
bool broker_proxy_is_of(struct dma_fence *fence, struct proxy_set *set);

/**
 * broker_proxy_signal - signal the pending proxy @id of @set with @status
 * (1, or a negative errno) at @timestamp.  Ids of other sets, unknown or
 * already signaled ones are ignored.
 */
void broker_proxy_signal(struct proxy_set *set, uint64_t id, int status, int64_t timestamp);

/**
 * broker_proxy_set_fini - the client of @set is gone: its pending proxies
 * signal -EPIPE; the set is empty afterwards.
 */
void broker_proxy_set_fini(struct proxy_set *set);

#endif
