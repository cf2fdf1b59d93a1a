/* SPDX-License-Identifier: MIT */
/*
 * Tests for the tracing in trace.c and its hooks in dma-fence.c: sessions,
 * the dma_fence tracepoints, spans, fence tracks, the written JSON (checked
 * by a small JSON parser here), concurrency, fork and DMASYNC_TRACE.
 */
#include <ctype.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <dmasync/dma-fence.h>
#include <dmasync/trace.h>
#include "test-harness.h"

/* ---- helpers -------------------------------------------------------------- */

static DEFINE_SPINLOCK(lock);
static const char *drv_name(struct dma_fence *f) { return "trace-test"; }
static const char *tl_name(struct dma_fence *f) { return "tl \"quoted\"\\"; }
static bool enable_sig(struct dma_fence *f) { return true; }
static const struct dma_fence_ops ops = {
	.get_driver_name = drv_name,
	.get_timeline_name = tl_name,
	.enable_signaling = enable_sig,
};

static struct dma_fence *fence_new(u64 ctx, u64 seqno)
{
	struct dma_fence *f = malloc(sizeof(*f));

	dma_fence_init(f, &ops, &lock, ctx, seqno);
	return f;
}

static char path[256];

static void tmp_path(const char *tag)
{
	snprintf(path, sizeof(path), "/tmp/dmasync-trace-test-%d-%s.json", (int)getpid(), tag);
}

static char *slurp(const char *p)
{
	FILE *f = fopen(p, "r");
	char *buf;
	long n;

	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = malloc((size_t)n + 1);
	if (fread(buf, 1, (size_t)n, f) != (size_t)n)
		n = 0;
	buf[n] = 0;
	fclose(f);
	return buf;
}

/* Occurrences of @needle (hand-rolled: sanitizers make strstr O(n) per call). */
static int count(const char *hay, const char *needle)
{
	size_t len = strlen(needle);
	int n = 0;

	for (const char *p = hay; *p; p++) {
		if (*p == *needle && !strncmp(p, needle, len)) {
			n++;
			p += len - 1;
		}
	}
	return n;
}

/* A strict little JSON syntax checker: true if @s is one JSON value. */
static const char *js_ws(const char *s)
{
	while (*s == ' ' || *s == '\n' || *s == '\r' || *s == '\t')
		s++;
	return s;
}

static const char *js_value(const char *s, int depth);

static const char *js_string(const char *s)
{
	if (*s++ != '"')
		return NULL;
	while (*s != '"') {
		if ((unsigned char)*s < 0x20)
			return NULL;
		if (*s == '\\') {
			s++;
			if (*s == 'u') {
				for (int i = 1; i <= 4; i++)
					if (!isxdigit((unsigned char)s[i]))
						return NULL;
				s += 4;
			} else if (!strchr("\"\\/bfnrt", *s)) {
				return NULL;
			}
		}
		s++;
	}
	return s + 1;
}

static const char *js_number(const char *s)
{
	const char *start = s;

	if (*s == '-')
		s++;
	if (!isdigit((unsigned char)*s))
		return NULL;
	while (isdigit((unsigned char)*s))
		s++;
	if (*s == '.') {
		s++;
		if (!isdigit((unsigned char)*s))
			return NULL;
		while (isdigit((unsigned char)*s))
			s++;
	}
	return s > start ? s : NULL;
}

static const char *js_value(const char *s, int depth)
{
	s = js_ws(s);
	if (depth > 64)
		return NULL;
	if (*s == '{' || *s == '[') {
		char close = *s == '{' ? '}' : ']';

		s = js_ws(s + 1);
		if (*s == close)
			return s + 1;
		for (;;) {
			if (close == '}') {
				s = js_string(js_ws(s));
				if (!s)
					return NULL;
				s = js_ws(s);
				if (*s++ != ':')
					return NULL;
			}
			s = js_value(s, depth + 1);
			if (!s)
				return NULL;
			s = js_ws(s);
			if (*s == ',') {
				s++;
				continue;
			}
			return *s == close ? s + 1 : NULL;
		}
	}
	if (*s == '"')
		return js_string(s);
	if (!strncmp(s, "true", 4) || !strncmp(s, "null", 4))
		return s + 4;
	if (!strncmp(s, "false", 5))
		return s + 5;
	return js_number(s);
}

static bool json_valid(const char *s)
{
	const char *e = js_value(s, 0);

	return e && !*js_ws(e);
}

/* Stop the session and return the file's text (NULL on failure). */
static char *stop_and_read(void)
{
	char *text;

	if (dmasync_trace_stop())
		return NULL;
	text = slurp(path);
	unlink(path);
	return text;
}

/* ---- tests ------------------------------------------------------------------ */

TEST(off_by_default)
{
	CHECK(!dmasync_trace_enabled());
	CHECK_EQ(dmasync_trace_stop(), -EINVAL);
	CHECK_EQ(dmasync_trace_flush(), -EINVAL);
}

TEST(start_errors)
{
	CHECK_EQ(dmasync_trace_start(NULL), -EINVAL);
	CHECK_EQ(dmasync_trace_start(""), -EINVAL);
	CHECK_EQ(dmasync_trace_start("/nonexistent-dir-dmasync/x.json"), -ENOENT);
	CHECK(!dmasync_trace_enabled());

	tmp_path("errors");
	REQUIRE(dmasync_trace_start(path) == 0);
	CHECK(dmasync_trace_enabled());
	CHECK_EQ(dmasync_trace_start(path), -EBUSY);
	free(stop_and_read());
	CHECK(!dmasync_trace_enabled());
	CHECK_EQ(dmasync_trace_stop(), -EINVAL);
}

TEST(start_creates_the_file_at_once)
{
	struct stat st;

	tmp_path("create");
	unlink(path);
	REQUIRE(dmasync_trace_start(path) == 0);
	CHECK(stat(path, &st) == 0);
	free(stop_and_read());
}

struct signaler {
	struct dma_fence *f;
};

static void *signal_later(void *arg)
{
	struct signaler *s = arg;

	usleep(20000);
	dma_fence_signal(s->f);
	return NULL;
}

static void nop_cb(struct dma_fence *f, struct dma_fence_cb *cb) { }

TEST(fence_tracepoints)
{
	u64 ctx = dma_fence_context_alloc(1);
	struct dma_fence *f;
	struct dma_fence_cb cb;
	struct signaler s;
	pthread_t th;
	char *text, want[128];

	tmp_path("fence");
	REQUIRE(dmasync_trace_start(path) == 0);
	dmasync_trace_set_thread_name("main thread");
	f = fence_new(ctx, 7);
	trace_dma_fence_emit(f);
	CHECK_EQ(dma_fence_add_callback(f, &cb, nop_cb), 0);	/* enable_signal */
	s.f = f;
	pthread_create(&th, NULL, signal_later, &s);
	CHECK(dma_fence_wait_timeout(f, false, MAX_SCHEDULE_TIMEOUT) > 0);
	pthread_join(th, NULL);
	dma_fence_put(f);
	text = stop_and_read();
	REQUIRE(text);

	CHECK(json_valid(text));
	snprintf(want, sizeof(want), "\"name\":\"fence ctx %llu: tl \\\"quoted\\\"\\\\\"",
		 (unsigned long long)ctx);
	CHECK(strstr(text, want));
	snprintf(want, sizeof(want), "\"name\":\"%llu:7\"", (unsigned long long)ctx);
	CHECK_EQ(count(text, want), 1);
	CHECK(strstr(text, "\"driver\":\"trace-test\""));
	CHECK(strstr(text, "\"status\":\"signaled\""));
	CHECK(strstr(text, "\"init\":\"traced\",\"end\":\"destroyed\""));
	CHECK_EQ(count(text, "\"name\":\"pending\""), 1);
	CHECK_EQ(count(text, "\"name\":\"emit\""), 1);
	CHECK_EQ(count(text, "\"name\":\"enable_signal\""), 1);
	CHECK_EQ(count(text, "\"name\":\"signaled\""), 1);
	snprintf(want, sizeof(want), "\"ph\":\"B\",\"pid\":%d", (int)getpid());
	CHECK_EQ(count(text, want), 1);
	snprintf(want, sizeof(want), "\"name\":\"dma_fence_wait %llu:7\"", (unsigned long long)ctx);
	CHECK_EQ(count(text, want), 2);	/* B and E */
	CHECK(strstr(text, "\"name\":\"main thread\""));
	CHECK(strstr(text, "\"repaired_records\":0"));
	free(text);
}

TEST(error_status_is_recorded)
{
	struct dma_fence *f;
	char *text;

	tmp_path("error");
	REQUIRE(dmasync_trace_start(path) == 0);
	f = fence_new(dma_fence_context_alloc(1), 1);
	dma_fence_set_error(f, -ETIMEDOUT);
	dma_fence_signal(f);
	dma_fence_put(f);
	text = stop_and_read();
	REQUIRE(text);
	CHECK(json_valid(text));
	CHECK(strstr(text, "\"status\":\"signaled with error -110\""));
	free(text);
}

TEST(released_with_callbacks_closes_inside_lifetime)
{
	struct dma_fence *f;
	struct dma_fence_cb cb;
	char *text;

	EXPECT_WARNINGS();
	tmp_path("deadlk");
	REQUIRE(dmasync_trace_start(path) == 0);
	f = fence_new(dma_fence_context_alloc(1), 1);
	CHECK_EQ(dma_fence_add_callback(f, &cb, nop_cb), 0);
	dma_fence_put(f);	/* destroy, then the -EDEADLK signal */
	text = stop_and_read();
	REQUIRE(text);
	CHECK(json_valid(text));
	CHECK(strstr(text, "\"status\":\"signaled with error -35\""));
	CHECK(strstr(text, "\"end\":\"destroyed\""));
	CHECK(!strstr(text, "before trace start"));
	free(text);
}

TEST(overlapping_lifetimes_get_subtracks)
{
	u64 ctx = dma_fence_context_alloc(1);
	struct dma_fence *a, *b, *c;
	char *text, want[96];

	tmp_path("overlap");
	REQUIRE(dmasync_trace_start(path) == 0);
	a = fence_new(ctx, 1);
	b = fence_new(ctx, 2);	/* alive together with a */
	dma_fence_signal(a);
	dma_fence_signal(b);
	dma_fence_put(a);
	dma_fence_put(b);
	c = fence_new(ctx, 3);	/* after both: back on the first track */
	dma_fence_signal(c);
	dma_fence_put(c);
	text = stop_and_read();
	REQUIRE(text);
	CHECK(json_valid(text));
	snprintf(want, sizeof(want), "fence ctx %llu: ", (unsigned long long)ctx);
	CHECK_EQ(count(text, want), 2);	/* two tracks */
	snprintf(want, sizeof(want), "fence ctx %llu: tl \\\"quoted\\\"\\\\ #2",
		 (unsigned long long)ctx);
	CHECK(strstr(text, want));
	CHECK(!strstr(text, "#3"));
	free(text);
}

TEST(spans_balance_and_repair)
{
	char *text;

	tmp_path("spans");
	dmasync_trace_end();	/* off: nothing */
	REQUIRE(dmasync_trace_start(path) == 0);
	dmasync_trace_end();	/* no begin: dropped */
	dmasync_trace_begin("outer %d", 1);
	dmasync_trace_begin("inner");
	dmasync_trace_instant("tick");
	dmasync_trace_end();
	dmasync_trace_end();
	dmasync_trace_begin("left open");
	dmasync_trace_counter("queue depth", 3);
	dmasync_trace_counter("queue depth", -1);
	text = stop_and_read();
	REQUIRE(text);
	CHECK(json_valid(text));
	CHECK_EQ(count(text, "\"ph\":\"B\""), 3);
	CHECK_EQ(count(text, "\"ph\":\"E\""), 3);
	CHECK_EQ(count(text, "\"name\":\"outer 1\""), 2);
	CHECK_EQ(count(text, "\"name\":\"left open\""), 2);
	CHECK_EQ(count(text, "\"ph\":\"i\""), 1);
	CHECK(strstr(text, "\"args\":{\"value\":-1}"));
	CHECK(strstr(text, "\"repaired_records\":1"));
	free(text);
}

static void *async_ender(void *arg)
{
	dmasync_trace_async_end(42);
	dmasync_trace_async_end(43);	/* never begun: dropped */
	return NULL;
}

TEST(async_spans_cross_threads)
{
	pthread_t th;
	char *text;

	tmp_path("async");
	REQUIRE(dmasync_trace_start(path) == 0);
	dmasync_trace_async_begin(42, "frame %d", 42);
	dmasync_trace_async_begin(42, "duplicate");	/* still open: dropped */
	dmasync_trace_async_begin(44, "never ends");
	pthread_create(&th, NULL, async_ender, NULL);
	pthread_join(th, NULL);
	text = stop_and_read();
	REQUIRE(text);
	CHECK(json_valid(text));
	CHECK_EQ(count(text, "\"ph\":\"b\""), 2);
	CHECK_EQ(count(text, "\"ph\":\"e\""), 2);
	CHECK_EQ(count(text, "\"name\":\"frame 42\""), 2);
	CHECK_EQ(count(text, "\"id\":\"0x2a\""), 2);
	CHECK_EQ(count(text, "\"name\":\"never ends\""), 2);
	CHECK(!strstr(text, "duplicate"));
	CHECK(strstr(text, "\"repaired_records\":2"));
	free(text);
}

TEST(sessions_do_not_mix)
{
	u64 ctx = dma_fence_context_alloc(1);
	struct dma_fence *f;
	char *text, want[64];

	tmp_path("s1");
	REQUIRE(dmasync_trace_start(path) == 0);
	f = fence_new(ctx, 100);
	dma_fence_signal(f);
	dma_fence_put(f);
	free(stop_and_read());

	f = fence_new(ctx, 200);	/* while off */
	dma_fence_signal(f);
	dma_fence_put(f);

	tmp_path("s2");
	REQUIRE(dmasync_trace_start(path) == 0);
	f = fence_new(ctx, 300);
	dma_fence_signal(f);
	dma_fence_put(f);
	text = stop_and_read();
	REQUIRE(text);
	CHECK(json_valid(text));
	snprintf(want, sizeof(want), "\"%llu:100\"", (unsigned long long)ctx);
	CHECK(!strstr(text, want));
	snprintf(want, sizeof(want), "\"%llu:200\"", (unsigned long long)ctx);
	CHECK(!strstr(text, want));
	snprintf(want, sizeof(want), "\"%llu:300\"", (unsigned long long)ctx);
	CHECK(strstr(text, want));
	free(text);
}

TEST(fence_born_before_the_session)
{
	u64 ctx = dma_fence_context_alloc(1);
	struct dma_fence *f = fence_new(ctx, 5);
	char *text;

	tmp_path("before");
	REQUIRE(dmasync_trace_start(path) == 0);
	dma_fence_signal(f);
	dma_fence_put(f);
	text = stop_and_read();
	REQUIRE(text);
	CHECK(json_valid(text));
	CHECK(strstr(text, "\"init\":\"before trace start\""));
	free(text);
}

TEST(flush_keeps_recording)
{
	u64 ctx = dma_fence_context_alloc(1);
	struct dma_fence *f = NULL;
	char *text, want[64];

	tmp_path("flush");
	REQUIRE(dmasync_trace_start(path) == 0);
	dmasync_trace_begin("open across flush");
	f = fence_new(ctx, 1);
	CHECK_EQ(dmasync_trace_flush(), 0);
	text = slurp(path);
	REQUIRE(text);
	CHECK(json_valid(text));
	CHECK(strstr(text, "\"end\":\"alive at end of trace\""));
	CHECK(strstr(text, "\"status\":\"never signaled in trace\""));
	CHECK_EQ(count(text, "\"name\":\"open across flush\""), 2);
	free(text);

	dma_fence_signal(f);
	dma_fence_put(f);
	dmasync_trace_end();
	text = stop_and_read();
	REQUIRE(text);
	CHECK(json_valid(text));
	snprintf(want, sizeof(want), "\"%llu:1\"", (unsigned long long)ctx);
	CHECK_EQ(count(text, want), 1);
	CHECK(strstr(text, "\"end\":\"destroyed\""));
	CHECK_EQ(count(text, "\"name\":\"open across flush\""), 2);
	free(text);
}

struct worker {
	u64 ctx;
	long n;
	int id;
};

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	char name[32];

	snprintf(name, sizeof(name), "worker %d", w->id);
	dmasync_trace_set_thread_name(name);
	for (long i = 0; i < w->n; i++) {
		struct dma_fence *f = fence_new(w->ctx, (u64)i + 1);

		dmasync_trace_begin("job %ld", i);
		trace_dma_fence_emit(f);
		dma_fence_signal(f);
		dma_fence_wait_timeout(f, false, 0);
		dmasync_trace_end();
		dma_fence_put(f);
	}
	return NULL;
}

TEST(concurrent_recording_and_flushes)
{
	enum { THREADS = 4 };
	struct worker w[THREADS];
	pthread_t th[THREADS];
	long n = STRESS(5000);
	char *text;

	tmp_path("stress");
	REQUIRE(dmasync_trace_start(path) == 0);
	for (int i = 0; i < THREADS; i++) {
		w[i] = (struct worker){ .ctx = dma_fence_context_alloc(1), .n = n, .id = i };
		pthread_create(&th[i], NULL, worker_main, &w[i]);
	}
	for (int i = 0; i < 3; i++) {
		usleep(5000);
		CHECK_EQ(dmasync_trace_flush(), 0);
	}
	for (int i = 0; i < THREADS; i++)
		pthread_join(th[i], NULL);
	text = stop_and_read();
	REQUIRE(text);
	CHECK(json_valid(text));
	CHECK_EQ(count(text, "\"name\":\"pending\""), THREADS * n);
	CHECK_EQ(count(text, "\"name\":\"emit\""), THREADS * n);
	CHECK_EQ(count(text, "\"ph\":\"B\""), count(text, "\"ph\":\"E\""));
	CHECK_EQ(count(text, "\"ph\":\"B\""), THREADS * n * 2);	/* job + wait */
	CHECK(strstr(text, "\"name\":\"worker 3\""));
	CHECK(strstr(text, "\"dropped_records\":0"));
	free(text);
}

TEST(forked_child_neither_records_nor_writes)
{
	struct stat st;
	pid_t pid;
	int status;
	char *text;

	tmp_path("fork");
	REQUIRE(dmasync_trace_start(path) == 0);
	pid = fork();
	if (pid == 0) {
		struct dma_fence *f = fence_new(dma_fence_context_alloc(1), 1);

		dma_fence_signal(f);
		dma_fence_put(f);
		exit(dmasync_trace_enabled() ? 1 : 0);	/* atexit: must not write */
	}
	REQUIRE(pid > 0);
	waitpid(pid, &status, 0);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	CHECK(stat(path, &st) == 0 && st.st_size == 0);
	text = stop_and_read();
	REQUIRE(text);
	CHECK(json_valid(text));
	free(text);
}

/* Run by env_var_enables_tracing in a child process with DMASYNC_TRACE set. */
TEST(env_child_helper)
{
	struct dma_fence *f;

	if (!getenv("DMASYNC_TRACE_TEST_CHILD"))
		return;
	CHECK(dmasync_trace_enabled());
	f = fence_new(dma_fence_context_alloc(1), 77);
	dma_fence_signal(f);
	dma_fence_put(f);
}

TEST(env_var_enables_tracing)
{
	pid_t pid;
	int status;
	char *text;

	tmp_path("env");
	unlink(path);
	pid = fork();
	if (pid == 0) {
		int fd = open("/dev/null", O_WRONLY);

		dup2(fd, 1);	/* the child's TAP lines are not ours */
		setenv("DMASYNC_TRACE", path, 1);
		setenv("DMASYNC_TRACE_TEST_CHILD", "1", 1);
		execl("/proc/self/exe", "trace-test", "env_child_helper", (char *)NULL);
		_exit(127);
	}
	REQUIRE(pid > 0);
	waitpid(pid, &status, 0);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	text = slurp(path);
	unlink(path);
	REQUIRE(text);
	CHECK(json_valid(text));
	CHECK(strstr(text, ":77\""));
	CHECK(strstr(text, "\"end\":\"destroyed\""));
	free(text);
}

TEST(json_checker_can_fail)
{
	CHECK(json_valid("{\"a\":[1,2.5,\"x\\n\",true,null]}"));
	CHECK(!json_valid("{\"a\":[1,2,]}"));
	CHECK(!json_valid("{\"a\":\"\x01\"}"));
	CHECK(!json_valid("{\"a\":1} x"));
}
