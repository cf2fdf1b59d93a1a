/* SPDX-License-Identifier: MIT */
/*
 * dmasync-present: runs the seed's scenario for real and reports on it.
 *
 * For each GPU back-end and mode it starts two processes, present-compositor
 * (a Wayland compositor) and present-client (the renderer), on a fresh
 * Wayland socket, waits for both, and reads the records each wrote.  Then
 * it prints a table per back-end, the verdicts on the seed's two claims
 * computed from the numbers, and checks the frames' integrity; writes the
 * results as JSON, an SVG timeline (one lane per process or thread, same
 * time scale in every panel) and one Chrome/Perfetto trace of the whole run
 * merged from every process's own trace events (each process its own track
 * group; fences followed across processes by their sync file's name, which
 * carries the fence's context and seqno).
 *
 * It uses no dmasync call either: run it under `dmasync run` for dmasync,
 * or directly on a kernel that has sw_sync and udmabuf.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "report.h"

struct files {
	char comp_rec[PATH_MAX], comp_trace[PATH_MAX], comp_log[PATH_MAX];
	char client_rec[PATH_MAX], client_trace[PATH_MAX], client_log[PATH_MAX];
};

static char exe_dir[PATH_MAX];
static char sock_dir[64];

static void find_programs(void)
{
	ssize_t n = readlink("/proc/self/exe", exe_dir, sizeof(exe_dir) - 1);

	if (n < 0)
		die("readlink /proc/self/exe: %s", strerror(errno));
	exe_dir[n] = '\0';
	dirname(exe_dir);
}

static int listen_at(const char *path)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		die("socket: %s", strerror(errno));
	if (snprintf(a.sun_path, sizeof(a.sun_path), "%s", path) >= (int)sizeof(a.sun_path))
		die("socket path too long: %s", path);
	unlink(path);
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(fd, 8) < 0)
		die("listen on %s: %s", path, strerror(errno));
	return fd;
}

/* Start @argv with its stderr in @log. */
static pid_t spawn(char *const argv[], int keep_fd, const char *wayland_display, const char *log)
{
	pid_t pid = fork();
	int fd;

	if (pid < 0)
		die("fork: %s", strerror(errno));
	if (pid)
		return pid;
	fd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd >= 0)
		dup2(fd, STDERR_FILENO);
	if (keep_fd >= 0) {
		int flags = fcntl(keep_fd, F_GETFD);

		fcntl(keep_fd, F_SETFD, flags & ~FD_CLOEXEC);
	}
	if (wayland_display)
		setenv("WAYLAND_DISPLAY", wayland_display, 1);
	execv(argv[0], argv);
	fprintf(stderr, "dmasync-present: exec %s: %s\n", argv[0], strerror(errno));
	_exit(127);
}

/**
 * reap() - wait for the compositor and the client of one run.
 * @comp: the compositor's pid
 * @client: the client's pid
 * @comp_status: its exit status (128 + signal if killed)
 * @client_status: the client's
 * @timeout_ms: after this, SIGKILL what is left
 */
static void reap(pid_t comp, pid_t client, int *comp_status, int *client_status, long timeout_ms)
{
	int64_t end = now_ns() + (int64_t)timeout_ms * 1000000;
	int left = 2;

	*comp_status = *client_status = -1;
	while (left) {
		int st;
		pid_t p = waitpid(-1, &st, WNOHANG);

		if (p == comp || p == client) {
			int code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);

			*(p == comp ? comp_status : client_status) = code;
			left--;
			continue;
		}
		if (p < 0 && errno != EINTR)
			break;
		if (now_ns() > end) {
			fprintf(stderr, "dmasync-present: run took over %ld ms: killing it\n",
				timeout_ms);
			if (*comp_status < 0)
				kill(comp, SIGKILL);
			if (*client_status < 0)
				kill(client, SIGKILL);
			end = INT64_MAX;
		}
		usleep(5000);
	}
}

static struct frame_stat *fs_at(struct mode_result *r, uint32_t n)
{
	return n < r->frames ? &r->fs[n] : NULL;
}

/**
 * read_records() - read one process's records into a run's results.
 * @r: the run
 * @path: the records ("S" spans, "C" client frames, "G"/"N" GPU jobs,
 *        "Q" queue totals, "D" displayed frames, "K" compositor totals)
 *
 * Frames are matched by number; only the compositor's first client counts.
 */
static void read_records(struct mode_result *r, const char *path)
{
	FILE *f = fopen(path, "re");
	char line[512];

	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		long long a[8] = { 0 };
		unsigned int u[3] = { 0 };
		struct frame_stat *fs;
		int k, v;

		switch (line[0]) {
		case 'S':
			if (sscanf(line + 1, "%d %u %lld %lld", &k, &u[0], &a[0], &a[1]) != 4 ||
			    k < 0 || k >= SPAN_KIND_COUNT)
				break;
			span_add(&r->log[span_actor[k]], k, u[0], a[0], a[1]);
			fs = fs_at(r, u[0]);
			if (fs && k == SPAN_SUBMIT) {
				fs->submit_t0 = a[0];
				fs->submit_t1 = a[1];
			}
			if (fs && k == SPAN_COMPOSITE && !fs->composite_t0)
				fs->composite_t0 = a[0];
			break;
		case 'C':
			if (sscanf(line + 1, "%u %lld %lld %lld %lld %lld %lld %lld %u", &u[0], &a[0],
				   &a[1], &a[2], &a[3], &a[4], &a[5], &a[6], &u[1]) != 9)
				break;
			fs = fs_at(r, u[0]);
			if (!fs)
				break;
			fs->presented = true;
			fs->t_present = a[0];
			fs->present_ns = a[1];
			fs->present_cpu_ns = a[2];
			fs->attach_cpu_ns = a[3];
			fs->acq_buffer_ns = a[4];
			fs->acq_t0 = a[5];
			fs->acq_t1 = a[6];
			fs->buffer = (uint8_t)u[1];
			break;
		case 'G':
			if (sscanf(line + 1, "%u %lld %lld %lld", &u[0], &a[0], &a[1], &a[2]) != 4)
				break;
			fs = fs_at(r, u[0]);
			if (fs) {
				fs->render_t0 = a[0];
				fs->render_t1 = a[1];
				fs->queue_overhead_ns += a[2];
			}
			break;
		case 'N':
			if (sscanf(line + 1, "%u %lld %lld", &u[0], &a[0], &a[1]) != 3)
				break;
			fs = fs_at(r, u[0]);
			if (fs) {
				fs->noop_cpu_ns = a[0];
				fs->queue_overhead_ns += a[0];
				fs->t_noop_end = a[1];
			}
			break;
		case 'Q':
			if (sscanf(line + 1, "%u %lld %lld %lld", &u[0], &a[0], &a[1], &a[2]) == 4) {
				r->queue_jobs = u[0];
				r->queue_busy_ns = a[0];
				r->queue_first = a[1];
				r->queue_last = a[2];
			}
			break;
		case 'D':
			if (sscanf(line + 1, "%u %u %lld %lld %lld %d", &u[2], &u[0], &a[0], &a[1],
				   &a[2], &v) != 6 || u[2] != 0)
				break;
			fs = fs_at(r, u[0]);
			if (!fs)
				break;
			fs->t_commit = a[0];
			fs->t_ready = a[1];
			if (!fs->shown++)
				fs->t_display = a[2];
			fs->verdict = (uint8_t)v;
			r->display_order[r->displayed++ % r->frames] = u[0];
			break;
		case 'K':
			if (sscanf(line + 1, "%u %u %u %u %u", &u[0], &r->repeats, &r->missed,
				   &r->dropped, &r->failed) != 5)
				break;
			break;
		default:
			break;
		}
	}
	fclose(f);
}

/**
 * run_one() - one back-end and mode: a compositor and a client process.
 * @cfg: the run's configuration
 * @be: GPU back-end
 * @m: mode
 * @r: results, filled here
 * @fl: the two processes' record, trace and log files
 * @index: run number (names the Wayland socket)
 */
static void run_one(const struct config *cfg, enum backend be, enum mode m, struct mode_result *r,
		    const struct files *fl, int index)
{
	char comp_exe[PATH_MAX], client_exe[PATH_MAX], sock[128], refresh[32], timeout[32];
	char lfd[16], frames[16], size[32], cms[32], gms[32], passes[16], hold[32];
	char comp_name[96], client_name[96];
	int listen_fd, cs, ks;
	pid_t comp, client;
	int64_t t0;

	if (snprintf(comp_exe, sizeof(comp_exe), "%s/present-compositor", exe_dir) >=
		    (int)sizeof(comp_exe) ||
	    snprintf(client_exe, sizeof(client_exe), "%s/present-client", exe_dir) >=
		    (int)sizeof(client_exe))
		die("path too long: %s", exe_dir);
	snprintf(sock, sizeof(sock), "%s/wayland-%d", sock_dir, index);
	snprintf(refresh, sizeof(refresh), "%g", cfg->refresh_ms);
	snprintf(timeout, sizeof(timeout), "%ld", cfg->timeout_ms);
	snprintf(frames, sizeof(frames), "%u", cfg->frames);
	snprintf(size, sizeof(size), "%ux%u", cfg->width, cfg->height);
	snprintf(cms, sizeof(cms), "%g", cfg->client_ms);
	snprintf(gms, sizeof(gms), "%g", cfg->gpu_ms);
	snprintf(passes, sizeof(passes), "%u", cfg->vk_passes);
	snprintf(hold, sizeof(hold), "%g", cfg->hold_ms);
	snprintf(comp_name, sizeof(comp_name), "present-compositor [%s, %s]", backend_names[be],
		 mode_names[m]);
	snprintf(client_name, sizeof(client_name), "present-client [%s, %s]", backend_names[be],
		 mode_names[m]);

	memset(r, 0, sizeof(*r));
	r->backend = be;
	r->mode = m;
	r->frames = cfg->frames;
	r->fs = calloc(cfg->frames, sizeof(*r->fs));
	r->display_order = calloc(cfg->frames, sizeof(*r->display_order));
	if (!r->fs || !r->display_order)
		die("out of memory");

	listen_fd = listen_at(sock);
	snprintf(lfd, sizeof(lfd), "%d", listen_fd);
	{
		char *argv[] = { comp_exe, "--listen-fd", lfd, "--refresh-ms", refresh,
				 "--timeout-ms", timeout, "--records", (char *)fl->comp_rec,
				 "--implicit", (char *)cfg->implicit, "--name", comp_name,
				 cfg->trace ? "--trace" : NULL, (char *)fl->comp_trace, NULL };

		t0 = now_ns();
		comp = spawn(argv, listen_fd, NULL, fl->comp_log);
	}
	close(listen_fd);
	{
		char *argv[] = { client_exe, "--mode", (char *)mode_names[m], "--backend",
				 (char *)backend_names[be], "--frames", frames, "--size", size,
				 "--client-ms", cms, "--gpu-ms", gms, "--vk-passes", passes,
				 "--hold-ms", hold, "--alloc", (char *)cfg->alloc, "--timeout-ms",
				 timeout, "--records", (char *)fl->client_rec, "--name", client_name,
				 cfg->trace ? "--trace" : NULL, (char *)fl->client_trace, NULL };

		client = spawn(argv, -1, sock, fl->client_log);
	}
	reap(comp, client, &ks, &cs,
	     (long)(cfg->frames * cfg->refresh_ms * 4) + 2 * cfg->timeout_ms);
	unlink(sock);
	r->wall_s = (double)(now_ns() - t0) / 1e9;
	r->ran = true;
	r->client_pid = client;
	r->compositor_pid = comp;
	r->client_status = cs;
	r->compositor_status = ks;
	r->client_ok = cs == 0;
	r->compositor_ok = ks == 0;
	read_records(r, fl->client_rec);
	read_records(r, fl->comp_rec);
	compute_stats(r);
}

/* A failed process's last words. */
static void show_log(const char *what, const char *path)
{
	FILE *f = fopen(path, "re");
	char line[512];

	if (!f)
		return;
	printf("    %s's stderr (%s):\n", what, path);
	while (fgets(line, sizeof(line), f))
		printf("      %s", line);
	fclose(f);
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: dmasync-present [options]\n"
		"Runs present-compositor and present-client as two processes per GPU back-end\n"
		"and mode; under dmasync: `dmasync run -- dmasync-present`.\n"
		"  --modes LIST      comma-separated: sync-file,dummy-submit,implicit-wait,no-sync,\n"
		"                    explicit-protocol (default: all)\n"
		"  --backends LIST   simulated,lavapipe (default: both)\n"
		"  --frames N        frames per run (default 200)\n"
		"  --refresh-ms X    the compositor's refresh interval (default 8)\n"
		"  --client-ms X     client CPU work per frame (default 1)\n"
		"  --gpu-ms X        simulated GPU: render time per frame (default 3)\n"
		"  --vk-passes N     lavapipe: copies per frame (default 16)\n"
		"  --hold-ms X       no-sync: simulated GPU stall half-way (default 2 refreshes)\n"
		"  --size WxH        frame size (default 640x360)\n"
		"  --implicit M      compositor's implicit wait: export (default) or poll\n"
		"  --alloc A         simulated buffers: udmabuf (default) or heap\n"
		"  --out-dir DIR     where the results go (default present-out)\n"
		"  --no-trace        no trace files\n"
		"  --json-stdout     also print the JSON results on stdout, on one line after\n"
		"                    \"RESULTS-JSON: \" (for scripts/present-on-linux)\n"
		"  --timeout-ms T    a process waiting longer than this fails (default 10000)\n");
}

static void parse_list(const char *arg, bool *set, int n, int (*lookup)(const char *),
		       const char *what)
{
	char *copy = strdup(arg), *save = NULL, *tok;

	if (!copy)
		die("out of memory");
	memset(set, 0, (size_t)n * sizeof(*set));
	for (tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		int i = lookup(tok);

		if (i < 0)
			die("unknown %s '%s'", what, tok);
		set[i] = true;
	}
	free(copy);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "modes", required_argument, NULL, 'm' },
		{ "backends", required_argument, NULL, 'b' },
		{ "frames", required_argument, NULL, 'f' },
		{ "refresh-ms", required_argument, NULL, 'r' },
		{ "client-ms", required_argument, NULL, 'c' },
		{ "gpu-ms", required_argument, NULL, 'g' },
		{ "vk-passes", required_argument, NULL, 'p' },
		{ "hold-ms", required_argument, NULL, 'H' },
		{ "size", required_argument, NULL, 's' },
		{ "implicit", required_argument, NULL, 'i' },
		{ "alloc", required_argument, NULL, 'a' },
		{ "out-dir", required_argument, NULL, 'o' },
		{ "no-trace", no_argument, NULL, 'n' },
		{ "json-stdout", no_argument, NULL, 'j' },
		{ "timeout-ms", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct config cfg = {
		.frames = 200, .refresh_ms = 8, .client_ms = 1, .gpu_ms = 3, .hold_ms = -1,
		.width = 640, .height = 360, .vk_passes = 16, .out_dir = "present-out",
		.implicit = "export", .alloc = "udmabuf", .timeout_ms = 10000, .trace = true,
	};
	struct mode_result res[BACKEND_COUNT * MODE_COUNT];
	char path[PATH_MAX];
	int opt, nres = 0, failures;
	bool first = true, json_stdout = false;
	FILE *f;

	set_prog_name("dmasync-present");
	for (int i = 0; i < MODE_COUNT; i++)
		cfg.run_mode[i] = true;
	for (int i = 0; i < BACKEND_COUNT; i++)
		cfg.run_backend[i] = true;
	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (opt) {
		case 'm':
			parse_list(optarg, cfg.run_mode, MODE_COUNT, mode_from_name, "mode");
			break;
		case 'b':
			parse_list(optarg, cfg.run_backend, BACKEND_COUNT, backend_from_name,
				   "back-end");
			break;
		case 'f':
			cfg.frames = (unsigned int)atoi(optarg);
			break;
		case 'r':
			cfg.refresh_ms = atof(optarg);
			break;
		case 'c':
			cfg.client_ms = atof(optarg);
			break;
		case 'g':
			cfg.gpu_ms = atof(optarg);
			break;
		case 'p':
			cfg.vk_passes = (unsigned int)atoi(optarg);
			break;
		case 'H':
			cfg.hold_ms = atof(optarg);
			break;
		case 's':
			if (sscanf(optarg, "%ux%u", &cfg.width, &cfg.height) != 2)
				die("--size: WxH");
			break;
		case 'i':
			cfg.implicit = optarg;
			break;
		case 'a':
			cfg.alloc = optarg;
			break;
		case 'o':
			cfg.out_dir = optarg;
			break;
		case 'n':
			cfg.trace = false;
			break;
		case 'j':
			json_stdout = true;
			break;
		case 't':
			cfg.timeout_ms = atol(optarg);
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (cfg.frames < 2 || cfg.refresh_ms <= 0) {
		usage(stderr);
		return 2;
	}
	if (cfg.hold_ms < 0)
		cfg.hold_ms = 2 * cfg.refresh_ms;
	signal(SIGPIPE, SIG_IGN);
	find_programs();
	if (mkdir(cfg.out_dir, 0755) < 0 && errno != EEXIST)
		die("mkdir %s: %s", cfg.out_dir, strerror(errno));
	snprintf(sock_dir, sizeof(sock_dir), "/tmp/present-XXXXXX");
	if (!mkdtemp(sock_dir))
		die("mkdtemp: %s", strerror(errno));

	printf("dmasync-present: %u frames per run, %ux%u, refresh %.2f ms, client CPU %.2f ms/frame,\n"
	       "simulated GPU %.2f ms/frame, lavapipe %u copies/frame; compositor and client are\n"
	       "separate processes (pids in the JSON results)\n",
	       cfg.frames, cfg.width, cfg.height, cfg.refresh_ms, cfg.client_ms, cfg.gpu_ms,
	       cfg.vk_passes);
	for (int be = 0; be < BACKEND_COUNT; be++) {
		if (!cfg.run_backend[be])
			continue;
		for (int m = 0; m < MODE_COUNT; m++) {
			struct files fl;
			const char *d = cfg.out_dir, *b = backend_names[be], *mn = mode_names[m];

			if (!cfg.run_mode[m])
				continue;
			snprintf(fl.comp_rec, sizeof(fl.comp_rec), "%s/%s-%s.compositor.rec", d, b, mn);
			snprintf(fl.comp_trace, sizeof(fl.comp_trace), "%s/%s-%s.compositor.trace", d,
				 b, mn);
			snprintf(fl.client_rec, sizeof(fl.client_rec), "%s/%s-%s.client.rec", d, b, mn);
			snprintf(fl.client_trace, sizeof(fl.client_trace), "%s/%s-%s.client.trace", d,
				 b, mn);
			snprintf(fl.comp_log, sizeof(fl.comp_log), "%s/%s-%s.compositor.log", d, b, mn);
			snprintf(fl.client_log, sizeof(fl.client_log), "%s/%s-%s.client.log", d, b, mn);
			printf("  %-9s %-17s ...", b, mn);
			fflush(stdout);
			run_one(&cfg, be, m, &res[nres], &fl, nres);
			printf(" %u frames shown in %.2f s%s\n", res[nres].displayed, res[nres].wall_s,
			       res[nres].client_ok && res[nres].compositor_ok ? "" : " (FAILED)");
			if (!res[nres].client_ok)
				show_log("client", fl.client_log);
			if (!res[nres].compositor_ok)
				show_log("compositor", fl.comp_log);
			nres++;
		}
	}
	rmdir(sock_dir);

	for (int be = 0; be < BACKEND_COUNT; be++)
		if (cfg.run_backend[be])
			print_table(stdout, res, nres, be);
	for (int be = 0; be < BACKEND_COUNT; be++)
		if (cfg.run_backend[be])
			print_claims(stdout, res, nres, be);
	printf("\n");
	failures = check_results(stdout, res, nres);

	snprintf(path, sizeof(path), "%s/results.json", cfg.out_dir);
	f = fopen(path, "we");
	if (!f || write_json(f, &cfg, res, nres) < 0 || fclose(f))
		die("writing %s failed", path);
	printf("results:  %s\n", path);
	if (json_stdout) {
		printf("RESULTS-JSON: ");
		write_json(stdout, &cfg, res, nres);
	}
	snprintf(path, sizeof(path), "%s/timeline.svg", cfg.out_dir);
	f = fopen(path, "we");
	if (!f || write_svg(f, &cfg, res, nres) < 0 || fclose(f))
		die("writing %s failed", path);
	printf("timeline: %s\n", path);
	if (cfg.trace) {
		snprintf(path, sizeof(path), "%s/trace.json", cfg.out_dir);
		f = fopen(path, "we");
		if (!f)
			die("cannot write %s: %s", path, strerror(errno));
		fprintf(f, "{\"displayTimeUnit\":\"ms\",\"traceEvents\":[\n");
		fprintf(f, "{\"ph\":\"M\",\"name\":\"process_name\",\"pid\":%d,\"tid\":%d,"
			   "\"args\":{\"name\":\"dmasync-present (driver)\"}}", getpid(), getpid());
		first = false;
		for (int i = 0; i < nres; i++) {
			const char *d = cfg.out_dir, *b = backend_names[res[i].backend];
			const char *mn = mode_names[res[i].mode];
			char p[PATH_MAX];

			snprintf(p, sizeof(p), "%s/%s-%s.compositor.trace", d, b, mn);
			merge_trace(f, p, &first);
			snprintf(p, sizeof(p), "%s/%s-%s.client.trace", d, b, mn);
			merge_trace(f, p, &first);
		}
		fprintf(f, "\n]}\n");
		if (fclose(f))
			die("writing %s failed", path);
		printf("trace:    %s (open in https://ui.perfetto.dev or chrome://tracing)\n", path);
	}
	for (int i = 0; i < nres; i++)
		mode_result_free(&res[i]);
	if (failures)
		printf("%d check(s) FAILED\n", failures);
	return failures ? 1 : 0;
}
