/* SPDX-License-Identifier: MIT */
/* Timing helpers and floors shared by the benchmarks. */
#ifndef DMASYNC_BENCH_COMMON_H
#define DMASYNC_BENCH_COMMON_H

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>

#include <dmasync/types.h>
#include "futex.h"

/* Nanoseconds per operation for @n operations started at @start. */
static inline double per_op(ktime_t start, long n)
{
	return (double)(ktime_get() - start) / (double)n;
}

/* Floor: a malloc+free pair of @size bytes (the object's size). */
static inline double bench_malloc_free_size(long n, size_t size)
{
	void *volatile sink;
	ktime_t t = ktime_get();

	for (long i = 0; i < n; i++) {
		sink = malloc(size);
		free(sink);
	}
	(void)sink;
	return per_op(t, n);
}

/* Floor: a malloc+free pair of a struct dma_fence's size. */
#define bench_malloc_free(n) bench_malloc_free_size((n), sizeof(struct dma_fence))

struct bench_futex_pp {
	uint32_t word[2];
	long rounds;
};

static inline void *bench_futex_pong(void *arg)
{
	struct bench_futex_pp *pp = arg;

	for (long i = 1; i <= pp->rounds; i++) {
		while (__atomic_load_n(&pp->word[0], __ATOMIC_ACQUIRE) != (uint32_t)i)
			futex_wait_until(&pp->word[0], (uint32_t)i - 1, -1);
		__atomic_store_n(&pp->word[1], (uint32_t)i, __ATOMIC_RELEASE);
		futex_wake(&pp->word[1], 1);
	}
	return NULL;
}

/* Floor: one-way latency of a futex ping-pong between two threads. */
static inline double bench_futex_one_way(long n)
{
	struct bench_futex_pp pp = { { 0, 0 }, n };
	pthread_t th;
	ktime_t t;

	pthread_create(&th, NULL, bench_futex_pong, &pp);
	t = ktime_get();
	for (long i = 1; i <= n; i++) {
		__atomic_store_n(&pp.word[0], (uint32_t)i, __ATOMIC_RELEASE);
		futex_wake(&pp.word[0], 1);
		while (__atomic_load_n(&pp.word[1], __ATOMIC_ACQUIRE) != (uint32_t)i)
			futex_wait_until(&pp.word[1], (uint32_t)i - 1, -1);
	}
	pthread_join(th, NULL);
	return per_op(t, 2 * n);
}

#endif
