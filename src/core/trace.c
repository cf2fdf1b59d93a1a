/* SPDX-License-Identifier: MIT */
/*
 * Library-wide tracing: the dma_fence tracepoints and program spans,
 * recorded per thread and written as Chrome trace-event JSON.
 *
 * Recording: every thread owns a list of fixed-size chunks of records.
 * Only the owner appends; it publishes each record with a release store of
 * the chunk's count, and links a full chunk to the next one with a release
 * store of ->next.  A writer reads any thread's published prefix with
 * acquire loads, so recording takes no lock at all (the global mutex is
 * taken once per thread, to register its buffer, and by the writer).
 *
 * Writing: the writer gathers the records of the session, sorts them by
 * time (ties keep each thread's own order), then turns them into JSON:
 * thread spans and waits as B/E pairs (repaired so that they always
 * balance), async spans as b/e pairs, and fence lifetimes as complete
 * (X) events on tracks of their own, one group per fence context, with
 * overlapping lifetimes spread over sub-tracks so no two overlap.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <dmasync/dma-fence.h>
#include "debug.h"
#include "fork.h"
#include "trace-priv.h"

#define REC_NAME_LEN 88
#define CHUNK_RECS 511
#define MAX_TRACE_BYTES (256ul << 20)
#define THREAD_NAME_LEN 64
#define FENCE_TID_BASE 0x40000000ll

/* Record types: the fence events first, with the values of the enum. */
enum {
	REC_BEGIN = CORE_TRACE_FENCE_DESTROY + 1,
	REC_END,
	REC_INSTANT,
	REC_ASYNC_BEGIN,
	REC_ASYNC_END,
	REC_COUNTER,
};

struct trace_rec {
	ktime_t ts;
	u32 type;
	s32 error;	/* fence error at the time of the event */
	u64 context;	/* fence context; counter value */
	u64 seqno;
	u64 key;	/* fence address; async id */
	char name[REC_NAME_LEN]; /* INIT: driver NUL timeline NUL */
};

struct trace_chunk {
	struct trace_chunk *next;	/* set once by the owner (release) */
	unsigned int used;		/* published records (release) */
	struct trace_rec rec[CHUNK_RECS];
};

#define MAX_CHUNKS ((long)(MAX_TRACE_BYTES / sizeof(struct trace_chunk)))

struct trace_thread {
	struct trace_thread *next;	/* registry list; trace_lock */
	unsigned int idx;		/* registration order */
	pid_t tid;
	char name[THREAD_NAME_LEN];	/* trace_lock */
	struct trace_chunk *tail;	/* owner only */
	struct trace_chunk *first;	/* set once by the owner (release) */
	struct trace_chunk *rd_chunk;	/* consumed up to here; trace_lock */
	unsigned int rd_idx;
	unsigned long dropped;		/* atomic */
};

int core_trace_on;

static pthread_mutex_t trace_lock = PTHREAD_MUTEX_INITIALIZER;
static struct trace_thread *threads;	/* newest first */
static unsigned int nthreads;
static long chunks_live;		/* atomic */
static __thread struct trace_thread *tls_self;

/* Session state, trace_lock. */
static char *session_path;
static ktime_t session_t0;
static pid_t session_pid;
static bool atexit_done;

/* ---- recording ----------------------------------------------------------- */

static struct trace_thread *register_self(void)
{
	struct trace_thread *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	t->tid = (pid_t)syscall(SYS_gettid);
	if (pthread_getname_np(pthread_self(), t->name, sizeof(t->name)))
		snprintf(t->name, sizeof(t->name), "thread %d", (int)t->tid);
	pthread_mutex_lock(&trace_lock);
	t->idx = nthreads++;
	t->next = threads;
	threads = t;
	pthread_mutex_unlock(&trace_lock);
	tls_self = t;
	return t;
}

static inline struct trace_thread *self(void)
{
	struct trace_thread *t = tls_self;

	return likely(t) ? t : register_self();
}

/* Reserve the next record of this thread, or NULL (dropped). */
static struct trace_rec *rec_reserve(struct trace_thread *t)
{
	struct trace_chunk *c = t->tail;

	if (!c || __atomic_load_n(&c->used, __ATOMIC_RELAXED) == CHUNK_RECS) {
		struct trace_chunk *n = NULL;

		if (__atomic_fetch_add(&chunks_live, 1, __ATOMIC_RELAXED) < MAX_CHUNKS)
			n = malloc(sizeof(*n));
		if (!n) {
			__atomic_fetch_sub(&chunks_live, 1, __ATOMIC_RELAXED);
			__atomic_fetch_add(&t->dropped, 1, __ATOMIC_RELAXED);
			return NULL;
		}
		n->next = NULL;
		n->used = 0;
		if (c)
			__atomic_store_n(&c->next, n, __ATOMIC_RELEASE);
		else
			__atomic_store_n(&t->first, n, __ATOMIC_RELEASE);
		t->tail = c = n;
	}
	return &c->rec[__atomic_load_n(&c->used, __ATOMIC_RELAXED)];
}

static void rec_commit(struct trace_thread *t)
{
	struct trace_chunk *c = t->tail;

	__atomic_store_n(&c->used, __atomic_load_n(&c->used, __ATOMIC_RELAXED) + 1,
			 __ATOMIC_RELEASE);
}

static void copy_name(char *dst, size_t len, const char *src)
{
	size_t n = src ? strnlen(src, len - 1) : 0;

	memcpy(dst, src ? src : "", n);
	dst[n] = 0;
}

void core_trace_fence_event(enum core_trace_fence_event event, struct dma_fence *fence)
{
	struct trace_thread *t = self();
	struct trace_rec *r;

	if (!t || !(r = rec_reserve(t)))
		return;
	r->ts = ktime_get();
	r->type = event;
	r->error = __atomic_load_n(&fence->error, __ATOMIC_RELAXED);
	r->context = fence->context;
	r->seqno = fence->seqno;
	r->key = (u64)(uintptr_t)fence;
	r->name[0] = 0;
	if (event == CORE_TRACE_FENCE_INIT) {
		/* Both names: the driver's in 32 bytes, the timeline's after it. */
		copy_name(r->name, 32, fence->ops->get_driver_name(fence));
		copy_name(r->name + strlen(r->name) + 1, REC_NAME_LEN - 32,
			  fence->ops->get_timeline_name(fence));
	}
	rec_commit(t);
}

void dmasync_trace_fence_emit(struct dma_fence *fence)
{
	if (fence && core_tracing())
		core_trace_fence_event(CORE_TRACE_FENCE_EMIT, fence);
}

/* A record named @name (copied, may be NULL). */
static void rec_raw(u32 type, u64 key, s64 value, const char *name)
{
	struct trace_thread *t = self();
	struct trace_rec *r;

	if (!t || !(r = rec_reserve(t)))
		return;
	r->ts = ktime_get();
	r->type = type;
	r->error = 0;
	r->context = (u64)value;
	r->seqno = 0;
	r->key = key;
	copy_name(r->name, sizeof(r->name), name);
	rec_commit(t);
}

__attribute__((format(printf, 3, 0)))
static void rec_fmt(u32 type, u64 key, const char *fmt, va_list ap)
{
	char name[REC_NAME_LEN];

	/* Most names are plain strings: skip the formatting. */
	if (!fmt || !strchr(fmt, '%')) {
		rec_raw(type, key, 0, fmt);
		return;
	}
	vsnprintf(name, sizeof(name), fmt, ap);
	rec_raw(type, key, 0, name);
}

void dmasync_trace_begin(const char *fmt, ...)
{
	va_list ap;

	if (!core_tracing())
		return;
	va_start(ap, fmt);
	rec_fmt(REC_BEGIN, 0, fmt, ap);
	va_end(ap);
}

void dmasync_trace_end(void)
{
	if (core_tracing())
		rec_raw(REC_END, 0, 0, NULL);
}

void dmasync_trace_instant(const char *fmt, ...)
{
	va_list ap;

	if (!core_tracing())
		return;
	va_start(ap, fmt);
	rec_fmt(REC_INSTANT, 0, fmt, ap);
	va_end(ap);
}

void dmasync_trace_async_begin(u64 id, const char *fmt, ...)
{
	va_list ap;

	if (!core_tracing())
		return;
	va_start(ap, fmt);
	rec_fmt(REC_ASYNC_BEGIN, id, fmt, ap);
	va_end(ap);
}

void dmasync_trace_async_end(u64 id)
{
	if (core_tracing())
		rec_raw(REC_ASYNC_END, id, 0, NULL);
}

void dmasync_trace_counter(const char *name, s64 value)
{
	if (core_tracing())
		rec_raw(REC_COUNTER, 0, value, name);
}

bool dmasync_trace_enabled(void)
{
	return core_tracing();
}

int dmasync_trace_set_thread_name(const char *name)
{
	struct trace_thread *t = self();

	if (!t)
		return -ENOMEM;
	pthread_mutex_lock(&trace_lock);
	copy_name(t->name, sizeof(t->name), name);
	pthread_mutex_unlock(&trace_lock);
	return 0;
}

/* ---- JSON output ---------------------------------------------------------- */

struct item {
	const struct trace_rec *rec;
	const struct trace_thread *thr;
	u64 order;	/* thread index << 40 | position in the thread */
};

static int item_cmp_time(const void *a, const void *b)
{
	const struct item *x = a, *y = b;

	if (x->rec->ts != y->rec->ts)
		return x->rec->ts < y->rec->ts ? -1 : 1;
	return x->order < y->order ? -1 : x->order > y->order;
}

static int item_cmp_key(const void *a, const void *b)
{
	const struct item *x = a, *y = b;

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

static const char *rec_timeline(const struct trace_rec *r)
{
	return r->name + strlen(r->name) + 1;
}

/* ---- thread tracks ---- */

struct open_span {
	const struct trace_rec *rec;	/* the BEGIN or WAIT_START */
};

struct thread_state {
	struct open_span *stack;
	size_t depth, cap;
};

static void fence_args(struct writer *w, const struct trace_rec *r, const struct ctx_name *cn)
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

static void wait_name(char *buf, size_t len, const struct trace_rec *r)
{
	snprintf(buf, len, "dma_fence_wait %llu:%llu", (unsigned long long)r->context,
		 (unsigned long long)r->seqno);
}

static int push(struct thread_state *ts, const struct trace_rec *r)
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

static void close_span(struct writer *w, long long tid, const struct trace_rec *open, ktime_t ts)
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
	const struct trace_rec *rec;
};

static int write_thread_events(struct writer *w, struct item *items, size_t n,
			       const struct ctx_name *ctab, size_t nctx)
{
	struct thread_state *st = calloc(nthreads ? nthreads : 1, sizeof(*st));
	struct async_open *as = NULL;
	size_t nas = 0, cas = 0;
	int ret = 0;

	if (!st)
		return -ENOMEM;
	for (size_t i = 0; i < n && !ret; i++) {
		const struct trace_rec *r = items[i].rec;
		struct thread_state *ts = &st[items[i].thr->idx];
		long long tid = items[i].thr->tid;
		char buf[64];

		switch (r->type) {
		case REC_BEGIN:
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
		case REC_END:
		case CORE_TRACE_FENCE_WAIT_END: {
			const struct trace_rec *top = ts->depth ? ts->stack[ts->depth - 1].rec : NULL;
			bool match = top && (r->type == REC_END ? top->type == REC_BEGIN
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
		case REC_INSTANT:
			ev_open(w, "i", tid, r->ts);
			ev_name(w, r->name);
			fputs(",\"s\":\"t\"}", w->f);
			break;
		case REC_COUNTER:
			ev_open(w, "C", tid, r->ts);
			ev_name(w, r->name);
			fprintf(w->f, ",\"args\":{\"value\":%lld}}", (long long)(s64)r->context);
			break;
		case REC_ASYNC_BEGIN: {
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
		case REC_ASYNC_END: {
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
	for (const struct trace_thread *t = threads; t && !ret; t = t->next) {
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
	for (unsigned int i = 0; i < nthreads; i++)
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

static int write_fence_tracks(struct writer *w, struct item *items, size_t n,
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
			const struct trace_rec *r = items[i].rec;

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

/* Gather the session's published records; trace_lock held. */
static int collect(struct item **out, size_t *nout, bool consume)
{
	struct item *items = NULL;
	size_t n = 0, cap = 0;

	for (struct trace_thread *t = threads; t; t = t->next) {
		struct trace_chunk *c = t->rd_chunk ? t->rd_chunk
						     : __atomic_load_n(&t->first, __ATOMIC_ACQUIRE);
		unsigned int idx = t->rd_chunk ? t->rd_idx : 0;
		u64 pos = 0;

		while (c) {
			unsigned int used = __atomic_load_n(&c->used, __ATOMIC_ACQUIRE);
			struct trace_chunk *next;

			for (; idx < used; idx++, pos++) {
				if (c->rec[idx].ts < session_t0)
					continue;
				if (n == cap) {
					size_t nc = cap ? cap * 2 : 4096;
					struct item *p = realloc(items, nc * sizeof(*p));

					if (!p) {
						free(items);
						return -ENOMEM;
					}
					items = p;
					cap = nc;
				}
				items[n].rec = &c->rec[idx];
				items[n].thr = t;
				items[n++].order = ((u64)t->idx << 40) | pos;
			}
			next = used == CHUNK_RECS ? __atomic_load_n(&c->next, __ATOMIC_ACQUIRE) : NULL;
			if (!next) {
				if (consume) {
					t->rd_chunk = c;
					t->rd_idx = idx;
				}
				break;
			}
			c = next;
			idx = 0;
		}
	}
	*out = items;
	*nout = n;
	return 0;
}

/* Free the chunks every thread has moved past; trace_lock held. */
static void free_consumed(struct trace_chunk **from)
{
	unsigned int i = 0;

	for (struct trace_thread *t = threads; t; t = t->next, i++) {
		struct trace_chunk *c = from[i], *next;

		/* Only chunks the owner has left (->next set) may go. */
		while (c && t->rd_chunk && c != t->rd_chunk &&
		       (next = __atomic_load_n(&c->next, __ATOMIC_ACQUIRE))) {
			free(c);
			__atomic_fetch_sub(&chunks_live, 1, __ATOMIC_RELAXED);
			c = next;
		}
	}
}

static int write_file(const char *path, struct item *items, size_t n)
{
	struct writer w = { .pid = getpid(), .t0 = session_t0, .first = true };
	struct ctx_name *ctab = NULL;
	size_t nctx = 0, ninit = 0;
	unsigned long dropped = 0;
	int ret = 0;

	w.t_end = ktime_get();
	if (n && items[n - 1].rec->ts > w.t_end)
		w.t_end = items[n - 1].rec->ts;
	for (struct trace_thread *t = threads; t; t = t->next)
		dropped += __atomic_load_n(&t->dropped, __ATOMIC_RELAXED);

	/* Context -> names, from the INIT records. */
	for (size_t i = 0; i < n; i++)
		ninit += items[i].rec->type == CORE_TRACE_FENCE_INIT;
	if (ninit && !(ctab = malloc(ninit * sizeof(*ctab))))
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		const struct trace_rec *r = items[i].rec;

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

	w.f = fopen(path, "we");
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
	for (struct trace_thread *t = threads; t; t = t->next) {
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
			path, dropped, MAX_TRACE_BYTES >> 20);
	return ret;
}

/* Write the session's file; trace_lock held. */
static int write_session(bool consume)
{
	struct trace_chunk **from = NULL;
	struct item *items;
	size_t n;
	int ret;

	if (consume) {
		unsigned int i = 0;

		from = calloc(nthreads ? nthreads : 1, sizeof(*from));
		if (!from)
			return -ENOMEM;
		for (struct trace_thread *t = threads; t; t = t->next)
			from[i++] = t->rd_chunk ? t->rd_chunk
						: __atomic_load_n(&t->first, __ATOMIC_ACQUIRE);
	}
	ret = collect(&items, &n, consume);
	if (!ret) {
		if (n)
			qsort(items, n, sizeof(*items), item_cmp_time);
		ret = write_file(session_path, items, n);
		free(items);
	}
	if (consume) {
		/* Even if writing failed: the session's records are dropped. */
		free_consumed(from);
		free(from);
	}
	return ret;
}

/* ---- sessions --------------------------------------------------------------- */

static void trace_atexit(void)
{
	pthread_mutex_lock(&trace_lock);
	if (session_path && session_pid == getpid()) {
		__atomic_store_n(&core_trace_on, 0, __ATOMIC_RELAXED);
		int ret = write_session(true);

		if (ret)
			fprintf(stderr, "dmasync: writing trace %s: %s\n", session_path,
				strerror(-ret));
		free(session_path);
		session_path = NULL;
	}
	pthread_mutex_unlock(&trace_lock);
}

int dmasync_trace_start(const char *path)
{
	char *abs;
	int fd, ret = 0;

	if (!path || !*path)
		return -EINVAL;
	if (path[0] == '/') {
		abs = strdup(path);
	} else {
		char *cwd = getcwd(NULL, 0);

		if (!cwd)
			return -errno;
		abs = malloc(strlen(cwd) + strlen(path) + 2);
		if (abs)
			sprintf(abs, "%s/%s", cwd, path);
		free(cwd);
	}
	if (!abs)
		return -ENOMEM;

	pthread_mutex_lock(&trace_lock);
	if (session_path) {
		ret = -EBUSY;
		goto out;
	}
	fd = open(abs, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		ret = -errno;
		goto out;
	}
	close(fd);
	if (!atexit_done) {
		if (atexit(trace_atexit)) {
			ret = -ENOMEM;
			goto out;
		}
		atexit_done = true;
	}
	session_path = abs;
	abs = NULL;
	session_pid = getpid();
	session_t0 = ktime_get();
	__atomic_store_n(&core_trace_on, 1, __ATOMIC_RELEASE);
out:
	pthread_mutex_unlock(&trace_lock);
	free(abs);
	return ret;
}

int dmasync_trace_stop(void)
{
	int ret;

	pthread_mutex_lock(&trace_lock);
	if (!session_path || session_pid != getpid()) {
		pthread_mutex_unlock(&trace_lock);
		return -EINVAL;
	}
	__atomic_store_n(&core_trace_on, 0, __ATOMIC_RELAXED);
	ret = write_session(true);
	free(session_path);
	session_path = NULL;
	pthread_mutex_unlock(&trace_lock);
	return ret;
}

int dmasync_trace_flush(void)
{
	int ret;

	pthread_mutex_lock(&trace_lock);
	if (!session_path || session_pid != getpid())
		ret = -EINVAL;
	else
		ret = write_session(false);
	pthread_mutex_unlock(&trace_lock);
	return ret;
}

/* A forked child neither records nor writes its parent's session. */
static void fork_prepare(void)
{
	pthread_mutex_lock(&trace_lock);
}

static void fork_parent(void)
{
	pthread_mutex_unlock(&trace_lock);
}

static void fork_child(void)
{
	__atomic_store_n(&core_trace_on, 0, __ATOMIC_RELAXED);
	free(session_path);
	session_path = NULL;
	pthread_mutex_unlock(&trace_lock);
}

static const struct core_fork_handler trace_fork = {
	.prepare = fork_prepare,
	.parent = fork_parent,
	.child = fork_child,
};

__attribute__((constructor)) static void trace_env_init(void)
{
	const char *path = getenv("DMASYNC_TRACE");
	int ret;

	core_fork_register(CORE_FORK_TRACE, &trace_fork);
	if (!path || !*path)
		return;
	ret = dmasync_trace_start(path);
	if (ret)
		fprintf(stderr, "dmasync: DMASYNC_TRACE=%s: tracing not started: %s\n", path,
			strerror(-ret));
}
