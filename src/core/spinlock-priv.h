/* SPDX-License-Identifier: MIT */
/* Private: what spinlock.c tells the rest of the library beyond <dmasync/spinlock.h>. */
#ifndef DMASYNC_PRIV_SPINLOCK_H
#define DMASYNC_PRIV_SPINLOCK_H

#include <stdbool.h>

/* Whether the calling thread holds any spinlock_t. */
bool core_spinlocks_held(void);

#endif
