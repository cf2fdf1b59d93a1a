/* SPDX-License-Identifier: MIT */
/*
 * dma_fence: one-shot synchronization points with callbacks, errors,
 * timestamps and sleeping waits.
 */
#include <stdlib.h>
#include <string.h>
#include <pthread.h>

#include <dmasync/dma-fence.h>
#include "debug.h"
#include "dma-fence-priv.h"
#include "futex.h"
#include "irq_work.h"
#include "rcu.h"
#include "trace-priv.h"

static u64 context_counter = 1;

u64 dma_fence_context_alloc(unsigned int num)
{
	WARN_ON(!num);
	return __atomic_fetch_add(&context_counter, num ? num : 1, __ATOMIC_RELAXED);
}

static void __dma_fence_init(struct dma_fence *fence, const struct dma_fence_ops *ops,
			     spinlock_t *lock, u64 context, u64 seqno, unsigned long flags)
{
	BUG_ON(!fence);
	BUG_ON(!ops || !ops->get_driver_name || !ops->get_timeline_name);
	BUG_ON(!lock);

	kref_init(&fence->refcount);
	fence->ops = ops;
	INIT_LIST_HEAD(&fence->cb_list);
	fence->lock = lock;
	fence->context = context;
	fence->seqno = seqno;
	fence->timestamp = 0;
	fence->error = 0;
	memset(&fence->rcu, 0, sizeof(fence->rcu));
	__atomic_store_n(&fence->flags, flags | (1ul << DMA_FENCE_FLAG_INITIALIZED_BIT),
			 __ATOMIC_RELEASE);
	trace_dma_fence_init(fence);
}

void dma_fence_init(struct dma_fence *fence, const struct dma_fence_ops *ops, spinlock_t *lock,
		    u64 context, u64 seqno)
{
	__dma_fence_init(fence, ops, lock, context, seqno, 0);
}

void dma_fence_init64(struct dma_fence *fence, const struct dma_fence_ops *ops,
		      spinlock_t *lock, u64 context, u64 seqno)
{
	__dma_fence_init(fence, ops, lock, context, seqno, 1ul << DMA_FENCE_FLAG_SEQNO64_BIT);
}

/* ---- signaling ---------------------------------------------------------- */

int dma_fence_signal_timestamp_locked(struct dma_fence *fence, ktime_t timestamp)
{
	struct dma_fence_cb *cur, *tmp;
	struct list_head cb_list;

	if (WARN_ON(!fence))
		return -EINVAL;
	lockdep_assert_held(fence->lock);

	if (test_and_set_bit(DMA_FENCE_FLAG_SIGNALED_BIT, &fence->flags))
		return -EINVAL;

	/* Detach the callbacks first: they may free their own cb storage. */
	INIT_LIST_HEAD(&cb_list);
	list_splice_init(&fence->cb_list, &cb_list);

	fence->timestamp = timestamp;
	set_bit(DMA_FENCE_FLAG_TIMESTAMP_BIT, &fence->flags);
	trace_dma_fence_signaled(fence);

	list_for_each_entry_safe(cur, tmp, &cb_list, node) {
		INIT_LIST_HEAD(&cur->node);
		cur->func(fence, cur);
	}
	return 0;
}

int dma_fence_signal_timestamp(struct dma_fence *fence, ktime_t timestamp)
{
	int ret;

	if (WARN_ON(!fence))
		return -EINVAL;
	spin_lock(fence->lock);
	ret = dma_fence_signal_timestamp_locked(fence, timestamp);
	spin_unlock(fence->lock);
	return ret;
}

int dma_fence_signal_locked(struct dma_fence *fence)
{
	return dma_fence_signal_timestamp_locked(fence, ktime_get());
}

int dma_fence_signal(struct dma_fence *fence)
{
	int ret;

	if (!fence)
		return -EINVAL;
	/* Cheap early out; the locked path rechecks atomically. */
	if (test_bit(DMA_FENCE_FLAG_SIGNALED_BIT, &fence->flags))
		return -EINVAL;
	spin_lock(fence->lock);
	ret = dma_fence_signal_timestamp_locked(fence, ktime_get());
	spin_unlock(fence->lock);
	return ret;
}

bool dma_fence_check_and_signal_locked(struct dma_fence *fence)
{
	return dma_fence_signal_locked(fence) != 0;
}

bool dma_fence_check_and_signal(struct dma_fence *fence)
{
	return dma_fence_signal(fence) != 0;
}

/* ---- release ------------------------------------------------------------ */

static void dma_fence_free_rcu(struct core_rcu_head *head)
{
	free(container_of((void *)head, struct dma_fence, rcu));
}

void dma_fence_free(struct dma_fence *fence)
{
	core_call_rcu((struct core_rcu_head *)(void *)&fence->rcu, dma_fence_free_rcu);
}

void dma_fence_release(struct kref *kref)
{
	struct dma_fence *fence = container_of(kref, struct dma_fence, refcount);

	trace_dma_fence_destroy(fence);
	if (!test_bit(DMA_FENCE_FLAG_SIGNALED_BIT, &fence->flags)) {
		bool pending;

		spin_lock(fence->lock);
		pending = !list_empty(&fence->cb_list) &&
			  !test_bit(DMA_FENCE_FLAG_SIGNALED_BIT, &fence->flags);
		if (WARN(pending, "fence released with pending callbacks; signaled with -EDEADLK")) {
			fence->error = -EDEADLK;
			dma_fence_signal_locked(fence);
		}
		spin_unlock(fence->lock);
	}

	if (fence->ops->release)
		fence->ops->release(fence);
	else
		dma_fence_free(fence);
}

struct dma_fence *dma_fence_get_rcu_safe(struct dma_fence *__rcu *fencep)
{
	for (;;) {
		struct dma_fence *fence = rcu_dereference(*fencep);

		if (!fence)
			return NULL;
		if (!dma_fence_get_rcu(fence))
			continue;
		if (fence == rcu_dereference(*fencep))
			return fence;
		dma_fence_put(fence);
	}
}

/* ---- signaling enablement and callbacks --------------------------------- */

/* Fence lock held.  Return: false if the fence is (now) signaled. */
static bool __dma_fence_enable_signaling(struct dma_fence *fence)
{
	bool was_set;

	lockdep_assert_held(fence->lock);
	was_set = test_and_set_bit(DMA_FENCE_FLAG_ENABLE_SIGNAL_BIT, &fence->flags);
	if (test_bit(DMA_FENCE_FLAG_SIGNALED_BIT, &fence->flags))
		return false;
	if (!was_set && fence->ops->enable_signaling) {
		trace_dma_fence_enable_signal(fence);
		if (!fence->ops->enable_signaling(fence)) {
			dma_fence_signal_locked(fence);
			return false;
		}
	}
	return true;
}

void dma_fence_enable_sw_signaling(struct dma_fence *fence)
{
	spin_lock(fence->lock);
	__dma_fence_enable_signaling(fence);
	spin_unlock(fence->lock);
}

int dma_fence_add_callback(struct dma_fence *fence, struct dma_fence_cb *cb,
			   dma_fence_func_t func)
{
	int ret = 0;

	if (cb)
		INIT_LIST_HEAD(&cb->node);
	if (WARN_ON(!fence || !func || !cb))
		return -EINVAL;

	if (test_bit(DMA_FENCE_FLAG_SIGNALED_BIT, &fence->flags))
		return -ENOENT;

	spin_lock(fence->lock);
	if (__dma_fence_enable_signaling(fence)) {
		cb->func = func;
		list_add_tail(&cb->node, &fence->cb_list);
	} else {
		ret = -ENOENT;
	}
	spin_unlock(fence->lock);
	return ret;
}

bool dma_fence_remove_callback(struct dma_fence *fence, struct dma_fence_cb *cb)
{
	bool ret;

	spin_lock(fence->lock);
	ret = !list_empty(&cb->node);
	if (ret)
		list_del_init(&cb->node);
	spin_unlock(fence->lock);
	return ret;
}

int dma_fence_get_status(struct dma_fence *fence)
{
	int status;

	/* A signaled fence never changes again: no lock needed. */
	if (test_bit(DMA_FENCE_FLAG_SIGNALED_BIT, &fence->flags)) {
		int err = __atomic_load_n(&fence->error, __ATOMIC_RELAXED);

		return err ? err : 1;
	}
	spin_lock(fence->lock);
	status = dma_fence_get_status_locked(fence);
	spin_unlock(fence->lock);
	return status;
}

void dma_fence_set_error(struct dma_fence *fence, int error)
{
	if (WARN(test_bit(DMA_FENCE_FLAG_SIGNALED_BIT, &fence->flags),
		 "dma_fence_set_error on an already signaled fence (ignored)"))
		return;
	if (WARN(error >= 0 || error < -MAX_ERRNO,
		 "dma_fence_set_error with a value that is not a negative errno (ignored)"))
		return;
	__atomic_store_n(&fence->error, error, __ATOMIC_RELAXED);
}

ktime_t dma_fence_timestamp(struct dma_fence *fence)
{
	if (!test_bit(DMA_FENCE_FLAG_SIGNALED_BIT, &fence->flags))
		return ktime_get();
	/* The signaler sets TIMESTAMP right after SIGNALED, under the lock. */
	while (!test_bit(DMA_FENCE_FLAG_TIMESTAMP_BIT, &fence->flags)) {
		spin_lock(fence->lock);
		spin_unlock(fence->lock);
	}
	return fence->timestamp;
}

/* ---- waiting ------------------------------------------------------------ */

struct wait_cb {
	struct dma_fence_cb base;
	uint32_t *word;	/* futex word to set and wake */
};

static void wait_cb_func(struct dma_fence *fence, struct dma_fence_cb *cb)
{
	struct wait_cb *wait = container_of(cb, struct wait_cb, base);
	uint32_t *word = wait->word;

	/* After this store the waiter may return: touch nothing but the address,
	 * and wake it once the fence lock is dropped. */
	__atomic_store_n(word, 1, __ATOMIC_RELEASE);
	core_futex_wake_deferred(word);
}

/*
 * Sleep on @word until it becomes non-zero or @deadline passes.
 * Return: 1 when set, 0 on timeout, -ERESTARTSYS when interrupted and @intr.
 */
static long sleep_on_word(uint32_t *word, bool intr, ktime_t deadline)
{
	for (;;) {
		int r;

		if (__atomic_load_n(word, __ATOMIC_ACQUIRE))
			return 1;
		if (deadline >= 0 && ktime_get() >= deadline)
			return 0;
		r = futex_wait_until(word, 0, deadline);
		if (r == -EINTR && intr && !__atomic_load_n(word, __ATOMIC_ACQUIRE))
			return -ERESTARTSYS;
	}
}

static signed long remaining(ktime_t deadline, signed long timeout)
{
	ktime_t left;

	if (deadline < 0)
		return timeout;
	left = deadline - ktime_get();
	return left > 0 ? (signed long)left : 1;
}

signed long dma_fence_default_wait(struct dma_fence *fence, bool intr, signed long timeout)
{
	struct wait_cb cb;
	uint32_t word = 0;
	ktime_t deadline;
	long r;

	if (test_bit(DMA_FENCE_FLAG_SIGNALED_BIT, &fence->flags))
		return timeout ? timeout : 1;

	spin_lock(fence->lock);
	if (!__dma_fence_enable_signaling(fence)) {
		spin_unlock(fence->lock);
		return timeout ? timeout : 1;
	}
	if (!timeout) {
		spin_unlock(fence->lock);
		return 0;
	}
	cb.base.func = wait_cb_func;
	cb.word = &word;
	/* Waiters go first, so they wake before slower callbacks run. */
	list_add(&cb.base.node, &fence->cb_list);
	spin_unlock(fence->lock);

	deadline = timeout_to_deadline(ktime_get(), timeout);
	r = sleep_on_word(&word, intr, deadline);
	if (r == 1)
		return remaining(deadline, timeout);

	/* Timed out or interrupted: dequeue unless the callback already ran. */
	spin_lock(fence->lock);
	if (!list_empty(&cb.base.node)) {
		list_del_init(&cb.base.node);
		spin_unlock(fence->lock);
		return r;
	}
	spin_unlock(fence->lock);
	return remaining(deadline, timeout);
}

signed long dma_fence_wait_timeout(struct dma_fence *fence, bool intr, signed long timeout)
{
	signed long ret;

	if (WARN_ON(timeout < 0))
		return -EINVAL;
	DMASYNC_ASSERT(!spin_is_held(fence->lock), "dma_fence_wait with the fence lock held");
	trace_dma_fence_wait_start(fence);
	if (fence->ops->wait)
		ret = fence->ops->wait(fence, intr, timeout);
	else
		ret = dma_fence_default_wait(fence, intr, timeout);
	trace_dma_fence_wait_end(fence);
	return ret;
}

static bool test_signaled_any(struct dma_fence **fences, u32 count, u32 *idx)
{
	for (u32 i = 0; i < count; i++) {
		if (test_bit(DMA_FENCE_FLAG_SIGNALED_BIT, &fences[i]->flags)) {
			if (idx)
				*idx = i;
			return true;
		}
	}
	return false;
}

signed long dma_fence_wait_any_timeout(struct dma_fence **fences, u32 count, bool intr,
				       signed long timeout, u32 *idx)
{
	struct wait_cb *cbs;
	uint32_t word = 0;
	ktime_t deadline;
	signed long ret = timeout;
	u32 i, armed = 0;

	if (WARN_ON(!fences || !count || timeout < 0))
		return -EINVAL;

	if (timeout == 0) {
		for (i = 0; i < count; i++) {
			if (dma_fence_is_signaled(fences[i])) {
				if (idx)
					*idx = i;
				return 1;
			}
		}
		return 0;
	}

	cbs = calloc(count, sizeof(*cbs));
	if (!cbs)
		return -ENOMEM;

	for (i = 0; i < count; i++) {
		cbs[i].word = &word;
		if (dma_fence_add_callback(fences[i], &cbs[i].base, wait_cb_func)) {
			/* Already signaled: that is our answer. */
			if (idx)
				*idx = i;
			goto out_remove_callbacks;
		}
		armed = i + 1;
	}

	deadline = timeout_to_deadline(ktime_get(), timeout);
	for (;;) {
		long r = sleep_on_word(&word, intr, deadline);

		if (r == 1 && test_signaled_any(fences, count, idx)) {
			ret = remaining(deadline, timeout);
			break;
		}
		if (r <= 0) {
			ret = r;
			if (test_signaled_any(fences, count, idx))
				ret = remaining(deadline, timeout);
			break;
		}
		__atomic_store_n(&word, 0, __ATOMIC_RELAXED);
	}

out_remove_callbacks:
	/* Removing takes each fence lock: no callback can touch @word after. */
	for (i = 0; i < armed; i++)
		dma_fence_remove_callback(fences[i], &cbs[i].base);
	free(cbs);
	return ret;
}

/* ---- ordering, deadlines, names, debug ---------------------------------- */

bool dma_fence_is_later(struct dma_fence *f1, struct dma_fence *f2)
{
	if (WARN_ON(f1->context != f2->context))
		return false;
	return __dma_fence_is_later(f1, f1->seqno, f2->seqno);
}

struct dma_fence *dma_fence_later(struct dma_fence *f1, struct dma_fence *f2)
{
	struct dma_fence *later;

	if (WARN_ON(f1->context != f2->context))
		return NULL;
	later = dma_fence_is_later(f1, f2) ? f1 : f2;
	return dma_fence_is_signaled(later) ? NULL : later;
}

void dma_fence_set_deadline(struct dma_fence *fence, ktime_t deadline)
{
	if (fence->ops->set_deadline && !dma_fence_is_signaled(fence))
		fence->ops->set_deadline(fence, deadline);
}

const char *dma_fence_driver_name(struct dma_fence *fence)
{
	return fence->ops->get_driver_name(fence);
}

const char *dma_fence_timeline_name(struct dma_fence *fence)
{
	return fence->ops->get_timeline_name(fence);
}

void dma_fence_describe(struct dma_fence *fence, FILE *seq)
{
	fprintf(seq, "%llu:%llu %s %s %ssignalled\n", (unsigned long long)fence->context,
		(unsigned long long)fence->seqno, dma_fence_timeline_name(fence),
		dma_fence_driver_name(fence), dma_fence_is_signaled(fence) ? "" : "un");
}

/* ---- stubs -------------------------------------------------------------- */

static const char *stub_name(struct dma_fence *fence)
{
	return "stub";
}

static const struct dma_fence_ops dma_fence_stub_ops = {
	.get_driver_name = stub_name,
	.get_timeline_name = stub_name,
};

static DEFINE_SPINLOCK(dma_fence_stub_lock);
static struct dma_fence dma_fence_stub;
static pthread_once_t dma_fence_stub_once = PTHREAD_ONCE_INIT;

static void dma_fence_stub_init(void)
{
	dma_fence_init(&dma_fence_stub, &dma_fence_stub_ops, &dma_fence_stub_lock, 0, 0);
	set_bit(DMA_FENCE_FLAG_ENABLE_SIGNAL_BIT, &dma_fence_stub.flags);
	dma_fence_signal(&dma_fence_stub);
	/* The initial reference is never dropped: the stub is never released. */
}

bool core_dma_fence_is_stub(const struct dma_fence *fence)
{
	return fence == &dma_fence_stub;
}

struct dma_fence *dma_fence_get_stub(void)
{
	pthread_once(&dma_fence_stub_once, dma_fence_stub_init);
	return dma_fence_get(&dma_fence_stub);
}

struct dma_fence *dma_fence_allocate_private_stub(ktime_t timestamp)
{
	struct dma_fence *fence = calloc(1, sizeof(*fence));

	if (!fence)
		return NULL;
	dma_fence_init(fence, &dma_fence_stub_ops, &dma_fence_stub_lock, 0, 0);
	set_bit(DMA_FENCE_FLAG_ENABLE_SIGNAL_BIT, &fence->flags);
	dma_fence_signal_timestamp(fence, timestamp);
	return fence;
}
