/* SPDX-License-Identifier: MIT */
/*
 * Tests of the registry of fd-backed objects (src/uapi/file.c): its hash
 * tables grow with the objects installed (sync files, chained by inode
 * and by monitor id; dma-bufs, by inode and by inotify watch), every
 * object is still found by its fd and released by its last close after
 * the tables moved it, and a fork child of a grown registry starts empty.
 */
#include <sys/resource.h>
#include <sys/wait.h>

#include "dma-buf-test.h"
#include "file.h"
#include "sw_sync_uapi.h"
#include "test-harness.h"
#include "uapi-test.h"

/* TSan cannot follow a fork child that starts threads (the monitor). */
#if defined(__SANITIZE_THREAD__)
#define CHILD_MAY_START_THREADS 0
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define CHILD_MAY_START_THREADS 0
#endif
#endif
#ifndef CHILD_MAY_START_THREADS
#define CHILD_MAY_START_THREADS 1
#endif

/* Raise the soft fd limit as far as the hard one allows; return how many
 * objects of two fds each (a sync file and its watch end) then fit. */
static int objects_that_fit(int want)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl))
		return 0;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
		getrlimit(RLIMIT_NOFILE, &rl);
	}
	if (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur / 3 > (rlim_t)want)
		return want;
	return (int)(rl.rlim_cur / 3);
}

static int status_of(int fd)
{
	struct sync_file_info info;

	memset(&info, 0, sizeof(info));
	return dmasync_ioctl(fd, SYNC_IOC_FILE_INFO, &info) ? -1000 : info.status;
}

TEST(registry_grows_with_its_objects)
{
	int n = objects_that_fit(3000), tl, *fences, *bufs, nbufs;
	unsigned int start;

	if (n < 1100) {
		dmasync_test_skip("fd limit below 3300: the tables would not double twice");
		return;
	}
	nbufs = n / 4;
	n -= nbufs;
	fences = calloc((size_t)n, sizeof(*fences));
	bufs = calloc((size_t)nbufs, sizeof(*bufs));
	REQUIRE(fences && bufs);
	tl = open_tl();
	start = uapi_file_buckets();
	CHECK(start > 0 && start < 1024);
	/* Interleaved, so that every doubling moves objects of both kinds. */
	for (int i = 0, j = 0; i < n; i++) {
		fences[i] = create_fence(tl, (u32)i + 1);
		REQUIRE(fences[i] >= 0);
		if (j < nbufs && i % 3 == 0) {
			bufs[j] = new_heapbuf(PAGE);
			REQUIRE(bufs[j++] >= 0);
		}
	}
	/* At most one object per bucket on average, so the tables doubled. */
	CHECK(uapi_file_buckets() >= (unsigned int)(n + nbufs));
	CHECK(uapi_file_buckets() >= 4 * start);

	/* Every object found by its fd, after the moves: half signaled. */
	CHECK_EQ(dmasync_ioctl(tl, SW_SYNC_IOC_INC, &(u32){ (u32)n / 2 }), 0);
	for (int i = 0; i < n; i++) {
		if (status_of(fences[i]) != (i < n / 2 ? 1 : 0)) {
			CHECK_EQ(status_of(fences[i]), i < n / 2 ? 1 : 0);
			break;
		}
	}
	for (int i = 0; i < nbufs; i++) {
		if (revents(bufs[i], POLLIN | POLLOUT, 0) != (POLLIN | POLLOUT)) {
			CHECK_EQ(revents(bufs[i], POLLIN | POLLOUT, 0), POLLIN | POLLOUT);
			break;
		}
	}

	/* The last close of each releases it, found by inotify watch (the
	 * buffers) or by monitor id (sync files closed by libc's close()). */
	for (int i = 0; i < nbufs; i++)
		close(bufs[i]);
	CHECK(WAIT_UNTIL((uapi_files_drain_inodes(), true) &&
			 __atomic_load_n(&uapi_installed_count, __ATOMIC_RELAXED) ==
				 (unsigned int)n + 1,
			 5000));
	for (int i = 0; i < n; i++) {
		if (i % 2)
			close(fences[i]);
		else
			dmasync_close(fences[i]);
	}
	dmasync_close(tl);
	CHECK(WAIT_UNTIL(!uapi_files_any(), 5000));
	/* They never shrink. */
	CHECK(uapi_file_buckets() >= (unsigned int)(n + nbufs));
	free(fences);
	free(bufs);
}

TEST(fork_child_of_a_grown_registry_starts_empty)
{
	int n = objects_that_fit(1200), tl, *fences, st = -1;
	pid_t pid;

	if (n < 600) {
		dmasync_test_skip("fd limit below 1800");
		return;
	}
	fences = calloc((size_t)n, sizeof(*fences));
	REQUIRE(fences);
	tl = open_tl();
	for (int i = 0; i < n; i++) {
		fences[i] = create_fence(tl, (u32)i + 1);
		REQUIRE(fences[i] >= 0);
	}
	REQUIRE(uapi_file_buckets() > 512);
	pid = fork();
	REQUIRE(pid >= 0);
	if (pid == 0) {
		/* The parent's objects are the parent's; new ones work. */
		int ok = !uapi_files_any() && status_of(fences[0]) == -1000;

		if (ok && CHILD_MAY_START_THREADS) {
			int tl2 = open_tl(), f = create_fence(tl2, 1);

			ok = f >= 0 && status_of(f) == 0 &&
			     dmasync_ioctl(tl2, SW_SYNC_IOC_INC, &(u32){ 1 }) == 0 &&
			     status_of(f) == 1;
		}
		_exit(ok ? 0 : 1);
	}
	REQUIRE(waitpid(pid, &st, 0) == pid);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	/* The parent's registry is untouched by the child's reset. */
	for (int i = 0; i < n; i++) {
		if (status_of(fences[i]) != 0) {
			CHECK_EQ(status_of(fences[i]), 0);
			break;
		}
	}
	for (int i = 0; i < n; i++)
		dmasync_close(fences[i]);
	dmasync_close(tl);
	CHECK(WAIT_UNTIL(!uapi_files_any(), 5000));
	free(fences);
}
