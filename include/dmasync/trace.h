/* SPDX-License-Identifier: MIT */
/*
 * dmasync - library-wide tracing in the Chrome trace-event JSON format.
 *
 * The fence core reports the same events as the kernel's dma_fence
 * tracepoints: init, emit, enable_signal, signaled, wait_start, wait_end
 * and destroy.  Programs may add their own spans, instants, async spans and
 * counters.  The result is one JSON file that Perfetto (ui.perfetto.dev)
 * and chrome://tracing open:
 *
 *  - one track per thread, holding the program's spans and the thread's
 *    dma_fence waits ("dma_fence_wait"), properly nested;
 *  - fence lifetimes on tracks of their own, one group per fence context
 *    ("fence ctx N: <timeline>"): a span per fence from init to destroy
 *    with a nested "pending" span up to its signal, plus "emit",
 *    "enable_signal" and "signaled" instants.  Fences of one context whose
 *    lifetimes overlap are spread over numbered sub-tracks, so spans on any
 *    one track never overlap.
 *
 * Enabling: tracing is off by default.  Setting the environment variable
 * DMASYNC_TRACE=/path/file.json enables it for any program using dmasync,
 * from library load until exit, when the file is written.  A program can
 * also call dmasync_trace_start() and dmasync_trace_stop() itself.
 *
 * Cost and threads: while tracing is off every hook is a single load and
 * predictable branch on a global flag.  While it is on, each thread appends
 * fixed-size records to a buffer of its own, without locks; the buffers are
 * merged, sorted and converted to JSON only when the file is written.
 * Every function here is thread-safe.  Recording is bounded (256 MiB of
 * records per session); records beyond that are counted as dropped and the
 * count is written into the file ("otherData").
 *
 * Timestamps are CLOCK_MONOTONIC (ktime_get()), written in microseconds
 * relative to the start of the session.
 */
#ifndef DMASYNC_TRACE_H
#define DMASYNC_TRACE_H

#include <dmasync/types.h>

#ifdef __cplusplus
extern "C" {
#endif

struct dma_fence;

/**
 * dmasync_trace_start - start recording a trace that will go to @path.
 * @path: the JSON file to write; relative paths are taken relative to the
 *	current directory at this call.  The file is created (truncated) now,
 *	so an unwritable path fails here rather than at the end.
 *
 * Records only what happens from now on.  The file is written by
 * dmasync_trace_stop(), dmasync_trace_flush() or, if the session is still
 * running then, at exit() (not in a forked child: only the process that
 * started the session writes it).
 *
 * Return: 0; -EBUSY if a session is already running (e.g. started by
 * DMASYNC_TRACE); -EINVAL if @path is NULL or empty; -ENOMEM; or the
 * negative errno of creating the file.
 */
DMASYNC_EXPORT int dmasync_trace_start(const char *path);

/**
 * dmasync_trace_stop - stop recording and write the trace file.
 *
 * Events being recorded by other threads at the same moment may or may not
 * make it into the file.  The records of the session are freed.
 *
 * Return: 0; -EINVAL if no session is running; or the negative errno of
 * writing the file (the session is stopped anyway).
 */
DMASYNC_EXPORT int dmasync_trace_stop(void);

/**
 * dmasync_trace_flush - write everything recorded so far, keep recording.
 *
 * The file is rewritten from the start of the session each time, so it is
 * always one complete, valid JSON document.  Spans still open are closed
 * at the moment of the flush (and reopened in the next write if they are
 * still open then).
 *
 * Return: 0; -EINVAL if no session is running; or the negative errno of
 * writing the file.
 */
DMASYNC_EXPORT int dmasync_trace_flush(void);

/**
 * dmasync_trace_enabled - whether a session is recording.
 *
 * Useful to skip building expensive span names when nobody records them.
 */
DMASYNC_EXPORT bool dmasync_trace_enabled(void);

/**
 * dmasync_trace_set_thread_name - name the calling thread's track.
 * @name: the name (copied; truncated to 63 bytes)
 *
 * Works whether or not tracing is on; the name is used by every later
 * write.  Without it a thread's track carries its pthread name.
 *
 * Return: 0, or -ENOMEM.
 */
DMASYNC_EXPORT int dmasync_trace_set_thread_name(const char *name);

/**
 * dmasync_trace_begin - open a span on the calling thread's track.
 * @fmt: printf-style name (at most 87 bytes are kept)
 *
 * Spans of one thread nest: each dmasync_trace_end() closes the innermost
 * open span.  The dma_fence waits of the thread nest inside them.  A span
 * still open when the file is written is closed at that time.  Nothing
 * happens while tracing is off.
 */
DMASYNC_EXPORT void dmasync_trace_begin(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));

/**
 * dmasync_trace_end - close the innermost span opened by this thread.
 *
 * An end without a matching begin (for instance because tracing started
 * inside the span) is dropped when the file is written.
 */
DMASYNC_EXPORT void dmasync_trace_end(void);

/**
 * dmasync_trace_instant - a point event on the calling thread's track.
 * @fmt: printf-style name
 */
DMASYNC_EXPORT void dmasync_trace_instant(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));

/**
 * dmasync_trace_async_begin - open a span that may end in another thread.
 * @id: identifies the span until dmasync_trace_async_end(@id); ids are
 *	shared by the whole process
 * @fmt: printf-style name
 *
 * Async spans are shown grouped by name, outside the thread tracks; use
 * them for things that cross threads, such as a frame's way from present
 * to display.  Reusing an @id that is still open is dropped at write time.
 */
DMASYNC_EXPORT void dmasync_trace_async_begin(u64 id, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/**
 * dmasync_trace_async_end - close the async span @id (from any thread).
 * @id: as given to dmasync_trace_async_begin()
 */
DMASYNC_EXPORT void dmasync_trace_async_end(u64 id);

/**
 * dmasync_trace_counter - record the value of a counter track.
 * @name: the counter's name (at most 87 bytes are kept)
 * @value: its new value
 */
DMASYNC_EXPORT void dmasync_trace_counter(const char *name, s64 value);

/**
 * dmasync_trace_fence_emit - the kernel's dma_fence_emit tracepoint.
 * @fence: a fence that the caller owns a reference to and that is not yet
 *	signaled
 *
 * Drivers call this when the job behind @fence is handed to the hardware
 * (in dmasync: to whatever executes it), so that the trace shows when
 * execution could start.  Appears as an "emit" instant on the fence's
 * track.
 */
DMASYNC_EXPORT void dmasync_trace_fence_emit(struct dma_fence *fence);

/** trace_dma_fence_emit - kernel spelling of dmasync_trace_fence_emit(). */
static inline void trace_dma_fence_emit(struct dma_fence *fence)
{
	dmasync_trace_fence_emit(fence);
}

#ifdef __cplusplus
}
#endif

#endif /* DMASYNC_TRACE_H */
