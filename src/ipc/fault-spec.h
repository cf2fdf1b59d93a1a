/* SPDX-License-Identifier: MIT */
/*
 * Private: the fault-injection settings a process asks for (DMASYNC_FAULT,
 * `dmasync run --fault=`), parsed the same way by the tool that checks
 * them and the broker that applies them (src/broker/fault.c).
 *
 * The text is a comma-separated list of
 *
 *	error=SHARE[:ERRNO]	signal SHARE of the points of the process's
 *				timelines with -ERRNO (default EIO)
 *	delay=MIN[-MAX]		apply each SW_SYNC_IOC_INC MIN to MAX ms late
 *	hang=SHARE:MS[:ERRNO]	SHARE of the INCs stall their timeline for MS
 *				ms, then everything held signals with -ERRNO
 *				(default ETIME): a GPU hang and its reset
 *	seed=N			the seed of every choice (default 1)
 *
 * SHARE is a fraction (0.25) or a percentage (25%); ERRNO a name (EIO,
 * ETIME, ECANCELED, ...) or a number.  Choices hash (seed, timeline name,
 * seqno or value), so a program that makes the same requests sees the same
 * faults on every run, whatever else the broker serves (timelines are
 * named after the command that opened them: two of one command see the
 * same choices).
 */
#ifndef DMASYNC_IPC_FAULT_SPEC_H
#define DMASYNC_IPC_FAULT_SPEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct fault_spec {
	uint64_t seed;
	double error_share;	/* 0: none */
	int error_errno;	/* positive */
	uint32_t delay_min_ms, delay_max_ms;	/* max 0: none */
	double hang_share;	/* 0: none */
	uint32_t hang_ms;
	int hang_errno;		/* positive */
};

/*
 * fault_spec_parse - @text into @spec.  Return: 0, or -EINVAL with a
 * one-line reason in @why (@whylen bytes).
 */
int fault_spec_parse(const char *text, struct fault_spec *spec, char *why, size_t whylen);

/* Whether @spec injects anything. */
bool fault_spec_active(const struct fault_spec *spec);

/* "EIO" or a number: the positive errno, or -EINVAL. */
int fault_errno_parse(const char *s);

/* The name of positive errno @e ("EIO"), or NULL if not one we name. */
const char *fault_errno_name(int e);

/*
 * fault_chance - a number in [0, 1) that depends only on its arguments:
 * the seeded coin of every fault decision.
 */
double fault_chance(uint64_t seed, uint64_t a, uint64_t b, uint64_t salt);

#endif
