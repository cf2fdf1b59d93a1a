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
struct dmasync_rcu_head {
	void *urcu_next;
	void (*urcu_func)(void *);
	void (*func)(struct dmasync_rcu_head *head);
};

/* Run @func(@head) after a grace period, in liburcu's call_rcu thread. */
void dmasync_call_rcu(struct dmasync_rcu_head *head, void (*func)(struct dmasync_rcu_head *));

#endif
