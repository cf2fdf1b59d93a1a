// SPDX-License-Identifier: MIT
/*
 * The never-signal watchdog (watchdog.h).
 *
 * A look every WATCHDOG_PERIOD_MS walks the timelines (not the fences: a
 * pending fence of dmasync's is always, at its leaves, a pending sw_sync
 * point) and their pending points, whose creation time the core keeps.  A
 * point older than its limit is reported once: the report remembers
 * (context, seqno, created), which no other point can share, and forgets
 * it when a look no longer finds it pending.
 */
#include <stdlib.h>
#include <string.h>

#include <dmasync/dma-fence.h>
#include <dmasync/sw_sync.h>
#include "diag.h"
#include "engine.h"
#include "sw_sync-priv.h"
#include "watchdog.h"

#define WATCHDOG_PERIOD_MS 250

struct reported {
	uint64_t context, seqno, created, at;
	uint32_t limit_ms;
	unsigned int seen;	/* the look that last found it pending */
};

static struct watchdog_owner_ops owner_ops;
static struct diag *fallback;
static struct reported *reported;
static size_t nreported, capreported;
static unsigned int look;
static uint64_t next_look;

void watchdog_init(const struct watchdog_owner_ops *ops, struct diag *fb)
{
	owner_ops = *ops;
	fallback = diag_get(fb);
}

static struct reported *find(uint64_t context, uint64_t seqno, uint64_t created)
{
	for (size_t i = 0; i < nreported; i++)
		if (reported[i].context == context && reported[i].seqno == seqno &&
		    reported[i].created == created)
			return &reported[i];
	return NULL;
}

/* ---- one timeline ------------------------------------------------------------------------ */

struct overdue {
	uint64_t seqno, created;
};

struct tl_look {
	uint64_t now, limit_ns;
	struct overdue *v;
	size_t n, cap;
};

/* Timeline lock held: note only. */
static void note_point(struct dma_fence *pt, void *arg)
{
	struct tl_look *l = arg;
	uint64_t created = (uint64_t)core_sync_pt_created(pt);
	struct reported *r = find(pt->context, pt->seqno, created);

	if (r) {
		r->seen = look;
		return;
	}
	if (l->now - created < l->limit_ns)
		return;
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 8;
		struct overdue *v = realloc(l->v, cap * sizeof(*v));

		if (!v)
			return;	/* reported at the next look */
		l->v = v;
		l->cap = cap;
	}
	l->v[l->n].seqno = pt->seqno;
	l->v[l->n].created = created;
	l->n++;
}

struct waiters {
	uint64_t context, seqno;
	char *buf;
	size_t len, used;
	unsigned int n;
};

/* Object locks held: format only. */
static void note_waiter(const struct engine_holder *h, const char *usage, struct dma_fence *f,
			void *arg)
{
	struct waiters *w = arg;
	char who[64] = "no process";
	int n;

	if (f->context != w->context || f->seqno != w->seqno || w->used >= w->len)
		return;
	if (h->owner)
		owner_ops.describe(h->owner, who, sizeof(who));
	if (strcmp(usage, "-"))
		n = snprintf(w->buf + w->used, w->len - w->used, "%s%s %lu (%s, %s)",
			     w->n ? ", " : "", h->kind, h->ino, usage, who);
	else
		n = snprintf(w->buf + w->used, w->len - w->used, "%s%s %lu (%s)",
			     w->n ? ", " : "", h->kind, h->ino, who);
	if (n > 0)
		w->used += (size_t)n < w->len - w->used ? (size_t)n : w->len - w->used - 1;
	w->n++;
}

static void report(struct sync_timeline *tl, void *owner, struct diag *d, const struct overdue *o,
		   uint64_t now)
{
	char maker[64] = "no process", buf[512] = "";
	struct waiters w = { .context = sync_timeline_context(tl), .seqno = o->seqno,
			     .buf = buf, .len = sizeof(buf) };
	struct reported *r;

	if (nreported == capreported) {
		size_t cap = capreported ? capreported * 2 : 16;
		struct reported *v = realloc(reported, cap * sizeof(*v));

		if (!v)
			return;	/* reported at the next look */
		reported = v;
		capreported = cap;
	}
	r = &reported[nreported++];
	r->context = w.context;
	r->seqno = o->seqno;
	r->created = o->created;
	r->at = now;
	r->limit_ms = d->watchdog_ms;
	r->seen = look;

	if (owner)
		owner_ops.describe(owner, maker, sizeof(maker));
	engine_for_each_fence(note_waiter, &w);
	diag_log(d, "watchdog: fence sw_sync '%s' context %llu seqno %llu pending for %.1f s (limit %.1f s; timeline at %u, made by %s); waited on by %s",
		 sync_timeline_name(tl), (unsigned long long)w.context,
		 (unsigned long long)o->seqno, (double)(now - o->created) / 1e9,
		 d->watchdog_ms / 1000.0, sync_timeline_value(tl), maker,
		 w.n ? buf : "nothing (no sync file or buffer holds it)");
}

static void look_at(struct sync_timeline *tl, void *owner, void *arg)
{
	struct diag *d = owner ? owner_ops.diag_of(owner) : NULL;
	struct tl_look l = { .now = *(uint64_t *)arg };

	if (!d || !d->watchdog_ms)
		d = fallback;
	if (!d || !d->watchdog_ms)
		return;
	l.limit_ns = (uint64_t)d->watchdog_ms * 1000000ull;
	core_sync_timeline_for_each_pending(tl, note_point, &l);
	for (size_t i = 0; i < l.n; i++)
		report(tl, owner, d, &l.v[i], l.now);
	free(l.v);
}

int watchdog_tick(void)
{
	uint64_t now = diag_now_ns();
	size_t kept = 0;

	if (!fallback && !diag_watchdogs())
		return -1;
	if (now < next_look)
		return (int)((next_look - now + 999999) / 1000000);
	look++;
	engine_for_each_timeline(look_at, &now);
	/* Forget the points no longer pending. */
	for (size_t i = 0; i < nreported; i++)
		if (reported[i].seen == look)
			reported[kept++] = reported[i];
	nreported = kept;
	next_look = now + WATCHDOG_PERIOD_MS * 1000000ull;
	return WATCHDOG_PERIOD_MS;
}

void watchdog_list(FILE *out)
{
	for (size_t i = 0; i < nreported; i++)
		fprintf(out, "stuck\t%llu\t%llu\t%u\t%llu\n", (unsigned long long)reported[i].context,
			(unsigned long long)reported[i].seqno, reported[i].limit_ms,
			(unsigned long long)reported[i].at);
}

void watchdog_fini(void)
{
	free(reported);
	reported = NULL;
	nreported = capreported = 0;
	diag_put(fallback);
	fallback = NULL;
}
