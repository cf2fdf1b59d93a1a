/* SPDX-License-Identifier: MIT */
/* Unit tests for wound/wait mutexes (src/core/ww_mutex.c). */
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <dmasync/ww_mutex.h>
#include "debug.h"
#include "test-harness.h"

static DEFINE_WW_CLASS(ww_cls);
static DEFINE_WD_CLASS(wd_cls);
static DEFINE_WW_MUTEX(static_lock, wd_cls);

/* ---- helpers --------------------------------------------------------------- */

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts))
		;
}

static bool flag_get(const int *flag)
{
	return __atomic_load_n(flag, __ATOMIC_ACQUIRE);
}

static void flag_set(int *flag)
{
	__atomic_store_n(flag, 1, __ATOMIC_RELEASE);
}

/* Poll @flag for up to @ms milliseconds. */
static bool wait_flag(const int *flag, long ms)
{
	for (long i = 0; i < ms; i++) {
		if (flag_get(flag))
			return true;
		sleep_ms(1);
	}
	return flag_get(flag);
}

/* Number of threads sleeping on @lock (peeks at the private wait list). */
static int nr_waiters(struct ww_mutex *lock)
{
	struct list_head *pos;
	int n = 0;

	pthread_mutex_lock(&lock->wait_lock);
	for (pos = lock->wait_list.next; pos != &lock->wait_list; pos = pos->next)
		n++;
	pthread_mutex_unlock(&lock->wait_lock);
	return n;
}

static bool wait_waiters(struct ww_mutex *lock, int n, long ms)
{
	for (long i = 0; i < ms; i++) {
		if (nr_waiters(lock) >= n)
			return true;
		sleep_ms(1);
	}
	return false;
}

static unsigned short ctx_wounded(struct ww_acquire_ctx *ctx)
{
	return __atomic_load_n(&ctx->wounded, __ATOMIC_SEQ_CST);
}

static bool wait_wounded(struct ww_acquire_ctx *ctx, long ms)
{
	for (long i = 0; i < ms; i++) {
		if (ctx_wounded(ctx))
			return true;
		sleep_ms(1);
	}
	return false;
}

enum lock_op { OP_NONE, OP_LOCK, OP_LOCK_INTR, OP_SLOW, OP_SLOW_INTR };

/*
 * A thread that takes @pre (through @ctx, or without a context if @ctx is
 * NULL), reports @ready, then runs @op on @target and reports @done with
 * the result, and finally waits for @release before unlocking everything.
 * The context is initialised by the test (so it controls stamp order) and
 * finished by the thread.
 */
struct locker {
	pthread_t thread;
	struct ww_acquire_ctx *ctx;
	struct ww_mutex *pre[3];
	int npre;
	enum lock_op op;
	struct ww_mutex *target;
	int ready, done, release;
	int ret;
	bool pre_failed;
};

static void *locker_main(void *arg)
{
	struct locker *l = arg;

	for (int i = 0; i < l->npre; i++)
		if (ww_mutex_lock(l->pre[i], l->ctx))
			l->pre_failed = true;
	flag_set(&l->ready);
	switch (l->op) {
	case OP_NONE:
		l->ret = 0;
		break;
	case OP_LOCK:
		l->ret = ww_mutex_lock(l->target, l->ctx);
		break;
	case OP_LOCK_INTR:
		l->ret = ww_mutex_lock_interruptible(l->target, l->ctx);
		break;
	case OP_SLOW:
		ww_mutex_lock_slow(l->target, l->ctx);
		l->ret = 0;
		break;
	case OP_SLOW_INTR:
		l->ret = ww_mutex_lock_slow_interruptible(l->target, l->ctx);
		break;
	}
	flag_set(&l->done);
	while (!flag_get(&l->release))
		sleep_ms(1);
	if (l->op != OP_NONE && l->ret == 0)
		ww_mutex_unlock(l->target);
	for (int i = l->npre - 1; i >= 0; i--)
		ww_mutex_unlock(l->pre[i]);
	if (l->ctx)
		ww_acquire_fini(l->ctx);
	return NULL;
}

/* Start a locker and wait until its @pre locks are held. */
static void locker_start(struct locker *l)
{
	l->ready = l->done = l->release = 0;
	l->ret = 1;
	l->pre_failed = false;
	pthread_create(&l->thread, NULL, locker_main, l);
	if (!wait_flag(&l->ready, 5000))
		dmasync_test_fail(__FILE__, __LINE__, "locker did not take its locks");
	if (l->pre_failed)
		dmasync_test_fail(__FILE__, __LINE__, "locker failed to take a first lock");
}

static void locker_finish(struct locker *l)
{
	flag_set(&l->release);
	pthread_join(l->thread, NULL);
}

static struct ww_class *classes[] = { &wd_cls, &ww_cls };

static void init_locks(struct ww_mutex *locks, int n, struct ww_class *cls)
{
	for (int i = 0; i < n; i++)
		ww_mutex_init(&locks[i], cls);
}

static void destroy_locks(struct ww_mutex *locks, int n)
{
	for (int i = 0; i < n; i++) {
		CHECK(!ww_mutex_is_locked(&locks[i]));
		ww_mutex_destroy(&locks[i]);
	}
}

/* ---- basics ---------------------------------------------------------------- */

TEST(classes_and_stamps)
{
	struct ww_acquire_ctx a, b;

	CHECK_EQ(ww_cls.is_wait_die, 0);
	CHECK_EQ(wd_cls.is_wait_die, 1);
	CHECK_STR(wd_cls.acquire_name, "wd_cls_acquire");
	ww_acquire_init(&a, &wd_cls);
	ww_acquire_init(&b, &wd_cls);
	CHECK_EQ(b.stamp, a.stamp + 1);
	CHECK_EQ(a.acquired, 0);
	CHECK_EQ(a.is_wait_die, 1);
	CHECK(!ww_mutex_is_locked(&static_lock));
	CHECK_EQ(ww_mutex_lock(&static_lock, &a), 0);
	CHECK(ww_mutex_is_locked(&static_lock));
	CHECK(ww_mutex_is_owned_by(&static_lock, &a));
	CHECK(!ww_mutex_is_owned_by(&static_lock, &b));
	ww_mutex_unlock(&static_lock);
	ww_acquire_fini(&b);
	ww_acquire_fini(&a);
	CHECK(!ww_mutex_is_locked(&static_lock));
}

TEST(ealready_and_acquired_count)
{
	for (int c = 0; c < 2; c++) {
		struct ww_mutex l[2];
		struct ww_acquire_ctx ctx;

		init_locks(l, 2, classes[c]);
		ww_acquire_init(&ctx, classes[c]);
		CHECK_EQ(ww_mutex_lock(&l[0], &ctx), 0);
		CHECK_EQ(ctx.acquired, 1);
		CHECK(ww_mutex_locking_ctx(&l[0]) == &ctx);
		CHECK(ww_mutex_is_held(&l[0]));
		CHECK_EQ(ww_mutex_lock(&l[0], &ctx), -EALREADY);
		CHECK_EQ(ww_mutex_lock_interruptible(&l[0], &ctx), -EALREADY);
		CHECK_EQ(ctx.acquired, 1);
		CHECK_EQ(ww_mutex_lock(&l[1], &ctx), 0);
		CHECK_EQ(ctx.acquired, 2);
		ww_acquire_done(&ctx);
		ww_mutex_unlock(&l[0]);
		CHECK_EQ(ctx.acquired, 1);
		CHECK(!ww_mutex_is_held(&l[0]));
		CHECK(ww_mutex_locking_ctx(&l[0]) == NULL);
		ww_mutex_unlock(&l[1]);
		CHECK_EQ(ctx.acquired, 0);
		ww_acquire_fini(&ctx);
		destroy_locks(l, 2);
	}
}

TEST(trylock_accounting)
{
	for (int c = 0; c < 2; c++) {
		struct ww_mutex l[3];
		struct ww_acquire_ctx ctx, other;
		struct locker h = { .ctx = &other, .pre = { &l[2] }, .npre = 1 };

		init_locks(l, 3, classes[c]);
		ww_acquire_init(&other, classes[c]);
		ww_acquire_init(&ctx, classes[c]);
		locker_start(&h);

		CHECK_EQ(ww_mutex_trylock(&l[0], &ctx), 1);
		CHECK_EQ(ctx.acquired, 1);
		CHECK(ww_mutex_is_owned_by(&l[0], &ctx));
		CHECK_EQ(ww_mutex_trylock(&l[0], &ctx), 0); /* already ours: busy */
		CHECK_EQ(ctx.acquired, 1);
		CHECK_EQ(ww_mutex_trylock(&l[2], &ctx), 0); /* held by another context */
		CHECK_EQ(ctx.acquired, 1);
		CHECK_EQ(ww_mutex_lock(&l[0], &ctx), -EALREADY);

		CHECK_EQ(ww_mutex_trylock(&l[1], NULL), 1);
		CHECK(ww_mutex_is_held(&l[1]));
		CHECK(ww_mutex_is_owned_by(&l[1], NULL));
		CHECK(ww_mutex_locking_ctx(&l[1]) == NULL);
		CHECK_EQ(ww_mutex_trylock(&l[1], NULL), 0);
		CHECK_EQ(ctx.acquired, 1);
		ww_mutex_unlock(&l[1]);

		ww_mutex_unlock(&l[0]);
		CHECK_EQ(ctx.acquired, 0);
		ww_acquire_fini(&ctx);
		locker_finish(&h);
		destroy_locks(l, 3);
	}
}

struct counter_arg {
	struct ww_mutex *lock;
	long n;
	long *counter;
	bool use_trylock;
};

static void *count_main(void *arg)
{
	struct counter_arg *a = arg;

	for (long i = 0; i < a->n; i++) {
		if (a->use_trylock && (i & 1)) {
			while (!ww_mutex_trylock(a->lock, NULL))
				sched_yield();
		} else {
			ww_mutex_lock(a->lock, NULL);
		}
		(*a->counter)++; /* plain: the lock must serialise it */
		ww_mutex_unlock(a->lock);
	}
	return NULL;
}

TEST(null_ctx_is_a_plain_mutex)
{
	struct ww_mutex lock;
	pthread_t t[4];
	struct counter_arg a[4];
	long counter = 0, n = STRESS(20000);

	ww_mutex_init(&lock, &wd_cls);
	CHECK_EQ(ww_mutex_lock(&lock, NULL), 0);
	CHECK(ww_mutex_is_locked(&lock));
	CHECK(ww_mutex_is_held(&lock));
	CHECK(ww_mutex_locking_ctx(&lock) == NULL);
	ww_mutex_unlock(&lock);
	CHECK(!ww_mutex_is_locked(&lock));

	for (int i = 0; i < 4; i++) {
		a[i] = (struct counter_arg){ &lock, n, &counter, i == 3 };
		pthread_create(&t[i], NULL, count_main, &a[i]);
	}
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	CHECK_EQ(counter, 4 * n);
	CHECK(!ww_mutex_is_locked(&lock));
	CHECK_EQ(nr_waiters(&lock), 0);
	ww_mutex_destroy(&lock);
}

struct fifo_arg {
	struct ww_mutex *lock;
	int *next;
	int pos;
};

static void *fifo_main(void *arg)
{
	struct fifo_arg *a = arg;

	ww_mutex_lock(a->lock, NULL);
	a->pos = (*a->next)++;
	ww_mutex_unlock(a->lock);
	return NULL;
}

TEST(null_ctx_waiters_are_fifo)
{
	struct ww_mutex lock;
	struct fifo_arg a[4];
	pthread_t t[4];
	int next = 0;

	ww_mutex_init(&lock, &ww_cls);
	ww_mutex_lock(&lock, NULL);
	for (int i = 0; i < 4; i++) {
		a[i] = (struct fifo_arg){ &lock, &next, -1 };
		pthread_create(&t[i], NULL, fifo_main, &a[i]);
		REQUIRE(wait_waiters(&lock, i + 1, 5000));
	}
	ww_mutex_unlock(&lock);
	for (int i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		CHECK_EQ(a[i].pos, i);
	}
	ww_mutex_destroy(&lock);
}

/* The first lock of a transaction never fails, whatever the owner's age. */
TEST(first_lock_never_fails)
{
	for (int c = 0; c < 2; c++) {
		struct ww_mutex l[3];
		struct ww_acquire_ctx old_ctx, young_ctx;
		struct locker o = { .ctx = &old_ctx, .pre = { &l[0], &l[1] }, .npre = 2 };
		struct locker y = { .ctx = &young_ctx, .op = OP_LOCK, .target = &l[0] };

		init_locks(l, 3, classes[c]);
		ww_acquire_init(&old_ctx, classes[c]);
		ww_acquire_init(&young_ctx, classes[c]);
		locker_start(&o);
		locker_start(&y); /* younger, holds nothing: must wait, not die */
		REQUIRE(wait_waiters(&l[0], 1, 5000));
		sleep_ms(20);
		CHECK(!flag_get(&y.done));
		CHECK_EQ(ctx_wounded(&old_ctx), 0);
		locker_finish(&o);
		CHECK(wait_flag(&y.done, 5000));
		CHECK_EQ(y.ret, 0);
		CHECK(ww_mutex_is_owned_by(&l[0], &young_ctx));
		locker_finish(&y);
		destroy_locks(l, 3);
	}
}

/* ---- Wait-Die ------------------------------------------------------------- */

TEST(wait_die_younger_dies_then_slow_path)
{
	struct ww_mutex l[2];
	struct ww_acquire_ctx old_ctx, ctx;
	struct locker o = { .ctx = &old_ctx, .pre = { &l[0] }, .npre = 1 };

	init_locks(l, 2, &wd_cls);
	ww_acquire_init(&old_ctx, &wd_cls);
	ww_acquire_init(&ctx, &wd_cls);
	locker_start(&o);

	CHECK_EQ(ww_mutex_lock(&l[1], &ctx), 0);
	CHECK_EQ(ww_mutex_lock(&l[0], &ctx), -EDEADLK); /* at once, no sleeping */
	CHECK(ctx.contending_lock == &l[0]);
	CHECK(ww_mutex_is_owned_by(&l[0], &old_ctx));
	CHECK_EQ(ctx.acquired, 1);
	CHECK_EQ(nr_waiters(&l[0]), 0);
	ww_mutex_unlock(&l[1]);

	/* The slow path sleeps until the older context lets go. */
	flag_set(&o.release);
	ww_mutex_lock_slow(&l[0], &ctx);
	CHECK(ww_mutex_is_owned_by(&l[0], &ctx));
	CHECK(ctx.contending_lock == NULL);
	CHECK_EQ(ww_mutex_lock(&l[1], &ctx), 0);
	CHECK_EQ(ctx.acquired, 2);
	ww_mutex_unlock(&l[0]);
	ww_mutex_unlock(&l[1]);
	ww_acquire_fini(&ctx);
	pthread_join(o.thread, NULL);
	destroy_locks(l, 2);
}

TEST(wait_die_older_waits)
{
	struct ww_mutex l[2];
	struct ww_acquire_ctx old_ctx, young_ctx;
	struct locker y = { .ctx = &young_ctx, .pre = { &l[0] }, .npre = 1 };
	struct locker o = { .ctx = &old_ctx, .pre = { &l[1] }, .npre = 1,
			    .op = OP_LOCK, .target = &l[0] };

	init_locks(l, 2, &wd_cls);
	ww_acquire_init(&old_ctx, &wd_cls);
	ww_acquire_init(&young_ctx, &wd_cls);
	locker_start(&y);
	locker_start(&o);
	REQUIRE(wait_waiters(&l[0], 1, 5000));
	sleep_ms(20);
	CHECK(!flag_get(&o.done));
	locker_finish(&y);
	CHECK(wait_flag(&o.done, 5000));
	CHECK_EQ(o.ret, 0);
	locker_finish(&o);
	destroy_locks(l, 2);
}

/*
 * A younger context holding locks must not sit behind an older waiter:
 * it dies when it would queue behind one, and a waiting one is woken to
 * die when an older context queues in front of it.
 */
TEST(wait_die_dies_behind_older_waiter)
{
	struct ww_mutex l[4];
	struct ww_acquire_ctx old_ctx, young_ctx, ctx;
	struct locker h = { .pre = { &l[0] }, .npre = 1 }; /* no context */
	struct locker y = { .ctx = &young_ctx, .pre = { &l[1] }, .npre = 1,
			    .op = OP_LOCK, .target = &l[0] };
	struct locker o = { .ctx = &old_ctx, .pre = { &l[2] }, .npre = 1,
			    .op = OP_LOCK, .target = &l[0] };

	init_locks(l, 4, &wd_cls);
	ww_acquire_init(&old_ctx, &wd_cls);
	ww_acquire_init(&young_ctx, &wd_cls);
	ww_acquire_init(&ctx, &wd_cls);
	locker_start(&h);
	locker_start(&y);
	REQUIRE(wait_waiters(&l[0], 1, 5000)); /* owner has no context: y waits */
	sleep_ms(10);
	CHECK(!flag_get(&y.done));
	locker_start(&o); /* queues in front of y and wakes it */
	CHECK(wait_flag(&y.done, 5000));
	CHECK_EQ(y.ret, -EDEADLK);
	CHECK(young_ctx.contending_lock == &l[0]);
	CHECK(!flag_get(&o.done));
	CHECK_EQ(nr_waiters(&l[0]), 1);

	/* A younger context with locks dies rather than queue behind o. */
	CHECK_EQ(ww_mutex_lock(&l[3], &ctx), 0);
	CHECK_EQ(ww_mutex_lock(&l[0], &ctx), -EDEADLK);
	CHECK_EQ(nr_waiters(&l[0]), 1);
	ww_mutex_unlock(&l[3]);
	ww_acquire_fini(&ctx);

	locker_finish(&y);
	locker_finish(&h);
	CHECK(wait_flag(&o.done, 5000));
	CHECK_EQ(o.ret, 0);
	locker_finish(&o);
	destroy_locks(l, 4);
}

/* ---- Wound-Wait ----------------------------------------------------------- */

TEST(wound_wait_older_wounds_younger_holder)
{
	struct ww_mutex l[4];
	struct ww_acquire_ctx old_ctx, ctx;
	struct locker o = { .ctx = &old_ctx, .pre = { &l[2] }, .npre = 1,
			    .op = OP_LOCK, .target = &l[0] };

	init_locks(l, 4, &ww_cls);
	ww_acquire_init(&old_ctx, &ww_cls);
	ww_acquire_init(&ctx, &ww_cls);
	CHECK_EQ(ww_mutex_lock(&l[0], &ctx), 0);
	locker_start(&o); /* older, holds l[2], wants l[0]: wounds us, waits */
	REQUIRE(wait_waiters(&l[0], 1, 5000));
	CHECK(wait_wounded(&ctx, 5000));
	CHECK_EQ(ctx_wounded(&old_ctx), 0);
	CHECK(!flag_get(&o.done));

	/* Lazy: an uncontended lock still succeeds while wounded... */
	CHECK_EQ(ww_mutex_lock(&l[3], &ctx), 0);
	CHECK_EQ(ctx.acquired, 2);
	/* ...but the next one that would wait backs off. */
	CHECK_EQ(ww_mutex_lock(&l[2], &ctx), -EDEADLK);
	CHECK(ctx.contending_lock == &l[2]);
	ww_mutex_unlock(&l[3]);
	ww_mutex_unlock(&l[0]);
	CHECK(wait_flag(&o.done, 5000));
	CHECK_EQ(o.ret, 0);
	CHECK(ww_mutex_is_owned_by(&l[0], &old_ctx));

	flag_set(&o.release);
	ww_mutex_lock_slow(&l[2], &ctx);
	CHECK_EQ(ctx_wounded(&ctx), 0); /* cleared when relocking from nothing */
	CHECK_EQ(ww_mutex_lock(&l[0], &ctx), 0);
	CHECK_EQ(ctx.acquired, 2);
	ww_mutex_unlock(&l[0]);
	ww_mutex_unlock(&l[2]);
	ww_acquire_fini(&ctx);
	pthread_join(o.thread, NULL);
	destroy_locks(l, 4);
}

/* A wounded context asleep on another lock is woken and backs off. */
TEST(wound_wait_wakes_sleeping_holder)
{
	struct ww_mutex l[3];
	struct ww_acquire_ctx old_ctx, young_ctx;
	struct locker h = { .pre = { &l[2] }, .npre = 1 }; /* no context */
	struct locker y = { .ctx = &young_ctx, .pre = { &l[0] }, .npre = 1,
			    .op = OP_LOCK, .target = &l[2] };
	struct locker o = { .ctx = &old_ctx, .pre = { &l[1] }, .npre = 1,
			    .op = OP_LOCK, .target = &l[0] };

	init_locks(l, 3, &ww_cls);
	ww_acquire_init(&old_ctx, &ww_cls);
	ww_acquire_init(&young_ctx, &ww_cls);
	locker_start(&h);
	locker_start(&y);
	REQUIRE(wait_waiters(&l[2], 1, 5000));
	sleep_ms(10);
	CHECK(!flag_get(&y.done)); /* younger waits in Wound-Wait */
	locker_start(&o);
	CHECK(wait_flag(&y.done, 5000));
	CHECK_EQ(y.ret, -EDEADLK);
	CHECK(ww_mutex_is_locked(&l[2]) && !ww_mutex_locking_ctx(&l[2])); /* still h's */
	CHECK_EQ(nr_waiters(&l[2]), 0);
	CHECK(!flag_get(&o.done));
	locker_finish(&y); /* drops l[0]: o gets it */
	CHECK(wait_flag(&o.done, 5000));
	CHECK_EQ(o.ret, 0);
	locker_finish(&o);
	locker_finish(&h);
	destroy_locks(l, 3);
}

TEST(wound_wait_no_wound_without_locks_or_when_younger)
{
	struct ww_mutex l[3];
	struct ww_acquire_ctx a, b, c;

	init_locks(l, 3, &ww_cls);
	/* Older requester holding nothing: waits without wounding. */
	{
		struct locker y = { .ctx = &b, .pre = { &l[0] }, .npre = 1 };
		struct locker o = { .ctx = &a, .op = OP_LOCK, .target = &l[0] };

		ww_acquire_init(&a, &ww_cls);
		ww_acquire_init(&b, &ww_cls);
		locker_start(&y);
		locker_start(&o);
		REQUIRE(wait_waiters(&l[0], 1, 5000));
		sleep_ms(20);
		CHECK_EQ(ctx_wounded(&b), 0);
		CHECK(!flag_get(&o.done));
		locker_finish(&y);
		CHECK(wait_flag(&o.done, 5000));
		CHECK_EQ(o.ret, 0);
		locker_finish(&o);
	}
	/* Younger requester holding locks: waits, nobody is wounded. */
	{
		struct locker o = { .ctx = &a, .pre = { &l[0] }, .npre = 1 };
		struct locker y = { .ctx = &c, .pre = { &l[1] }, .npre = 1,
				    .op = OP_LOCK, .target = &l[0] };

		ww_acquire_init(&a, &ww_cls);
		ww_acquire_init(&c, &ww_cls);
		locker_start(&o);
		locker_start(&y);
		REQUIRE(wait_waiters(&l[0], 1, 5000));
		sleep_ms(20);
		CHECK_EQ(ctx_wounded(&a), 0);
		CHECK_EQ(ctx_wounded(&c), 0);
		CHECK(!flag_get(&y.done));
		locker_finish(&o);
		CHECK(wait_flag(&y.done, 5000));
		CHECK_EQ(y.ret, 0);
		locker_finish(&y);
	}
	destroy_locks(l, 3);
}

/* Stamps compare wrap-safely: 0 drawn after ULONG_MAX is the younger one. */
TEST(stamp_wraparound)
{
	for (int c = 0; c < 2; c++) {
		struct ww_class cls = { .stamp = ULONG_MAX - 1, .is_wait_die = c == 0 };
		struct ww_mutex l[3];
		struct ww_acquire_ctx old_ctx, young_ctx;

		init_locks(l, 3, &cls);
		ww_acquire_init(&old_ctx, &cls);
		ww_acquire_init(&young_ctx, &cls);
		CHECK_EQ(old_ctx.stamp, ULONG_MAX);
		CHECK_EQ(young_ctx.stamp, 0);
		if (cls.is_wait_die) {
			/* Younger (stamp 0) with a lock asks for the older's lock: dies. */
			struct locker o = { .ctx = &old_ctx, .pre = { &l[0] }, .npre = 1 };
			struct locker y = { .ctx = &young_ctx, .pre = { &l[1] }, .npre = 1,
					    .op = OP_LOCK, .target = &l[0] };

			locker_start(&o);
			locker_start(&y);
			if (!wait_flag(&y.done, 2000)) {
				dmasync_test_fail(__FILE__, __LINE__,
						  "stamp 0 treated as older than ULONG_MAX");
				locker_finish(&o);
				wait_flag(&y.done, 5000);
			} else {
				CHECK_EQ(y.ret, -EDEADLK);
				locker_finish(&o);
			}
			locker_finish(&y);
		} else {
			/* Older (ULONG_MAX) with a lock asks for the younger's: wounds. */
			struct locker y = { .ctx = &young_ctx, .pre = { &l[0] }, .npre = 1 };
			struct locker o = { .ctx = &old_ctx, .pre = { &l[1] }, .npre = 1,
					    .op = OP_LOCK, .target = &l[0] };

			locker_start(&y);
			locker_start(&o);
			REQUIRE(wait_waiters(&l[0], 1, 5000));
			CHECK(wait_wounded(&young_ctx, 2000));
			CHECK_EQ(ctx_wounded(&old_ctx), 0);
			locker_finish(&y);
			CHECK(wait_flag(&o.done, 5000));
			CHECK_EQ(o.ret, 0);
			locker_finish(&o);
		}
		destroy_locks(l, 3);
	}
}

/* ---- interruptible waits --------------------------------------------------- */

static void on_sigusr1(int sig)
{
	(void)sig;
}

static void install_handler(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_sigusr1; /* no SA_RESTART: the wait is interrupted */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGUSR1, &sa, NULL);
}

/* Signal @l's thread until it returns from its lock call (at most 5 s). */
static bool kick_until_done(struct locker *l)
{
	for (int i = 0; i < 1000; i++) {
		if (flag_get(&l->done))
			return true;
		pthread_kill(l->thread, SIGUSR1);
		sleep_ms(5);
	}
	return flag_get(&l->done);
}

TEST(interruptible_returns_eintr)
{
	struct ww_mutex l[2];
	struct locker h = { .pre = { &l[0] }, .npre = 1 };

	install_handler();
	for (int c = 0; c < 2; c++) {
		init_locks(l, 2, classes[c]);
		locker_start(&h);
		for (int variant = 0; variant < 3; variant++) {
			struct ww_acquire_ctx ctx;
			struct locker t = { .op = OP_LOCK_INTR, .target = &l[0] };

			if (variant >= 1) {
				ww_acquire_init(&ctx, classes[c]);
				t.ctx = &ctx;
			}
			if (variant == 1) {
				t.pre[0] = &l[1];
				t.npre = 1;
			}
			if (variant == 2)
				t.op = OP_SLOW_INTR;
			locker_start(&t);
			REQUIRE(wait_waiters(&l[0], 1, 5000));
			CHECK(kick_until_done(&t));
			CHECK_EQ(t.ret, -EINTR);
			CHECK_EQ(nr_waiters(&l[0]), 0);
			CHECK(ww_mutex_is_locked(&l[0]));
			CHECK(ww_mutex_locking_ctx(&l[0]) == NULL); /* still h's */
			if (variant >= 1)
				CHECK_EQ(ctx.acquired, variant == 1 ? 1 : 0);
			locker_finish(&t);
		}
		locker_finish(&h);
		CHECK(!ww_mutex_is_locked(&l[0]));
		destroy_locks(l, 2);
	}
}

TEST(uninterruptible_ignores_signals)
{
	struct ww_mutex lock;
	struct locker h = { .pre = { &lock }, .npre = 1 };
	struct locker t = { .op = OP_LOCK, .target = &lock };

	install_handler();
	ww_mutex_init(&lock, &wd_cls);
	locker_start(&h);
	locker_start(&t);
	REQUIRE(wait_waiters(&lock, 1, 5000));
	for (int i = 0; i < 20; i++) {
		pthread_kill(t.thread, SIGUSR1);
		sleep_ms(2);
	}
	CHECK(!flag_get(&t.done));
	locker_finish(&h);
	CHECK(wait_flag(&t.done, 5000));
	CHECK_EQ(t.ret, 0);
	locker_finish(&t);
	ww_mutex_destroy(&lock);
}

/* ---- misuse (death tests) ------------------------------------------------- */

static void die_unlock_unlocked(void *arg)
{
	struct ww_mutex lock;

	(void)arg;
	ww_mutex_init(&lock, &wd_cls);
	ww_mutex_unlock(&lock);
}

static void die_unlock_foreign(void *arg)
{
	struct ww_mutex lock;
	struct locker h = { .pre = { &lock }, .npre = 1 };

	(void)arg;
	ww_mutex_init(&lock, &wd_cls);
	locker_start(&h);
	ww_mutex_unlock(&lock); /* held by h's thread, not ours */
}

static void die_lock_after_done(void *arg)
{
	struct ww_mutex lock;
	struct ww_acquire_ctx ctx;

	(void)arg;
	ww_mutex_init(&lock, &wd_cls);
	ww_acquire_init(&ctx, &wd_cls);
	ww_acquire_done(&ctx);
	ww_mutex_lock(&lock, &ctx);
}

static void die_mixed_classes(void *arg)
{
	struct ww_mutex lock;
	struct ww_acquire_ctx ctx;

	(void)arg;
	ww_mutex_init(&lock, &ww_cls);
	ww_acquire_init(&ctx, &wd_cls);
	ww_mutex_lock(&lock, &ctx);
}

static void die_fini_with_locks(void *arg)
{
	struct ww_mutex lock;
	struct ww_acquire_ctx ctx;

	(void)arg;
	ww_mutex_init(&lock, &wd_cls);
	ww_acquire_init(&ctx, &wd_cls);
	ww_mutex_lock(&lock, &ctx);
	ww_acquire_fini(&ctx);
}

static void die_slow_with_locks(void *arg)
{
	struct ww_mutex l[2];
	struct ww_acquire_ctx ctx;

	(void)arg;
	init_locks(l, 2, &wd_cls);
	ww_acquire_init(&ctx, &wd_cls);
	ww_mutex_lock(&l[0], &ctx);
	ww_mutex_lock_slow(&l[1], &ctx);
}

static void die_wrong_lock_after_edeadlk(void *arg)
{
	struct ww_mutex l[3];
	struct ww_acquire_ctx old_ctx, ctx;
	struct locker o = { .ctx = &old_ctx, .pre = { &l[0] }, .npre = 1 };

	(void)arg;
	init_locks(l, 3, &wd_cls);
	ww_acquire_init(&old_ctx, &wd_cls);
	ww_acquire_init(&ctx, &wd_cls);
	locker_start(&o);
	ww_mutex_lock(&l[1], &ctx);
	if (ww_mutex_lock(&l[0], &ctx) != -EDEADLK)
		_exit(3);
	ww_mutex_unlock(&l[1]);
	ww_mutex_lock(&l[2], &ctx); /* should have been l[0] */
}

static void die_double_fini(void *arg)
{
	struct ww_acquire_ctx ctx;

	(void)arg;
	ww_acquire_init(&ctx, &wd_cls);
	ww_acquire_fini(&ctx);
	ww_acquire_fini(&ctx);
}

static void die_double_done(void *arg)
{
	struct ww_acquire_ctx ctx;

	(void)arg;
	ww_acquire_init(&ctx, &wd_cls);
	ww_acquire_done(&ctx);
	ww_acquire_done(&ctx);
}

static void die_uninitialised_ctx(void *arg)
{
	struct ww_mutex lock;
	struct ww_acquire_ctx ctx;

	(void)arg;
	memset(&ctx, 0, sizeof(ctx));
	ww_mutex_init(&lock, &wd_cls);
	ww_mutex_lock(&lock, &ctx);
}

static void die_self_deadlock(void *arg)
{
	struct ww_mutex lock;

	(void)arg;
	ww_mutex_init(&lock, &wd_cls);
	ww_mutex_lock(&lock, NULL);
	ww_mutex_lock(&lock, NULL);
}

static void die_destroy_locked(void *arg)
{
	struct ww_mutex lock;

	(void)arg;
	ww_mutex_init(&lock, &wd_cls);
	ww_mutex_lock(&lock, NULL);
	ww_mutex_destroy(&lock);
}

static void die_assert_held(void *arg)
{
	struct ww_mutex lock;

	(void)arg;
	ww_mutex_init(&lock, &wd_cls);
	ww_mutex_lock(&lock, NULL);
	ww_mutex_assert_held(&lock); /* fine */
	ww_mutex_unlock(&lock);
	ww_mutex_assert_held(&lock);
}

TEST(misuse_is_caught)
{
	static const struct {
		void (*fn)(void *);
		const char *msg;
	} cases[] = {
		{ die_unlock_unlocked, "ww_mutex_unlock of a ww_mutex the calling thread does not hold" },
		{ die_unlock_foreign, "ww_mutex_unlock of a ww_mutex the calling thread does not hold" },
		{ die_lock_after_done, "ww_mutex_lock with a context after ww_acquire_done" },
		{ die_mixed_classes, "acquire context of a different ww_class" },
		{ die_fini_with_locks, "ww_acquire_fini with locks still held" },
		{ die_slow_with_locks, "ww_mutex_lock_slow while the context still holds other locks" },
		{ die_wrong_lock_after_edeadlk, "must first reacquire the contended lock" },
		{ die_double_fini, "double fini" },
		{ die_double_done, "ww_acquire_done called twice" },
		{ die_uninitialised_ctx, "before ww_acquire_init" },
		{ die_self_deadlock, "self-deadlock" },
		{ die_destroy_locked, "ww_mutex_destroy of a locked ww_mutex" },
		{ die_assert_held, "ww_mutex not held by the calling thread" },
	};

	if (!DMASYNC_DEBUG_CHECKS)
		return;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		if (!dmasync_test_dies(cases[i].fn, NULL, cases[i].msg))
			dmasync_test_fail(__FILE__, __LINE__, "misuse case %zu (%s) not caught", i,
					  cases[i].msg);
}

/* ---- stress ---------------------------------------------------------------- */

#define NOBJ 16
#define NTHREADS 8

struct stress_obj {
	struct ww_mutex lock;
	unsigned long holder; /* id of the thread inside the critical section */
	unsigned long count;  /* plain: protected by @lock */
};

struct stress_thread {
	pthread_t thread;
	struct stress_shared *sh;
	unsigned int seed;
	unsigned long id;
	unsigned long rounds;	  /* atomically published for the watchdog */
	unsigned long increments; /* critical sections entered */
	unsigned long backoffs;
	unsigned long errors;
};

struct stress_shared {
	struct ww_class *cls;
	struct stress_obj obj[NOBJ];
	int stop;
};

static void stress_enter(struct stress_thread *t, struct stress_obj *o)
{
	unsigned long expected = 0;

	if (!__atomic_compare_exchange_n(&o->holder, &expected, t->id, false, __ATOMIC_ACQ_REL,
					 __ATOMIC_ACQUIRE)) {
		printf("# object held by %lu and %lu at once\n", expected, t->id);
		t->errors++;
		return;
	}
	o->count++;
	t->increments++;
}

static void stress_leave(struct stress_thread *t, struct stress_obj *o)
{
	unsigned long expected = t->id;

	if (!__atomic_compare_exchange_n(&o->holder, &expected, 0, false, __ATOMIC_ACQ_REL,
					 __ATOMIC_ACQUIRE)) {
		printf("# holder changed under a lock (%lu, expected %lu)\n", expected, t->id);
		t->errors++;
	}
}

/* One transaction over a random subset in random order, with back-off. */
static void stress_transaction(struct stress_thread *t)
{
	struct stress_shared *sh = t->sh;
	struct ww_acquire_ctx ctx;
	bool held[NOBJ] = { false };
	int order[NOBJ], n, i;
	unsigned int r = (unsigned int)rand_r(&t->seed);

	for (i = 0; i < NOBJ; i++)
		order[i] = i;
	for (i = NOBJ - 1; i > 0; i--) {
		int j = rand_r(&t->seed) % (i + 1), tmp = order[i];

		order[i] = order[j];
		order[j] = tmp;
	}
	n = 1 + rand_r(&t->seed) % 8;

	ww_acquire_init(&ctx, sh->cls);
retry:
	for (i = 0; i < n; i++) {
		struct stress_obj *o = &sh->obj[order[i]];
		int ret;

		if (held[order[i]])
			continue;
		if ((r & 15) == 1 && ww_mutex_trylock(&o->lock, &ctx)) {
			held[order[i]] = true;
			continue;
		}
		ret = (r & 1) ? ww_mutex_lock_interruptible(&o->lock, &ctx)
			      : ww_mutex_lock(&o->lock, &ctx);
		if (ret == -EDEADLK) {
			if (ctx.acquired == 0) {
				printf("# -EDEADLK with no locks held\n");
				t->errors++;
			}
			for (int k = 0; k < NOBJ; k++) {
				if (held[k]) {
					ww_mutex_unlock(&sh->obj[k].lock);
					held[k] = false;
				}
			}
			t->backoffs++;
			if (r & 2)
				ww_mutex_lock_slow(&o->lock, &ctx);
			else if (ww_mutex_lock_slow_interruptible(&o->lock, &ctx))
				t->errors++;
			held[order[i]] = true;
			goto retry;
		}
		if (ret) {
			printf("# unexpected lock result %d\n", ret);
			t->errors++;
			continue;
		}
		held[order[i]] = true;
	}
	ww_acquire_done(&ctx);

	for (i = 0; i < NOBJ; i++)
		if (held[i])
			stress_enter(t, &sh->obj[i]);
	if ((r & 7) == 0)
		sched_yield(); /* hold the locks a while: more contention */
	for (i = 0; i < NOBJ; i++)
		if (held[i])
			stress_leave(t, &sh->obj[i]);
	if (ctx.acquired != (unsigned int)n) {
		printf("# acquired %u, expected %d\n", ctx.acquired, n);
		t->errors++;
	}
	for (i = 0; i < NOBJ; i++)
		if (held[i])
			ww_mutex_unlock(&sh->obj[i].lock);
	ww_acquire_fini(&ctx);
}

/* A single object without a context, as dma_resv_lock(obj, NULL) does. */
static void stress_single(struct stress_thread *t)
{
	struct stress_obj *o = &t->sh->obj[rand_r(&t->seed) % NOBJ];

	ww_mutex_lock(&o->lock, NULL);
	stress_enter(t, o);
	stress_leave(t, o);
	ww_mutex_unlock(&o->lock);
}

static void *stress_main(void *arg)
{
	struct stress_thread *t = arg;

	while (!__atomic_load_n(&t->sh->stop, __ATOMIC_RELAXED)) {
		if (rand_r(&t->seed) % 8 == 0)
			stress_single(t);
		else
			stress_transaction(t);
		__atomic_store_n(&t->rounds, t->rounds + 1, __ATOMIC_RELAXED);
	}
	return NULL;
}

static void stress_dump(struct stress_shared *sh, struct stress_thread *th, const char *why)
{
	printf("# WATCHDOG: %s\n", why);
	for (int i = 0; i < NTHREADS; i++)
		printf("#   thread %d: %lu rounds\n", i, __atomic_load_n(&th[i].rounds,
								 __ATOMIC_RELAXED));
	for (int i = 0; i < NOBJ; i++)
		printf("#   obj %d: state %#lx waiters %d\n", i,
		       (unsigned long)__atomic_load_n(&sh->obj[i].lock.state, __ATOMIC_RELAXED),
		       nr_waiters(&sh->obj[i].lock));
	fflush(stdout);
	abort(); /* threads are stuck: nothing else to do */
}

static void stress_class(struct ww_class *cls)
{
	static struct stress_shared sh;
	struct stress_thread th[NTHREADS];
	unsigned long last[NTHREADS], total_inc = 0, total_count = 0, backoffs = 0, errors = 0;
	ktime_t last_progress[NTHREADS];
	ktime_t start = ktime_get(), duration = (ktime_t)STRESS(2000) * 1000000;
	const ktime_t watchdog = 10 * (ktime_t)1000000000;

	memset(&sh, 0, sizeof(sh));
	sh.cls = cls;
	for (int i = 0; i < NOBJ; i++)
		ww_mutex_init(&sh.obj[i].lock, cls);
	for (int i = 0; i < NTHREADS; i++) {
		th[i] = (struct stress_thread){ .sh = &sh, .seed = 0x9e3779b9u * (unsigned)(i + 1),
						.id = (unsigned long)i + 1 };
		last[i] = 0;
		last_progress[i] = start;
		pthread_create(&th[i].thread, NULL, stress_main, &th[i]);
	}
	/* Watchdog: every thread must keep completing rounds. */
	for (;;) {
		ktime_t now;
		bool all_ran = true;

		sleep_ms(20);
		now = ktime_get();
		for (int i = 0; i < NTHREADS; i++) {
			unsigned long r = __atomic_load_n(&th[i].rounds, __ATOMIC_RELAXED);

			if (r != last[i]) {
				last[i] = r;
				last_progress[i] = now;
			} else if (now - last_progress[i] > watchdog) {
				stress_dump(&sh, th, "a thread made no progress for 10 s (deadlock?)");
			}
			if (r == 0)
				all_ran = false;
		}
		if (now - start >= duration && all_ran)
			break;
	}
	__atomic_store_n(&sh.stop, 1, __ATOMIC_RELAXED);
	for (int i = 0; i < NTHREADS; i++) {
		pthread_join(th[i].thread, NULL);
		CHECK(th[i].rounds > 0);
		total_inc += th[i].increments;
		backoffs += th[i].backoffs;
		errors += th[i].errors;
	}
	for (int i = 0; i < NOBJ; i++) {
		total_count += sh.obj[i].count;
		CHECK_EQ(sh.obj[i].holder, 0);
		CHECK(!ww_mutex_is_locked(&sh.obj[i].lock));
		CHECK_EQ(nr_waiters(&sh.obj[i].lock), 0);
		ww_mutex_destroy(&sh.obj[i].lock);
	}
	printf("# %s: %lu critical sections, %lu back-offs\n",
	       cls->is_wait_die ? "wait-die" : "wound-wait", total_inc, backoffs);
	CHECK_EQ(errors, 0);
	CHECK_EQ(total_count, total_inc);
	CHECK(backoffs > 0); /* the deadlock-avoidance path was exercised */
}

TEST(stress_wait_die)
{
	stress_class(&wd_cls);
}

TEST(stress_wound_wait)
{
	stress_class(&ww_cls);
}
