/* SPDX-License-Identifier: MIT */
/*
 * dmasync - umbrella header: the whole public API.
 *
 * The library mirrors the Linux kernel's dma-buf synchronization objects
 * under their kernel names; each header below documents one object, with
 * the locking and ownership rules of every function.
 */
#ifndef DMASYNC_DMASYNC_H
#define DMASYNC_DMASYNC_H

#include <dmasync/types.h>
#include <dmasync/list.h>
#include <dmasync/kref.h>
#include <dmasync/spinlock.h>
#include <dmasync/rcupdate.h>
#include <dmasync/dma-fence.h>
#include <dmasync/dma-fence-array.h>
#include <dmasync/dma-fence-chain.h>
#include <dmasync/dma-fence-unwrap.h>
#include <dmasync/sw_sync.h>
#include <dmasync/ww_mutex.h>
#include <dmasync/dma-resv.h>
#include <dmasync/sync_file.h>
#include <dmasync/dma-buf.h>
#include <dmasync/dmasync-uapi.h>
#include <dmasync/trace.h>

#endif
