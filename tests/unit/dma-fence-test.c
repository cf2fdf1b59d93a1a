/* SPDX-License-Identifier: MIT */
/* Tests of the dma_fence core: lifetime, signaling, callbacks, waits, ordering. */
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <dmasync/dma-fence.h>
#include "test-harness.h"

/* A test fence type whose release counts frees. */
struct tfence {
	struct dma_fence base;
	int enable_calls;
	bool enable_ret;	/* what enable_signaling answers */
	bool passed;		/* what ->signaled answers */
	ktime_t deadline;
};

static DEFINE_SPINLOCK(test_lock);
static int released;

static const char *t_driver(struct dma_fence *f) { return "test-driver"; }
static const char *t_timeline(struct dma_fence *f) { return "test-timeline"; }

static bool t_enable(struct dma_fence *f)
{
	struct tfence *t = container_of(f, struct tfence, base);

	t->enable_calls++;
	return t->enable_ret;
}

static bool t_signaled(struct dma_fence *f)
{
	return __atomic_load_n(&container_of(f, struct tfence, base)->passed, __ATOMIC_ACQUIRE);
}

static void t_release(struct dma_fence *f)
{
	__atomic_fetch_add(&released, 1, __ATOMIC_RELAXED);
	dma_fence_free(f);
}

static void t_set_deadline(struct dma_fence *f, ktime_t d)
{
	container_of(f, struct tfence, base)->deadline = d;
}

static const struct dma_fence_ops t_ops = {
	.get_driver_name = t_driver,
	.get_timeline_name = t_timeline,
	.enable_signaling = t_enable,
	.signaled = t_signaled,
	.release = t_release,
	.set_deadline = t_set_deadline,
};

static struct tfence *tfence_new(u64 ctx, u64 seqno)
{
	struct tfence *t = calloc(1, sizeof(*t));

	dma_fence_init(&t->base, &t_ops, &test_lock, ctx, seqno);
	t->enable_ret = true;
	return t;
}

static struct dma_fence *fence_new(void)
{
	return &tfence_new(dma_fence_context_alloc(1), 1)->base;
}

/* ---- lifetime ---------------------------------------------------------- */

TEST(context_alloc_is_monotonic_and_never_zero)
{
	u64 a = dma_fence_context_alloc(1);
	u64 b = dma_fence_context_alloc(10);
	u64 c = dma_fence_context_alloc(1);

	CHECK(a >= 1);
	CHECK_EQ(b, a + 1);
	CHECK_EQ(c, b + 10);
}

TEST(context_alloc_zero_warns)
{
	u64 a, b;

	EXPECT_WARNINGS();
	a = dma_fence_context_alloc(0);
	b = dma_fence_context_alloc(1);
	CHECK(b > a);
}

TEST(init_sets_fields)
{
	struct dma_fence *f = fence_new();

	CHECK_EQ(kref_read(&f->refcount), 1);
	CHECK(!dma_fence_is_signaled(f));
	CHECK_EQ(f->error, 0);
	CHECK_EQ(f->seqno, 1);
	CHECK(!test_bit(DMA_FENCE_FLAG_SEQNO64_BIT, &f->flags));
	CHECK(list_empty(&f->cb_list));
	dma_fence_signal(f);
	dma_fence_put(f);
}

TEST(get_put_release_once)
{
	struct dma_fence *f = fence_new();
	int before = released;

	CHECK(dma_fence_get(f) == f);
	CHECK_EQ(kref_read(&f->refcount), 2);
	dma_fence_put(f);
	CHECK_EQ(released, before);
	dma_fence_put(f);
	CHECK_EQ(released, before + 1);
	CHECK(dma_fence_get(NULL) == NULL);
	dma_fence_put(NULL);
}

static const struct dma_fence_ops keep_ops = {
	.get_driver_name = t_driver, .get_timeline_name = t_timeline,
	.release = t_release,
};

static void double_put(void *arg)
{
	struct tfence *t = calloc(1, sizeof(*t));

	(void)arg;
	dma_fence_init(&t->base, &keep_ops, &test_lock, 1, 1);
	dma_fence_signal(&t->base);
	/* Keep the memory alive so the second put sees a zero count. */
	kref_get(&t->base.refcount);
	dma_fence_put(&t->base);
	dma_fence_put(&t->base);
	dma_fence_put(&t->base); /* one too many */
}

TEST(put_past_zero_is_detected)
{
	CHECK(dmasync_test_dies(double_put, NULL, "refcount"));
}

static void signal_locked_unlocked(void *arg)
{
	struct dma_fence *f = fence_new();

	(void)arg;
	dma_fence_signal_locked(f); /* lock not held: contract violation */
}

TEST(signal_locked_without_lock_is_caught)
{
	CHECK(dmasync_test_dies(signal_locked_unlocked, NULL, "lock not held"));
}

static void init_without_ops(void *arg)
{
	struct dma_fence f;

	(void)arg;
	dma_fence_init(&f, NULL, &test_lock, 1, 1);
}

TEST(init_without_ops_is_a_bug)
{
	CHECK(dmasync_test_dies(init_without_ops, NULL, "BUG"));
}

TEST(get_rcu_refuses_dying_fence)
{
	struct dma_fence *f = fence_new();

	dma_fence_signal(f);
	rcu_read_lock();
	CHECK(dma_fence_get_rcu(f) == f);
	dma_fence_put(f);
	dma_fence_put(f); /* count now 0; memory lives until the grace period */
	CHECK(dma_fence_get_rcu(f) == NULL);
	rcu_read_unlock();
}

/* ---- signaling --------------------------------------------------------- */

TEST(signal_once_and_return_values)
{
	struct dma_fence *f = fence_new();
	ktime_t before = ktime_get(), ts;

	CHECK_EQ(dma_fence_signal(f), 0);
	ts = dma_fence_timestamp(f);
	CHECK(ts >= before && ts <= ktime_get());
	CHECK(test_bit(DMA_FENCE_FLAG_TIMESTAMP_BIT, &f->flags));
	CHECK_EQ(dma_fence_signal(f), -EINVAL);
	CHECK_EQ(dma_fence_signal_timestamp(f, 5), -EINVAL);
	CHECK_EQ(dma_fence_timestamp(f), ts);
	CHECK(dma_fence_check_and_signal(f));
	CHECK_EQ(dma_fence_signal(NULL), -EINVAL);
	dma_fence_put(f);
}

TEST(signal_timestamp_records_given_time)
{
	struct dma_fence *f = fence_new();
	struct dma_fence *g = fence_new();

	CHECK(!dma_fence_check_and_signal(g));
	CHECK_EQ(dma_fence_signal_timestamp(f, 123456789), 0);
	CHECK_EQ(dma_fence_timestamp(f), 123456789);
	spin_lock(g->lock);
	CHECK_EQ(dma_fence_signal_timestamp_locked(g, 7), -EINVAL);
	spin_unlock(g->lock);
	dma_fence_put(f);
	dma_fence_put(g);
}

TEST(timestamp_of_pending_fence_is_now)
{
	struct dma_fence *f = fence_new();
	ktime_t a = ktime_get(), t = dma_fence_timestamp(f), b = ktime_get();

	CHECK(t >= a && t <= b);
	dma_fence_signal(f);
	dma_fence_put(f);
}

TEST(error_then_signal)
{
	struct dma_fence *f = fence_new();

	CHECK_EQ(dma_fence_get_status(f), 0);
	dma_fence_set_error(f, -EIO);
	CHECK_EQ(dma_fence_get_status(f), 0);
	dma_fence_signal(f);
	CHECK_EQ(dma_fence_get_status(f), -EIO);
	CHECK_EQ(f->error, -EIO);
	dma_fence_put(f);
}

TEST(set_error_misuse_warns_and_is_ignored)
{
	struct dma_fence *f = fence_new();
	unsigned long w = core_warn_count();

	EXPECT_WARNINGS();
	dma_fence_set_error(f, 5);
	dma_fence_set_error(f, -MAX_ERRNO - 1);
	CHECK_EQ(core_warn_count(), w + 2);
	CHECK_EQ(f->error, 0);
	dma_fence_signal(f);
	CHECK_EQ(dma_fence_get_status(f), 1);
	dma_fence_set_error(f, -EIO);
	CHECK_EQ(core_warn_count(), w + 3);
	CHECK_EQ(dma_fence_get_status(f), 1);
	dma_fence_put(f);
}

TEST(is_signaled_consults_ops_and_signals)
{
	struct tfence *t = tfence_new(dma_fence_context_alloc(1), 1);

	CHECK(!dma_fence_is_signaled(&t->base));
	CHECK(!test_bit(DMA_FENCE_FLAG_SIGNALED_BIT, &t->base.flags));
	t->passed = true;
	CHECK(!dma_fence_test_signaled_flag(&t->base));
	CHECK(dma_fence_is_signaled(&t->base));
	CHECK(test_bit(DMA_FENCE_FLAG_SIGNALED_BIT, &t->base.flags));
	CHECK_EQ(t->enable_calls, 0); /* is_signaled never enables signaling */
	CHECK_EQ(dma_fence_get_status(&t->base), 1);
	dma_fence_put(&t->base);
}

TEST(enable_signaling_runs_once)
{
	struct tfence *t = tfence_new(dma_fence_context_alloc(1), 1);

	dma_fence_enable_sw_signaling(&t->base);
	dma_fence_enable_sw_signaling(&t->base);
	CHECK_EQ(t->enable_calls, 1);
	CHECK(test_bit(DMA_FENCE_FLAG_ENABLE_SIGNAL_BIT, &t->base.flags));
	CHECK(!dma_fence_is_signaled(&t->base));
	dma_fence_signal(&t->base);
	dma_fence_put(&t->base);
}

TEST(enable_signaling_false_signals_immediately)
{
	struct tfence *t = tfence_new(dma_fence_context_alloc(1), 1);

	t->enable_ret = false;
	dma_fence_enable_sw_signaling(&t->base);
	CHECK(dma_fence_test_signaled_flag(&t->base));
	dma_fence_put(&t->base);
}

/* ---- callbacks --------------------------------------------------------- */

struct rec_cb {
	struct dma_fence_cb cb;
	int id;
	int *log;
	int *n;
	bool lock_held;
	pthread_t thread;
};

static void rec_func(struct dma_fence *f, struct dma_fence_cb *cb)
{
	struct rec_cb *r = container_of(cb, struct rec_cb, cb);

	r->log[(*r->n)++] = r->id;
	r->lock_held = spin_is_held(f->lock);
	r->thread = pthread_self();
	CHECK(list_empty(&cb->node));
}

TEST(callbacks_run_in_order_under_lock_in_signaling_thread)
{
	struct dma_fence *f = fence_new();
	struct rec_cb r[5];
	int log[5], n = 0;

	for (int i = 0; i < 5; i++) {
		r[i] = (struct rec_cb){ .id = i, .log = log, .n = &n };
		CHECK_EQ(dma_fence_add_callback(f, &r[i].cb, rec_func), 0);
	}
	CHECK(dma_fence_remove_callback(f, &r[2].cb));
	CHECK(!dma_fence_remove_callback(f, &r[2].cb));
	CHECK_EQ(n, 0);
	dma_fence_signal(f);
	CHECK_EQ(n, 4);
	CHECK_EQ(log[0], 0);
	CHECK_EQ(log[1], 1);
	CHECK_EQ(log[2], 3);
	CHECK_EQ(log[3], 4);
	CHECK(r[0].lock_held);
	CHECK(pthread_equal(r[4].thread, pthread_self()));
	/* After running, removing reports that it already ran. */
	CHECK(!dma_fence_remove_callback(f, &r[0].cb));
	dma_fence_put(f);
}

TEST(late_add_callback_returns_enoent_and_never_runs)
{
	struct dma_fence *f = fence_new();
	struct rec_cb r = { .id = 1 };
	int log[1], n = 0;

	r.log = log;
	r.n = &n;
	r.cb.node.next = (void *)0x1; /* garbage: add_callback must initialise it */
	dma_fence_signal(f);
	CHECK_EQ(dma_fence_add_callback(f, &r.cb, rec_func), -ENOENT);
	CHECK(list_empty(&r.cb.node));
	CHECK(!dma_fence_remove_callback(f, &r.cb));
	CHECK_EQ(n, 0);
	dma_fence_put(f);
}

TEST(add_callback_when_enable_signaling_fails)
{
	struct tfence *t = tfence_new(dma_fence_context_alloc(1), 1);
	struct rec_cb r = { .id = 1 };
	int log[1], n = 0;

	r.log = log;
	r.n = &n;
	t->enable_ret = false;
	CHECK_EQ(dma_fence_add_callback(&t->base, &r.cb, rec_func), -ENOENT);
	CHECK_EQ(n, 0);
	CHECK(dma_fence_is_signaled(&t->base));
	dma_fence_put(&t->base);
}

TEST(add_callback_null_arguments)
{
	struct dma_fence *f = fence_new();
	struct dma_fence_cb cb;

	EXPECT_WARNINGS();
	CHECK_EQ(dma_fence_add_callback(NULL, &cb, rec_func), -EINVAL);
	CHECK_EQ(dma_fence_add_callback(f, &cb, NULL), -EINVAL);
	CHECK(list_empty(&cb.node));
	dma_fence_signal(f);
	dma_fence_put(f);
}

static int deadlk_seen;
static void deadlk_func(struct dma_fence *f, struct dma_fence_cb *cb)
{
	deadlk_seen = f->error;
}

TEST(release_with_pending_callbacks_signals_edeadlk)
{
	struct dma_fence *f = fence_new();
	struct dma_fence_cb cb;

	EXPECT_WARNINGS();
	deadlk_seen = 0;
	CHECK_EQ(dma_fence_add_callback(f, &cb, deadlk_func), 0);
	dma_fence_put(f);
	CHECK_EQ(deadlk_seen, -EDEADLK);
}

/* ---- waits ------------------------------------------------------------- */

struct delayed {
	struct dma_fence *f;
	long delay_ns;
	int error;
};

static void *signal_later(void *arg)
{
	struct delayed *d = arg;
	struct timespec ts = { d->delay_ns / 1000000000, d->delay_ns % 1000000000 };

	nanosleep(&ts, NULL);
	if (d->error)
		dma_fence_set_error(d->f, d->error);
	dma_fence_signal(d->f);
	return NULL;
}

TEST(wait_zero_only_tests)
{
	struct tfence *t = tfence_new(dma_fence_context_alloc(1), 1);

	CHECK_EQ(dma_fence_wait_timeout(&t->base, false, 0), 0);
	CHECK_EQ(t->enable_calls, 1); /* waiting enables signaling */
	dma_fence_signal(&t->base);
	CHECK_EQ(dma_fence_wait_timeout(&t->base, false, 0), 1);
	CHECK_EQ(dma_fence_wait_timeout(&t->base, false, 1000), 1000);
	dma_fence_put(&t->base);
}

TEST(wait_finite_times_out)
{
	struct dma_fence *f = fence_new();
	ktime_t start = ktime_get();
	long r = dma_fence_wait_timeout(f, false, 20 * 1000 * 1000);
	ktime_t took = ktime_get() - start;

	CHECK_EQ(r, 0);
	CHECK(took >= 20 * 1000 * 1000);
	CHECK(took < 2000 * 1000 * 1000L);
	CHECK(list_empty(&f->cb_list)); /* the waiter dequeued itself */
	dma_fence_signal(f);
	dma_fence_put(f);
}

TEST(wait_finite_returns_remaining)
{
	struct dma_fence *f = fence_new();
	struct delayed d = { f, 10 * 1000 * 1000, 0 };
	pthread_t th;
	long r;

	pthread_create(&th, NULL, signal_later, &d);
	r = dma_fence_wait_timeout(f, false, 5000L * 1000 * 1000);
	CHECK(r > 0);
	CHECK(r < 5000L * 1000 * 1000 - 5 * 1000 * 1000);
	pthread_join(th, NULL);
	dma_fence_put(f);
}

TEST(wait_forever_and_error)
{
	struct dma_fence *f = fence_new();
	struct delayed d = { f, 5 * 1000 * 1000, -ETIMEDOUT };
	pthread_t th;

	pthread_create(&th, NULL, signal_later, &d);
	CHECK_EQ(dma_fence_wait_timeout(f, true, MAX_SCHEDULE_TIMEOUT), MAX_SCHEDULE_TIMEOUT);
	CHECK_EQ(dma_fence_wait(f, false), 0);
	CHECK_EQ(dma_fence_get_status(f), -ETIMEDOUT);
	pthread_join(th, NULL);
	dma_fence_put(f);
}

TEST(wait_negative_timeout_is_einval)
{
	struct dma_fence *f = fence_new();

	EXPECT_WARNINGS();
	CHECK_EQ(dma_fence_wait_timeout(f, false, -1), -EINVAL);
	dma_fence_signal(f);
	dma_fence_put(f);
}

static void on_usr1(int sig) { (void)sig; }

struct intr_arg {
	struct dma_fence *f;
	long ret;
	bool intr;
	int started;
};

static void *intr_waiter(void *arg)
{
	struct intr_arg *a = arg;

	__atomic_store_n(&a->started, 1, __ATOMIC_RELEASE);
	a->ret = dma_fence_wait_timeout(a->f, a->intr, 2000L * 1000 * 1000);
	return NULL;
}

TEST(interruptible_wait_returns_erestartsys)
{
	struct sigaction sa = { .sa_handler = on_usr1 };
	struct dma_fence *f = fence_new();
	struct intr_arg a = { .f = f, .intr = true };
	struct intr_arg b = { .f = f, .intr = false };
	pthread_t ta, tb;

	sigaction(SIGUSR1, &sa, NULL); /* no SA_RESTART */
	pthread_create(&ta, NULL, intr_waiter, &a);
	pthread_create(&tb, NULL, intr_waiter, &b);
	while (!__atomic_load_n(&a.started, __ATOMIC_ACQUIRE) ||
	       !__atomic_load_n(&b.started, __ATOMIC_ACQUIRE))
		usleep(1000);
	usleep(20000);
	pthread_kill(ta, SIGUSR1);
	pthread_kill(tb, SIGUSR1);
	pthread_join(ta, NULL);
	usleep(20000);
	dma_fence_signal(f);
	pthread_join(tb, NULL);
	CHECK_EQ(a.ret, -ERESTARTSYS);
	CHECK(b.ret > 0); /* uninterruptible: kept waiting until signaled */
	dma_fence_put(f);
}

TEST(wait_any_reports_first_signaled_index)
{
	struct dma_fence *f[4];
	struct delayed d;
	pthread_t th;
	u32 idx = 99;

	for (int i = 0; i < 4; i++)
		f[i] = fence_new();
	CHECK_EQ(dma_fence_wait_any_timeout(f, 4, false, 0, &idx), 0);
	CHECK_EQ(dma_fence_wait_any_timeout(f, 4, false, 5 * 1000 * 1000, &idx), 0);
	d = (struct delayed){ f[2], 5 * 1000 * 1000, 0 };
	pthread_create(&th, NULL, signal_later, &d);
	CHECK(dma_fence_wait_any_timeout(f, 4, false, MAX_SCHEDULE_TIMEOUT, &idx) > 0);
	CHECK_EQ(idx, 2);
	pthread_join(th, NULL);
	dma_fence_signal(f[3]);
	CHECK_EQ(dma_fence_wait_any_timeout(f, 4, false, 0, &idx), 1);
	CHECK_EQ(idx, 2);
	CHECK(dma_fence_wait_any_timeout(f, 4, false, 1000, NULL) > 0);
	for (int i = 0; i < 4; i++) {
		CHECK(list_empty(&f[i]->cb_list));
		dma_fence_signal(f[i]);
		dma_fence_put(f[i]);
	}
}

TEST(wait_any_bad_arguments)
{
	struct dma_fence *f = fence_new();

	EXPECT_WARNINGS();
	CHECK_EQ(dma_fence_wait_any_timeout(NULL, 1, false, 0, NULL), -EINVAL);
	CHECK_EQ(dma_fence_wait_any_timeout(&f, 0, false, 0, NULL), -EINVAL);
	CHECK_EQ(dma_fence_wait_any_timeout(&f, 1, false, -5, NULL), -EINVAL);
	dma_fence_signal(f);
	dma_fence_put(f);
}

/* ---- ordering ---------------------------------------------------------- */

static bool later32(u64 a, u64 b)
{
	struct tfence *x = tfence_new(7, a), *y = tfence_new(7, b);
	bool r = dma_fence_is_later(&x->base, &y->base);

	dma_fence_signal(&x->base);
	dma_fence_signal(&y->base);
	dma_fence_put(&x->base);
	dma_fence_put(&y->base);
	return r;
}

TEST(seqno_32bit_wrap_rule)
{
	CHECK(later32(5, 3));
	CHECK(!later32(3, 5));
	CHECK(!later32(7, 7));
	CHECK(later32(0x00000002, 0xFFFFFFFE));
	CHECK(later32(0x7FFFFFFF, 0));
	CHECK(!later32(0x80000000, 0));
	CHECK(!later32(0, 0x80000000));
	CHECK(!later32(0x100000004ull, 0x5));
	CHECK(later32(0x80000000, 1)); /* diff 0x7fffffff */
}

TEST(seqno_64bit_fences_compare_plainly)
{
	struct dma_fence a, b;

	dma_fence_init64(&a, &keep_ops, &test_lock, 9, 0x100000004ull);
	dma_fence_init64(&b, &keep_ops, &test_lock, 9, 5);
	CHECK(test_bit(DMA_FENCE_FLAG_SEQNO64_BIT, &a.flags));
	CHECK(dma_fence_is_later(&a, &b));
	CHECK(!dma_fence_is_later(&b, &a));
	CHECK(!dma_fence_is_later(&a, &a));
	CHECK(dma_fence_is_later_or_same(&a, &a));
	CHECK(__dma_fence_is_later(&a, 0xFFFFFFFFFull, 1));
	CHECK(!__dma_fence_is_later(&a, 0x2, 0xFFFFFFFE));
}

TEST(is_later_across_contexts_warns)
{
	struct tfence *x = tfence_new(1000, 5), *y = tfence_new(1001, 3);

	EXPECT_WARNINGS();
	CHECK(!dma_fence_is_later(&x->base, &y->base));
	CHECK(dma_fence_later(&x->base, &y->base) == NULL);
	dma_fence_signal(&x->base);
	dma_fence_signal(&y->base);
	dma_fence_put(&x->base);
	dma_fence_put(&y->base);
}

TEST(later_returns_null_when_signaled)
{
	struct tfence *x = tfence_new(77, 5), *y = tfence_new(77, 3);

	CHECK(dma_fence_later(&x->base, &y->base) == &x->base);
	CHECK(dma_fence_later(&y->base, &x->base) == &x->base);
	dma_fence_signal(&x->base);
	CHECK(dma_fence_later(&x->base, &y->base) == NULL);
	dma_fence_signal(&y->base);
	dma_fence_put(&x->base);
	dma_fence_put(&y->base);
}

/* ---- stubs, deadlines, names ------------------------------------------- */

TEST(stub_is_global_and_signaled)
{
	struct dma_fence *a = dma_fence_get_stub(), *b;
	ktime_t t;

	usleep(1000);
	b = dma_fence_get_stub();
	CHECK(a == b);
	CHECK(dma_fence_is_signaled(a));
	CHECK_EQ(a->context, 0);
	CHECK_EQ(a->seqno, 0);
	CHECK_STR(dma_fence_driver_name(a), "stub");
	CHECK_STR(dma_fence_timeline_name(a), "stub");
	CHECK_EQ(dma_fence_get_status(a), 1);
	t = dma_fence_timestamp(a);
	CHECK_EQ(dma_fence_timestamp(b), t);
	dma_fence_put(a);
	dma_fence_put(b);
}

TEST(private_stub_carries_timestamp)
{
	struct dma_fence *a = dma_fence_allocate_private_stub(424242);
	struct dma_fence *s = dma_fence_get_stub();

	REQUIRE(a);
	CHECK(a != s);
	CHECK(dma_fence_is_signaled(a));
	CHECK_EQ(dma_fence_timestamp(a), 424242);
	CHECK_STR(dma_fence_driver_name(a), "stub");
	dma_fence_put(a);
	dma_fence_put(s);
}

TEST(set_deadline_only_while_pending)
{
	struct tfence *t = tfence_new(dma_fence_context_alloc(1), 1);

	dma_fence_set_deadline(&t->base, 1000);
	CHECK_EQ(t->deadline, 1000);
	dma_fence_signal(&t->base);
	dma_fence_set_deadline(&t->base, 2000);
	CHECK_EQ(t->deadline, 1000);
	dma_fence_put(&t->base);
}

TEST(describe_format)
{
	struct tfence *t = tfence_new(42, 17);
	char buf[256] = "";
	FILE *m = fmemopen(buf, sizeof(buf), "w");

	dma_fence_describe(&t->base, m);
	dma_fence_signal(&t->base);
	dma_fence_describe(&t->base, m);
	fclose(m);
	CHECK_STR(buf, "42:17 test-timeline test-driver unsignalled\n"
		       "42:17 test-timeline test-driver signalled\n");
	dma_fence_put(&t->base);
}

/* ---- stress ------------------------------------------------------------ */

struct race {
	struct dma_fence **fences;
	struct dma_fence_cb *cbs;
	int *ran;
	int *added;
	long n;
	pthread_barrier_t *start;
};

static int *race_ran_base;
static struct dma_fence_cb *race_cb_base;

static void count_func(struct dma_fence *f, struct dma_fence_cb *cb)
{
	__atomic_fetch_add(&race_ran_base[cb - race_cb_base], 1, __ATOMIC_RELAXED);
}

static void *race_signaler(void *arg)
{
	struct race *r = arg;

	pthread_barrier_wait(r->start);
	for (long i = 0; i < r->n; i++)
		dma_fence_signal(r->fences[i]);
	return NULL;
}

static void *race_adder(void *arg)
{
	struct race *r = arg;

	pthread_barrier_wait(r->start);
	for (long i = 0; i < r->n; i++)
		r->added[i] = dma_fence_add_callback(r->fences[i], &r->cbs[i], count_func);
	return NULL;
}

TEST(stress_signal_races_add_callback)
{
	long n = STRESS(200000);
	struct race r = { .n = n };
	pthread_barrier_t start;
	pthread_t a, b;
	long queued = 0;

	r.fences = calloc(n, sizeof(*r.fences));
	r.cbs = calloc(n, sizeof(*r.cbs));
	r.ran = calloc(n, sizeof(*r.ran));
	r.added = calloc(n, sizeof(*r.added));
	race_ran_base = r.ran;
	race_cb_base = r.cbs;
	r.start = &start;
	for (long i = 0; i < n; i++)
		r.fences[i] = fence_new();
	pthread_barrier_init(&start, NULL, 2);
	pthread_create(&a, NULL, race_signaler, &r);
	pthread_create(&b, NULL, race_adder, &r);
	pthread_join(a, NULL);
	pthread_join(b, NULL);
	for (long i = 0; i < n; i++) {
		/* Exactly once if queued, never if -ENOENT. */
		if (r.added[i] == 0) {
			queued++;
			if (r.ran[i] != 1)
				CHECK_EQ(r.ran[i], 1);
		} else {
			if (r.added[i] != -ENOENT || r.ran[i] != 0)
				CHECK(r.added[i] == -ENOENT && r.ran[i] == 0);
		}
		dma_fence_put(r.fences[i]);
	}
	printf("# %ld of %ld callbacks queued before the signal\n", queued, n);
	pthread_barrier_destroy(&start);
	free(r.fences);
	free(r.cbs);
	free(r.ran);
	free(r.added);
}

struct waiters {
	struct dma_fence *f;
	long ret;
};

static void *plain_waiter(void *arg)
{
	struct waiters *w = arg;

	w->ret = dma_fence_wait_timeout(w->f, false, MAX_SCHEDULE_TIMEOUT);
	return NULL;
}

TEST(stress_many_waiters_all_wake)
{
	long rounds = STRESS(200);

	for (long r = 0; r < rounds; r++) {
		struct dma_fence *f = fence_new();
		struct waiters w[8];
		pthread_t th[8];

		for (int i = 0; i < 8; i++) {
			w[i] = (struct waiters){ f, 0 };
			pthread_create(&th[i], NULL, plain_waiter, &w[i]);
		}
		if (r & 1)
			usleep(100);
		dma_fence_signal(f);
		for (int i = 0; i < 8; i++) {
			pthread_join(th[i], NULL);
			CHECK_EQ(w[i].ret, MAX_SCHEDULE_TIMEOUT);
		}
		dma_fence_put(f);
	}
}

/* Readers take references through a pointer a writer keeps replacing. */
static struct dma_fence *__rcu shared_fence;
static int stop_readers;

static void *rcu_reader(void *arg)
{
	long got = 0;

	while (!__atomic_load_n(&stop_readers, __ATOMIC_ACQUIRE)) {
		struct dma_fence *f;

		rcu_read_lock();
		f = dma_fence_get_rcu_safe(&shared_fence);
		rcu_read_unlock();
		if (f) {
			if (kref_read(&f->refcount) < 1)
				CHECK(kref_read(&f->refcount) >= 1);
			CHECK_STR(dma_fence_driver_name(f), "test-driver");
			dma_fence_put(f);
			got++;
		}
	}
	*(long *)arg = got;
	return NULL;
}

TEST(stress_get_rcu_safe_against_replacement)
{
	long n = STRESS(100000), got[2] = { 0, 0 };
	pthread_t th[2];

	__atomic_store_n(&stop_readers, 0, __ATOMIC_RELEASE);
	rcu_assign_pointer(shared_fence, fence_new());
	for (int i = 0; i < 2; i++)
		pthread_create(&th[i], NULL, rcu_reader, &got[i]);
	for (long i = 0; i < n; i++) {
		struct dma_fence *old = shared_fence;

		rcu_assign_pointer(shared_fence, fence_new());
		dma_fence_signal(old);
		dma_fence_put(old);
	}
	__atomic_store_n(&stop_readers, 1, __ATOMIC_RELEASE);
	for (int i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
	dma_fence_signal(shared_fence);
	dma_fence_put(shared_fence);
	shared_fence = NULL;
	CHECK(got[0] + got[1] > 0);
}
