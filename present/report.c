/* SPDX-License-Identifier: MIT */
/*
 * dmasync-present: numbers, checks, the claim summary, JSON results and the
 * SVG timeline, all computed from one run's records (the compositor's and
 * the client's, per back-end and mode).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "report.h"

void span_add(struct span_log *log, enum span_kind kind, uint32_t frame, int64_t t0, int64_t t1)
{
	if (log->n == log->cap) {
		size_t cap = log->cap ? 2 * log->cap : 256;
		struct span *v = realloc(log->v, cap * sizeof(*v));

		if (!v)
			die("out of memory");
		log->v = v;
		log->cap = cap;
	}
	log->v[log->n++] = (struct span){ .t0 = t0, .t1 = t1, .frame = frame, .kind = kind };
}

void mode_result_free(struct mode_result *res)
{
	for (int a = 0; a < ACTOR_COUNT; a++)
		free(res->log[a].v);
	free(res->fs);
	free(res->display_order);
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of @v (sorted in place); 0 if empty. */
static int64_t percentile(int64_t *v, size_t n, double p)
{
	size_t rank;

	if (!n)
		return 0;
	qsort(v, n, sizeof(*v), cmp_i64);
	rank = (size_t)ceil(p / 100.0 * (double)n);
	return v[rank ? rank - 1 : 0];
}

static int64_t overlap(int64_t a0, int64_t a1, int64_t b0, int64_t b1)
{
	int64_t lo = a0 > b0 ? a0 : b0, hi = a1 < b1 ? a1 : b1;

	return hi > lo ? hi - lo : 0;
}

void compute_stats(struct mode_result *res)
{
	unsigned int n = res->frames;
	int64_t *tmp = calloc(n ? n : 1, sizeof(*tmp));
	double acq = 0, acq_fence = 0, own = 0;
	size_t k;

	if (!tmp)
		die("out of memory");
	res->once_in_order = res->displayed == n && !res->dropped && !res->failed;
	for (unsigned int i = 0; i < res->displayed; i++)
		if (res->display_order[i] != i)
			res->once_in_order = false;
	res->torn = res->stale = 0;
	for (unsigned int i = 0; i < n; i++) {
		const struct frame_stat *fs = &res->fs[i];

		if (fs->shown != 1)
			res->once_in_order = false;
		if (!fs->shown)
			continue;
		res->torn += fs->verdict == FRAME_TORN;
		res->stale += fs->verdict == FRAME_STALE;
		acq += (double)(fs->acq_buffer_ns + fs->acq_t1 - fs->acq_t0);
		acq_fence += (double)(fs->acq_t1 - fs->acq_t0);
		/* Blocked while its own render ran: at acquire, or in the submit. */
		own += (double)overlap(fs->acq_t0, fs->acq_t1, fs->render_t0, fs->render_t1);
		own += (double)overlap(fs->submit_t0, fs->submit_t1, fs->render_t0, fs->render_t1);
	}
	/*
	 * A frame whose buffer the client had already rendered a later frame
	 * into, finished, before the compositor began to read it cannot be
	 * read whole: the tear is forced.  The GPU finishes in order, so the
	 * buffer's next use is the one to look at.
	 */
	res->overwritten = res->overwritten_missed = 0;
	for (unsigned int i = 0; i < n; i++) {
		const struct frame_stat *fs = &res->fs[i];

		if (!fs->shown || !fs->presented || !fs->composite_t0)
			continue;
		for (unsigned int j = i + 1; j < n; j++) {
			const struct frame_stat *later = &res->fs[j];

			if (!later->presented || later->buffer != fs->buffer)
				continue;
			if (later->render_t1 && later->render_t1 < fs->composite_t0) {
				res->overwritten++;
				res->overwritten_missed += fs->verdict == FRAME_OK;
			}
			break;
		}
	}
	if (n) {
		res->acq_block_ms = acq / n / 1e6;
		res->acq_fence_ms = acq_fence / n / 1e6;
		res->own_render_ms = own / n / 1e6;
	}

	/* Costs: medians, so that a preemption here and there does not dominate. */
	for (unsigned int i = 0; i < n; i++)
		tmp[i] = res->fs[i].present_cpu_ns;
	res->present_us = (double)percentile(tmp, n, 50) / 1e3;
	for (unsigned int i = 0; i < n; i++)
		tmp[i] = res->fs[i].attach_cpu_ns;
	res->attach_us = (double)percentile(tmp, n, 50) / 1e3;
	for (unsigned int i = 0; i < n; i++)
		tmp[i] = res->fs[i].present_ns;
	res->present_wall_us = (double)percentile(tmp, n, 50) / 1e3;
	for (unsigned int i = 0; i < n; i++)
		tmp[i] = res->fs[i].noop_cpu_ns;
	res->noop_queue_us = (double)percentile(tmp, n, 50) / 1e3;
	for (unsigned int i = 0; i < n; i++)
		tmp[i] = res->fs[i].queue_overhead_ns;
	res->queue_overhead_us = (double)percentile(tmp, n, 50) / 1e3;

	/* How much later than its rendering the buffer's write fence signaled. */
	for (unsigned int i = 0; i < n; i++) {
		const struct frame_stat *fs = &res->fs[i];

		tmp[i] = fs->t_noop_end > fs->render_t1 && fs->render_t1 ? fs->t_noop_end - fs->render_t1 : 0;
	}
	res->ready_delay_us = (double)percentile(tmp, n, 50) / 1e3;
	for (unsigned int i = 0; i < n; i++)
		tmp[i] = res->fs[i].submit_t1 - res->fs[i].submit_t0;
	res->submit_ms = (double)percentile(tmp, n, 50) / 1e6;

	k = 0;
	for (unsigned int i = 0; i < n; i++)
		if (res->fs[i].shown)
			tmp[k++] = res->fs[i].t_display - res->fs[i].t_present;
	res->lat_p50_ms = (double)percentile(tmp, k, 50) / 1e6;
	res->lat_p99_ms = (double)percentile(tmp, k, 99) / 1e6;

	res->fps = 0;
	if (res->displayed > 1) {
		int64_t first = res->fs[res->display_order[0]].t_display;
		int64_t last = res->fs[res->display_order[res->displayed - 1]].t_display;

		if (last > first)
			res->fps = (res->displayed - 1) * 1e9 / (double)(last - first);
	}
	res->queue_idle_pct = 0;
	if (res->queue_last > res->queue_first)
		res->queue_idle_pct = 100.0 * (1.0 - (double)res->queue_busy_ns /
						   (double)(res->queue_last - res->queue_first));
	free(tmp);
}

void print_table(FILE *f, const struct mode_result *res, int n, enum backend be)
{
	static const char *const head[3][9] = {
		{ "", "", "", "present to", "client blocked", "of which", "present", "GPU", "torn/" },
		{ "mode", "shown", "fps", "display p50/p99", "at acquire (fences)", "own render",
		  "CPU (+queue)", "queue", "stale" },
		{ "", "", "", "ms", "ms/frame", "ms/frame", "us, median", "idle", "" },
	};

	fprintf(f, "\n%s back-end:\n", backend_names[be]);
	for (int l = 0; l < 3; l++)
		fprintf(f, "%-17s %6s %6s %15s %19s %10s %14s %5s %6s\n", head[l][0], head[l][1],
			head[l][2], head[l][3], head[l][4], head[l][5], head[l][6], head[l][7],
			head[l][8]);
	for (int i = 0; i < n; i++) {
		const struct mode_result *r = &res[i];
		char lat[32], acq[32], pres[32];

		if (!r->ran || r->backend != be)
			continue;
		snprintf(lat, sizeof(lat), "%.1f / %.1f", r->lat_p50_ms, r->lat_p99_ms);
		snprintf(acq, sizeof(acq), "%.2f (%.2f)", r->acq_block_ms, r->acq_fence_ms);
		if (r->mode == MODE_DUMMY_SUBMIT)
			snprintf(pres, sizeof(pres), "%.1f (+%.1f)", r->present_us, r->noop_queue_us);
		else
			snprintf(pres, sizeof(pres), "%.1f", r->present_us);
		fprintf(f, "%-17s %6u %6.1f %15s %19s %10.2f %14s %4.0f%% %6u\n", mode_names[r->mode],
			r->displayed, r->fps, lat, acq, r->own_render_ms, pres, r->queue_idle_pct,
			r->torn + r->stale);
	}
}

static const struct mode_result *find(const struct mode_result *res, int n, enum backend be,
				       enum mode m)
{
	for (int i = 0; i < n; i++)
		if (res[i].ran && res[i].backend == be && res[i].mode == m && res[i].client_ok)
			return &res[i];
	return NULL;
}

/* Claim 1: the dummy submit's cost (client + queue CPU) over the import's. */
static double claim1_ratio(const struct mode_result *sf, const struct mode_result *ds)
{
	double extra_queue = ds->queue_overhead_us - sf->queue_overhead_us;
	double dummy = ds->attach_us + (extra_queue > 0 ? extra_queue : 0);

	return dummy / (sf->attach_us > 0 ? sf->attach_us : 1e-3);
}

static const char *claim1_verdict(double ratio)
{
	return ratio >= 2 ? "HELD (\"far more\": 2x or more)"
	       : ratio > 1.1 ? "PARTLY HELD: more, but not \"far more\" (2x or more)"
			     : "DID NOT HOLD";
}

/* Claim 2: blocked on its own render less than a quarter as long. */
static bool claim2_held(const struct mode_result *sf, const struct mode_result *iw)
{
	return sf->own_render_ms < 0.25 * iw->own_render_ms && iw->own_render_ms > 0.05;
}

void print_claims(FILE *f, const struct mode_result *res, int n, enum backend be)
{
	const struct mode_result *sf = find(res, n, be, MODE_SYNC_FILE);
	const struct mode_result *ds = find(res, n, be, MODE_DUMMY_SUBMIT);
	const struct mode_result *iw = find(res, n, be, MODE_IMPLICIT_WAIT);
	const struct mode_result *ns = find(res, n, be, MODE_NO_SYNC);
	const struct mode_result *ex = find(res, n, be, MODE_EXPLICIT);
	bool vk = be == BACKEND_VK;

	fprintf(f, "\nThe seed's claims, %s back-end, from this run:\n", backend_names[be]);

	fprintf(f, "\n1. \"Importing a sync file into a dma-buf replaces a dummy submit that costs far\n"
		   "   more than attaching a fence.\"\n");
	if (sf && ds) {
		/*
		 * The no-op job's cost to the simulated queue: what the queue
		 * spent per frame beyond rendering, against sync-file mode.
		 * Lavapipe's queue threads are Mesa's: not measured, 0.
		 */
		double extra_queue = ds->queue_overhead_us - sf->queue_overhead_us;
		double dummy = ds->attach_us + (extra_queue > 0 ? extra_queue : 0);
		double ratio = claim1_ratio(sf, ds);
		const char *verdict = claim1_verdict(ratio);

		fprintf(f, "   Attaching the render fence with IMPORT_SYNC_FILE took %.1f us of client\n"
			   "   CPU (median).  The dummy submit (%s)\n   took %.1f us of client CPU,",
			sf->attach_us,
			vk ? "a real vkQueueSubmit waiting on the render\n   semaphore, its own "
			     "semaphore exported and attached as the writer"
			   : "an empty job on the sw_sync queue, attached\n   as the writer by its "
			     "\"driver\"",
			ds->attach_us);
		if (vk)
			fprintf(f, " %.1fx the attach.\n", ratio);
		else
			fprintf(f, "\n   and the GPU queue spent %.1f us more per frame outside rendering\n"
				   "   (%.1f vs %.1f us: the no-op job and its fence): %.1f us, %.1fx the\n"
				   "   attach.  It put one extra job per frame through the queue (%u jobs vs\n"
				   "   %u) and made the buffer ready %.1f us after its rendering.\n",
				extra_queue, ds->queue_overhead_us, sf->queue_overhead_us, dummy, ratio,
				ds->queue_jobs, sf->queue_jobs, ds->ready_delay_us);
		fprintf(f, "   The whole present cost %.1f us of client CPU with the import, %.1f us\n"
			   "   with the dummy submit.\n", sf->present_us, ds->present_us);
		fprintf(f, "   -> %s\n", verdict);
		if (!vk)
			fprintf(f, "   (The simulated queue is a thread of the client: a submit is a job on\n"
				   "   it and a sw_sync fence, not an ioctl into a kernel GPU driver.)\n");
	} else {
		fprintf(f, "   not measured: needs the sync-file and dummy-submit modes.\n");
	}

	fprintf(f, "\n2. \"Exporting a sync file lets the client wait for the compositor alone instead\n"
		   "   of over-synchronizing on its own rendering.\"\n");
	if (sf && iw) {
		bool held = claim2_held(sf, iw);

		fprintf(f, "   With EXPORT_SYNC_FILE the client waited %.2f ms per frame on fences at\n"
			   "   acquire, %.2f ms of it while its own render ran.  Waiting on the buffer\n"
			   "   instead (implicit-wait) it waited %.2f ms, %.2f ms of it on its own\n"
			   "   rendering; the GPU sat idle %.0f%% of the time vs %.0f%%, at %.1f vs\n"
			   "   %.1f fps.\n",
			sf->acq_fence_ms, sf->own_render_ms, iw->acq_fence_ms, iw->own_render_ms,
			iw->queue_idle_pct, sf->queue_idle_pct, iw->fps, sf->fps);
		if (fabs(iw->fps - sf->fps) <= 0.01 * sf->fps)
			fprintf(f, "   (Both kept up with the display at this refresh rate: the waiting cost\n"
				   "   latency headroom, not frames.)\n");
		else if (iw->fps < sf->fps)
			fprintf(f, "   (Waiting on its own rendering cost %.1f%% of the frame rate.)\n",
				100.0 * (1.0 - iw->fps / sf->fps));
		if (vk)
			fprintf(f, "   The submit took %.2f ms (median) with sync-file, %.2f ms with\n"
				   "   implicit-wait: lavapipe's vkGetSemaphoreFdKHR(SYNC_FD) returns only\n"
				   "   once the submitted work, and what it waits for, is done, with a fence\n"
				   "   already signaled.  So with implicit-wait the client blocks in the\n"
				   "   submit for the compositor's read (the render's implicit dependency)\n"
				   "   and its own render, and with sync-file it still blocks there for its\n"
				   "   own render (counted in \"own render\": %.2f vs %.2f ms/frame).\n",
				sf->submit_ms, iw->submit_ms, sf->own_render_ms, iw->own_render_ms);
		fprintf(f, "   -> %s\n", held ? "HELD" : "DID NOT HOLD");
	} else {
		fprintf(f, "   not measured: needs the sync-file and implicit-wait modes.\n");
	}
	if (ex && sf)
		fprintf(f, "\nExplicit sync protocol (acquire fence in, release fence out): %.1f fps,\n"
			   "present to display %.1f ms p50, client blocked on fences %.2f ms/frame (%.2f\n"
			   "on its own render), present %.1f us of CPU; vs sync-file %.1f fps, %.1f ms,\n"
			   "%.2f ms, %.1f us.\n",
			ex->fps, ex->lat_p50_ms, ex->acq_fence_ms, ex->own_render_ms, ex->present_us,
			sf->fps, sf->lat_p50_ms, sf->acq_fence_ms, sf->present_us);
	if (ns)
		fprintf(f, "\nThe integrity check can fail: no-sync presented without fences and %u of\n"
			   "%u frames were caught torn or stale by the compositor.\n",
			ns->torn + ns->stale, ns->frames);
}

int check_results(FILE *f, const struct mode_result *res, int n)
{
	int failures = 0;

	for (int i = 0; i < n; i++) {
		const struct mode_result *r = &res[i];
		const char *be = backend_names[r->backend], *m = mode_names[r->mode];

		if (!r->ran)
			continue;
		if (!r->client_ok || !r->compositor_ok) {
			fprintf(f, "CHECK FAILED: %s/%s: client exit %d, compositor exit %d\n", be, m,
				r->client_status, r->compositor_status);
			failures++;
			continue;
		}
		/*
		 * No-sync: every tear forced by the client's overwrites must be
		 * caught; the simulated GPU's half-way stall forces tears too.
		 * Lavapipe tears only when the client outruns the display, which
		 * a loaded machine may not let it do: nothing more is required.
		 */
		if (r->mode == MODE_NO_SYNC) {
			if (r->overwritten_missed) {
				fprintf(f, "CHECK FAILED: %s/no-sync: %u of %u frames overwritten before "
					   "they were read were not caught\n", be, r->overwritten_missed,
					r->overwritten);
				failures++;
			}
			if (r->backend == BACKEND_SIM && r->torn + r->stale == 0) {
				fprintf(f, "CHECK FAILED: %s/no-sync: no frame caught torn or stale\n", be);
				failures++;
			}
			continue;
		}
		if (!r->once_in_order) {
			fprintf(f, "CHECK FAILED: %s/%s: frames were not all displayed exactly once and "
				   "in order (%u of %u)\n", be, m, r->displayed, r->frames);
			failures++;
		}
		if (r->torn || r->stale) {
			fprintf(f, "CHECK FAILED: %s/%s: %u torn and %u stale frames\n", be, m,
				r->torn, r->stale);
			failures++;
		}
	}
	return failures;
}

static void json_num(FILE *f, const char *key, double v, bool comma)
{
	if (isnan(v) || isinf(v))
		fprintf(f, "\"%s\":null%s", key, comma ? "," : "");
	else
		fprintf(f, "\"%s\":%.6g%s", key, v, comma ? "," : "");
}

int write_json(FILE *f, const struct config *cfg, const struct mode_result *res, int n)
{
	bool first = true;

	fprintf(f, "{\"config\":{\"frames\":%u,\"refresh_ms\":%g,\"client_ms\":%g,\"gpu_ms\":%g,"
		   "\"vk_passes\":%u,\"width\":%u,\"height\":%u},\"runs\":[",
		cfg->frames, cfg->refresh_ms, cfg->client_ms, cfg->gpu_ms, cfg->vk_passes, cfg->width,
		cfg->height);
	for (int i = 0; i < n; i++) {
		const struct mode_result *r = &res[i];

		if (!r->ran)
			continue;
		fprintf(f, "%s{\"backend\":\"%s\",\"mode\":\"%s\",\"client_pid\":%d,"
			   "\"compositor_pid\":%d,\"client_status\":%d,\"compositor_status\":%d,"
			   "\"frames\":%u,\"displayed\":%u,\"once_in_order\":%s,\"torn\":%u,"
			   "\"stale\":%u,\"dropped\":%u,\"failed\":%u,\"repeats\":%u,"
			   "\"missed_vblanks\":%u,\"queue_jobs\":%u,\"overwritten\":%u,"
			   "\"overwritten_missed\":%u,",
			first ? "" : ",", backend_names[r->backend], mode_names[r->mode], r->client_pid,
			r->compositor_pid, r->client_status, r->compositor_status, r->frames,
			r->displayed, r->once_in_order ? "true" : "false", r->torn, r->stale,
			r->dropped, r->failed, r->repeats, r->missed, r->queue_jobs, r->overwritten,
			r->overwritten_missed);
		json_num(f, "fps", r->fps, true);
		json_num(f, "latency_p50_ms", r->lat_p50_ms, true);
		json_num(f, "latency_p99_ms", r->lat_p99_ms, true);
		json_num(f, "acquire_blocked_ms", r->acq_block_ms, true);
		json_num(f, "acquire_fence_ms", r->acq_fence_ms, true);
		json_num(f, "own_render_wait_ms", r->own_render_ms, true);
		json_num(f, "present_cpu_us", r->present_us, true);
		json_num(f, "attach_cpu_us", r->attach_us, true);
		json_num(f, "present_wall_us", r->present_wall_us, true);
		json_num(f, "noop_job_cpu_us", r->noop_queue_us, true);
		json_num(f, "queue_overhead_us", r->queue_overhead_us, true);
		json_num(f, "ready_delay_us", r->ready_delay_us, true);
		json_num(f, "queue_idle_pct", r->queue_idle_pct, true);
		json_num(f, "wall_s", r->wall_s, true);
		fprintf(f, "\"display_order\":[");
		for (unsigned int k = 0; k < r->displayed; k++)
			fprintf(f, "%s%u", k ? "," : "", r->display_order[k]);
		fprintf(f, "]}");
		first = false;
	}
	fprintf(f, "],\"claims\":{");
	first = true;
	for (int be = 0; be < BACKEND_COUNT; be++) {
		const struct mode_result *sf = find(res, n, be, MODE_SYNC_FILE);
		const struct mode_result *ds = find(res, n, be, MODE_DUMMY_SUBMIT);
		const struct mode_result *iw = find(res, n, be, MODE_IMPLICIT_WAIT);

		if (!sf || (!ds && !iw))
			continue;
		fprintf(f, "%s\"%s\":{", first ? "" : ",", backend_names[be]);
		if (ds) {
			double ratio = claim1_ratio(sf, ds);
			const char *v = ratio >= 2 ? "HELD" : ratio > 1.1 ? "PARTLY HELD" : "DID NOT HOLD";

			fprintf(f, "\"import_vs_dummy_submit\":{\"ratio\":%.3g,\"verdict\":\"%s\"}%s",
				ratio, v, iw ? "," : "");
		}
		if (iw)
			fprintf(f, "\"export_vs_implicit_wait\":{\"own_render_ms\":[%.3g,%.3g],"
				   "\"verdict\":\"%s\"}", sf->own_render_ms, iw->own_render_ms,
				claim2_held(sf, iw) ? "HELD" : "DID NOT HOLD");
		fprintf(f, "}");
		first = false;
	}
	fprintf(f, "}}\n");
	return ferror(f) ? -1 : 0;
}

/* ---- the merged trace ---------------------------------------------------------------- */

/**
 * merge_trace() - copy a process's trace events into the merged trace.
 * @out_f: the merged trace, inside its traceEvents array
 * @path: the process's trace: one JSON object a line
 * @first: true until an event has been written to @out_f (no comma before it)
 *
 * Only whole lines are copied, ones that open with '{' and end with "}\n":
 * a process killed while writing (SIGKILL by the driver, a crash) leaves
 * its last line cut at its stdio buffer's end, which would make the merged
 * trace invalid JSON.  A missing file is skipped.
 */
void merge_trace(FILE *out_f, const char *path, bool *first)
{
	FILE *f = fopen(path, "re");
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;

	if (!f)
		return;
	while ((n = getline(&line, &cap, f)) > 0) {
		if (n < 3 || line[0] != '{' || line[n - 1] != '\n' || line[n - 2] != '}')
			continue;
		line[n - 1] = '\0';
		fprintf(out_f, "%s%s", *first ? "" : ",\n", line);
		*first = false;
	}
	free(line);
	fclose(f);
}

/* ---- SVG timeline -------------------------------------------------------------------- */

static const char *const palette[SVG_FRAMES] = {
	"#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f",
	"#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#86bcb6",
};

static const char *const actor_names[ACTOR_COUNT] = {
	[ACTOR_CLIENT] = "client process",
	[ACTOR_QUEUE] = "client's GPU",
	[ACTOR_COMPOSITOR] = "compositor proc.",
	[ACTOR_DISPLAY] = "its display",
};

static void xml_text(FILE *f, const char *s)
{
	for (; *s; s++) {
		if (*s == '<')
			fputs("&lt;", f);
		else if (*s == '>')
			fputs("&gt;", f);
		else if (*s == '&')
			fputs("&amp;", f);
		else if (*s == '"')
			fputs("&quot;", f);
		else
			fputc(*s, f);
	}
}

/* The ten frames shown: from frame 10 on if the run is long enough. */
static void svg_window(const struct mode_result *r, uint32_t *first, int64_t *t0, int64_t *t1)
{
	uint32_t f0 = r->frames >= 2 * SVG_FRAMES ? SVG_FRAMES
			: r->frames > SVG_FRAMES ? r->frames - SVG_FRAMES : 0;
	int64_t lo = INT64_MAX, hi = INT64_MIN;

	for (int a = 0; a < ACTOR_COUNT; a++) {
		for (size_t i = 0; i < r->log[a].n; i++) {
			const struct span *s = &r->log[a].v[i];

			if (s->frame < f0 || s->frame >= f0 + SVG_FRAMES || !s->t1)
				continue;
			if (s->t0 < lo)
				lo = s->t0;
			if (s->t1 > hi)
				hi = s->t1;
		}
	}
	*first = f0;
	if (lo > hi) {
		/* No span in the window (a run whose client exited at once): empty. */
		*t0 = 0;
		*t1 = 1;
		return;
	}
	*t0 = lo;
	*t1 = hi > lo ? hi : lo + 1;
}

static double nice_step(double span_ms)
{
	static const double steps[] = { 0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000 };

	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++)
		if (span_ms / steps[i] <= 12)
			return steps[i];
	return 2000;
}

int write_svg(FILE *f, const struct config *cfg, const struct mode_result *res, int n)
{
	const double left = 118, right = 20, width = 1180, lane_h = 24, lane_gap = 6;
	const double panel_head = 42, axis_h = 22, panel_gap = 18;
	double plot_w = width - left - right, y = 52;
	int64_t window = 1, nosync_window = 1;
	int panels = 0;

	for (int i = 0; i < n; i++) {
		uint32_t f0;
		int64_t t0, t1;

		if (!res[i].ran)
			continue;
		panels++;
		svg_window(&res[i], &f0, &t0, &t1);
		/*
		 * No-sync is never throttled and its latency grows without
		 * bound: its ten frames would set a scale that squeezes every
		 * other panel.  Its panel is drawn at the common scale, cut.
		 */
		if (res[i].mode == MODE_NO_SYNC) {
			if (t1 - t0 > nosync_window)
				nosync_window = t1 - t0;
			continue;
		}
		if (t1 - t0 > window)
			window = t1 - t0;
	}
	if (window <= 1)
		window = nosync_window;
	window += window / 50;	/* a little air on the right */

	double panel_h = panel_head + ACTOR_COUNT * (lane_h + lane_gap) + axis_h;
	double height = 52 + panels * (panel_h + panel_gap) + 60;
	double px_per_ns = plot_w / (double)window;
	double step = nice_step((double)window / 1e6);

	fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
		   "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" "
		   "viewBox=\"0 0 %.0f %.0f\" font-family=\"sans-serif\" font-size=\"11\">\n",
		width, height, width, height);
	fprintf(f, "<defs><pattern id=\"hatch\" width=\"5\" height=\"5\" "
		   "patternUnits=\"userSpaceOnUse\" patternTransform=\"rotate(45)\">"
		   "<rect width=\"2\" height=\"5\" fill=\"#000\" fill-opacity=\"0.45\"/>"
		   "</pattern></defs>\n");
	fprintf(f, "<rect width=\"100%%\" height=\"100%%\" fill=\"#ffffff\"/>\n");
	fprintf(f, "<text x=\"12\" y=\"22\" font-size=\"15\" font-weight=\"bold\">dmasync-present: "
		   "the same %d frames in each mode, client and compositor processes (%ux%u, refresh %.2f ms, same time scale)</text>\n",
		SVG_FRAMES, cfg->width, cfg->height, cfg->refresh_ms);
	fprintf(f, "<text x=\"12\" y=\"40\" fill=\"#555\">Colour = frame. Solid: working. Pale with "
		   "dashed outline: waiting. Hatched: the client blocked on fences at acquire. "
		   "Grey: frames outside the ten.</text>\n");

	for (int i = 0; i < n; i++) {
		const struct mode_result *r = &res[i];
		uint32_t f0;
		int64_t t0, t1;
		char title[256];

		if (!r->ran)
			continue;
		svg_window(r, &f0, &t0, &t1);
		snprintf(title, sizeof(title),
			 "%s / %s: frames %u-%u. %.1f fps, client blocked at acquire %.2f ms/frame, "
			 "%.2f of it on fences, %.2f on its own render; %u torn/stale",
			 backend_names[r->backend], mode_names[r->mode], f0, f0 + SVG_FRAMES - 1, r->fps, r->acq_block_ms,
			 r->acq_fence_ms, r->own_render_ms, r->torn + r->stale);
		fprintf(f, "<g id=\"%s-%s\">\n<text x=\"12\" y=\"%.1f\" font-size=\"13\" "
			   "font-weight=\"bold\">", backend_names[r->backend], mode_names[r->mode], y + 16);
		xml_text(f, title);
		fprintf(f, "</text>\n");

		for (int a = 0; a < ACTOR_COUNT; a++) {
			double ly = y + panel_head + a * (lane_h + lane_gap);

			fprintf(f, "<text x=\"12\" y=\"%.1f\">%s</text>\n", ly + lane_h * 0.68,
				actor_names[a]);
			fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" "
				   "fill=\"#f4f4f4\"/>\n", left, ly, plot_w, lane_h);
			for (size_t k = 0; k < r->log[a].n; k++) {
				const struct span *s = &r->log[a].v[k];
				int64_t a0 = s->t0, a1 = s->t1 ? s->t1 : s->t0;
				bool inside = s->frame >= f0 && s->frame < f0 + SVG_FRAMES;
				bool wait = span_is_wait[s->kind];
				const char *colour = inside ? palette[s->frame % SVG_FRAMES] : "#c8c8c8";
				double x0, x1;

				if (a1 < t0 || a0 > t0 + window)
					continue;
				if (a0 < t0)
					a0 = t0;
				if (a1 > t0 + window)
					a1 = t0 + window;
				x0 = left + (double)(a0 - t0) * px_per_ns;
				x1 = left + (double)(a1 - t0) * px_per_ns;
				if (x1 - x0 < 0.6)
					x1 = x0 + 0.6;
				fprintf(f, "<rect x=\"%.2f\" y=\"%.1f\" width=\"%.2f\" height=\"%.1f\" "
					   "fill=\"%s\"%s><title>%s %u: %.3f ms</title></rect>\n",
					x0, ly + (wait ? 3 : 0), x1 - x0, lane_h - (wait ? 6 : 0), colour,
					wait ? " fill-opacity=\"0.3\" stroke=\"#666\" stroke-width=\"0.6\" "
					       "stroke-dasharray=\"2,2\""
					     : "",
					span_names[s->kind], s->frame, (double)(s->t1 - s->t0) / 1e6);
				if (s->kind == SPAN_ACQ_FENCE)
					fprintf(f, "<rect x=\"%.2f\" y=\"%.1f\" width=\"%.2f\" "
						   "height=\"%.1f\" fill=\"url(#hatch)\"/>\n",
						x0, ly + 3, x1 - x0, lane_h - 6);
				if (!wait && x1 - x0 > 16)
					fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" fill=\"#fff\" "
						   "text-anchor=\"middle\" font-size=\"10\">%u</text>\n",
						(x0 + x1) / 2, ly + lane_h * 0.68, s->frame);
			}
		}

		/* time axis */
		{
			double ay = y + panel_head + ACTOR_COUNT * (lane_h + lane_gap);

			fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" "
				   "stroke=\"#888\"/>\n", left, ay, left + plot_w, ay);
			for (double ms = 0; ms * 1e6 <= (double)window; ms += step) {
				double x = left + ms * 1e6 * px_per_ns;

				fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" "
					   "stroke=\"#888\"/><text x=\"%.1f\" y=\"%.1f\" "
					   "text-anchor=\"middle\" fill=\"#555\">%g ms</text>\n",
					x, ay, x, ay + 4, x, ay + 16, ms);
			}
		}
		fprintf(f, "</g>\n");
		y += panel_h + panel_gap;
	}

	/* legend: the span kinds */
	fprintf(f, "<text x=\"12\" y=\"%.1f\" fill=\"#555\">", y + 14);
	xml_text(f, "client: wait for wl_buffer.release (pale), acquire: wait on fences (hatched), "
		    "record, submit, present.  GPU: render, no-op job (dummy submit), wait for a "
		    "dependency,");
	fprintf(f, "</text>\n<text x=\"12\" y=\"%.1f\" fill=\"#555\">", y + 30);
	xml_text(f, "stalled half-written (no-sync).  compositor: wait for the buffer's writers "
		    "(implicit or acquire fence), verify + composite at the vblank.  display: scanout.  "
		    "Hover a span for its duration.");
	fprintf(f, "</text>\n</svg>\n");
	return ferror(f) ? -1 : 0;
}
