/* SPDX-License-Identifier: MIT */
/* The allocation-failure interposer: see alloc-fail.h. */
#include <stdbool.h>
#include <stddef.h>

#include "alloc-fail.h"

#if ALLOC_FAIL_INTERPOSED
extern void *__libc_malloc(size_t n);
extern void *__libc_calloc(size_t n, size_t m);
extern void *__libc_realloc(void *p, size_t n);
static _Thread_local int fail_countdown = -1;
static _Thread_local int allocs;

static bool fail_now(void)
{
	allocs++;
	if (fail_countdown < 0)
		return false;
	return fail_countdown-- == 0;
}

void *malloc(size_t n);
void *calloc(size_t n, size_t m);
void *realloc(void *p, size_t n);
void *malloc(size_t n) { return fail_now() ? NULL : __libc_malloc(n); }
void *calloc(size_t n, size_t m) { return fail_now() ? NULL : __libc_calloc(n, m); }
void *realloc(void *p, size_t n) { return fail_now() ? NULL : __libc_realloc(p, n); }

void alloc_fail_after(int n)
{
	fail_countdown = n;
}

int alloc_count(void)
{
	return allocs;
}
#else
void alloc_fail_after(int n)
{
}

int alloc_count(void)
{
	return -1;
}
#endif
