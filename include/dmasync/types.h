/* SPDX-License-Identifier: MIT */
/*
 * dmasync - kernel-style base types for the userspace dma-buf model.
 *
 * The public API of dmasync uses the Linux kernel's names and types so that
 * kernel-style fence code ports with include changes only.  This header
 * provides the handful of kernel primitives those signatures need.
 */
#ifndef DMASYNC_TYPES_H
#define DMASYNC_TYPES_H

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__) && __GNUC__ >= 4
#define DMASYNC_EXPORT __attribute__((visibility("default")))
#else
#define DMASYNC_EXPORT
#endif

typedef uint8_t u8;
typedef uint16_t u16;
typedef uint32_t u32;
typedef uint64_t u64;
typedef int8_t s8;
typedef int16_t s16;
typedef int32_t s32;
typedef int64_t s64;

/**
 * typedef ktime_t - a point in time or a duration, in nanoseconds.
 *
 * Points in time are on CLOCK_MONOTONIC, as in the kernel.
 */
typedef s64 ktime_t;

/** MAX_SCHEDULE_TIMEOUT - a timeout that never expires (wait forever). */
#define MAX_SCHEDULE_TIMEOUT LONG_MAX

/** MAX_ERRNO - largest errno value an error code may carry. */
#define MAX_ERRNO 4095

/*
 * Kernel-internal errno values that userspace headers do not define.  An
 * interruptible wait that is interrupted by a signal handler returns
 * -ERESTARTSYS, exactly like the kernel function it mirrors.
 */
#ifndef ERESTARTSYS
#define ERESTARTSYS 512
#endif

#ifndef container_of
#define container_of(ptr, type, member) \
	((type *)(void *)((char *)(ptr) - offsetof(type, member)))
#endif

#define lower_32_bits(n) ((u32)((n) & 0xffffffffu))
#define upper_32_bits(n) ((u32)(((u64)(n)) >> 32))

/**
 * ktime_get - read CLOCK_MONOTONIC.
 *
 * Return: the current monotonic time in nanoseconds.
 */
DMASYNC_EXPORT ktime_t ktime_get(void);

static inline s64 ktime_to_ns(ktime_t t) { return t; }
static inline ktime_t ns_to_ktime(s64 ns) { return ns; }
static inline ktime_t ktime_add_ns(ktime_t t, u64 ns) { return t + (s64)ns; }
static inline ktime_t ktime_sub(ktime_t a, ktime_t b) { return a - b; }
static inline int ktime_compare(ktime_t a, ktime_t b) { return a < b ? -1 : a > b; }
static inline bool ktime_before(ktime_t a, ktime_t b) { return a < b; }
static inline bool ktime_after(ktime_t a, ktime_t b) { return a > b; }

/*
 * Atomic bit operations on an unsigned long word, as the kernel's bitops.
 * They are full atomics (TSan-visible); test_and_set_bit is a full barrier.
 */
static inline bool test_bit(unsigned int nr, const unsigned long *addr)
{
	return (__atomic_load_n(addr, __ATOMIC_ACQUIRE) >> nr) & 1ul;
}

static inline void set_bit(unsigned int nr, unsigned long *addr)
{
	__atomic_fetch_or(addr, 1ul << nr, __ATOMIC_RELEASE);
}

static inline void clear_bit(unsigned int nr, unsigned long *addr)
{
	__atomic_fetch_and(addr, ~(1ul << nr), __ATOMIC_RELEASE);
}

static inline bool test_and_set_bit(unsigned int nr, unsigned long *addr)
{
	return (__atomic_fetch_or(addr, 1ul << nr, __ATOMIC_ACQ_REL) >> nr) & 1ul;
}

static inline bool test_and_clear_bit(unsigned int nr, unsigned long *addr)
{
	return (__atomic_fetch_and(addr, ~(1ul << nr), __ATOMIC_ACQ_REL) >> nr) & 1ul;
}

#ifdef __cplusplus
}
#endif

#endif /* DMASYNC_TYPES_H */
