/* SPDX-License-Identifier: MIT */
/*
 * bench-broker's signal-to-wakeup ping-pong as a plain Linux program: no
 * dmasync header, no libdmasync, only the kernel's UAPI through libc's
 * open(), ioctl() and poll().  bench-broker runs it with
 * LD_PRELOAD=libdmasync-preload.so (what `dmasync run` does), to show
 * what an unmodified program pays, where the fd table knows every fd and
 * no fstat() identifies one.
 *
 * Two processes share one sw_sync timeline.  The child waits on the odd
 * values, the parent on the even ones, each on sync files it made
 * beforehand; each in turn INCs by 1 (waking the other) and polls its next
 * fence.
 *
 * Usage: pingpong-plain ROUNDS PARENT_CPU CHILD_CPU   (a CPU < 0: unpinned)
 * Prints the one-way latency in ns, measured after the first tenth of the
 * rounds; exit status 0, or 1 with a reason on stderr.
 */

#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "sw_sync-abi.h"	/* tests/preload: the plain programs' copy of the ABI */

static void fail(const char *what)
{
	perror(what);
	exit(1);
}

static void pin(int cpu)
{
	cpu_set_t m;

	if (cpu < 0)
		return;
	CPU_ZERO(&m);
	CPU_SET(cpu, &m);
	if (sched_setaffinity(0, sizeof(m), &m))
		fail("sched_setaffinity");
}

static int create_fence(int tl, uint32_t value)
{
	struct sw_sync_create_fence_data d = { .value = value, .name = "pp" };

	if (ioctl(tl, SW_SYNC_IOC_CREATE_FENCE, &d))
		fail("SW_SYNC_IOC_CREATE_FENCE");
	return d.fence;
}

static int wait_fence(int fd, int timeout)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	return poll(&p, 1, timeout) == 1 && (p.revents & POLLIN) ? 0 : -1;
}

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int main(int argc, char **argv)
{
	int rounds = argc == 4 ? atoi(argv[1]) : 0, warm = rounds / 10, ready[2], tl, status;
	uint32_t one = 1;
	int64_t t = 0;
	int *fences;
	pid_t pid;
	char c;

	if (rounds < 10) {
		fprintf(stderr, "usage: %s ROUNDS PARENT_CPU CHILD_CPU\n", argv[0]);
		return 1;
	}
	fences = calloc((size_t)rounds, sizeof(int));
	tl = open("/sys/kernel/debug/sync/sw_sync", O_RDWR | O_CLOEXEC);
	if (!fences || tl < 0 || pipe2(ready, O_CLOEXEC))
		fail("set-up");
	pin(atoi(argv[2]));
	fflush(stdout);
	pid = fork();
	if (pid < 0)
		fail("fork");
	if (!pid) {
		pin(atoi(argv[3]));
		close(ready[0]);
		for (int i = 0; i < rounds; i++)
			fences[i] = create_fence(tl, 2 * (uint32_t)i + 1);
		if (write(ready[1], "", 1) != 1)
			_exit(1);
		for (int i = 0; i < rounds; i++)
			if (wait_fence(fences[i], -1) || ioctl(tl, SW_SYNC_IOC_INC, &one))
				_exit(1);
		_exit(0);
	}
	close(ready[1]);
	for (int i = 0; i < rounds; i++)
		fences[i] = create_fence(tl, 2 * (uint32_t)i + 2);
	if (read(ready[0], &c, 1) != 1)
		fail("the child's fences");
	for (int i = 0; i < rounds; i++) {
		if (i == warm)
			t = now_ns();
		if (ioctl(tl, SW_SYNC_IOC_INC, &one))
			fail("SW_SYNC_IOC_INC");
		if (wait_fence(fences[i], 10000))
			fail("poll");
	}
	t = now_ns() - t;
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status)) {
		fprintf(stderr, "pingpong-plain: the child failed\n");
		return 1;
	}
	printf("%.1f\n", (double)t / (2.0 * (rounds - warm)));
	return 0;
}
