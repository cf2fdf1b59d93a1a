/* SPDX-License-Identifier: MIT */
/*
 * dma_fence_array: a fence that completes with all (or any) of its members.
 *
 * Counting scheme: num_pending starts at the number of members that must
 * signal (1 in signal-on-any mode).  Once signaling is enabled each member
 * gets a callback that decrements it; whoever takes it to zero signals the
 * array.  A member callback runs under the member's lock, so it never
 * signals the array itself: it queues the array's irq_work, which runs in
 * the same thread once that thread holds no spinlock.
 *
 * Every armed member callback holds a reference to the array: in
 * signal-on-any mode the array may signal, and be put by its users, while
 * callbacks on the other members are still queued.
 *
 * Error: while unsignaled, base.error holds the private value
 * ARRAY_PENDING_ERROR.  A failing member replaces it (compare-and-swap, so
 * only the first one wins); just before the array signals it is reset to
 * 0 if still pending.
 */
#include <stdlib.h>

#include <dmasync/dma-fence-array.h>
#include "debug.h"
#include "irq_work.h"

#define ARRAY_PENDING_ERROR 1

_Static_assert(sizeof(struct irq_work) <= sizeof(struct dmasync_irq_work_slot),
	       "irq_work slot too small");
_Static_assert(_Alignof(struct irq_work) <= _Alignof(struct dmasync_irq_work_slot),
	       "irq_work slot misaligned");

static inline struct irq_work *array_work(struct dma_fence_array *array)
{
	return (struct irq_work *)(void *)&array->work;
}

static inline struct dma_fence_array *work_to_array(struct irq_work *work)
{
	return container_of((void *)work, struct dma_fence_array, work);
}

static const char *array_driver_name(struct dma_fence *fence)
{
	return "dma_fence_array";
}

static const char *array_timeline_name(struct dma_fence *fence)
{
	return "unbound";
}

/* Record @error as the array's error unless an earlier one was recorded. */
static void array_note_error(struct dma_fence_array *array, int error)
{
	int expected = ARRAY_PENDING_ERROR;

	if (error)
		__atomic_compare_exchange_n(&array->base.error, &expected, error, false,
					    __ATOMIC_RELAXED, __ATOMIC_RELAXED);
}

/* No member failed: the array completes without error. */
static void array_settle_error(struct dma_fence_array *array)
{
	int expected = ARRAY_PENDING_ERROR;

	__atomic_compare_exchange_n(&array->base.error, &expected, 0, false, __ATOMIC_RELAXED,
				    __ATOMIC_RELAXED);
}

/* Return: true if this decrement completed the array. */
static bool array_count_down(struct dma_fence_array *array)
{
	return __atomic_sub_fetch(&array->num_pending, 1, __ATOMIC_ACQ_REL) == 0;
}

/* Deferred from a member callback: no lock held here. */
static void array_signal_work(struct irq_work *work)
{
	struct dma_fence_array *array = work_to_array(work);

	array_settle_error(array);
	dma_fence_signal(&array->base);
	dma_fence_put(&array->base); /* the reference of the completing callback */
}

static void array_member_signaled(struct dma_fence *member, struct dma_fence_cb *cb)
{
	struct dma_fence_array_cb *acb = container_of(cb, struct dma_fence_array_cb, cb);
	struct dma_fence_array *array = acb->array;

	array_note_error(array, __atomic_load_n(&member->error, __ATOMIC_RELAXED));
	if (array_count_down(array))
		irq_work_queue(array_work(array)); /* hands our reference to the work */
	else
		dma_fence_put(&array->base);
}

/* Called once, with the array lock held. */
static bool array_enable_signaling(struct dma_fence *fence)
{
	struct dma_fence_array *array = to_dma_fence_array(fence);

	if (__atomic_load_n(&array->num_pending, __ATOMIC_ACQUIRE) <= 0) {
		array_settle_error(array);
		return false;
	}

	for (unsigned int i = 0; i < array->num_fences; i++) {
		struct dma_fence_array_cb *acb = &array->callbacks[i];
		struct dma_fence *member = array->fences[i];

		acb->array = array;
		/* The callback's own reference; see the top of the file. */
		dma_fence_get(&array->base);
		if (dma_fence_add_callback(member, &acb->cb, array_member_signaled) == 0)
			continue;

		/* Already signaled: count it down here. */
		array_note_error(array, __atomic_load_n(&member->error, __ATOMIC_RELAXED));
		dma_fence_put(&array->base);
		if (array_count_down(array)) {
			array_settle_error(array);
			return false; /* the core signals us */
		}
	}
	return true;
}

/*
 * Peek without enabling anything.  Once callbacks are armed the counter is
 * authoritative.  Before that, poll every member; the counter is read
 * first so that a concurrent enable can only make our local count too
 * high (answer "not yet"), never too low.
 */
static bool array_signaled(struct dma_fence *fence)
{
	struct dma_fence_array *array = to_dma_fence_array(fence);
	int pending = __atomic_load_n(&array->num_pending, __ATOMIC_ACQUIRE);

	if (test_bit(DMA_FENCE_FLAG_ENABLE_SIGNAL_BIT, &fence->flags)) {
		if (pending > 0)
			return false;
		goto done;
	}
	if (pending <= 0)
		goto done;

	for (unsigned int i = 0; i < array->num_fences; i++) {
		struct dma_fence *member = array->fences[i];

		if (!dma_fence_is_signaled(member))
			continue;
		array_note_error(array, __atomic_load_n(&member->error, __ATOMIC_RELAXED));
		if (--pending == 0)
			goto done;
	}
	return false;

done:
	array_settle_error(array);
	return true;
}

static void array_release(struct dma_fence *fence)
{
	struct dma_fence_array *array = to_dma_fence_array(fence);

	for (unsigned int i = 0; i < array->num_fences; i++)
		dma_fence_put(array->fences[i]);
	free(array->fences);
	dma_fence_free(fence);
}

static void array_set_deadline(struct dma_fence *fence, ktime_t deadline)
{
	struct dma_fence_array *array = to_dma_fence_array(fence);

	for (unsigned int i = 0; i < array->num_fences; i++)
		dma_fence_set_deadline(array->fences[i], deadline);
}

const struct dma_fence_ops dma_fence_array_ops = {
	.get_driver_name = array_driver_name,
	.get_timeline_name = array_timeline_name,
	.enable_signaling = array_enable_signaling,
	.signaled = array_signaled,
	.release = array_release,
	.set_deadline = array_set_deadline,
};

struct dma_fence_array *dma_fence_array_alloc(int num_fences)
{
	size_t size;

	if (WARN_ON(num_fences < 0))
		return NULL;
	size = sizeof(struct dma_fence_array) +
	       (size_t)num_fences * sizeof(struct dma_fence_array_cb);
	return calloc(1, size);
}

void dma_fence_array_init(struct dma_fence_array *array, int num_fences,
			  struct dma_fence **fences, u64 context, unsigned int seqno,
			  bool signal_on_any)
{
	unsigned int n;

	BUG_ON(!array);
	if (WARN(num_fences <= 0 || !fences, "dma_fence_array without members"))
		num_fences = 0;
	n = (unsigned int)num_fences;

	spin_lock_init(&array->lock);
	dma_fence_init(&array->base, &dma_fence_array_ops, &array->lock, context, seqno);
	init_irq_work(array_work(array), array_signal_work);
	array->num_fences = n;
	array->fences = fences;
	array->num_pending = n == 0 ? 0 : signal_on_any ? 1 : (int)n;
	array->base.error = ARRAY_PENDING_ERROR;

	/* Containers inside arrays would make every operation recursive. */
	for (unsigned int i = 0; i < n; i++)
		WARN(dma_fence_is_container(fences[i]),
		     "dma_fence_array member is itself a container (nesting is forbidden)");
}

struct dma_fence_array *dma_fence_array_create(int num_fences, struct dma_fence **fences,
					       u64 context, unsigned int seqno,
					       bool signal_on_any)
{
	struct dma_fence_array *array;

	if (WARN(num_fences <= 0 || !fences, "dma_fence_array_create without members"))
		return NULL;
	array = dma_fence_array_alloc(num_fences);
	if (!array)
		return NULL;
	dma_fence_array_init(array, num_fences, fences, context, seqno, signal_on_any);
	return array;
}

bool dma_fence_match_context(struct dma_fence *fence, u64 context)
{
	struct dma_fence_array *array = to_dma_fence_array(fence);

	if (!array)
		return fence->context == context;
	for (unsigned int i = 0; i < array->num_fences; i++)
		if (array->fences[i]->context != context)
			return false;
	return true;
}

struct dma_fence *dma_fence_array_first(struct dma_fence *head)
{
	struct dma_fence_array *array;

	if (!head)
		return NULL;
	array = to_dma_fence_array(head);
	if (!array)
		return head;
	return array->num_fences ? array->fences[0] : NULL;
}

struct dma_fence *dma_fence_array_next(struct dma_fence *head, unsigned int index)
{
	struct dma_fence_array *array = to_dma_fence_array(head);

	if (!array || index >= array->num_fences)
		return NULL;
	return array->fences[index];
}
