/* SPDX-License-Identifier: MIT */
/*
 * dmasync - dma_fence_array: one fence standing for a set of fences.
 *
 * The array signals when all of its members have signaled or, created with
 * @signal_on_any, when the first one has.  The first member error seen is
 * the array's error.  Signaling is enabled lazily: until somebody waits on
 * the array or adds a callback to it, the members are only polled (by
 * dma_fence_is_signaled()) and get no callbacks.
 *
 * Arrays must be flat: a member must never be an array or a chain
 * (warned at creation).  Use dma_fence_unwrap_merge() to combine fences
 * that may be containers.
 *
 * Arrays use 32-bit seqno ordering and are named "dma_fence_array" /
 * "unbound".
 */
#ifndef DMASYNC_DMA_FENCE_ARRAY_H
#define DMASYNC_DMA_FENCE_ARRAY_H

#include <dmasync/dma-fence.h>
#include <dmasync/dma-fence-chain.h>

#ifdef __cplusplus
extern "C" {
#endif

struct dma_fence_array;

/**
 * struct dma_fence_array_cb - private: the callback an array arms on one
 * member.
 * @cb: the callback slot
 * @array: the array it belongs to
 */
struct dma_fence_array_cb {
	struct dma_fence_cb cb;
	struct dma_fence_array *array;
};

/**
 * struct dma_fence_array - a fence aggregating other fences.
 * @base: the array's own fence
 * @lock: the lock of @base
 * @num_fences: number of members
 * @num_pending: private: members still to signal (atomic)
 * @fences: the members; the array owns the malloc()ed vector and one
 *	reference per member
 * @work: private: deferred signaling
 * @callbacks: private: one callback slot per member
 */
struct dma_fence_array {
	struct dma_fence base;
	spinlock_t lock;
	unsigned int num_fences;
	int num_pending;
	struct dma_fence **fences;
	struct dmasync_irq_work_slot work;
	struct dma_fence_array_cb callbacks[];
};

/** dma_fence_array_ops - the operations of every fence array. */
DMASYNC_EXPORT extern const struct dma_fence_ops dma_fence_array_ops;

/**
 * dma_fence_is_array - whether @fence is a dma_fence_array.
 * @fence: a fence, or NULL (not an array)
 */
static inline bool dma_fence_is_array(struct dma_fence *fence)
{
	return fence && fence->ops == &dma_fence_array_ops;
}

/**
 * dma_fence_is_container - whether @fence is an array or a chain node,
 * i.e. a fence that other fences are hidden in.
 * @fence: a fence, or NULL (not a container)
 */
static inline bool dma_fence_is_container(struct dma_fence *fence)
{
	return dma_fence_is_array(fence) || dma_fence_is_chain(fence);
}

/**
 * to_dma_fence_array - downcast a fence to its array.
 * @fence: a fence, or NULL
 *
 * Return: the array, or NULL if @fence is NULL or not an array.
 */
static inline struct dma_fence_array *to_dma_fence_array(struct dma_fence *fence)
{
	if (!dma_fence_is_array(fence))
		return NULL;
	return container_of(fence, struct dma_fence_array, base);
}

/**
 * dma_fence_array_alloc - allocate an array for @num_fences members.
 * @num_fences: the number of members dma_fence_array_init() will get
 *
 * Lets callers allocate before entering a section where they must not
 * allocate (the fence signaling path), then dma_fence_array_init().  Until
 * it is initialised the memory is freed with free(); afterwards by the
 * array's last dma_fence_put().
 *
 * Return: zeroed memory, or NULL if out of memory or @num_fences is
 * negative (warned).
 */
DMASYNC_EXPORT struct dma_fence_array *dma_fence_array_alloc(int num_fences);

/**
 * dma_fence_array_init - initialise an array from dma_fence_array_alloc().
 * @array: memory from dma_fence_array_alloc(@num_fences) (or larger)
 * @num_fences: number of members
 * @fences: malloc()ed vector of @num_fences referenced fences
 * @context: the array's fence context
 * @seqno: the array's (32-bit) seqno
 * @signal_on_any: signal when the first member does instead of the last
 *
 * Takes ownership of @fences and of the member references: they are
 * dropped and the vector freed when the array is released.  Members that
 * are containers are warned about (nesting is forbidden).  @num_fences 0
 * or a NULL @fences is a caller bug: it is warned about and yields an
 * array with no members, which counts as signaled.  Never fails.
 */
DMASYNC_EXPORT void dma_fence_array_init(struct dma_fence_array *array, int num_fences,
					 struct dma_fence **fences, u64 context,
					 unsigned int seqno, bool signal_on_any);

/**
 * dma_fence_array_create - allocate and initialise a fence array.
 * @num_fences: number of members, at least 1
 * @fences: malloc()ed vector of @num_fences referenced fences
 * @context: the array's fence context
 * @seqno: the array's (32-bit) seqno
 * @signal_on_any: signal when the first member does instead of the last
 *
 * On success the array owns @fences and the member references (see
 * dma_fence_array_init()) and the caller owns the array's one reference.
 * No locks are taken; nothing is enabled until someone waits.
 *
 * Return: the array, or NULL if out of memory or (with a warning) if
 * @num_fences is not positive or @fences is NULL.  On NULL the caller
 * still owns @fences and its references.
 */
DMASYNC_EXPORT struct dma_fence_array *dma_fence_array_create(int num_fences,
							       struct dma_fence **fences,
							       u64 context, unsigned int seqno,
							       bool signal_on_any);

/**
 * dma_fence_match_context - whether @fence belongs entirely to @context.
 * @fence: a fence or fence array
 * @context: the context to test for
 *
 * Return: for an array, true if every member has @context; for any other
 * fence, true if it has @context.
 */
DMASYNC_EXPORT bool dma_fence_match_context(struct dma_fence *fence, u64 context);

/**
 * dma_fence_array_first - start iterating over the members of @head.
 * @head: an array, another fence, or NULL
 *
 * No reference is taken: the result lives as long as the caller's
 * reference to @head.
 *
 * Return: NULL for a NULL @head; @head itself if it is not an array; the
 * first member of an array, or NULL if the array has no members.
 */
DMASYNC_EXPORT struct dma_fence *dma_fence_array_first(struct dma_fence *head);

/**
 * dma_fence_array_next - the member of @head at @index.
 * @head: an array, another fence, or NULL
 * @index: the member index
 *
 * Return: the member (no reference taken), or NULL if @head is not an
 * array or @index is not below its number of members.
 */
DMASYNC_EXPORT struct dma_fence *dma_fence_array_next(struct dma_fence *head, unsigned int index);

#define __DMA_FENCE_ARRAY_CAT2(a, b) a##b
#define __DMA_FENCE_ARRAY_CAT(a, b) __DMA_FENCE_ARRAY_CAT2(a, b)
#define __dma_fence_array_for_each(fence, index, head, h, once)                   \
	for (struct dma_fence *h = (head),                                        \
			      *once __attribute__((unused)) =                     \
				      ((index) = 0, (fence) = dma_fence_array_first(h)); \
	     (fence); (fence) = dma_fence_array_next(h, ++(index)))

/**
 * dma_fence_array_for_each - iterate over the members of an array.
 * @fence: a struct dma_fence * receiving each member (no reference taken)
 * @index: an unsigned int receiving each member's index
 * @head: an array (visits its members), another fence (visited once) or
 *	NULL (no iteration); evaluated exactly once
 *
 * The caller must hold a reference to @head for the whole loop.  Leaving
 * the loop early with break is fine.
 */
#define dma_fence_array_for_each(fence, index, head)                              \
	__dma_fence_array_for_each(fence, index, head,                            \
				   __DMA_FENCE_ARRAY_CAT(__dfa_head_, __COUNTER__), \
				   __DMA_FENCE_ARRAY_CAT(__dfa_once_, __COUNTER__))

#ifdef __cplusplus
}
#endif

#endif /* DMASYNC_DMA_FENCE_ARRAY_H */
