/* SPDX-License-Identifier: MIT */
/*
 * present-unit-test: the helpers of common.c and report.c that the
 * programs' runs do not reach on their own (edge cases), TAP.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "report.h"

static int tests, failed;

static void ok(bool cond, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void ok(bool cond, const char *fmt, ...)
{
	va_list ap;

	printf("%s %d - ", cond ? "ok" : "not ok", ++tests);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
	failed += !cond;
}

static void hung(int sig)
{
	static const char msg[] = "not ok - a test hung (SIGALRM after 10 s)\n";

	(void)sig;
	if (write(STDOUT_FILENO, msg, sizeof(msg) - 1) < 0)
		_exit(2);
	_exit(1);
}

/* wait_fd(): its result and how long it took, in ms. */
static int timed_wait(int fd, short events, int hup_fd, long timeout_ms, double *ms)
{
	int64_t t0 = now_ns();
	int r = wait_fd(fd, events, hup_fd, timeout_ms);

	*ms = (double)(now_ns() - t0) / 1e6;
	return r;
}

static void test_wait_fd(void)
{
	int p[2], q[2], closed;
	double ms;
	int r;

	if (pipe2(p, O_CLOEXEC) < 0 || pipe2(q, O_CLOEXEC) < 0)
		abort();
	closed = dup(p[0]);
	close(closed);

	r = timed_wait(p[0], POLLIN, q[0], 50, &ms);
	ok(r == -ETIMEDOUT && ms >= 49, "wait_fd: nothing to read: -ETIMEDOUT after the timeout "
	   "(%d after %.1f ms)", r, ms);
	r = timed_wait(p[0], POLLIN, closed, 2000, &ms);
	ok(r == -EBADF && ms < 1000, "wait_fd: the hang-up fd is not open: -EBADF at once "
	   "(%d after %.1f ms)", r, ms);
	r = timed_wait(closed, POLLIN, -1, 2000, &ms);
	ok(r == -EBADF && ms < 1000, "wait_fd: the fd is not open: -EBADF at once (%d after %.1f ms)",
	   r, ms);
	close(q[1]);
	r = timed_wait(p[0], POLLIN, q[0], 2000, &ms);
	ok(r == -ECONNRESET && ms < 1000, "wait_fd: the hang-up fd hung up: -ECONNRESET "
	   "(%d after %.1f ms)", r, ms);
	if (write(p[1], "x", 1) != 1)
		abort();
	r = timed_wait(p[0], POLLIN, -1, 2000, &ms);
	ok(r == 0 && ms < 1000, "wait_fd: readable: 0 (%d after %.1f ms)", r, ms);
	close(p[0]);
	close(p[1]);
	close(q[0]);
}

/* The SVG of a run without a single span (its client exited at once). */
static void test_svg_empty_run(void)
{
	struct config cfg = { .frames = 20, .refresh_ms = 8, .width = 64, .height = 16 };
	struct mode_result r = { .backend = BACKEND_SIM, .mode = MODE_SYNC_FILE, .ran = true,
				 .frames = 20 };
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	int err;

	r.fs = calloc(r.frames, sizeof(*r.fs));
	r.display_order = calloc(r.frames, sizeof(*r.display_order));
	if (!f || !r.fs || !r.display_order)
		abort();
	err = write_svg(f, &cfg, &r, 1);
	fclose(f);
	ok(!err && len > 0 && strstr(buf, "</svg>") && !strstr(buf, "nan") && !strstr(buf, "inf"),
	   "write_svg: a run without spans draws an empty panel (%zu bytes)", len);
	free(buf);
	free(r.fs);
	free(r.display_order);
}

/*
 * A process killed while writing its trace: a child writes spans until
 * SIGKILL, with the trace's stdio buffer cut wherever the kill falls.  It
 * says when some 64 KiB are out, so that the file is never empty.
 */
static void write_killed_trace(const char *path)
{
	int p[2];
	pid_t pid;
	char c;

	if (pipe2(p, O_CLOEXEC) < 0)
		abort();
	pid = fork();
	if (pid < 0)
		abort();
	if (!pid) {
		bool said = false;

		if (out_open(NULL, path, "killed \"process\"") < 0)
			_exit(1);
		for (uint32_t n = 0;; n++) {
			out_span(SPAN_RENDER, n, n * 1000, n * 1000 + 500);
			if (!said && ftell(out.trace) > 65536)
				said = write(p[1], "w", 1) == 1;
		}
	}
	close(p[1]);
	if (read(p[0], &c, 1) != 1)
		abort();
	close(p[0]);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

/* Is @s one JSON object (strings and nesting balanced, nothing after)? */
static bool json_object(const char *s, size_t len)
{
	int depth = 0;
	bool str = false;

	if (!len || s[0] != '{')
		return false;
	for (size_t i = 0; i < len; i++) {
		if (str) {
			if (s[i] == '\\')
				i++;
			else if (s[i] == '"')
				str = false;
			continue;
		}
		if (s[i] == '"')
			str = true;
		else if (s[i] == '{' || s[i] == '[')
			depth++;
		else if ((s[i] == '}' || s[i] == ']') && --depth == 0)
			return i == len - 1;
	}
	return false;
}

static void test_merge_killed_trace(void)
{
	char path[] = "/tmp/present-unit-XXXXXX", *buf = NULL, *line, *save = NULL;
	size_t len = 0, lines = 0, bad = 0;
	bool first = true, whole;
	struct stat st;
	FILE *f;
	int fd = mkstemp(path);

	if (fd < 0)
		abort();
	close(fd);
	write_killed_trace(path);
	stat(path, &st);
	f = open_memstream(&buf, &len);
	if (!f)
		abort();
	merge_trace(f, path, &first);
	fclose(f);
	unlink(path);
	for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		size_t l = strlen(line);

		if (l && line[l - 1] == ',')
			l--;
		lines++;
		bad += !json_object(line, l);
	}
	whole = st.st_size > 0 && lines > 0 && !bad;
	ok(whole, "merge_trace: a killed process's trace (%lld bytes) merges as whole JSON objects "
	   "(%zu events, %zu not)", (long long)st.st_size, lines, bad);
	free(buf);
}

/* The flow id out_flow() writes for (@pid, @frame). */
static unsigned long long flow_id(int pid, uint32_t frame)
{
	struct fence_id id = { .name = "x" };
	char *buf = NULL, *p;
	size_t len = 0;
	unsigned long long v = 0;

	out.trace = open_memstream(&buf, &len);
	if (!out.trace)
		abort();
	out_flow(&id, pid, frame, true, 0, "attach");
	fclose(out.trace);
	out.trace = NULL;
	p = strstr(buf, "\"id\":");
	if (p)
		v = strtoull(p + 5, NULL, 10);
	free(buf);
	return v;
}

static void test_flow_ids(void)
{
	const int pid_max = 4194304;	/* PID_MAX_LIMIT: pids are below */
	unsigned long long a = flow_id(pid_max - 1, 0x7fffffff), b = flow_id(pid_max - 1, 7),
			   c = flow_id(pid_max - 2, 7), d = flow_id(pid_max - 1, 8);

	ok(a < (1ull << 53) && b != c && b != d && c != d,
	   "out_flow: flow ids exact as doubles (largest %llu < 2^53) and distinct per pid and frame",
	   a);
}

int main(void)
{
	signal(SIGALRM, hung);
	alarm(10);
	test_wait_fd();
	test_svg_empty_run();
	test_merge_killed_trace();
	test_flow_ids();
	printf("1..%d\n", tests);
	return failed ? 1 : 0;
}
