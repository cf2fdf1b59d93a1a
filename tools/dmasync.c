/* SPDX-License-Identifier: MIT */
/*
 * dmasync: the command line.  `dmasync run [--] CMD [ARGS...]` runs an
 * unmodified program, and the programs it starts, with dmasync's devices
 * and fds (the preload library, as fakeroot or umockdev-run do); `dmasync
 * ls` and `dmasync leaks` (dmasync-ls.c) show what lives in the broker.
 */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dmasync-tool.h"
#include "fault-spec.h"

#ifndef DMASYNC_LIBDIR
#define DMASYNC_LIBDIR "/usr/local/lib"
#endif
#ifndef DMASYNC_LIBEXECDIR
#define DMASYNC_LIBEXECDIR "/usr/local/libexec"
#endif

static const char usage[] =
	"Usage: dmasync COMMAND [OPTION]...\n"
	"\n"
	"  dmasync run [--fault=SPEC] [--watchdog=SECONDS] [--log=FILE]\n"
	"              [--] PROGRAM [ARGS...]\n"
	"      Run PROGRAM, unmodified, and every program it starts, with the Linux\n"
	"      dma-buf UAPI of dmasync: /dev/udmabuf, /dev/dma_heap/system and\n"
	"      /sys/kernel/debug/sync/sw_sync exist, and their fds (sync files,\n"
	"      timelines, dma-bufs) behave as the kernel's, in every process that\n"
	"      holds them.  Works through LD_PRELOAD: statically linked and\n"
	"      set-user-ID programs are refused with a reason (exit status 126), as\n"
	"      are programs that make raw system calls or clear their environment\n"
	"      (not detectable).  Programs built with a sanitizer run (ASan's\n"
	"      link-order check is turned off in ASAN_OPTIONS).  Exit status:\n"
	"      PROGRAM's, 126 if it cannot run under dmasync, 127 if it is not\n"
	"      found.\n"
	"      --watchdog=SECONDS  report, once each, the fences of the timelines\n"
	"          these programs make that stay pending longer than SECONDS: on\n"
	"          stderr (or --log), with the timeline, seqno, maker and waiters.\n"
	"      --fault=SPEC  inject faults into those timelines, seeded and\n"
	"          reproducible, each one reported; SPEC is a comma-separated list:\n"
	"            error=SHARE[:ERRNO]   SHARE (0.1 or 10%) of the points signal\n"
	"                                  with -ERRNO (default EIO; or ETIME, ...)\n"
	"            delay=MIN[-MAX]       each SW_SYNC_IOC_INC applies MIN..MAX ms late\n"
	"            hang=SHARE:MS[:ERRNO] SHARE of the INCs stall the timeline for MS\n"
	"                                  ms, then what they held signals with -ERRNO\n"
	"                                  (default ETIME): a GPU hang and reset\n"
	"            seed=N                the seed (default 1)\n"
	"      --log=FILE  append those reports to FILE instead of stderr.\n"
	"\n"
	"  dmasync ls [--json | --format=bufinfo | --format=sync-info] [--by-process]\n"
	"      Every live buffer, sync file and timeline: what it is, who made it,\n"
	"      which processes hold it, its fences (alias: info; see ls --help).\n"
	"\n"
	"  dmasync ls --stuck[=SECONDS] [--json]\n"
	"      The fences pending longer than SECONDS (default: those the watchdog\n"
	"      reported), with what waits on them.\n"
	"\n"
	"  dmasync leaks [--json]\n"
	"      Per process: the sync files, buffers and timelines it holds, and\n"
	"      how that changed since the last look.\n"
	"\n"
	"  dmasync watch [--interval SECONDS] [--count N]\n"
	"      The same, refreshed live, with the fences pending over 5 s.\n"
	"\n"
	"  dmasync fault stall CONTEXT | release CONTEXT [ERRNO]\n"
	"      Stall a timeline by hand, then release it with an error.\n"
	"\n"
	"  dmasync --help\n"
	"\n"
	"Environment: DMASYNC_PRELOAD (the preload library to use), DMASYNC_DAEMON,\n"
	"DMASYNC_SOCKET, DMASYNC_MAX_OBJECTS (see dmasyncd --help), DMASYNC_TRACE;\n"
	"DMASYNC_FAULT, DMASYNC_WATCHDOG and DMASYNC_LOG are what run's options set;\n"
	"DMASYNC_TOOL (run sets it: this program, which the preload library runs for\n"
	"/sys/kernel/debug/dma_buf/bufinfo and /sys/kernel/debug/sync/info).\n";

/* @path made of the directory of this program and @rel, if it exists. */
static bool beside_self(const char *rel, char *out, size_t len)
{
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	char *slash;

	if (n <= 0)
		return false;
	self[n] = '\0';
	slash = strrchr(self, '/');
	if (!slash)
		return false;
	*slash = '\0';
	return snprintf(out, len, "%s/%s", self, rel) < (int)len && !access(out, R_OK);
}

/* The preload library: $DMASYNC_PRELOAD, installed, or this build's. */
static const char *preload_path(void)
{
	static char path[PATH_MAX];
	const char *env = getenv("DMASYNC_PRELOAD");

	if (env && *env)
		return env;
	if (beside_self("../src/preload/libdmasync-preload.so", path, sizeof(path)))
		return path;
	snprintf(path, sizeof(path), "%s/libdmasync-preload.so", DMASYNC_LIBDIR);
	return path;
}

/* The broker for the programs: $DMASYNC_DAEMON, this build's, or installed. */
static void set_daemon(void)
{
	char path[PATH_MAX];

	if (getenv("DMASYNC_DAEMON"))
		return;
	if (beside_self("../src/broker/dmasyncd", path, sizeof(path)) ||
	    (snprintf(path, sizeof(path), "%s/dmasyncd", DMASYNC_LIBEXECDIR) > 0 &&
	     !access(path, X_OK)))
		setenv("DMASYNC_DAEMON", path, 1);
}

/* PROGRAM found as execvp() would find it, into @out. */
static bool find_program(const char *prog, char *out, size_t len)
{
	const char *path = getenv("PATH");

	if (strchr(prog, '/'))
		return snprintf(out, len, "%s", prog) < (int)len && !access(out, X_OK);
	if (!path)
		path = "/usr/local/bin:/usr/bin:/bin";
	while (*path) {
		size_t n = strcspn(path, ":");

		if (snprintf(out, len, "%.*s%s%s", (int)n, path, n ? "/" : "", prog) < (int)len &&
		    !access(out, X_OK)) {
			struct stat st;

			if (!stat(out, &st) && S_ISREG(st.st_mode))
				return true;
		}
		path += n;
		if (*path == ':')
			path++;
	}
	return false;
}

/*
 * Why @file cannot run under the preload, or NULL: statically linked (an
 * ELF without an interpreter), or set-user-ID/set-group-ID (the dynamic
 * linker ignores LD_PRELOAD for it).  Scripts run their interpreter.
 */
static const char *refusal(const char *file)
{
	Elf64_Ehdr eh;
	struct stat st;
	bool interp = false;
	int fd;

	if (stat(file, &st))
		return NULL;
	if (st.st_mode & (S_ISUID | S_ISGID))
		return "it is set-user-ID or set-group-ID: the dynamic linker ignores LD_PRELOAD for it";
	fd = open(file, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	if (read(fd, &eh, sizeof(eh)) != sizeof(eh) || memcmp(eh.e_ident, ELFMAG, SELFMAG) ||
	    eh.e_ident[EI_CLASS] != ELFCLASS64) {
		close(fd);
		return NULL;	/* a script, or not ELF64: let the kernel decide */
	}
	for (int i = 0; i < eh.e_phnum; i++) {
		Elf64_Phdr ph;

		if (pread(fd, &ph, sizeof(ph), (off_t)(eh.e_phoff + (Elf64_Off)i * eh.e_phentsize)) !=
		    sizeof(ph))
			break;
		if (ph.p_type == PT_INTERP)
			interp = true;
	}
	close(fd);
	return interp ? NULL : "it is statically linked: LD_PRELOAD cannot reach it";
}

/* Put @value first in the ':'-separated list in environment variable @name. */
static int env_prepend(const char *name, const char *value)
{
	const char *old = getenv(name);
	char *env;
	int r;

	if (old && *old) {
		env = malloc(strlen(value) + strlen(old) + 2);
		if (env)
			sprintf(env, "%s:%s", value, old);
	} else {
		env = strdup(value);
	}
	if (!env)
		return -1;
	r = setenv(name, env, 1);
	free(env);
	return r;
}

/* One of run's options (--fault=, --watchdog=, --log=): into the
 * environment the broker reads at the programs' HELLO.  Return: 0 or 2. */
static int run_option(const char *arg)
{
	const char *v = strchr(arg, '=');
	char why[160];

	if (!v) {
		fprintf(stderr, "dmasync run: %s: unknown option, or VALUE missing (--%s=VALUE)\n", arg,
			"OPTION");
		return 2;
	}
	v++;
	if (!strncmp(arg, "--fault=", 8)) {
		struct fault_spec spec;

		if (fault_spec_parse(v, &spec, why, sizeof(why))) {
			fprintf(stderr, "dmasync run: --fault: %s\n", why);
			return 2;
		}
		return setenv("DMASYNC_FAULT", v, 1) ? 126 : 0;
	}
	if (!strncmp(arg, "--watchdog=", 11)) {
		char *end;
		double sec = strtod(v, &end);

		if (*end || !(sec > 0 && sec <= 86400)) {
			fprintf(stderr, "dmasync run: --watchdog=%s: seconds expected\n", v);
			return 2;
		}
		return setenv("DMASYNC_WATCHDOG", v, 1) ? 126 : 0;
	}
	if (!strncmp(arg, "--log=", 6)) {
		char abs[PATH_MAX];

		/* Absolute: the programs may change directory before they ask. */
		if (*v != '/' && getcwd(abs, sizeof(abs)) &&
		    strlen(abs) + strlen(v) + 2 <= sizeof(abs)) {
			strcat(abs, "/");
			strcat(abs, v);
			v = abs;
		}
		return setenv("DMASYNC_LOG", v, 1) ? 126 : 0;
	}
	fprintf(stderr, "dmasync run: unknown option %.*s\n", (int)(v - arg - 1), arg);
	return 2;
}

static int cmd_run(int argc, char **argv)
{
	const char *preload = preload_path(), *old, *why;
	char file[PATH_MAX];
	int i = 1, r, err;

	for (; i < argc && !strncmp(argv[i], "-", 1); i++) {
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			fputs(usage, stdout);
			return 0;
		}
		if (!strcmp(argv[i], "--")) {
			i++;
			break;
		}
		r = run_option(argv[i]);
		if (r)
			return r;
	}
	if (i >= argc) {
		fputs(usage, stderr);
		return 2;
	}
	if (strchr(argv[i], '/') && access(argv[i], X_OK)) {
		/* as env(1): a path that is there but cannot run is 126 */
		int e = errno;

		fprintf(stderr, "dmasync run: %s: %s\n", argv[i], strerror(e));
		return e == ENOENT ? 127 : 126;
	}
	if (!find_program(argv[i], file, sizeof(file))) {
		fprintf(stderr, "dmasync run: %s: command not found\n", argv[i]);
		return 127;
	}
	why = refusal(file);
	if (why) {
		fprintf(stderr, "dmasync run: %s cannot run under dmasync: %s\n", argv[i], why);
		return 126;
	}
	if (access(preload, R_OK)) {
		fprintf(stderr, "dmasync run: no preload library at %s (set DMASYNC_PRELOAD)\n",
			preload);
		return 126;
	}
	set_daemon();
	/* The preload runs us for the debugfs listings it emulates. */
	{
		char self[PATH_MAX];
		ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);

		if (n > 0 && !getenv("DMASYNC_TOOL")) {
			self[n] = '\0';
			setenv("DMASYNC_TOOL", self, 1);
		}
	}
	/* First, so that its wrappers see the program's calls; keep others'. */
	if (env_prepend("LD_PRELOAD", preload))
		return 126;
	/*
	 * A program built with gcc's AddressSanitizer loads its runtime as a
	 * library and refuses to start unless that comes first; ours only wraps
	 * system-call names, which the runtime still sees (after us), so the
	 * check is turned off, for every program run (a script's children too),
	 * unless the user chose.
	 */
	old = getenv("ASAN_OPTIONS");
	if ((!old || !strstr(old, "verify_asan_link_order")) &&
	    env_prepend("ASAN_OPTIONS", "verify_asan_link_order=0"))
		return 126;
	execv(file, argv + i);
	err = errno;	/* before fprintf() may change it */
	fprintf(stderr, "dmasync run: %s: %s\n", argv[i], strerror(err));
	return err == ENOENT ? 127 : 126;
}

int main(int argc, char **argv)
{
	if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		fputs(usage, argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	if (!strcmp(argv[1], "run"))
		return cmd_run(argc - 1, argv + 1);
	if (!strcmp(argv[1], "ls") || !strcmp(argv[1], "info"))
		return dmasync_cmd_ls(argc - 1, argv + 1, false);
	if (!strcmp(argv[1], "leaks"))
		return dmasync_cmd_ls(argc - 1, argv + 1, true);
	if (!strcmp(argv[1], "watch"))
		return dmasync_cmd_watch(argc - 1, argv + 1);
	if (!strcmp(argv[1], "fault"))
		return dmasync_cmd_fault(argc - 1, argv + 1);
	fprintf(stderr, "dmasync: unknown command '%s' (try dmasync --help)\n", argv[1]);
	return 2;
}
