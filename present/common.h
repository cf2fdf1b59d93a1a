/* SPDX-License-Identifier: MIT */
/*
 * present: what the compositor, the client and the driver share.
 *
 * The compositor and the client are plain Linux programs: they include only
 * the kernel's UAPI headers (and libwayland, and the client Vulkan), never a
 * dmasync header, so they run the same under `dmasync run` and on a kernel
 * that has sw_sync and udmabuf.  Each writes two files for the driver:
 *
 *   records   one line per span ("S ..."), per frame ("C ..." from the
 *             client, "D ..." from the compositor) and a few totals, all
 *             times CLOCK_MONOTONIC nanoseconds;
 *   trace     Chrome trace events of this process, one JSON object a line,
 *             which the driver merges into the run's single trace.
 */
#ifndef PRESENT_COMMON_H
#define PRESENT_COMMON_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

#include <linux/types.h>
#include <linux/ioctl.h>

/* The sw_sync UAPI (drivers/dma-buf/sw_sync.c has no installed header). */
struct sw_sync_create_fence_data {
	__u32 value;
	char name[32];
	__s32 fence;
};
#define SW_SYNC_IOC_CREATE_FENCE _IOWR('W', 0, struct sw_sync_create_fence_data)
#define SW_SYNC_IOC_INC _IOW('W', 1, __u32)
#define SW_SYNC_PATH "/sys/kernel/debug/sync/sw_sync"

/* DRM fourcc of the frames: 32-bit pixels, the top row holds the stamp. */
#define PRESENT_FOURCC 0x34325258u	/* 'XR24', DRM_FORMAT_XRGB8888 */

enum mode {
	MODE_SYNC_FILE,
	MODE_DUMMY_SUBMIT,
	MODE_IMPLICIT_WAIT,
	MODE_NO_SYNC,
	MODE_EXPLICIT,
	MODE_COUNT,
};

extern const char *const mode_names[MODE_COUNT];
int mode_from_name(const char *name);

enum backend { BACKEND_SIM, BACKEND_VK, BACKEND_COUNT };
extern const char *const backend_names[BACKEND_COUNT];
int backend_from_name(const char *name);

/* Lanes of the timeline: one per process or thread. */
enum actor { ACTOR_CLIENT, ACTOR_QUEUE, ACTOR_COMPOSITOR, ACTOR_DISPLAY, ACTOR_COUNT };

enum span_kind {
	SPAN_ACQ_BUFFER,	/* client: waiting for wl_buffer.release */
	SPAN_ACQ_FENCE,		/* client: waiting for the buffer's fences (acquire) */
	SPAN_RECORD,		/* client: CPU work of the frame */
	SPAN_SUBMIT,		/* client: submitting the render job */
	SPAN_PRESENT,		/* client: attach the fence, attach + commit */
	SPAN_DEP_WAIT,		/* GPU: waiting for a job's dependency */
	SPAN_RENDER,		/* GPU: rendering a frame */
	SPAN_NOOP,		/* GPU: the dummy submit's empty job */
	SPAN_HOLD,		/* GPU, no-sync only: half-written, stalled */
	SPAN_COMP_WAIT,		/* compositor: waiting for the buffer's writers */
	SPAN_COMPOSITE,		/* compositor: verify + composite at a vblank */
	SPAN_SCANOUT,		/* display: a frame on screen */
	SPAN_KIND_COUNT,
};

extern const char *const span_names[SPAN_KIND_COUNT];
extern const bool span_is_wait[SPAN_KIND_COUNT];
extern const enum actor span_actor[SPAN_KIND_COUNT];

enum verdict { FRAME_OK, FRAME_TORN, FRAME_STALE };

/* ---- time ---- */

static inline int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* CPU time of the calling thread. */
static inline int64_t cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void sleep_until_ns(int64_t t);
/* Burn @ms of CPU (the client's per-frame command recording). */
uint64_t burn_cpu(uint32_t seed, double ms);

__attribute__((noreturn, format(printf, 1, 2))) void die(const char *fmt, ...);
void set_prog_name(const char *name);

/* ---- the frame image ----
 *
 * Row 0 of the plane holds the stamp (magic, frame, checksum); rows 1..h
 * the pixels, each a function of the frame number and position, so a mix of
 * two frames or an old frame is caught; the checksum is a position-weighted
 * sum that can be computed row by row.
 */
struct image_header {
	uint64_t magic;
	uint64_t frame;
	uint64_t checksum;
	uint64_t pad[5];
};
#define IMAGE_MAGIC 0x646d6173796e6321ull

uint32_t image_shade(uint32_t frame, uint32_t x, uint32_t y);
/* Rows [row0, row1) of frame @frame into @base (plane start); partial checksum. */
uint64_t image_render_rows(void *base, unsigned int stride, unsigned int width,
			   unsigned int row0, unsigned int row1, uint32_t frame);
void image_stamp(void *base, uint32_t frame, uint64_t checksum);
/* Is @src frame @frame, whole?  Copies it to @dst (width*4 stride) on the way. */
enum verdict image_verify_copy(const void *src, unsigned int stride, void *dst,
			       unsigned int width, unsigned int height, uint32_t frame);

/* ---- fences: names, status, waits ---- */

/*
 * A fence's identity across processes: its sync file's name, which the
 * kernel (and dmasync) make "driver-timeline<context>-<seqno>" for one
 * fence, parsed; context and seqno 0 if the file holds no single fence.
 */
struct fence_id {
	uint64_t context, seqno;
	char name[32];
};
int fence_identify(int sync_fd, struct fence_id *id);
/* SYNC_IOC_FILE_INFO status: 1 signaled, 0 active, < 0 error. */
int fence_status(int sync_fd);
/*
 * Wait for @fd to poll @events; also watch @hup_fd (the Wayland
 * connection, -1 for none) for a hang-up.  Returns 0, -ETIMEDOUT (the
 * deadline is checked at every wake-up), -ECONNRESET (hang-up), -EBADF
 * (either fd not open) or another negative errno.
 */
int wait_fd(int fd, short events, int hup_fd, long timeout_ms);

/* ---- dma-bufs ---- */

/* Attach @sync_fd to dma-buf @buf_fd as a writer (DMA_BUF_IOCTL_IMPORT_SYNC_FILE). */
int dmabuf_attach_writer(int buf_fd, int sync_fd);
int udmabuf_alloc(size_t size);

/* ---- records and the trace ---- */

struct out {
	FILE *rec;		/* records, or NULL */
	FILE *trace;		/* trace events, or NULL */
	int pid;
};

extern struct out out;

int out_open(const char *rec_path, const char *trace_path, const char *process_name);
void out_close(void);
void out_thread_name(int tid, const char *name);

/* A span: a record for the driver and a complete ("X") trace event. */
void out_span(enum span_kind kind, uint32_t frame, int64_t t0, int64_t t1);
/* An instant on the calling thread's track. */
void out_instant(const char *name, int64_t t, const char *args_fmt, ...)
	__attribute__((format(printf, 3, 4)));
/*
 * A frame's fence as a flow arrow: start (the client attaching it) or end
 * (the compositor's wait on it).  The arrow's id is the client's pid and
 * the frame number, which both ends know; each end's slice carries the
 * fence's context and seqno as that process sees them through
 * SYNC_IOC_FILE_INFO.  (A name cannot be the id: a fence exported from a
 * dma-buf after it signaled is the stub fence, and lavapipe's SYNC_FD
 * exports are the stub fence every time.)
 */
void out_flow(const struct fence_id *id, int client_pid, uint32_t frame, bool start, int64_t t,
	      const char *what);
int gettid_cached(void);

#endif
