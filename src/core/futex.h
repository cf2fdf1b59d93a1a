/* SPDX-License-Identifier: MIT */
/* Private: thin futex wrappers (absolute CLOCK_MONOTONIC timeouts). */
#ifndef DMASYNC_PRIV_FUTEX_H
#define DMASYNC_PRIV_FUTEX_H

#include <errno.h>
#include <linux/futex.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include <dmasync/types.h>
#include "ktime.h"

/*
 * Sleep while *@addr == @val, until woken or until CLOCK_MONOTONIC reaches
 * @deadline (ns; <0 means no deadline).  Return: 0, or -EAGAIN, -ETIMEDOUT,
 * -EINTR.
 */
static inline int futex_wait_until(uint32_t *addr, uint32_t val, ktime_t deadline)
{
	struct timespec ts, *tsp = NULL;

	if (deadline >= 0) {
		ts = ktime_to_timespec(deadline);
		tsp = &ts;
	}
	if (syscall(SYS_futex, addr, FUTEX_WAIT_BITSET_PRIVATE, val, tsp, NULL,
		    FUTEX_BITSET_MATCH_ANY) == 0)
		return 0;
	return -errno;
}

static inline void futex_wake(uint32_t *addr, int n)
{
	syscall(SYS_futex, addr, FUTEX_WAKE_PRIVATE, n, NULL, NULL, 0);
}

/* Deadline for a relative nanosecond timeout; -1 for MAX_SCHEDULE_TIMEOUT. */
static inline ktime_t timeout_to_deadline(ktime_t now, signed long timeout)
{
	if (timeout == MAX_SCHEDULE_TIMEOUT || timeout > INT64_MAX - now)
		return -1;
	return now + timeout;
}

#endif
