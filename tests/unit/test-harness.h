/* SPDX-License-Identifier: MIT */
/*
 * Private: the unit-test harness.  Each test binary registers its cases
 * with TEST(name) and links test-harness.c, which runs them in order and
 * reports TAP (one "ok"/"not ok" line per case) for meson.
 *
 * Around every case the harness checks that the process holds exactly the
 * file descriptors it held before (no leaked sync files or timelines) and
 * that no new dmasync warning was issued unless the case declared it
 * expects warnings with EXPECT_WARNINGS().
 */
#ifndef DMASYNC_TEST_HARNESS_H
#define DMASYNC_TEST_HARNESS_H

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include "debug.h"	/* core_warn_count(), DMASYNC_TSAN */

struct dmasync_test {
	const char *name;
	void (*fn)(void);
	struct dmasync_test *next;
};

void dmasync_test_register(struct dmasync_test *t);
void dmasync_test_fail(const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
bool dmasync_test_failed(void);
void dmasync_test_expect_warnings(void);
/* Report the running case as skipped, with @reason (a string literal). */
void dmasync_test_skip(const char *reason);

/* Run @fn in a child; true if it died by a signal and its stderr contains
 * @msg (NULL: any message). */
bool dmasync_test_dies(void (*fn)(void *), void *arg, const char *msg);

/* Scale for stress loops: DMASYNC_STRESS_SCALE (default 1); sanitizer
 * builds set 0.25 through the environment of their test run. */
double dmasync_stress_scale(void);
#define STRESS(n) ((long)((n) * dmasync_stress_scale()) > 0 ? (long)((n) * dmasync_stress_scale()) : 1)

#define TEST(name)                                                              \
	static void name(void);                                                 \
	static struct dmasync_test name##_desc = { #name, name, NULL };         \
	__attribute__((constructor)) static void name##_register(void)          \
	{                                                                       \
		dmasync_test_register(&name##_desc);                            \
	}                                                                       \
	static void name(void)

#define CHECK(cond)                                                             \
	do {                                                                    \
		if (!(cond))                                                    \
			dmasync_test_fail(__FILE__, __LINE__, "CHECK(%s)", #cond); \
	} while (0)

#define CHECK_EQ(a, b)                                                          \
	do {                                                                    \
		long long __a = (long long)(a), __b = (long long)(b);           \
		if (__a != __b)                                                 \
			dmasync_test_fail(__FILE__, __LINE__, "%s == %s (%lld vs %lld)", \
					  #a, #b, __a, __b);                    \
	} while (0)

#define CHECK_STR(a, b)                                                         \
	do {                                                                    \
		const char *__a = (a), *__b = (b);                              \
		if (!__a || !__b || strcmp(__a, __b))                           \
			dmasync_test_fail(__FILE__, __LINE__, "%s == %s (\"%s\" vs \"%s\")", \
					  #a, #b, __a ? __a : "(null)", __b ? __b : "(null)"); \
	} while (0)

/* REQUIRE: like CHECK, but ends the test case (use in the case function). */
#define REQUIRE(cond)                                                           \
	do {                                                                    \
		if (!(cond)) {                                                  \
			dmasync_test_fail(__FILE__, __LINE__, "REQUIRE(%s)", #cond); \
			return;                                                 \
		}                                                               \
	} while (0)

#define EXPECT_WARNINGS() dmasync_test_expect_warnings()

#endif
