/* SPDX-License-Identifier: MIT */
/* Private: helpers shared by the tests that drive dmasync through the UAPI
 * entry points (sw_sync device, sync files, dma-bufs). */
#ifndef DMASYNC_UAPI_TEST_H
#define DMASYNC_UAPI_TEST_H

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <stdbool.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <dmasync/dmasync-uapi.h>
#include "sw_sync_uapi.h"
#include "sync_file_uapi.h"

#define PAGE 4096u

static inline void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

/* Wait (without calling into dmasync) until @cond holds; false on timeout. */
#define WAIT_UNTIL(cond, ms)                                                   \
	({                                                                     \
		bool __ok = false;                                             \
		for (int __i = 0; __i < (ms); __i++) {                         \
			if ((cond)) {                                          \
				__ok = true;                                   \
				break;                                         \
			}                                                      \
			sleep_ms(1);                                           \
		}                                                              \
		__ok || (cond);                                                \
	})

/* close() every fd listed. */
#define CLOSE_ALL(...)                                                         \
	do {                                                                   \
		int __v[] = { __VA_ARGS__ };                                   \
		for (size_t __i = 0; __i < sizeof(__v) / sizeof(__v[0]); __i++) \
			close(__v[__i]);                                       \
	} while (0)

/* A new timeline from the emulated sw_sync device (aborts on failure). */
static inline int open_tl(void)
{
	int fd = dmasync_open(SW_SYNC_DEVICE_PATH, O_RDWR | O_CLOEXEC);

	if (fd < 0)
		abort();
	return fd;
}

/* SW_SYNC_IOC_CREATE_FENCE at @value: the sync file fd, or -1 with errno. */
static inline int create_fence(int tl, u32 value)
{
	struct sw_sync_create_fence_data d;

	memset(&d, 0, sizeof(d));
	d.value = value;
	d.fence = -1;
	if (dmasync_ioctl(tl, SW_SYNC_IOC_CREATE_FENCE, &d))
		return -1;
	return d.fence;
}

static inline bool is_cloexec(int fd)
{
	int f = fcntl(fd, F_GETFD);

	return f >= 0 && (f & FD_CLOEXEC);
}

/* An fd number that is not open. */
static inline int closed_fd(void)
{
	int fd = dup(0);

	close(fd);
	return fd;
}

/* A read-only page holding @len bytes of @init (munmap it with PAGE). */
static inline void *ro_page(const void *init, size_t len)
{
	void *p = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		abort();
	memcpy(p, init, len);
	mprotect(p, PAGE, PROT_READ);
	return p;
}

#endif
