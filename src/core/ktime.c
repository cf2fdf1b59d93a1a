/* SPDX-License-Identifier: MIT */
/* The clock (ktime.h). */
#include <time.h>

#include <dmasync/types.h>
#include "ktime.h"

ktime_t ktime_get(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return timespec_to_ktime(&ts);
}
