/* SPDX-License-Identifier: MIT */
/*
 * The libsync helpers (<dmasync/libsync.h>) as a program sees them: the
 * shared library and public headers only, on sync files of the sw_sync
 * device (in the broker).  TAP.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include <dmasync/dmasync-uapi.h>
#include <dmasync/libsync.h>

#include "../preload/sw_sync-abi.h"

static int nr, failed, fails_here;
#define EXPECT(c)                                                                          \
	do {                                                                               \
		if (!(c)) {                                                                \
			printf("# failed: %s (line %d, errno %d)\n", #c, __LINE__, errno); \
			fails_here++;                                                      \
		}                                                                          \
	} while (0)

static void done(const char *name)
{
	printf("%s %d - %s\n", fails_here ? "not ok" : "ok", ++nr, name);
	failed |= fails_here;
	fails_here = 0;
}

static int fence(int tl, uint32_t v)
{
	struct sw_sync_create_fence_data d = { .value = v };

	return dmasync_ioctl(tl, SW_SYNC_IOC_CREATE_FENCE, &d) ? -1 : d.fence;
}

static int inc(int tl, uint32_t n)
{
	return dmasync_ioctl(tl, SW_SYNC_IOC_INC, &n);
}

static long ms_since(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (t.tv_sec - t0->tv_sec) * 1000 + (t.tv_nsec - t0->tv_nsec) / 1000000;
}

int main(void)
{
	int tl = dmasync_open("/sys/kernel/debug/sync/sw_sync", O_RDWR | O_CLOEXEC);
	int tl2 = dmasync_open("/sys/kernel/debug/sync/sw_sync", O_RDWR | O_CLOEXEC);
	int a = fence(tl, 1), b = fence(tl2, 1), m, acc = -1, old;
	struct sync_file_info *info;
	struct timespec t0;

	if (tl < 0 || tl2 < 0 || a < 0 || b < 0) {
		printf("1..0 # SKIP no sw_sync device (%s)\n", strerror(errno));
		return 0;
	}

	/* both pending: the merge keeps both (a signaled one would be dropped) */
	m = sync_merge("both", a, b);

	/* sync_wait: timeout, then signaled; a bad fd */
	clock_gettime(CLOCK_MONOTONIC, &t0);
	errno = 0;
	EXPECT(sync_wait(a, 50) == -1 && errno == ETIME);
	EXPECT(ms_since(&t0) >= 45);
	EXPECT(sync_wait(a, 0) == -1 && errno == ETIME);
	EXPECT(inc(tl, 1) == 0);
	EXPECT(sync_wait(a, 0) == 0);
	EXPECT(sync_wait(a, -1) == 0);
	errno = 0;
	EXPECT(sync_wait(1000000, 0) == -1 && errno == EINVAL);	/* POLLNVAL */
	done("sync_wait: ETIME after the timeout, 0 once signaled, EINVAL for a bad fd");

	/* sync_merge: a new fd, both fences, the name */
	EXPECT(m >= 0 && m != a && m != b);
	EXPECT(fcntl(m, F_GETFD) == FD_CLOEXEC);
	info = sync_file_info(m);
	EXPECT(info != NULL);
	if (info) {
		struct sync_fence_info *fi = sync_get_fence_info(info);

		EXPECT(strcmp(info->name, "both") == 0);
		EXPECT(info->num_fences == 2);
		EXPECT(info->status == 0);
		EXPECT(fi[0].status == 1 || fi[1].status == 1);	/* a */
		EXPECT(fi[0].status == 0 || fi[1].status == 0);	/* b, pending */
		sync_file_info_free(info);
	}
	errno = 0;
	EXPECT(sync_merge("x", a, tl) == -1 && errno == ENOENT);	/* fd2 not a sync file */
	done("sync_merge and sync_file_info: both fences, the name, per-fence status");

	/* sync_accumulate: from none, then merged, the old fd closed */
	EXPECT(sync_accumulate("acc", &acc, a) == 0 && acc >= 0 && acc != a);
	old = acc;
	EXPECT(sync_accumulate("acc", &acc, b) == 0 && acc != old);
	EXPECT(fcntl(old, F_GETFD) == -1 && errno == EBADF);
	EXPECT(fcntl(a, F_GETFD) >= 0 && fcntl(b, F_GETFD) >= 0);	/* borrowed */
	old = acc;
	errno = 0;
	EXPECT(sync_accumulate("acc", &acc, tl) == -1 && acc == old && fcntl(acc, F_GETFD) >= 0);
	EXPECT(sync_wait(acc, 0) == -1 && errno == ETIME);
	EXPECT(inc(tl2, 1) == 0);
	EXPECT(sync_wait(acc, 1000) == 0);
	info = sync_file_info(acc);
	/* a had signaled when it was merged in: dropped, as the kernel does */
	EXPECT(info && info->status == 1 && info->num_fences == 1);
	sync_file_info_free(info);
	sync_file_info_free(NULL);
	done("sync_accumulate: dup from none, merge closes the old fd, unchanged on error");

	/* errors */
	errno = 0;
	EXPECT(sync_file_info(tl) == NULL && errno == ENOTTY);
	errno = 0;
	EXPECT(sync_file_info(-1) == NULL && errno == EBADF);
	done("sync_file_info: the ioctl's errno, NULL");

	close(acc);
	close(m);
	close(a);
	close(b);
	dmasync_close(tl);
	dmasync_close(tl2);
	printf("1..%d\n", nr);
	return failed;
}
