/* SPDX-License-Identifier: MIT */
/*
 * dmasync - dma_fence_chain: one point of a timeline built from fences.
 *
 * A chain node ("link") wraps one ordinary fence and points at the previous
 * node of its timeline.  The node signals once its own fence and every
 * older node's fence have signaled, so waiting for the newest node waits
 * for the whole timeline up to its seqno.  Nodes use 64-bit seqnos.
 *
 * Walking a chain garbage-collects it: nodes whose fence has signaled are
 * unlinked as they are passed, so a long-lived timeline stays short.  Every
 * operation on a chain (walk, enable signaling, signaling, release) is
 * iterative; a chain of millions of nodes needs no more stack than one of
 * two.
 *
 * Nesting rule: chains link to chains only through @prev.  The fence a node
 * contains must not itself be a chain (warned at init); it may be a
 * dma_fence_array whose members are plain fences.
 *
 * dma_fence_is_container() (array or chain) lives in
 * <dmasync/dma-fence-array.h>.
 */
#ifndef DMASYNC_DMA_FENCE_CHAIN_H
#define DMASYNC_DMA_FENCE_CHAIN_H

#include <dmasync/dma-fence.h>

#ifdef __cplusplus
extern "C" {
#endif

/**
 * struct dmasync_irq_work_slot - storage for the library's private deferred
 * work item inside public container structures.  Not for use by callers.
 */
struct dmasync_irq_work_slot {
	void *opaque[3];
};

/**
 * struct dma_fence_chain - one node of a fence timeline.
 * @base: the node's own fence (64-bit seqno, driver name
 *	"dma_fence_chain", timeline "unbound").
 * @prev: the previous node (or a plain fence, or NULL); holds a reference.
 *	Replaced concurrently by garbage collection: read it only through
 *	dma_fence_chain_walk() or with rcu_dereference() inside an RCU
 *	read-side section plus dma_fence_get_rcu_safe().
 * @prev_seqno: seqno of @prev when it was on the same timeline, else 0.
 * @fence: the contained fence; the node holds a reference.
 * @cb: private: callback armed on the first unsignaled contained fence.
 * @work: private: deferred re-arm/signal work.
 * @lock: the lock of @base.
 */
struct dma_fence_chain {
	struct dma_fence base;
	struct dma_fence __rcu *prev;
	u64 prev_seqno;
	struct dma_fence *fence;
	struct dma_fence_cb cb;
	struct dmasync_irq_work_slot work;
	spinlock_t lock;
};

/** dma_fence_chain_ops - the operations of every chain node. */
DMASYNC_EXPORT extern const struct dma_fence_ops dma_fence_chain_ops;

/**
 * dma_fence_is_chain - whether @fence is a dma_fence_chain node.
 * @fence: a fence, or NULL (not a chain)
 *
 * Return: true for a chain node.
 */
static inline bool dma_fence_is_chain(struct dma_fence *fence)
{
	return fence && fence->ops == &dma_fence_chain_ops;
}

/**
 * to_dma_fence_chain - downcast a fence to its chain node.
 * @fence: a fence, or NULL
 *
 * Return: the node, or NULL if @fence is NULL or not a chain node.
 */
static inline struct dma_fence_chain *to_dma_fence_chain(struct dma_fence *fence)
{
	if (!dma_fence_is_chain(fence))
		return NULL;
	return container_of(fence, struct dma_fence_chain, base);
}

/**
 * dma_fence_chain_contained - the fence a chain node wraps.
 * @fence: a fence, or NULL
 *
 * No reference is taken; the result lives as long as @fence.
 *
 * Return: the node's contained fence if @fence is a chain node, otherwise
 * @fence itself (NULL for NULL).
 */
DMASYNC_EXPORT struct dma_fence *dma_fence_chain_contained(struct dma_fence *fence);

/**
 * dma_fence_chain_alloc - allocate an uninitialised chain node.
 *
 * Pass it to dma_fence_chain_init(), after which it is freed by its last
 * dma_fence_put(); a node that was never initialised is freed with
 * dma_fence_chain_free().
 *
 * Return: the node, or NULL if out of memory.
 */
DMASYNC_EXPORT struct dma_fence_chain *dma_fence_chain_alloc(void);

/**
 * dma_fence_chain_free - free a node that dma_fence_chain_init() never saw.
 * @chain: the node from dma_fence_chain_alloc(), or NULL
 *
 * Never call it on an initialised node: those are reference counted.
 */
DMASYNC_EXPORT void dma_fence_chain_free(struct dma_fence_chain *chain);

/**
 * dma_fence_chain_init - initialise a node and append it to a timeline.
 * @chain: a node from dma_fence_chain_alloc()
 * @prev: the previous point: a chain node, a plain fence or NULL.  The
 *	node takes over the caller's reference.
 * @fence: the fence of this point; the node takes over the caller's
 *	reference.  Must not be NULL (aborts) nor a chain node (warned).
 * @seqno: the point's 64-bit seqno
 *
 * If @prev is a chain node and @seqno is later than its seqno, the node
 * joins @prev's timeline: same context, @prev_seqno = @prev->seqno.
 * Otherwise the node starts a new timeline (fresh context, @prev_seqno 0)
 * and, when @prev is a chain node, its seqno is raised to at least
 * @prev->seqno so that it never claims to be earlier than what it
 * includes.
 *
 * The node starts with one reference, the caller's.  No locks needed.
 */
DMASYNC_EXPORT void dma_fence_chain_init(struct dma_fence_chain *chain, struct dma_fence *prev,
					 struct dma_fence *fence, u64 seqno);

/**
 * dma_fence_chain_walk - step to the next older node, collecting garbage.
 * @fence: the current node; the caller's reference is consumed
 *
 * Predecessors whose contained fence has signaled are unlinked from
 * @fence (atomically, so concurrent walkers are safe) and skipped.  Takes
 * no lock of @fence; may take the locks of contained fences to poll them.
 * Must not be called with a fence lock held that a contained fence uses.
 *
 * Return: a new reference to the next older unsignaled node (or to a
 * plain fence ending the chain), or NULL at the end of the chain or if
 * @fence is not a chain node.
 */
DMASYNC_EXPORT struct dma_fence *dma_fence_chain_walk(struct dma_fence *fence);

/**
 * dma_fence_chain_for_each - walk a chain from @head to its oldest node.
 * @iter: a struct dma_fence * cursor; holds a reference while in the loop
 * @head: the starting fence (evaluated once; any fence, NULL for none)
 *
 * Visits @head and then each older node that has not yet signaled.  A
 * non-chain @head is visited once.  Leaving the loop early with break
 * keeps the reference in @iter: drop it with dma_fence_put(@iter).
 */
#define dma_fence_chain_for_each(iter, head) \
	for ((iter) = dma_fence_get(head); (iter); (iter) = dma_fence_chain_walk(iter))

/**
 * dma_fence_chain_find_seqno - find the node that signals timeline point
 * @seqno.
 * @pfence: in: a reference to a chain node (normally a timeline's newest);
 *	out: a reference to the node whose signaling completes @seqno, or
 *	NULL if @seqno has already signaled
 * @seqno: the point to look for; 0 means "no point" and is a no-op
 *
 * Seqnos between two nodes (gaps) resolve to the next newer node.  The
 * walk collects signaled nodes as dma_fence_chain_walk() does.  The
 * reference passed in through *@pfence is consumed on success.
 *
 * Return: 0 on success (also for @seqno 0, leaving *@pfence alone);
 * -EINVAL, leaving *@pfence alone, if *@pfence is not a chain node or
 * @seqno is later than its seqno (a future point).
 */
DMASYNC_EXPORT int dma_fence_chain_find_seqno(struct dma_fence **pfence, u64 seqno);

#ifdef __cplusplus
}
#endif

#endif /* DMASYNC_DMA_FENCE_CHAIN_H */
