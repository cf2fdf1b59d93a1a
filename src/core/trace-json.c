/* SPDX-License-Identifier: MIT */
/*
 * The trace writer: a session's records (trace.c) as Chrome trace-event
 * JSON (trace-json.h).
 *
 * The records are sorted by time (ties keep each thread's own order),
 * then written as JSON: thread spans and waits as B/E pairs (repaired so
 * that they always balance), async spans as b/e pairs, and fence
 * lifetimes as complete (X) events on tracks of their own, one group per
 * fence context, with overlapping lifetimes spread over sub-tracks so no
 * two overlap.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "trace-json.h"

/* Fence tracks get thread ids from here up, clear of real ones. */
#define FENCE_TID_BASE 0x40000000ll

/* ---- JSON output ---------------------------------------------------------- */

static int item_cmp_time(const void *a, const void *b)
{
	const struct core_trace_item *x = a, *y = b;

	if (x->rec->ts != y->rec->ts)
		return x->rec->ts < y->rec->ts ? -1 : 1;
	return x->order < y->order ? -1 : x->order > y->order;
}

static int item_cmp_key(const void *a, const void *b)
{
	const struct core_trace_item *x = a, *y = b;

	if (x->rec->key != y->rec->key)
		return x->rec->key < y->rec->key ? -1 : 1;
	return item_cmp_time(a, b);
}

/* One output file being written. */
struct writer {
	FILE *f;
	pid_t pid;
	ktime_t t0, t_end;
	bool first;
	unsigned long repaired;
	const struct core_trace_thread *threads;	/* newest first */
	unsigned int nthreads;
};

/* Write @s as JSON string contents: escapes, and '?' for invalid UTF-8. */
static void json_str(FILE *f, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	while (*p) {
		unsigned char c = *p;
		int len = 0;

		if (c == '"' || c == '\\') {
			fputc('\\', f);
			fputc(c, f);
			p++;
			continue;
		}
		if (c < 0x20) {
			fprintf(f, "\\u%04x", c);
			p++;
			continue;
		}
		if (c < 0x80) {
			fputc(c, f);
			p++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf)
			len = 2;
		else if (c >= 0xe0 && c <= 0xef)
			len = 3;
		else if (c >= 0xf0 && c <= 0xf4)
			len = 4;
		for (int i = 1; i < len; i++) {
			if ((p[i] & 0xc0) != 0x80) {
				len = 0;
				break;
			}
		}
		if (!len) {
			fputc('?', f);
			p++;
			continue;
		}
		fwrite(p, 1, (size_t)len, f);
		p += len;
	}
}

static void ts_us(FILE *f, ktime_t ts, ktime_t t0)
{
	long long d = ts > t0 ? (long long)(ts - t0) : 0;

	fprintf(f, "%lld.%03lld", d / 1000, d % 1000);
}

/* Start an event object: {"ph":..,"pid":..,"tid":..,"ts":.. */
static void ev_open(struct writer *w, const char *ph, long long tid, ktime_t ts)
{
	fprintf(w->f, "%s\n{\"ph\":\"%s\",\"pid\":%d,\"tid\":%lld,\"ts\":", w->first ? "" : ",",
		ph, (int)w->pid, tid);
	ts_us(w->f, ts, w->t0);
	w->first = false;
}

static void ev_name(struct writer *w, const char *name)
{
	fputs(",\"name\":\"", w->f);
	json_str(w->f, name);
	fputc('"', w->f);
}

static void meta(struct writer *w, const char *what, long long tid, const char *sval, long ival)
{
	fprintf(w->f, "%s\n{\"ph\":\"M\",\"pid\":%d,\"tid\":%lld,\"name\":\"%s\",\"args\":{",
		w->first ? "" : ",", (int)w->pid, tid, what);
	if (sval) {
		fputs("\"name\":\"", w->f);
		json_str(w->f, sval);
		fputs("\"}}", w->f);
	} else {
		fprintf(w->f, "\"sort_index\":%ld}}", ival);
	}
	w->first = false;
}

/* Fence contexts seen with a name (from INIT records), sorted by context. */
struct ctx_name {
	u64 context;
	const char *driver, *timeline;
};

static int ctx_name_cmp(const void *a, const void *b)
{
	const struct ctx_name *x = a, *y = b;

	return x->context < y->context ? -1 : x->context > y->context;
}

static const struct ctx_name *ctx_lookup(const struct ctx_name *tab, size_t n, u64 ctx)
{
	struct ctx_name key = { .context = ctx };

	return n ? bsearch(&key, tab, n, sizeof(*tab), ctx_name_cmp) : NULL;
}

static const char *rec_timeline(const struct core_trace_rec *r)
{
	return r->name + strlen(r->name) + 1;
}

/* ---- thread tracks ---- */

struct open_span {
	const struct core_trace_rec *rec;	/* the BEGIN or WAIT_START */
};

struct thread_state {
	struct open_span *stack;
	size_t depth, cap;
};

static void fence_args(struct writer *w, const struct core_trace_rec *r, const struct ctx_name *cn)
{
	fprintf(w->f, ",\"args\":{\"context\":%llu,\"seqno\":%llu",
		(unsigned long long)r->context, (unsigned long long)r->seqno);
	if (cn) {
		fputs(",\"driver\":\"", w->f);
		json_str(w->f, cn->driver);
		fputs("\",\"timeline\":\"", w->f);
		json_str(w->f, cn->timeline);
		fputc('"', w->f);
	}
	fputc('}', w->f);
}

static void wait_name(char *buf, size_t len, const struct core_trace_rec *r)
{
	snprintf(buf, len, "dma_fence_wait %llu:%llu", (unsigned long long)r->context,
		 (unsigned long long)r->seqno);
}

static int push(struct thread_state *ts, const struct core_trace_rec *r)
{
	if (ts->depth == ts->cap) {
		size_t cap = ts->cap ? ts->cap * 2 : 16;
		struct open_span *s = realloc(ts->stack, cap * sizeof(*s));

		if (!s)
			return -ENOMEM;
		ts->stack = s;
		ts->cap = cap;
	}
	ts->stack[ts->depth++].rec = r;
	return 0;
}

static void close_span(struct writer *w, long long tid, const struct core_trace_rec *open,
		       ktime_t ts)
{
	char buf[64];

	ev_open(w, "E", tid, ts);
	if (open->type == CORE_TRACE_FENCE_WAIT_START) {
		wait_name(buf, sizeof(buf), open);
		ev_name(w, buf);
	} else {
		ev_name(w, open->name);
	}
	fputc('}', w->f);
}

/* Async spans currently open: a small array searched linearly from the top. */
struct async_open {
	u64 id;
	const struct core_trace_rec *rec;
};

static int write_thread_events(struct writer *w, struct core_trace_item *items, size_t n,
			       const struct ctx_name *ctab, size_t nctx)
{
	struct thread_state *st = calloc(w->nthreads ? w->nthreads : 1, sizeof(*st));
	struct async_open *as = NULL;
	size_t nas = 0, cas = 0;
	int ret = 0;

	if (!st)
		return -ENOMEM;
	for (size_t i = 0; i < n && !ret; i++) {
		const struct core_trace_rec *r = items[i].rec;
		struct thread_state *ts = &st[items[i].thr->idx];
		long long tid = items[i].thr->tid;
		char buf[64];

		switch (r->type) {
		case CORE_TRACE_SPAN_BEGIN:
			if ((ret = push(ts, r)))
				break;
			ev_open(w, "B", tid, r->ts);
			ev_name(w, r->name);
			fputc('}', w->f);
			break;
		case CORE_TRACE_FENCE_WAIT_START:
			if ((ret = push(ts, r)))
				break;
			ev_open(w, "B", tid, r->ts);
			wait_name(buf, sizeof(buf), r);
			ev_name(w, buf);
			fence_args(w, r, ctx_lookup(ctab, nctx, r->context));
			fputc('}', w->f);
			break;
		case CORE_TRACE_SPAN_END:
		case CORE_TRACE_FENCE_WAIT_END: {
			const struct core_trace_rec *top = ts->depth ? ts->stack[ts->depth - 1].rec : NULL;
			bool match = top && (r->type == CORE_TRACE_SPAN_END ? top->type == CORE_TRACE_SPAN_BEGIN
						: top->type == CORE_TRACE_FENCE_WAIT_START &&
						  top->key == r->key);

			if (!match) {
				w->repaired++;
				break;
			}
			ts->depth--;
			close_span(w, tid, top, r->ts);
			break;
		}
		case CORE_TRACE_INSTANT:
			ev_open(w, "i", tid, r->ts);
			ev_name(w, r->name);
			fputs(",\"s\":\"t\"}", w->f);
			break;
		case CORE_TRACE_COUNTER:
			ev_open(w, "C", tid, r->ts);
			ev_name(w, r->name);
			fprintf(w->f, ",\"args\":{\"value\":%lld}}", (long long)(s64)r->context);
			break;
		case CORE_TRACE_ASYNC_BEGIN: {
			bool dup = false;

			for (size_t k = 0; k < nas; k++)
				dup |= as[k].id == r->key;
			if (dup) {
				w->repaired++;
				break;
			}
			if (nas == cas) {
				size_t c = cas ? cas * 2 : 16;
				struct async_open *p = realloc(as, c * sizeof(*p));

				if (!p) {
					ret = -ENOMEM;
					break;
				}
				as = p;
				cas = c;
			}
			as[nas].id = r->key;
			as[nas++].rec = r;
			ev_open(w, "b", tid, r->ts);
			ev_name(w, r->name);
			fprintf(w->f, ",\"cat\":\"dmasync\",\"id\":\"0x%llx\"}",
				(unsigned long long)r->key);
			break;
		}
		case CORE_TRACE_ASYNC_END: {
			size_t k = nas;

			while (k-- > 0)
				if (as[k].id == r->key)
					break;
			if (k == (size_t)-1) {
				w->repaired++;
				break;
			}
			ev_open(w, "e", tid, r->ts);
			ev_name(w, as[k].rec->name);
			fprintf(w->f, ",\"cat\":\"dmasync\",\"id\":\"0x%llx\"}",
				(unsigned long long)r->key);
			as[k] = as[--nas];
			break;
		}
		default:
			break;	/* fence lifetime events: see write_fence_tracks() */
		}
	}

	/* Close what is still open at the end of the trace. */
	for (const struct core_trace_thread *t = w->threads; t && !ret; t = t->next) {
		struct thread_state *ts = &st[t->idx];

		while (ts->depth)
			close_span(w, t->tid, ts->stack[--ts->depth].rec, w->t_end);
	}
	for (size_t k = 0; k < nas && !ret; k++) {
		ev_open(w, "e", 0, w->t_end);
		ev_name(w, as[k].rec->name);
		fprintf(w->f, ",\"cat\":\"dmasync\",\"id\":\"0x%llx\"}",
			(unsigned long long)as[k].id);
	}
	for (unsigned int i = 0; i < w->nthreads; i++)
		free(st[i].stack);
	free(st);
	free(as);
	return ret;
}

/* ---- fence tracks ---- */

enum {
	FI_INIT = 1, FI_SIGNALED = 2, FI_DESTROYED = 4, FI_EMITTED = 8, FI_ENABLED = 16,
};

struct fence_inst {
	u64 context, seqno;
	const char *driver, *timeline;
	ktime_t start, signal, end, emit, enable;
	int error;
	unsigned int flags, emits;
	long long tid;
};

static int inst_cmp(const void *a, const void *b)
{
	const struct fence_inst *x = a, *y = b;

	if (x->context != y->context)
		return x->context < y->context ? -1 : 1;
	if (x->start != y->start)
		return x->start < y->start ? -1 : 1;
	return x->seqno < y->seqno ? -1 : x->seqno > y->seqno;
}

static void fence_instant(struct writer *w, const struct fence_inst *fi, const char *what,
			  ktime_t ts)
{
	ev_open(w, "i", fi->tid, ts);
	ev_name(w, what);
	fputs(",\"s\":\"t\"}", w->f);
}

static int write_fence_tracks(struct writer *w, struct core_trace_item *items, size_t n,
			      const struct ctx_name *ctab, size_t nctx)
{
	struct fence_inst *fi = NULL;
	size_t nfi = 0, cfi = 0, i = 0;
	ktime_t *rows = NULL;
	size_t crows = 0;
	long long next_tid = FENCE_TID_BASE;
	int ret = 0;

	/* items are sorted by fence address, then time: cut into lifetimes. */
	while (i < n) {
		u64 key = items[i].rec->key;
		struct fence_inst *cur = NULL;
		size_t last = (size_t)-1;	/* this address's destroyed lifetime */

		for (; i < n && items[i].rec->key == key; i++) {
			const struct core_trace_rec *r = items[i].rec;

			if (!cur && last != (size_t)-1 && r->type != CORE_TRACE_FENCE_INIT) {
				/*
				 * After destroy: dma_fence_release() signals a
				 * fence released with callbacks still queued.
				 */
				if (r->type == CORE_TRACE_FENCE_SIGNALED &&
				    !(fi[last].flags & FI_SIGNALED)) {
					fi[last].signal = fi[last].end;
					fi[last].error = r->error;
					fi[last].flags |= FI_SIGNALED;
				}
				continue;
			}
			if (r->type == CORE_TRACE_FENCE_INIT || !cur) {
				const struct ctx_name *cn;

				if (nfi == cfi) {
					size_t c = cfi ? cfi * 2 : 256;
					struct fence_inst *p = realloc(fi, c * sizeof(*p));

					if (!p) {
						free(fi);
						return -ENOMEM;
					}
					fi = p;
					cfi = c;
				}
				cur = &fi[nfi++];
				memset(cur, 0, sizeof(*cur));
				cur->context = r->context;
				cur->seqno = r->seqno;
				cur->start = r->ts;
				cur->end = w->t_end;
				if (r->type == CORE_TRACE_FENCE_INIT) {
					cur->flags |= FI_INIT;
					cur->driver = r->name;
					cur->timeline = rec_timeline(r);
				} else if ((cn = ctx_lookup(ctab, nctx, r->context))) {
					cur->driver = cn->driver;
					cur->timeline = cn->timeline;
				}
			}
			switch (r->type) {
			case CORE_TRACE_FENCE_EMIT:
				if (!cur->emits++)
					cur->emit = r->ts;
				cur->flags |= FI_EMITTED;
				break;
			case CORE_TRACE_FENCE_ENABLE_SIGNAL:
				cur->enable = r->ts;
				cur->flags |= FI_ENABLED;
				break;
			case CORE_TRACE_FENCE_SIGNALED:
				cur->signal = r->ts;
				cur->error = r->error;
				cur->flags |= FI_SIGNALED;
				break;
			case CORE_TRACE_FENCE_DESTROY:
				cur->end = r->ts;
				cur->flags |= FI_DESTROYED;
				last = (size_t)(cur - fi);
				cur = NULL;	/* the address may be reused */
				break;
			default:
				break;
			}
		}
	}

	if (nfi)
		qsort(fi, nfi, sizeof(*fi), inst_cmp);

	/* Per context, greedy first-fit over sub-tracks: no overlaps on one. */
	for (i = 0; i < nfi && !ret;) {
		u64 ctx = fi[i].context;
		size_t nrows = 0, j;
		long long base = next_tid;
		const char *tl = NULL;

		for (j = i; j < nfi && fi[j].context == ctx; j++) {
			size_t r;

			if (!tl && fi[j].timeline)
				tl = fi[j].timeline;
			for (r = 0; r < nrows; r++)
				if (rows[r] <= fi[j].start)
					break;
			if (r == nrows) {
				if (nrows == crows) {
					size_t c = crows ? crows * 2 : 16;
					ktime_t *p = realloc(rows, c * sizeof(*p));

					if (!p) {
						ret = -ENOMEM;
						break;
					}
					rows = p;
					crows = c;
				}
				nrows++;
			}
			rows[r] = fi[j].end;
			fi[j].tid = base + (long long)r;
		}
		for (size_t r = 0; r < nrows && !ret; r++) {
			char name[160];

			if (r)
				snprintf(name, sizeof(name), "fence ctx %llu: %s #%zu",
					 (unsigned long long)ctx, tl ? tl : "?", r + 1);
			else
				snprintf(name, sizeof(name), "fence ctx %llu: %s",
					 (unsigned long long)ctx, tl ? tl : "?");
			meta(w, "thread_name", base + (long long)r, name, 0);
			meta(w, "thread_sort_index", base + (long long)r, NULL,
			     (long)(next_tid - FENCE_TID_BASE + (long long)r) + 100000);
		}
		next_tid += (long long)nrows;
		for (; i < j && !ret; i++) {
			struct fence_inst *f = &fi[i];
			char name[64];
			ktime_t pend_end = (f->flags & FI_SIGNALED) ? f->signal : f->end;

			snprintf(name, sizeof(name), "%llu:%llu", (unsigned long long)f->context,
				 (unsigned long long)f->seqno);
			ev_open(w, "X", f->tid, f->start);
			fputs(",\"dur\":", w->f);
			ts_us(w->f, f->end, f->start);
			ev_name(w, name);
			fprintf(w->f, ",\"args\":{\"context\":%llu,\"seqno\":%llu,\"driver\":\"",
				(unsigned long long)f->context, (unsigned long long)f->seqno);
			json_str(w->f, f->driver ? f->driver : "?");
			fputs("\",\"timeline\":\"", w->f);
			json_str(w->f, f->timeline ? f->timeline : "?");
			fputs("\",\"status\":\"", w->f);
			if (!(f->flags & FI_SIGNALED))
				fputs("never signaled in trace", w->f);
			else if (f->error)
				fprintf(w->f, "signaled with error %d", f->error);
			else
				fputs("signaled", w->f);
			fprintf(w->f, "\",\"init\":\"%s\",\"end\":\"%s\"}}",
				(f->flags & FI_INIT) ? "traced" : "before trace start",
				(f->flags & FI_DESTROYED) ? "destroyed" : "alive at end of trace");

			ev_open(w, "X", f->tid, f->start);
			fputs(",\"dur\":", w->f);
			ts_us(w->f, pend_end, f->start);
			ev_name(w, "pending");
			fputc('}', w->f);
			if (f->flags & FI_EMITTED)
				fence_instant(w, f, "emit", f->emit);
			if (f->flags & FI_ENABLED)
				fence_instant(w, f, "enable_signal", f->enable);
			if (f->flags & FI_SIGNALED)
				fence_instant(w, f, "signaled", f->signal);
		}
	}
	free(rows);
	free(fi);
	return ret;
}

int core_trace_json_write(const struct core_trace_session *s, struct core_trace_item *items,
			  size_t n)
{
	struct writer w = {
		.pid = getpid(),
		.t0 = s->t0,
		.first = true,
		.threads = s->threads,
		.nthreads = s->nthreads,
	};
	struct ctx_name *ctab = NULL;
	size_t nctx = 0, ninit = 0;
	unsigned long dropped = 0;
	int ret = 0;

	if (n)
		qsort(items, n, sizeof(*items), item_cmp_time);
	w.t_end = ktime_get();
	if (n && items[n - 1].rec->ts > w.t_end)
		w.t_end = items[n - 1].rec->ts;
	for (const struct core_trace_thread *t = s->threads; t; t = t->next)
		dropped += __atomic_load_n(&t->dropped, __ATOMIC_RELAXED);

	/* Context -> names, from the INIT records. */
	for (size_t i = 0; i < n; i++)
		ninit += items[i].rec->type == CORE_TRACE_FENCE_INIT;
	if (ninit && !(ctab = malloc(ninit * sizeof(*ctab))))
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		const struct core_trace_rec *r = items[i].rec;

		if (r->type != CORE_TRACE_FENCE_INIT)
			continue;
		ctab[nctx].context = r->context;
		ctab[nctx].driver = r->name;
		ctab[nctx++].timeline = rec_timeline(r);
	}
	if (nctx) {
		size_t k = 0;

		qsort(ctab, nctx, sizeof(*ctab), ctx_name_cmp);
		for (size_t i = 0; i < nctx; i++)
			if (!k || ctab[k - 1].context != ctab[i].context)
				ctab[k++] = ctab[i];
		nctx = k;
	}

	w.f = fopen(s->path, "we");
	if (!w.f) {
		free(ctab);
		return -errno;
	}
	setvbuf(w.f, NULL, _IOFBF, 1 << 20);
	fprintf(w.f, "{\"displayTimeUnit\":\"ns\",\"traceEvents\":[");

	{
		char pname[96];

		snprintf(pname, sizeof(pname), "%s (dmasync)", program_invocation_short_name);
		meta(&w, "process_name", 0, pname, 0);
	}
	for (const struct core_trace_thread *t = s->threads; t; t = t->next) {
		meta(&w, "thread_name", t->tid, t->name, 0);
		meta(&w, "thread_sort_index", t->tid, NULL, (long)t->idx);
	}

	ret = write_thread_events(&w, items, n, ctab, nctx);
	if (!ret) {
		/* Fence records, regrouped by fence address (then time). */
		size_t nf = 0;

		for (size_t i = 0; i < n; i++) {
			u32 ty = items[i].rec->type;

			if (ty != CORE_TRACE_FENCE_WAIT_START && ty != CORE_TRACE_FENCE_WAIT_END &&
			    ty <= CORE_TRACE_FENCE_DESTROY)
				items[nf++] = items[i];
		}
		if (nf)
			qsort(items, nf, sizeof(*items), item_cmp_key);
		ret = write_fence_tracks(&w, items, nf, ctab, nctx);
	}

	fprintf(w.f, "\n],\"otherData\":{\"producer\":\"dmasync\",\"clock\":\"CLOCK_MONOTONIC\","
		"\"t0_ns\":%lld,\"dropped_records\":%lu,\"repaired_records\":%lu}}\n",
		(long long)w.t0, dropped, w.repaired);
	if (ferror(w.f) && !ret)
		ret = -EIO;
	if (fclose(w.f) && !ret)
		ret = -errno;
	free(ctab);
	if (dropped && !ret)
		fprintf(stderr, "dmasync: trace %s: %lu records dropped (buffer limit %lu MiB)\n",
			s->path, dropped, (unsigned long)(s->max_bytes >> 20));
	return ret;
}
