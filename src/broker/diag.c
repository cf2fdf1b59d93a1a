// SPDX-License-Identifier: MIT
/*
 * A client's diagnostics settings (diag.h): parsed from its HELLO, shared
 * by reference between its owner record, the fault injector and the
 * watchdog.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "diag.h"

static unsigned long watchdogs, faulty;

unsigned long diag_watchdogs(void)
{
	return __atomic_load_n(&watchdogs, __ATOMIC_RELAXED);
}

unsigned long diag_faulty(void)
{
	return __atomic_load_n(&faulty, __ATOMIC_RELAXED);
}

uint64_t diag_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/*
 * The broker must never block on a client's log: a pipe or terminal is
 * reopened through /proc as our own open file, non-blocking (the client's
 * file keeps its flags); a socket is written with MSG_DONTWAIT
 * (diag_log()).  Lines that do not fit are dropped.  Only what a stderr
 * can be is kept: a pipe, a character device, a file or a socket; an
 * epoll, event or timer fd, a directory or an O_PATH fd takes no lines,
 * so it is not held for nothing.  Consumes @fd.  Return: the log, or -1.
 */
static int nonblocking_log(int fd)
{
	char path[40];
	struct stat st;
	int nb;

	if (fd < 0)
		return -1;
	if (fstat(fd, &st) || (fcntl(fd, F_GETFL) & O_PATH) ||
	    !(S_ISFIFO(st.st_mode) || S_ISCHR(st.st_mode) || S_ISREG(st.st_mode) ||
	      S_ISSOCK(st.st_mode))) {
		close(fd);
		return -1;
	}
	if (!(S_ISFIFO(st.st_mode) || S_ISCHR(st.st_mode)))
		return fd;
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	nb = open(path, O_WRONLY | O_APPEND | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
	if (nb < 0)
		return fd;	/* e.g. /dev/null-like devices we may not reopen: as is */
	close(fd);
	return nb;
}

struct diag *diag_create(const char *text, size_t len, int log_fd, pid_t pid, const char *comm)
{
	char *copy = strndup(text ? text : "", len), *line, *save = NULL;
	char bad[160] = "";
	struct diag *d = calloc(1, sizeof(*d));
	struct stat st;

	if (!copy || !d)
		goto err_free;
	d->refs = 1;
	d->pid = pid;
	snprintf(d->comm, sizeof(d->comm), "%s", comm ? comm : "");
	pthread_mutex_init(&d->log_lock, NULL);
	d->log_fd = nonblocking_log(log_fd);
	if (d->log_fd >= 0 && !fstat(d->log_fd, &st) && S_ISREG(st.st_mode)) {
		d->log_dev = st.st_dev;
		d->log_ino = st.st_ino;
	}
	fault_spec_parse("", &d->fault, bad, sizeof(bad));
	for (line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (!strncmp(line, "fault=", 6)) {
			char why[128];

			if (fault_spec_parse(line + 6, &d->fault, why, sizeof(why))) {
				snprintf(bad, sizeof(bad), "%s", why);
				fault_spec_parse("", &d->fault, why, sizeof(why));
			}
		} else if (!strncmp(line, "watchdog=", 9)) {
			unsigned long ms = strtoul(line + 9, NULL, 10);

			d->watchdog_ms = ms > 86400000ul ? 86400000u : (uint32_t)ms;
		}
	}
	free(copy);
	d->faulty = fault_spec_active(&d->fault);
	if (bad[0])
		diag_log(d, "fault: DMASYNC_FAULT ignored: %s", bad);
	if (!d->faulty && !d->watchdog_ms) {
		diag_put(d);
		return NULL;
	}
	if (d->watchdog_ms)
		__atomic_add_fetch(&watchdogs, 1, __ATOMIC_RELAXED);
	if (d->faulty)
		__atomic_add_fetch(&faulty, 1, __ATOMIC_RELAXED);
	return d;

err_free:
	free(d);
	free(copy);
	if (log_fd >= 0)
		close(log_fd);
	return NULL;
}

struct diag *diag_get(struct diag *d)
{
	if (d)
		__atomic_add_fetch(&d->refs, 1, __ATOMIC_RELAXED);
	return d;
}

void diag_put(struct diag *d)
{
	if (!d || __atomic_sub_fetch(&d->refs, 1, __ATOMIC_ACQ_REL))
		return;
	if (d->watchdog_ms)
		__atomic_sub_fetch(&watchdogs, 1, __ATOMIC_RELAXED);
	if (d->faulty)
		__atomic_sub_fetch(&faulty, 1, __ATOMIC_RELAXED);
	if (d->log_fd >= 0)
		close(d->log_fd);
	pthread_mutex_destroy(&d->log_lock);
	free(d);
}

void diag_drop_log(struct diag *d)
{
	int fd;

	if (!d)
		return;
	pthread_mutex_lock(&d->log_lock);
	fd = d->log_fd;
	d->log_fd = -1;
	pthread_mutex_unlock(&d->log_lock);
	if (fd >= 0)
		close(fd);
}

void diag_log(const struct diag *d, const char *fmt, ...)
{
	char line[1024];
	uint64_t now = diag_now_ns();
	va_list ap;
	int n, m;

	if (!d)
		return;
	n = snprintf(line, sizeof(line), "dmasync: [%llu.%06llu] ",
		     (unsigned long long)(now / 1000000000ull),
		     (unsigned long long)(now % 1000000000ull / 1000));
	va_start(ap, fmt);
	m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
	va_end(ap);
	n += m < 0 ? 0 : m >= (int)sizeof(line) - n - 1 ? (int)sizeof(line) - n - 2 : m;
	line[n++] = '\n';
	/* The lock only guards the number against diag_drop_log(); the
	 * settings are otherwise immutable, hence the cast. */
	pthread_mutex_lock((pthread_mutex_t *)&d->log_lock);
	if (d->log_fd >= 0 &&
	    send(d->log_fd, line, (size_t)n, MSG_DONTWAIT | MSG_NOSIGNAL) < 0 && errno == ENOTSOCK)
		(void)!write(d->log_fd, line, (size_t)n);
	pthread_mutex_unlock((pthread_mutex_t *)&d->log_lock);
}
