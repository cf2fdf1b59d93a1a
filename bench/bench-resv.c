/* SPDX-License-Identifier: MIT */
/*
 * Reservation-object benchmarks, each with a floor from the same run:
 *   add_fence (amortised)            vs  malloc+free
 *   get_singleton for N fences       vs  N x dma_fence_get+put (the refs it must take)
 *   unlocked test_signaled           alone and with a writer adding/replacing fences
 *                                    on another thread (readers never wait for it)
 */
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>

#include <dmasync/dma-resv.h>
#include <dmasync/dma-fence-array.h>

static DEFINE_SPINLOCK(lock);
static const char *name(struct dma_fence *f) { return "bench"; }
static const struct dma_fence_ops ops = { .get_driver_name = name, .get_timeline_name = name };

static struct dma_fence *mk(u64 ctx, u64 seqno)
{
	struct dma_fence *f = malloc(sizeof(*f));

	dma_fence_init(f, &ops, &lock, ctx, seqno);
	return f;
}

static double since(ktime_t t, long n)
{
	return (double)(ktime_get() - t) / (double)n;
}

static double floor_malloc(long n)
{
	void *volatile p;
	ktime_t t = ktime_get();

	for (long i = 0; i < n; i++) {
		p = malloc(sizeof(struct dma_fence));
		free(p);
	}
	(void)p;
	return since(t, n);
}

/* Fill one object with n fences of distinct contexts, one reserve per add. */
static double bench_add(long n, struct dma_fence **fences)
{
	struct dma_resv obj;
	ktime_t t;
	double r;

	dma_resv_init(&obj);
	t = ktime_get();
	dma_resv_lock(&obj, NULL);
	for (long i = 0; i < n; i++) {
		dma_resv_reserve_fences(&obj, 1);
		dma_resv_add_fence(&obj, fences[i], DMA_RESV_USAGE_READ);
	}
	dma_resv_unlock(&obj);
	r = since(t, n);
	dma_resv_fini(&obj);
	return r;
}

static void fill(struct dma_resv *obj, struct dma_fence **f, int n)
{
	dma_resv_lock(obj, NULL);
	if (n)
		dma_resv_reserve_fences(obj, (unsigned)n);
	for (int i = 0; i < n; i++)
		dma_resv_add_fence(obj, f[i], DMA_RESV_USAGE_WRITE);
	dma_resv_unlock(obj);
}

struct writer {
	struct dma_resv *obj;
	struct dma_fence **f;
	int n;
	int stop;
	long rounds;
};

static void *writer_main(void *arg)
{
	struct writer *w = arg;
	u64 seq = 1000;

	while (!__atomic_load_n(&w->stop, __ATOMIC_ACQUIRE)) {
		struct dma_fence *f = mk(w->f[w->rounds % w->n]->context, seq++);

		dma_resv_lock(w->obj, NULL);
		dma_resv_reserve_fences(w->obj, 1);
		dma_resv_add_fence(w->obj, f, DMA_RESV_USAGE_WRITE); /* replaces */
		dma_resv_unlock(w->obj);
		dma_fence_put(f);
		__atomic_fetch_add(&w->rounds, 1, __ATOMIC_RELAXED);
	}
	return NULL;
}

static double bench_test_signaled(struct dma_resv *obj, long n)
{
	volatile bool r;
	ktime_t t = ktime_get();

	for (long i = 0; i < n; i++)
		r = dma_resv_test_signaled(obj, DMA_RESV_USAGE_READ);
	(void)r;
	return since(t, n);
}

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 200000;
	static const int sizes[] = { 0, 1, 16, 128, 1024 };
	struct dma_fence **f = calloc((size_t)n, sizeof(*f));
	u64 ctx = dma_fence_context_alloc((unsigned)n);
	double fl = floor_malloc(n), x;

	printf("dmasync dma_resv benchmark\n");
	for (long i = 0; i < n; i++)
		f[i] = mk(ctx + (u64)i, 1);

	for (long k = 1000; k <= n; k *= 10) {
		x = bench_add(k, f);
		printf("add_fence, %7ld distinct fences      %8.1f ns/add   floor malloc+free %5.1f ns   ratio %5.2fx\n",
		       k, x, fl, x / fl);
	}

	for (unsigned s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
		int m = sizes[s];
		long iters = 2000000 / (m + 1);
		struct dma_resv obj;
		struct dma_fence *out;
		ktime_t t;
		double g, refs;

		dma_resv_init(&obj);
		fill(&obj, f, m);
		t = ktime_get();
		for (long i = 0; i < iters; i++) {
			dma_resv_get_singleton(&obj, DMA_RESV_USAGE_READ, &out);
			dma_fence_put(out);
		}
		g = since(t, iters);
		t = ktime_get();
		for (long i = 0; i < iters; i++)
			for (int j = 0; j < m; j++)
				dma_fence_put(dma_fence_get(f[j]));
		refs = since(t, iters);
		printf("get_singleton, N=%4d                 %8.1f ns  (%6.1f ns/fence)   floor N x get+put %7.1f ns\n",
		       m, g, m ? g / m : g, refs);
		dma_resv_fini(&obj);
	}

	{
		struct dma_resv obj;
		struct writer w;
		pthread_t th;
		double alone, contended;

		dma_resv_init(&obj);
		fill(&obj, f, 8);
		alone = bench_test_signaled(&obj, n);
		w = (struct writer){ &obj, f, 8, 0, 0 };
		pthread_create(&th, NULL, writer_main, &w);
		while (!__atomic_load_n(&w.rounds, __ATOMIC_RELAXED))
			sched_yield();
		contended = bench_test_signaled(&obj, n);
		__atomic_store_n(&w.stop, 1, __ATOMIC_RELEASE);
		pthread_join(th, NULL);
		printf("test_signaled (8 fences), no writer  %8.1f ns\n", alone);
		printf("test_signaled, writer replacing      %8.1f ns   ratio %5.2fx   (%ld writer updates meanwhile)\n",
		       contended, contended / alone, w.rounds);
		dma_resv_fini(&obj);
	}

	for (long i = 0; i < n; i++) {
		dma_fence_signal(f[i]);
		dma_fence_put(f[i]);
	}
	free(f);
	dmasync_rcu_barrier();
	return 0;
}
