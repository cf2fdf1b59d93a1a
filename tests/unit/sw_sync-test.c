/* SPDX-License-Identifier: MIT */
/* Unit and stress tests of software timelines (src/core/sw_sync.c). */
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <dmasync/sw_sync.h>
#include "test-harness.h"

/* Internal hooks exported by sw_sync.c for this test only. */
long core_sw_sync_live_points(void);
long core_sw_sync_live_timelines(void);
int core_sw_sync_validate(struct sync_timeline *tl);

/* Every case ends with everything it created freed. */
static void check_all_freed(void)
{
	dmasync_rcu_barrier();
	CHECK_EQ(core_sw_sync_live_points(), 0);
	CHECK_EQ(core_sw_sync_live_timelines(), 0);
}

static bool signaled(struct dma_fence *f)
{
	return dma_fence_test_signaled_flag(f);
}

/* Deterministic PRNG (xorshift64*). */
static u64 rng_next(u64 *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545F4914F6CDD1DULL;
}

/* Callbacks that log the order in which fences signal, and their error. */
struct order_log {
	u32 seq[4096];
	int err[4096];
	int n;
};

struct order_cb {
	struct dma_fence_cb cb;
	struct order_log *log;
};

static void order_cb_func(struct dma_fence *f, struct dma_fence_cb *cb)
{
	struct order_cb *o = container_of(cb, struct order_cb, cb);
	struct order_log *log = o->log;

	if (log->n < 4096) {
		log->seq[log->n] = (u32)f->seqno;
		log->err[log->n] = f->error;
	}
	log->n++;
}

TEST(timeline_create_and_names)
{
	struct sync_timeline *a = sync_timeline_create("alpha");
	struct sync_timeline *b = sync_timeline_create("0123456789abcdef0123456789abcdefXYZ");
	struct sync_timeline *c = sync_timeline_create(NULL);
	struct dma_fence *f;

	REQUIRE(a && b && c);
	CHECK_STR(sync_timeline_name(a), "alpha");
	/* 31 characters + NUL. */
	CHECK_STR(sync_timeline_name(b), "0123456789abcdef0123456789abcde");
	CHECK_STR(sync_timeline_name(c), "");
	CHECK_EQ(sync_timeline_value(a), 0);
	CHECK(sync_timeline_context(a) != sync_timeline_context(b));
	CHECK(sync_timeline_context(a) != 0);

	f = sync_pt_create(a, 3);
	REQUIRE(f);
	CHECK_STR(dma_fence_driver_name(f), "sw_sync");
	CHECK_STR(dma_fence_timeline_name(f), "alpha");
	CHECK_EQ(f->context, sync_timeline_context(a));
	CHECK_EQ(f->seqno, 3);
	CHECK(dma_fence_is_sw_sync(f));
	CHECK(sync_pt_timeline(f) == a);
	dma_fence_put(f);

	sync_timeline_destroy(a);
	sync_timeline_destroy(b);
	sync_timeline_destroy(c);
	check_all_freed();
}

TEST(points_share_timeline_lock)
{
	struct sync_timeline *tl = sync_timeline_create("lock");
	struct dma_fence *f1 = sync_pt_create(tl, 1);
	struct dma_fence *f2 = sync_pt_create(tl, 2);
	struct dma_fence *f0 = sync_pt_create(tl, 0); /* born signaled */

	REQUIRE(f1 && f2 && f0);
	CHECK(f1->lock == f2->lock);
	CHECK(f0->lock == f1->lock);
	dma_fence_put(f0);
	dma_fence_put(f1);
	dma_fence_put(f2);
	sync_timeline_destroy(tl);
	check_all_freed();
}

TEST(not_sw_sync)
{
	struct dma_fence *stub = dma_fence_get_stub();
	ktime_t d = 1234;

	CHECK(!dma_fence_is_sw_sync(stub));
	CHECK(!dma_fence_is_sw_sync(NULL));
	CHECK(sync_pt_timeline(stub) == NULL);
	CHECK_EQ(sync_pt_get_deadline(stub, &d), -EINVAL);
	CHECK_EQ(d, 1234);
	dma_fence_put(stub);
}

TEST(born_signaled)
{
	struct sync_timeline *tl = sync_timeline_create("born");
	struct dma_fence *f0, *f3, *f5, *f6;

	REQUIRE(tl);
	f0 = sync_pt_create(tl, 0);
	REQUIRE(f0);
	/* Value 0 is reached by a fresh timeline. */
	CHECK(signaled(f0));
	CHECK_EQ(dma_fence_get_status(f0), 1);

	CHECK_EQ(sync_timeline_signal(tl, 5), 0);
	CHECK_EQ(sync_timeline_value(tl), 5);
	f3 = sync_pt_create(tl, 3);
	f5 = sync_pt_create(tl, 5);
	f6 = sync_pt_create(tl, 6);
	REQUIRE(f3 && f5 && f6);
	CHECK(signaled(f3));
	CHECK(signaled(f5));
	CHECK(!signaled(f6));
	CHECK(!dma_fence_is_signaled(f6));
	CHECK_EQ(dma_fence_get_status(f6), 0);
	CHECK(dma_fence_timestamp(f5) > 0);
	/* Born signaled points are not kept: a new one at 5 is a new fence. */
	{
		struct dma_fence *again = sync_pt_create(tl, 5);

		CHECK(again != f5);
		CHECK(signaled(again));
		dma_fence_put(again);
	}
	CHECK_EQ(dma_fence_wait_timeout(f3, false, 0), 1);
	CHECK_EQ(dma_fence_wait_timeout(f6, false, 0), 0);
	CHECK_EQ(dma_fence_wait_timeout(f6, false, 1000000), 0);

	CHECK_EQ(sync_timeline_signal(tl, 1), 1);
	CHECK(signaled(f6));
	CHECK_EQ(dma_fence_get_status(f6), 1);
	CHECK_EQ(core_sw_sync_validate(tl), 0);

	dma_fence_put(f0);
	dma_fence_put(f3);
	dma_fence_put(f5);
	dma_fence_put(f6);
	sync_timeline_destroy(tl);
	check_all_freed();
}

TEST(signal_in_seqno_order)
{
	enum { N = 64 };
	struct sync_timeline *tl = sync_timeline_create("order");
	struct dma_fence *f[N + 1];
	struct order_cb cbs[N + 1];
	struct order_log log = { .n = 0 };
	u32 vals[N];
	u64 seed = 42;
	int i;

	REQUIRE(tl);
	for (i = 0; i < N; i++)
		vals[i] = (u32)i + 1;
	for (i = N - 1; i > 0; i--) {
		int j = (int)(rng_next(&seed) % (u64)(i + 1));
		u32 t = vals[i];

		vals[i] = vals[j];
		vals[j] = t;
	}
	/* Created in random order; f[v] is the point at value v. */
	for (i = 0; i < N; i++) {
		u32 v = vals[i];

		f[v] = sync_pt_create(tl, v);
		REQUIRE(f[v]);
		cbs[v].log = &log;
		CHECK_EQ(dma_fence_add_callback(f[v], &cbs[v].cb, order_cb_func), 0);
	}
	CHECK_EQ(core_sw_sync_validate(tl), 0);

	CHECK_EQ(sync_timeline_signal(tl, 10), 10);
	CHECK_EQ(log.n, 10);
	for (i = 0; i < 10; i++)
		CHECK_EQ(log.seq[i], i + 1);
	for (i = 1; i <= N; i++)
		CHECK_EQ(signaled(f[i]), i <= 10);

	CHECK_EQ(sync_timeline_signal(tl, 0), 0);
	CHECK_EQ(log.n, 10);

	CHECK_EQ(sync_timeline_signal(tl, 1), 1);
	CHECK_EQ(log.n, 11);
	CHECK_EQ(log.seq[10], 11);

	CHECK_EQ(sync_timeline_signal(tl, 1000), N - 11);
	CHECK_EQ(log.n, N);
	for (i = 0; i < N; i++) {
		CHECK_EQ(log.seq[i], i + 1);
		CHECK_EQ(log.err[i], 0);
	}
	CHECK_EQ(sync_timeline_value(tl), 1011);
	CHECK_EQ(core_sw_sync_validate(tl), 0);

	for (i = 1; i <= N; i++)
		dma_fence_put(f[i]);
	sync_timeline_destroy(tl);
	check_all_freed();
}

TEST(reuse_same_unsignaled_value)
{
	struct sync_timeline *tl = sync_timeline_create("reuse");
	struct dma_fence *a, *b, *c, *d;

	REQUIRE(tl);
	a = sync_pt_create(tl, 7);
	b = sync_pt_create(tl, 7);
	REQUIRE(a && b);
	CHECK(a == b);
	CHECK_EQ(kref_read(&a->refcount), 2);
	dma_fence_put(b);

	/* Signaled points are never reused. */
	sync_timeline_signal(tl, 7);
	CHECK(signaled(a));
	c = sync_pt_create(tl, 7);
	REQUIRE(c);
	CHECK(c != a);
	CHECK(signaled(c));

	/* A released point is not found again either. */
	d = sync_pt_create(tl, 9);
	REQUIRE(d);
	dma_fence_put(d);
	d = sync_pt_create(tl, 9);
	REQUIRE(d);
	CHECK(!signaled(d));
	CHECK_EQ(kref_read(&d->refcount), 1);
	CHECK_EQ(core_sw_sync_validate(tl), 0);

	dma_fence_put(a);
	dma_fence_put(c);
	dma_fence_put(d);
	sync_timeline_destroy(tl);
	check_all_freed();
}

static void *put_fence_thread(void *arg)
{
	dma_fence_put(arg);
	return NULL;
}

/*
 * A point whose last reference is gone stays linked until its release gets
 * the timeline lock.  Creating a point at the same value, or signaling it,
 * in that window must neither revive it nor trip over it.
 */
TEST(dying_point_is_not_reused)
{
	struct sync_timeline *tl = sync_timeline_create("dying");
	long rounds = STRESS(200);

	REQUIRE(tl);
	for (long i = 0; i < rounds; i++) {
		u32 v = sync_timeline_value(tl) + 1;
		struct dma_fence *f = sync_pt_create(tl, v), *g = NULL;
		struct dma_fence *later = sync_pt_create(tl, v + 1);
		pthread_t t;

		REQUIRE(f && later);
		/* Keep f's memory from being recycled so that g != f means something. */
		rcu_read_lock();
		spin_lock(f->lock);
		REQUIRE(pthread_create(&t, NULL, put_fence_thread, f) == 0);
		while (kref_read(&f->refcount) != 0)
			sched_yield();
		/* Let the releasing thread block on the lock, then race it. */
		nanosleep(&(struct timespec){ .tv_nsec = 100000 }, NULL);
		spin_unlock(f->lock);
		if (i & 1) {
			g = sync_pt_create(tl, v);
			CHECK(g != f);
			CHECK(g && !signaled(g));
		} else {
			CHECK(sync_timeline_signal(tl, 1) <= 1);
		}
		pthread_join(t, NULL);
		rcu_read_unlock();
		CHECK_EQ(core_sw_sync_validate(tl), 0);
		if (g) {
			sync_timeline_signal(tl, 1);
			CHECK(signaled(g));
			dma_fence_put(g);
		}
		CHECK(!signaled(later));
		sync_timeline_signal(tl, 1);
		CHECK(signaled(later));
		dma_fence_put(later);
		if (dmasync_test_failed())
			break;
	}
	sync_timeline_destroy(tl);
	check_all_freed();
}

struct waiter {
	struct dma_fence *fence;
	signed long ret;
	int status;
	int started;
};

static void *wait_thread(void *arg)
{
	struct waiter *w = arg;

	__atomic_store_n(&w->started, 1, __ATOMIC_RELEASE);
	w->ret = dma_fence_wait(w->fence, false);
	w->status = dma_fence_get_status(w->fence);
	return NULL;
}

TEST(destroy_signals_pending_with_enoent)
{
	struct sync_timeline *tl = sync_timeline_create("doomed");
	struct dma_fence *f[6];
	struct order_cb cbs[6];
	struct order_log log = { .n = 0 };
	struct waiter w = { 0 };
	pthread_t t;
	int i;

	REQUIRE(tl);
	/* Points 1..5 created out of order; 1 signals normally. */
	for (i = 5; i >= 1; i--) {
		f[i] = sync_pt_create(tl, (u32)i);
		REQUIRE(f[i]);
		cbs[i].log = &log;
		CHECK_EQ(dma_fence_add_callback(f[i], &cbs[i].cb, order_cb_func), 0);
	}
	sync_timeline_signal(tl, 1);
	CHECK_EQ(log.n, 1);

	w.fence = f[3];
	REQUIRE(pthread_create(&t, NULL, wait_thread, &w) == 0);
	while (!__atomic_load_n(&w.started, __ATOMIC_ACQUIRE))
		sched_yield();
	/* Give it a moment to really block (the result does not depend on it). */
	dma_fence_wait_timeout(f[5], false, 2000000);

	sync_timeline_destroy(tl);
	pthread_join(t, NULL);
	CHECK_EQ(w.ret, 0);
	CHECK_EQ(w.status, -ENOENT);

	CHECK_EQ(log.n, 5);
	CHECK_EQ(log.seq[0], 1);
	CHECK_EQ(log.err[0], 0);
	for (i = 1; i < 5; i++) {
		CHECK_EQ(log.seq[i], i + 1);
		CHECK_EQ(log.err[i], -ENOENT);
	}
	CHECK_EQ(dma_fence_get_status(f[1]), 1);
	for (i = 2; i <= 5; i++)
		CHECK_EQ(dma_fence_get_status(f[i]), -2);

	/* The points keep the timeline (and its name) alive. */
	CHECK_EQ(core_sw_sync_live_timelines(), 1);
	CHECK_STR(dma_fence_timeline_name(f[4]), "doomed");
	for (i = 1; i <= 5; i++)
		dma_fence_put(f[i]);
	check_all_freed();
}

TEST(destroy_without_points_and_with_extra_ref)
{
	struct sync_timeline *tl = sync_timeline_create("extra");
	struct dma_fence *f, *g;

	REQUIRE(tl);
	sync_timeline_get(tl);
	f = sync_pt_create(tl, 2);
	REQUIRE(f);
	sync_timeline_destroy(tl);
	CHECK_EQ(dma_fence_get_status(f), -ENOENT);
	/* Whoever still holds a reference may keep using the timeline. */
	g = sync_pt_create(tl, 3);
	REQUIRE(g);
	CHECK(!signaled(g));
	CHECK_EQ(sync_timeline_signal(tl, 3), 1);
	CHECK_EQ(dma_fence_get_status(g), 1);
	dma_fence_put(g);
	dma_fence_put(f);
	sync_timeline_put(tl);
	check_all_freed();

	tl = sync_timeline_create("empty");
	REQUIRE(tl);
	sync_timeline_destroy(tl);
	check_all_freed();
}

TEST(value_strings)
{
	struct sync_timeline *tl = sync_timeline_create("str");
	struct dma_fence *f;
	char buf[32];

	REQUIRE(tl);
	sync_timeline_signal(tl, 3);
	f = sync_pt_create(tl, 7);
	REQUIRE(f);
	REQUIRE(f->ops->fence_value_str && f->ops->timeline_value_str);
	f->ops->fence_value_str(f, buf, sizeof(buf));
	CHECK_STR(buf, "7");
	f->ops->timeline_value_str(f, buf, sizeof(buf));
	CHECK_STR(buf, "3");
	sync_timeline_signal(tl, 0xFFFFFFF0u);
	f->ops->timeline_value_str(f, buf, sizeof(buf));
	CHECK_STR(buf, "4294967283");
	/* Truncation respects the buffer size. */
	f->ops->timeline_value_str(f, buf, 4);
	CHECK_STR(buf, "429");
	dma_fence_put(f);
	sync_timeline_destroy(tl);
	check_all_freed();
}

TEST(deadline_keeps_earliest)
{
	struct sync_timeline *tl = sync_timeline_create("deadline");
	struct dma_fence *f, *g;
	ktime_t d = -1;

	REQUIRE(tl);
	f = sync_pt_create(tl, 1);
	g = sync_pt_create(tl, 2);
	REQUIRE(f && g);
	CHECK_EQ(sync_pt_get_deadline(f, &d), -ENOENT);
	CHECK_EQ(d, -1);

	dma_fence_set_deadline(f, 2000);
	CHECK_EQ(sync_pt_get_deadline(f, &d), 0);
	CHECK_EQ(d, 2000);
	dma_fence_set_deadline(f, 3000);
	CHECK_EQ(sync_pt_get_deadline(f, &d), 0);
	CHECK_EQ(d, 2000);
	dma_fence_set_deadline(f, 500);
	CHECK_EQ(sync_pt_get_deadline(f, &d), 0);
	CHECK_EQ(d, 500);
	/* Per point. */
	CHECK_EQ(sync_pt_get_deadline(g, &d), -ENOENT);

	/* After signaling, dma_fence_set_deadline() no longer reaches the point. */
	sync_timeline_signal(tl, 1);
	dma_fence_set_deadline(f, 100);
	CHECK_EQ(sync_pt_get_deadline(f, &d), 0);
	CHECK_EQ(d, 500);

	dma_fence_put(f);
	dma_fence_put(g);
	sync_timeline_destroy(tl);
	check_all_freed();
}

TEST(wrap_around_32bit)
{
	struct sync_timeline *tl = sync_timeline_create("wrap");
	const u32 vals[] = { 0xFFFFFFF8u, 0xFFFFFFFFu, 0u, 5u, 0x10u };
	struct dma_fence *f[5], *old;
	struct order_cb cbs[5];
	struct order_log log = { .n = 0 };
	int i;

	REQUIRE(tl);
	sync_timeline_signal(tl, 0xFFFFFFF0u);
	CHECK_EQ(sync_timeline_value(tl), 0xFFFFFFF0u);
	/* Created in reverse so the tree, not the append path, orders them. */
	for (i = 4; i >= 0; i--) {
		f[i] = sync_pt_create(tl, vals[i]);
		REQUIRE(f[i]);
		CHECK(!signaled(f[i]));
		cbs[i].log = &log;
		dma_fence_add_callback(f[i], &cbs[i].cb, order_cb_func);
	}
	old = sync_pt_create(tl, 0xFFFFFFE0u);
	REQUIRE(old);
	CHECK(signaled(old));
	CHECK_EQ(core_sw_sync_validate(tl), 0);

	/* 0xFFFFFFF0 + 0x10 wraps to 0: everything up to 0 signals, in order. */
	CHECK_EQ(sync_timeline_signal(tl, 0x10), 3);
	CHECK_EQ(sync_timeline_value(tl), 0);
	CHECK_EQ(log.n, 3);
	for (i = 0; i < 3; i++)
		CHECK_EQ(log.seq[i], vals[i]);
	CHECK(!signaled(f[3]) && !signaled(f[4]));

	/* Points "before" 0 across the wrap are born signaled. */
	{
		struct dma_fence *b = sync_pt_create(tl, 0xFFFFFFF5u);

		REQUIRE(b);
		CHECK(signaled(b));
		dma_fence_put(b);
	}
	CHECK_EQ(sync_timeline_signal(tl, 0x10), 2);
	CHECK_EQ(log.n, 5);
	CHECK_EQ(log.seq[3], 5);
	CHECK_EQ(log.seq[4], 0x10);
	CHECK_EQ(core_sw_sync_validate(tl), 0);

	for (i = 0; i < 5; i++)
		dma_fence_put(f[i]);
	dma_fence_put(old);
	sync_timeline_destroy(tl);
	check_all_freed();
}

TEST(increment_above_int_max)
{
	struct sync_timeline *tl = sync_timeline_create("big");
	struct dma_fence *a, *b, *c, *d;
	struct order_cb cbs[3];
	struct order_log log = { .n = 0 };

	REQUIRE(tl);
	a = sync_pt_create(tl, 1);
	b = sync_pt_create(tl, 0x40000000u);
	c = sync_pt_create(tl, 0x7FFFFFFFu);
	REQUIRE(a && b && c);
	cbs[0].log = cbs[1].log = cbs[2].log = &log;
	dma_fence_add_callback(c, &cbs[2].cb, order_cb_func);
	dma_fence_add_callback(a, &cbs[0].cb, order_cb_func);
	dma_fence_add_callback(b, &cbs[1].cb, order_cb_func);
	/* Exactly 2^31 ahead counts as "earlier" in the wrap rule. */
	d = sync_pt_create(tl, 0x80000000u);
	REQUIRE(d);
	CHECK(signaled(d));
	dma_fence_put(d);

	/*
	 * Applied in one go, 0xFFFFFFFF would make point 1 look 2 ahead of
	 * the timeline; in INT_MAX steps every point is passed.
	 */
	CHECK_EQ(sync_timeline_signal(tl, 0xFFFFFFFFu), 3);
	CHECK_EQ(sync_timeline_value(tl), 0xFFFFFFFFu);
	CHECK(signaled(a) && signaled(b) && signaled(c));
	CHECK_EQ(log.n, 3);
	CHECK_EQ(log.seq[0], 1);
	CHECK_EQ(log.seq[1], 0x40000000u);
	CHECK_EQ(log.seq[2], 0x7FFFFFFFu);

	/* A point far ahead survives a step that does not reach it. */
	d = sync_pt_create(tl, 0xFFFFFFFFu + 0x7FFFFFFFu);
	REQUIRE(d);
	CHECK(!signaled(d));
	CHECK_EQ(sync_timeline_signal(tl, 0x7FFFFFFEu), 0);
	CHECK(!signaled(d));
	CHECK_EQ(sync_timeline_signal(tl, 1), 1);
	CHECK(signaled(d));

	dma_fence_put(a);
	dma_fence_put(b);
	dma_fence_put(c);
	dma_fence_put(d);
	sync_timeline_destroy(tl);
	check_all_freed();
}

/* Random creation, release and signaling checked against a model. */
TEST(random_operations_match_model)
{
	enum { N = 3000 };
	struct sync_timeline *tl = sync_timeline_create("random");
	struct dma_fence **f = calloc(N, sizeof(*f));
	struct order_cb *cbs = calloc(N, sizeof(*cbs));
	struct order_log *log = calloc(1, sizeof(*log));
	u32 start, value;
	u64 seed = 0x1234567;
	int i, live = 0;

	REQUIRE(tl && f && cbs && log);
	/* Start just below the wrap so the run crosses it. */
	sync_timeline_signal(tl, 0xFFFFF000u);
	start = sync_timeline_value(tl);
	for (i = 0; i < N; i++) {
		u32 v = start + 1 + (u32)(rng_next(&seed) % 6000);

		f[i] = sync_pt_create(tl, v);
		REQUIRE(f[i]);
		CHECK_EQ((u32)f[i]->seqno, v);
		CHECK(!signaled(f[i]));
		cbs[i].log = log;
		CHECK_EQ(dma_fence_add_callback(f[i], &cbs[i].cb, order_cb_func), 0);
		if (i % 250 == 0)
			CHECK_EQ(core_sw_sync_validate(tl), 0);
	}
	/* Drop a random half (removing callbacks first, as a provider must). */
	for (i = 0; i < N; i++) {
		if (rng_next(&seed) & 1) {
			CHECK(dma_fence_remove_callback(f[i], &cbs[i].cb));
			dma_fence_put(f[i]);
			f[i] = NULL;
		} else {
			live++;
		}
	}
	CHECK_EQ(core_sw_sync_validate(tl), 0);
	REQUIRE(live > 0);

	value = start;
	while ((u32)(value - start) < 6001) {
		u32 inc = (u32)(rng_next(&seed) % 300);

		sync_timeline_signal(tl, inc);
		value += inc;
		CHECK_EQ(sync_timeline_value(tl), value);
		for (i = 0; i < N; i++) {
			if (f[i])
				CHECK_EQ(signaled(f[i]),
					 (s32)((u32)f[i]->seqno - value) <= 0);
		}
		CHECK_EQ(core_sw_sync_validate(tl), 0);
		if (dmasync_test_failed())
			break;
	}
	/* Each callback ran once, in non-decreasing seqno order. */
	CHECK_EQ(log->n, live);
	for (i = 1; i < log->n && i < 4096; i++)
		CHECK((u32)(log->seq[i] - start) >= (u32)(log->seq[i - 1] - start));

	for (i = 0; i < N; i++)
		dma_fence_put(f[i]);
	sync_timeline_destroy(tl);
	free(f);
	free(cbs);
	free(log);
	check_all_freed();
}

/* Creating many points in order and signaling them one by one. */
TEST(many_points_in_order)
{
	long n = STRESS(200000);
	struct sync_timeline *tl = sync_timeline_create("many");
	struct dma_fence **f = calloc((size_t)n, sizeof(*f));
	long i;

	REQUIRE(tl && f);
	for (i = 0; i < n; i++) {
		f[i] = sync_pt_create(tl, (u32)i + 1);
		REQUIRE(f[i]);
	}
	CHECK_EQ(core_sw_sync_validate(tl), 0);
	for (i = 0; i < n; i++) {
		CHECK_EQ(sync_timeline_signal(tl, 1), 1);
		if (i % 20000 == 0)
			CHECK_EQ(core_sw_sync_validate(tl), 0);
	}
	for (i = 0; i < n; i++) {
		CHECK(signaled(f[i]));
		dma_fence_put(f[i]);
	}
	free(f);
	sync_timeline_destroy(tl);
	check_all_freed();
}

/*
 * Callbacks run with the timeline lock held.  They may look at other
 * points of the same timeline and drop references to signaled points
 * without deadlocking.
 */
struct peek_cb {
	struct dma_fence_cb cb;
	struct dma_fence *other;	/* a pending point of the same timeline */
	struct dma_fence *drop;		/* a signaled point whose last ref we drop */
	bool other_signaled;
	bool ran;
};

static void peek_cb_func(struct dma_fence *f, struct dma_fence_cb *cb)
{
	struct peek_cb *p = container_of(cb, struct peek_cb, cb);

	p->other_signaled = dma_fence_is_signaled(p->other);
	dma_fence_put(p->drop);
	p->drop = NULL;
	p->ran = true;
}

TEST(callbacks_may_touch_same_timeline)
{
	struct sync_timeline *tl = sync_timeline_create("cb");
	struct dma_fence *done, *a, *b;
	struct peek_cb p = { 0 };

	REQUIRE(tl);
	done = sync_pt_create(tl, 1);
	a = sync_pt_create(tl, 2);
	b = sync_pt_create(tl, 3);
	REQUIRE(done && a && b);
	sync_timeline_signal(tl, 1);
	p.other = b;
	p.drop = done; /* our reference: the last one */
	CHECK_EQ(dma_fence_add_callback(a, &p.cb, peek_cb_func), 0);

	/* One step passes both a and b; a's callback runs before b signals. */
	CHECK_EQ(sync_timeline_signal(tl, 2), 2);
	CHECK(p.ran);
	CHECK(!p.other_signaled);
	CHECK(signaled(b));

	dma_fence_put(a);
	dma_fence_put(b);
	sync_timeline_destroy(tl);
	check_all_freed();
}

TEST(describe_output)
{
	struct sync_timeline *tl = sync_timeline_create("descr");
	struct dma_fence *a, *b;
	char *buf = NULL;
	size_t len = 0;
	FILE *mf;

	REQUIRE(tl);
	sync_timeline_signal(tl, 2);
	b = sync_pt_create(tl, 9);
	a = sync_pt_create(tl, 4);
	REQUIRE(a && b);

	mf = open_memstream(&buf, &len);
	REQUIRE(mf);
	sync_timeline_describe(tl, mf);
	fclose(mf);
	CHECK_STR(buf, "descr: 2\n  fence active: 4 / 2\n  fence active: 9 / 2\n");
	free(buf);

	buf = NULL;
	mf = open_memstream(&buf, &len);
	REQUIRE(mf);
	sync_timeline_describe_all(mf);
	fclose(mf);
	CHECK(buf && strstr(buf, "descr: 2\n  fence active: 4 / 2\n"));
	free(buf);

	dma_fence_put(a);
	dma_fence_put(b);
	sync_timeline_destroy(tl);
	check_all_freed();
}

TEST(null_timeline_is_warned)
{
	EXPECT_WARNINGS();
	CHECK_EQ(sync_timeline_signal(NULL, 1), -EINVAL);
	CHECK(sync_pt_create(NULL, 1) == NULL);
	sync_timeline_destroy(NULL);
	sync_timeline_put(NULL);
}

/* ---- stress ------------------------------------------------------------- */

/*
 * Two threads strictly alternate on one timeline: A waits on the even
 * points B signals, B on the odd points A signals.  Each creates its next
 * point before signaling the other, so the waits really block.  A plain
 * (non-atomic) turn counter is passed back and forth: TSan checks that the
 * fence signal -> wait path orders memory.
 */
struct pingpong {
	struct sync_timeline *tl;
	u32 base;	/* timeline value at the start */
	long rounds;
	long turn;	/* plain on purpose */
	int errors;
};

static void *pingpong_a(void *arg)
{
	struct pingpong *pp = arg;
	struct dma_fence *mine = sync_pt_create(pp->tl, pp->base + 2);

	for (long k = 0; k < pp->rounds && mine; k++) {
		struct dma_fence *next = sync_pt_create(pp->tl, pp->base + (u32)(2 * k + 4));

		if (pp->turn != 2 * k)
			pp->errors++;
		pp->turn = 2 * k + 1;
		sync_timeline_signal(pp->tl, 1);	/* -> 2k+1, wakes B */
		if (dma_fence_wait(mine, false) || dma_fence_get_status(mine) != 1)
			pp->errors++;
		dma_fence_put(mine);
		mine = next;
	}
	dma_fence_put(mine);
	return NULL;
}

static void *pingpong_b(void *arg)
{
	struct pingpong *pp = arg;
	struct dma_fence *mine = sync_pt_create(pp->tl, pp->base + 1);

	for (long k = 0; k < pp->rounds && mine; k++) {
		struct dma_fence *next;

		if (dma_fence_wait(mine, false) || dma_fence_get_status(mine) != 1)
			pp->errors++;
		dma_fence_put(mine);
		next = sync_pt_create(pp->tl, pp->base + (u32)(2 * k + 3));
		if (pp->turn != 2 * k + 1)
			pp->errors++;
		pp->turn = 2 * k + 2;
		sync_timeline_signal(pp->tl, 1);	/* -> 2k+2, wakes A */
		mine = next;
	}
	dma_fence_put(mine);
	return NULL;
}

TEST(stress_ping_pong)
{
	struct pingpong pp = { .rounds = STRESS(65536) };
	pthread_t a, b;

	pp.tl = sync_timeline_create("pingpong");
	REQUIRE(pp.tl);
	/* Cross the 32-bit wrap half way. */
	pp.base = (u32)0 - (u32)pp.rounds;
	sync_timeline_signal(pp.tl, pp.base);
	REQUIRE(pthread_create(&a, NULL, pingpong_a, &pp) == 0);
	REQUIRE(pthread_create(&b, NULL, pingpong_b, &pp) == 0);
	pthread_join(a, NULL);
	pthread_join(b, NULL);
	CHECK_EQ(pp.errors, 0);
	CHECK_EQ(pp.turn, 2 * pp.rounds);
	CHECK_EQ(sync_timeline_value(pp.tl), pp.base + (u32)(2 * pp.rounds));
	CHECK_EQ(core_sw_sync_validate(pp.tl), 0);
	sync_timeline_destroy(pp.tl);
	check_all_freed();
}

/*
 * Several threads create points a little ahead of the timeline and wait
 * on them (some with callbacks, some with dma_fence_wait, some by polling)
 * while one thread keeps incrementing.  The run starts just below the
 * 32-bit wrap.
 */
struct crowd {
	struct sync_timeline *tl;
	long iters;
	int active;
	int errors;
};

struct flag_cb {
	struct dma_fence_cb cb;
	int fired;
};

static void flag_cb_func(struct dma_fence *f, struct dma_fence_cb *cb)
{
	struct flag_cb *fc = container_of(cb, struct flag_cb, cb);

	__atomic_store_n(&fc->fired, 1, __ATOMIC_RELEASE);
}

static void *crowd_waiter(void *arg)
{
	struct crowd *c = arg;
	u64 seed = (u64)(uintptr_t)&seed | 1;

	for (long i = 0; i < c->iters; i++) {
		u32 v = sync_timeline_value(c->tl) + 1 + (u32)(rng_next(&seed) % 8);
		struct dma_fence *f = sync_pt_create(c->tl, v);
		struct dma_fence *g = sync_pt_create(c->tl, v); /* may be the same */
		struct flag_cb fc = { .fired = 0 };
		int added;

		if (!f || !g) {
			__atomic_fetch_add(&c->errors, 1, __ATOMIC_RELAXED);
			break;
		}
		added = dma_fence_add_callback(g, &fc.cb, flag_cb_func);
		switch (i % 3) {
		case 0:
			if (dma_fence_wait(f, false))
				__atomic_fetch_add(&c->errors, 1, __ATOMIC_RELAXED);
			break;
		case 1:
			while (dma_fence_wait_timeout(f, false, 100000) == 0)
				;
			break;
		default:
			while (!dma_fence_is_signaled(f))
				sched_yield();
			break;
		}
		/* Once the value is published, the points it passed are signaled. */
		if ((s32)(v - sync_timeline_value(c->tl)) <= 0 && !signaled(g))
			__atomic_fetch_add(&c->errors, 1, __ATOMIC_RELAXED);
		if (dma_fence_wait(g, false) || dma_fence_get_status(f) != 1)
			__atomic_fetch_add(&c->errors, 1, __ATOMIC_RELAXED);
		/*
		 * A waiter may wake before later callbacks of the same fence
		 * ran; they run under the fence lock, so taking it waits them out.
		 */
		spin_lock(g->lock);
		spin_unlock(g->lock);
		if (added == 0 && !__atomic_load_n(&fc.fired, __ATOMIC_ACQUIRE))
			__atomic_fetch_add(&c->errors, 1, __ATOMIC_RELAXED);
		dma_fence_put(g);
		dma_fence_put(f);
	}
	__atomic_fetch_sub(&c->active, 1, __ATOMIC_RELEASE);
	return NULL;
}

static void *crowd_incrementer(void *arg)
{
	struct crowd *c = arg;
	unsigned long n = 0;

	while (__atomic_load_n(&c->active, __ATOMIC_ACQUIRE) > 0) {
		sync_timeline_signal(c->tl, 1 + (u32)(n % 3));
		if (++n % 4 == 0)
			sched_yield();
	}
	return NULL;
}

TEST(stress_waiters_and_incrementer)
{
	enum { WAITERS = 3 };
	struct crowd c = { .iters = STRESS(20000), .active = WAITERS };
	pthread_t w[WAITERS], inc;
	int i;

	c.tl = sync_timeline_create("crowd");
	REQUIRE(c.tl);
	sync_timeline_signal(c.tl, 0xFFFFFF00u);
	for (i = 0; i < WAITERS; i++)
		REQUIRE(pthread_create(&w[i], NULL, crowd_waiter, &c) == 0);
	REQUIRE(pthread_create(&inc, NULL, crowd_incrementer, &c) == 0);
	for (i = 0; i < WAITERS; i++)
		pthread_join(w[i], NULL);
	pthread_join(inc, NULL);
	CHECK_EQ(c.errors, 0);
	CHECK((s32)(sync_timeline_value(c.tl) - 0xFFFFFF00u) > 0);
	CHECK_EQ(core_sw_sync_validate(c.tl), 0);
	sync_timeline_destroy(c.tl);
	check_all_freed();
}

/* Destroy racing with waiters: every wait ends, with -ENOENT or success. */
struct racer {
	struct sync_timeline *tl;
	int errors;
	int ready;
};

static void *destroy_racer(void *arg)
{
	struct racer *r = arg;
	struct dma_fence *f = sync_pt_create(r->tl, 1000);
	int st;

	__atomic_fetch_add(&r->ready, 1, __ATOMIC_RELEASE);
	if (!f) {
		__atomic_fetch_add(&r->errors, 1, __ATOMIC_RELAXED);
		return NULL;
	}
	dma_fence_wait(f, false);
	st = dma_fence_get_status(f);
	if (st != -ENOENT)
		__atomic_fetch_add(&r->errors, 1, __ATOMIC_RELAXED);
	dma_fence_put(f);
	return NULL;
}

TEST(stress_destroy_vs_waiters)
{
	long rounds = STRESS(300);

	for (long k = 0; k < rounds; k++) {
		struct racer r = { .tl = sync_timeline_create("race") };
		pthread_t t[2];

		REQUIRE(r.tl);
		/* The racers hold their own timeline references via the points. */
		for (int i = 0; i < 2; i++)
			REQUIRE(pthread_create(&t[i], NULL, destroy_racer, &r) == 0);
		while (__atomic_load_n(&r.ready, __ATOMIC_ACQUIRE) < 2)
			sched_yield();
		sync_timeline_destroy(r.tl);
		for (int i = 0; i < 2; i++)
			pthread_join(t[i], NULL);
		CHECK_EQ(r.errors, 0);
		if (dmasync_test_failed())
			break;
	}
	check_all_freed();
}
