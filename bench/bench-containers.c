/* SPDX-License-Identifier: MIT */
/*
 * Container benchmarks.  The floor, measured in the same run, is one
 * malloc+free pair of a fence-sized block; the per-member / per-fence /
 * per-node figure of every row is also printed as a multiple of it.
 *   array of N:  create N fences + array, enable, signal all, put all
 *                (ns per array, per member, and the array's own share
 *                per member over the same loop without the array)
 *   find_seqno:  on a 4096-node chain, random points (ns per call and per
 *                node walked) and the head itself
 *   unwrap_merge of N pending fences on N contexts, and of N/8 arrays of 8:
 *                ns per merge and per fence; flat ns/fence across N means
 *                linear, growth by log N means the sort dominates
 * Usage: bench-containers [time budget per row in ms, default 60]
 */
#include <stdio.h>
#include <stdlib.h>

#include <dmasync/dma-fence-array.h>
#include <dmasync/dma-fence-chain.h>
#include <dmasync/dma-fence-unwrap.h>

static DEFINE_SPINLOCK(lock);
static const char *name(struct dma_fence *f) { return "bench"; }
static const struct dma_fence_ops ops = { .get_driver_name = name, .get_timeline_name = name };
static ktime_t budget_ns = 60 * 1000 * 1000;

static struct dma_fence *fence_new(u64 ctx, u64 seqno)
{
	struct dma_fence *f = malloc(sizeof(*f));

	if (!f)
		abort();
	dma_fence_init(f, &ops, &lock, ctx, seqno);
	return f;
}

/* Run @fn(@arg, @batch) repeatedly for about the time budget; return ns
 * per call of @fn. */
static double timed(void (*fn)(void *arg, long batch), void *arg, long batch)
{
	long calls = 0;
	ktime_t start = ktime_get(), end;

	fn(arg, batch); /* warm-up */
	start = ktime_get();
	do {
		fn(arg, batch);
		calls += batch;
		end = ktime_get();
	} while (end - start < budget_ns);
	return (double)(end - start) / (double)calls;
}

/* ---- floor ----------------------------------------------------------------- */

static void malloc_free(void *arg, long n)
{
	for (long i = 0; i < n; i++) {
		void *volatile p = malloc(sizeof(struct dma_fence));

		free(p);
	}
}

/* ---- arrays -------------------------------------------------------------- */

struct array_arg {
	int n;
	bool with_array;
	u64 ctx;
	struct dma_fence **members;
};

static void array_cycle(void *p, long reps)
{
	struct array_arg *a = p;

	for (long r = 0; r < reps; r++) {
		struct dma_fence **v = a->with_array ? malloc((size_t)a->n * sizeof(*v)) : a->members;
		struct dma_fence_array *arr = NULL;

		for (int i = 0; i < a->n; i++)
			v[i] = fence_new(a->ctx + (u64)i, 1);
		if (a->with_array) {
			arr = dma_fence_array_create(a->n, v, a->ctx, 1, false);
			if (!arr)
				abort();
			dma_fence_enable_sw_signaling(&arr->base);
		}
		for (int i = 0; i < a->n; i++)
			dma_fence_signal(v[i]);
		if (arr) {
			if (!dma_fence_test_signaled_flag(&arr->base))
				abort();
			dma_fence_put(&arr->base);
		} else {
			for (int i = 0; i < a->n; i++)
				dma_fence_put(v[i]);
		}
	}
}

/* ---- chain find_seqno ------------------------------------------------------ */

struct find_arg {
	struct dma_fence *head;
	u64 depth;
	bool head_only;
	unsigned int seed;
};

static void find_cycle(void *p, long reps)
{
	struct find_arg *a = p;

	for (long r = 0; r < reps; r++) {
		u64 s = a->head_only ? a->depth : 1 + (u64)rand_r(&a->seed) % a->depth;
		struct dma_fence *f = dma_fence_get(a->head);

		if (dma_fence_chain_find_seqno(&f, s) || !f || f->seqno != s)
			abort();
		dma_fence_put(f);
	}
}

/* ---- merge ------------------------------------------------------------------ */

struct merge_arg {
	unsigned int n;
	struct dma_fence **in;
};

static void merge_cycle(void *p, long reps)
{
	struct merge_arg *a = p;

	for (long r = 0; r < reps; r++) {
		struct dma_fence *m = __dma_fence_unwrap_merge(a->n, a->in, NULL);

		if (!m)
			abort();
		dma_fence_put(m);
	}
}

static void report(const char *what, double ns, const char *unit, double per, const char *per_unit,
		   double floor_ns)
{
	printf("%-30s %10.1f ns/%-6s %8.1f ns/%-7s = %6.2fx floor\n", what, ns, unit, per,
	       per_unit, per / floor_ns);
}

int main(int argc, char **argv)
{
	double floor_ns;
	char label[64];

	if (argc > 1)
		budget_ns = (ktime_t)atol(argv[1]) * 1000 * 1000;

	printf("dmasync container benchmark (%.0f ms per row)\n", (double)budget_ns / 1e6);
	floor_ns = timed(malloc_free, NULL, 100000);
	printf("%-30s %10.1f ns/pair\n\n", "floor: malloc+free (96 B)", floor_ns);

	printf("dma_fence_array: create N fences + array, enable, signal all, release\n");
	for (int n = 1; n <= 1024; n *= 4) {
		struct dma_fence **scratch = malloc((size_t)n * sizeof(*scratch));
		struct array_arg with = { n, true, dma_fence_context_alloc((unsigned int)n), NULL };
		struct array_arg without = { n, false, with.ctx, scratch };
		long batch = 4096 / n + 1;
		double ns = timed(array_cycle, &with, batch);
		double base = timed(array_cycle, &without, batch);

		snprintf(label, sizeof(label), "  array N=%d", n);
		report(label, ns, "array", ns / n, "member", floor_ns);
		printf("%-30s %10.1f ns/member of that is the array's (= %.2fx floor)\n", "",
		       (ns - base) / n, (ns - base) / n / floor_ns);
		free(scratch);
	}

	printf("\ndma_fence_chain_find_seqno, chain of 4096 pending nodes\n");
	{
		struct dma_fence *head = NULL, **fences = malloc(4096 * sizeof(*fences));
		u64 ctx = dma_fence_context_alloc(1);
		struct find_arg rnd = { .depth = 4096, .seed = 1 };
		struct find_arg top = { .depth = 4096, .head_only = true };
		double ns;

		for (u64 i = 1; i <= 4096; i++) {
			struct dma_fence_chain *c = dma_fence_chain_alloc();

			fences[i - 1] = fence_new(ctx, i);
			dma_fence_chain_init(c, head, dma_fence_get(fences[i - 1]), i);
			head = &c->base;
		}
		rnd.head = top.head = head;
		ns = timed(find_cycle, &rnd, 64);
		/* Uniform points: 2047.5 nodes walked per call on average. */
		report("  random seqno", ns, "call", ns / 2047.5, "node", floor_ns);
		ns = timed(find_cycle, &top, 1024);
		report("  head seqno", ns, "call", ns, "call", floor_ns);
		for (int i = 0; i < 4096; i++) {
			dma_fence_signal(fences[i]);
			dma_fence_put(fences[i]);
		}
		dma_fence_put(head);
		free(fences);
	}

	printf("\ndma_fence_unwrap_merge of N pending fences (distinct contexts, shuffled)\n");
	for (unsigned int n = 2; n <= 1024; n *= 2) {
		struct dma_fence **in = malloc(n * sizeof(*in));
		struct merge_arg a = { n, in };
		u64 ctx = dma_fence_context_alloc(n);
		unsigned int seed = n;
		double ns;

		for (unsigned int i = 0; i < n; i++)
			in[i] = fence_new(ctx + i, 1);
		for (unsigned int i = n - 1; i > 0; i--) {
			unsigned int j = (unsigned int)rand_r(&seed) % (i + 1);
			struct dma_fence *t = in[i];

			in[i] = in[j];
			in[j] = t;
		}
		ns = timed(merge_cycle, &a, 2048 / n + 1);
		snprintf(label, sizeof(label), "  merge N=%u", n);
		report(label, ns, "merge", ns / n, "fence", floor_ns);
		for (unsigned int i = 0; i < n; i++) {
			dma_fence_signal(in[i]);
			dma_fence_put(in[i]);
		}
		free(in);
	}

	printf("\ndma_fence_unwrap_merge of N/8 arrays of 8 pending fences\n");
	for (unsigned int n = 16; n <= 1024; n *= 4) {
		unsigned int groups = n / 8;
		struct dma_fence **in = malloc(groups * sizeof(*in));
		struct dma_fence **leaves = malloc(n * sizeof(*leaves));
		struct merge_arg a = { groups, in };
		u64 ctx = dma_fence_context_alloc(n);
		double ns;

		for (unsigned int g = 0; g < groups; g++) {
			struct dma_fence **v = malloc(8 * sizeof(*v));
			struct dma_fence_array *arr;

			for (unsigned int j = 0; j < 8; j++) {
				v[j] = fence_new(ctx + g + j * groups, 1);
				leaves[g * 8 + j] = dma_fence_get(v[j]);
			}
			arr = dma_fence_array_create(8, v, dma_fence_context_alloc(1), 1, false);
			if (!arr)
				abort();
			in[g] = &arr->base;
		}
		ns = timed(merge_cycle, &a, 2048 / n + 1);
		snprintf(label, sizeof(label), "  merge %u arrays (N=%u)", groups, n);
		report(label, ns, "merge", ns / n, "fence", floor_ns);
		for (unsigned int i = 0; i < n; i++) {
			dma_fence_signal(leaves[i]);
			dma_fence_put(leaves[i]);
		}
		for (unsigned int g = 0; g < groups; g++)
			dma_fence_put(in[g]);
		free(in);
		free(leaves);
	}
	dmasync_rcu_barrier();
	return 0;
}
