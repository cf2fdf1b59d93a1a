/* SPDX-License-Identifier: MIT */
/*
 * Private: the never-signal watchdog.  The broker's main thread only.
 *
 * Every point of a timeline whose maker asked for a watchdog (diag.h:
 * `dmasync run --watchdog=SECONDS`), or of any timeline when the broker
 * runs with --watchdog, that stays pending longer than the limit is
 * reported once on the settings' log: its timeline, seqno, age, the
 * process that made the timeline, and what waits on it (the sync files
 * and buffers holding it, with their makers).  `dmasync ls --stuck` lists
 * the reported points still pending (watchdog_list()).
 */
#ifndef DMASYNC_BROKER_WATCHDOG_H
#define DMASYNC_BROKER_WATCHDOG_H

#include <stddef.h>
#include <stdio.h>

struct diag;

struct watchdog_owner_ops {
	/* The settings of the object owner @owner (engine_claim()), or NULL. */
	struct diag *(*diag_of)(void *owner);
	/* "pid N (comm)" of @owner into @buf. */
	void (*describe)(void *owner, char *buf, size_t len);
};

/*
 * watchdog_init - @ops for owners; @fallback: the settings that apply to
 * timelines whose maker asked for none (the broker's --watchdog), or NULL.
 * Takes a reference to @fallback.
 */
void watchdog_init(const struct watchdog_owner_ops *ops, struct diag *fallback);

/* Look if due; return milliseconds until the next look (-1: never needed). */
int watchdog_tick(void);

/* "stuck CONTEXT SEQNO LIMIT_MS REPORTED_NS" lines for the listing. */
void watchdog_list(FILE *out);

void watchdog_fini(void);

#endif
