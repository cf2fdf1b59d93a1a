/* SPDX-License-Identifier: MIT */
/* Tests of dma_fence_unwrap iteration, dma_fence_dedup_array and
 * dma_fence_unwrap_merge, including a multi-threaded merge stress on
 * in-order timelines. */
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <dmasync/dma-fence-array.h>
#include <dmasync/dma-fence-chain.h>
#include <dmasync/dma-fence-unwrap.h>
#include "rcu.h"
#include "test-harness.h"
#include "test-fence.h"


/* ---- container builders ----------------------------------------------------- */

/* An array over @n fences (references consumed). */
static struct dma_fence *make_array(int n, struct dma_fence **members)
{
	struct dma_fence **v = malloc((size_t)n * sizeof(*v));
	struct dma_fence_array *a;

	memcpy(v, members, (size_t)n * sizeof(*v));
	a = dma_fence_array_create(n, v, dma_fence_context_alloc(1), 1, false);
	if (!a)
		abort();
	return &a->base;
}

static struct dma_fence *chain_add(struct dma_fence *prev, struct dma_fence *fence, u64 seqno)
{
	struct dma_fence_chain *c = dma_fence_chain_alloc();

	if (!c)
		abort();
	dma_fence_chain_init(c, prev, fence, seqno);
	return &c->base;
}

static void put_all(struct dma_fence **v, int n)
{
	for (int i = 0; i < n; i++)
		dma_fence_put(v[i]);
}

/* Collect the leaves of @head into @out (at most @max); return the count. */
static int leaves(struct dma_fence *head, struct dma_fence **out, int max)
{
	struct dma_fence_unwrap cursor;
	struct dma_fence *f;
	int n = 0;

	dma_fence_unwrap_for_each(f, &cursor, head) {
		if (n < max)
			out[n] = f;
		n++;
	}
	return n;
}

/* ---- unwrap ----------------------------------------------------------------- */

TEST(unwrap_plain_and_null)
{
	struct dma_fence *p = tf_simple(), *got[4];
	struct dma_fence_unwrap cursor;

	CHECK_EQ(leaves(p, got, 4), 1);
	CHECK(got[0] == p);
	CHECK_EQ(kref_read(&p->refcount), 1); /* cursor let go of it */
	CHECK_EQ(leaves(NULL, got, 4), 0);
	CHECK(dma_fence_unwrap_first(NULL, &cursor) == NULL);
	CHECK(cursor.chain == NULL);
	dma_fence_put(p);
	CHECK_ALL_FREED();
}

TEST(unwrap_array)
{
	struct dma_fence *m[3] = { tf_simple(), tf_simple(), tf_simple() }, *got[4];
	struct dma_fence *a;

	for (int i = 0; i < 3; i++)
		dma_fence_get(m[i]);
	a = make_array(3, m);
	/* Signaled leaves are not filtered out. */
	dma_fence_signal(m[1]);
	CHECK_EQ(leaves(a, got, 4), 3);
	for (int i = 0; i < 3; i++)
		CHECK(got[i] == m[i]);
	dma_fence_signal(m[0]);
	dma_fence_signal(m[2]);
	dma_fence_put(a);
	put_all(m, 3);
	CHECK_ALL_FREED();
}

TEST(unwrap_chain_newest_first)
{
	struct dma_fence *f[3], *got[4], *head = NULL;

	for (int i = 0; i < 3; i++) {
		f[i] = tf_simple();
		head = chain_add(head, dma_fence_get(f[i]), (u64)i + 1);
	}
	CHECK_EQ(leaves(head, got, 4), 3);
	CHECK(got[0] == f[2] && got[1] == f[1] && got[2] == f[0]);
	CHECK_EQ(kref_read(&head->refcount), 1);
	for (int i = 0; i < 3; i++)
		dma_fence_signal(f[i]);
	put_all(f, 3);
	dma_fence_put(head);
	CHECK_ALL_FREED();
}

TEST(unwrap_arrays_in_chain)
{
	/* chain: [A(a0,a1)] <- [plain p] <- [B(b0,b1,b2)] (newest) */
	struct dma_fence *a[2] = { tf_simple(), tf_simple() };
	struct dma_fence *b[3] = { tf_simple(), tf_simple(), tf_simple() };
	struct dma_fence *p = tf_simple(), *got[8], *head;
	struct dma_fence *expect[6] = { b[0], b[1], b[2], p, a[0], a[1] };

	for (int i = 0; i < 2; i++)
		dma_fence_get(a[i]);
	for (int i = 0; i < 3; i++)
		dma_fence_get(b[i]);
	head = chain_add(NULL, make_array(2, a), 1);
	head = chain_add(head, dma_fence_get(p), 2);
	head = chain_add(head, make_array(3, b), 3);
	CHECK_EQ(leaves(head, got, 8), 6);
	for (int i = 0; i < 6; i++) {
		CHECK(got[i] == expect[i]);
		CHECK(!dma_fence_is_container(got[i]));
	}
	for (int i = 0; i < 6; i++)
		dma_fence_signal(expect[i]);
	put_all(expect, 6);
	dma_fence_put(head);
	CHECK_ALL_FREED();
}

TEST(unwrap_chains_of_arrays_many)
{
	enum { LINKS = 20, PER = 5 };
	struct dma_fence *m[LINKS][PER], *got[LINKS * PER + 1], *head = NULL;
	int k = 0;

	for (int l = 0; l < LINKS; l++) {
		for (int j = 0; j < PER; j++)
			m[l][j] = dma_fence_get(tf_simple());
		head = chain_add(head, make_array(PER, m[l]), (u64)l + 1);
	}
	CHECK_EQ(leaves(head, got, LINKS * PER + 1), LINKS * PER);
	for (int l = LINKS - 1; l >= 0; l--)
		for (int j = 0; j < PER; j++)
			CHECK(got[k++] == m[l][j]);
	for (int l = 0; l < LINKS; l++) {
		for (int j = 0; j < PER; j++)
			dma_fence_signal(m[l][j]);
		put_all(m[l], PER);
	}
	dma_fence_put(head);
	CHECK_ALL_FREED();
}

TEST(unwrap_skips_empty_array_in_chain)
{
	struct dma_fence_array *empty = dma_fence_array_alloc(0);
	struct dma_fence *x = tf_simple(), *y = tf_simple(), *got[4], *head;

	REQUIRE(empty);
	EXPECT_WARNINGS();
	dma_fence_array_init(empty, 0, NULL, dma_fence_context_alloc(1), 1, false);
	head = chain_add(NULL, dma_fence_get(x), 1);
	head = chain_add(head, &empty->base, 2);
	head = chain_add(head, dma_fence_get(y), 3);
	/* The empty node yields nothing but does not end the iteration. */
	CHECK_EQ(leaves(head, got, 4), 2);
	CHECK(got[0] == y && got[1] == x);
	dma_fence_signal(x);
	dma_fence_signal(y);
	dma_fence_put(x);
	dma_fence_put(y);
	dma_fence_put(head);
	CHECK_ALL_FREED();
}

TEST(unwrap_break_keeps_cursor_reference)
{
	struct dma_fence *f[2] = { tf_simple(), tf_simple() }, *leaf, *head = NULL;
	struct dma_fence_unwrap cursor;

	for (int i = 0; i < 2; i++)
		head = chain_add(head, dma_fence_get(f[i]), (u64)i + 1);
	dma_fence_unwrap_for_each(leaf, &cursor, head)
		break;
	CHECK(leaf == f[1]);
	CHECK(cursor.chain == head);
	CHECK_EQ(kref_read(&head->refcount), 2);
	dma_fence_put(cursor.chain);
	dma_fence_signal(f[0]);
	dma_fence_signal(f[1]);
	put_all(f, 2);
	dma_fence_put(head);
	CHECK_ALL_FREED();
}

/* ---- dedup ------------------------------------------------------------------- */

TEST(dedup_keeps_latest_per_context_sorted)
{
	u64 c = dma_fence_context_alloc(3);
	struct dma_fence *a5 = tf_new(NULL, c + 2, 5), *a3 = tf_new(NULL, c + 2, 3);
	struct dma_fence *b1 = tf_new(NULL, c, 1), *d9 = tf_new(NULL, c + 1, 9);
	struct dma_fence *v[6] = { a3, d9, a5, b1, dma_fence_get(a5), dma_fence_get(b1) };
	int n;

	for (int i = 0; i < 4; i++)
		dma_fence_get(v[i]); /* keep our own references */
	n = dma_fence_dedup_array(v, 6);
	CHECK_EQ(n, 3);
	CHECK(v[0] == b1);
	CHECK(v[1] == d9);
	CHECK(v[2] == a5);
	/* Dropped entries had their references put. */
	CHECK_EQ(kref_read(&a3->refcount), 1);
	CHECK_EQ(kref_read(&a5->refcount), 2);
	CHECK_EQ(kref_read(&b1->refcount), 2);
	put_all(v, n);
	CHECK_EQ(dma_fence_dedup_array(v, 0), 0);
	dma_fence_put(a3);
	dma_fence_put(a5);
	dma_fence_put(b1);
	dma_fence_put(d9);
	CHECK_ALL_FREED();
}

TEST(dedup_32bit_wrap)
{
	u64 c = dma_fence_context_alloc(1);
	struct dma_fence *old = tf_new(NULL, c, 0xfffffffeull);
	struct dma_fence *new = tf_new(NULL, c, 2); /* after the wrap */
	struct dma_fence *v[2] = { new, old };
	struct dma_fence *w[2];

	dma_fence_get(old);
	dma_fence_get(new);
	CHECK_EQ(dma_fence_dedup_array(v, 2), 1);
	CHECK(v[0] == new);
	dma_fence_put(v[0]);
	w[0] = dma_fence_get(old);
	w[1] = dma_fence_get(new);
	CHECK_EQ(dma_fence_dedup_array(w, 2), 1);
	CHECK(w[0] == new);
	dma_fence_put(w[0]);
	CHECK_EQ(kref_read(&old->refcount), 1);
	CHECK_EQ(kref_read(&new->refcount), 1);
	dma_fence_put(old);
	dma_fence_put(new);
	CHECK_ALL_FREED();
}

/* ---- merge ------------------------------------------------------------------- */

TEST(merge_different_contexts_sorted_array)
{
	u64 c = dma_fence_context_alloc(3);
	struct dma_fence *f2 = tf_new(NULL, c + 2, 1), *f0 = tf_new(NULL, c, 1);
	struct dma_fence *f1 = tf_new(NULL, c + 1, 1);
	struct dma_fence *m = dma_fence_unwrap_merge(f2, f0, f1);
	struct dma_fence_array *a = to_dma_fence_array(m);

	REQUIRE(a);
	CHECK_EQ(a->num_fences, 3);
	CHECK(a->fences[0] == f0 && a->fences[1] == f1 && a->fences[2] == f2);
	CHECK_EQ(a->base.seqno, 1);
	CHECK(a->base.context != c && a->base.context > c + 2);
	CHECK_EQ(kref_read(&f0->refcount), 2);
	/* Signals once all have. */
	dma_fence_signal(f0);
	dma_fence_signal(f2);
	CHECK(!dma_fence_is_signaled(m));
	dma_fence_signal(f1);
	CHECK(dma_fence_is_signaled(m));
	dma_fence_put(m);
	dma_fence_put(f0);
	dma_fence_put(f1);
	dma_fence_put(f2);
	CHECK_ALL_FREED();
}

TEST(merge_same_context_keeps_later)
{
	u64 c = dma_fence_context_alloc(1);
	struct dma_fence *f3 = tf_new(NULL, c, 3), *f5 = tf_new(NULL, c, 5);
	struct dma_fence *m;

	/* One left after dedup: that very fence, with a new reference. */
	m = dma_fence_unwrap_merge(f5, f3);
	CHECK(m == f5);
	CHECK_EQ(kref_read(&f5->refcount), 2);
	dma_fence_put(m);
	m = dma_fence_unwrap_merge(f3, f5, f3);
	CHECK(m == f5);
	dma_fence_put(m);
	/* Wrap: 2 follows 0xfffffffe. */
	{
		struct dma_fence *hi = tf_new(NULL, c, 0xfffffffeull), *lo = tf_new(NULL, c, 2);

		m = dma_fence_unwrap_merge(lo, hi);
		CHECK(m == lo);
		dma_fence_put(m);
		m = dma_fence_unwrap_merge(hi, lo);
		CHECK(m == lo);
		dma_fence_put(m);
		dma_fence_put(hi);
		dma_fence_put(lo);
	}
	dma_fence_put(f3);
	dma_fence_put(f5);
	CHECK_ALL_FREED();
}

TEST(merge_single_pending_returns_same_fence)
{
	struct dma_fence *done = tf_simple(), *pending = tf_simple(), *m;

	dma_fence_signal(done);
	m = dma_fence_unwrap_merge(done, pending);
	CHECK(m == pending);
	CHECK_EQ(kref_read(&pending->refcount), 2);
	dma_fence_put(m);
	m = dma_fence_unwrap_merge(pending);
	CHECK(m == pending);
	dma_fence_put(m);
	dma_fence_signal(pending);
	dma_fence_put(done);
	dma_fence_put(pending);
	CHECK_ALL_FREED();
}

TEST(merge_drops_signaled)
{
	struct dma_fence *a = tf_simple(), *b = tf_simple(), *c = tf_simple();
	struct dma_fence *m;
	struct dma_fence_array *arr;

	dma_fence_signal(b);
	m = dma_fence_unwrap_merge(a, b, c);
	arr = to_dma_fence_array(m);
	REQUIRE(arr);
	CHECK_EQ(arr->num_fences, 2);
	for (unsigned int i = 0; i < 2; i++)
		CHECK(arr->fences[i] == a || arr->fences[i] == c);
	dma_fence_signal(a);
	dma_fence_signal(c);
	dma_fence_put(m);
	dma_fence_put(a);
	dma_fence_put(b);
	dma_fence_put(c);
	CHECK_ALL_FREED();
}

TEST(merge_all_signaled_gives_stub_with_latest_timestamp)
{
	struct dma_fence *a = tf_simple(), *b = tf_simple(), *c = tf_simple();
	struct dma_fence *inner, *m;

	dma_fence_signal_timestamp(a, 1000);
	dma_fence_signal_timestamp(b, 5000);
	dma_fence_signal_timestamp(c, 3000);
	inner = make_array(2, (struct dma_fence *[]){ dma_fence_get(b), dma_fence_get(c) });
	m = dma_fence_unwrap_merge(a, inner);
	REQUIRE(m);
	CHECK(m != a && m != b && m != c);
	CHECK(dma_fence_test_signaled_flag(m));
	CHECK(!dma_fence_is_container(m));
	CHECK_STR(m->ops->get_driver_name(m), "stub");
	CHECK_EQ(dma_fence_timestamp(m), 5000);
	CHECK_EQ(dma_fence_get_status(m), 1);
	dma_fence_put(m);
	dma_fence_put(inner);
	dma_fence_put(a);
	dma_fence_put(b);
	dma_fence_put(c);
	CHECK_ALL_FREED();
}

TEST(merge_without_leaves_gives_stub_now)
{
	struct dma_fence_array *empty = dma_fence_array_alloc(0);
	struct dma_fence *m;
	ktime_t t0, t1;

	REQUIRE(empty);
	EXPECT_WARNINGS();
	dma_fence_array_init(empty, 0, NULL, dma_fence_context_alloc(1), 1, false);
	t0 = ktime_get();
	m = dma_fence_unwrap_merge(&empty->base);
	t1 = ktime_get();
	REQUIRE(m);
	CHECK(dma_fence_test_signaled_flag(m));
	CHECK(dma_fence_timestamp(m) >= t0 && dma_fence_timestamp(m) <= t1);
	dma_fence_put(m);
	dma_fence_put(&empty->base);
}

TEST(merge_flattens_containers)
{
	/* merge(array(a, b), chain(c <- d), e, merge(f, g)) */
	struct dma_fence *l[7], *m, *fm, *got[16];
	struct dma_fence *arr, *chain;
	int n;

	for (int i = 0; i < 7; i++)
		l[i] = tf_simple();
	arr = make_array(2, (struct dma_fence *[]){ dma_fence_get(l[0]), dma_fence_get(l[1]) });
	chain = chain_add(NULL, dma_fence_get(l[2]), 1);
	chain = chain_add(chain, dma_fence_get(l[3]), 2);
	fm = dma_fence_unwrap_merge(l[5], l[6]);
	REQUIRE(fm && dma_fence_is_array(fm));
	m = dma_fence_unwrap_merge(arr, chain, l[4], fm);
	REQUIRE(m && dma_fence_is_array(m));
	n = leaves(m, got, 16);
	CHECK_EQ(n, 7);
	CHECK_EQ(to_dma_fence_array(m)->num_fences, 7);
	for (int i = 0; i < n; i++) {
		CHECK(!dma_fence_is_container(got[i]));
		if (i)
			CHECK(got[i - 1]->context < got[i]->context);
	}
	for (int i = 0; i < 7; i++) {
		bool found = false;

		for (int j = 0; j < n; j++)
			found |= got[j] == l[i];
		CHECK(found);
	}
	for (int i = 0; i < 7; i++) {
		CHECK(!dma_fence_is_signaled(m));
		dma_fence_signal(l[i]);
	}
	CHECK(dma_fence_is_signaled(m));
	dma_fence_put(m);
	dma_fence_put(fm);
	dma_fence_put(arr);
	dma_fence_put(chain);
	put_all(l, 7);
	CHECK_ALL_FREED();
}

TEST(merge_with_caller_cursors)
{
	struct dma_fence *a = tf_simple(), *b = tf_simple(), *m;
	struct dma_fence *in[2] = { a, b };
	struct dma_fence_unwrap cursors[2];

	m = __dma_fence_unwrap_merge(2, in, cursors);
	REQUIRE(m && dma_fence_is_array(m));
	CHECK(cursors[0].chain == NULL && cursors[1].chain == NULL);
	dma_fence_signal(a);
	dma_fence_signal(b);
	CHECK_EQ(dma_fence_wait(m, false), 0);
	dma_fence_put(m);
	dma_fence_put(a);
	dma_fence_put(b);
	CHECK_ALL_FREED();
}

TEST(merge_large_is_flat_and_deduplicated)
{
	enum { CTX = 300, PER = 4 };
	struct dma_fence **in = malloc(CTX * PER * sizeof(*in));
	struct dma_fence *m;
	struct dma_fence_array *a;
	u64 c = dma_fence_context_alloc(CTX);
	unsigned int seed = 9;

	/* Each context appears PER times with shuffled seqnos 1..PER. */
	for (int i = 0; i < CTX * PER; i++)
		in[i] = tf_new(NULL, c + (u64)(i % CTX), (u64)(i / CTX) + 1);
	for (int i = CTX * PER - 1; i > 0; i--) {
		int j = rand_r(&seed) % (i + 1);
		struct dma_fence *t = in[i];

		in[i] = in[j];
		in[j] = t;
	}
	m = __dma_fence_unwrap_merge(CTX * PER, in, NULL);
	a = to_dma_fence_array(m);
	REQUIRE(a);
	CHECK_EQ(a->num_fences, CTX);
	for (unsigned int i = 0; i < a->num_fences; i++) {
		CHECK_EQ(a->fences[i]->context, c + i);
		CHECK_EQ(a->fences[i]->seqno, PER);
	}
	for (int i = 0; i < CTX * PER; i++)
		dma_fence_signal(in[i]);
	CHECK(dma_fence_is_signaled(m));
	dma_fence_put(m);
	put_all(in, CTX * PER);
	free(in);
	CHECK_ALL_FREED();
}

/* ---- stress: random merges over in-order timelines ------------------------------ */

#define TIMELINES 32
#define SLOTS 64
#define STRESS_LAG 256

struct timeline {
	spinlock_t lock;
	u64 context;
	u32 seqno;		/* last created */
	struct dma_fence **pending; /* FIFO of created, unsignaled fences */
	size_t head, tail;
};

struct merge_stress {
	struct timeline tl[TIMELINES];
	pthread_mutex_t slots_lock;
	struct dma_fence *slots[SLOTS];
	int stop;
	long created, waits, errors;
};

static struct dma_fence *tl_create(struct timeline *tl)
{
	struct dma_fence *f;

	spin_lock(&tl->lock);
	f = tf_new(&tl->lock, tl->context, ++tl->seqno);
	tl->pending[tl->tail++] = dma_fence_get(f);
	spin_unlock(&tl->lock);
	return f;
}

/* Signal the oldest pending fence of @tl; return false if none. */
static bool tl_signal_one(struct timeline *tl)
{
	struct dma_fence *f = NULL;

	spin_lock(&tl->lock);
	if (tl->head < tl->tail) {
		f = tl->pending[tl->head++];
		dma_fence_signal_locked(f);
	}
	spin_unlock(&tl->lock);
	dma_fence_put(f);
	return f != NULL;
}

static void *stress_signaler(void *arg)
{
	struct merge_stress *s = arg;
	unsigned int seed = 1234;

	long signaled = 0;

	/* Keep about STRESS_LAG fences pending so merges stay wide. */
	while (!__atomic_load_n(&s->stop, __ATOMIC_ACQUIRE)) {
		struct timeline *tl = &s->tl[rand_r(&seed) % TIMELINES];
		int k = 1 + rand_r(&seed) % 3;

		if (__atomic_load_n(&s->created, __ATOMIC_RELAXED) - signaled < STRESS_LAG) {
			sched_yield();
			continue;
		}
		while (k-- && tl_signal_one(tl))
			signaled++;
	}
	/* Drain: everything signals in the end. */
	for (int i = 0; i < TIMELINES; i++)
		while (tl_signal_one(&s->tl[i]))
			;
	return NULL;
}

/* Wait on random merged fences; once one signals, all of its leaves
 * must have signaled. */
static void *stress_waiter(void *arg)
{
	struct merge_stress *s = arg;
	unsigned int seed = 4321;

	while (!__atomic_load_n(&s->stop, __ATOMIC_ACQUIRE)) {
		struct dma_fence *f, *leaf;
		struct dma_fence_unwrap cursor;

		pthread_mutex_lock(&s->slots_lock);
		f = dma_fence_get(s->slots[rand_r(&seed) % SLOTS]);
		pthread_mutex_unlock(&s->slots_lock);
		if (dma_fence_wait_timeout(f, false, 10 * 1000 * 1000) > 0) {
			dma_fence_unwrap_for_each(leaf, &cursor, f)
				if (!dma_fence_test_signaled_flag(leaf))
					__atomic_fetch_add(&s->errors, 1, __ATOMIC_RELAXED);
			s->waits++;
		}
		dma_fence_put(f);
	}
	return NULL;
}

/*
 * @m must cover every input leaf: each unsignaled input leaf has a leaf
 * of the same context in @m that is the same or later.  @m must be flat,
 * with at most one leaf per context, sorted by context.
 */
static long check_merge(struct dma_fence *m, struct dma_fence **in, int n_in)
{
	struct dma_fence *out[TIMELINES + 1], *leaf;
	struct dma_fence_unwrap cursor;
	long errors = 0;
	int n_out = leaves(m, out, TIMELINES + 1);

	if (n_out > TIMELINES)
		return 1;
	for (int i = 0; i < n_out; i++) {
		if (dma_fence_is_container(out[i]))
			errors++;
		if (i && out[i - 1]->context >= out[i]->context)
			errors++;
	}
	for (int k = 0; k < n_in; k++) {
		dma_fence_unwrap_for_each(leaf, &cursor, in[k]) {
			bool covered = dma_fence_is_signaled(leaf);

			for (int i = 0; i < n_out && !covered; i++)
				covered = out[i]->context == leaf->context &&
					  dma_fence_is_later_or_same(out[i], leaf);
			errors += !covered;
		}
	}
	return errors;
}

TEST(stress_random_merges_on_timelines)
{
	struct merge_stress *s = calloc(1, sizeof(*s));
	long merges = STRESS(32768), members = 0;
	pthread_t signaler, waiter;
	unsigned int seed = 99;
	u64 ctx = dma_fence_context_alloc(TIMELINES);

	REQUIRE(s);
	for (int i = 0; i < TIMELINES; i++) {
		spin_lock_init(&s->tl[i].lock);
		s->tl[i].context = ctx + (u64)i;
		/* Start near the 32-bit wrap on some timelines. */
		s->tl[i].seqno = i % 2 ? 0xffffff00u : 0;
		s->tl[i].pending = malloc(((size_t)merges + 1) * sizeof(struct dma_fence *));
	}
	pthread_mutex_init(&s->slots_lock, NULL);
	for (int i = 0; i < SLOTS; i++)
		s->slots[i] = dma_fence_get_stub();
	pthread_create(&signaler, NULL, stress_signaler, s);
	pthread_create(&waiter, NULL, stress_waiter, s);

	for (long i = 0; i < merges; i++) {
		struct dma_fence *f = tl_create(&s->tl[rand_r(&seed) % TIMELINES]);
		int a = rand_r(&seed) % SLOTS, b = rand_r(&seed) % SLOTS;
		struct dma_fence *in[3] = { s->slots[a], f, s->slots[b] };
		struct dma_fence *m, *old;

		__atomic_fetch_add(&s->created, 1, __ATOMIC_RELAXED);
		m = dma_fence_unwrap_merge(in[0], in[1], in[2]);
		REQUIRE(m);
		if (dma_fence_is_array(m))
			members += to_dma_fence_array(m)->num_fences;
		if (i % 4 == 0)
			__atomic_fetch_add(&s->errors, check_merge(m, in, 3), __ATOMIC_RELAXED);
		dma_fence_put(f);
		pthread_mutex_lock(&s->slots_lock);
		old = s->slots[a];
		s->slots[a] = m;
		pthread_mutex_unlock(&s->slots_lock);
		dma_fence_put(old);
	}

	__atomic_store_n(&s->stop, 1, __ATOMIC_RELEASE);
	pthread_join(signaler, NULL);
	pthread_join(waiter, NULL);
	/* Final wait: every merged fence completes. */
	for (int i = 0; i < SLOTS; i++) {
		CHECK(dma_fence_wait_timeout(s->slots[i], false, 5000000000l) > 0);
		dma_fence_put(s->slots[i]);
	}
	CHECK_EQ(__atomic_load_n(&s->errors, __ATOMIC_RELAXED), 0);
	printf("# %ld merges (%.1f fences per merged array), %ld waits completed meanwhile\n",
	       merges, (double)members / (double)merges, s->waits);
	for (int i = 0; i < TIMELINES; i++)
		free(s->tl[i].pending);
	pthread_mutex_destroy(&s->slots_lock);
	free(s);
	CHECK_ALL_FREED();
}
