/* SPDX-License-Identifier: MIT */
/*
 * Private: fault injection on sw_sync timelines (dmasync run --fault=,
 * `dmasync fault`).  The broker's main thread only: no locking.
 *
 * A timeline made by a client whose settings (diag.h) inject faults has
 * its SW_SYNC_IOC_INC requests go through here: points signal with an
 * error, INCs apply late, or the timeline stalls and is released with an
 * error, as fault-spec.h describes.  `dmasync fault stall|release` does
 * the last by hand on any timeline.  Every fault is reported on the
 * settings' log.
 */
#ifndef DMASYNC_BROKER_FAULT_H
#define DMASYNC_BROKER_FAULT_H

#include <stdbool.h>
#include <stdint.h>

struct diag;

/* fault_init - @diag_of: the settings of an object owner (engine_claim()). */
void fault_init(struct diag *(*diag_of)(void *owner));

/*
 * fault_inc - SW_SYNC_IOC_INC by @inc of the timeline @fd.  Return: true if
 * it was handled here (its maker asked for faults, or it is stalled: applied
 * with faults, or held), false if the caller applies it as usual.
 */
bool fault_inc(int fd, uint32_t inc);

/*
 * fault_stall - hold every INC of the timeline of fence context @context
 * from now until fault_release().  Return: 0, -ENOENT (no such live
 * timeline), -EALREADY (stalled by hand already) or -ENOMEM.
 */
int fault_stall(uint64_t context);

/*
 * fault_release - apply the INCs held on @context's timeline; the points
 * they reach signal with -@error (0: no error).  Return: the number of
 * points signaled, -ENOENT if no such timeline is stalled.
 */
int fault_release(uint64_t context, int error);

/* Apply what is due; return milliseconds until something is (-1: nothing). */
int fault_tick(void);

/* Drop everything held (the broker is leaving). */
void fault_fini(void);

#endif
