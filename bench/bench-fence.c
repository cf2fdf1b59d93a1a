/* SPDX-License-Identifier: MIT */
/*
 * Fence-core benchmarks.  Every figure is printed next to a floor measured
 * in the same run, as a ratio:
 *   init+signal+put        vs  malloc+free of the same size
 *   add_callback+signal    vs  malloc+free
 *   signal-to-wakeup       vs  futex ping-pong, one way
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include <dmasync/dma-fence.h>
#include "futex.h"
#include "bench-common.h"

static DEFINE_SPINLOCK(lock);
static DEFINE_SPINLOCK(lock2); /* the second timeline of the ping-pong */
static const char *name(struct dma_fence *f) { return "bench"; }
static const struct dma_fence_ops ops = { .get_driver_name = name, .get_timeline_name = name };

static void report(const char *what, double ns, const char *floor_name, double floor_ns)
{
	printf("%-34s %9.1f ns/op   floor %-26s %8.1f ns   ratio %5.2fx\n", what, ns, floor_name,
	       floor_ns, ns / floor_ns);
}

static double bench_init_signal_put(long n)
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

static void nop_cb(struct dma_fence *f, struct dma_fence_cb *cb) { }

static double bench_add_callback_signal(long n)
{
	struct dma_fence *fences = n > 0 ? calloc((size_t)n, sizeof(*fences)) : NULL;
	struct dma_fence_cb cb;
	u64 ctx = dma_fence_context_alloc(1);
	ktime_t t;
	double r;

	if (!fences)
		return 0;
	for (long i = 0; i < n; i++)
		dma_fence_init(&fences[i], &ops, &lock, ctx, (u64)i);
	t = ktime_get();
	for (long i = 0; i < n; i++) {
		dma_fence_add_callback(&fences[i], &cb, nop_cb);
		dma_fence_signal(&fences[i]);
	}
	r = per_op(t, n);
	free(fences);
	return r;
}

/* ---- ping-pong latency ------------------------------------------------- */

static long rounds;

static struct dma_fence *ping, *pong;

static void *fence_pong(void *arg)
{
	for (long i = 0; i < rounds; i++) {
		dma_fence_wait(&ping[i], false);
		dma_fence_signal(&pong[i]);
	}
	return NULL;
}

static double bench_fence_one_way(long n)
{
	u64 ctx = dma_fence_context_alloc(2);
	pthread_t th;
	ktime_t t;

	rounds = n;
	if (n <= 0)
		return 0;
	ping = calloc((size_t)n, sizeof(*ping));
	pong = calloc((size_t)n, sizeof(*pong));
	for (long i = 0; i < n; i++) {
		dma_fence_init(&ping[i], &ops, &lock, ctx, (u64)i + 1);
		dma_fence_init(&pong[i], &ops, &lock2, ctx + 1, (u64)i + 1);
	}
	pthread_create(&th, NULL, fence_pong, NULL);
	t = ktime_get();
	for (long i = 0; i < n; i++) {
		dma_fence_signal(&ping[i]);
		dma_fence_wait(&pong[i], false);
	}
	pthread_join(th, NULL);
	free(ping);
	free(pong);
	return per_op(t, 2 * n);
}

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 2000000;
	long pp = n / 20;
	double floor_alloc, x;

	printf("dmasync fence-core benchmark (%ld iterations)\n", n);
	bench_init_signal_put(n / 10); /* warm up allocator and RCU thread */
	floor_alloc = bench_malloc_free(n);
	x = bench_init_signal_put(n);
	report("init+signal+put", x, "malloc+free", floor_alloc);
	{
		double y = bench_add_callback_signal(n);

		report("add_callback+signal", y, "malloc+free", floor_alloc);
	}

	{
		/* Interleaved trials, best of each: the machine's other load
		 * hits both sides alike. */
		double fl = 1e18, fe = 1e18;

		for (int trial = 0; trial < 5; trial++) {
			double a = bench_futex_one_way(pp / 5), b = bench_fence_one_way(pp / 5);

			fl = a < fl ? a : fl;
			fe = b < fe ? b : fe;
		}
		report("signal-to-wakeup (one way)", fe, "futex ping-pong one way", fl);
	}
	{
		/* What signaling cannot avoid: reading CLOCK_MONOTONIC for the
		 * timestamp, on top of the allocation. */
		volatile ktime_t sink;
		ktime_t t = ktime_get();
		double clk;

		for (long i = 0; i < n; i++)
			sink = ktime_get();
		(void)sink;
		clk = per_op(t, n);
		printf("  (a CLOCK_MONOTONIC read costs %.1f ns here: malloc+free+clock = %.1f ns; "
		       "init+signal+put is %.2fx that)\n", clk, floor_alloc + clk, x / (floor_alloc + clk));
	}
	dmasync_rcu_barrier();
	return 0;
}
