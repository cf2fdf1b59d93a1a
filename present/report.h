/* SPDX-License-Identifier: MIT */
/*
 * dmasync-present (the driver): one run's results per back-end and mode,
 * gathered from the compositor's and the client's records, and what is
 * computed and printed from them.
 */
#ifndef PRESENT_REPORT_H
#define PRESENT_REPORT_H

#include "common.h"

#define SVG_FRAMES 10

struct config {
	unsigned int frames;
	double refresh_ms, client_ms, gpu_ms, hold_ms;
	unsigned int width, height, vk_passes;
	bool run_mode[MODE_COUNT], run_backend[BACKEND_COUNT];
	const char *out_dir, *implicit, *alloc;
	long timeout_ms;
	bool trace;
};

struct span {
	int64_t t0, t1;
	uint32_t frame;
	uint8_t kind;
};

struct span_log {
	struct span *v;
	size_t n, cap;
};

struct frame_stat {
	int64_t t_present, present_ns, present_cpu_ns, attach_cpu_ns;
	int64_t acq_buffer_ns, acq_t0, acq_t1, submit_t0, submit_t1;
	int64_t render_t0, render_t1, noop_cpu_ns, queue_overhead_ns, t_noop_end;
	int64_t t_commit, t_ready, t_display;
	int64_t composite_t0;		/* the compositor began reading it (first display) */
	uint32_t shown;
	uint8_t verdict, buffer;
	bool presented;
};

struct mode_result {
	enum backend backend;
	enum mode mode;
	bool ran, client_ok, compositor_ok;
	int client_status, compositor_status;
	unsigned int frames;
	struct frame_stat *fs;
	uint32_t *display_order;
	unsigned int displayed, repeats, missed, dropped, failed;
	struct span_log log[ACTOR_COUNT];
	unsigned int queue_jobs;
	int64_t queue_busy_ns, queue_first, queue_last;
	int client_pid, compositor_pid;
	double wall_s;

	/* derived by compute_stats() */
	double fps, lat_p50_ms, lat_p99_ms;
	double acq_block_ms, acq_fence_ms, own_render_ms;
	double present_us, attach_us, present_wall_us, noop_queue_us, queue_overhead_us;
	double ready_delay_us, queue_idle_pct, submit_ms;
	unsigned int torn, stale;
	/*
	 * Frames whose buffer held a later frame's finished render when the
	 * compositor began reading it (no-sync): a tear forced, whatever the
	 * timing; and how many of them were not caught.
	 */
	unsigned int overwritten, overwritten_missed;
	bool once_in_order;
};

void span_add(struct span_log *log, enum span_kind kind, uint32_t frame, int64_t t0, int64_t t1);
void mode_result_free(struct mode_result *res);
void compute_stats(struct mode_result *res);
void print_table(FILE *f, const struct mode_result *res, int n, enum backend be);
void print_claims(FILE *f, const struct mode_result *res, int n, enum backend be);
int check_results(FILE *f, const struct mode_result *res, int n);
int write_json(FILE *f, const struct config *cfg, const struct mode_result *res, int n);
int write_svg(FILE *f, const struct config *cfg, const struct mode_result *res, int n);
void merge_trace(FILE *out_f, const char *path, bool *first);

#endif
