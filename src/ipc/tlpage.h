/* SPDX-License-Identifier: MIT */
/*
 * Private: the timeline page, shared by the broker and its clients
 * (docs/design.md, section 16).  It also holds the dma-bufs' verified
 * readiness (struct tlpage_buf).
 *
 * The broker publishes one memfd per instance, sent with its HELLO reply
 * and mapped shared by every client.  Each sw_sync timeline the broker
 * makes gets a slot, if one is free and the timeline is not under fault
 * injection.  In a slot:
 *  - @count is what signalers added to the timeline since the slot was
 *    taken, in 64 bits (it never wraps; the timeline's value is @base plus
 *    its low 32 bits).  A client's SW_SYNC_IOC_INC adds to it here (an
 *    atomic add), logs the count it reached with its CLOCK_MONOTONIC
 *    time, marks the slot dirty, rings
 *    the doorbell if someone polls, and nudges the broker (IPC_NUDGE, no
 *    reply).  The broker applies what it finds before it serves any
 *    request and whenever it wakes, signaling the points with the logged
 *    times; a poll that lets the kernel report sync files' own readiness
 *    first settles (IPC_SETTLE) while INCs are on their way
 *    (tlpage_unsettled()): after INC returns, every observer through
 *    dmasync sees it, as on Linux.
 *  - A process that polls a point of the timeline, or asks FILE_INFO of a
 *    sync file that holds one pending point, reads @count to decide: ready
 *    (or pending) with no request.  The broker describes each point with
 *    its *mark*, the count at which it signals: 0 if it has signaled, else
 *    the count when described plus its distance ahead of the timeline's
 *    value then.  Linux applies an INC in steps of at most INT_MAX, each
 *    signaling the points within reach, so a point pending at distance d
 *    (1..INT_MAX) signals exactly when d more has been added, however
 *    large the INCs; and a signaled point stays signaled, however far the
 *    32-bit value wraps past it.  A comparison of the point's seqno with
 *    the value (as the kernel's sw_sync makes at each step) cannot tell
 *    either once INCs total 2^31 or more.  A poller counts itself in @waiters;
 *    a signaler that sees waiters writes the slot's doorbell (an eventfd
 *    the broker hands out, IPC_DOORBELL), so the poller wakes on the
 *    signaler's write, not on the broker's record.
 *
 * @gen is odd while the slot serves a live timeline and changes whenever
 * it is taken or given back: a client's (slot, gen) names one timeline,
 * and a stale pair reads as "ask the broker".  A slot whose @state is not
 * TLPAGE_FAST (fault injection began, the timeline is being released) is
 * read by nobody: requests go to the broker.
 *
 * Trust: the page is writable by every client of the broker, all of the
 * same uid (SO_PEERCRED).  The broker reads it with bounds checks only; a
 * client that scribbles on it can signal points early or late, never
 * crash the broker or make it touch memory outside the page.
 */
#ifndef DMASYNC_IPC_TLPAGE_H
#define DMASYNC_IPC_TLPAGE_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <linux/futex.h>

#define TLPAGE_MAGIC 0x746c7067u	/* "tlpg" */
#define TLPAGE_SLOTS 4096u
#define TLPAGE_LOG 4u
#define TLPAGE_HDR_SIZE 4096u
#define TLPAGE_BUFS 8192u
#define TLPAGE_BUFS_OFF (TLPAGE_HDR_SIZE + TLPAGE_SLOTS * sizeof(struct tlpage_slot))
#define TLPAGE_SIZE (TLPAGE_BUFS_OFF + TLPAGE_BUFS * sizeof(struct tlpage_buf))

enum {
	TLPAGE_FREE = 0,
	TLPAGE_FAST,	/* clients signal and read here */
	TLPAGE_SLOW,	/* ask the broker */
};

struct tlpage_log {
	uint32_t seq;		/* position + 1 once written; 0 while being written */
	uint32_t pad;
	uint64_t count;		/* the count that INC reached */
	int64_t ts;		/* its CLOCK_MONOTONIC time, ns */
};

/*
 * What the broker applied: the count the timeline reached and the time its
 * points signaled with, written by the broker only (same seq protocol as
 * struct tlpage_log).  The first entry of a slot's life is count 0, with
 * ts 0 (unknown).  A point pending when the slot was attached, or made
 * pending since, signaled at the ts of the first entry that reached its
 * mark if the entry before it did not: any holder can read its FILE_INFO
 * timestamp here, the same the broker would answer (tlpage_point_time()).
 */
struct tlpage_applied {
	uint32_t seq;
	uint32_t pad;
	uint64_t count;
	int64_t ts;
};

#define TLPAGE_APPLIED 4u

struct tlpage_slot {
	uint32_t base;		/* the timeline's value when the slot was taken */
	uint32_t gen;
	uint32_t state;
	uint32_t waiters;
	uint32_t log_head;
	uint32_t applied_head;	/* entries written to @applied, ever */
	uint64_t count;		/* added since the slot was taken */
	struct tlpage_log log[TLPAGE_LOG];
	char name[32];		/* the timeline's name, for FILE_INFO */
	struct tlpage_applied applied[TLPAGE_APPLIED];
};

/*
 * A dma-buf's readiness, as far as the broker has verified it: bit 0
 * POLLIN (no pending writer), bit 1 POLLOUT (nothing pending).  Set only
 * when the broker has just found the buffer so (at its creation, at a
 * poll's mirror request); cleared before any change of its fences is
 * answered (an IMPORT returns after).  A set bit is therefore always
 * true; a clear one says nothing (the poll asks the broker).  The upper
 * 30 bits count the changes of the buffer's fences (mod 2^30), bumped in
 * the same store that clears bits 0 and 1: the maker of an adopted buffer
 * (ipc.h, IPC_BUF_ADOPT) compares it with the count it has pulled.
 */
struct tlpage_buf {
	uint32_t gen;		/* odd while the slot serves a buffer */
	uint32_t ready;
	uint64_t ino;
};

/*
 * The broker's life, readable without a system call: a robust,
 * process-shared mutex its main thread takes at start and never lets go.
 * When that thread ends, however it ends, the kernel marks the mutex's
 * futex word (its first 32 bits, the owner's TID: the robust futex ABI)
 * FUTEX_OWNER_DIED.  Clients only ever read that word
 * (tlpage_broker_alive()); a page whose broker has gone is frozen, and
 * what it says of pending points no longer holds.
 */
union tlpage_alive {
	pthread_mutex_t mutex;
	uint32_t futex;
};

struct tlpage_hdr {
	uint32_t magic;
	uint32_t nslots;
	uint32_t slot_size;
	uint32_t draining;	/* 1: the broker is applying dirty slots */
	uint64_t summary;	/* bit w: dirty[w] may have bits set */
	uint64_t dirty[TLPAGE_SLOTS / 64];
	union tlpage_alive alive;
};

_Static_assert(sizeof(struct tlpage_slot) == 256, "slot size");
_Static_assert(sizeof(struct tlpage_buf) == 16, "buffer slot size");
_Static_assert(sizeof(struct tlpage_hdr) <= TLPAGE_HDR_SIZE, "header size");

static inline struct tlpage_hdr *tlpage_hdr(void *page)
{
	return page;
}

/* Whether the broker that publishes @page still lives (see tlpage_alive). */
static inline bool tlpage_broker_alive(void *page)
{
	uint32_t w = __atomic_load_n(&tlpage_hdr(page)->alive.futex, __ATOMIC_SEQ_CST);

	return (w & FUTEX_TID_MASK) && !(w & FUTEX_OWNER_DIED);
}

static inline struct tlpage_slot *tlpage_slot(void *page, uint32_t i)
{
	return (struct tlpage_slot *)((char *)page + TLPAGE_HDR_SIZE) + i;
}

static inline struct tlpage_buf *tlpage_buf(void *page, uint32_t i)
{
	return (struct tlpage_buf *)((char *)page + TLPAGE_BUFS_OFF) + i;
}

/*
 * tlpage_buf_ready - the verified-ready directions of buffer slot @i if it
 * still serves generation @gen: bit 0 POLLIN, bit 1 POLLOUT (0: ask).
 */
static inline uint32_t tlpage_buf_ready(void *page, uint32_t i, uint32_t gen)
{
	struct tlpage_buf *b;
	uint32_t r;

	if (!page || i >= TLPAGE_BUFS)
		return 0;
	b = tlpage_buf(page, i);
	if (__atomic_load_n(&b->gen, __ATOMIC_ACQUIRE) != gen)
		return 0;
	r = __atomic_load_n(&b->ready, __ATOMIC_SEQ_CST);
	return __atomic_load_n(&b->gen, __ATOMIC_ACQUIRE) == gen ? r & 3u : 0;
}

/*
 * tlpage_buf_changes - the change count of buffer slot @i (bits 2..31 of
 * its ready word, shifted down) if it still serves generation @gen; else
 * UINT32_MAX, which no count equals.
 */
static inline uint32_t tlpage_buf_changes(void *page, uint32_t i, uint32_t gen)
{
	struct tlpage_buf *b;
	uint32_t r;

	if (!page || i >= TLPAGE_BUFS)
		return UINT32_MAX;
	b = tlpage_buf(page, i);
	if (__atomic_load_n(&b->gen, __ATOMIC_ACQUIRE) != gen)
		return UINT32_MAX;
	r = __atomic_load_n(&b->ready, __ATOMIC_SEQ_CST);
	return __atomic_load_n(&b->gen, __ATOMIC_ACQUIRE) == gen ? r >> 2 : UINT32_MAX;
}

/* Whether a point of mark @mark has signaled at count @count. */
static inline bool tlpage_passed(uint64_t mark, uint64_t count)
{
	return count >= mark;
}

/*
 * tlpage_read - the count of slot @i if it still serves timeline
 * generation @gen fast.  Return: true and *@count, or false (ask the
 * broker).
 */
static inline bool tlpage_read(void *page, uint32_t i, uint32_t gen, uint64_t *count)
{
	struct tlpage_slot *s;
	uint32_t g;

	if (!page || i >= TLPAGE_SLOTS)
		return false;
	s = tlpage_slot(page, i);
	g = __atomic_load_n(&s->gen, __ATOMIC_ACQUIRE);
	if (g != gen || __atomic_load_n(&s->state, __ATOMIC_ACQUIRE) != TLPAGE_FAST)
		return false;
	*count = __atomic_load_n(&s->count, __ATOMIC_SEQ_CST);
	return __atomic_load_n(&s->gen, __ATOMIC_ACQUIRE) == gen;
}

/*
 * tlpage_point_time - the time the point of mark @mark of slot @i
 * (generation @gen) signaled, if the slot's applied entries still show the
 * step that reached it (the entry before it below @mark, both intact) and
 * the slot still serves that timeline fast.  Only for a point that was
 * pending when it became known (a point made signaled has its own time).
 * Return: true and *@ts, or false (ask the broker).
 */
static inline bool tlpage_point_time(void *page, uint32_t i, uint32_t gen, uint64_t mark,
				     int64_t *ts)
{
	struct tlpage_slot *s;
	uint32_t head;
	uint64_t c;

	if (!tlpage_read(page, i, gen, &c) || !tlpage_passed(mark, c))
		return false;
	s = tlpage_slot(page, i);
	head = __atomic_load_n(&s->applied_head, __ATOMIC_ACQUIRE);
	for (uint32_t pos = head - 1; pos != head - TLPAGE_APPLIED && pos + 1 > 1; pos--) {
		struct tlpage_applied *e = &s->applied[pos % TLPAGE_APPLIED];
		struct tlpage_applied *p = &s->applied[(pos - 1) % TLPAGE_APPLIED];
		uint32_t eseq = __atomic_load_n(&e->seq, __ATOMIC_ACQUIRE);
		uint32_t pseq = __atomic_load_n(&p->seq, __ATOMIC_ACQUIRE);
		uint64_t ec = __atomic_load_n(&e->count, __ATOMIC_RELAXED);
		uint64_t pc = __atomic_load_n(&p->count, __ATOMIC_RELAXED);
		int64_t t = __atomic_load_n(&e->ts, __ATOMIC_RELAXED);

		__atomic_thread_fence(__ATOMIC_ACQUIRE);
		if (eseq != pos + 1 || pseq != pos || __atomic_load_n(&e->seq, __ATOMIC_RELAXED) != eseq ||
		    __atomic_load_n(&p->seq, __ATOMIC_RELAXED) != pseq)
			return false;	/* being rewritten: ask */
		if (!tlpage_passed(mark, ec))
			return false;	/* not applied yet */
		if (!tlpage_passed(mark, pc)) {
			if (t <= 0 || __atomic_load_n(&s->gen, __ATOMIC_ACQUIRE) != gen)
				return false;
			*ts = t;
			return true;
		}
	}
	return false;
}

/*
 * tlpage_unsettled - whether INCs made in the page may not have reached
 * every sync file yet (the broker has not applied them, or is applying
 * them): a poll of the sync files' own fds must first ask the broker,
 * which applies the page before it answers.
 */
static inline bool tlpage_unsettled(void *page)
{
	struct tlpage_hdr *h = tlpage_hdr(page);

	return __atomic_load_n(&h->summary, __ATOMIC_SEQ_CST) ||
	       __atomic_load_n(&h->draining, __ATOMIC_SEQ_CST);
}

/*
 * tlpage_add - a signaler's INC of slot @i by @inc at time @ts: the count,
 * the log, the dirty marks.  The caller checked the slot (tlpage_read()).
 * *@first (if not NULL): whether the summary was empty (nothing was left
 * for the broker to apply: this INC is the one to nudge it).
 * Return: whether someone polls with the slot's doorbell.
 */
static inline bool tlpage_add(void *page, uint32_t i, uint32_t inc, int64_t ts, bool *first)
{
	struct tlpage_hdr *h = tlpage_hdr(page);
	struct tlpage_slot *s = tlpage_slot(page, i);
	uint64_t c = __atomic_add_fetch(&s->count, (uint64_t)inc, __ATOMIC_SEQ_CST);
	uint32_t pos = __atomic_fetch_add(&s->log_head, 1, __ATOMIC_ACQ_REL);
	struct tlpage_log *e = &s->log[pos % TLPAGE_LOG];

	__atomic_store_n(&e->seq, 0, __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_RELEASE);
	__atomic_store_n(&e->count, c, __ATOMIC_RELAXED);
	__atomic_store_n(&e->ts, ts, __ATOMIC_RELAXED);
	__atomic_store_n(&e->seq, pos + 1, __ATOMIC_RELEASE);
	__atomic_fetch_or(&h->dirty[i / 64], 1ull << (i % 64), __ATOMIC_SEQ_CST);
	uint64_t was = __atomic_fetch_or(&h->summary, 1ull << (i / 64), __ATOMIC_SEQ_CST);

	if (first)
		*first = !was;
	return __atomic_load_n(&s->waiters, __ATOMIC_SEQ_CST) != 0;
}

#endif
