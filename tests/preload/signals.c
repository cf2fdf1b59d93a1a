/* SPDX-License-Identifier: MIT */
/*
 * Signal handlers under `dmasync run`: a plain program (no dmasync header or
 * library) whose main thread keeps the broker busy (SYNC_IOC_FILE_INFO,
 * SW_SYNC_IOC_CREATE_FENCE, close) while a timer interrupts it thousands of
 * times, at any instant, with a handler that does what POSIX lets handlers
 * do on fds the preload has never seen: socketpair, write, read, dup, close.
 * The wrappers must not wait in the handler for a lock the interrupted code
 * holds (a hang: the watchdog thread fails the test), must pass those calls
 * to libc with errno preserved, and the interrupted requests must complete
 * correctly.  First, children are reaped by waitpid() in a SIGCHLD
 * handler, as shells do: the preload's waitpid() may allocate nothing
 * there (it did, once per thread: a shell interrupted in malloc() then
 * broke its heap).  Prints TAP.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <linux/sync_file.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "sw_sync-abi.h"

/*
 * The program's allocator, which the preload's calls reach too: it counts
 * the calls made while a handler of this program runs.  Not with a
 * sanitizer, whose runtime owns malloc().
 */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define COUNT_ALLOCS 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define COUNT_ALLOCS 0
#endif
#endif
#ifndef COUNT_ALLOCS
#define COUNT_ALLOCS 1
#endif

static volatile sig_atomic_t in_handler, handler_allocs;

#if COUNT_ALLOCS
extern void *__libc_malloc(size_t n);
extern void *__libc_calloc(size_t n, size_t m);
extern void *__libc_realloc(void *p, size_t n);
extern void __libc_free(void *p);

void *malloc(size_t n)
{
	handler_allocs += in_handler;
	return __libc_malloc(n);
}

void *calloc(size_t n, size_t m)
{
	handler_allocs += in_handler;
	return __libc_calloc(n, m);
}

void *realloc(void *p, size_t n)
{
	handler_allocs += in_handler;
	return __libc_realloc(p, n);
}

void free(void *p)
{
	handler_allocs += in_handler && p;
	__libc_free(p);
}
#endif

static volatile sig_atomic_t reaped;

static void on_sigchld(int sig)
{
	int saved = errno, st;

	(void)sig;
	in_handler = 1;
	while (waitpid(-1, &st, WNOHANG) > 0)
		reaped++;
	in_handler = 0;
	errno = saved;
}

static volatile sig_atomic_t handled, handler_bad;
static volatile sig_atomic_t progress;
static int nr, failed;

static void check(int ok, const char *what)
{
	printf("%s %d - %s\n", ok ? "ok" : "not ok", ++nr, what);
	fflush(stdout);
	failed |= !ok;
}

static void on_timer(int sig)
{
	int saved = errno, sv[2], d;
	char c = 'x';

	(void)sig;
	in_handler = 1;
	errno = 12345;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv)) {
		handler_bad = 1;
		in_handler = 0;
		errno = saved;
		return;
	}
	if (write(sv[0], &c, 1) != 1)
		handler_bad = 2000 + errno;
	else if (read(sv[1], &c, 1) != 1 || c != 'x')
		handler_bad = 3000 + errno;
	d = dup(sv[1]);
	if (d < 0 || close(d) || close(sv[0]) || close(sv[1]))
		handler_bad = 3;
	if (errno != 12345 && !handler_bad)
		handler_bad = 1000 + errno;	/* a wrapper changed errno on success */
	handled++;
	in_handler = 0;
	errno = saved;
}

/* Fails the test if the main thread stops making progress (a deadlock). */
static void *watchdog(void *arg)
{
	sig_atomic_t last = -1;

	(void)arg;
	for (;;) {
		sleep(5);
		if (progress == last) {
			printf("not ok %d - the main thread made no progress for 5 s "
			       "(%d handlers ran): deadlock\n", nr + 1, (int)handled);
			fflush(stdout);
			_exit(1);
		}
		last = progress;
	}
	return NULL;
}

int main(void)
{
	struct itimerval it = { .it_interval = { 0, 200 }, .it_value = { 0, 200 } };
	struct sigaction sa = { .sa_handler = on_timer, .sa_flags = SA_RESTART };
	struct timespec t0, t;
	pthread_t wd;
	sigset_t block;
	int tl, bad = 0, rounds = 0;

	/* Children reaped in a SIGCHLD handler, before any other call of
	 * this thread went through dmasync's copies. */
	{
		struct sigaction chld = { .sa_handler = on_sigchld, .sa_flags = SA_RESTART };
		struct timespec ms = { 0, 1000000 };
		int kids = 0;

		sigaction(SIGCHLD, &chld, NULL);
		for (int i = 0; i < 20; i++) {
			pid_t pid = fork();

			if (!pid)
				_exit(0);
			kids += pid > 0;
		}
		for (int i = 0; i < 5000 && reaped < kids; i++)
			nanosleep(&ms, NULL);
		chld.sa_handler = SIG_DFL;
		sigaction(SIGCHLD, &chld, NULL);
		printf("# %d children reaped in the handler, %d allocations there\n", (int)reaped,
		       (int)handler_allocs);
		check(reaped == kids && !handler_allocs,
		      "waitpid() in a SIGCHLD handler reaps every child and allocates nothing");
	}
	tl = open("/sys/kernel/debug/sync/sw_sync", O_RDWR | O_CLOEXEC);
	check(tl >= 0, "open the sw_sync device");
	if (tl < 0)
		return 1;
	/* The timer's signal goes to the main thread only. */
	sigemptyset(&block);
	sigaddset(&block, SIGALRM);
	pthread_sigmask(SIG_BLOCK, &block, NULL);
	pthread_create(&wd, NULL, watchdog, NULL);
	pthread_sigmask(SIG_UNBLOCK, &block, NULL);
	sigaction(SIGALRM, &sa, NULL);
	setitimer(ITIMER_REAL, &it, NULL);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	do {
		struct sw_sync_create_fence_data cf = { .value = (uint32_t)rounds + 1 };
		struct sync_file_info info = { 0 };
		uint32_t one = 1;

		if (ioctl(tl, SW_SYNC_IOC_CREATE_FENCE, &cf)) {
			bad++;
			continue;
		}
		if (ioctl(cf.fence, SYNC_IOC_FILE_INFO, &info) || info.status != 0)
			bad++;
		if (ioctl(tl, SW_SYNC_IOC_INC, &one))
			bad++;
		memset(&info, 0, sizeof(info));
		if (ioctl(cf.fence, SYNC_IOC_FILE_INFO, &info) || info.status != 1)
			bad++;
		if (close(cf.fence))
			bad++;
		rounds++;
		progress = rounds;
		clock_gettime(CLOCK_MONOTONIC, &t);
	} while ((t.tv_sec - t0.tv_sec) * 1000000000L + (t.tv_nsec - t0.tv_nsec) < 2000000000L);
	memset(&it, 0, sizeof(it));
	setitimer(ITIMER_REAL, &it, NULL);
	printf("# %d rounds, %d signal handlers\n", rounds, (int)handled);
	check(handled > 100, "the timer interrupted the requests (> 100 handlers)");
	if (handler_bad)
		printf("# handler: %d\n", (int)handler_bad);
	printf("# allocations in the handlers: %d\n", (int)handler_allocs);
	check(!handler_bad && !handler_allocs,
	      "in the handler, socketpair/write/read/dup/close worked, kept errno, allocated nothing");
	check(rounds > 100 && !bad, "every interrupted request gave the right answer");
	close(tl);
	printf("1..%d\n", nr);
	return failed;
}
