/* SPDX-License-Identifier: MIT */
/* The unit-test runner: TAP output, fd and warning accounting per case. */
#include <dirent.h>
#include <signal.h>
#include <stdarg.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <dmasync/rcupdate.h>
#include "test-harness.h"
#include "file.h"

static struct dmasync_test *tests, **tests_tail = &tests;
static int case_failed;
static bool warnings_expected;
static const char *skip_reason;

void dmasync_test_register(struct dmasync_test *t)
{
	*tests_tail = t;
	tests_tail = &t->next;
}

void dmasync_test_fail(const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	flockfile(stdout);
	printf("# %s:%d: failed: ", file, line);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	funlockfile(stdout);
	__atomic_store_n(&case_failed, 1, __ATOMIC_RELAXED);
}

bool dmasync_test_failed(void)
{
	return __atomic_load_n(&case_failed, __ATOMIC_RELAXED);
}

void dmasync_test_expect_warnings(void)
{
	warnings_expected = true;
}

double dmasync_stress_scale(void)
{
	const char *s = getenv("DMASYNC_STRESS_SCALE");
	double v = s ? atof(s) : 1.0;

	return v > 0 ? v : 1.0;
}

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	if (!d)
		return -1;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1; /* the directory's own fd */
}

bool dmasync_test_dies(void (*fn)(void *), void *arg, const char *msg)
{
	int pipefd[2], status;
	char buf[4096];
	size_t len = 0;
	ssize_t r;
	pid_t pid;

	if (pipe(pipefd))
		return false;
	fflush(NULL);
	pid = fork();
	if (pid == 0) {
		struct sigaction sa = { .sa_handler = SIG_DFL };

		sigaction(SIGABRT, &sa, NULL);
		dup2(pipefd[1], 2);
		close(pipefd[0]);
		fn(arg);
		_exit(0);
	}
	close(pipefd[1]);
	while (len < sizeof(buf) - 1 && (r = read(pipefd[0], buf + len, sizeof(buf) - 1 - len)) > 0)
		len += (size_t)r;
	buf[len] = 0;
	close(pipefd[0]);
	waitpid(pid, &status, 0);
	if (!WIFSIGNALED(status)) {
		printf("# child did not die (status %d); stderr: %s\n", status, buf);
		return false;
	}
	if (msg && !strstr(buf, msg)) {
		printf("# child died without \"%s\"; stderr: %s\n", msg, buf);
		return false;
	}
	return true;
}

void dmasync_test_skip(const char *reason)
{
	skip_reason = reason;
}

int main(int argc, char **argv)
{
	int n = 0, failed = 0;

	setvbuf(stdout, NULL, _IOLBF, 0);
	for (struct dmasync_test *t = tests; t; t = t->next) {
		int fds_before, fds_after;
		unsigned long warns;

		if (argc > 1 && !strstr(t->name, argv[1]))
			continue;
		n++;
		case_failed = 0;
		skip_reason = NULL;
		warnings_expected = false;
		fds_before = count_fds();
		warns = core_warn_count();
		t->fn();
		/* Closing a sync file is noticed by the monitor thread: give it
		 * up to a second to release what the case closed. */
		for (int i = 0; i < 1000; i++) {
			uapi_files_reap();
			fds_after = count_fds();
			if (fds_after == fds_before)
				break;
			usleep(1000);
		}
		if (fds_after != fds_before)
			dmasync_test_fail(__FILE__, __LINE__, "fd leak: %d fds before, %d after",
					  fds_before, fds_after);
		if (!warnings_expected && core_warn_count() != warns)
			dmasync_test_fail(__FILE__, __LINE__, "unexpected dmasync warning(s)");
		if (skip_reason && !case_failed)
			printf("ok %d - %s # SKIP %s\n", n, t->name, skip_reason);
		else
			printf("%s %d - %s\n", case_failed ? "not ok" : "ok", n, t->name);
		failed += case_failed;
	}
	printf("1..%d\n", n);
	/* Flush deferred frees so leak checkers see every fence released. */
	dmasync_rcu_barrier();
	return failed ? 1 : 0;
}
