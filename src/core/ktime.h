/* SPDX-License-Identifier: MIT */
/*
 * Private: time conversions (ktime.c has ktime_get(), declared in
 * <dmasync/types.h>).  The one place where nanoseconds become a struct
 * timespec and back, with the kernel's names.
 */
#ifndef DMASYNC_PRIV_KTIME_H
#define DMASYNC_PRIV_KTIME_H

#include <stdint.h>
#include <time.h>
#include <dmasync/types.h>

#define NSEC_PER_SEC 1000000000ll
#define NSEC_PER_MSEC 1000000ll
#define KTIME_MAX INT64_MAX

/* @t (>= 0) as a struct timespec. */
static inline struct timespec ktime_to_timespec(ktime_t t)
{
	struct timespec ts = { (time_t)(t / NSEC_PER_SEC), (long)(t % NSEC_PER_SEC) };

	return ts;
}

/* @ts (normalised, tv_sec >= 0) in nanoseconds; KTIME_MAX if it does not fit. */
static inline ktime_t timespec_to_ktime(const struct timespec *ts)
{
	if (ts->tv_sec > KTIME_MAX / NSEC_PER_SEC - 1)
		return KTIME_MAX;
	return (ktime_t)ts->tv_sec * NSEC_PER_SEC + ts->tv_nsec;
}

#endif
