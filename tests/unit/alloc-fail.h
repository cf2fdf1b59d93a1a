/* SPDX-License-Identifier: MIT */
/*
 * Private: the allocation-failure interposer (alloc-fail.c).  A test
 * binary that links alloc-fail.c gets malloc(), calloc() and realloc()
 * that fail on a per-thread countdown, so a test can make each allocation
 * of a call fail in turn.  Sanitizer runtimes own malloc, so in sanitized
 * builds there is no interposer (ALLOC_FAIL_INTERPOSED is 0) and such
 * cases are covered by the plain build.
 */
#ifndef DMASYNC_ALLOC_FAIL_H
#define DMASYNC_ALLOC_FAIL_H

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define ALLOC_FAIL_INTERPOSED 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define ALLOC_FAIL_INTERPOSED 0
#endif
#endif
#ifndef ALLOC_FAIL_INTERPOSED
#define ALLOC_FAIL_INTERPOSED 1
#endif

/*
 * alloc_fail_after - make the calling thread's allocation number @n from
 * now on fail (0: the next one), once; -1: stop failing allocations.
 */
void alloc_fail_after(int n);

/*
 * alloc_count - the number of malloc(), calloc() and realloc() calls the
 * calling thread made so far; -1 without the interposer.
 */
int alloc_count(void);

#endif
