/* SPDX-License-Identifier: MIT */
/* The library's one pthread_atfork() registration: see fork.h. */
#include <pthread.h>
#include <stddef.h>

#include "fork.h"

static const struct core_fork_handler *handlers[CORE_FORK_STAGES];
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

static const struct core_fork_handler *handler(int stage)
{
	return __atomic_load_n(&handlers[stage], __ATOMIC_ACQUIRE);
}

static void fork_prepare(void)
{
	for (int i = 0; i < CORE_FORK_STAGES; i++) {
		const struct core_fork_handler *h = handler(i);

		if (h && h->prepare)
			h->prepare();
	}
}

static void fork_parent(void)
{
	for (int i = CORE_FORK_STAGES - 1; i >= 0; i--) {
		const struct core_fork_handler *h = handler(i);

		if (h && h->parent)
			h->parent();
	}
}

static void fork_child(void)
{
	for (int i = CORE_FORK_STAGES - 1; i >= 0; i--) {
		const struct core_fork_handler *h = handler(i);

		if (h && h->child)
			h->child();
	}
}

static void atfork_init(void)
{
	pthread_atfork(fork_prepare, fork_parent, fork_child);
}

void core_fork_register(enum core_fork_stage stage, const struct core_fork_handler *h)
{
	pthread_once(&atfork_once, atfork_init);
	__atomic_store_n(&handlers[stage], h, __ATOMIC_RELEASE);
}
