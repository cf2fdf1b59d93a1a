/* SPDX-License-Identifier: MIT */
/* Tests of dma_fence_chain: init rules, walking and garbage collection,
 * find_seqno, signaling orders with a blocked waiter, deadlines, million-
 * node chains on a small stack, concurrent find_seqno, refcount balance. */
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <dmasync/dma-fence-array.h>
#include <dmasync/dma-fence-chain.h>
#include "rcu.h"
#include "test-harness.h"
#include "test-fence.h"


static bool has_callbacks(struct dma_fence *f)
{
	bool ret;

	spin_lock(f->lock);
	ret = !list_empty(&f->cb_list);
	spin_unlock(f->lock);
	return ret;
}

/* ---- building chains -------------------------------------------------------- */

/* Append a node for @fence (reference consumed) at @seqno to @prev
 * (reference consumed).  Return: the new node. */
static struct dma_fence *chain_add(struct dma_fence *prev, struct dma_fence *fence, u64 seqno)
{
	struct dma_fence_chain *c = dma_fence_chain_alloc();

	if (!c)
		abort();
	dma_fence_chain_init(c, prev, fence, seqno);
	return &c->base;
}

/*
 * A chain of @n nodes with seqnos first, first + step, ...; @fences[i]
 * receives a reference to node i's contained fence and @links[i] (if not
 * NULL) one to node i.  Contained fences share @lock if not NULL.
 * Return: the head (newest node), one reference.
 */
static struct dma_fence *chain_build(int n, u64 first, u64 step, spinlock_t *lock,
				     struct dma_fence **fences, struct dma_fence **links)
{
	struct dma_fence *head = NULL;
	u64 ctx = dma_fence_context_alloc(1);

	for (int i = 0; i < n; i++) {
		struct dma_fence *f = tf_new(lock, ctx, first + (u64)i * step);

		if (fences)
			fences[i] = dma_fence_get(f);
		head = chain_add(head, f, first + (u64)i * step);
		if (links)
			links[i] = dma_fence_get(head);
	}
	return head;
}

static void put_all(struct dma_fence **v, int n)
{
	for (int i = 0; i < n; i++)
		dma_fence_put(v[i]);
}

static void signal_all(struct dma_fence **v, int n)
{
	for (int i = 0; i < n; i++)
		dma_fence_signal(v[i]);
}

static struct dma_fence *chain_prev(struct dma_fence *link)
{
	return __atomic_load_n(&to_dma_fence_chain(link)->prev, __ATOMIC_ACQUIRE);
}

/* ---- init ------------------------------------------------------------------ */

TEST(init_context_and_seqno_rules)
{
	struct dma_fence *plain = tf_simple();
	struct dma_fence *a, *b, *c, *d, *e;

	/* First node: new context, given seqno, no predecessor seqno. */
	a = chain_add(NULL, tf_simple(), 1);
	CHECK(dma_fence_is_chain(a));
	CHECK(dma_fence_is_container(a));
	CHECK(!dma_fence_is_array(a));
	CHECK_EQ(a->seqno, 1);
	CHECK_EQ(to_dma_fence_chain(a)->prev_seqno, 0);
	CHECK(test_bit(DMA_FENCE_FLAG_SEQNO64_BIT, &a->flags));
	CHECK_STR(a->ops->get_driver_name(a), "dma_fence_chain");
	CHECK_STR(a->ops->get_timeline_name(a), "unbound");

	/* Later seqno on a chain node: same timeline. */
	b = chain_add(dma_fence_get(a), tf_simple(), 0x100000000ull);
	CHECK_EQ(b->context, a->context);
	CHECK_EQ(b->seqno, 0x100000000ull);
	CHECK_EQ(to_dma_fence_chain(b)->prev_seqno, 1);
	/* 64-bit ordering between nodes of one timeline. */
	CHECK(dma_fence_is_later(b, a));

	/* Not later: a new timeline, seqno raised to the predecessor's. */
	c = chain_add(dma_fence_get(b), tf_simple(), 5);
	CHECK(c->context != b->context);
	CHECK_EQ(c->seqno, 0x100000000ull);
	CHECK_EQ(to_dma_fence_chain(c)->prev_seqno, 0);

	/* Equal seqno: also a new timeline. */
	d = chain_add(dma_fence_get(c), tf_simple(), 0x100000000ull);
	CHECK(d->context != c->context);
	CHECK_EQ(d->seqno, 0x100000000ull);

	/* Plain predecessor: new timeline, seqno kept as given. */
	e = chain_add(dma_fence_get(plain), tf_simple(), 3);
	CHECK(e->context != plain->context);
	CHECK_EQ(e->seqno, 3);
	CHECK_EQ(to_dma_fence_chain(e)->prev_seqno, 0);
	CHECK(chain_prev(e) == plain);

	CHECK(to_dma_fence_chain(plain) == NULL);
	CHECK(to_dma_fence_chain(NULL) == NULL);
	CHECK(dma_fence_chain_contained(plain) == plain);
	CHECK(dma_fence_chain_contained(NULL) == NULL);
	CHECK(dma_fence_chain_contained(a) == to_dma_fence_chain(a)->fence);

	dma_fence_put(a);
	dma_fence_put(b);
	dma_fence_put(c);
	dma_fence_put(d);
	dma_fence_put(e);
	dma_fence_put(plain);
	CHECK_ALL_FREED();
}

TEST(init_warns_on_chain_in_chain)
{
	struct dma_fence *inner = chain_add(NULL, tf_simple(), 1);
	struct dma_fence *outer;
	unsigned long w = core_warn_count();

	EXPECT_WARNINGS();
	outer = chain_add(NULL, inner, 1);
	CHECK_EQ(core_warn_count() - w, 1);
	dma_fence_put(outer);
	CHECK_ALL_FREED();
}

TEST(alloc_free_uninitialised)
{
	struct dma_fence_chain *c = dma_fence_chain_alloc();

	REQUIRE(c);
	dma_fence_chain_free(c);
	dma_fence_chain_free(NULL);
}

/* ---- walking ----------------------------------------------------------------- */

TEST(walk_visits_newest_to_oldest)
{
	struct dma_fence *links[4], *fences[4], *iter;
	struct dma_fence *head = chain_build(4, 1, 1, NULL, fences, links);
	int i = 3;

	dma_fence_chain_for_each(iter, head) {
		CHECK(iter == links[i]);
		i--;
	}
	CHECK_EQ(i, -1);
	/* Nothing was collected: all pending. */
	CHECK(chain_prev(links[3]) == links[2]);

	signal_all(fences, 4);
	dma_fence_put(head);
	put_all(links, 4);
	put_all(fences, 4);
	CHECK_ALL_FREED();
}

TEST(walk_on_plain_fence_and_plain_tail)
{
	struct dma_fence *plain = tf_simple(), *iter, *seen[4];
	struct dma_fence *head;
	int n = 0;

	/* A non-chain: walk consumes the reference and ends. */
	CHECK(dma_fence_chain_walk(dma_fence_get(plain)) == NULL);
	CHECK_EQ(kref_read(&plain->refcount), 1);
	n = 0;
	dma_fence_chain_for_each(iter, plain)
		seen[n++] = iter;
	CHECK_EQ(n, 1);
	CHECK(seen[0] == plain);
	n = 0;
	dma_fence_chain_for_each(iter, (struct dma_fence *)NULL)
		n++;
	CHECK_EQ(n, 0);

	/* A chain ending in a plain fence visits it last. */
	head = chain_add(dma_fence_get(plain), tf_simple(), 1);
	head = chain_add(head, tf_simple(), 2);
	n = 0;
	dma_fence_chain_for_each(iter, head) {
		if (n < 4)
			seen[n] = iter;
		n++;
	}
	CHECK_EQ(n, 3);
	CHECK(seen[2] == plain);
	dma_fence_put(head);
	dma_fence_put(plain);
	CHECK_ALL_FREED();
}

TEST(walk_collects_signaled_nodes)
{
	struct dma_fence *fences[5], *iter, *seen[5];
	struct dma_fence *head = chain_build(5, 1, 1, NULL, fences, NULL);
	long live_before;
	int n = 0;

	/* Signal nodes 1, 2 (the middle) and 0 is left pending. */
	dma_fence_signal(fences[1]);
	dma_fence_signal(fences[2]);
	put_all(&fences[1], 2);
	live_before = tf_live();
	dma_fence_chain_for_each(iter, head)
		seen[n++] = iter;
	CHECK_EQ(n, 3);
	CHECK(to_dma_fence_chain(seen[0])->fence == fences[4]);
	CHECK(to_dma_fence_chain(seen[1])->fence == fences[3]);
	CHECK(to_dma_fence_chain(seen[2])->fence == fences[0]);
	/* Node 3 now links straight to node 0; nodes 1 and 2 were freed
	 * together with their contained fences. */
	CHECK(chain_prev(seen[1]) == seen[2]);
	CHECK_EQ(tf_live(), live_before - 2);

	/* Signaling the oldest lets a walk drop everything behind the head. */
	dma_fence_signal(fences[0]);
	dma_fence_signal(fences[3]);
	CHECK(dma_fence_chain_walk(dma_fence_get(head)) == NULL);
	CHECK(chain_prev(head) == NULL);
	dma_fence_signal(fences[4]);
	dma_fence_put(head);
	dma_fence_put(fences[0]);
	dma_fence_put(fences[3]);
	dma_fence_put(fences[4]);
	CHECK_ALL_FREED();
}

TEST(break_out_of_for_each_keeps_reference)
{
	struct dma_fence *fences[3], *iter;
	struct dma_fence *head = chain_build(3, 1, 1, NULL, fences, NULL);
	int n = 0;

	dma_fence_chain_for_each(iter, head) {
		if (++n == 2)
			break;
	}
	REQUIRE(iter);
	CHECK_EQ(kref_read(&iter->refcount), 2); /* head's prev + ours */
	dma_fence_put(iter);
	signal_all(fences, 3);
	put_all(fences, 3);
	dma_fence_put(head);
	CHECK_ALL_FREED();
}

/* ---- find_seqno ---------------------------------------------------------------- */

static int find(struct dma_fence *head, u64 seqno, struct dma_fence **out)
{
	struct dma_fence *f = dma_fence_get(head);
	int ret = dma_fence_chain_find_seqno(&f, seqno);

	if (ret) {
		dma_fence_put(f);
		*out = NULL;
		return ret;
	}
	*out = f;
	return 0;
}

TEST(find_seqno_in_order)
{
	struct dma_fence *links[5], *fences[5], *f;
	struct dma_fence *head = chain_build(5, 1, 1, NULL, fences, links);

	for (int s = 1; s <= 5; s++) {
		CHECK_EQ(find(head, (u64)s, &f), 0);
		CHECK(f == links[s - 1]);
		dma_fence_put(f);
	}
	/* The head itself is found without walking. */
	f = dma_fence_get(head);
	CHECK_EQ(dma_fence_chain_find_seqno(&f, 5), 0);
	CHECK(f == head);
	dma_fence_put(f);

	signal_all(fences, 5);
	put_all(links, 5);
	put_all(fences, 5);
	dma_fence_put(head);
	CHECK_ALL_FREED();
}

TEST(find_seqno_zero_future_and_non_chain)
{
	struct dma_fence *fences[3], *plain = tf_simple(), *f;
	struct dma_fence *head = chain_build(3, 10, 10, NULL, fences, NULL);

	/* 0: no-op, *pfence untouched, no reference consumed. */
	f = head;
	CHECK_EQ(dma_fence_chain_find_seqno(&f, 0), 0);
	CHECK(f == head);
	CHECK_EQ(kref_read(&head->refcount), 1);

	/* A point after the head: -EINVAL, untouched. */
	f = head;
	CHECK_EQ(dma_fence_chain_find_seqno(&f, 31), -EINVAL);
	CHECK(f == head);
	CHECK_EQ(kref_read(&head->refcount), 1);

	/* Not a chain. */
	f = plain;
	CHECK_EQ(dma_fence_chain_find_seqno(&f, 1), -EINVAL);
	CHECK(f == plain);
	f = plain;
	CHECK_EQ(dma_fence_chain_find_seqno(&f, 0), 0);

	signal_all(fences, 3);
	put_all(fences, 3);
	dma_fence_put(head);
	dma_fence_put(plain);
	CHECK_ALL_FREED();
}

TEST(find_seqno_with_gaps)
{
	/* Nodes at 2, 4, 8. */
	struct dma_fence *links[3], *fences[3], *f;
	struct dma_fence *head = NULL;
	const u64 seq[3] = { 2, 4, 8 };
	const int expect[9] = { -1, 0, 0, 1, 1, 2, 2, 2, 2 }; /* node for seqno s */
	u64 ctx = dma_fence_context_alloc(1);

	for (int i = 0; i < 3; i++) {
		fences[i] = tf_new(NULL, ctx, seq[i]);
		head = chain_add(head, dma_fence_get(fences[i]), seq[i]);
		links[i] = dma_fence_get(head);
	}
	for (u64 s = 1; s <= 8; s++) {
		CHECK_EQ(find(head, s, &f), 0);
		CHECK(f == links[expect[s]]);
		dma_fence_put(f);
	}
	CHECK_EQ(find(head, 9, &f), -EINVAL);

	/* Node 4 signaled: seqnos 3 and 4 now wait only for node 2. */
	dma_fence_signal(fences[1]);
	CHECK_EQ(find(head, 3, &f), 0);
	CHECK(f == links[0]);
	dma_fence_put(f);
	CHECK_EQ(find(head, 5, &f), 0);
	CHECK(f == links[2]);
	dma_fence_put(f);
	/* ... and node 4 was unlinked by the walk. */
	CHECK(chain_prev(links[2]) == links[0]);

	/* Node 2 signaled too: everything up to 7 has passed. */
	dma_fence_signal(fences[0]);
	for (u64 s = 1; s <= 4; s++) {
		CHECK_EQ(find(head, s, &f), 0);
		CHECK(f == NULL);
	}
	CHECK_EQ(find(head, 6, &f), 0);
	CHECK(f == links[2]);
	dma_fence_put(f);

	dma_fence_signal(fences[2]);
	put_all(links, 3);
	put_all(fences, 3);
	dma_fence_put(head);
	CHECK_ALL_FREED();
}

TEST(find_seqno_signaled_links_are_collected)
{
	enum { N = 64 };
	struct dma_fence *fences[N], *f;
	struct dma_fence *head = chain_build(N, 1, 1, NULL, fences, NULL);
	long live;

	/* Signal and forget nodes 0..47; only the chain keeps them alive. */
	for (int i = 0; i < 48; i++) {
		dma_fence_signal(fences[i]);
		dma_fence_put(fences[i]);
	}
	live = tf_live();
	CHECK_EQ(live, N); /* still referenced by their nodes */
	CHECK_EQ(find(head, 10, &f), 0);
	CHECK(f == NULL);
	/* The walk freed the 48 signaled nodes and their fences. */
	CHECK_EQ(tf_live(), N - 48);
	CHECK_EQ(find(head, 49, &f), 0);
	REQUIRE(f);
	CHECK_EQ(f->seqno, 49);
	dma_fence_put(f);
	signal_all(&fences[48], N - 48);
	put_all(&fences[48], N - 48);
	dma_fence_put(head);
	CHECK_ALL_FREED();
}

TEST(find_seqno_across_timelines)
{
	/* 1, 2 on one timeline; a node at 1 after that starts another
	 * timeline whose seqno is raised to 2. */
	struct dma_fence *fences[3], *f;
	struct dma_fence *a = chain_build(2, 1, 1, NULL, fences, NULL);
	struct dma_fence *b;

	fences[2] = tf_simple();
	b = chain_add(dma_fence_get(a), dma_fence_get(fences[2]), 1);
	CHECK(b->context != a->context);
	CHECK_EQ(b->seqno, 2);
	/* Every point of the new timeline is signaled by the new node. */
	CHECK_EQ(find(b, 1, &f), 0);
	CHECK(f == b);
	dma_fence_put(f);
	CHECK_EQ(find(b, 2, &f), 0);
	CHECK(f == b);
	dma_fence_put(f);
	signal_all(fences, 3);
	put_all(fences, 3);
	dma_fence_put(a);
	dma_fence_put(b);
	CHECK_ALL_FREED();
}

/* ---- signaling ------------------------------------------------------------------- */

TEST(signaled_op_requires_all_older_nodes)
{
	enum { N = 6 };
	struct dma_fence *links[N], *fences[N];
	struct dma_fence *head = chain_build(N, 1, 1, NULL, fences, links);

	dma_fence_signal(fences[3]);
	CHECK(!dma_fence_is_signaled(links[3])); /* 0..2 pending */
	dma_fence_signal(fences[0]);
	dma_fence_signal(fences[1]);
	CHECK(dma_fence_is_signaled(links[1]));
	CHECK(dma_fence_is_signaled(links[0]));
	CHECK(!dma_fence_is_signaled(links[2]));
	dma_fence_signal(fences[2]);
	CHECK(dma_fence_is_signaled(links[3]));
	CHECK(!dma_fence_is_signaled(head));
	/* Polling never enabled anything. */
	for (int i = 0; i < N; i++) {
		CHECK(!has_callbacks(fences[i]));
		CHECK(!test_bit(DMA_FENCE_FLAG_ENABLE_SIGNAL_BIT, &links[i]->flags));
	}
	signal_all(fences, N);
	CHECK(dma_fence_is_signaled(head));
	put_all(links, N);
	put_all(fences, N);
	dma_fence_put(head);
	CHECK_ALL_FREED();
}

TEST(enable_arms_one_callback_at_a_time)
{
	enum { N = 4 };
	struct dma_fence *links[N], *fences[N];
	struct dma_fence *head = chain_build(N, 1, 1, NULL, fences, links);

	dma_fence_enable_sw_signaling(head);
	/* Exactly one callback, on the head's own fence. */
	CHECK(has_callbacks(fences[3]));
	for (int i = 0; i < 3; i++)
		CHECK(!has_callbacks(fences[i]));
	dma_fence_signal(fences[3]);
	/* Re-armed on the next pending fence down the chain. */
	CHECK(!has_callbacks(fences[3]));
	CHECK(has_callbacks(fences[2]));
	CHECK(!dma_fence_test_signaled_flag(head));
	dma_fence_signal(fences[1]);
	dma_fence_signal(fences[2]);
	CHECK(has_callbacks(fences[0]));
	dma_fence_signal(fences[0]);
	CHECK(dma_fence_test_signaled_flag(head));
	CHECK_EQ(dma_fence_get_status(head), 1);
	put_all(links, N);
	put_all(fences, N);
	dma_fence_put(head);
	CHECK_ALL_FREED();
}

TEST(enable_when_all_signaled_signals_immediately)
{
	struct dma_fence *fences[3];
	struct dma_fence *head = chain_build(3, 1, 1, NULL, fences, NULL);

	signal_all(fences, 3);
	CHECK(!dma_fence_test_signaled_flag(head));
	dma_fence_enable_sw_signaling(head);
	CHECK(dma_fence_test_signaled_flag(head));
	CHECK_EQ(dma_fence_wait(head, false), 0);
	put_all(fences, 3);
	dma_fence_put(head);
	CHECK_ALL_FREED();
}

TEST(chain_of_arrays_signals_after_all_members)
{
	struct dma_fence *m[4], *head = NULL;
	u64 ctx = dma_fence_context_alloc(1);

	for (int i = 0; i < 2; i++) {
		struct dma_fence **v = malloc(2 * sizeof(*v));
		struct dma_fence_array *a;

		for (int j = 0; j < 2; j++) {
			v[j] = tf_simple();
			m[i * 2 + j] = dma_fence_get(v[j]);
		}
		a = dma_fence_array_create(2, v, ctx, (unsigned int)i + 1, false);
		REQUIRE(a);
		head = chain_add(head, &a->base, (u64)i + 1);
	}
	dma_fence_enable_sw_signaling(head);
	for (int i = 0; i < 3; i++) {
		dma_fence_signal(m[i]);
		CHECK(!dma_fence_test_signaled_flag(head));
	}
	dma_fence_signal(m[3]);
	CHECK(dma_fence_test_signaled_flag(head));
	put_all(m, 4);
	dma_fence_put(head);
	CHECK_ALL_FREED();
}

TEST(set_deadline_reaches_every_pending_node)
{
	enum { N = 5 };
	struct dma_fence *fences[N];
	struct dma_fence *head = chain_build(N, 1, 1, NULL, fences, NULL);

	dma_fence_signal(fences[2]);
	dma_fence_set_deadline(head, 424242);
	for (int i = 0; i < N; i++) {
		if (i == 2) {
			CHECK_EQ(to_tf(fences[i])->deadline_calls, 0);
			continue;
		}
		CHECK_EQ(to_tf(fences[i])->deadline, 424242);
		CHECK_EQ(to_tf(fences[i])->deadline_calls, 1);
		CHECK(!has_callbacks(fences[i]));
	}
	signal_all(fences, N);
	put_all(fences, N);
	dma_fence_put(head);
	CHECK_ALL_FREED();
}

/* ---- a waiter blocked on the head, nodes signaled in various orders -------- */

struct waiter {
	pthread_t thread;
	struct dma_fence *fence;
	long ret;
	int done;
};

static void *waiter_main(void *arg)
{
	struct waiter *w = arg;

	w->ret = dma_fence_wait(w->fence, false);
	__atomic_store_n(&w->done, 1, __ATOMIC_RELEASE);
	return NULL;
}

static void wait_until_blocked(struct dma_fence *f)
{
	while (!has_callbacks(f))
		usleep(50);
}

static void shuffle(int *v, int n, unsigned int *seed)
{
	for (int i = n - 1; i > 0; i--) {
		int j = rand_r(seed) % (i + 1), t = v[i];

		v[i] = v[j];
		v[j] = t;
	}
}

enum order { FORWARD, BACKWARD, RANDOM };

static void signal_order_case(enum order order, unsigned int seed)
{
	enum { N = 1000 };
	struct dma_fence *links[N], *fences[N];
	struct dma_fence *head = chain_build(N, 1, 1, NULL, fences, links);
	struct waiter w = { .fence = head };
	bool *done = calloc(N, sizeof(*done));
	int *perm = malloc(N * sizeof(*perm));

	for (int i = 0; i < N; i++)
		perm[i] = order == BACKWARD ? N - 1 - i : i;
	if (order == RANDOM)
		shuffle(perm, N, &seed);

	REQUIRE(pthread_create(&w.thread, NULL, waiter_main, &w) == 0);
	wait_until_blocked(head);
	for (int k = 0; k < N; k++) {
		int i = perm[k];

		CHECK(!dma_fence_test_signaled_flag(head));
		CHECK(!__atomic_load_n(&w.done, __ATOMIC_ACQUIRE));
		dma_fence_signal(fences[i]);
		done[i] = true;
		/* Spot-check intermediate nodes: signaled iff all older are. */
		if (k % 97 == 0) {
			int j = rand_r(&seed) % N;
			bool expect = true;

			for (int x = 0; x <= j; x++)
				expect &= done[x];
			CHECK_EQ(dma_fence_is_signaled(links[j]), expect);
		}
	}
	/* The last signal ran the deferred work before returning. */
	CHECK(dma_fence_test_signaled_flag(head));
	pthread_join(w.thread, NULL);
	CHECK_EQ(w.ret, 0);
	put_all(links, N);
	put_all(fences, N);
	dma_fence_put(head);
	free(done);
	free(perm);
	CHECK_ALL_FREED();
}

TEST(signal_forward_with_blocked_waiter) { signal_order_case(FORWARD, 1); }
TEST(signal_backward_with_blocked_waiter) { signal_order_case(BACKWARD, 2); }
TEST(signal_random_with_blocked_waiter)
{
	for (unsigned int seed = 3; seed < 6; seed++)
		signal_order_case(RANDOM, seed);
}

/* ---- release ------------------------------------------------------------------ */

TEST(release_with_shared_middle_node)
{
	enum { N = 10 };
	struct dma_fence *links[N], *fences[N];
	struct dma_fence *head = chain_build(N, 1, 1, NULL, fences, links);
	struct dma_fence *mid = dma_fence_get(links[4]);

	put_all(links, N);
	signal_all(fences, N);
	put_all(fences, N);
	/* Dropping the head frees nodes 9..5; node 4 is still ours. */
	dma_fence_put(head);
	CHECK_EQ(tf_live(), 5);
	CHECK_EQ(kref_read(&mid->refcount), 1);
	dma_fence_put(mid);
	CHECK_ALL_FREED();
}

TEST(release_forked_chains)
{
	/* Two timelines sharing their older part. */
	struct dma_fence *base = chain_build(100, 1, 1, NULL, NULL, NULL);
	struct dma_fence *x = chain_add(dma_fence_get(base), tf_simple(), 101);
	struct dma_fence *y = chain_add(base, tf_simple(), 101);

	dma_fence_put(x);
	CHECK_EQ(tf_live(), 101);
	dma_fence_put(y);
	CHECK_ALL_FREED();
}

/* ---- a million nodes on a small stack --------------------------------------- */

#define SMALL_STACK (256 * 1024)
#define HUGE_N 1000000

struct huge_ctx {
	spinlock_t lock;
	struct dma_fence **fences;
	int n;
	bool ok;
	double secs[3];
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void *small_waiter_main(void *arg)
{
	struct waiter *w = arg;

	w->ret = dma_fence_wait(w->fence, false);
	return NULL;
}

static bool start_small(pthread_t *t, void *(*fn)(void *), void *arg)
{
	pthread_attr_t attr;
	int r;

	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, SMALL_STACK);
	r = pthread_create(t, &attr, fn, arg);
	pthread_attr_destroy(&attr);
	return r == 0;
}

static void *huge_main(void *arg)
{
	struct huge_ctx *h = arg;
	struct dma_fence *head;
	struct waiter w = { .fence = NULL };
	double t0;
	bool ok = true;

	/* 1: release a long unsignaled chain. */
	t0 = now_s();
	head = chain_build(h->n, 1, 1, &h->lock, NULL, NULL);
	dma_fence_put(head);
	h->secs[0] = now_s() - t0;

	/* 2: waiter on the head; all but the head's fence signaled oldest
	 * first; a poll collects the whole chain at once; the head's fence
	 * wakes the waiter. */
	t0 = now_s();
	head = chain_build(h->n, 1, 1, &h->lock, h->fences, NULL);
	w.fence = head;
	if (!start_small(&w.thread, small_waiter_main, &w))
		abort();
	wait_until_blocked(head);
	for (int i = 0; i < h->n - 1; i++) {
		dma_fence_signal(h->fences[i]);
		dma_fence_put(h->fences[i]);
	}
	ok &= !dma_fence_is_signaled(head);
	/* One walk collects everything behind the head. */
	ok &= dma_fence_chain_walk(dma_fence_get(head)) == NULL;
	ok &= chain_prev(head) == NULL;
	dma_fence_signal(h->fences[h->n - 1]);
	dma_fence_put(h->fences[h->n - 1]);
	pthread_join(w.thread, NULL);
	ok &= w.ret == 0 && dma_fence_test_signaled_flag(head);
	dma_fence_put(head);
	h->secs[1] = now_s() - t0;

	/* 3: newest first: the callback walks down one node per signal. */
	t0 = now_s();
	head = chain_build(h->n, 1, 1, &h->lock, h->fences, NULL);
	w.fence = head;
	if (!start_small(&w.thread, small_waiter_main, &w))
		abort();
	wait_until_blocked(head);
	for (int i = h->n - 1; i >= 0; i--) {
		dma_fence_signal(h->fences[i]);
		dma_fence_put(h->fences[i]);
	}
	pthread_join(w.thread, NULL);
	ok &= w.ret == 0 && dma_fence_test_signaled_flag(head);
	dma_fence_put(head);
	h->secs[2] = now_s() - t0;

	h->ok = ok;
	return NULL;
}

/*
 * One million nodes (sanitizer builds scale this down with STRESS(): under
 * TSan a million nodes take half a minute and 3 GB; a quarter million on a
 * 256 KiB stack still overflows at once if anything recursed per node).
 */
TEST(million_node_chain_on_small_stack)
{
	struct huge_ctx h = { .n = (int)STRESS(HUGE_N) };
	pthread_t t;

	spin_lock_init(&h.lock);
	h.fences = malloc(sizeof(*h.fences) * (size_t)h.n);
	REQUIRE(h.fences);
	REQUIRE(start_small(&t, huge_main, &h));
	pthread_join(t, NULL);
	CHECK(h.ok);
	printf("# %d nodes, %d KiB stack: release %.2fs, poll+wait %.2fs, "
	       "newest-first wait %.2fs\n",
	       h.n, SMALL_STACK / 1024, h.secs[0], h.secs[1], h.secs[2]);
	free(h.fences);
	CHECK_ALL_FREED();
}

/* ---- concurrent find_seqno while nodes signal --------------------------------- */

#define FS_N 4096
#define FS_STEP 3 /* seqnos 1, 4, 7, ...: gaps between nodes */

struct fs_ctx {
	struct dma_fence *head;
	struct dma_fence *fences[FS_N];
	int signaler_done;
	long queries;		/* answered so far, all finders */
	long queries_per_round;	/* the signaler spreads its work over these */
	bool nearly_in_order;
};

struct fs_thread {
	struct fs_ctx *ctx;
	unsigned int seed;
	long queries, nulls, errors;
};

static int fs_index(u64 seqno) /* node whose seqno covers @seqno */
{
	return (int)((seqno + FS_STEP - 2) / FS_STEP);
}

static void *fs_finder(void *arg)
{
	struct fs_thread *t = arg;
	struct fs_ctx *c = t->ctx;
	const u64 max = 1 + (u64)(FS_N - 1) * FS_STEP;

	do {
		u64 s = 1 + (u64)rand_r(&t->seed) % max;
		int k = fs_index(s);
		struct dma_fence *f = dma_fence_get(c->head);

		if (dma_fence_chain_find_seqno(&f, s)) {
			t->errors++;
			dma_fence_put(f);
			continue;
		}
		t->queries++;
		__atomic_fetch_add(&c->queries, 1, __ATOMIC_RELAXED);
		if (!f) {
			/* Everything up to node k must have signaled. */
			for (int i = 0; i <= k; i++)
				if (!dma_fence_test_signaled_flag(c->fences[i]))
					t->errors++;
			t->nulls++;
			continue;
		}
		if (!dma_fence_is_chain(f) || f->context != c->head->context ||
		    to_dma_fence_chain(f)->prev_seqno >= s) {
			t->errors++;
		} else {
			/* Found node j <= k: nodes j+1..k must have signaled. */
			int j = fs_index(f->seqno);

			if (j > k)
				t->errors++;
			for (int i = j + 1; i <= k; i++)
				if (!dma_fence_test_signaled_flag(c->fences[i]))
					t->errors++;
		}
		dma_fence_put(f);
	} while (!__atomic_load_n(&c->signaler_done, __ATOMIC_ACQUIRE) ||
		 t->queries < 50);
	return NULL;
}

static void *fs_signaler(void *arg)
{
	struct fs_ctx *c = arg;
	int *perm = malloc(FS_N * sizeof(*perm));
	unsigned int seed = 77;

	for (int i = 0; i < FS_N; i++)
		perm[i] = i;
	if (c->nearly_in_order) {
		/* Random within windows of 64: the signaled prefix grows, so
		 * many answers are NULL and whole runs get collected. */
		for (int i = 0; i < FS_N; i += 64)
			shuffle(perm + i, 64, &seed);
	} else {
		shuffle(perm, FS_N, &seed);
	}
	/* Pace by the finders' progress, not by time: sanitizers slow the
	 * finders much more than the signaler. */
	for (int i = 0; i < FS_N; i++) {
		long due = (long)i * c->queries_per_round / FS_N;

		while (__atomic_load_n(&c->queries, __ATOMIC_RELAXED) < due)
			sched_yield();
		dma_fence_signal(c->fences[perm[i]]);
	}
	free(perm);
	__atomic_store_n(&c->signaler_done, 1, __ATOMIC_RELEASE);
	return NULL;
}

TEST(stress_find_seqno_while_signaling)
{
	enum { FINDERS = 3 };
	struct fs_ctx *c = calloc(1, sizeof(*c));
	struct fs_thread ft[FINDERS];
	pthread_t finders[FINDERS], sig;
	spinlock_t *locks = calloc(16, sizeof(*locks));
	u64 ctx = dma_fence_context_alloc(1);
	long total = 0, nulls = 0;
	int rounds = STRESS(4) > 2 ? (int)STRESS(4) : 2;

	for (int i = 0; i < 16; i++)
		spin_lock_init(&locks[i]);
	for (int r = 0; r < rounds; r++) {
		c->head = NULL;
		c->signaler_done = 0;
		c->queries = 0;
		c->queries_per_round = STRESS(6000);
		c->nearly_in_order = r % 2 == 0;
		for (int i = 0; i < FS_N; i++) {
			u64 s = 1 + (u64)i * FS_STEP;

			c->fences[i] = tf_new(&locks[i % 16], ctx, s);
			c->head = chain_add(c->head, dma_fence_get(c->fences[i]), s);
		}
		for (int i = 0; i < FINDERS; i++) {
			ft[i] = (struct fs_thread){ .ctx = c, .seed = (unsigned int)(r * 10 + i) };
			pthread_create(&finders[i], NULL, fs_finder, &ft[i]);
		}
		pthread_create(&sig, NULL, fs_signaler, c);
		pthread_join(sig, NULL);
		for (int i = 0; i < FINDERS; i++) {
			pthread_join(finders[i], NULL);
			CHECK_EQ(ft[i].errors, 0);
			total += ft[i].queries;
			nulls += ft[i].nulls;
		}
		CHECK_EQ(dma_fence_wait(c->head, false), 0);
		put_all(c->fences, FS_N);
		dma_fence_put(c->head);
	}
	printf("# %ld find_seqno queries, %ld already signaled\n", total, nulls);
	CHECK(total > 0);
	free(locks);
	free(c);
	CHECK_ALL_FREED();
}
