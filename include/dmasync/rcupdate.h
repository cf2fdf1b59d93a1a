/* SPDX-License-Identifier: MIT */
/*
 * dmasync - RCU read-side sections for lock-free readers.
 *
 * Fences and reservation lists are freed only after an RCU grace period
 * (liburcu, "bulletproof" flavour: any thread may read without
 * registering).  A reader that looks at a fence pointer it holds no
 * reference on, e.g. to call dma_fence_get_rcu(), must do so between
 * rcu_read_lock() and rcu_read_unlock().  Sections nest.
 */
#ifndef DMASYNC_RCUPDATE_H
#define DMASYNC_RCUPDATE_H

#include <dmasync/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/** dmasync_rcu_read_lock - enter an RCU read-side critical section. */
DMASYNC_EXPORT void dmasync_rcu_read_lock(void);
/** dmasync_rcu_read_unlock - leave an RCU read-side critical section. */
DMASYNC_EXPORT void dmasync_rcu_read_unlock(void);
/**
 * dmasync_rcu_barrier - wait until every RCU-deferred free queued so far ran.
 *
 * Call before exiting when a leak checker must see all fences freed.
 * Must not be called inside a read-side section.
 */
DMASYNC_EXPORT void dmasync_rcu_barrier(void);
/** dmasync_synchronize_rcu - wait for all current readers to finish. */
DMASYNC_EXPORT void dmasync_synchronize_rcu(void);

/* Kernel spellings, unless the program already uses liburcu's own. */
#ifndef rcu_read_lock
#define rcu_read_lock() dmasync_rcu_read_lock()
#define rcu_read_unlock() dmasync_rcu_read_unlock()
#endif

#ifndef rcu_dereference
#define rcu_dereference(p) __atomic_load_n(&(p), __ATOMIC_ACQUIRE)
#define rcu_dereference_protected(p, c) __atomic_load_n(&(p), __ATOMIC_RELAXED)
#define rcu_assign_pointer(p, v) __atomic_store_n(&(p), (v), __ATOMIC_RELEASE)
#define RCU_INIT_POINTER(p, v) __atomic_store_n(&(p), (v), __ATOMIC_RELAXED)
#endif
#ifndef __rcu
#define __rcu
#endif

#ifdef __cplusplus
}
#endif

#endif /* DMASYNC_RCUPDATE_H */
