/* SPDX-License-Identifier: MIT */
/*
 * dma-buf request costs through the public entry points, each in ns and as
 * a multiple of getppid() (the cheapest system call) measured in the same
 * run, next to the Linux figures in the same unit:
 *
 *   EXPORT_SYNC_FILE (READ, WRITE) with 0, 1, 16, 128 pending WRITE fences
 *	(Linux: ~8-9 getppid with few fences, ~90 for WRITE with 128)
 *   IMPORT_SYNC_FILE of one fence (Linux: ~3)
 *   poll() of an idle dma-buf (dmasync_poll)
 *   the fd primitives the emulation is built from (fstat, dup+close,
 *	socketpair+close) and the sync-file creation every EXPORT pays for
 *   the lifetime machinery: ALLOC + close() vs ALLOC + dmasync_close(), and
 *	one reap pass (list /proc/self/fd, fstat every fd) with 64 live buffers
 *
 * Every EXPORT is followed by close() of the new fd, so its teardown
 * (done by the monitor thread when it notices the close) is included in
 * the steady state.  Each figure is the best of three 100 ms rounds.
 */
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <linux/dma-buf.h>
#include <linux/dma-heap.h>

#include <dmasync/dma-buf.h>
#include <dmasync/dmasync-uapi.h>
#include <dmasync/rcupdate.h>
#include <dmasync/sw_sync.h>
#include <dmasync/sync_file.h>
#include "file.h"

#define RUN_NS 100000000ll	/* time per round */
#define ROUNDS 3		/* the best round is reported */

static double getppid_ns;

/* Run @fn(@arg) in batches until RUN_NS elapsed, ROUNDS times; the lowest
 * ns per call (background work of the monitor thread makes rounds noisy). */
static double measure(void (*fn)(void *), void *arg)
{
	double best = 0;

	for (int r = 0; r < ROUNDS; r++) {
		long n = 0, batch = 16;
		ktime_t t0 = ktime_get(), t;
		double ns;

		do {
			for (long i = 0; i < batch; i++)
				fn(arg);
			n += batch;
			t = ktime_get();
			if (batch < 4096)
				batch *= 2;
		} while (t - t0 < RUN_NS);
		ns = (double)(t - t0) / (double)n;
		if (!r || ns < best)
			best = ns;
	}
	return best;
}

static void report(const char *what, double ns, const char *linux_ref)
{
	printf("%-40s %9.0f ns %7.1f x getppid", what, ns, ns / getppid_ns);
	if (linux_ref)
		printf("   (Linux: %s x)", linux_ref);
	printf("\n");
}

static void do_getppid(void *arg)
{
	(void)arg;
	getppid();
}

static void do_fstat(void *arg)
{
	struct stat st;

	fstat(*(int *)arg, &st);
}

static void do_dup_close(void *arg)
{
	close(dup(*(int *)arg));
}

static void do_socketpair_close(void *arg)
{
	int sv[2];

	(void)arg;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0) {
		close(sv[0]);
		close(sv[1]);
	}
}

static void do_sync_file(void *arg)
{
	int fd = sync_file_create_fd(arg);

	if (fd >= 0)
		close(fd);
}

struct export_arg {
	int buf;
	u32 flags;
};

static void do_export(void *arg)
{
	struct export_arg *e = arg;
	struct dma_buf_export_sync_file exp = { .flags = e->flags, .fd = -1 };

	if (dmasync_ioctl(e->buf, DMA_BUF_IOCTL_EXPORT_SYNC_FILE, &exp) == 0)
		close(exp.fd);
}

struct import_arg {
	int buf;
	int fence;
};

static void do_import(void *arg)
{
	struct import_arg *im = arg;
	struct dma_buf_import_sync_file imp = { .flags = DMA_BUF_SYNC_WRITE, .fd = im->fence };

	dmasync_ioctl(im->buf, DMA_BUF_IOCTL_IMPORT_SYNC_FILE, &imp);
}

static void do_poll(void *arg)
{
	struct pollfd p = { .fd = *(int *)arg, .events = POLLIN | POLLOUT };

	dmasync_poll(&p, 1, 0);
}

static void do_alloc_close(void *arg)
{
	struct dma_heap_allocation_data a = { .len = 4096, .fd_flags = O_RDWR | O_CLOEXEC };

	if (dmasync_ioctl(*(int *)arg, DMA_HEAP_IOCTL_ALLOC, &a) == 0)
		close((int)a.fd);
}

static void do_alloc_dmasync_close(void *arg)
{
	struct dma_heap_allocation_data a = { .len = 4096, .fd_flags = O_RDWR | O_CLOEXEC };

	if (dmasync_ioctl(*(int *)arg, DMA_HEAP_IOCTL_ALLOC, &a) == 0)
		dmasync_close((int)a.fd);
}

static void do_reap(void *arg)
{
	(void)arg;
	uapi_files_reap();
}

static int new_heapbuf(void)
{
	int heap = dmasync_open("/dev/dma_heap/system", O_RDONLY | O_CLOEXEC);
	struct dma_heap_allocation_data a = { .len = 4096, .fd_flags = O_RDWR | O_CLOEXEC };

	if (heap < 0 || dmasync_ioctl(heap, DMA_HEAP_IOCTL_ALLOC, &a))
		exit(1);
	close(heap);
	return (int)a.fd;
}

int main(void)
{
	static const int counts[] = { 0, 1, 16, 128 };
	struct sync_timeline *tl[128];
	struct dma_fence *stub = dma_fence_get_stub();
	char what[64];
	int buf, fd;
	double ns;

	setvbuf(stdout, NULL, _IOLBF, 0);
	getppid_ns = measure(do_getppid, NULL);
	printf("floor: getppid() %.0f ns\n\n", getppid_ns);

	buf = new_heapbuf();
	fd = buf;
	report("fd primitive: fstat()", measure(do_fstat, &fd), NULL);
	report("fd primitive: dup()+close()", measure(do_dup_close, &fd), NULL);
	report("fd primitive: socketpair()+2 close()", measure(do_socketpair_close, NULL), NULL);
	report("sync_file_create_fd()+close()", measure(do_sync_file, stub), NULL);
	printf("\n");

	for (int i = 0; i < 128; i++)
		tl[i] = sync_timeline_create("bench");
	for (unsigned int c = 0, have = 0; c < sizeof(counts) / sizeof(counts[0]); c++) {
		struct export_arg e = { .buf = buf };

		/* Attach pending WRITE fences of distinct timelines up to the count. */
		for (; have < (unsigned int)counts[c]; have++) {
			struct dma_fence *f = sync_pt_create(tl[have], 1);
			int sf = sync_file_create_fd(f);
			struct dma_buf_import_sync_file imp = { .flags = DMA_BUF_SYNC_WRITE, .fd = sf };

			dmasync_ioctl(buf, DMA_BUF_IOCTL_IMPORT_SYNC_FILE, &imp);
			close(sf);
			dma_fence_put(f);
		}
		e.flags = DMA_BUF_SYNC_READ;
		snprintf(what, sizeof(what), "EXPORT(READ)+close, %d fences", counts[c]);
		ns = measure(do_export, &e);
		report(what, ns, counts[c] <= 1 ? "~8-9" : NULL);
		e.flags = DMA_BUF_SYNC_WRITE;
		snprintf(what, sizeof(what), "EXPORT(WRITE)+close, %d fences", counts[c]);
		ns = measure(do_export, &e);
		report(what, ns, counts[c] <= 1 ? "~8-9" : counts[c] == 128 ? "~90" : NULL);
	}
	for (int i = 0; i < 128; i++)
		sync_timeline_signal(tl[i], 1);
	printf("\n");

	{
		int b2 = new_heapbuf();
		struct dma_fence *f = sync_pt_create(tl[0], 2);
		struct import_arg im = { .buf = b2, .fence = sync_file_create_fd(f) };

		report("IMPORT(WRITE) of 1 fence", measure(do_import, &im), "~3");
		sync_timeline_signal(tl[0], 1);
		report("poll() of an idle dma-buf", measure(do_poll, &b2), NULL);
		close(im.fence);
		close(b2);
		dma_fence_put(f);
	}
	printf("\n");
	{
		int heap = dmasync_open("/dev/dma_heap/system", O_RDONLY | O_CLOEXEC), live[64];

		report("ALLOC(heap)+close() (reaped in passes)", measure(do_alloc_close, &heap), NULL);
		report("ALLOC(heap)+dmasync_close()", measure(do_alloc_dmasync_close, &heap), NULL);
		for (int i = 0; i < 64; i++)
			live[i] = new_heapbuf();
		report("reap pass, 64 live buffers, ~70 fds", measure(do_reap, NULL), NULL);
		for (int i = 0; i < 64; i++)
			close(live[i]);
		close(heap);
	}
	for (int i = 0; i < 128; i++)
		sync_timeline_destroy(tl[i]);
	dma_fence_put(stub);
	close(buf);
	dmasync_rcu_barrier();
	return 0;
}
