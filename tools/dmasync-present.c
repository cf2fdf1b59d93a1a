/* SPDX-License-Identifier: MIT */
/*
 * dmasync-present - a Vulkan-style client (explicit sync) presenting to a
 * compositor that knows only implicit sync, on dmasync; measures the two
 * claims of the 2021 sync-file import/export series.
 *
 * Modes (all run by default):
 *   sync-file      present = DMA_BUF_IOCTL_IMPORT_SYNC_FILE of the render
 *                  fence; acquire = EXPORT_SYNC_FILE on the returned buffer,
 *                  then wait on that sync file
 *   dummy-submit   present = a no-op GPU job that waits for the render fence
 *                  and is attached to the buffer as its writer (the pre-seed
 *                  workaround); acquire as sync-file
 *   implicit-wait  the render job is attached implicitly; acquire = wait on
 *                  the buffer itself after the frame's work is queued (the
 *                  over-synchronization the seed describes)
 *   no-sync        no synchronization at all, with the GPU queue made to stop
 *                  half-way through every frame: every frame must be caught
 *                  torn, proving the integrity check can fail
 */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "present.h"

#define DEFAULT_SVG "dmasync-present.svg"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: dmasync-present [options]\n"
		"  --mode M[,M...]   modes to run: sync-file, dummy-submit, implicit-wait,\n"
		"                    no-sync, all (default: all; may be repeated)\n"
		"  --frames N        frames per mode (default 240)\n"
		"  --refresh-ms X    display refresh interval (default 8)\n"
		"  --client-ms X     client CPU work per frame (default 2)\n"
		"  --size WxH        frame size (default 1280x720)\n"
		"  --trace PATH      also write a Chrome trace-event JSON of the run (off by\n"
		"                    default: tracing adds to the costs being measured)\n"
		"  --no-trace        no trace file (the default)\n"
		"  --svg PATH        SVG timeline of ten frames per mode (default " DEFAULT_SVG ")\n"
		"  --no-svg          no SVG\n"
		"  --json PATH       the results as JSON\n"
		"  --timeout-ms N    fail if any single wait exceeds N ms (default 20000)\n"
		"  -h, --help        this text\n"
		"Exit status: 0 when every check passed, 1 when a check failed, 2 on misuse.\n"
		"DMASYNC_TRACE=PATH traces any dmasync program; it takes precedence over --trace.\n");
}

__attribute__((noreturn, format(printf, 1, 2))) static void misuse(const char *fmt, ...)
{
	va_list ap;

	fputs("dmasync-present: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs("\n(try --help)\n", stderr);
	exit(2);
}

static double parse_double(const char *opt, const char *s, double min, double max)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || *end || !(v >= min && v <= max))
		misuse("%s: '%s' is not a number in [%g, %g]", opt, s, min, max);
	return v;
}

static long parse_long(const char *opt, const char *s, long min, long max)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < min || v > max)
		misuse("%s: '%s' is not an integer in [%ld, %ld]", opt, s, min, max);
	return v;
}

static void parse_modes(struct config *cfg, const char *arg, bool *any)
{
	char *copy = strdup(arg), *save = NULL;

	if (!copy)
		die("out of memory");
	for (char *m = strtok_r(copy, ",", &save); m; m = strtok_r(NULL, ",", &save)) {
		int found = -1;

		if (!strcmp(m, "all")) {
			for (int i = 0; i < MODE_COUNT; i++)
				cfg->run[i] = true;
			*any = true;
			continue;
		}
		for (int i = 0; i < MODE_COUNT; i++)
			if (!strcmp(m, mode_names[i]))
				found = i;
		if (found < 0)
			misuse("--mode: unknown mode '%s' (sync-file, dummy-submit, implicit-wait, "
			       "no-sync, all)", m);
		cfg->run[found] = true;
		*any = true;
	}
	free(copy);
	if (!*any)
		misuse("--mode: no mode given");
}

static FILE *open_output(const char *opt, const char *path)
{
	FILE *f = fopen(path, "we");

	if (!f)
		misuse("%s: cannot write '%s': %s", opt, path, strerror(errno));
	return f;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "mode", required_argument, NULL, 'm' },
		{ "frames", required_argument, NULL, 'f' },
		{ "refresh-ms", required_argument, NULL, 'r' },
		{ "client-ms", required_argument, NULL, 'c' },
		{ "size", required_argument, NULL, 's' },
		{ "trace", required_argument, NULL, 't' },
		{ "no-trace", no_argument, NULL, 'T' },
		{ "svg", required_argument, NULL, 'g' },
		{ "no-svg", no_argument, NULL, 'G' },
		{ "json", required_argument, NULL, 'j' },
		{ "timeout-ms", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct config cfg = {
		.frames = 240,
		.refresh_ms = 8,
		.client_ms = 2,
		.width = 1280,
		.height = 720,
		.svg_path = DEFAULT_SVG,
		.timeout_ms = 20000,
	};
	struct mode_result res[MODE_COUNT];
	bool any_mode = false, trace_started = false;
	int c, failures, nres = 0;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'm':
			parse_modes(&cfg, optarg, &any_mode);
			break;
		case 'f':
			cfg.frames = (unsigned int)parse_long("--frames", optarg, 1, 100000);
			break;
		case 'r':
			cfg.refresh_ms = parse_double("--refresh-ms", optarg, 0.1, 1000);
			break;
		case 'c':
			cfg.client_ms = parse_double("--client-ms", optarg, 0, 1000);
			break;
		case 's': {
			unsigned int w, h;
			char extra;

			if (sscanf(optarg, "%ux%u%c", &w, &h, &extra) != 2 || w < 16 || h < 16 ||
			    w > 4096 || h > 4096)
				misuse("--size: '%s' is not WxH with 16 <= W, H <= 4096", optarg);
			cfg.width = w;
			cfg.height = h;
			break;
		}
		case 't':
			cfg.trace_path = optarg;
			break;
		case 'T':
			cfg.trace_path = NULL;
			break;
		case 'g':
			cfg.svg_path = optarg;
			break;
		case 'G':
			cfg.svg_path = NULL;
			break;
		case 'j':
			cfg.json_path = optarg;
			break;
		case 'o':
			cfg.timeout_ms = parse_long("--timeout-ms", optarg, 1, 3600000);
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc)
		misuse("unexpected argument '%s'", argv[optind]);
	if (!any_mode)
		for (int i = 0; i < MODE_COUNT; i++)
			cfg.run[i] = true;

	/* Every output is opened (and so validated) before any work. */
	if (cfg.svg_path)
		cfg.svg = open_output("--svg", cfg.svg_path);
	if (cfg.json_path)
		cfg.json = open_output("--json", cfg.json_path);
	if (cfg.trace_path) {
		if (dmasync_trace_enabled()) {
			fprintf(stderr, "dmasync-present: DMASYNC_TRACE is set; it, not --trace, "
					"receives the trace\n");
			cfg.trace_path = NULL;
		} else {
			int r = dmasync_trace_start(cfg.trace_path);

			if (r)
				misuse("--trace: cannot write '%s': %s", cfg.trace_path, strerror(-r));
			trace_started = true;
		}
	}

	printf("dmasync-present: %u frames per mode, %ux%u, refresh %.2f ms, client CPU %.2f ms/frame\n",
	       cfg.frames, cfg.width, cfg.height, cfg.refresh_ms, cfg.client_ms);
	if (dmasync_trace_enabled())
		printf("(tracing is on: the costs below include its overhead)\n");
	for (int m = 0; m < MODE_COUNT; m++) {
		if (!cfg.run[m])
			continue;
		printf("  running %-14s ...", mode_names[m]);
		fflush(stdout);
		run_mode(&cfg, (enum mode)m, &res[nres]);
		compute_stats(&cfg, &res[nres]);
		printf(" %u frames in %.2f s\n", res[nres].displayed,
		       (double)(res[nres].t_end - res[nres].t_start) / 1e9);
		nres++;
	}
	printf("\n");
	print_table(stdout, res, nres);
	print_claims(stdout, res, nres);
	printf("\n");
	failures = check_results(stdout, res, nres);
	if (!failures)
		printf("checks: passed (synchronized modes: every frame displayed once, in order, "
		       "none torn%s)\n", cfg.run[MODE_NO_SYNC] ? "; no-sync: every frame caught" : "");

	if (cfg.svg) {
		if (write_svg(cfg.svg, &cfg, res, nres) || fclose(cfg.svg))
			die("writing %s failed", cfg.svg_path);
		printf("timeline: %s\n", cfg.svg_path);
	}
	if (cfg.json) {
		if (write_json(cfg.json, &cfg, res, nres) || fclose(cfg.json))
			die("writing %s failed", cfg.json_path);
		printf("results:  %s\n", cfg.json_path);
	}
	if (trace_started) {
		int r = dmasync_trace_stop();

		if (r)
			die("writing the trace %s: %s", cfg.trace_path, strerror(-r));
		printf("trace:    %s (open in https://ui.perfetto.dev or chrome://tracing)\n",
		       cfg.trace_path);
	}
	for (int i = 0; i < nres; i++)
		mode_result_free(&res[i]);
	return failures ? 1 : 0;
}
