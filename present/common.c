/* SPDX-License-Identifier: MIT */
/*
 * present: helpers shared by the compositor, the client and the driver:
 * names, time, the frame image, fence identity and waits, and the record
 * and trace files each process writes.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <linux/dma-buf.h>
#include <linux/sync_file.h>
#include <linux/udmabuf.h>

#include "common.h"

const char *const mode_names[MODE_COUNT] = {
	[MODE_SYNC_FILE] = "sync-file",
	[MODE_DUMMY_SUBMIT] = "dummy-submit",
	[MODE_IMPLICIT_WAIT] = "implicit-wait",
	[MODE_NO_SYNC] = "no-sync",
	[MODE_EXPLICIT] = "explicit-protocol",
};

const char *const backend_names[BACKEND_COUNT] = {
	[BACKEND_SIM] = "simulated",
	[BACKEND_VK] = "lavapipe",
};

const char *const span_names[SPAN_KIND_COUNT] = {
	[SPAN_ACQ_BUFFER] = "wait for wl_buffer.release",
	[SPAN_ACQ_FENCE] = "acquire: wait on fences",
	[SPAN_RECORD] = "record (CPU)",
	[SPAN_SUBMIT] = "submit render",
	[SPAN_PRESENT] = "present",
	[SPAN_DEP_WAIT] = "wait for dependency",
	[SPAN_RENDER] = "render",
	[SPAN_NOOP] = "no-op job (dummy submit)",
	[SPAN_HOLD] = "half-written, stalled (no-sync)",
	[SPAN_COMP_WAIT] = "implicit/acquire wait for writers",
	[SPAN_COMPOSITE] = "verify + composite",
	[SPAN_SCANOUT] = "scanout",
};

const bool span_is_wait[SPAN_KIND_COUNT] = {
	[SPAN_ACQ_BUFFER] = true,
	[SPAN_ACQ_FENCE] = true,
	[SPAN_DEP_WAIT] = true,
	[SPAN_COMP_WAIT] = true,
	[SPAN_HOLD] = true,
};

const enum actor span_actor[SPAN_KIND_COUNT] = {
	[SPAN_ACQ_BUFFER] = ACTOR_CLIENT,
	[SPAN_ACQ_FENCE] = ACTOR_CLIENT,
	[SPAN_RECORD] = ACTOR_CLIENT,
	[SPAN_SUBMIT] = ACTOR_CLIENT,
	[SPAN_PRESENT] = ACTOR_CLIENT,
	[SPAN_DEP_WAIT] = ACTOR_QUEUE,
	[SPAN_RENDER] = ACTOR_QUEUE,
	[SPAN_NOOP] = ACTOR_QUEUE,
	[SPAN_HOLD] = ACTOR_QUEUE,
	[SPAN_COMP_WAIT] = ACTOR_COMPOSITOR,
	[SPAN_COMPOSITE] = ACTOR_COMPOSITOR,
	[SPAN_SCANOUT] = ACTOR_DISPLAY,
};

int mode_from_name(const char *name)
{
	for (int i = 0; i < MODE_COUNT; i++)
		if (!strcmp(name, mode_names[i]))
			return i;
	return -EINVAL;
}

int backend_from_name(const char *name)
{
	for (int i = 0; i < BACKEND_COUNT; i++)
		if (!strcmp(name, backend_names[i]))
			return i;
	if (!strcmp(name, "sim"))
		return BACKEND_SIM;
	if (!strcmp(name, "vk"))
		return BACKEND_VK;
	return -EINVAL;
}

static const char *prog_name = "present";

void set_prog_name(const char *name)
{
	prog_name = name;
}

/*
 * Called from any thread (the GPU queue and watcher threads too): the
 * record and trace streams are flushed, not closed, as other threads may
 * be writing them; exit() closes them.
 */
void die(const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fprintf(stderr, "%s: error: ", prog_name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	if (out.rec)
		fflush(out.rec);
	if (out.trace)
		fflush(out.trace);
	exit(1);
}

void sleep_until_ns(int64_t t)
{
	struct timespec ts = { .tv_sec = t / 1000000000, .tv_nsec = t % 1000000000 };

	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
		;
}

uint64_t burn_cpu(uint32_t seed, double ms)
{
	static __thread uint64_t cmds[1024];
	int64_t end = now_ns() + (int64_t)(ms * 1e6);
	uint64_t h = seed * 0x9e3779b97f4a7c15ull + 1;

	do {
		for (unsigned int i = 0; i < 1024; i++) {
			h = h * 6364136223846793005ull + i;
			cmds[i] = h ^ (h >> 29);
		}
	} while (now_ns() < end);
	return h ^ cmds[seed % 1024];
}

/* ---- the frame image ---- */

uint32_t image_shade(uint32_t frame, uint32_t x, uint32_t y)
{
	uint32_t h = x * 0x9e3779b1u ^ y * 0x85ebca77u ^ (frame + 1) * 0xc2b2ae3du;

	for (int r = 0; r < 3; r++) {
		h ^= h >> 15;
		h *= 0x2c1b3c6du;
		h ^= h >> 12;
		h += 0x297a2d39u;
	}
	return h;
}

static inline uint64_t weight(unsigned int width, unsigned int x, unsigned int y)
{
	return 2 * ((uint64_t)y * width + x) + 1;
}

uint64_t image_render_rows(void *base, unsigned int stride, unsigned int width,
			   unsigned int row0, unsigned int row1, uint32_t frame)
{
	uint64_t sum = 0;

	for (unsigned int y = row0; y < row1; y++) {
		uint32_t *row = (uint32_t *)((char *)base + (size_t)(y + 1) * stride);

		for (unsigned int x = 0; x < width; x++) {
			uint32_t v = image_shade(frame, x, y);

			row[x] = v;
			sum += (uint64_t)v * weight(width, x, y);
		}
	}
	return sum;
}

void image_stamp(void *base, uint32_t frame, uint64_t checksum)
{
	struct image_header *h = base;

	h->magic = IMAGE_MAGIC;
	h->frame = frame;
	h->checksum = checksum;
}

/* Does row @y hold frame @frame's pixels (sampled)? */
static bool row_is(const void *base, unsigned int stride, unsigned int width, unsigned int y,
		   uint32_t frame)
{
	const uint32_t *row = (const uint32_t *)((const char *)base + (size_t)(y + 1) * stride);

	for (unsigned int x = 0; x < width; x += width / 16 ? width / 16 : 1)
		if (row[x] != image_shade(frame, x, y))
			return false;
	return row[width - 1] == image_shade(frame, width - 1, y);
}

enum verdict image_verify_copy(const void *src, unsigned int stride, void *dst,
			       unsigned int width, unsigned int height, uint32_t frame)
{
	const struct image_header *h = src;
	uint64_t hframe = h->frame, hsum = h->checksum, hmagic = h->magic, sum = 0;
	unsigned int top = height / 4, bottom = height - 1 - height / 4;

	for (unsigned int y = 0; y < height; y++) {
		const uint32_t *row = (const uint32_t *)((const char *)src + (size_t)(y + 1) * stride);
		uint32_t *orow = dst ? (uint32_t *)dst + (size_t)y * width : NULL;

		for (unsigned int x = 0; x < width; x++) {
			uint32_t v = row[x];

			if (orow)
				orow[x] = v;
			sum += (uint64_t)v * weight(width, x, y);
		}
	}
	if (hmagic == IMAGE_MAGIC && hframe == frame && hsum == sum &&
	    row_is(src, stride, width, top, frame) && row_is(src, stride, width, bottom, frame))
		return FRAME_OK;
	if (hmagic == IMAGE_MAGIC && hframe < frame && hsum == sum &&
	    row_is(src, stride, width, top, (uint32_t)hframe) &&
	    row_is(src, stride, width, bottom, (uint32_t)hframe))
		return FRAME_STALE;	/* a whole, older frame */
	return FRAME_TORN;
}

/* ---- fences ---- */

int fence_identify(int sync_fd, struct fence_id *id)
{
	struct sync_file_info info;
	char *dash, *p;

	memset(id, 0, sizeof(*id));
	memset(&info, 0, sizeof(info));
	if (ioctl(sync_fd, SYNC_IOC_FILE_INFO, &info) < 0)
		return -errno;
	memcpy(id->name, info.name, sizeof(id->name));
	id->name[sizeof(id->name) - 1] = '\0';
	/* "driver-timeline<context>-<seqno>": seqno after the last '-'. */
	dash = strrchr(id->name, '-');
	if (info.num_fences != 1 || !dash || dash == id->name)
		return 0;
	id->seqno = strtoull(dash + 1, NULL, 10);
	for (p = dash; p > id->name && p[-1] >= '0' && p[-1] <= '9'; p--)
		;
	if (p < dash)
		id->context = strtoull(p, NULL, 10);
	return 1;
}

int fence_status(int sync_fd)
{
	struct sync_file_info info;

	memset(&info, 0, sizeof(info));
	if (ioctl(sync_fd, SYNC_IOC_FILE_INFO, &info) < 0)
		return -errno;
	return info.status;
}

int wait_fd(int fd, short events, int hup_fd, long timeout_ms)
{
	struct pollfd p[2] = { { .fd = fd, .events = events }, { .fd = hup_fd, .events = 0 } };
	int64_t end = now_ns() + (int64_t)timeout_ms * 1000000;
	nfds_t n = hup_fd >= 0 ? 2 : 1;

	for (;;) {
		int64_t left = (end - now_ns() + 999999) / 1000000;
		int r = poll(p, n, left <= 0 ? 0 : left > INT_MAX ? INT_MAX : (int)left);

		if (r < 0 && errno != EINTR)
			return -errno;
		if (r > 0) {
			if (p[0].revents & POLLNVAL)
				return -EBADF;
			if (p[0].revents & (events | POLLERR | POLLHUP))
				return 0;
			if (n == 2 && (p[1].revents & POLLNVAL))
				return -EBADF;
			if (n == 2 && (p[1].revents & (POLLHUP | POLLERR)))
				return -ECONNRESET;
		}
		/* Whatever poll said, the deadline holds. */
		if (now_ns() >= end)
			return -ETIMEDOUT;
	}
}

/* ---- dma-bufs ---- */

int dmabuf_attach_writer(int buf_fd, int sync_fd)
{
	struct dma_buf_import_sync_file im = { .flags = DMA_BUF_SYNC_WRITE, .fd = sync_fd };

	return ioctl(buf_fd, DMA_BUF_IOCTL_IMPORT_SYNC_FILE, &im) < 0 ? -errno : 0;
}

/**
 * udmabuf_alloc() - a dma-buf of @size bytes from /dev/udmabuf.
 * @size: bytes, a multiple of the page size
 *
 * The memory is a memfd sealed against shrinking, which the dma-buf keeps
 * alive: the caller owns only the returned fd.
 *
 * Return: the dma-buf's fd, or a negative errno.
 */
int udmabuf_alloc(size_t size)
{
	struct udmabuf_create c = { .flags = UDMABUF_FLAGS_CLOEXEC, .size = size };
	int dev, memfd, fd, err;

	dev = open("/dev/udmabuf", O_RDWR | O_CLOEXEC);
	if (dev < 0)
		return -errno;
	memfd = memfd_create("present-frame", MFD_ALLOW_SEALING | MFD_CLOEXEC);
	if (memfd < 0) {
		err = -errno;
		goto close_dev;
	}
	if (ftruncate(memfd, (off_t)size) < 0 || fcntl(memfd, F_ADD_SEALS, F_SEAL_SHRINK) < 0) {
		err = -errno;
		goto close_memfd;
	}
	c.memfd = (__u32)memfd;
	fd = ioctl(dev, UDMABUF_CREATE, &c);
	err = fd < 0 ? -errno : fd;
close_memfd:
	close(memfd);
close_dev:
	close(dev);
	return err;
}

/* ---- records and the trace ---- */

struct out out = { .pid = 0 };

int gettid_cached(void)
{
	static __thread int tid;

	if (!tid)
		tid = (int)syscall(SYS_gettid);
	return tid;
}

static void json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			fprintf(f, "\\%c", *s);
		else if ((unsigned char)*s < 0x20)
			fprintf(f, "\\u%04x", *s);
		else
			fputc(*s, f);
	}
	fputc('"', f);
}

int out_open(const char *rec_path, const char *trace_path, const char *process_name)
{
	out.pid = getpid();
	if (rec_path) {
		out.rec = fopen(rec_path, "we");
		if (!out.rec)
			return -errno;
	}
	if (trace_path) {
		out.trace = fopen(trace_path, "we");
		if (!out.trace)
			return -errno;
		fprintf(out.trace, "{\"ph\":\"M\",\"name\":\"process_name\",\"pid\":%d,\"tid\":%d,"
			"\"args\":{\"name\":", out.pid, out.pid);
		json_str(out.trace, process_name);
		fprintf(out.trace, "}}\n");
	}
	return 0;
}

void out_close(void)
{
	if (out.rec) {
		fclose(out.rec);
		out.rec = NULL;
	}
	if (out.trace) {
		fclose(out.trace);
		out.trace = NULL;
	}
}

void out_thread_name(int tid, const char *name)
{
	if (!out.trace)
		return;
	/* One line of several writes: other threads may be tracing already. */
	flockfile(out.trace);
	fprintf(out.trace, "{\"ph\":\"M\",\"name\":\"thread_name\",\"pid\":%d,\"tid\":%d,"
		"\"args\":{\"name\":", out.pid, tid);
	json_str(out.trace, name);
	fprintf(out.trace, "}}\n");
	funlockfile(out.trace);
}

void out_span(enum span_kind kind, uint32_t frame, int64_t t0, int64_t t1)
{
	if (out.rec)
		fprintf(out.rec, "S %d %u %lld %lld\n", kind, frame, (long long)t0, (long long)t1);
	if (out.trace)
		fprintf(out.trace, "{\"ph\":\"X\",\"cat\":\"present\",\"name\":\"%s\",\"pid\":%d,"
			"\"tid\":%d,\"ts\":%.3f,\"dur\":%.3f,\"args\":{\"frame\":%u}}\n",
			span_names[kind], out.pid, gettid_cached(), t0 / 1e3,
			(t1 > t0 ? t1 - t0 : 0) / 1e3, frame);
}

void out_instant(const char *name, int64_t t, const char *args_fmt, ...)
{
	va_list ap;

	if (!out.trace)
		return;
	flockfile(out.trace);
	fprintf(out.trace, "{\"ph\":\"i\",\"s\":\"t\",\"cat\":\"present\",\"name\":\"%s\","
		"\"pid\":%d,\"tid\":%d,\"ts\":%.3f,\"args\":{", name, out.pid, gettid_cached(),
		t / 1e3);
	va_start(ap, args_fmt);
	vfprintf(out.trace, args_fmt, ap);
	va_end(ap);
	fprintf(out.trace, "}}\n");
	funlockfile(out.trace);
}

void out_flow(const struct fence_id *id, int client_pid, uint32_t frame, bool start, int64_t t,
	      const char *what)
{
	uint64_t flow;

	if (!out.trace)
		return;
	/*
	 * Below 2^53, so exact as a double (chrome://tracing reads JSON
	 * numbers as doubles): pids are below 2^22 (PID_MAX_LIMIT), frames
	 * take 31 bits.
	 */
	flow = ((uint64_t)(uint32_t)client_pid << 31) | (frame & 0x7fffffffu);
	flockfile(out.trace);
	/* A short slice to bind the arrow to, then the arrow's end. */
	fprintf(out.trace, "{\"ph\":\"X\",\"cat\":\"fence\",\"name\":\"%s\",\"pid\":%d,\"tid\":%d,"
		"\"ts\":%.3f,\"dur\":1,\"args\":{\"fence\":", what, out.pid, gettid_cached(), t / 1e3);
	json_str(out.trace, id->name);
	fprintf(out.trace, ",\"context\":%llu,\"seqno\":%llu,\"frame\":%u}}\n",
		(unsigned long long)id->context, (unsigned long long)id->seqno, frame);
	fprintf(out.trace, "{\"ph\":\"%s\",\"cat\":\"fence\",\"name\":\"fence\",\"id\":%llu,"
		"\"pid\":%d,\"tid\":%d,\"ts\":%.3f%s}\n", start ? "s" : "f",
		(unsigned long long)flow, out.pid, gettid_cached(), t / 1e3,
		start ? "" : ",\"bp\":\"e\"");
	funlockfile(out.trace);
}
