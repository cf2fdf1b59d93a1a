/* SPDX-License-Identifier: MIT */
/* Warnings and fatal-bug reporting shared by every object (debug.h). */
#include <stdio.h>
#include <stdlib.h>

#include <dmasync/types.h>
#include <dmasync/kref.h>
#include "debug.h"

static unsigned long warn_count;

void core_warn(const char *file, int line, const char *func, const char *cond)
{
	__atomic_fetch_add(&warn_count, 1, __ATOMIC_RELAXED);
	if (!getenv("DMASYNC_QUIET_WARNINGS"))
		fprintf(stderr, "dmasync: WARNING at %s:%d %s(): %s\n", file, line, func, cond);
	if (getenv("DMASYNC_FATAL_WARNINGS"))
		abort();
}

unsigned long core_warn_count(void)
{
	return __atomic_load_n(&warn_count, __ATOMIC_RELAXED);
}

void core_bug(const char *file, int line, const char *func, const char *what)
{
	fprintf(stderr, "dmasync: BUG at %s:%d %s(): %s\n", file, line, func, what);
	fflush(stderr);
	abort();
}

void dmasync_refcount_bug(const void *obj, int old, const char *what)
{
	fprintf(stderr, "dmasync: BUG: refcount misuse on %p (count was %d): %s\n", obj, old,
		what);
	fflush(stderr);
	abort();
}
