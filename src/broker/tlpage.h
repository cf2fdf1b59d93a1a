/* SPDX-License-Identifier: MIT */
/*
 * Private: the broker's side of the timeline page (src/ipc/tlpage.h,
 * docs/design.md "The timeline page").  Every function takes the page's
 * lock: the main thread and the engine's release paths (any thread) call
 * them.
 */
#ifndef DMASYNC_BROKER_TLPAGE_H
#define DMASYNC_BROKER_TLPAGE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct dma_fence;

struct sync_timeline;

/* Make the page (a memfd, mapped).  Return: 0 or a negative errno; without
 * it every timeline is served by requests, as before the page existed.
 * Main thread: it holds the page's life word (tlpage.h) until it ends. */
int broker_tlpage_init(void);

/* A new fd of the page for a client's HELLO reply (the caller sends and
 * closes it), or -1. */
int broker_tlpage_dup_fd(void);

/* broker_tlpage_is - whether the file (@dev, @ino) is the page.  Any thread. */
bool broker_tlpage_is(dev_t dev, ino_t ino);

/*
 * broker_tlpage_attach - give the new timeline @tl a slot; @fast: whether
 * clients may signal it there (not under fault injection).  Takes a
 * reference to @tl until broker_tlpage_release().  No slot free: the
 * timeline is served by requests only.
 */
void broker_tlpage_attach(struct sync_timeline *tl, bool fast);

/*
 * broker_tlpage_release - @tl's file is being released: apply what
 * clients left in its slot (before its pending points signal -ENOENT),
 * then free the slot.  No-op for a timeline without one.
 */
void broker_tlpage_release(struct sync_timeline *tl);

/* From now on @tl is signaled through requests only (fault injection). */
void broker_tlpage_slow(struct sync_timeline *tl);

/*
 * broker_tlpage_lookup - the slot (+1) and generation of the timeline
 * with fence context @context, for describing its fds to clients.
 * Return: false if it has none, or none clients may use.
 */
bool broker_tlpage_lookup(uint64_t context, uint32_t *slot1, uint32_t *gen);

/*
 * broker_tlpage_mark - the mark of sw_sync point @pt for clients that
 * decide it from the page (src/ipc/tlpage.h): 0 if it has signaled (or
 * its timeline has no slot), else the slot's count at which it signals.
 * Takes the page's lock.
 */
uint64_t broker_tlpage_mark(const struct dma_fence *pt);

/*
 * broker_tlpage_drain - apply every INC clients made in the page since the
 * last call.  Called before every request is served (so that each answer
 * includes every INC made before it was sent) and once per wake-up of the
 * loop.  Cheap when nothing changed: one load.
 */
void broker_tlpage_drain(void);

/*
 * broker_tlpage_inc - SW_SYNC_IOC_INC through a request, on a timeline
 * with a fast slot: done through the page (so that the page stays the
 * timeline's value).  Return: true if done, false if @tl has no fast slot.
 */
bool broker_tlpage_inc(struct sync_timeline *tl, uint32_t inc);

/*
 * broker_tlpage_watch - watch every doorbell made from now on in the epoll
 * set @epfd, edge-triggered, with @tag as its data: a ring wakes the
 * loop, which drains the page.  Call it before the first client connects
 * (a client that rings a doorbell sends no nudge).
 */
void broker_tlpage_watch(int epfd, void *tag);

/*
 * broker_tlpage_doorbell - a new fd of the doorbell of slot @slot1 - 1 at
 * generation @gen (made on first use, watched as broker_tlpage_watch()
 * says), for the caller to send and close.
 * Return: the fd, or -ESTALE (the slot serves another timeline now), or
 * another negative errno.
 */
int broker_tlpage_doorbell(uint32_t slot1, uint32_t gen);

/*
 * Buffers (struct tlpage_buf).  broker_tlpage_buf_describe(): the slot (+1)
 * and generation of the dma-buf (@dev, @ino), taken if it has none; with
 * @ready >= 0 (its readiness, engine_dmabuf_ready(), found just now in
 * the broker's thread) published.  Return: false if no slot is free.
 * broker_tlpage_buf_ready(): publish @ready (if >= 0) for a buffer with a
 * slot.  broker_tlpage_buf_changed(): its fences changed: clear what was
 * published (synchronously, before the change is answered; takes only the
 * buffers' lock) and count one change more.  broker_tlpage_buf_changes():
 * that count (UINT32_MAX: the buffer has no slot).
 * broker_tlpage_buf_release(): it is gone.
 */
bool broker_tlpage_buf_describe(dev_t dev, ino_t ino, int ready, uint32_t *slot1, uint32_t *gen);
void broker_tlpage_buf_ready(dev_t dev, ino_t ino, int ready);
void broker_tlpage_buf_changed(dev_t dev, ino_t ino);
uint32_t broker_tlpage_buf_changes(dev_t dev, ino_t ino);
void broker_tlpage_buf_release(dev_t dev, ino_t ino);

#endif
