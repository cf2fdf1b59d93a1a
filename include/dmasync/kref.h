/* SPDX-License-Identifier: MIT */
/*
 * dmasync - atomic reference counts with the kernel's kref names.
 */
#ifndef DMASYNC_KREF_H
#define DMASYNC_KREF_H

#include <dmasync/types.h>

#ifdef __cplusplus
extern "C" {
#endif

struct kref {
	int refcount;
};

/**
 * dmasync_refcount_bug - report refcount misuse and abort.
 * @obj: the object
 * @old: the count found
 * @what: what was attempted
 *
 * Called by the inline helpers when a reference was dropped past zero or
 * taken on a dead object.  Always active: continuing would corrupt memory.
 * Takes no lock; never returns.
 */
DMASYNC_EXPORT void dmasync_refcount_bug(const void *obj, int old, const char *what);

static inline void kref_init(struct kref *kref)
{
	__atomic_store_n(&kref->refcount, 1, __ATOMIC_RELAXED);
}

static inline unsigned int kref_read(const struct kref *kref)
{
	return (unsigned int)__atomic_load_n(&kref->refcount, __ATOMIC_RELAXED);
}

static inline void kref_get(struct kref *kref)
{
	int old = __atomic_fetch_add(&kref->refcount, 1, __ATOMIC_RELAXED);

	if (__builtin_expect(old <= 0, 0))
		dmasync_refcount_bug(kref, old, "kref_get on a released object");
}

/* kref_get_unless_zero - take a reference unless the count already hit zero. */
static inline bool kref_get_unless_zero(struct kref *kref)
{
	int old = __atomic_load_n(&kref->refcount, __ATOMIC_RELAXED);

	do {
		if (old <= 0)
			return false;
	} while (!__atomic_compare_exchange_n(&kref->refcount, &old, old + 1, true,
					      __ATOMIC_ACQUIRE, __ATOMIC_RELAXED));
	return true;
}

/* kref_put - drop a reference; call @release on the last one. Return: 1 if
 * released. */
static inline int kref_put(struct kref *kref, void (*release)(struct kref *kref))
{
	int old = __atomic_fetch_sub(&kref->refcount, 1, __ATOMIC_ACQ_REL);

	if (__builtin_expect(old <= 1, 0)) {
		if (old < 1)
			dmasync_refcount_bug(kref, old, "reference dropped past zero");
		release(kref);
		return 1;
	}
	return 0;
}

#ifdef __cplusplus
}
#endif

#endif /* DMASYNC_KREF_H */
