/* SPDX-License-Identifier: MIT */
/* Tests of dma_fence_array: all/any signaling, errors, lazy enabling,
 * iteration helpers, misuse warnings, concurrency and refcount balance. */
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
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

/* A malloc()ed vector of @n new test fences; refs of the vector's entries
 * are also returned in @keep (one extra reference each) when non-NULL. */
static struct dma_fence **tf_vector(int n, struct dma_fence **keep)
{
	struct dma_fence **v = malloc((size_t)n * sizeof(*v));

	for (int i = 0; i < n; i++) {
		v[i] = tf_simple();
		if (keep)
			keep[i] = dma_fence_get(v[i]);
	}
	return v;
}

static void put_all(struct dma_fence **v, int n)
{
	for (int i = 0; i < n; i++)
		dma_fence_put(v[i]);
}

struct counter_cb {
	struct dma_fence_cb cb;
	int calls;
	int status_seen;
};

static void counter_func(struct dma_fence *f, struct dma_fence_cb *cb)
{
	struct counter_cb *c = container_of(cb, struct counter_cb, cb);

	c->status_seen = f->error ? f->error : 1;
	__atomic_fetch_add(&c->calls, 1, __ATOMIC_RELAXED);
}

/* ---- basics -------------------------------------------------------------- */

TEST(create_fields_names_and_types)
{
	struct dma_fence *m[2];
	struct dma_fence **v = tf_vector(2, m);
	u64 ctx = dma_fence_context_alloc(1);
	struct dma_fence_array *a = dma_fence_array_create(2, v, ctx, 7, false);

	REQUIRE(a);
	CHECK(dma_fence_is_array(&a->base));
	CHECK(dma_fence_is_container(&a->base));
	CHECK(!dma_fence_is_chain(&a->base));
	CHECK(to_dma_fence_array(&a->base) == a);
	CHECK(to_dma_fence_array(m[0]) == NULL);
	CHECK(to_dma_fence_array(NULL) == NULL);
	CHECK(!dma_fence_is_array(NULL));
	CHECK(!dma_fence_is_container(NULL));
	CHECK(!dma_fence_is_container(m[0]));
	CHECK_EQ(a->num_fences, 2);
	CHECK(a->fences == v);
	CHECK_EQ(a->base.context, ctx);
	CHECK_EQ(a->base.seqno, 7);
	CHECK(!test_bit(DMA_FENCE_FLAG_SEQNO64_BIT, &a->base.flags));
	CHECK_STR(a->base.ops->get_driver_name(&a->base), "dma_fence_array");
	CHECK_STR(a->base.ops->get_timeline_name(&a->base), "unbound");
	/* The array took over the vector's references. */
	CHECK_EQ(kref_read(&m[0]->refcount), 2);
	CHECK_EQ(dma_fence_get_status(&a->base), 0);
	dma_fence_put(&a->base);
	CHECK_EQ(kref_read(&m[0]->refcount), 1);
	put_all(m, 2);
	CHECK_ALL_FREED();
}

TEST(seqno_is_32bit)
{
	u64 ctx = dma_fence_context_alloc(1);
	struct dma_fence_array *a = dma_fence_array_create(1, tf_vector(1, NULL), ctx,
							    0xffffffffu, false);
	struct dma_fence_array *b = dma_fence_array_create(1, tf_vector(1, NULL), ctx, 1, false);

	REQUIRE(a && b);
	/* 1 follows 0xffffffff on a wrapping 32-bit timeline. */
	CHECK(dma_fence_is_later(&b->base, &a->base));
	CHECK(!dma_fence_is_later(&a->base, &b->base));
	dma_fence_put(&a->base);
	dma_fence_put(&b->base);
	CHECK_ALL_FREED();
}

TEST(all_mode_signals_after_last_member)
{
	struct dma_fence *m[3];
	struct dma_fence_array *a =
		dma_fence_array_create(3, tf_vector(3, m), dma_fence_context_alloc(1), 1, false);
	struct counter_cb c = { 0 };

	REQUIRE(a);
	CHECK_EQ(dma_fence_add_callback(&a->base, &c.cb, counter_func), 0);
	dma_fence_signal(m[1]);
	CHECK(!dma_fence_is_signaled(&a->base));
	dma_fence_signal(m[0]);
	CHECK(!dma_fence_is_signaled(&a->base));
	CHECK_EQ(c.calls, 0);
	dma_fence_signal(m[2]);
	/* The deferred signal ran before dma_fence_signal() returned. */
	CHECK(dma_fence_test_signaled_flag(&a->base));
	CHECK_EQ(c.calls, 1);
	CHECK_EQ(c.status_seen, 1);
	CHECK_EQ(dma_fence_get_status(&a->base), 1);
	CHECK_EQ(a->base.error, 0);
	dma_fence_put(&a->base);
	put_all(m, 3);
	CHECK_ALL_FREED();
}

TEST(any_mode_signals_on_first_member)
{
	struct dma_fence *m[3];
	struct dma_fence_array *a =
		dma_fence_array_create(3, tf_vector(3, m), dma_fence_context_alloc(1), 1, true);
	struct counter_cb c = { 0 };

	REQUIRE(a);
	CHECK_EQ(dma_fence_add_callback(&a->base, &c.cb, counter_func), 0);
	CHECK(!dma_fence_is_signaled(&a->base));
	dma_fence_signal(m[2]);
	CHECK(dma_fence_test_signaled_flag(&a->base));
	CHECK_EQ(c.calls, 1);
	CHECK_EQ(dma_fence_get_status(&a->base), 1);
	/* Drop the array while callbacks on m[0], m[1] are still armed: they
	 * hold references, so nothing is freed under them. */
	dma_fence_put(&a->base);
	CHECK(has_callbacks(m[0]));
	dma_fence_signal(m[0]);
	dma_fence_signal(m[1]);
	CHECK(!has_callbacks(m[1]));
	put_all(m, 3);
	CHECK_ALL_FREED();
}

TEST(all_mode_first_error_propagates)
{
	struct dma_fence *m[3];
	struct dma_fence_array *a =
		dma_fence_array_create(3, tf_vector(3, m), dma_fence_context_alloc(1), 1, false);

	REQUIRE(a);
	dma_fence_enable_sw_signaling(&a->base);
	dma_fence_signal(m[0]);
	dma_fence_set_error(m[2], -ENOMEM);
	dma_fence_signal(m[2]);
	/* Not signaled yet: the pending error is not visible as a status. */
	CHECK_EQ(dma_fence_get_status(&a->base), 0);
	dma_fence_set_error(m[1], -EIO);
	dma_fence_signal(m[1]);
	CHECK_EQ(dma_fence_get_status(&a->base), -ENOMEM);
	CHECK_EQ(a->base.error, -ENOMEM);
	dma_fence_put(&a->base);
	put_all(m, 3);
	CHECK_ALL_FREED();
}

TEST(any_mode_error_of_first_signaler)
{
	struct dma_fence *m[2];
	struct dma_fence_array *a, *b;

	/* First member to signal failed: the array fails. */
	a = dma_fence_array_create(2, tf_vector(2, m), dma_fence_context_alloc(1), 1, true);
	REQUIRE(a);
	dma_fence_enable_sw_signaling(&a->base);
	dma_fence_set_error(m[1], -ETIMEDOUT);
	dma_fence_signal(m[1]);
	CHECK_EQ(dma_fence_get_status(&a->base), -ETIMEDOUT);
	dma_fence_signal(m[0]);
	dma_fence_put(&a->base);
	put_all(m, 2);

	/* First member succeeded: a later failure does not change the result. */
	b = dma_fence_array_create(2, tf_vector(2, m), dma_fence_context_alloc(1), 1, true);
	REQUIRE(b);
	dma_fence_enable_sw_signaling(&b->base);
	dma_fence_signal(m[0]);
	CHECK_EQ(dma_fence_get_status(&b->base), 1);
	dma_fence_set_error(m[1], -EIO);
	dma_fence_signal(m[1]);
	CHECK_EQ(dma_fence_get_status(&b->base), 1);
	CHECK_EQ(b->base.error, 0);
	dma_fence_put(&b->base);
	put_all(m, 2);
	CHECK_ALL_FREED();
}

TEST(members_signaled_before_enable)
{
	struct dma_fence *m[3];
	struct dma_fence_array *a;
	struct counter_cb c = { 0 };

	a = dma_fence_array_create(3, tf_vector(3, m), dma_fence_context_alloc(1), 1, false);
	REQUIRE(a);
	dma_fence_signal(m[0]);
	dma_fence_set_error(m[1], -EPIPE);
	dma_fence_signal(m[1]);
	CHECK_EQ(dma_fence_add_callback(&a->base, &c.cb, counter_func), 0);
	/* Only m[2] got a callback. */
	CHECK(!has_callbacks(m[0]));
	CHECK(has_callbacks(m[2]));
	dma_fence_signal(m[2]);
	CHECK_EQ(c.calls, 1);
	CHECK_EQ(c.status_seen, -EPIPE);
	dma_fence_put(&a->base);
	put_all(m, 3);

	/* All signaled before enable: the enable itself signals the array. */
	a = dma_fence_array_create(3, tf_vector(3, m), dma_fence_context_alloc(1), 1, false);
	REQUIRE(a);
	for (int i = 0; i < 3; i++)
		dma_fence_signal(m[i]);
	memset(&c, 0, sizeof(c));
	CHECK_EQ(dma_fence_add_callback(&a->base, &c.cb, counter_func), -ENOENT);
	CHECK(dma_fence_test_signaled_flag(&a->base));
	CHECK_EQ(dma_fence_get_status(&a->base), 1);
	CHECK_EQ(c.calls, 0);
	dma_fence_put(&a->base);
	put_all(m, 3);
	CHECK_ALL_FREED();
}

/* ---- lazy enabling and polling -------------------------------------------- */

TEST(lazy_enabling_no_member_callbacks_until_waited)
{
	struct dma_fence *m[4];
	struct dma_fence_array *a =
		dma_fence_array_create(4, tf_vector(4, m), dma_fence_context_alloc(1), 1, false);

	REQUIRE(a);
	/* Creating and polling does not touch the members. */
	CHECK(!dma_fence_is_signaled(&a->base));
	CHECK_EQ(dma_fence_get_status(&a->base), 0);
	for (int i = 0; i < 4; i++) {
		CHECK(!has_callbacks(m[i]));
		CHECK(!test_bit(DMA_FENCE_FLAG_ENABLE_SIGNAL_BIT, &m[i]->flags));
		CHECK_EQ(to_tf(m[i])->enable_calls, 0);
	}
	/* A waiter enables: every member gets exactly one callback. */
	dma_fence_enable_sw_signaling(&a->base);
	for (int i = 0; i < 4; i++) {
		CHECK(has_callbacks(m[i]));
		CHECK_EQ(to_tf(m[i])->enable_calls, 1);
	}
	dma_fence_enable_sw_signaling(&a->base); /* idempotent */
	for (int i = 0; i < 4; i++) {
		CHECK_EQ(to_tf(m[i])->enable_calls, 1);
		dma_fence_signal(m[i]);
	}
	CHECK(dma_fence_test_signaled_flag(&a->base));
	dma_fence_put(&a->base);
	put_all(m, 4);
	CHECK_ALL_FREED();
}

TEST(polling_without_enabling)
{
	struct dma_fence *m[3];
	struct dma_fence_array *a, *b;

	/* All mode: signaled by polling once every member has signaled,
	 * including the first member error. */
	a = dma_fence_array_create(3, tf_vector(3, m), dma_fence_context_alloc(1), 1, false);
	REQUIRE(a);
	dma_fence_signal(m[0]);
	dma_fence_set_error(m[2], -EBADMSG);
	dma_fence_signal(m[2]);
	CHECK(!dma_fence_is_signaled(&a->base));
	dma_fence_signal(m[1]);
	CHECK(dma_fence_is_signaled(&a->base));
	CHECK(dma_fence_test_signaled_flag(&a->base));
	CHECK_EQ(dma_fence_get_status(&a->base), -EBADMSG);
	CHECK(!test_bit(DMA_FENCE_FLAG_ENABLE_SIGNAL_BIT, &a->base.flags));
	for (int i = 0; i < 3; i++)
		CHECK(!test_bit(DMA_FENCE_FLAG_ENABLE_SIGNAL_BIT, &m[i]->flags));
	dma_fence_put(&a->base);
	put_all(m, 3);

	/* Any mode: one signaled member is enough. */
	b = dma_fence_array_create(3, tf_vector(3, m), dma_fence_context_alloc(1), 1, true);
	REQUIRE(b);
	CHECK(!dma_fence_is_signaled(&b->base));
	dma_fence_signal(m[1]);
	CHECK(dma_fence_is_signaled(&b->base));
	CHECK_EQ(dma_fence_get_status(&b->base), 1);
	CHECK_EQ(dma_fence_wait(&b->base, false), 0);
	dma_fence_put(&b->base);
	put_all(m, 3);
	CHECK_ALL_FREED();
}

TEST(set_deadline_forwards_to_unsignaled_members)
{
	struct dma_fence *m[3];
	struct dma_fence_array *a =
		dma_fence_array_create(3, tf_vector(3, m), dma_fence_context_alloc(1), 1, false);

	REQUIRE(a);
	dma_fence_signal(m[1]);
	dma_fence_set_deadline(&a->base, 123456789);
	CHECK_EQ(to_tf(m[0])->deadline, 123456789);
	CHECK_EQ(to_tf(m[2])->deadline, 123456789);
	CHECK_EQ(to_tf(m[1])->deadline_calls, 0);
	/* Deadlines are hints: no enabling. */
	CHECK(!has_callbacks(m[0]));
	dma_fence_signal(m[0]);
	dma_fence_signal(m[2]);
	dma_fence_put(&a->base);
	put_all(m, 3);
	CHECK_ALL_FREED();
}

TEST(release_unsignaled_never_enabled)
{
	struct dma_fence *m[2];
	struct dma_fence_array *a =
		dma_fence_array_create(2, tf_vector(2, m), dma_fence_context_alloc(1), 1, false);

	REQUIRE(a);
	dma_fence_put(&a->base); /* no warning: no callbacks were pending */
	CHECK_EQ(kref_read(&m[0]->refcount), 1);
	put_all(m, 2);
	CHECK_ALL_FREED();
}

/* ---- create/init misuse ----------------------------------------------------- */

TEST(create_rejects_empty)
{
	struct dma_fence **v = tf_vector(1, NULL);
	unsigned long w = core_warn_count();

	EXPECT_WARNINGS();
	CHECK(dma_fence_array_create(0, v, 1, 1, false) == NULL);
	CHECK(dma_fence_array_create(-1, v, 1, 1, false) == NULL);
	CHECK(dma_fence_array_create(1, NULL, 1, 1, false) == NULL);
	CHECK_EQ(core_warn_count() - w, 3);
	/* Caller still owns the vector and its reference. */
	CHECK_EQ(kref_read(&v[0]->refcount), 1);
	put_all(v, 1);
	free(v);
	CHECK_ALL_FREED();
}

TEST(create_warns_on_nested_containers)
{
	struct dma_fence **inner_v = tf_vector(2, NULL);
	struct dma_fence_array *inner =
		dma_fence_array_create(2, inner_v, dma_fence_context_alloc(1), 1, false);
	struct dma_fence_chain *chain = dma_fence_chain_alloc();
	struct dma_fence **v = malloc(3 * sizeof(*v));
	struct dma_fence_array *outer;
	unsigned long w = core_warn_count();

	REQUIRE(inner && chain && v);
	EXPECT_WARNINGS();
	dma_fence_chain_init(chain, NULL, tf_simple(), 1);
	v[0] = &inner->base;
	v[1] = tf_simple();
	v[2] = &chain->base;
	outer = dma_fence_array_create(3, v, dma_fence_context_alloc(1), 1, false);
	REQUIRE(outer); /* warned, but created as the kernel does */
	CHECK_EQ(core_warn_count() - w, 2);
	dma_fence_put(&outer->base);
	CHECK_ALL_FREED();
}

TEST(alloc_init_split)
{
	struct dma_fence *m[2];
	struct dma_fence_array *a = dma_fence_array_alloc(2);

	REQUIRE(a);
	dma_fence_array_init(a, 2, tf_vector(2, m), dma_fence_context_alloc(1), 3, false);
	CHECK(dma_fence_is_array(&a->base));
	CHECK_EQ(a->num_fences, 2);
	CHECK_EQ(a->base.seqno, 3);
	dma_fence_signal(m[0]);
	dma_fence_signal(m[1]);
	CHECK_EQ(dma_fence_wait(&a->base, false), 0);
	dma_fence_put(&a->base);
	put_all(m, 2);

	/* Never initialised: plain free(). */
	a = dma_fence_array_alloc(4);
	REQUIRE(a);
	free(a);
	CHECK_ALL_FREED();
}

TEST(alloc_negative_warns)
{
	EXPECT_WARNINGS();
	CHECK(dma_fence_array_alloc(-3) == NULL);
}

/* ---- iteration helpers ------------------------------------------------------ */

TEST(first_next_null_head)
{
	struct dma_fence *f;
	unsigned int i;
	int n = 0;

	CHECK(dma_fence_array_first(NULL) == NULL);
	CHECK(dma_fence_array_next(NULL, 0) == NULL);
	CHECK(dma_fence_array_next(NULL, 5) == NULL);
	dma_fence_array_for_each(f, i, (struct dma_fence *)NULL)
		n++;
	CHECK_EQ(n, 0);
}

TEST(first_next_non_array_head)
{
	struct dma_fence *plain = tf_simple(), *f;
	unsigned int i;
	int n = 0;

	CHECK(dma_fence_array_first(plain) == plain);
	CHECK(dma_fence_array_next(plain, 0) == NULL);
	CHECK(dma_fence_array_next(plain, 1) == NULL);
	dma_fence_array_for_each(f, i, plain) {
		CHECK(f == plain);
		CHECK_EQ(i, 0);
		n++;
	}
	CHECK_EQ(n, 1);
	dma_fence_put(plain);
	CHECK_ALL_FREED();
}

TEST(first_next_array_and_out_of_range)
{
	struct dma_fence *m[5], *f;
	struct dma_fence_array *a =
		dma_fence_array_create(5, tf_vector(5, m), dma_fence_context_alloc(1), 1, false);
	unsigned int i, expect = 0;
	int evaluations = 0;

	REQUIRE(a);
	CHECK(dma_fence_array_first(&a->base) == m[0]);
	CHECK(dma_fence_array_next(&a->base, 4) == m[4]);
	CHECK(dma_fence_array_next(&a->base, 5) == NULL);
	CHECK(dma_fence_array_next(&a->base, 6) == NULL);
	CHECK(dma_fence_array_next(&a->base, UINT_MAX) == NULL);
	/* The head expression is evaluated exactly once. */
	dma_fence_array_for_each(f, i, (evaluations++, &a->base)) {
		CHECK_EQ(i, expect);
		CHECK(f == m[i]);
		expect++;
	}
	CHECK_EQ(expect, 5);
	CHECK_EQ(evaluations, 1);
	/* Nested loops and break. */
	expect = 0;
	dma_fence_array_for_each(f, i, &a->base) {
		struct dma_fence *g;
		unsigned int j;

		dma_fence_array_for_each(g, j, &a->base) {
			if (j == 2)
				break;
			expect++;
		}
	}
	CHECK_EQ(expect, 10);
	dma_fence_put(&a->base);
	put_all(m, 5);
	CHECK_ALL_FREED();
}

TEST(empty_array_via_alloc_init_misuse)
{
	struct dma_fence_array *a = dma_fence_array_alloc(0);
	struct dma_fence *f;
	unsigned int i;
	int n = 0;

	REQUIRE(a);
	EXPECT_WARNINGS();
	dma_fence_array_init(a, 0, NULL, dma_fence_context_alloc(1), 1, false);
	CHECK(dma_fence_is_array(&a->base));
	CHECK_EQ(a->num_fences, 0);
	CHECK(dma_fence_array_first(&a->base) == NULL);
	CHECK(dma_fence_array_next(&a->base, 0) == NULL);
	dma_fence_array_for_each(f, i, &a->base)
		n++;
	CHECK_EQ(n, 0);
	CHECK(dma_fence_match_context(&a->base, 12345));
	/* An empty set is complete: no hang for waiters. */
	CHECK(dma_fence_is_signaled(&a->base));
	CHECK_EQ(dma_fence_wait(&a->base, false), 0);
	CHECK_EQ(dma_fence_get_status(&a->base), 1);
	dma_fence_put(&a->base);

	/* Non-zero count with a NULL vector: also treated as empty. */
	a = dma_fence_array_alloc(2);
	REQUIRE(a);
	dma_fence_array_init(a, 2, NULL, dma_fence_context_alloc(1), 1, true);
	CHECK_EQ(a->num_fences, 0);
	CHECK(dma_fence_array_first(&a->base) == NULL);
	CHECK_EQ(dma_fence_wait(&a->base, false), 0);
	dma_fence_put(&a->base);
}

TEST(empty_array_zero_filled_struct)
{
	/* A zeroed array whose ops were set but that has no members. */
	struct dma_fence_array *a = dma_fence_array_alloc(0);

	REQUIRE(a);
	a->base.ops = &dma_fence_array_ops;
	CHECK(dma_fence_array_first(&a->base) == NULL);
	CHECK(dma_fence_array_next(&a->base, 0) == NULL);
	free(a);
}

TEST(match_context)
{
	u64 ctx = dma_fence_context_alloc(1);
	struct dma_fence **v = malloc(2 * sizeof(*v));
	struct dma_fence *other = tf_simple();
	struct dma_fence_array *a;

	v[0] = tf_new(NULL, ctx, 1);
	v[1] = tf_new(NULL, ctx, 2);
	CHECK(dma_fence_match_context(v[0], ctx));
	CHECK(!dma_fence_match_context(other, ctx));
	a = dma_fence_array_create(2, v, dma_fence_context_alloc(1), 1, false);
	REQUIRE(a);
	CHECK(dma_fence_match_context(&a->base, ctx));
	CHECK(!dma_fence_match_context(&a->base, a->base.context));
	dma_fence_put(&a->base);

	v = malloc(2 * sizeof(*v));
	v[0] = tf_new(NULL, ctx, 3);
	v[1] = dma_fence_get(other);
	a = dma_fence_array_create(2, v, dma_fence_context_alloc(1), 1, false);
	REQUIRE(a);
	CHECK(!dma_fence_match_context(&a->base, ctx));
	dma_fence_put(&a->base);
	dma_fence_put(other);
	CHECK_ALL_FREED();
}

/* ---- threads ------------------------------------------------------------------ */

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

TEST(waiter_thread_blocks_until_last_member)
{
	struct dma_fence *m[8];
	struct dma_fence_array *a =
		dma_fence_array_create(8, tf_vector(8, m), dma_fence_context_alloc(1), 1, false);
	struct waiter w = { .fence = NULL };

	REQUIRE(a);
	w.fence = &a->base;
	REQUIRE(pthread_create(&w.thread, NULL, waiter_main, &w) == 0);
	while (!has_callbacks(&a->base))
		usleep(100);
	for (int i = 7; i >= 0; i--) {
		CHECK(!__atomic_load_n(&w.done, __ATOMIC_ACQUIRE));
		dma_fence_signal(m[i]);
	}
	pthread_join(w.thread, NULL);
	CHECK_EQ(w.ret, 0);
	CHECK(dma_fence_test_signaled_flag(&a->base));
	dma_fence_put(&a->base);
	put_all(m, 8);
	CHECK_ALL_FREED();
}

struct race_arg {
	struct dma_fence **members;
	int first, step, n;
	unsigned int seed;
};

static void *signal_some(void *p)
{
	struct race_arg *r = p;

	for (int i = r->first; i < r->n; i += r->step) {
		if (rand_r(&r->seed) % 4 == 0)
			dma_fence_set_error(r->members[i], -EIO);
		dma_fence_signal(r->members[i]);
		if (rand_r(&r->seed) % 8 == 0)
			sched_yield();
	}
	return NULL;
}

static void *poll_array(void *p)
{
	struct dma_fence *a = p;

	while (!dma_fence_is_signaled(a))
		sched_yield();
	return NULL;
}

/* Signalers, pollers, an enabling waiter and the release race each other;
 * the array must signal exactly when the last (or first) member did, with
 * an error iff some member failed, and everything must be freed. */
TEST(stress_concurrent_signal_enable_poll)
{
	long rounds = STRESS(400);

	for (long r = 0; r < rounds; r++) {
		enum { N = 16 };
		struct dma_fence *m[N];
		bool any = r % 2;
		struct dma_fence_array *a =
			dma_fence_array_create(N, tf_vector(N, m), dma_fence_context_alloc(1), 1, any);
		struct race_arg ra[2] = { { m, 0, 2, N, (unsigned int)r * 2 + 1 },
					  { m, 1, 2, N, (unsigned int)r * 2 + 2 } };
		pthread_t sig[2], poller;
		struct waiter w = { .fence = NULL };
		bool failed = false;
		int status;

		REQUIRE(a);
		w.fence = dma_fence_get(&a->base);
		pthread_create(&poller, NULL, poll_array, dma_fence_get(&a->base));
		if (r % 3)
			pthread_create(&w.thread, NULL, waiter_main, &w);
		for (int i = 0; i < 2; i++)
			pthread_create(&sig[i], NULL, signal_some, &ra[i]);
		/* Drop the creator's reference while things are in flight. */
		dma_fence_put(&a->base);
		for (int i = 0; i < 2; i++)
			pthread_join(sig[i], NULL);
		if (r % 3) {
			pthread_join(w.thread, NULL);
			CHECK_EQ(w.ret, 0);
		}
		pthread_join(poller, NULL);
		dma_fence_put(w.fence); /* poller's reference */
		CHECK(dma_fence_test_signaled_flag(w.fence));
		status = dma_fence_get_status(w.fence);
		for (int i = 0; i < N; i++)
			failed |= m[i]->error != 0;
		if (!any) {
			CHECK(failed ? status == -EIO : status == 1);
		} else {
			CHECK(status == 1 || status == -EIO);
		}
		dma_fence_put(w.fence);
		put_all(m, N);
		if (dmasync_test_failed())
			break;
	}
	CHECK_ALL_FREED();
}
