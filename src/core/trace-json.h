/* SPDX-License-Identifier: MIT */
/*
 * Private: the trace recorder's records (trace.c) as the JSON writer
 * (trace-json.c) reads them, and the writer's entry point.
 */
#ifndef DMASYNC_PRIV_TRACE_JSON_H
#define DMASYNC_PRIV_TRACE_JSON_H

#include <stddef.h>
#include <sys/types.h>
#include <dmasync/types.h>
#include "trace-priv.h"

#define CORE_TRACE_NAME_LEN 88
#define CORE_TRACE_THREAD_NAME_LEN 64

/* Record types: the fence events first, with the values of their enum. */
enum {
	CORE_TRACE_SPAN_BEGIN = CORE_TRACE_FENCE_DESTROY + 1,
	CORE_TRACE_SPAN_END,
	CORE_TRACE_INSTANT,
	CORE_TRACE_ASYNC_BEGIN,
	CORE_TRACE_ASYNC_END,
	CORE_TRACE_COUNTER,
};

struct core_trace_rec {
	ktime_t ts;
	u32 type;
	s32 error;	/* fence error at the time of the event */
	u64 context;	/* fence context; counter value */
	u64 seqno;
	u64 key;	/* fence address; async id */
	char name[CORE_TRACE_NAME_LEN]; /* INIT: driver NUL timeline NUL */
};

struct core_trace_chunk;

/* A recording thread (its records are in chunks only the recorder walks). */
struct core_trace_thread {
	struct core_trace_thread *next;	/* registry list; trace_lock */
	unsigned int idx;		/* registration order */
	pid_t tid;
	char name[CORE_TRACE_THREAD_NAME_LEN];	/* trace_lock */
	struct core_trace_chunk *tail;	/* owner only */
	struct core_trace_chunk *first;	/* set once by the owner (release) */
	struct core_trace_chunk *rd_chunk;	/* consumed up to here; trace_lock */
	unsigned int rd_idx;
	unsigned long dropped;		/* atomic */
};

/* One record of a session, with the thread that recorded it. */
struct core_trace_item {
	const struct core_trace_rec *rec;
	const struct core_trace_thread *thr;
	u64 order;	/* thread index << 40 | position in the thread */
};

/* What the writer needs to know of a session. */
struct core_trace_session {
	const char *path;	/* the file to write */
	ktime_t t0;		/* when the session started */
	const struct core_trace_thread *threads;	/* newest first */
	unsigned int nthreads;
	size_t max_bytes;	/* the recording limit (for the dropped-records note) */
};

/*
 * core_trace_json_write - write @items (@n records, reordered here) of
 * session @s to @s->path.  Called with the recorder's trace_lock held.
 * Return: 0 or a negative errno.
 */
int core_trace_json_write(const struct core_trace_session *s, struct core_trace_item *items,
			  size_t n);

#endif
