/* SPDX-License-Identifier: MIT */
/*
 * dmasync - looking inside fence containers, and merging fences.
 *
 * dma_fence_unwrap_for_each() visits the plain fences hidden in a fence:
 * the contained fences of a chain's nodes (newest first), the members of
 * an array, and the members of arrays contained in chain nodes.  A plain
 * fence is its own only leaf.
 *
 * dma_fence_unwrap_merge() builds one flat fence that signals when all of
 * its arguments have: signaled leaves are dropped, leaves of one context
 * are reduced to the latest, and what remains becomes a dma_fence_array
 * (or the single remaining fence, or a signaled stub).
 */
#ifndef DMASYNC_DMA_FENCE_UNWRAP_H
#define DMASYNC_DMA_FENCE_UNWRAP_H

#include <dmasync/dma-fence.h>
#include <dmasync/dma-fence-array.h>
#include <dmasync/dma-fence-chain.h>

#ifdef __cplusplus
extern "C" {
#endif

/**
 * struct dma_fence_unwrap - cursor of dma_fence_unwrap_for_each().
 * @chain: the chain node being visited; holds a reference while the
 *	iteration runs (NULL once it ended)
 * @array: the fence whose members are being visited (the node's
 *	contained fence)
 * @index: index of the current member in @array
 */
struct dma_fence_unwrap {
	struct dma_fence *chain;
	struct dma_fence *array;
	unsigned int index;
};

/**
 * dma_fence_unwrap_first - start iterating over the leaves of @head.
 * @head: any fence, or NULL; the caller keeps its reference for the
 *	whole iteration
 * @cursor: the cursor to initialise
 *
 * Takes a reference to @head into @cursor, dropped when the iteration
 * runs off the end.  Signaled leaves are not filtered out (chain nodes
 * whose fence signaled may be skipped, as dma_fence_chain_walk() collects
 * them).  Must not be called with a fence lock held.
 *
 * Return: the first leaf (no reference taken), or NULL if there is none.
 */
DMASYNC_EXPORT struct dma_fence *dma_fence_unwrap_first(struct dma_fence *head,
							struct dma_fence_unwrap *cursor);

/**
 * dma_fence_unwrap_next - the next leaf.
 * @cursor: a cursor set up by dma_fence_unwrap_first()
 *
 * Return: the next leaf (no reference taken), or NULL at the end, at
 * which point the cursor holds no reference any more.
 */
DMASYNC_EXPORT struct dma_fence *dma_fence_unwrap_next(struct dma_fence_unwrap *cursor);

/**
 * dma_fence_unwrap_for_each - iterate over the leaves inside a fence.
 * @fence: a struct dma_fence * receiving each leaf (no reference taken)
 * @cursor: a struct dma_fence_unwrap *
 * @head: the fence to look into (evaluated once)
 *
 * Leaving the loop early with break keeps a reference in @cursor->chain:
 * drop it with dma_fence_put(@cursor->chain).
 */
#define dma_fence_unwrap_for_each(fence, cursor, head)                            \
	for ((fence) = dma_fence_unwrap_first((head), (cursor)); (fence);          \
	     (fence) = dma_fence_unwrap_next(cursor))

/**
 * dma_fence_dedup_array - sort fences by context and keep the latest per
 * context.
 * @fences: referenced fences (not containers); reordered in place
 * @num_fences: number of entries
 *
 * Within a context the later seqno (dma_fence_is_later()) is kept; the
 * references of the dropped fences are put.  Takes no locks.  O(n log n).
 *
 * Return: the number of fences left at the front of @fences, sorted by
 * ascending context.
 */
DMASYNC_EXPORT int dma_fence_dedup_array(struct dma_fence **fences, int num_fences);

/**
 * __dma_fence_unwrap_merge - implementation of dma_fence_unwrap_merge().
 * @num_fences: number of entries in @fences
 * @fences: the fences to merge (any kind, containers included; NULL
 *	entries are not allowed); the caller keeps its references
 * @cursors: scratch space for @num_fences cursors, or NULL
 *
 * Collects the unsignaled leaves of all @fences, keeps the latest per
 * context and returns a fence that signals once all of them have:
 *  - no unsignaled leaf: a new private stub, already signaled, carrying
 *    the latest timestamp of the signaled leaves (now if there were none);
 *  - one: a new reference to that leaf;
 *  - several: a new dma_fence_array over them (fresh context, seqno 1,
 *    signals when all do).
 * The result is never a container of containers.  O(n log n) in the
 * number of leaves.  Must not be called with a fence lock held.
 *
 * Return: a new reference to the merged fence, or NULL if out of memory.
 */
DMASYNC_EXPORT struct dma_fence *__dma_fence_unwrap_merge(unsigned int num_fences,
							  struct dma_fence **fences,
							  struct dma_fence_unwrap *cursors);

#define __DMA_FENCE_UNWRAP_NARGS(...) \
	((unsigned int)(sizeof((struct dma_fence *[]){ __VA_ARGS__ }) / sizeof(struct dma_fence *)))

/**
 * dma_fence_unwrap_merge - merge fences into one flat fence.
 * @...: one or more struct dma_fence * (each evaluated once; caller keeps
 *	its references)
 *
 * See __dma_fence_unwrap_merge().  Return: a new reference to the merged
 * fence, or NULL if out of memory.
 */
#define dma_fence_unwrap_merge(...)                                               \
	__dma_fence_unwrap_merge(__DMA_FENCE_UNWRAP_NARGS(__VA_ARGS__),            \
				 (struct dma_fence *[]){ __VA_ARGS__ }, NULL)

#ifdef __cplusplus
}
#endif

#endif /* DMASYNC_DMA_FENCE_UNWRAP_H */
