/* SPDX-License-Identifier: MIT */
/*
 * Unwrapping fence containers, deduplication and merging.
 *
 * Containers are at most two levels deep: chain nodes whose contained
 * fence may be an array of plain fences.  The cursor holds a reference to
 * the current chain node (dma_fence_chain_walk() hands it from node to
 * node) and an index into the node's contained fence.
 */
#include <stdlib.h>

#include <dmasync/dma-fence-unwrap.h>
#include "debug.h"

/*
 * Position @cursor on the first leaf at or after its chain node.  A node
 * whose contained fence is an (invalid) empty array has no leaf: move on
 * to the next node instead of ending the whole iteration there.
 */
static struct dma_fence *unwrap_descend(struct dma_fence_unwrap *cursor)
{
	for (;;) {
		struct dma_fence *leaf;

		cursor->array = dma_fence_chain_contained(cursor->chain);
		cursor->index = 0;
		leaf = dma_fence_array_first(cursor->array);
		if (leaf || !cursor->chain)
			return leaf;
		cursor->chain = dma_fence_chain_walk(cursor->chain);
	}
}

struct dma_fence *dma_fence_unwrap_first(struct dma_fence *head, struct dma_fence_unwrap *cursor)
{
	cursor->chain = dma_fence_get(head);
	return unwrap_descend(cursor);
}

struct dma_fence *dma_fence_unwrap_next(struct dma_fence_unwrap *cursor)
{
	struct dma_fence *leaf;

	leaf = dma_fence_array_next(cursor->array, ++cursor->index);
	if (leaf)
		return leaf;
	cursor->chain = dma_fence_chain_walk(cursor->chain);
	return unwrap_descend(cursor);
}

static int cmp_context(const void *a, const void *b)
{
	const struct dma_fence *fa = *(struct dma_fence *const *)a;
	const struct dma_fence *fb = *(struct dma_fence *const *)b;

	return (fa->context > fb->context) - (fa->context < fb->context);
}

int dma_fence_dedup_array(struct dma_fence **fences, int num_fences)
{
	int kept = 0;

	if (num_fences <= 0)
		return 0;

	/*
	 * Sort on the context alone: a total order, unlike the wrapping
	 * 32-bit seqno comparison, which is not transitive and must not be
	 * handed to a sort.  The latest fence of each run of equal contexts
	 * is then found with a linear scan.
	 */
	qsort(fences, (size_t)num_fences, sizeof(*fences), cmp_context);

	for (int start = 0; start < num_fences;) {
		int best = start, end = start + 1;

		while (end < num_fences && fences[end]->context == fences[start]->context) {
			if (dma_fence_is_later(fences[end], fences[best])) {
				dma_fence_put(fences[best]);
				best = end;
			} else {
				dma_fence_put(fences[end]);
			}
			end++;
		}
		fences[kept++] = fences[best]; /* kept <= start <= best */
		start = end;
	}
	return kept;
}

struct merge_ts {
	ktime_t latest;
	bool valid;
};

static void note_timestamp(struct merge_ts *ts, struct dma_fence *fence)
{
	ktime_t t = dma_fence_timestamp(fence);

	if (!ts->valid || t > ts->latest) {
		ts->latest = t;
		ts->valid = true;
	}
}

static struct dma_fence *merge_stub(const struct merge_ts *ts)
{
	return dma_fence_allocate_private_stub(ts->valid ? ts->latest : ktime_get());
}

struct dma_fence *__dma_fence_unwrap_merge(unsigned int num_fences, struct dma_fence **fences,
					   struct dma_fence_unwrap *cursors)
{
	struct merge_ts ts = { 0, false };
	struct dma_fence *leaf, *last = NULL, **vec;
	struct dma_fence_unwrap local;
	size_t pending = 0, n = 0, cap;

	/*
	 * Pass 1 counts the pending leaves, keeping a reference to the last
	 * one so that the common "one fence left" case needs no allocation.
	 */
	for (unsigned int i = 0; i < num_fences; i++) {
		struct dma_fence_unwrap *cur = cursors ? &cursors[i] : &local;

		dma_fence_unwrap_for_each(leaf, cur, fences[i]) {
			if (dma_fence_is_signaled(leaf)) {
				note_timestamp(&ts, leaf);
				continue;
			}
			dma_fence_put(last);
			last = dma_fence_get(leaf);
			pending++;
		}
	}
	if (pending == 0)
		return merge_stub(&ts);
	if (pending == 1)
		return last;
	dma_fence_put(last);

	/*
	 * Pass 2 collects references.  Leaves only ever become signaled and
	 * chains only lose signaled nodes, so at most @pending are found; the
	 * vector still grows if that were ever violated.
	 */
	cap = pending;
	vec = malloc(cap * sizeof(*vec));
	if (!vec)
		return NULL;
	for (unsigned int i = 0; i < num_fences; i++) {
		struct dma_fence_unwrap *cur = cursors ? &cursors[i] : &local;

		dma_fence_unwrap_for_each(leaf, cur, fences[i]) {
			if (dma_fence_is_signaled(leaf)) {
				note_timestamp(&ts, leaf);
				continue;
			}
			if (n == cap) {
				struct dma_fence **bigger = realloc(vec, 2 * cap * sizeof(*vec));

				if (!bigger) {
					dma_fence_put(cur->chain);
					goto err_put_vec;
				}
				vec = bigger;
				cap *= 2;
			}
			vec[n++] = dma_fence_get(leaf);
		}
	}

	if (n > 1)
		n = (size_t)dma_fence_dedup_array(vec, (int)n);

	if (n > 1) {
		struct dma_fence_array *array;

		array = dma_fence_array_create((int)n, vec, dma_fence_context_alloc(1), 1, false);
		if (!array)
			goto err_put_vec;
		return &array->base; /* owns @vec and its references now */
	}

	leaf = n ? vec[0] : merge_stub(&ts);
	free(vec);
	return leaf;

err_put_vec:
	while (n)
		dma_fence_put(vec[--n]);
	free(vec);
	return NULL;
}
