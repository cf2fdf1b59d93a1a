/* SPDX-License-Identifier: MIT */
/* Tests of reservation objects, including the seed's get_singleton + extra. */
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <dmasync/dma-resv.h>
#include <dmasync/dma-fence-array.h>
#include <dmasync/dma-fence-chain.h>
#include <dmasync/dma-fence-unwrap.h>
#include "alloc-fail.h"
#include "test-harness.h"

static DEFINE_SPINLOCK(tl_lock);
static int live_fences;

static const char *name(struct dma_fence *f) { return "resv-test"; }
static void t_release(struct dma_fence *f)
{
	__atomic_fetch_sub(&live_fences, 1, __ATOMIC_RELAXED);
	dma_fence_free(f);
}
static const struct dma_fence_ops t_ops = {
	.get_driver_name = name, .get_timeline_name = name, .release = t_release,
};

static struct dma_fence *mk(u64 ctx, u64 seqno)
{
	struct dma_fence *f = calloc(1, sizeof(*f));

	dma_fence_init(f, &t_ops, &tl_lock, ctx, seqno);
	__atomic_fetch_add(&live_fences, 1, __ATOMIC_RELAXED);
	return f;
}

static struct dma_fence *mk_new(void)
{
	return mk(dma_fence_context_alloc(1), 1);
}

static void add(struct dma_resv *obj, struct dma_fence *f, enum dma_resv_usage usage)
{
	REQUIRE(dma_resv_lock(obj, NULL) == 0);
	CHECK_EQ(dma_resv_reserve_fences(obj, 1), 0);
	dma_resv_add_fence(obj, f, usage);
	dma_resv_unlock(obj);
}

static unsigned int count_unlocked(struct dma_resv *obj, enum dma_resv_usage usage)
{
	unsigned int n;
	struct dma_fence **fences;

	CHECK_EQ(dma_resv_get_fences(obj, usage, &n, &fences), 0);
	for (unsigned int i = 0; i < n; i++)
		dma_fence_put(fences[i]);
	free(fences);
	return n;
}

static unsigned int count_locked(struct dma_resv *obj, enum dma_resv_usage usage)
{
	struct dma_resv_iter cursor;
	struct dma_fence *f;
	unsigned int n = 0;

	dma_resv_lock(obj, NULL);
	dma_resv_for_each_fence(&cursor, obj, usage, f)
		n++;
	dma_resv_unlock(obj);
	return n;
}

static int leaves(struct dma_fence *f)
{
	struct dma_fence_unwrap cursor;
	struct dma_fence *leaf;
	int n = 0;

	dma_fence_unwrap_for_each(leaf, &cursor, f)
		n++;
	return n;
}

static bool contains_leaf(struct dma_fence *f, struct dma_fence *want)
{
	struct dma_fence_unwrap cursor;
	struct dma_fence *leaf;
	bool found = false;

	dma_fence_unwrap_for_each(leaf, &cursor, f)
		found |= leaf == want;
	return found;
}

static void check_all_freed(int before)
{
	dmasync_rcu_barrier();
	CHECK_EQ(__atomic_load_n(&live_fences, __ATOMIC_RELAXED), before);
}

/* ---- usage classes ----------------------------------------------------------- */

TEST(usage_levels_visibility)
{
	int base = live_fences;
	struct dma_resv obj;
	struct dma_fence *f[4];

	dma_resv_init(&obj);
	for (int u = 0; u < 4; u++) {
		f[u] = mk_new();
		add(&obj, f[u], (enum dma_resv_usage)u);
	}
	for (int u = 0; u < 4; u++) {
		CHECK_EQ(count_unlocked(&obj, (enum dma_resv_usage)u), u + 1);
		CHECK_EQ(count_locked(&obj, (enum dma_resv_usage)u), u + 1);
		CHECK(!dma_resv_test_signaled(&obj, (enum dma_resv_usage)u));
	}
	CHECK_EQ(dma_resv_usage_rw(true), DMA_RESV_USAGE_READ);
	CHECK_EQ(dma_resv_usage_rw(false), DMA_RESV_USAGE_WRITE);

	/* Only the READ fence pending: readers (WRITE query) may go. */
	dma_fence_signal(f[0]);
	dma_fence_signal(f[1]);
	CHECK(dma_resv_test_signaled(&obj, DMA_RESV_USAGE_WRITE));
	CHECK(!dma_resv_test_signaled(&obj, DMA_RESV_USAGE_READ));
	/* Locked iteration still sees the signaled ones; unlocked skips them. */
	CHECK_EQ(count_locked(&obj, DMA_RESV_USAGE_BOOKKEEP), 4);
	CHECK_EQ(count_unlocked(&obj, DMA_RESV_USAGE_BOOKKEEP), 2);
	dma_fence_signal(f[2]);
	CHECK(dma_resv_test_signaled(&obj, DMA_RESV_USAGE_READ));
	CHECK(!dma_resv_test_signaled(&obj, DMA_RESV_USAGE_BOOKKEEP));
	dma_fence_signal(f[3]);
	CHECK(dma_resv_test_signaled(&obj, DMA_RESV_USAGE_BOOKKEEP));
	for (int u = 0; u < 4; u++)
		dma_fence_put(f[u]);
	dma_resv_fini(&obj);
	check_all_freed(base);
}

TEST(locked_iterator_reports_usage)
{
	struct dma_resv obj;
	struct dma_resv_iter cursor;
	struct dma_fence *a = mk_new(), *b = mk_new(), *f;
	int seen = 0;

	dma_resv_init(&obj);
	dma_resv_lock(&obj, NULL);
	CHECK_EQ(dma_resv_reserve_fences(&obj, 2), 0);
	dma_resv_add_fence(&obj, a, DMA_RESV_USAGE_WRITE);
	dma_resv_add_fence(&obj, b, DMA_RESV_USAGE_BOOKKEEP);
	dma_resv_for_each_fence(&cursor, &obj, DMA_RESV_USAGE_BOOKKEEP, f) {
		if (f == a)
			CHECK_EQ(dma_resv_iter_usage(&cursor), DMA_RESV_USAGE_WRITE);
		if (f == b)
			CHECK_EQ(dma_resv_iter_usage(&cursor), DMA_RESV_USAGE_BOOKKEEP);
		seen++;
	}
	CHECK_EQ(seen, 2);
	dma_resv_unlock(&obj);
	dma_fence_signal(a);
	dma_fence_signal(b);
	dma_fence_put(a);
	dma_fence_put(b);
	dma_resv_fini(&obj);
}

/* ---- reserve / add / replace --------------------------------------------------- */

TEST(reserve_zero_is_einval)
{
	struct dma_resv obj;

	EXPECT_WARNINGS();
	dma_resv_init(&obj);
	dma_resv_lock(&obj, NULL);
	CHECK_EQ(dma_resv_reserve_fences(&obj, 0), -EINVAL);
	dma_resv_unlock(&obj);
	dma_resv_fini(&obj);
}

static void add_unreserved(void *arg)
{
	struct dma_resv obj;

	dma_resv_init(&obj);
	dma_resv_lock(&obj, NULL);
	dma_resv_add_fence(&obj, mk_new(), DMA_RESV_USAGE_WRITE);
}

static void add_after_unlock(void *arg)
{
	struct dma_resv obj;

	dma_resv_init(&obj);
	dma_resv_lock(&obj, NULL);
	dma_resv_reserve_fences(&obj, 4);
	dma_resv_unlock(&obj);
	dma_resv_lock(&obj, NULL);
	/* the reservation ended with the unlock, though the slots exist */
	dma_resv_add_fence(&obj, mk_new(), DMA_RESV_USAGE_WRITE);
}

static void add_unlocked(void *arg)
{
	struct dma_resv obj;

	dma_resv_init(&obj);
	dma_resv_add_fence(&obj, mk_new(), DMA_RESV_USAGE_WRITE);
}

TEST(add_without_reservation_is_caught)
{
	CHECK(dmasync_test_dies(add_unreserved, NULL, "without a slot reserved"));
	CHECK(dmasync_test_dies(add_after_unlock, NULL, "without a slot reserved"));
	CHECK(dmasync_test_dies(add_unlocked, NULL, "BUG"));
}

TEST(reserved_slots_are_exactly_usable)
{
	struct dma_resv obj;
	struct dma_fence *f[3];

	dma_resv_init(&obj);
	dma_resv_lock(&obj, NULL);
	CHECK_EQ(dma_resv_reserve_fences(&obj, 3), 0);
	for (int i = 0; i < 3; i++) {
		f[i] = mk_new();
		dma_resv_add_fence(&obj, f[i], DMA_RESV_USAGE_READ);
	}
	dma_resv_unlock(&obj);
	CHECK_EQ(count_unlocked(&obj, DMA_RESV_USAGE_READ), 3);
	for (int i = 0; i < 3; i++) {
		dma_fence_signal(f[i]);
		dma_fence_put(f[i]);
	}
	dma_resv_fini(&obj);
}

TEST(same_context_replacement_rules)
{
	int base = live_fences;
	u64 ctx = dma_fence_context_alloc(1);
	struct dma_resv obj;
	struct dma_fence *w1 = mk(ctx, 1), *w2 = mk(ctx, 2), *r3 = mk(ctx, 3), *w4 = mk(ctx, 4);
	struct dma_fence *old = mk(ctx, 0);

	dma_resv_init(&obj);
	add(&obj, w1, DMA_RESV_USAGE_WRITE);
	add(&obj, w2, DMA_RESV_USAGE_WRITE); /* later, same usage: replaces */
	CHECK_EQ(count_locked(&obj, DMA_RESV_USAGE_BOOKKEEP), 1);
	add(&obj, old, DMA_RESV_USAGE_WRITE); /* earlier seqno: does not replace */
	CHECK_EQ(count_locked(&obj, DMA_RESV_USAGE_BOOKKEEP), 2);
	add(&obj, r3, DMA_RESV_USAGE_READ); /* weaker usage: never demotes a writer */
	CHECK_EQ(count_locked(&obj, DMA_RESV_USAGE_BOOKKEEP), 3);
	CHECK_EQ(count_unlocked(&obj, DMA_RESV_USAGE_WRITE), 2);
	add(&obj, w4, DMA_RESV_USAGE_WRITE); /* replaces w2 (first match) */
	CHECK_EQ(count_locked(&obj, DMA_RESV_USAGE_WRITE), 2);
	{
		struct dma_resv_iter cursor;
		struct dma_fence *f;
		bool has_w2 = false, has_w4 = false;

		dma_resv_lock(&obj, NULL);
		dma_resv_for_each_fence(&cursor, &obj, DMA_RESV_USAGE_BOOKKEEP, f) {
			has_w2 |= f == w2;
			has_w4 |= f == w4;
		}
		dma_resv_unlock(&obj);
		CHECK(!has_w2);
		CHECK(has_w4);
	}
	struct dma_fence *all[] = { w1, w2, r3, w4, old };
	for (int i = 0; i < 5; i++) {
		dma_fence_signal(all[i]);
		dma_fence_put(all[i]);
	}
	dma_resv_fini(&obj);
	check_all_freed(base);
}

TEST(promotion_to_stronger_usage)
{
	u64 ctx = dma_fence_context_alloc(1);
	struct dma_resv obj;
	struct dma_fence *r = mk(ctx, 1), *w = mk(ctx, 2);

	dma_resv_init(&obj);
	add(&obj, r, DMA_RESV_USAGE_BOOKKEEP);
	add(&obj, w, DMA_RESV_USAGE_WRITE);
	CHECK_EQ(count_locked(&obj, DMA_RESV_USAGE_BOOKKEEP), 1);
	CHECK_EQ(count_unlocked(&obj, DMA_RESV_USAGE_WRITE), 1);
	dma_fence_signal(r);
	dma_fence_signal(w);
	dma_fence_put(r);
	dma_fence_put(w);
	dma_resv_fini(&obj);
}

TEST(signaled_fences_are_pruned)
{
	int base = live_fences;
	struct dma_resv obj;
	struct dma_fence *a = mk_new(), *b = mk_new(), *c[8];

	dma_resv_init(&obj);
	add(&obj, a, DMA_RESV_USAGE_WRITE);
	dma_fence_signal(a);
	add(&obj, b, DMA_RESV_USAGE_READ); /* takes the signaled fence's slot */
	CHECK_EQ(count_locked(&obj, DMA_RESV_USAGE_BOOKKEEP), 1);
	/* Growing the list compacts signaled fences away. */
	dma_resv_lock(&obj, NULL);
	CHECK_EQ(dma_resv_reserve_fences(&obj, 8), 0);
	for (int i = 0; i < 8; i++) {
		c[i] = mk_new();
		dma_resv_add_fence(&obj, c[i], DMA_RESV_USAGE_READ);
	}
	dma_resv_unlock(&obj);
	for (int i = 0; i < 8; i++)
		dma_fence_signal(c[i]);
	dma_resv_lock(&obj, NULL);
	CHECK_EQ(dma_resv_reserve_fences(&obj, 64), 0);
	dma_resv_unlock(&obj);
	CHECK_EQ(count_locked(&obj, DMA_RESV_USAGE_BOOKKEEP), 1); /* only b */
	dma_fence_put(a);
	for (int i = 0; i < 8; i++)
		dma_fence_put(c[i]);
	dma_fence_signal(b);
	dma_fence_put(b);
	dma_resv_fini(&obj);
	check_all_freed(base);
}

TEST(replace_fences_by_context)
{
	int base = live_fences;
	u64 ctx = dma_fence_context_alloc(1);
	struct dma_resv obj;
	struct dma_fence *p1 = mk(ctx, 1), *other = mk_new(), *repl = mk_new();

	dma_resv_init(&obj);
	add(&obj, p1, DMA_RESV_USAGE_BOOKKEEP);
	add(&obj, other, DMA_RESV_USAGE_READ);
	dma_resv_lock(&obj, NULL);
	dma_resv_replace_fences(&obj, ctx, repl, DMA_RESV_USAGE_WRITE);
	dma_resv_unlock(&obj);
	CHECK_EQ(count_unlocked(&obj, DMA_RESV_USAGE_WRITE), 1);
	CHECK_EQ(count_unlocked(&obj, DMA_RESV_USAGE_BOOKKEEP), 2);
	dma_fence_signal(p1);
	dma_fence_signal(other);
	dma_fence_signal(repl);
	dma_fence_put(p1);
	dma_fence_put(other);
	dma_fence_put(repl);
	dma_resv_fini(&obj);
	check_all_freed(base);
}

TEST(container_is_split_with_warning)
{
	int base = live_fences;
	struct dma_resv obj;
	struct dma_fence **m = calloc(2, sizeof(*m));
	struct dma_fence *x = mk_new(), *y = mk_new();
	struct dma_fence_array *arr;

	EXPECT_WARNINGS();
	m[0] = dma_fence_get(x);
	m[1] = dma_fence_get(y);
	arr = dma_fence_array_create(2, m, dma_fence_context_alloc(1), 1, false);
	REQUIRE(arr);
	dma_resv_init(&obj);
	dma_resv_lock(&obj, NULL);
	CHECK_EQ(dma_resv_reserve_fences(&obj, 2), 0);
	dma_resv_add_fence(&obj, &arr->base, DMA_RESV_USAGE_WRITE);
	{
		struct dma_resv_iter cursor;
		struct dma_fence *f;
		int n = 0;

		dma_resv_for_each_fence(&cursor, &obj, DMA_RESV_USAGE_BOOKKEEP, f) {
			CHECK(!dma_fence_is_container(f));
			n++;
		}
		CHECK_EQ(n, 2);
	}
	dma_resv_unlock(&obj);
	dma_fence_signal(x);
	dma_fence_signal(y);
	dma_fence_put(&arr->base);
	dma_fence_put(x);
	dma_fence_put(y);
	dma_resv_fini(&obj);
	check_all_freed(base);
}

/* ---- singletons --------------------------------------------------------------- */

static void singleton_of(int n)
{
	int base = live_fences;
	struct dma_resv obj;
	struct dma_fence **f = calloc((size_t)n + 1, sizeof(*f)), *s;

	dma_resv_init(&obj);
	dma_resv_lock(&obj, NULL);
	if (n)
		CHECK_EQ(dma_resv_reserve_fences(&obj, (unsigned)n), 0);
	for (int i = 0; i < n; i++) {
		f[i] = mk_new();
		dma_resv_add_fence(&obj, f[i], DMA_RESV_USAGE_READ);
	}
	dma_resv_unlock(&obj);

	CHECK_EQ(dma_resv_get_singleton(&obj, DMA_RESV_USAGE_READ, &s), 0);
	if (n == 0) {
		CHECK(s == NULL);
	} else if (n == 1) {
		CHECK(s == f[0]);
	} else {
		REQUIRE(s);
		CHECK(dma_fence_is_array(s));
		CHECK_EQ(to_dma_fence_array(s)->num_fences, n);
		CHECK(!dma_fence_is_signaled(s));
	}
	/* The WRITE view sees none of these READ fences. */
	{
		struct dma_fence *w;

		CHECK_EQ(dma_resv_get_singleton(&obj, DMA_RESV_USAGE_WRITE, &w), 0);
		CHECK(w == NULL);
	}
	for (int i = 0; i < n; i++) {
		if (s && i < n - 1)
			CHECK(!dma_fence_is_signaled(s));
		dma_fence_signal(f[i]);
	}
	if (s)
		CHECK(dma_fence_wait_timeout(s, false, 0) > 0);
	dma_fence_put(s);
	for (int i = 0; i < n; i++)
		dma_fence_put(f[i]);
	free(f);
	dma_resv_fini(&obj);
	check_all_freed(base);
}

TEST(get_singleton_0_1_2_4096)
{
	singleton_of(0);
	singleton_of(1);
	singleton_of(2);
	singleton_of(4096);
}

TEST(get_singleton_skips_signaled)
{
	struct dma_resv obj;
	struct dma_fence *a = mk_new(), *b = mk_new(), *s;

	dma_resv_init(&obj);
	add(&obj, a, DMA_RESV_USAGE_WRITE);
	add(&obj, b, DMA_RESV_USAGE_WRITE);
	dma_fence_signal(a);
	CHECK_EQ(dma_resv_get_singleton(&obj, DMA_RESV_USAGE_WRITE, &s), 0);
	CHECK(s == b);
	dma_fence_put(s);
	dma_fence_signal(b);
	CHECK_EQ(dma_resv_get_singleton(&obj, DMA_RESV_USAGE_WRITE, &s), 0);
	CHECK(s == NULL);
	dma_fence_put(a);
	dma_fence_put(b);
	dma_resv_fini(&obj);
}

/* The seed (PATCH 5/6) tested dma_fence_is_signaled() where it meant the
 * opposite: the extra fence's pending parts were dropped, so the result did
 * not wait for the imported work.  It must. */
TEST(seed_regression_extra_pending_parts_are_waited_for)
{
	int base = live_fences;
	struct dma_resv obj;
	struct dma_fence *a = mk_new(), *e = mk_new(), *s;

	dma_resv_init(&obj);
	add(&obj, a, DMA_RESV_USAGE_WRITE);
	CHECK_EQ(dma_resv_get_singleton_extra(&obj, DMA_RESV_USAGE_READ, e, &s), 0);
	REQUIRE(s);
	CHECK(contains_leaf(s, a));
	CHECK(contains_leaf(s, e));
	dma_fence_signal(a);
	CHECK(!dma_fence_is_signaled(s));
	CHECK_EQ(dma_fence_wait_timeout(s, false, 1000000), 0);
	dma_fence_signal(e);
	CHECK(dma_fence_wait_timeout(s, false, 1000000000) > 0);
	dma_fence_put(s);
	dma_fence_put(a);
	dma_fence_put(e);
	dma_resv_fini(&obj);
	check_all_freed(base);
}

/* Seed PATCH 5/6 sized its array from the pending leaves of @extra but
 * filled it with the signaled ones: resv {A, B} + extra {E1 done, E2 done,
 * E3 pending} wrote 4 entries into 3 slots.  ASan would catch an overrun;
 * the result must be exactly {A, B, E3}. */
TEST(seed_regression_extra_with_more_signaled_than_pending)
{
	int base = live_fences;
	struct dma_resv obj;
	struct dma_fence *a = mk_new(), *b = mk_new(), *e[3], **m, *s;
	struct dma_fence_array *extra;

	dma_resv_init(&obj);
	add(&obj, a, DMA_RESV_USAGE_WRITE);
	add(&obj, b, DMA_RESV_USAGE_READ);
	m = calloc(3, sizeof(*m));
	for (int i = 0; i < 3; i++)
		m[i] = e[i] = dma_fence_get(mk_new());
	dma_fence_signal(e[0]);
	dma_fence_signal(e[1]);
	extra = dma_fence_array_create(3, m, dma_fence_context_alloc(1), 1, false);
	REQUIRE(extra);
	CHECK_EQ(dma_resv_get_singleton_extra(&obj, DMA_RESV_USAGE_READ, &extra->base, &s), 0);
	REQUIRE(s);
	CHECK_EQ(leaves(s), 3);
	CHECK(contains_leaf(s, a));
	CHECK(contains_leaf(s, b));
	CHECK(contains_leaf(s, e[2]));
	CHECK(!contains_leaf(s, e[0]) && !contains_leaf(s, e[1]));
	dma_fence_signal(a);
	dma_fence_signal(b);
	CHECK(!dma_fence_is_signaled(s));
	dma_fence_signal(e[2]);
	CHECK(dma_fence_wait_timeout(s, false, 1000000000) > 0);
	dma_fence_put(s);
	dma_fence_put(&extra->base);
	for (int i = 0; i < 3; i++)
		dma_fence_put(e[i]);
	dma_fence_put(a);
	dma_fence_put(b);
	dma_resv_fini(&obj);
	check_all_freed(base);
}

/* Seed PATCH 2/6's "deep dive" applied the array iterator to chain nodes,
 * so arrays inside chains were never flattened.  They must be. */
TEST(seed_regression_arrays_inside_chains_are_flattened)
{
	int base = live_fences;
	struct dma_resv obj;
	struct dma_fence *x = mk_new(), *y = mk_new(), *z = mk_new(), **m, *s;
	struct dma_fence_array *arr;
	struct dma_fence_chain *c1, *c2;

	dma_resv_init(&obj);
	m = calloc(2, sizeof(*m));
	m[0] = dma_fence_get(x);
	m[1] = dma_fence_get(y);
	arr = dma_fence_array_create(2, m, dma_fence_context_alloc(1), 1, false);
	c1 = dma_fence_chain_alloc();
	c2 = dma_fence_chain_alloc();
	REQUIRE(arr && c1 && c2);
	dma_fence_chain_init(c1, NULL, &arr->base, 1);
	dma_fence_chain_init(c2, &c1->base, dma_fence_get(z), 2);
	CHECK_EQ(dma_resv_get_singleton_extra(&obj, DMA_RESV_USAGE_READ, &c2->base, &s), 0);
	REQUIRE(s);
	CHECK(dma_fence_is_array(s));
	CHECK_EQ(to_dma_fence_array(s)->num_fences, 3);
	for (unsigned i = 0; i < 3; i++)
		CHECK(!dma_fence_is_container(to_dma_fence_array(s)->fences[i]));
	CHECK(contains_leaf(s, x) && contains_leaf(s, y) && contains_leaf(s, z));
	dma_fence_signal(x);
	dma_fence_signal(y);
	dma_fence_signal(z);
	CHECK(dma_fence_is_signaled(s));
	dma_fence_put(s);
	dma_fence_put(&c2->base);
	dma_fence_put(x);
	dma_fence_put(y);
	dma_fence_put(z);
	dma_resv_fini(&obj);
	check_all_freed(base);
}

TEST(singleton_extra_nothing_pending_is_null_and_dedups)
{
	int base = live_fences;
	u64 ctx = dma_fence_context_alloc(1);
	struct dma_resv obj;
	struct dma_fence *old = mk(ctx, 1), *newer = mk(ctx, 2), *done = mk_new(), *s;

	dma_resv_init(&obj);
	CHECK_EQ(dma_resv_get_singleton_extra(&obj, DMA_RESV_USAGE_READ, NULL, &s), 0);
	CHECK(s == NULL);
	dma_fence_signal(done);
	CHECK_EQ(dma_resv_get_singleton_extra(&obj, DMA_RESV_USAGE_READ, done, &s), 0);
	CHECK(s == NULL);
	/* Same context in the object and the extra: one fence, the later. */
	add(&obj, old, DMA_RESV_USAGE_WRITE);
	CHECK_EQ(dma_resv_get_singleton_extra(&obj, DMA_RESV_USAGE_READ, newer, &s), 0);
	CHECK(s == newer);
	dma_fence_put(s);
	dma_fence_signal(old);
	dma_fence_signal(newer);
	dma_fence_put(old);
	dma_fence_put(newer);
	dma_fence_put(done);
	dma_resv_fini(&obj);
	check_all_freed(base);
}

/* ---- copy, wait, deadline, describe ----------------------------------------- */

TEST(copy_fences_takes_unsignaled_all_usages)
{
	int base = live_fences;
	struct dma_resv a, b;
	struct dma_fence *w = mk_new(), *r = mk_new(), *done = mk_new(), *old = mk_new();

	dma_resv_init(&a);
	dma_resv_init(&b);
	add(&a, w, DMA_RESV_USAGE_WRITE);
	add(&a, r, DMA_RESV_USAGE_BOOKKEEP);
	add(&a, done, DMA_RESV_USAGE_READ);
	dma_fence_signal(done);
	add(&b, old, DMA_RESV_USAGE_WRITE);
	dma_resv_lock(&b, NULL);
	CHECK_EQ(dma_resv_copy_fences(&b, &a), 0);
	dma_resv_unlock(&b);
	CHECK_EQ(count_locked(&b, DMA_RESV_USAGE_BOOKKEEP), 2);
	CHECK_EQ(count_unlocked(&b, DMA_RESV_USAGE_WRITE), 1);
	/* The copy keeps working: it can grow and take more fences. */
	{
		struct dma_fence *more = mk_new();

		add(&b, more, DMA_RESV_USAGE_READ);
		CHECK_EQ(count_locked(&b, DMA_RESV_USAGE_BOOKKEEP), 3);
		dma_fence_signal(more);
		dma_fence_put(more);
	}
	struct dma_fence *all[] = { w, r, done, old };
	for (int i = 0; i < 4; i++) {
		dma_fence_signal(all[i]);
		dma_fence_put(all[i]);
	}
	dma_resv_fini(&a);
	dma_resv_fini(&b);
	check_all_freed(base);
}

struct later {
	struct dma_fence *f;
	long ns;
};

static void *signal_after(void *arg)
{
	struct later *l = arg;

	usleep((useconds_t)(l->ns / 1000));
	dma_fence_signal(l->f);
	return NULL;
}

TEST(wait_timeout_semantics)
{
	struct dma_resv obj;
	struct dma_fence *w = mk_new(), *r = mk_new();
	struct later l = { w, 10 * 1000 * 1000 };
	pthread_t th;

	dma_resv_init(&obj);
	CHECK_EQ(dma_resv_wait_timeout(&obj, DMA_RESV_USAGE_BOOKKEEP, false, 0), 1);
	CHECK_EQ(dma_resv_wait_timeout(&obj, DMA_RESV_USAGE_BOOKKEEP, false, 5000), 5000);
	add(&obj, w, DMA_RESV_USAGE_WRITE);
	add(&obj, r, DMA_RESV_USAGE_READ);
	CHECK_EQ(dma_resv_wait_timeout(&obj, DMA_RESV_USAGE_WRITE, false, 0), 0);
	CHECK_EQ(dma_resv_wait_timeout(&obj, DMA_RESV_USAGE_WRITE, true, 2000000), 0);
	pthread_create(&th, NULL, signal_after, &l);
	CHECK(dma_resv_wait_timeout(&obj, DMA_RESV_USAGE_WRITE, true, MAX_SCHEDULE_TIMEOUT) > 0);
	pthread_join(th, NULL);
	CHECK_EQ(dma_resv_wait_timeout(&obj, DMA_RESV_USAGE_READ, false, 0), 0);
	dma_fence_signal(r);
	CHECK_EQ(dma_resv_wait_timeout(&obj, DMA_RESV_USAGE_READ, false, 0), 1);
	dma_fence_put(w);
	dma_fence_put(r);
	dma_resv_fini(&obj);
}

static ktime_t deadline_seen;
static void dl_set(struct dma_fence *f, ktime_t d) { deadline_seen = d; }
static const struct dma_fence_ops dl_ops = {
	.get_driver_name = name, .get_timeline_name = name, .set_deadline = dl_set,
};

TEST(set_deadline_forwards_by_usage)
{
	struct dma_resv obj;
	struct dma_fence *f = calloc(1, sizeof(*f));

	dma_fence_init(f, &dl_ops, &tl_lock, dma_fence_context_alloc(1), 1);
	dma_resv_init(&obj);
	add(&obj, f, DMA_RESV_USAGE_READ);
	deadline_seen = 0;
	dma_resv_set_deadline(&obj, DMA_RESV_USAGE_WRITE, 111);
	CHECK_EQ(deadline_seen, 0);
	dma_resv_set_deadline(&obj, DMA_RESV_USAGE_READ, 222);
	CHECK_EQ(deadline_seen, 222);
	dma_fence_signal(f);
	dma_fence_put(f);
	dma_resv_fini(&obj);
}

TEST(describe_lists_usage)
{
	struct dma_resv obj;
	struct dma_fence *f = mk(4242, 7);
	char buf[512] = "";
	FILE *m = fmemopen(buf, sizeof(buf), "w");

	dma_resv_init(&obj);
	add(&obj, f, DMA_RESV_USAGE_BOOKKEEP);
	dma_resv_lock(&obj, NULL);
	dma_resv_describe(&obj, m);
	dma_resv_unlock(&obj);
	fclose(m);
	CHECK(strstr(buf, "bookkeep fence:") != NULL);
	CHECK(strstr(buf, "4242:7 resv-test resv-test unsignalled") != NULL);
	dma_fence_signal(f);
	dma_fence_put(f);
	dma_resv_fini(&obj);
}

/* ---- unlocked iteration restarts ----------------------------------------------- */

TEST(unlocked_iteration_restarts_when_list_replaced)
{
	struct dma_resv obj;
	struct dma_resv_iter cursor;
	struct dma_fence *f[3], *it;
	int seen = 0, restarts = 0;

	dma_resv_init(&obj);
	for (int i = 0; i < 3; i++) {
		f[i] = mk_new();
		add(&obj, f[i], DMA_RESV_USAGE_WRITE);
	}
	dma_resv_iter_begin(&cursor, &obj, DMA_RESV_USAGE_WRITE);
	it = dma_resv_iter_first_unlocked(&cursor);
	CHECK(it == f[0]);
	CHECK(dma_resv_iter_is_restarted(&cursor));
	it = dma_resv_iter_next_unlocked(&cursor);
	CHECK(it == f[1]);
	CHECK(!dma_resv_iter_is_restarted(&cursor));
	/* A writer grows the list: the walk must start over. */
	dma_resv_lock(&obj, NULL);
	CHECK_EQ(dma_resv_reserve_fences(&obj, 100), 0);
	dma_resv_unlock(&obj);
	for (it = dma_resv_iter_next_unlocked(&cursor); it; it = dma_resv_iter_next_unlocked(&cursor)) {
		if (dma_resv_iter_is_restarted(&cursor)) {
			restarts++;
			seen = 0;
		}
		seen++;
	}
	dma_resv_iter_end(&cursor);
	CHECK_EQ(restarts, 1);
	CHECK_EQ(seen, 3);
	for (int i = 0; i < 3; i++) {
		dma_fence_signal(f[i]);
		dma_fence_put(f[i]);
	}
	dma_resv_fini(&obj);
}

/* ---- ww locking across objects ------------------------------------------------- */

TEST(lock_many_with_acquire_ctx)
{
	struct dma_resv o[4];
	struct ww_acquire_ctx ctx;

	for (int i = 0; i < 4; i++)
		dma_resv_init(&o[i]);
	ww_acquire_init(&ctx, &reservation_ww_class);
	for (int i = 0; i < 4; i++)
		CHECK_EQ(dma_resv_lock(&o[i], &ctx), 0);
	CHECK_EQ(dma_resv_lock(&o[2], &ctx), -EALREADY);
	CHECK(dma_resv_locking_ctx(&o[1]) == &ctx);
	CHECK(dma_resv_is_locked(&o[3]));
	CHECK(!dma_resv_trylock(&o[0]));
	ww_acquire_done(&ctx);
	for (int i = 0; i < 4; i++)
		dma_resv_unlock(&o[i]);
	ww_acquire_fini(&ctx);
	CHECK(dma_resv_trylock(&o[0]));
	dma_resv_unlock(&o[0]);
	for (int i = 0; i < 4; i++)
		dma_resv_fini(&o[i]);
}

/* ---- stress: readers never wait for the writer ---------------------------------- */

struct stress {
	struct dma_resv *obj;
	int stop;
	int started;
	long reads;
};

static void *reader(void *arg)
{
	struct stress *s = arg;
	long n = 0;

	__atomic_fetch_add(&s->started, 1, __ATOMIC_RELEASE);
	while (!__atomic_load_n(&s->stop, __ATOMIC_ACQUIRE)) {
		struct dma_fence *f = NULL;

		(void)dma_resv_test_signaled(s->obj, (enum dma_resv_usage)(n & 3));
		if (dma_resv_get_singleton(s->obj, DMA_RESV_USAGE_READ, &f) == 0 && f) {
			if (dma_fence_is_container(f))
				CHECK(dma_fence_is_array(f));
			dma_fence_put(f);
		}
		if ((n & 15) == 0) {
			CHECK_EQ(dma_resv_get_singleton_extra(s->obj, DMA_RESV_USAGE_BOOKKEEP, NULL, &f), 0);
			dma_fence_put(f);
		}
		n++;
	}
	__atomic_fetch_add(&s->reads, n, __ATOMIC_RELAXED);
	return NULL;
}

TEST(stress_readers_against_writer)
{
	int base = live_fences;
	long rounds = STRESS(20000);
	struct dma_resv obj;
	struct stress s = { &obj, 0, 0, 0 };
	u64 ctx = dma_fence_context_alloc(8);
	struct dma_fence *pending[8] = { 0 };
	pthread_t th[2];

	dma_resv_init(&obj);
	for (int i = 0; i < 2; i++)
		pthread_create(&th[i], NULL, reader, &s);
	while (__atomic_load_n(&s.started, __ATOMIC_ACQUIRE) < 2)
		sched_yield();
	for (long r = 0; r < rounds; r++) {
		int t = (int)(r % 8);
		struct dma_fence *f = mk(ctx + (u64)t, (u64)r + 1);

		dma_resv_lock(&obj, NULL);
		CHECK_EQ(dma_resv_reserve_fences(&obj, 1), 0);
		dma_resv_add_fence(&obj, f, (enum dma_resv_usage)(r % 4));
		if (r % 7 == 0)
			dma_resv_replace_fences(&obj, ctx + (u64)((t + 3) % 8), f,
						DMA_RESV_USAGE_BOOKKEEP);
		dma_resv_unlock(&obj);
		if (pending[t]) {
			dma_fence_signal(pending[t]);
			dma_fence_put(pending[t]);
		}
		pending[t] = f;
	}
	__atomic_store_n(&s.stop, 1, __ATOMIC_RELEASE);
	for (int i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
	for (int t = 0; t < 8; t++) {
		dma_fence_signal(pending[t]);
		dma_fence_put(pending[t]);
	}
	CHECK(dma_resv_test_signaled(&obj, DMA_RESV_USAGE_BOOKKEEP));
	dma_resv_fini(&obj);
	check_all_freed(base);
	CHECK(s.reads > 0);
	printf("# %ld writer rounds, %ld reads\n", rounds, s.reads);
}

/*
 * Randomised model check of add_fence: after every operation, every fence
 * ever added that has not signaled must still be covered by an entry of
 * its context with the same or a stronger usage and the same or a later
 * seqno (otherwise an implicit-sync waiter could miss it).
 */
TEST(random_add_never_loses_a_pending_fence)
{
	enum { CTX = 12, OPS = 3000 };
	int base = live_fences;
	u64 ctx = dma_fence_context_alloc(CTX);
	u64 seq[CTX] = { 0 };
	struct dma_fence *added[OPS];
	enum dma_resv_usage used[OPS];
	struct dma_resv obj;
	unsigned int rng = 12345;
	int n = 0, bad = 0;

	dma_resv_init(&obj);
	for (int op = 0; op < OPS && !bad; op++) {
		int c;
		struct dma_fence *f;

		rng = rng * 1103515245 + 12345;
		c = (int)((rng >> 16) % CTX);
		if ((rng >> 8) % 5 == 0 && n) {
			/* signal something random, and, as a timeline does, every
			 * earlier fence of its context */
			struct dma_fence *t = added[(rng >> 4) % (unsigned)n];

			for (int g = 0; g < n; g++)
				if (added[g]->context == t->context && added[g]->seqno <= t->seqno)
					dma_fence_signal(added[g]);
			continue;
		}
		/* mostly later seqnos, sometimes an earlier one */
		if ((rng >> 12) % 7 == 0 && seq[c] > 2)
			f = mk(ctx + (u64)c, seq[c] - 1);
		else
			f = mk(ctx + (u64)c, ++seq[c]);
		used[n] = (enum dma_resv_usage)((rng >> 20) % 4);
		added[n++] = f;
		dma_resv_lock(&obj, NULL);
		CHECK_EQ(dma_resv_reserve_fences(&obj, 1 + (rng >> 24) % 3), 0);
		dma_resv_add_fence(&obj, f, used[n - 1]);

		for (int g = 0; g < n; g++) {
			struct dma_resv_iter cursor;
			struct dma_fence *e;
			bool covered = false;

			if (dma_fence_is_signaled(added[g]))
				continue;
			dma_resv_for_each_fence(&cursor, &obj, DMA_RESV_USAGE_BOOKKEEP, e) {
				if (e == added[g] ||
				    (e->context == added[g]->context &&
				     dma_resv_iter_usage(&cursor) <= used[g] &&
				     dma_fence_is_later_or_same(e, added[g])))
					covered = true;
			}
			if (!covered && !bad) {
				printf("# op %d: pending fence %d (ctx %llu seq %llu usage %d) not covered\n",
				       op, g, (unsigned long long)(added[g]->context - ctx),
				       (unsigned long long)added[g]->seqno, used[g]);
				bad = 1;
			}
		}
		dma_resv_unlock(&obj);
	}
	CHECK(!bad);
	for (int i = 0; i < n; i++) {
		dma_fence_signal(added[i]);
		dma_fence_put(added[i]);
	}
	dma_resv_fini(&obj);
	check_all_freed(base);
}

/*
 * Allocation failures.  The seed's get_singleton kept its error in an
 * unsigned int and returned ERR_PTR() of it, which is not an error pointer
 * on 64-bit: -ENOMEM became a bogus fence.  Here every allocation of each
 * call is made to fail in turn: the call must return -ENOMEM, leave its
 * output NULL, leave the object intact and leak nothing.
 *
 * malloc is interposed for this test binary (alloc-fail.c): allocations
 * of the calling thread fail on a countdown.
 */
#if ALLOC_FAIL_INTERPOSED
enum call { GET_FENCES, SINGLETON, SINGLETON_EXTRA, RESERVE, COPY };

static int run_call(enum call c, struct dma_resv *obj, struct dma_resv *dst,
		    struct dma_fence *extra, struct dma_fence **out)
{
	unsigned int n;
	struct dma_fence **arr = NULL;
	int r = 0;

	*out = NULL;
	switch (c) {
	case GET_FENCES:
		r = dma_resv_get_fences(obj, DMA_RESV_USAGE_BOOKKEEP, &n, &arr);
		if (r == 0) {
			for (unsigned int i = 0; i < n; i++)
				dma_fence_put(arr[i]);
			free(arr);
		} else {
			CHECK(arr == NULL);
		}
		break;
	case SINGLETON:
		r = dma_resv_get_singleton(obj, DMA_RESV_USAGE_BOOKKEEP, out);
		break;
	case SINGLETON_EXTRA:
		r = dma_resv_get_singleton_extra(obj, DMA_RESV_USAGE_BOOKKEEP, extra, out);
		break;
	case RESERVE:
		dma_resv_lock(obj, NULL);
		r = dma_resv_reserve_fences(obj, 64);
		dma_resv_unlock(obj);
		break;
	case COPY:
		dma_resv_lock(dst, NULL);
		r = dma_resv_copy_fences(dst, obj);
		dma_resv_unlock(dst);
		break;
	}
	return r;
}
#endif

TEST(allocation_failures_return_enomem_and_leak_nothing)
{
#if !ALLOC_FAIL_INTERPOSED
	printf("# malloc cannot be interposed under a sanitizer; covered by the plain build\n");
#else
	static const char *const names[] = { "get_fences", "get_singleton", "get_singleton_extra",
					     "reserve_fences", "copy_fences" };
	int base = live_fences;
	struct dma_resv obj, dst;
	struct dma_fence *f[3], *e[2], **m;
	struct dma_fence_array *extra;

	dma_resv_init(&obj);
	dma_resv_init(&dst);
	for (int i = 0; i < 3; i++) {
		f[i] = mk_new();
		add(&obj, f[i], (enum dma_resv_usage)i);
	}
	m = calloc(2, sizeof(*m));
	for (int i = 0; i < 2; i++)
		m[i] = e[i] = dma_fence_get(mk_new());
	extra = dma_fence_array_create(2, m, dma_fence_context_alloc(1), 1, false);
	REQUIRE(extra);

	for (int c = GET_FENCES; c <= COPY; c++) {
		int failures = 0, r;

		for (int k = 0; k < 100; k++) {
			struct dma_fence *out;

			alloc_fail_after(k);
			r = run_call((enum call)c, &obj, &dst, &extra->base, &out);
			alloc_fail_after(-1);
			if (r == 0) {
				dma_fence_put(out);
				break;
			}
			failures++;
			CHECK_EQ(r, -ENOMEM);
			CHECK(out == NULL);
			CHECK_EQ(count_locked(&obj, DMA_RESV_USAGE_BOOKKEEP), 3);
		}
		CHECK_EQ(r, 0);
		if (!failures)
			printf("# %s never allocated?\n", names[c]);
		CHECK(failures > 0);
		printf("# %s: %d failing allocations handled\n", names[c], failures);
	}
	CHECK_EQ(count_unlocked(&obj, DMA_RESV_USAGE_BOOKKEEP), 3);
	for (int i = 0; i < 3; i++) {
		dma_fence_signal(f[i]);
		dma_fence_put(f[i]);
	}
	for (int i = 0; i < 2; i++) {
		dma_fence_signal(e[i]);
		dma_fence_put(e[i]);
	}
	dma_fence_put(&extra->base);
	dma_resv_fini(&obj);
	dma_resv_fini(&dst);
	check_all_freed(base);
#endif
}

/*
 * Seed PATCH 2/6 kept a bare pointer to a chain link between its two
 * passes while chain walks elsewhere could unlink and free that link once
 * it signaled.  Here one thread merges the object's fences with a chain
 * that others signal and walk (garbage-collecting signaled links) at the
 * same time; ASan/TSan must stay quiet and every fence must be freed.
 */
struct chain_race {
	struct dma_fence *head;
	struct dma_fence **links;
	int n;
	int stop;
};

static void *chain_signaler(void *arg)
{
	struct chain_race *cr = arg;
	unsigned int rng = 99;

	for (int i = 0; i < cr->n; i++) {
		rng = rng * 1103515245 + 12345;
		dma_fence_signal(cr->links[(rng >> 8) % (unsigned)cr->n]);
	}
	for (int i = 0; i < cr->n; i++)
		dma_fence_signal(cr->links[i]);
	return NULL;
}

static void *chain_walker(void *arg)
{
	struct chain_race *cr = arg;

	while (!__atomic_load_n(&cr->stop, __ATOMIC_ACQUIRE)) {
		struct dma_fence *iter;

		dma_fence_chain_for_each(iter, cr->head)
			(void)dma_fence_chain_contained(iter);
	}
	return NULL;
}

TEST(stress_singleton_extra_against_chain_gc)
{
	int base = live_fences;
	long rounds = STRESS(150);

	for (long r = 0; r < rounds; r++) {
		struct chain_race cr = { .n = 48 };
		struct dma_fence *prev = NULL, *own = mk_new(), *s;
		struct dma_resv obj;
		pthread_t sig, walk;

		cr.links = calloc((size_t)cr.n, sizeof(*cr.links));
		for (int i = 0; i < cr.n; i++) {
			struct dma_fence_chain *c = dma_fence_chain_alloc();

			cr.links[i] = mk_new();
			dma_fence_chain_init(c, prev, dma_fence_get(cr.links[i]), (u64)i + 1);
			prev = &c->base;
		}
		cr.head = prev;
		dma_resv_init(&obj);
		add(&obj, own, DMA_RESV_USAGE_WRITE);
		pthread_create(&walk, NULL, chain_walker, &cr);
		pthread_create(&sig, NULL, chain_signaler, &cr);
		for (int k = 0; k < 20; k++) {
			CHECK_EQ(dma_resv_get_singleton_extra(&obj, DMA_RESV_USAGE_READ, cr.head, &s), 0);
			REQUIRE(s);
			CHECK(contains_leaf(s, own));
			dma_fence_put(s);
		}
		pthread_join(sig, NULL);
		__atomic_store_n(&cr.stop, 1, __ATOMIC_RELEASE);
		pthread_join(walk, NULL);
		/* Every link signaled: only the object's own fence is left. */
		CHECK_EQ(dma_resv_get_singleton_extra(&obj, DMA_RESV_USAGE_READ, cr.head, &s), 0);
		CHECK(s == own);
		dma_fence_put(s);
		dma_fence_signal(own);
		dma_fence_put(own);
		dma_fence_put(cr.head);
		for (int i = 0; i < cr.n; i++)
			dma_fence_put(cr.links[i]);
		free(cr.links);
		dma_resv_fini(&obj);
	}
	check_all_freed(base);
}
