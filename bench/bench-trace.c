/* SPDX-License-Identifier: MIT */
/*
 * Tracing benchmarks.  Every figure is printed next to a floor measured in
 * the same run, as a ratio:
 *   fence init+signal+put, tracing off   vs  malloc+free of a fence
 *   fence init+signal+put, tracing on    vs  the same with tracing off
 *   span begin+end, tracing off          vs  an empty loop iteration
 *   span begin+end, tracing on           vs  ktime_get() twice (the clock reads)
 *   writing the JSON, per record         vs  snprintf of one record's worth
 */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <dmasync/dma-fence.h>
#include <dmasync/trace.h>
#include "bench-common.h"

static double malloc_free_floor(long n)
{
	return bench_malloc_free(n);
}

static DEFINE_SPINLOCK(lock);
static const char *name(struct dma_fence *f) { return "bench"; }
static const struct dma_fence_ops ops = { .get_driver_name = name, .get_timeline_name = name };

static void report(const char *what, double ns, const char *floor_name, double floor_ns)
{
	printf("%-36s %9.1f ns/op   floor %-28s %8.1f ns   ratio %6.2fx\n", what, ns, floor_name,
	       floor_ns, ns / floor_ns);
}

static double best(double (*fn)(long), long n)
{
	double b = 1e30;

	for (int r = 0; r < 5; r++) {
		double v = fn(n);

		if (v < b)
			b = v;
	}
	return b;
}

static double bench_lifecycle(long n)
{
	u64 ctx = dma_fence_context_alloc(1);
	ktime_t t = ktime_get();

	for (long i = 0; i < n; i++) {
		struct dma_fence *f = malloc(sizeof(*f));

		dma_fence_init(f, &ops, &lock, ctx, (u64)i);
		dma_fence_signal(f);
		dma_fence_put(f);
	}
	return per_op(t, n);
}

static double bench_empty(long n)
{
	ktime_t t = ktime_get();

	for (long i = 0; i < n; i++)
		__asm__ volatile("" ::: "memory");
	return per_op(t, n);
}

static double bench_span(long n)
{
	ktime_t t = ktime_get();

	for (long i = 0; i < n; i++) {
		dmasync_trace_begin("span");
		dmasync_trace_end();
	}
	return per_op(t, n);
}

static double bench_clock2(long n)
{
	volatile ktime_t sink;
	ktime_t t = ktime_get();

	for (long i = 0; i < n; i++) {
		sink = ktime_get();
		sink = ktime_get();
	}
	(void)sink;
	return per_op(t, n);
}

static double bench_snprintf(long n)
{
	char buf[160];
	volatile int sink;
	ktime_t t = ktime_get();

	for (long i = 0; i < n; i++)
		sink = snprintf(buf, sizeof(buf),
				"{\"ph\":\"X\",\"pid\":%d,\"tid\":%ld,\"ts\":%ld.%03ld,\"name\":\"%s\"}",
				1234, i, i / 1000, i % 1000, "pending");
	(void)sink;
	return per_op(t, n);
}

int main(void)
{
	long n = 1000000;
	char path[64];
	double floor_mf, off, on, span_off, span_on, empty, clock2, fmt, write_ns;
	ktime_t t;
	long records;

	snprintf(path, sizeof(path), "/tmp/dmasync-bench-trace-%d.json", (int)getpid());
	if (dmasync_trace_enabled()) {
		fprintf(stderr, "bench-trace: unset DMASYNC_TRACE to measure\n");
		return 1;
	}
	floor_mf = best(malloc_free_floor, n);
	off = best(bench_lifecycle, n);
	empty = best(bench_empty, n);
	span_off = best(bench_span, n);
	clock2 = best(bench_clock2, n);
	fmt = best(bench_snprintf, n / 4);

	if (dmasync_trace_start(path)) {
		perror("dmasync_trace_start");
		return 1;
	}
	on = best(bench_lifecycle, n / 40);
	span_on = best(bench_span, n / 40);
	/* 5 runs each: 3 records per fence, 2 per span (well under the cap) */
	records = 5 * (3 * (n / 40) + 2 * (n / 40));
	t = ktime_get();
	dmasync_trace_stop();
	write_ns = per_op(t, records);
	unlink(path);

	report("fence lifecycle, tracing off", off, "malloc+free", floor_mf);
	report("fence lifecycle, tracing on", on, "same, tracing off", off);
	report("span begin+end, tracing off", span_off, "empty loop iteration", empty);
	report("span begin+end, tracing on", span_on, "ktime_get() x2", clock2);
	report("write JSON, per record", write_ns, "snprintf of one event", fmt);
	return 0;
}
