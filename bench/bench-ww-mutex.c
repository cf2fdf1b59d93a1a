/* SPDX-License-Identifier: MIT */
/*
 * ww_mutex benchmarks, uncontended.  Every figure is printed next to a floor
 * measured in the same run, as a ratio:
 *   lock+unlock without a context   vs  pthread_mutex lock+unlock
 *   lock+unlock with a context      vs  pthread_mutex lock+unlock
 *   a 16-lock transaction (acquire_init + 16 locks + done + 16 unlocks +
 *   fini)                           vs  16 pthread_mutex lock+unlock
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include <dmasync/ww_mutex.h>
#include "bench-common.h"

#define NLOCKS 16

static DEFINE_WD_CLASS(bench_class);

static void report(const char *what, double ns, const char *floor_name, double floor_ns)
{
	printf("%-36s %8.1f ns/op   floor %-28s %8.1f ns   ratio %5.2fx\n", what, ns, floor_name,
	       floor_ns, ns / floor_ns);
}

static double bench_pthread(pthread_mutex_t *m, int nlocks, long n)
{
	ktime_t t = ktime_get();

	for (long i = 0; i < n; i++) {
		for (int k = 0; k < nlocks; k++)
			pthread_mutex_lock(&m[k]);
		for (int k = 0; k < nlocks; k++)
			pthread_mutex_unlock(&m[k]);
	}
	return per_op(t, n);
}

static double bench_ww_noctx(struct ww_mutex *lock, long n)
{
	ktime_t t = ktime_get();

	for (long i = 0; i < n; i++) {
		ww_mutex_lock(lock, NULL);
		ww_mutex_unlock(lock);
	}
	return per_op(t, n);
}

static double bench_ww_ctx(struct ww_mutex *lock, long n)
{
	struct ww_acquire_ctx ctx;
	ktime_t t;

	ww_acquire_init(&ctx, &bench_class);
	t = ktime_get();
	for (long i = 0; i < n; i++) {
		if (ww_mutex_lock(lock, &ctx))
			abort();
		ww_mutex_unlock(lock);
	}
	t = ktime_get() - t;
	ww_acquire_fini(&ctx);
	return (double)t / (double)n;
}

static double bench_ww_transaction(struct ww_mutex *locks, long n)
{
	ktime_t t = ktime_get();

	for (long i = 0; i < n; i++) {
		struct ww_acquire_ctx ctx;

		ww_acquire_init(&ctx, &bench_class);
		for (int k = 0; k < NLOCKS; k++)
			if (ww_mutex_lock(&locks[k], &ctx))
				abort();
		ww_acquire_done(&ctx);
		for (int k = 0; k < NLOCKS; k++)
			ww_mutex_unlock(&locks[k]);
		ww_acquire_fini(&ctx);
	}
	return per_op(t, n);
}

static void *idle_thread(void *arg)
{
	return arg;
}

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 20000000;
	pthread_mutex_t m[NLOCKS];
	struct ww_mutex locks[NLOCKS];
	double floor1, floor16, ns;
	pthread_t idle;

	/*
	 * glibc drops the atomic instructions from pthread_mutex_lock while a
	 * process has never had a second thread; the library is meant for
	 * threaded programs, so measure the floor in that mode.
	 */
	pthread_create(&idle, NULL, idle_thread, NULL);
	pthread_join(idle, NULL);

	for (int k = 0; k < NLOCKS; k++) {
		pthread_mutex_init(&m[k], NULL);
		ww_mutex_init(&locks[k], &bench_class);
	}
	/* Warm up, then measure the floors and the figures back to back. */
	bench_pthread(m, 1, n / 10);
	bench_ww_ctx(&locks[0], n / 10);

	floor1 = bench_pthread(m, 1, n);
	ns = bench_ww_noctx(&locks[0], n);
	report("ww_mutex lock+unlock, NULL ctx", ns, "pthread_mutex lock+unlock", floor1);
	ns = bench_ww_ctx(&locks[0], n);
	report("ww_mutex lock+unlock, with ctx", ns, "pthread_mutex lock+unlock", floor1);

	floor16 = bench_pthread(m, NLOCKS, n / NLOCKS);
	ns = bench_ww_transaction(locks, n / NLOCKS);
	report("16-lock transaction (init..fini)", ns, "16x pthread_mutex lock+unlock", floor16);

	for (int k = 0; k < NLOCKS; k++) {
		pthread_mutex_destroy(&m[k]);
		ww_mutex_destroy(&locks[k]);
	}
	return 0;
}
