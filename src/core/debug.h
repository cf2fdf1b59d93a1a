/* SPDX-License-Identifier: MIT */
/*
 * Private: WARN/BUG and debug assertions, the kernel's way of reporting
 * misuse.  WARN_ON logs (once per call site) and lets the caller return an
 * error, as in the kernel; BUG_ON aborts; DMASYNC_ASSERT is a lock or
 * ownership contract check that is real in builds with debug checks.
 */
#ifndef DMASYNC_PRIV_DEBUG_H
#define DMASYNC_PRIV_DEBUG_H

#include <stdbool.h>

void core_warn(const char *file, int line, const char *func, const char *cond);
__attribute__((noreturn)) void core_bug(const char *file, int line, const char *func,
					const char *what);
/* Number of warnings issued so far (tests use it to see that misuse was caught). */
unsigned long core_warn_count(void);

#define WARN_ON(cond)                                                           \
	({                                                                      \
		bool __warn = !!(cond);                                         \
		if (__builtin_expect(__warn, 0))                                \
			core_warn(__FILE__, __LINE__, __func__, #cond);         \
		__warn;                                                         \
	})
#define WARN_ON_ONCE(cond) WARN_ON(cond)
#define WARN(cond, msg) \
	({ bool __w = !!(cond); if (__w) core_warn(__FILE__, __LINE__, __func__, msg); __w; })

#define BUG_ON(cond)                                                            \
	do {                                                                    \
		if (__builtin_expect(!!(cond), 0))                              \
			core_bug(__FILE__, __LINE__, __func__, #cond);          \
	} while (0)

#if defined(DMASYNC_DEBUG) && DMASYNC_DEBUG
#define DMASYNC_ASSERT(cond, msg)                                               \
	do {                                                                    \
		if (__builtin_expect(!(cond), 0))                               \
			core_bug(__FILE__, __LINE__, __func__, msg);            \
	} while (0)
#define DMASYNC_DEBUG_CHECKS 1
#else
#define DMASYNC_ASSERT(cond, msg) do { (void)sizeof(cond); } while (0)
#define DMASYNC_DEBUG_CHECKS 0
#endif

/* Whether this is a ThreadSanitizer build (1 or 0). */
#if defined(__SANITIZE_THREAD__)
#define DMASYNC_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define DMASYNC_TSAN 1
#endif
#endif
#ifndef DMASYNC_TSAN
#define DMASYNC_TSAN 0
#endif

#define likely(x) __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)

#endif
