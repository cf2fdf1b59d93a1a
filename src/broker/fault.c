// SPDX-License-Identifier: MIT
/*
 * Fault injection (fault.h).
 *
 * Each timeline with something in flight here has a struct fault_tl: a
 * reference to the timeline, to the settings of its maker, and the INCs
 * held back, in order, each with the time it is due.  Order is what makes
 * a late signal a delay rather than a reordering: an INC is never applied
 * before one held ahead of it, so a delay of one INC delays those queued
 * behind it too, as work queued behind a slow job on a GPU ring.
 *
 * Every choice hashes (seed, timeline name, seqno) for errors and (seed,
 * timeline name, value the INC reaches) for delays and hangs: never a
 * fence context, which depends on what every other client of the broker
 * did before, nor a running counter, so a record can be dropped when idle
 * and the same program sees the same faults on the next run.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <dmasync/dma-fence.h>
#include <dmasync/sw_sync.h>
#include "diag.h"
#include "engine.h"
#include "fault.h"
#include "sw_sync-priv.h"
#include "tlpage.h"

enum { SALT_ERROR = 1, SALT_DELAY, SALT_HANG };

struct held_inc {
	uint32_t inc;
	uint64_t due_ns;
};

struct fault_tl {
	struct fault_tl *next;
	uint64_t context;
	uint64_t key;			/* the name's hash: what choices depend on */
	struct sync_timeline *tl;	/* a reference */
	struct diag *diag;		/* its maker's settings (a reference), or NULL */
	uint32_t target;		/* the value once everything held is applied */
	bool stalled, by_hand;
	uint64_t stall_end_ns;		/* a hang's end; 0 when stalled by hand */
	int stall_error;		/* negative */
	struct held_inc *held;
	size_t nheld, cap;
};

static struct fault_tl *timelines;
static struct diag *(*diag_of_owner)(void *owner);

void fault_init(struct diag *(*diag_of)(void *owner))
{
	diag_of_owner = diag_of;
}

static struct fault_tl *find(uint64_t context)
{
	for (struct fault_tl *ft = timelines; ft; ft = ft->next)
		if (ft->context == context)
			return ft;
	return NULL;
}

/* FNV-1a of a timeline's name (the opener's command, as the kernel's). */
static uint64_t name_key(const char *name)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (; *name; name++)
		h = (h ^ (unsigned char)*name) * 0x100000001b3ull;
	return h;
}

/* A record for @tl (the caller's reference is taken over). */
static struct fault_tl *track(struct sync_timeline *tl, struct diag *d)
{
	struct fault_tl *ft = find(sync_timeline_context(tl));

	if (ft) {
		sync_timeline_put(tl);
		return ft;
	}
	ft = calloc(1, sizeof(*ft));
	if (!ft) {
		sync_timeline_put(tl);
		return NULL;
	}
	/* Its INCs are requests from now on (what clients added in the
	 * timeline page is applied first, unfaulted). */
	broker_tlpage_slow(tl);
	ft->context = sync_timeline_context(tl);
	ft->key = name_key(sync_timeline_name(tl));
	ft->tl = tl;
	ft->diag = diag_get(d);
	ft->target = sync_timeline_value(tl);
	ft->next = timelines;
	timelines = ft;
	return ft;
}

static void untrack(struct fault_tl *ft)
{
	struct fault_tl **p;

	for (p = &timelines; *p; p = &(*p)->next) {
		if (*p == ft) {
			*p = ft->next;
			break;
		}
	}
	sync_timeline_put(ft->tl);
	diag_put(ft->diag);
	free(ft->held);
	free(ft);
}

static const char *errname(int e, char *buf, size_t len)
{
	const char *n = fault_errno_name(e < 0 ? -e : e);

	if (n)
		return n;
	snprintf(buf, len, "%d", e < 0 ? -e : e);
	return buf;
}

/* ---- applying an INC ------------------------------------------------------------------ */

#define LOGGED_MAX 32

struct apply_ctx {
	const struct fault_tl *ft;
	int forced;		/* every point signals with this (negative), or 0 */
	unsigned int errors;	/* points given an error */
	struct {
		uint64_t seqno;
		int error;
	} logged[LOGGED_MAX];
};

/* Timeline lock held: no logging here (it writes to a pipe), only notes. */
static int error_of(struct dma_fence *pt, void *arg)
{
	struct apply_ctx *ctx = arg;
	const struct diag *d = ctx->ft->diag;
	int e = ctx->forced;

	if (!e && d && d->faulty && d->fault.error_share > 0 &&
	    fault_chance(d->fault.seed, ctx->ft->key, pt->seqno, SALT_ERROR) <
		    d->fault.error_share)
		e = -d->fault.error_errno;
	if (e && ctx->errors < LOGGED_MAX) {
		ctx->logged[ctx->errors].seqno = pt->seqno;
		ctx->logged[ctx->errors].error = e;
	}
	if (e)
		ctx->errors++;
	return e;
}

static int apply(struct fault_tl *ft, uint32_t inc, int forced)
{
	struct apply_ctx ctx = { .ft = ft, .forced = forced };
	struct core_sync_fault fault = { .error_of = error_of, .arg = &ctx };
	const struct diag *d = ft->diag;
	char eb[16];
	int n;

	n = core_sync_timeline_signal_faulty(ft->tl, inc, &fault);
	for (unsigned int i = 0; i < ctx.errors && i < LOGGED_MAX; i++)
		diag_log(d, "fault: timeline '%s' context %llu: seqno %llu signaled with -%s",
			 sync_timeline_name(ft->tl), (unsigned long long)ft->context,
			 (unsigned long long)ctx.logged[i].seqno,
			 errname(ctx.logged[i].error, eb, sizeof(eb)));
	if (ctx.errors > LOGGED_MAX)
		diag_log(d, "fault: timeline '%s' context %llu: %u more points signaled with an error",
			 sync_timeline_name(ft->tl), (unsigned long long)ft->context,
			 ctx.errors - LOGGED_MAX);
	return n;
}

static int hold(struct fault_tl *ft, uint32_t inc, uint64_t due)
{
	if (ft->nheld == ft->cap) {
		size_t cap = ft->cap ? ft->cap * 2 : 8;
		struct held_inc *h = realloc(ft->held, cap * sizeof(*h));

		if (!h)
			return -ENOMEM;
		ft->held = h;
		ft->cap = cap;
	}
	/* Never before one held ahead of it. */
	if (ft->nheld && due < ft->held[ft->nheld - 1].due_ns)
		due = ft->held[ft->nheld - 1].due_ns;
	ft->held[ft->nheld].inc = inc;
	ft->held[ft->nheld].due_ns = due;
	ft->nheld++;
	return 0;
}

/* Apply everything held, each point with @forced (0: the usual choice). */
static int flush(struct fault_tl *ft, int forced)
{
	int n = 0;

	for (size_t i = 0; i < ft->nheld; i++)
		n += apply(ft, ft->held[i].inc, forced);
	ft->nheld = 0;
	return n;
}

bool fault_inc(int fd, uint32_t inc)
{
	struct sync_timeline *tl;
	struct fault_tl *ft;
	struct diag *d;
	uint64_t now, due;
	void *owner;
	char eb[16];

	/* The usual case, at the cost of two loads. */
	if (!timelines && !diag_faulty())
		return false;
	tl = engine_timeline_get(fd, &owner);
	if (!tl)
		return false;
	d = owner && diag_of_owner ? diag_of_owner(owner) : NULL;
	ft = find(sync_timeline_context(tl));
	if (!ft && (!d || !d->faulty)) {
		sync_timeline_put(tl);
		return false;
	}
	ft = track(tl, d);
	if (!ft)
		return false;	/* no memory: applied as usual, unfaulted */
	d = ft->diag;
	now = diag_now_ns();
	ft->target += inc;
	due = now;
	if (d && d->faulty) {
		const struct fault_spec *f = &d->fault;

		if (!ft->stalled && f->hang_share > 0 &&
		    fault_chance(f->seed, ft->key, ft->target, SALT_HANG) < f->hang_share) {
			ft->stalled = true;
			ft->by_hand = false;
			ft->stall_end_ns = now + (uint64_t)f->hang_ms * 1000000ull;
			ft->stall_error = -f->hang_errno;
			diag_log(d, "fault: timeline '%s' context %llu hangs at value %u for %u ms, then its held points signal with -%s",
				 sync_timeline_name(ft->tl), (unsigned long long)ft->context,
				 sync_timeline_value(ft->tl), f->hang_ms,
				 errname(f->hang_errno, eb, sizeof(eb)));
		}
		if (f->delay_max_ms) {
			double c = fault_chance(f->seed, ft->key, ft->target, SALT_DELAY);
			uint64_t ms = f->delay_min_ms +
				      (uint64_t)(c * (double)(f->delay_max_ms - f->delay_min_ms + 1));

			if (ms > f->delay_max_ms)
				ms = f->delay_max_ms;
			due = now + ms * 1000000ull;
			if (ms)
				diag_log(d, "fault: timeline '%s' context %llu: INC by %u (to %u) delayed %llu ms",
					 sync_timeline_name(ft->tl), (unsigned long long)ft->context,
					 inc, ft->target, (unsigned long long)ms);
		}
	}
	if (ft->stalled || ft->nheld || due > now) {
		if (!hold(ft, inc, due))
			return true;
		/* No memory to hold it: apply what is held, then it, now. */
		flush(ft, 0);
	}
	apply(ft, inc, 0);
	if (!ft->stalled && !ft->nheld)
		untrack(ft);
	return true;
}

/* ---- by hand ---------------------------------------------------------------------------- */

struct by_context {
	uint64_t context;
	struct sync_timeline *tl;
	void *owner;
};

static void match_context(struct sync_timeline *tl, void *owner, void *arg)
{
	struct by_context *b = arg;

	if (!b->tl && sync_timeline_context(tl) == b->context) {
		b->tl = sync_timeline_get(tl);
		b->owner = owner;
	}
}

int fault_stall(uint64_t context)
{
	struct fault_tl *ft = find(context);

	if (!ft) {
		struct by_context b = { .context = context };

		engine_for_each_timeline(match_context, &b);
		if (!b.tl)
			return -ENOENT;
		ft = track(b.tl, NULL);
		if (!ft)
			return -ENOMEM;
	}
	if (ft->stalled && ft->by_hand)
		return -EALREADY;
	ft->stalled = true;
	ft->by_hand = true;
	ft->stall_end_ns = 0;
	ft->stall_error = 0;
	diag_log(ft->diag, "fault: timeline '%s' context %llu stalled by hand at value %u",
		 sync_timeline_name(ft->tl), (unsigned long long)context,
		 sync_timeline_value(ft->tl));
	return 0;
}

static int release(struct fault_tl *ft, int error)
{
	char eb[16];
	int n;

	ft->stalled = false;
	n = flush(ft, error);
	if (error)
		diag_log(ft->diag, "fault: timeline '%s' context %llu released at value %u: %d points signaled with -%s",
			 sync_timeline_name(ft->tl), (unsigned long long)ft->context,
			 sync_timeline_value(ft->tl), n, errname(error, eb, sizeof(eb)));
	else
		diag_log(ft->diag, "fault: timeline '%s' context %llu released at value %u: %d points signaled",
			 sync_timeline_name(ft->tl), (unsigned long long)ft->context,
			 sync_timeline_value(ft->tl), n);
	untrack(ft);
	return n;
}

int fault_release(uint64_t context, int error)
{
	struct fault_tl *ft = find(context);

	if (!ft || !ft->stalled)
		return -ENOENT;
	return release(ft, error > 0 ? -error : error);
}

/* ---- time ------------------------------------------------------------------------------- */

int fault_tick(void)
{
	uint64_t now = diag_now_ns(), next = UINT64_MAX;
	struct fault_tl *ft, *nx;

	for (ft = timelines; ft; ft = nx) {
		nx = ft->next;
		if (ft->stalled && !ft->by_hand && now >= ft->stall_end_ns) {
			release(ft, ft->stall_error);
			continue;
		}
		if (!ft->stalled) {
			size_t i = 0;

			while (i < ft->nheld && ft->held[i].due_ns <= now)
				apply(ft, ft->held[i++].inc, 0);
			memmove(ft->held, ft->held + i, (ft->nheld - i) * sizeof(*ft->held));
			ft->nheld -= i;
			if (!ft->nheld) {
				untrack(ft);
				continue;
			}
			if (ft->held[0].due_ns < next)
				next = ft->held[0].due_ns;
		} else if (!ft->by_hand && ft->stall_end_ns < next) {
			next = ft->stall_end_ns;
		}
	}
	if (next == UINT64_MAX)
		return -1;
	return (int)((next - now + 999999) / 1000000);
}

void fault_fini(void)
{
	while (timelines)
		untrack(timelines);
}
