/* SPDX-License-Identifier: MIT */
/*
 * dmasyncd: the broker that owns every dmasync object shared between
 * processes (docs/design.md).  Programs start it on demand; this is its
 * command line.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "broker.h"
#include "client.h"
#include "ipc.h"

static const char usage[] =
	"Usage: dmasyncd [OPTION]...\n"
	"The dmasync broker: owns the sync files, timelines and dma-bufs that\n"
	"processes using dmasync share, and releases each when its last fd is\n"
	"closed anywhere.  Programs start it on their first request; run it by\n"
	"hand only to watch it or to keep it running.\n"
	"\n"
	"  -s, --socket PATH   listen on PATH (default: $DMASYNC_SOCKET, else\n"
	"                      $XDG_RUNTIME_DIR/dmasync/broker, else\n"
	"                      /tmp/dmasync-$UID/broker)\n"
	"  -f, --foreground    stay in the foreground (default: detach once listening)\n"
	"  -p, --persist       do not leave when idle (default: leave after 2 s\n"
	"                      with no client and no object)\n"
	"  -i, --idle-exit MS  leave after MS milliseconds idle\n"
	"  -m, --max-objects N live objects one client may own (default 65536,\n"
	"                      or $DMASYNC_MAX_OBJECTS); beyond, requests that make\n"
	"                      one fail with ENOMEM\n"
	"  -w, --watchdog SECONDS  report every fence pending longer than SECONDS,\n"
	"                      once, on stderr (or --log); without it, only the\n"
	"                      timelines of programs run with --watchdog are watched\n"
	"  -l, --log FILE      append watchdog reports to FILE\n"
	"  -h, --help          this text\n"
	"\n"
	"Exit status: 0 when it left because idle, 1 on error, 2 for bad usage,\n"
	"3 if another broker already serves the socket.\n";

static int ready_pipe = -1;

/*
 * A broker started by a program that had closed its stdin or stdout would
 * find those numbers free, and the engine's own fds (made by constructors,
 * before main()) would take them; signal_ready() then puts /dev/null over
 * 0-2 and every object it serves breaks.  So fill the holes first, before
 * any other constructor opens anything, as daemons do.
 */
__attribute__((constructor(101))) static void stdio_fill(void)
{
	for (int fd = 0; fd < 3; fd++) {
		if (fcntl(fd, F_GETFD) >= 0 || errno != EBADF)
			continue;
		/* The lowest free number: this one. */
		int null = open("/dev/null", O_RDWR);

		if (null < 0)
			return;
		if (null != fd) {
			close(null);
			return;
		}
	}
}

static void signal_ready(void *arg)
{
	int null;

	(void)arg;
	if (ready_pipe < 0)
		return;
	/*
	 * Detached and serving: let go of the starter's stdin, stdout and
	 * stderr (a pipe that `prog | less` or $(prog) reads to its end would
	 * otherwise stay open until the broker leaves).  Errors before this
	 * point went to the starter's stderr.
	 */
	null = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (null >= 0) {
		for (int fd = 0; fd < 3; fd++)
			if (fd != null)
				dup2(null, fd);
		if (null > 2)
			close(null);
	}
	(void)!write(ready_pipe, "", 1);
	close(ready_pipe);
	ready_pipe = -1;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "foreground", no_argument, NULL, 'f' },
		{ "persist", no_argument, NULL, 'p' },
		{ "idle-exit", required_argument, NULL, 'i' },
		{ "max-objects", required_argument, NULL, 'm' },
		{ "watchdog", required_argument, NULL, 'w' },
		{ "log", required_argument, NULL, 'l' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct broker_options bo = { .idle_exit_ms = 2000, .ready = signal_ready, .log_fd = 2 };
	char path[PATH_MAX];
	bool foreground = false;
	int c, r;

	while ((c = getopt_long(argc, argv, "s:fpi:m:w:l:h", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			bo.socket = optarg;
			break;
		case 'f':
			foreground = true;
			break;
		case 'p':
			bo.idle_exit_ms = -1;
			break;
		case 'i':
			bo.idle_exit_ms = strtol(optarg, NULL, 10);
			break;
		case 'm':
			bo.max_objects = strtoul(optarg, NULL, 10);
			break;
		case 'w': {
			char *end;
			double sec = strtod(optarg, &end);

			if (*end || !(sec > 0 && sec <= 86400)) {
				fprintf(stderr, "dmasyncd: --watchdog %s: seconds expected\n", optarg);
				return 2;
			}
			bo.watchdog_ms = (unsigned int)(sec * 1000 + 0.5);
			break;
		}
		case 'l':
			bo.log_fd = open(optarg, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
			if (bo.log_fd < 0) {
				fprintf(stderr, "dmasyncd: %s: %s\n", optarg, strerror(errno));
				return 1;
			}
			break;
		case 'h':
			fputs(usage, stdout);
			return 0;
		default:
			fputs(usage, stderr);
			return 2;
		}
	}
	if (optind != argc) {
		fputs(usage, stderr);
		return 2;
	}
	if (!bo.max_objects && getenv("DMASYNC_MAX_OBJECTS"))
		bo.max_objects = strtoul(getenv("DMASYNC_MAX_OBJECTS"), NULL, 10);
	/* Our own entry points are the engine, never a broker. */
	client_disable();
	if (!bo.socket) {
		r = ipc_default_socket(path, sizeof(path));
		if (r) {
			fprintf(stderr, "dmasyncd: no socket path: %s\n", strerror(-r));
			return 1;
		}
		bo.socket = path;
	}
	signal(SIGPIPE, SIG_IGN);
	if (!foreground) {
		int p[2];
		pid_t pid;
		char b;

		if (pipe2(p, O_CLOEXEC) || (pid = fork()) < 0) {
			perror("dmasyncd");
			return 1;
		}
		if (pid) {
			close(p[1]);
			/* Succeeded if the child said it listens. */
			return read(p[0], &b, 1) == 1 ? 0 : 1;
		}
		close(p[0]);
		ready_pipe = p[1];
		setsid();
	}
	r = broker_run(&bo);
	if (r == -EADDRINUSE) {
		/* Started by a client that lost a race: nothing to say. */
		if (foreground)
			fprintf(stderr, "dmasyncd: another broker serves %s\n", bo.socket);
		return 3;
	}
	if (r) {
		fprintf(stderr, "dmasyncd: %s: %s\n", bo.socket, strerror(-r));
		return 1;
	}
	return 0;
}
