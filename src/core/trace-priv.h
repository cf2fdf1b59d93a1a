/* SPDX-License-Identifier: MIT */
/*
 * Private: the tracepoint hooks of the fence core (see <dmasync/trace.h>).
 *
 * Each hook costs one relaxed load of a global flag and a branch that is
 * predicted not taken while tracing is off.  The hooks only append a record
 * to the calling thread's buffer: they take no lock and may be called with
 * any lock held (dma_fence_signal_locked() calls one under the fence lock).
 */
#ifndef DMASYNC_PRIV_TRACE_H
#define DMASYNC_PRIV_TRACE_H

#include <stdbool.h>
#include <dmasync/trace.h>

struct dma_fence;

enum core_trace_fence_event {
	CORE_TRACE_FENCE_INIT,
	CORE_TRACE_FENCE_EMIT,
	CORE_TRACE_FENCE_ENABLE_SIGNAL,
	CORE_TRACE_FENCE_SIGNALED,
	CORE_TRACE_FENCE_WAIT_START,
	CORE_TRACE_FENCE_WAIT_END,
	CORE_TRACE_FENCE_DESTROY,
};

/* Non-zero while a session records.  Written only by trace.c. */
extern int core_trace_on;

void core_trace_fence_event(enum core_trace_fence_event event, struct dma_fence *fence);

static inline bool core_tracing(void)
{
	return __builtin_expect(__atomic_load_n(&core_trace_on, __ATOMIC_RELAXED), 0);
}

#define CORE_TRACEPOINT(event, fence)                                           \
	do {                                                                    \
		if (core_tracing())                                             \
			core_trace_fence_event(event, fence);                   \
	} while (0)

/* The kernel's tracepoint names (trace_dma_fence_emit is public). */
#define trace_dma_fence_init(f) CORE_TRACEPOINT(CORE_TRACE_FENCE_INIT, f)
#define trace_dma_fence_enable_signal(f) CORE_TRACEPOINT(CORE_TRACE_FENCE_ENABLE_SIGNAL, f)
#define trace_dma_fence_signaled(f) CORE_TRACEPOINT(CORE_TRACE_FENCE_SIGNALED, f)
#define trace_dma_fence_wait_start(f) CORE_TRACEPOINT(CORE_TRACE_FENCE_WAIT_START, f)
#define trace_dma_fence_wait_end(f) CORE_TRACEPOINT(CORE_TRACE_FENCE_WAIT_END, f)
#define trace_dma_fence_destroy(f) CORE_TRACEPOINT(CORE_TRACE_FENCE_DESTROY, f)

#endif
