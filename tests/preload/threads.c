/* SPDX-License-Identifier: MIT */
/*
 * Threads with small stacks under `dmasync run`: the preload library
 * keeps nothing large in static TLS (which glibc carves out of every
 * thread's stack) and little on the stack, so a thread made with a 64 KiB
 * stack that uses 40 KiB of it works as it does without dmasync, and makes
 * requests (a udmabuf list of 300 items among them) with 32 KiB of its own
 * in use.  Threads that made such a request and ended leave nothing mapped
 * behind.  A plain Linux program: it runs on Linux too.  TAP output.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>
#include <linux/sync_file.h>
#include <linux/udmabuf.h>

#include "sw_sync-abi.h"

#define PAGE 4096
#define SMALL_STACK (64 * 1024)
#define ITEMS 300

static int n_test, failed;

static void check(int ok, const char *what)
{
	printf("%sok %d - %s\n", ok ? "" : "not ", ++n_test, what);
	failed |= !ok;
}

/* Run @fn in a thread with a 64 KiB stack.  Return: its result, or -1. */
static long on_small_stack(void *(*fn)(void *), void *arg)
{
	pthread_attr_t at;
	pthread_t t;
	void *r = (void *)-1l;

	pthread_attr_init(&at);
	pthread_attr_setstacksize(&at, SMALL_STACK);
	if (pthread_create(&t, &at, fn, arg) || pthread_join(t, &r))
		r = (void *)-1l;
	pthread_attr_destroy(&at);
	return (long)r;
}

static void *use_40k(void *arg)
{
	volatile char buf[40 * 1024];

	(void)arg;
	memset((char *)buf, 1, sizeof(buf));
	return (void *)(long)(buf[100] == 1 ? 0 : 1);
}

/* Requests with 32 KiB of the thread's own stack in use.  Return: 0 or
 * the number of the step that failed. */
static long __attribute__((noinline)) requests(void)
{
	struct udmabuf_create_list *l = calloc(1, sizeof(*l) + ITEMS * sizeof(l->list[0]));
	struct sw_sync_create_fence_data d = { .value = 1 };
	struct sync_file_info info = { 0 };
	int tl, dev, m, b;
	uint32_t one = 1;
	char *p;

	tl = open("/sys/kernel/debug/sync/sw_sync", O_RDWR | O_CLOEXEC);
	if (tl < 0 || ioctl(tl, SW_SYNC_IOC_CREATE_FENCE, &d))
		return 1;
	if (ioctl(d.fence, SYNC_IOC_FILE_INFO, &info) || info.status != 0 || info.num_fences != 1)
		return 2;
	memset(&info, 0, sizeof(info));
	if (ioctl(tl, SW_SYNC_IOC_INC, &one) || ioctl(d.fence, SYNC_IOC_FILE_INFO, &info) ||
	    info.status != 1)
		return 3;
	close(d.fence);
	close(tl);
	dev = open("/dev/udmabuf", O_RDWR | O_CLOEXEC);
	m = memfd_create("threads", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (!l || dev < 0 || m < 0 || ftruncate(m, ITEMS * PAGE) ||
	    fcntl(m, F_ADD_SEALS, F_SEAL_SHRINK))
		return 4;
	l->flags = UDMABUF_FLAGS_CLOEXEC;
	l->count = ITEMS;
	for (unsigned int i = 0; i < ITEMS; i++) {
		l->list[i].memfd = (uint32_t)m;
		l->list[i].offset = (uint64_t)(ITEMS - 1 - i) * PAGE;
		l->list[i].size = PAGE;
	}
	b = ioctl(dev, UDMABUF_CREATE_LIST, l);
	if (b < 0)
		return 5;
	if (pwrite(m, "x", 1, 0) != 1)
		return 6;
	p = mmap(NULL, ITEMS * PAGE, PROT_READ, MAP_SHARED, b, 0);
	if (p == MAP_FAILED || p[(size_t)(ITEMS - 1) * PAGE] != 'x')
		return 7;
	munmap(p, ITEMS * PAGE);
	close(b);
	close(m);
	close(dev);
	free(l);
	return 0;
}

static void *requests_deep(void *arg)
{
	volatile char buf[32 * 1024];
	long r;

	(void)arg;
	memset((char *)buf, 2, sizeof(buf));
	r = requests();
	return (void *)(r ? r : buf[7] == 2 ? 0 : 99);
}

static void *list_request(void *arg)
{
	(void)arg;
	return (void *)requests();
}

/* The process's mappings, as /proc/self/maps lists them. */
static int mappings(void)
{
	FILE *f = fopen("/proc/self/maps", "re");
	int n = 0, c;

	if (!f)
		return -1;
	while ((c = getc(f)) != EOF)
		n += c == '\n';
	fclose(f);
	return n;
}

int main(void)
{
	char what[160];
	long r;
	int before, after;

	check(on_small_stack(use_40k, NULL) == 0,
	      "a thread with a 64 KiB stack uses 40 KiB of it");
	r = on_small_stack(requests_deep, NULL);
	snprintf(what, sizeof(what),
		 "with 32 KiB of it in use, that thread makes requests, a 300-item udmabuf list among them (%ld)",
		 r);
	check(r == 0, what);
	before = mappings();
	for (int i = 0; i < 40; i++)
		if (on_small_stack(list_request, NULL) != 0)
			break;
	after = mappings();
	snprintf(what, sizeof(what),
		 "40 threads that made one each and ended leave no mapping behind (%d before, %d after)",
		 before, after);
	check(before > 0 && after <= before + 4, what);
	printf("1..%d\n", n_test);
	return failed;
}
