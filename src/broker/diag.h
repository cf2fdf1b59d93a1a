/* SPDX-License-Identifier: MIT */
/*
 * Private: the diagnostics a client asked the broker for (its HELLO):
 * faults to inject into its timelines (fault.c), the never-signal watchdog
 * on them (watchdog.c), and where to report both.
 */
#ifndef DMASYNC_BROKER_DIAG_H
#define DMASYNC_BROKER_DIAG_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "fault-spec.h"

/**
 * struct diag - one client's diagnostics settings, shared by reference.
 * @refs: atomic; the owner's, plus one per user (a held timeline).
 * @pid, @comm: the client that asked.
 * @fault: faults to inject into the timelines it made.
 * @faulty: whether @fault injects anything.
 * @watchdog_ms: report its points pending longer than this; 0: no watchdog.
 * @log_lock: guards @log_fd.
 * @log_fd: where reports go (the client's stderr or DMASYNC_LOG file); -1
 *	if none or once dropped (diag_drop_log()).
 * @log_dev, @log_ino: the log's inode if it is a regular file, else 0.
 *
 * Immutable once made but for @log_fd, so any thread may read it while it
 * holds a reference.
 */
struct diag {
	unsigned long refs;
	pid_t pid;
	char comm[16];
	struct fault_spec fault;
	bool faulty;
	uint32_t watchdog_ms;
	pthread_mutex_t log_lock;
	int log_fd;
	dev_t log_dev;
	ino_t log_ino;
};

/*
 * diag_create - settings from a HELLO's text ("fault=SPEC\n", "watchdog=MS\n"
 * lines, @len bytes, need not be terminated).  Consumes @log_fd (may be -1).
 * A bad fault spec is reported on @log_fd and ignored.  Return: the new
 * settings with one reference, or NULL if they ask for nothing (@log_fd
 * closed) or on allocation failure.
 */
struct diag *diag_create(const char *text, size_t len, int log_fd, pid_t pid, const char *comm);

/* diag_get - another reference to @d (may be NULL).  Any thread. */
struct diag *diag_get(struct diag *d);

/* diag_put - drop a reference; the last closes the log fd.  Any thread; @d may be NULL. */
void diag_put(struct diag *d);

/*
 * diag_log - one report line on @d's log fd, prefixed "dmasync: " and the
 * CLOCK_MONOTONIC time; nothing if @d is NULL or has no log.  One write(),
 * so lines from several clients' timelines do not interleave.
 */
void diag_log(const struct diag *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*
 * diag_drop_log - close @d's log now; later reports go nowhere.  For a log
 * that would otherwise keep itself alive: a regular file that is also one
 * of the buffers of the owner whose settings hold it (a memfd adopted after
 * being given as the log), whose last close the broker would never see.
 * Any thread.
 */
void diag_drop_log(struct diag *d);

/* How many live settings ask for a watchdog.  Any thread. */
unsigned long diag_watchdogs(void);
/* How many live settings inject faults.  Any thread. */
unsigned long diag_faulty(void);

/* Nanoseconds of CLOCK_MONOTONIC (ktime's clock). */
uint64_t diag_now_ns(void);

#endif
