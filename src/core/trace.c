/* SPDX-License-Identifier: MIT */
/*
 * Library-wide tracing: the dma_fence tracepoints and program spans,
 * recorded per thread; a session's records are written as Chrome
 * trace-event JSON by trace-json.c.
 *
 * Recording: every thread owns a list of fixed-size chunks of records.
 * Only the owner appends; it publishes each record with a release store of
 * the chunk's count, and links a full chunk to the next one with a release
 * store of ->next.  A writer reads any thread's published prefix with
 * acquire loads, so recording takes no lock at all (the global mutex is
 * taken once per thread, to register its buffer, and by the writer).
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
#include "trace-json.h"
#include "trace-priv.h"

#define CHUNK_RECS 511
#define MAX_TRACE_BYTES (256ul << 20)

struct core_trace_chunk {
	struct core_trace_chunk *next;	/* set once by the owner (release) */
	unsigned int used;		/* published records (release) */
	struct core_trace_rec rec[CHUNK_RECS];
};

#define MAX_CHUNKS ((long)(MAX_TRACE_BYTES / sizeof(struct core_trace_chunk)))

int core_trace_on;

static pthread_mutex_t trace_lock = PTHREAD_MUTEX_INITIALIZER;
static struct core_trace_thread *threads;	/* newest first */
static unsigned int nthreads;
static long chunks_live;		/* atomic */
static __thread struct core_trace_thread *tls_self;

/* Session state, trace_lock. */
static char *session_path;
static ktime_t session_t0;
static pid_t session_pid;
static bool atexit_done;

/* ---- recording ----------------------------------------------------------- */

static struct core_trace_thread *register_self(void)
{
	struct core_trace_thread *t = calloc(1, sizeof(*t));

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

static inline struct core_trace_thread *self(void)
{
	struct core_trace_thread *t = tls_self;

	return likely(t) ? t : register_self();
}

/* Reserve the next record of this thread, or NULL (dropped). */
static struct core_trace_rec *rec_reserve(struct core_trace_thread *t)
{
	struct core_trace_chunk *c = t->tail;

	if (!c || __atomic_load_n(&c->used, __ATOMIC_RELAXED) == CHUNK_RECS) {
		struct core_trace_chunk *n = NULL;

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

static void rec_commit(struct core_trace_thread *t)
{
	struct core_trace_chunk *c = t->tail;

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
	struct core_trace_thread *t = self();
	struct core_trace_rec *r;

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
		copy_name(r->name + strlen(r->name) + 1, CORE_TRACE_NAME_LEN - 32,
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
	struct core_trace_thread *t = self();
	struct core_trace_rec *r;

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
	char name[CORE_TRACE_NAME_LEN];

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
	rec_fmt(CORE_TRACE_SPAN_BEGIN, 0, fmt, ap);
	va_end(ap);
}

void dmasync_trace_end(void)
{
	if (core_tracing())
		rec_raw(CORE_TRACE_SPAN_END, 0, 0, NULL);
}

void dmasync_trace_instant(const char *fmt, ...)
{
	va_list ap;

	if (!core_tracing())
		return;
	va_start(ap, fmt);
	rec_fmt(CORE_TRACE_INSTANT, 0, fmt, ap);
	va_end(ap);
}

void dmasync_trace_async_begin(u64 id, const char *fmt, ...)
{
	va_list ap;

	if (!core_tracing())
		return;
	va_start(ap, fmt);
	rec_fmt(CORE_TRACE_ASYNC_BEGIN, id, fmt, ap);
	va_end(ap);
}

void dmasync_trace_async_end(u64 id)
{
	if (core_tracing())
		rec_raw(CORE_TRACE_ASYNC_END, id, 0, NULL);
}

void dmasync_trace_counter(const char *name, s64 value)
{
	if (core_tracing())
		rec_raw(CORE_TRACE_COUNTER, 0, value, name);
}

bool dmasync_trace_enabled(void)
{
	return core_tracing();
}

int dmasync_trace_set_thread_name(const char *name)
{
	struct core_trace_thread *t = self();

	if (!t)
		return -ENOMEM;
	pthread_mutex_lock(&trace_lock);
	copy_name(t->name, sizeof(t->name), name);
	pthread_mutex_unlock(&trace_lock);
	return 0;
}

/* ---- writing ------------------------------------------------------------ */

/* Gather the session's published records; trace_lock held. */
static int collect(struct core_trace_item **out, size_t *nout, bool consume)
{
	struct core_trace_item *items = NULL;
	size_t n = 0, cap = 0;

	for (struct core_trace_thread *t = threads; t; t = t->next) {
		struct core_trace_chunk *c = t->rd_chunk ? t->rd_chunk
						     : __atomic_load_n(&t->first, __ATOMIC_ACQUIRE);
		unsigned int idx = t->rd_chunk ? t->rd_idx : 0;
		u64 pos = 0;

		while (c) {
			unsigned int used = __atomic_load_n(&c->used, __ATOMIC_ACQUIRE);
			struct core_trace_chunk *next;

			for (; idx < used; idx++, pos++) {
				if (c->rec[idx].ts < session_t0)
					continue;
				if (n == cap) {
					size_t nc = cap ? cap * 2 : 4096;
					struct core_trace_item *p = realloc(items, nc * sizeof(*p));

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
static void free_consumed(struct core_trace_chunk **from)
{
	unsigned int i = 0;

	for (struct core_trace_thread *t = threads; t; t = t->next, i++) {
		struct core_trace_chunk *c = from[i], *next;

		/* Only chunks the owner has left (->next set) may go. */
		while (c && t->rd_chunk && c != t->rd_chunk &&
		       (next = __atomic_load_n(&c->next, __ATOMIC_ACQUIRE))) {
			free(c);
			__atomic_fetch_sub(&chunks_live, 1, __ATOMIC_RELAXED);
			c = next;
		}
	}
}

/* Write the session's file; trace_lock held. */
static int write_session(bool consume)
{
	struct core_trace_chunk **from = NULL;
	struct core_trace_item *items;
	size_t n;
	int ret;

	if (consume) {
		unsigned int i = 0;

		from = calloc(nthreads ? nthreads : 1, sizeof(*from));
		if (!from)
			return -ENOMEM;
		for (struct core_trace_thread *t = threads; t; t = t->next)
			from[i++] = t->rd_chunk ? t->rd_chunk
						: __atomic_load_n(&t->first, __ATOMIC_ACQUIRE);
	}
	ret = collect(&items, &n, consume);
	if (!ret) {
		struct core_trace_session s = {
			.path = session_path,
			.t0 = session_t0,
			.threads = threads,
			.nthreads = nthreads,
			.max_bytes = MAX_TRACE_BYTES,
		};

		ret = core_trace_json_write(&s, items, n);
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
