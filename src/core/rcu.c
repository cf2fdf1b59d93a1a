/* SPDX-License-Identifier: MIT */
/* RCU read-side sections and deferred frees on liburcu-bp. */
#include <urcu-bp.h>
#include <urcu/urcu-bp.h>

#include <pthread.h>
#include <stddef.h>
#include <stdlib.h>

#include "debug.h"
#include "rcu.h"

#if DMASYNC_TSAN
void __tsan_acquire(void *addr);
void __tsan_release(void *addr);
static char grace_period_sync;
#define tsan_acquire(a) __tsan_acquire(a)
#define tsan_release(a) __tsan_release(a)
#else
#define tsan_acquire(a) ((void)0)
#define tsan_release(a) ((void)0)
#endif

_Static_assert(offsetof(struct core_rcu_head, func) >= sizeof(struct rcu_head),
	       "rcu head storage too small");

void dmasync_rcu_read_lock(void)
{
	urcu_bp_read_lock();
}

void dmasync_rcu_read_unlock(void)
{
	tsan_release(&grace_period_sync);
	urcu_bp_read_unlock();
}

void dmasync_synchronize_rcu(void)
{
	urcu_bp_synchronize_rcu();
	tsan_acquire(&grace_period_sync);
}

/*
 * Deferred frees are batched per thread: one call_rcu() (one grace-period
 * wait in liburcu's worker) per RCU_BATCH objects instead of one per
 * object.  When the grace period has passed, the worker does not free the
 * objects itself: it hands the batch back to the thread that released
 * them, which frees them at its next deferred free.  Memory then returns
 * to the allocator cache of the thread that will allocate the next fence,
 * which is what makes create/signal/release loops cheap.  A thread's batch
 * is also handed over when the thread calls dmasync_rcu_barrier() and when
 * it exits; so a thread that stops releasing objects keeps at most
 * 2 * RCU_BATCH of them unfreed until then.
 *
 * Deferred functions must only free memory: they may run inside a later
 * core_call_rcu() of the same thread, with its locks held.
 */
#define RCU_BATCH 64
#define HOME_DEAD ((struct rcu_batch *)1)

struct rcu_home;

struct rcu_batch {
	struct rcu_head head;
	struct rcu_batch *next_done;
	struct rcu_home *home;
	unsigned int n;
	struct core_rcu_head *items[RCU_BATCH];
};

/* Per thread: the open batch and the stack of batches whose grace period
 * ended.  Referenced by the thread and by each batch in flight. */
struct rcu_home {
	struct rcu_batch *open;
	struct rcu_batch *done; /* Treiber stack; HOME_DEAD once the thread exited */
	int refs;
};

static _Thread_local struct rcu_home *my_home;
static pthread_key_t home_key;
static pthread_once_t home_key_once = PTHREAD_ONCE_INIT;

static void home_put(struct rcu_home *home)
{
	if (__atomic_sub_fetch(&home->refs, 1, __ATOMIC_ACQ_REL) == 0)
		free(home);
}

static void run_batch(struct rcu_batch *b)
{
	tsan_acquire(b);
	tsan_acquire(&grace_period_sync);
	for (unsigned int i = 0; i < b->n; i++) {
		struct core_rcu_head *h = b->items[i];

		tsan_acquire(h);
		h->func(h);
	}
	free(b);
}

static void run_done(struct rcu_batch *list)
{
	while (list && list != HOME_DEAD) {
		struct rcu_batch *next = list->next_done;

		run_batch(list);
		list = next;
	}
}

/* liburcu worker: the grace period is over; give the batch back. */
static void batch_done(struct rcu_head *head)
{
	struct rcu_batch *b = caa_container_of(head, struct rcu_batch, head);
	struct rcu_home *home;
	struct rcu_batch *top;

	tsan_acquire(b);
	tsan_acquire(&grace_period_sync);
	home = b->home;
	top = __atomic_load_n(&home->done, __ATOMIC_ACQUIRE);
	for (;;) {
		if (top == HOME_DEAD) {
			run_batch(b);
			break;
		}
		b->next_done = top;
		tsan_release(b);
		if (__atomic_compare_exchange_n(&home->done, &top, b, true, __ATOMIC_ACQ_REL,
						__ATOMIC_ACQUIRE))
			break;
	}
	home_put(home);
}

static void single_done(struct rcu_head *head)
{
	struct core_rcu_head *h = (struct core_rcu_head *)(void *)head;

	tsan_acquire(&grace_period_sync);
	tsan_acquire(h);
	h->func(h);
}

static void submit_open_batch(struct rcu_home *home)
{
	struct rcu_batch *b = home->open;

	if (!b)
		return;
	home->open = NULL;
	__atomic_add_fetch(&home->refs, 1, __ATOMIC_RELAXED);
	b->home = home;
	tsan_release(b);
	urcu_bp_call_rcu(&b->head, batch_done);
}

static void home_thread_exit(void *arg)
{
	struct rcu_home *home = arg;

	submit_open_batch(home);
	run_done(__atomic_exchange_n(&home->done, HOME_DEAD, __ATOMIC_ACQ_REL));
	my_home = NULL;
	home_put(home);
}

static void home_key_init(void)
{
	pthread_key_create(&home_key, home_thread_exit);
}

static struct rcu_home *get_home(void)
{
	struct rcu_home *home = my_home;

	if (home)
		return home;
	pthread_once(&home_key_once, home_key_init);
	home = calloc(1, sizeof(*home));
	if (!home)
		return NULL;
	home->refs = 1;
	my_home = home;
	pthread_setspecific(home_key, home);
	return home;
}

void core_call_rcu(struct core_rcu_head *head, void (*func)(struct core_rcu_head *))
{
	struct rcu_home *home = get_home();
	struct rcu_batch *b;

	head->func = func;
	tsan_release(head);
	if (home) {
		struct rcu_batch *done = __atomic_load_n(&home->done, __ATOMIC_RELAXED);

		if (done && done != HOME_DEAD)
			run_done(__atomic_exchange_n(&home->done, NULL, __ATOMIC_ACQUIRE));
	}
	b = home ? home->open : NULL;
	if (!b && home) {
		b = malloc(sizeof(*b));
		if (b) {
			b->n = 0;
			home->open = b;
		}
	}
	if (!b) {
		/* No memory for bookkeeping: defer this object on its own. */
		urcu_bp_call_rcu((struct rcu_head *)(void *)head, single_done);
		return;
	}
	b->items[b->n++] = head;
	if (b->n == RCU_BATCH)
		submit_open_batch(home);
}

static void flush_batch(void)
{
	if (my_home)
		submit_open_batch(my_home);
}

void core_rcu_flush(void)
{
	flush_batch();
}

void core_rcu_thread_free_in_worker(void)
{
	struct rcu_home *home = get_home();

	/* Marked like an exited thread: batch_done() frees in the worker. */
	if (home)
		run_done(__atomic_exchange_n(&home->done, HOME_DEAD, __ATOMIC_ACQ_REL));
}

void dmasync_rcu_barrier(void)
{
	flush_batch();
	urcu_bp_barrier();
	if (my_home && __atomic_load_n(&my_home->done, __ATOMIC_RELAXED) != HOME_DEAD)
		run_done(__atomic_exchange_n(&my_home->done, NULL, __ATOMIC_ACQUIRE));
}
