/* SPDX-License-Identifier: MIT */
/*
 * Private: RCU-deferred freeing on top of liburcu-bp.
 *
 * ThreadSanitizer cannot see liburcu's grace-period machinery (it is not
 * instrumented), so in TSan builds every read-side unlock releases a
 * shared sync object and every deferred callback acquires it first: the
 * happens-before edge the grace period really provides.
 */
#ifndef DMASYNC_PRIV_RCU_H
#define DMASYNC_PRIV_RCU_H

#include <dmasync/rcupdate.h>

/* Storage for one deferred call: liburcu's rcu_head, then our function. */
struct core_rcu_head {
	void *urcu_next;
	void (*urcu_func)(void *);
	void (*func)(struct core_rcu_head *head);
};

/* Run @func(@head) after a grace period (see rcu.c for where it runs). */
void core_call_rcu(struct core_rcu_head *head, void (*func)(struct core_rcu_head *));

/* Hand this thread's partly filled batch of deferred frees to liburcu now. */
void core_rcu_flush(void);

/*
 * For threads that block for long (the fd monitor): their deferred frees
 * run in liburcu's worker instead of coming back to them, so that
 * dmasync_rcu_barrier() in any thread also completes them.
 */
void core_rcu_thread_free_in_worker(void);

#endif
