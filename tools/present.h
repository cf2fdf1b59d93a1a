/* SPDX-License-Identifier: MIT */
/*
 * dmasync-present: shared declarations of the present-loop demo.
 *
 * Actors (one thread each, per mode):
 *   client      renders frames into a swapchain of 3 dma-bufs through
 *   gpu queue   a worker thread that runs jobs in order, one software
 *               timeline fence per job ("the GPU");
 *   compositor  knows only implicit sync: waits for a presented buffer by
 *               polling the dma-buf, attaches its own read fence while it
 *               composites into an output dma-buf, hands the buffer back;
 *   display     shows one composited output per refresh (FIFO), attaching
 *               a read fence to the output it scans out.
 */
#ifndef DMASYNC_PRESENT_H
#define DMASYNC_PRESENT_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

#include <dmasync/dmasync.h>
#include <dmasync/dma-buf.h>
#include <dmasync/trace.h>

#define SWAPCHAIN_LEN 3
#define OUTPUT_LEN 3
#define SVG_FRAMES 10

enum mode {
	MODE_SYNC_FILE,
	MODE_DUMMY_SUBMIT,
	MODE_IMPLICIT_WAIT,
	MODE_NO_SYNC,
	MODE_COUNT,
};

extern const char *const mode_names[MODE_COUNT];

struct config {
	unsigned int frames;
	double refresh_ms;
	double client_ms;		/* client CPU work per frame */
	unsigned int width, height;
	bool run[MODE_COUNT];
	const char *trace_path;		/* NULL: no trace */
	const char *svg_path;		/* NULL: no SVG */
	const char *json_path;		/* NULL: no JSON results */
	FILE *svg, *json;		/* opened (validated) up front */
	long timeout_ms;		/* any single wait longer than this is a failure */
};

/* ---- spans: what each actor did when, for the SVG, the stats and the trace ---- */

enum actor { ACTOR_CLIENT, ACTOR_QUEUE, ACTOR_COMPOSITOR, ACTOR_DISPLAY, ACTOR_COUNT };

enum span_kind {
	SPAN_ACQ_BUFFER,	/* client: waiting for the compositor to return a buffer */
	SPAN_ACQ_FENCE,		/* client: waiting for the buffer's fences (acquire) */
	SPAN_RECORD,		/* client: CPU work of the frame */
	SPAN_SUBMIT,		/* client: submitting the render job */
	SPAN_PRESENT,		/* client: presenting */
	SPAN_DEP_WAIT,		/* queue: waiting for a job's dependency */
	SPAN_RENDER,		/* queue: rendering a frame */
	SPAN_NOOP,		/* queue: the dummy submit's no-op job */
	SPAN_HOLD,		/* queue, no-sync only: held half-way for the compositor */
	SPAN_COMP_WAIT,		/* compositor: implicit wait for the presented buffer */
	SPAN_OUT_WAIT,		/* compositor: waiting for a free output buffer */
	SPAN_COMPOSITE,		/* compositor: verifying and compositing */
	SPAN_SCANOUT,		/* display: a frame on screen */
	SPAN_KIND_COUNT,
};

extern const char *const span_names[SPAN_KIND_COUNT];
extern const bool span_is_wait[SPAN_KIND_COUNT];

struct span {
	int64_t t0, t1;
	uint32_t frame;
	uint8_t kind;
};

struct span_log {
	struct span *v;
	size_t n, cap;
};

/* Open a span (also on the trace); returns its index for span_end(). */
size_t span_begin(struct span_log *log, enum span_kind kind, uint32_t frame);
void span_end(struct span_log *log, size_t idx);
void span_log_free(struct span_log *log);

/* ---- per-frame results, each field written by one actor ---- */

enum verdict { FRAME_OK, FRAME_TORN, FRAME_STALE };

struct frame_stat {
	int64_t t_present;	/* client: present call started */
	int64_t present_ns;	/* client: duration of the present call */
	int64_t present_cpu_ns;	/* client: CPU time of the present call */
	int64_t attach_cpu_ns;	/* client: of which the IMPORT ioctl / the dummy submit */
	int64_t acq_buffer_ns;	/* client: waiting for a buffer */
	int64_t acq_fence_ns;	/* client: waiting on fences at acquire */
	int64_t acq_t0, acq_t1;	/* client: the acquire fence wait */
	int64_t render_t0, render_t1;	/* queue */
	int64_t noop_cpu_ns;	/* queue: CPU time of this frame's dummy job */
	int64_t queue_overhead_ns; /* queue: CPU for this frame's jobs beyond rendering */
	int64_t t_noop_end;	/* queue: dummy job signaled */
	int64_t t_comp_wake;	/* compositor: the buffer polled ready */
	int64_t t_display;	/* display: the vblank that first showed it */
	uint32_t shown;		/* display: how many flips showed it (must be 1) */
	uint8_t verdict;	/* compositor: enum verdict */
	uint8_t buffer;		/* swapchain index */
};

struct mode_result {
	enum mode mode;
	bool ran;
	unsigned int frames;
	struct frame_stat *fs;
	uint32_t *display_order;	/* frames in the order they were shown */
	unsigned int displayed;
	unsigned int display_mismatch;	/* output header did not hold the frame queued */
	unsigned int repeats;		/* vblanks that showed the previous frame again */
	struct span_log log[ACTOR_COUNT];
	int64_t t_start, t_end;
	unsigned int queue_jobs;
	int64_t queue_busy_ns, queue_first, queue_last;

	/* derived by compute_stats() */
	double fps, lat_p50_ms, lat_p99_ms;
	double acq_block_ms, acq_fence_ms, own_render_ms;
	double present_us;		/* client CPU per present, median */
	double attach_us;		/* of which the IMPORT ioctl / dummy submit, median */
	double present_wall_us;		/* client wall time per present, median */
	double noop_queue_us;		/* GPU-queue CPU per dummy job, median */
	double queue_overhead_us;	/* GPU-queue CPU per frame beyond rendering, median */
	double present_total_us;	/* the two together */
	double ready_delay_us;		/* render done -> buffer's write fence signaled, median */
	double queue_idle_pct;
	unsigned int torn, stale;
	bool once_in_order;
};

/* present-run.c */
int run_mode(const struct config *cfg, enum mode mode, struct mode_result *res);
void mode_result_free(struct mode_result *res);

/* present-image.c: the frame's pixels, stamp and checksum */
struct image_header {
	uint64_t magic;
	uint64_t frame;
	uint64_t checksum;
	uint64_t pad[5];
};
#define IMAGE_MAGIC 0x646d6173796e6321ull

size_t image_bytes(unsigned int width, unsigned int height);
/* Render rows [row0, row1) of @frame; returns the partial checksum. */
uint64_t image_render_rows(void *base, unsigned int width, unsigned int row0, unsigned int row1,
			   uint32_t frame);
void image_stamp(void *base, uint32_t frame, uint64_t checksum);
/* Verify @src is frame @frame and copy it into @dst (if not NULL). */
enum verdict image_verify_copy(const void *src, void *dst, unsigned int width,
			       unsigned int height, uint32_t frame);

/* present-report.c */
void compute_stats(const struct config *cfg, struct mode_result *res);
void print_table(FILE *f, const struct mode_result *res, int n);
bool print_claims(FILE *f, const struct mode_result *res, int n);
int check_results(FILE *f, const struct mode_result *res, int n);
int write_json(FILE *f, const struct config *cfg, const struct mode_result *res, int n);
int write_svg(FILE *f, const struct config *cfg, const struct mode_result *res, int n);

/* small helpers */
static inline int64_t now_ns(void)
{
	return ktime_get();
}

/* CPU time of the calling thread (not counting time it was preempted). */
static inline int64_t cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

__attribute__((noreturn, format(printf, 1, 2))) void die(const char *fmt, ...);

#endif
