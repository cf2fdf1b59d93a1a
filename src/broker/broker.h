/* SPDX-License-Identifier: MIT */
/* Private: dmasyncd's request loop (broker.c). */
#ifndef DMASYNC_BROKER_H
#define DMASYNC_BROKER_H

struct broker_options {
	const char *socket;	/* path to listen on */
	long idle_exit_ms;	/* leave after this long with no client and no object; <0: never */
	unsigned long max_objects; /* live objects one client may own (0: 65536) */
	unsigned int watchdog_ms; /* the watchdog for every timeline (0: only those asked for) */
	int log_fd;		/* where that watchdog reports (-1: nowhere) */
	void (*ready)(void *arg); /* called once listening */
	void *ready_arg;
};

/*
 * broker_run - serve @opt->socket until idle.  Takes the socket's lock
 * file first: -EADDRINUSE if another broker holds it (after waiting up to
 * 5 s for one that is leaving).  Return: 0 when it left because idle, or a
 * negative errno.
 */
int broker_run(const struct broker_options *opt);

#endif
