/* SPDX-License-Identifier: MIT */
/*
 * Software-timeline (sw_sync) benchmarks.  Every figure is printed next to
 * a floor measured in the same run, as a ratio:
 *   sync_pt_create+signal+put (one point at a time)   vs  malloc+free
 *   the same with 64 points per increment, in order    vs  malloc+free
 *   the same, created in reverse order (tree inserts)  vs  malloc+free
 *   signal-to-wakeup through two timelines, one way    vs  futex ping-pong
 *
 * Usage: bench-timeline [iterations]
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include <dmasync/sw_sync.h>
#include "futex.h"
#include "bench-common.h"

/* Roughly the size of a point: a dma_fence plus list, tree and deadline. */
#define PT_SIZE (sizeof(struct dma_fence) + 64)

static void report(const char *what, double ns, const char *floor_name, double floor_ns)
{
	printf("%-38s %9.1f ns/op   floor %-24s %8.1f ns   ratio %5.2fx\n", what, ns, floor_name,
	       floor_ns, ns / floor_ns);
}

static double bench_create_signal_put(long n)
{
	struct sync_timeline *tl = sync_timeline_create("bench");
	ktime_t t;

	if (!tl)
		return 0;
	t = ktime_get();
	for (long i = 0; i < n; i++) {
		struct dma_fence *f = sync_pt_create(tl, (u32)i + 1);

		sync_timeline_signal(tl, 1);
		dma_fence_put(f);
	}
	t = ktime_get() - t;
	sync_timeline_destroy(tl);
	return (double)t / (double)n;
}

/* Batches of @batch pending points, signaled by one increment. */
static double bench_batched(long n, int batch, bool reverse)
{
	struct sync_timeline *tl = sync_timeline_create("bench");
	struct dma_fence **f = calloc((size_t)batch, sizeof(*f));
	long rounds = n / batch;
	ktime_t t;

	if (!tl || !f || rounds <= 0)
		return 0;
	t = ktime_get();
	for (long r = 0; r < rounds; r++) {
		u32 base = (u32)(r * batch);

		for (int i = 0; i < batch; i++) {
			int k = reverse ? batch - 1 - i : i;

			f[k] = sync_pt_create(tl, base + (u32)k + 1);
		}
		sync_timeline_signal(tl, (u32)batch);
		for (int i = 0; i < batch; i++)
			dma_fence_put(f[i]);
	}
	t = ktime_get() - t;
	sync_timeline_destroy(tl);
	free(f);
	return (double)t / (double)(rounds * batch);
}

/* ---- ping-pong latency ------------------------------------------------- */

static long rounds;

/*
 * Timeline @to_b carries A -> B, @to_a carries B -> A.  Each side creates
 * the point it will wait on before it signals the other side, so every
 * wait finds its point pending and the wakeup is a real one.
 */
static struct sync_timeline *to_a, *to_b;

static void *timeline_pong(void *arg)
{
	struct dma_fence *mine = sync_pt_create(to_b, 1);

	for (long k = 1; k <= rounds; k++) {
		dma_fence_wait(mine, false);
		dma_fence_put(mine);
		mine = k < rounds ? sync_pt_create(to_b, (u32)k + 1) : NULL;
		sync_timeline_signal(to_a, 1);
	}
	return NULL;
}

static double bench_timeline_one_way(long n)
{
	pthread_t th;
	ktime_t t;

	rounds = n;
	to_a = sync_timeline_create("to_a");
	to_b = sync_timeline_create("to_b");
	if (!to_a || !to_b || n <= 0)
		return 0;
	pthread_create(&th, NULL, timeline_pong, NULL);
	t = ktime_get();
	for (long k = 1; k <= n; k++) {
		struct dma_fence *mine = sync_pt_create(to_a, (u32)k);

		sync_timeline_signal(to_b, 1);
		dma_fence_wait(mine, false);
		dma_fence_put(mine);
	}
	t = ktime_get() - t;
	pthread_join(th, NULL);
	sync_timeline_destroy(to_a);
	sync_timeline_destroy(to_b);
	return (double)t / (double)(2 * n);
}

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 2000000;
	long pp = n / 80; /* each round is two real wakeups (~20-50 us) */
	double floor_alloc, x;

	if (n < 64)
		n = 64;
	if (pp < 1)
		pp = 1;
	printf("dmasync sw_sync timeline benchmark (%ld iterations, %ld ping-pong rounds)\n", n,
	       pp);
	bench_create_signal_put(n / 10); /* warm up allocator and RCU */
	floor_alloc = bench_malloc_free_size(n, PT_SIZE);
	x = bench_create_signal_put(n);
	report("sync_pt_create+signal+put", x, "malloc+free", floor_alloc);
	x = bench_batched(n, 64, false);
	report("  64 per signal, in order", x, "malloc+free", floor_alloc);
	x = bench_batched(n, 64, true);
	report("  64 per signal, reverse order", x, "malloc+free", floor_alloc);

	{
		double fl = bench_futex_one_way(pp);
		double tl = bench_timeline_one_way(pp);

		report("signal-to-wakeup (one way)", tl, "futex ping-pong one way", fl);
	}
	dmasync_rcu_barrier();
	return 0;
}
