/* SPDX-License-Identifier: MIT */
/*
 * dma_fence_chain: timeline nodes linked newest to oldest.
 *
 * Each node owns a reference to its contained fence and one to @prev.
 * Nothing here recurses along the chain:
 *  - walking is a loop that swings @prev past signaled nodes with a
 *    compare-and-swap (concurrent walkers may race; the loser just drops
 *    the reference it prepared);
 *  - signaling is driven by ONE callback per waited-on node, armed on the
 *    newest contained fence that has not signaled yet; when it fires, an
 *    irq_work (run by the signaling thread once it holds no lock) re-arms
 *    it further down the chain or, if nothing is left, signals the node;
 *  - release unlinks predecessors it holds the only reference to in a
 *    loop, so dropping a million-node chain frees it node by node.
 */
#include <stdlib.h>

#include <dmasync/dma-fence-chain.h>
#include "debug.h"
#include "irq_work.h"

_Static_assert(sizeof(struct irq_work) <= sizeof(struct dmasync_irq_work_slot),
	       "irq_work slot too small");
_Static_assert(_Alignof(struct irq_work) <= _Alignof(struct dmasync_irq_work_slot),
	       "irq_work slot misaligned");

static bool chain_arm(struct dma_fence_chain *head);

/*
 * Out of line on purpose: inlined into a caller that passes a fence of a
 * known smaller type, GCC's -Warray-bounds flags the (dead) chain branch.
 */
struct dma_fence *dma_fence_chain_contained(struct dma_fence *fence)
{
	struct dma_fence_chain *chain = to_dma_fence_chain(fence);

	return chain ? chain->fence : fence;
}

static inline struct irq_work *chain_work(struct dma_fence_chain *chain)
{
	return (struct irq_work *)(void *)&chain->work;
}

static inline struct dma_fence *chain_prev_raw(struct dma_fence_chain *chain)
{
	return __atomic_load_n(&chain->prev, __ATOMIC_ACQUIRE);
}

/* A counted reference to @chain's current predecessor (or NULL). */
static struct dma_fence *chain_get_prev(struct dma_fence_chain *chain)
{
	struct dma_fence *prev;

	rcu_read_lock();
	prev = dma_fence_get_rcu_safe(&chain->prev);
	rcu_read_unlock();
	return prev;
}

struct dma_fence *dma_fence_chain_walk(struct dma_fence *fence)
{
	struct dma_fence_chain *chain = to_dma_fence_chain(fence);
	struct dma_fence *prev;

	if (!chain) {
		dma_fence_put(fence);
		return NULL;
	}

	while ((prev = chain_get_prev(chain))) {
		struct dma_fence_chain *prev_chain = to_dma_fence_chain(prev);
		struct dma_fence *skip_to, *expected;

		/* Stop at the first predecessor that still has work pending. */
		if (!dma_fence_is_signaled(dma_fence_chain_contained(prev)))
			break;

		/* @prev is done: make @chain point past it. */
		skip_to = prev_chain ? chain_get_prev(prev_chain) : NULL;
		expected = prev;
		if (__atomic_compare_exchange_n(&chain->prev, &expected, skip_to, false,
						__ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
			dma_fence_put(prev);	/* the reference @chain->prev held */
		else
			dma_fence_put(skip_to);	/* somebody else moved it; retry */
		dma_fence_put(prev);		/* ours */
	}

	dma_fence_put(fence);
	return prev;
}

int dma_fence_chain_find_seqno(struct dma_fence **pfence, u64 seqno)
{
	struct dma_fence_chain *chain;
	struct dma_fence *iter;

	if (!seqno)
		return 0;

	chain = to_dma_fence_chain(*pfence);
	if (!chain || chain->base.seqno < seqno)
		return -EINVAL;

	/*
	 * The node that signals @seqno is the newest one on this timeline
	 * whose predecessor's seqno is below @seqno.  Signaled nodes have been
	 * collected by the walk, so the answer may be an older, still pending
	 * node, or NULL when everything up to @seqno has signaled.
	 */
	dma_fence_chain_for_each(iter, &chain->base) {
		struct dma_fence_chain *link = to_dma_fence_chain(iter);

		if (!link || iter->context != chain->base.context || link->prev_seqno < seqno)
			break;
	}
	dma_fence_put(&chain->base); /* the caller's reference */
	*pfence = iter;
	return 0;
}

static const char *chain_driver_name(struct dma_fence *fence)
{
	return "dma_fence_chain";
}

static const char *chain_timeline_name(struct dma_fence *fence)
{
	return "unbound";
}

/* Deferred from chain_cb: no lock held here. */
static void chain_rearm_work(struct irq_work *work)
{
	struct dma_fence_chain *chain = container_of((void *)work, struct dma_fence_chain, work);

	if (!chain_arm(chain))
		dma_fence_signal(&chain->base); /* nothing left to wait for */
	dma_fence_put(&chain->base); /* the reference the armed callback held */
}

/* A contained fence we were waiting on signaled (its lock is held). */
static void chain_cb(struct dma_fence *f, struct dma_fence_cb *cb)
{
	struct dma_fence_chain *chain = container_of(cb, struct dma_fence_chain, cb);

	irq_work_queue(chain_work(chain));
	dma_fence_put(f);
}

/*
 * Arm @head->cb on the newest unsignaled contained fence at or below
 * @head.  While armed, the callback holds a reference to @head and to the
 * fence it is armed on.  Return: false if every contained fence has
 * signaled (nothing armed, no reference kept).
 */
static bool chain_arm(struct dma_fence_chain *head)
{
	struct dma_fence *iter;

	dma_fence_get(&head->base);
	dma_fence_chain_for_each(iter, &head->base) {
		struct dma_fence *f = dma_fence_get(dma_fence_chain_contained(iter));

		if (dma_fence_add_callback(f, &head->cb, chain_cb) == 0) {
			dma_fence_put(iter);
			return true;
		}
		dma_fence_put(f);
	}
	dma_fence_put(&head->base);
	return false;
}

/* Core op: called once, with @fence's lock held. */
static bool chain_enable_signaling(struct dma_fence *fence)
{
	return chain_arm(to_dma_fence_chain(fence));
}

static bool chain_signaled(struct dma_fence *fence)
{
	struct dma_fence *iter;

	dma_fence_chain_for_each(iter, fence) {
		if (!dma_fence_is_signaled(dma_fence_chain_contained(iter))) {
			dma_fence_put(iter);
			return false;
		}
	}
	return true;
}

static void chain_set_deadline(struct dma_fence *fence, ktime_t deadline)
{
	struct dma_fence *iter;

	dma_fence_chain_for_each(iter, fence)
		dma_fence_set_deadline(dma_fence_chain_contained(iter), deadline);
}

static void chain_release(struct dma_fence *fence)
{
	struct dma_fence_chain *chain = to_dma_fence_chain(fence);
	struct dma_fence *prev;

	/*
	 * Dropping @prev could release it, which would drop its @prev, and
	 * so on down the chain: recursion as deep as the chain is long.
	 * Instead, while we hold the only reference to a predecessor node,
	 * adopt its own @prev and release it with an empty @prev.  A node
	 * whose count is 1 is referenced only by our @prev, and nobody can
	 * find our @prev any more (our count is zero), so nobody can take a
	 * new reference to it meanwhile.
	 */
	while ((prev = chain_prev_raw(chain))) {
		struct dma_fence_chain *prev_chain = to_dma_fence_chain(prev);

		if (!prev_chain || kref_read(&prev->refcount) > 1)
			break;
		__atomic_store_n(&chain->prev, chain_prev_raw(prev_chain), __ATOMIC_RELAXED);
		__atomic_store_n(&prev_chain->prev, NULL, __ATOMIC_RELAXED);
		dma_fence_put(prev);
	}
	dma_fence_put(prev);
	dma_fence_put(chain->fence);
	dma_fence_free(fence);
}

const struct dma_fence_ops dma_fence_chain_ops = {
	.use_64bit_seqno = true,
	.get_driver_name = chain_driver_name,
	.get_timeline_name = chain_timeline_name,
	.enable_signaling = chain_enable_signaling,
	.signaled = chain_signaled,
	.release = chain_release,
	.set_deadline = chain_set_deadline,
};

struct dma_fence_chain *dma_fence_chain_alloc(void)
{
	return malloc(sizeof(struct dma_fence_chain));
}

void dma_fence_chain_free(struct dma_fence_chain *chain)
{
	free(chain);
}

void dma_fence_chain_init(struct dma_fence_chain *chain, struct dma_fence *prev,
			  struct dma_fence *fence, u64 seqno)
{
	struct dma_fence_chain *prev_chain = to_dma_fence_chain(prev);
	u64 context;

	BUG_ON(!chain || !fence);
	spin_lock_init(&chain->lock);
	__atomic_store_n(&chain->prev, prev, __ATOMIC_RELAXED);
	chain->fence = fence;
	chain->prev_seqno = 0;
	INIT_LIST_HEAD(&chain->cb.node);
	chain->cb.func = NULL;
	init_irq_work(chain_work(chain), chain_rearm_work);

	if (prev_chain && seqno > prev->seqno) {
		/* A later point on @prev's timeline. */
		context = prev->context;
		chain->prev_seqno = prev->seqno;
	} else {
		/* Not ordered after @prev: start a timeline of our own. */
		context = dma_fence_context_alloc(1);
		if (prev_chain && prev->seqno > seqno)
			seqno = prev->seqno;
	}

	dma_fence_init64(&chain->base, &dma_fence_chain_ops, &chain->lock, context, seqno);

	WARN(dma_fence_is_chain(fence),
	     "dma_fence_chain contains a chain (link chains through prev only)");
}
