/* SPDX-License-Identifier: MIT */
/*
 * What libdmasync-preload.so costs a program that never touches a dmasync
 * object (issue 11): "at most a table lookup per wrapped call", target
 * <= 1.05x.  Each operation below is a libc call the preload wraps, made on
 * ordinary fds (pipes, /dev/zero, /dev/null, a memfd, anonymous memory),
 * timed in two processes that differ only by LD_PRELOAD:
 *
 *   native     this program, re-executed without the preload: the floor;
 *   preloaded  the same, with LD_PRELOAD=libdmasync-preload.so (what
 *              `dmasync run -- PROGRAM` does).
 *
 * ratio = preloaded / native, and "+ns" the difference: what the wrapper
 * adds per call.  Two processes also differ by where things land in memory
 * (ASLR) and by whatever the machine did meanwhile, so the preloaded
 * process times every row a second way, paired: batch about batch through
 * the program's names (the wrappers) and through libc's own functions
 * (dlsym() in libc.so.6), in one process; "paired" = wrapped / libc, the
 * wrapper's own cost, with only the noise between consecutive batches
 * (see its getppid row).  Both verdicts are printed.  The rows call the
 * libc names through function pointers, resolved with dlsym(RTLD_DEFAULT)
 * (what a program's calls reach) or in libc, so that both ways differ by
 * the wrapper alone.  The rows:
 *
 *   getppid          not wrapped: the control row (its ratio is the noise
 *                    between two processes, ASLR and cache placement);
 *   dup+close        dup() of a pipe end and close() of the copy, the pipe
 *                    end "seen" (a wrapped call looked it up before), and
 *                    "unseen" (nothing did: the table does not know it);
 *   open+close       open("/dev/null") and close(): an fd the program makes
 *                    and closes, which no lookup saw in between;
 *   poll             timeout 0 on 1 and 8 empty pipes, the pollfd array on
 *                    the caller's stack and on the heap (the preload copies
 *                    it as the kernel would: with no system call from the
 *                    caller's stack, with a probe system call per page from
 *                    anywhere else);
 *   read, write      1 byte from /dev/zero, to /dev/null;
 *   mmap+munmap      4 KiB, anonymous (MAP_PRIVATE) and of a memfd
 *                    (MAP_SHARED); munmap() is not wrapped;
 *   ioctl, fcntl     FIONREAD and F_GETFL on a pipe;
 *   lseek            SEEK_SET 0 on the memfd.
 *
 * Each figure is ns per call of the best batch (of 256-1000 calls) over a
 * time budget (20 ms), and the best of several rounds (16; 3 with --quick,
 * whose figures move more); the rounds alternate the
 * native and the preloaded process (N P, P N, ...) so that frequency and
 * noise drift hit both alike.  Both processes are pinned to one CPU (the
 * first this one may use).  The preloaded process checks that the preload
 * is mapped and that each wrapped name resolves into it; DMASYNC_SOCKET
 * names a socket that does not exist (a lookup of a memfd may try to reach
 * a broker, and must not start one), DMASYNC_MODE is unset (broker mode,
 * the default).  A ratio over target is reported, never an exit status.
 *
 * Usage: bench-preload [--quick]               (~12 s, or ~2 s)
 *        bench-preload --child native|preload BUDGET_US [OP]
 *            one process's figures ("OP ns" lines, "OP ns libc-ns" from the
 *            preloaded one; OP: a row's index from 0),
 *            to profile: the preloaded one needs LD_PRELOAD set, and one CPU
 *            (e.g. `taskset -c 0 perf record ...`)
 *        bench-preload --calls native|preload N OP
 *            the same process, making exactly N calls of row OP and timing
 *            none, for instruction counts, which no noise blurs: (count at
 *            2N - count at N) / N is one call's, with `perf stat -e
 *            instructions:u` where the CPU's counters are there (not in a VM
 *            without a PMU), or valgrind --tool=callgrind
 *            --toggle-collect=op_NAME (the row's function)
 *
 * Wall-clock ratios move by a few percent from one pair of processes to the
 * next; instruction counts do not, but they do not show everything.  A
 * wrapper whose fast path acts after libc's call (close, dup, open: the fd
 * table) returns to the program from a frame of its own after the system
 * call, where one that jumps to libc (read, write, ioctl...) lets libc
 * return there: one return more per call.  A kernel that leaves the return
 * predictions useless on its way back to user space makes each such return
 * a misprediction: on the project's AMD EPYC (Zen 5) VMs, whose kernel
 * mitigates SRSO with "Safe RET", every return level after a system call
 * adds about 7 ns, so dup+close pays some 15 ns of its ~330 for that,
 * more than for its wrappers' ~70 instructions.  On VMs that run with
 * page-table isolation and no PCID (pti=on, "Mitigation: PTI"), every
 * system call flushes the TLB: each page a wrapper touches costs a page
 * walk (a nested one in a VM) on every call.  So the fast paths touch as
 * few as they can: the wrapper's code, the slot of the fd (fds 0-1023 in
 * a static chunk, no directory to load) and libc's pointer, jumped through
 * from the wrapper itself (session 25: 5 pages to 3; in means of 4-5
 * paired runs, read went from about +43 ns to +22-28, write from +42-50
 * to +20-29, send+recv from +86-180 to +42-49; dup+close and open+close
 * moved within their noise, about 30 ns).
 *
 * The preload: $DMASYNC_PRELOAD, else ../src/preload/libdmasync-preload.so
 * beside this program in the build tree.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <poll.h>
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define TARGET 1.05
#define PRELOAD_NAME "libdmasync-preload.so"

extern char **environ;

static void die(const char *what)
{
	perror(what);
	exit(1);
}

static uint64_t now_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

/* ---- the operations (run in the child processes) ------------------------------------- */

#define POLL_MAX 8

static struct {
	int zero, null;		/* /dev/zero, /dev/null */
	int seen[2];		/* a pipe, looked up before the timing */
	int unseen[2];		/* a pipe no lookup ever sees (only dup()) */
	int empty[POLL_MAX];	/* read ends of empty pipes */
	int memfd;		/* 4 KiB */
	int sock[2];		/* a datagram socket pair */
	struct pollfd *heap_pfd;
} st;

/*
 * The libc names the rows call, through one of two tables: "program" has
 * what the program's own calls reach (dlsym(RTLD_DEFAULT): the preload's
 * wrapper in the preloaded process, libc's function in the native one),
 * "libc" has libc's functions themselves.  The preloaded process times
 * each row both ways, batch about batch: the paired figure, what the
 * wrapper adds with no second process in the comparison.
 */
struct calls {
	pid_t (*getppid)(void);
	int (*dup)(int fd);
	int (*close)(int fd);
	int (*open)(const char *path, int flags, ...);
	int (*poll)(struct pollfd *fds, nfds_t n, int timeout);
	ssize_t (*read)(int fd, void *buf, size_t n);
	ssize_t (*write)(int fd, const void *buf, size_t n);
	void *(*mmap)(void *addr, size_t len, int prot, int flags, int fd, off_t off);
	int (*munmap)(void *addr, size_t len);
	int (*ioctl)(int fd, unsigned long request, ...);
	int (*fcntl)(int fd, int cmd, ...);
	off_t (*lseek)(int fd, off_t off, int whence);
	ssize_t (*send)(int fd, const void *buf, size_t n, int flags);
	ssize_t (*recv)(int fd, void *buf, size_t n, int flags);
};
static struct calls via_program, via_libc;
static const struct calls *C = &via_program;

static void resolve(struct calls *c, void *handle)
{
#define RESOLVE(name)                                                           \
	do {                                                                    \
		*(void **)&c->name = dlsym(handle, #name);                      \
		if (!c->name)                                                   \
			die("dlsym " #name);                                    \
	} while (0)
	RESOLVE(getppid);
	RESOLVE(dup);
	RESOLVE(close);
	RESOLVE(open);
	RESOLVE(poll);
	RESOLVE(read);
	RESOLVE(write);
	RESOLVE(mmap);
	RESOLVE(munmap);
	RESOLVE(ioctl);
	RESOLVE(fcntl);
	RESOLVE(lseek);
	RESOLVE(send);
	RESOLVE(recv);
#undef RESOLVE
}

static void fail(const char *what)
{
	fprintf(stderr, "bench-preload: child: %s failed: %s\n", what, strerror(errno));
	exit(1);
}

static void op_getppid(long n)
{
	for (long i = 0; i < n; i++)
		if (C->getppid() <= 0)
			fail("getppid");
}

static void op_dup_close_seen(long n)
{
	for (long i = 0; i < n; i++) {
		int fd = C->dup(st.seen[0]);

		if (fd < 0 || C->close(fd))
			fail("dup+close");
	}
}

static void op_dup_close_unseen(long n)
{
	for (long i = 0; i < n; i++) {
		int fd = C->dup(st.unseen[1]);

		if (fd < 0 || C->close(fd))
			fail("dup+close");
	}
}

static void op_open_close(long n)
{
	for (long i = 0; i < n; i++) {
		int fd = C->open("/dev/null", O_RDONLY | O_CLOEXEC);

		if (fd < 0 || C->close(fd))
			fail("open+close");
	}
}

static void fill_pfd(struct pollfd *p, int nfds)
{
	for (int i = 0; i < nfds; i++) {
		p[i].fd = st.empty[i];
		p[i].events = POLLIN;
		p[i].revents = 0;
	}
}

static void poll_loop(struct pollfd *p, int nfds, long n)
{
	for (long i = 0; i < n; i++)
		if (C->poll(p, (nfds_t)nfds, 0) != 0)
			fail("poll");
}

static void op_poll1_stack(long n)
{
	struct pollfd p[1];

	fill_pfd(p, 1);
	poll_loop(p, 1, n);
}

static void op_poll8_stack(long n)
{
	struct pollfd p[POLL_MAX];

	fill_pfd(p, POLL_MAX);
	poll_loop(p, POLL_MAX, n);
}

static void op_poll1_heap(long n)
{
	fill_pfd(st.heap_pfd, 1);
	poll_loop(st.heap_pfd, 1, n);
}

static void op_poll8_heap(long n)
{
	fill_pfd(st.heap_pfd, POLL_MAX);
	poll_loop(st.heap_pfd, POLL_MAX, n);
}

static void op_read(long n)
{
	char buf[64];

	for (long i = 0; i < n; i++)
		if (C->read(st.zero, buf, 1) != 1)
			fail("read");
}

static void op_sendrecv(long n)
{
	char c = 'x';

	for (long i = 0; i < n; i++)
		if (C->send(st.sock[0], &c, 1, 0) != 1 || C->recv(st.sock[1], &c, 1, 0) != 1)
			fail("send/recv");
}

static void op_write(long n)
{
	static const char buf[1] = { 'x' };

	for (long i = 0; i < n; i++)
		if (C->write(st.null, buf, 1) != 1)
			fail("write");
}

static void op_mmap_anon(long n)
{
	for (long i = 0; i < n; i++) {
		void *p = C->mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		if (p == MAP_FAILED || C->munmap(p, 4096))
			fail("mmap");
	}
}

static void op_mmap_memfd(long n)
{
	for (long i = 0; i < n; i++) {
		void *p = C->mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, st.memfd, 0);

		if (p == MAP_FAILED || C->munmap(p, 4096))
			fail("mmap");
	}
}

static void op_ioctl(long n)
{
	int v;

	for (long i = 0; i < n; i++)
		if (C->ioctl(st.seen[0], FIONREAD, &v) || v)
			fail("ioctl");
}

static void op_fcntl(long n)
{
	for (long i = 0; i < n; i++)
		if (C->fcntl(st.seen[0], F_GETFL) < 0)
			fail("fcntl");
}

static void op_lseek(long n)
{
	for (long i = 0; i < n; i++)
		if (C->lseek(st.memfd, 0, SEEK_SET))
			fail("lseek");
}

static const struct op {
	const char *name;
	void (*fn)(long n);
	long batch;		/* calls per timed batch */
	bool wrapped;
} ops[] = {
	{ "getppid (not wrapped: noise)", op_getppid, 1000, false },
	{ "dup+close, pipe end seen", op_dup_close_seen, 1000, true },
	{ "dup+close, pipe end unseen", op_dup_close_unseen, 1000, true },
	{ "open+close /dev/null", op_open_close, 256, true },
	{ "poll 1 fd, array on stack", op_poll1_stack, 1000, true },
	{ "poll 8 fds, array on stack", op_poll8_stack, 1000, true },
	{ "poll 1 fd, array on heap", op_poll1_heap, 1000, true },
	{ "poll 8 fds, array on heap", op_poll8_heap, 1000, true },
	{ "read 1 B /dev/zero", op_read, 1000, true },
	{ "write 1 B /dev/null", op_write, 1000, true },
	{ "mmap+munmap 4 KiB anonymous", op_mmap_anon, 256, true },
	{ "mmap+munmap 4 KiB memfd shared", op_mmap_memfd, 256, true },
	{ "ioctl FIONREAD pipe", op_ioctl, 1000, true },
	{ "fcntl F_GETFL pipe", op_fcntl, 1000, true },
	{ "lseek memfd", op_lseek, 1000, true },
	{ "send+recv 1 B socketpair", op_sendrecv, 1000, true },
};
#define N_OPS ((int)(sizeof(ops) / sizeof(ops[0])))

/* The names the rows call that the preload must wrap (the 64 forms are
 * what a build with _FILE_OFFSET_BITS=64 calls). */
static const char *const wrapped_names[] = {
	"close", "dup", "open", "open64", "poll", "read", "write", "mmap", "mmap64",
	"ioctl", "fcntl", "fcntl64", "lseek", "lseek64", "send", "recv",
};

/* Whether a mapping of this process comes from the preload. */
static bool preload_mapped(void)
{
	char line[4096];
	bool found = false;
	FILE *f = fopen("/proc/self/maps", "re");

	if (!f)
		die("/proc/self/maps");
	while (!found && fgets(line, sizeof(line), f))
		found = strstr(line, PRELOAD_NAME) != NULL;
	fclose(f);
	return found;
}

/* The object that defines the first @name in the global scope. */
static const char *defined_in(const char *name)
{
	void *sym = dlsym(RTLD_DEFAULT, name);
	Dl_info info;

	if (!sym || !dladdr(sym, &info) || !info.dli_fname)
		return "?";
	return info.dli_fname;
}

/* Best ns per call of @op's batches over @budget_ns (at least 5 batches). */
static double measure(const struct op *op, uint64_t budget_ns)
{
	double best = INFINITY;
	uint64_t start;
	int batches = 0;

	op->fn(op->batch);	/* warm up: caches, the preload's first lookups */
	start = now_ns();
	do {
		uint64_t t = now_ns();
		double ns;

		op->fn(op->batch);
		ns = (double)(now_ns() - t) / (double)op->batch;
		if (ns < best)
			best = ns;
		batches++;
	} while (batches < 5 || now_ns() - start < budget_ns);
	return best;
}

/*
 * The same, batch about batch through both tables: best ns per call
 * through the program's names in *@prog, through libc's own in *@libc.
 */
static void measure_paired(const struct op *op, uint64_t budget_ns, double *prog, double *libc)
{
	const struct calls *via[2] = { &via_program, &via_libc };
	double best[2] = { INFINITY, INFINITY };
	uint64_t start;
	int batches = 0;

	for (int k = 0; k < 2; k++) {
		C = via[k];
		op->fn(op->batch);	/* warm up */
	}
	start = now_ns();
	do {
		for (int k = 0; k < 2; k++) {
			uint64_t t;
			double ns;

			C = via[(batches + k) % 2];	/* P L, L P, ... */
			t = now_ns();
			op->fn(op->batch);
			ns = (double)(now_ns() - t) / (double)op->batch;
			if (ns < best[(batches + k) % 2])
				best[(batches + k) % 2] = ns;
		}
		batches++;
	} while (batches < 5 || now_ns() - start < budget_ns);
	C = &via_program;
	*prog = best[0];
	*libc = best[1];
}

/* @calls calls of @op in its batches (the last one shorter), untimed. */
static void count_calls(const struct op *op, long calls)
{
	for (long done = 0; done < calls; done += op->batch)
		op->fn(calls - done < op->batch ? calls - done : op->batch);
}

/* @calls: 0 to time each row (or @only), else the number of calls of row
 * @only to make, untimed (--calls). */
static int child_main(const char *mode, const char *budget, const char *only, long calls)
{
	bool preloaded = !strcmp(mode, "preload");
	uint64_t budget_ns = budget ? strtoull(budget, NULL, 10) * 1000u : 0;
	void *libc_handle;
	cpu_set_t mask;

	if (preloaded != preload_mapped()) {
		fprintf(stderr,
			"bench-preload: the %s process has %s mapped (LD_PRELOAD=%s): "
			"abandoned\n",
			mode, preloaded ? "no " PRELOAD_NAME : PRELOAD_NAME,
			getenv("LD_PRELOAD") ? getenv("LD_PRELOAD") : "(unset)");
		return 2;
	}
	for (size_t i = 0; i < sizeof(wrapped_names) / sizeof(wrapped_names[0]); i++) {
		const char *where = defined_in(wrapped_names[i]);

		if (preloaded != (strstr(where, PRELOAD_NAME) != NULL)) {
			fprintf(stderr, "bench-preload: %s process: %s() is %s's: abandoned\n",
				mode, wrapped_names[i], where);
			return 2;
		}
	}
	if (sched_getaffinity(0, sizeof(mask), &mask) || CPU_COUNT(&mask) != 1) {
		fprintf(stderr, "bench-preload: %s process: not pinned to one CPU\n", mode);
		return 2;
	}

	resolve(&via_program, RTLD_DEFAULT);
	libc_handle = dlopen("libc.so.6", RTLD_NOW | RTLD_NOLOAD);
	if (!libc_handle)
		die("dlopen libc.so.6");
	resolve(&via_libc, libc_handle);
	if (!preloaded && memcmp(&via_program, &via_libc, sizeof(via_libc))) {
		fprintf(stderr, "bench-preload: native process: a name is not libc's: abandoned\n");
		return 2;
	}

	st.zero = open("/dev/zero", O_RDONLY | O_CLOEXEC);
	st.null = open("/dev/null", O_WRONLY | O_CLOEXEC);
	if (st.zero < 0 || st.null < 0)
		die("open");
	if (pipe2(st.seen, O_CLOEXEC | O_NONBLOCK) || pipe2(st.unseen, O_CLOEXEC | O_NONBLOCK))
		die("pipe2");
	for (int i = 0; i < POLL_MAX; i++) {
		int p[2];

		if (pipe2(p, O_CLOEXEC | O_NONBLOCK))
			die("pipe2");
		st.empty[i] = p[0];	/* the write ends stay open: not POLLHUP */
	}
	st.memfd = memfd_create("bench-preload", MFD_CLOEXEC);
	if (st.memfd < 0 || ftruncate(st.memfd, 4096))
		die("memfd");
	if (socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, st.sock))
		die("socketpair");
	st.heap_pfd = calloc(POLL_MAX, sizeof(*st.heap_pfd));
	if (!st.heap_pfd)
		die("calloc");
	/* "Seen": one wrapped call that looks the fd up (the preload then
	 * knows it is not dmasync's; natively just a system call). */
	if (fcntl(st.seen[0], F_GETFL) < 0)
		die("fcntl");

	if (calls) {
		ops[atoi(only)].fn(ops[atoi(only)].batch);	/* the warm-up measure() makes */
		count_calls(&ops[atoi(only)], calls);
		printf("%d %ld calls\n", atoi(only), calls);
		fflush(stdout);
		return 0;
	}
	for (int i = 0; i < N_OPS; i++) {
		double prog, libc;

		if (only && atoi(only) != i)
			continue;
		if (!preloaded) {
			printf("%d %.3f\n", i, measure(&ops[i], budget_ns));
			continue;
		}
		measure_paired(&ops[i], budget_ns, &prog, &libc);
		printf("%d %.3f %.3f\n", i, prog, libc);
	}
	fflush(stdout);
	return 0;
}

/* ---- the parent: rounds of both processes --------------------------------------------- */

/* The preload library: $DMASYNC_PRELOAD, else beside us in the build tree. */
static bool find_preload(char *out, size_t len)
{
	const char *env = getenv("DMASYNC_PRELOAD");
	char self[PATH_MAX], path[PATH_MAX + 64], *slash;
	ssize_t n;

	if (env && *env) {
		if (!realpath(env, out))
			return false;
		return !access(out, R_OK);
	}
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n <= 0)
		return false;
	self[n] = '\0';
	slash = strrchr(self, '/');
	if (!slash)
		return false;
	*slash = '\0';
	snprintf(path, sizeof(path), "%s/../src/preload/" PRELOAD_NAME, self);
	if (strlen(path) >= len || !realpath(path, out))
		return false;
	return !access(out, R_OK);
}

static char self_exe[PATH_MAX];
static char preload_var[PATH_MAX + 16], socket_var[PATH_MAX + 16];
static char socket_path[PATH_MAX];

/*
 * The child's environment: ours without LD_PRELOAD and DMASYNC_MODE /
 * DMASYNC_SOCKET, then, for both processes, variables of the same sizes
 * (so that their stacks start alike): LD_PRELOAD=PATH for the preloaded
 * one, NO_PRELOAD=PATH for the native one.
 */
static char **child_env(bool preloaded)
{
	size_t n = 0, k = 0;
	char **env;

	while (environ[n])
		n++;
	env = calloc(n + 3, sizeof(*env));
	if (!env)
		die("calloc");
	for (size_t i = 0; i < n; i++)
		if (strncmp(environ[i], "LD_PRELOAD=", 11) && strncmp(environ[i], "DMASYNC_MODE=", 13) &&
		    strncmp(environ[i], "DMASYNC_SOCKET=", 15))
			env[k++] = environ[i];
	memcpy(preload_var, preloaded ? "LD_PRELOAD" : "NO_PRELOAD", 10);
	env[k++] = preload_var;
	env[k++] = socket_var;
	env[k] = NULL;
	return env;
}

/* Run one child; fill @ns[op] (and, for the preloaded one, @libc[op]: the
 * paired figure through libc's own names).  Return: false (and a message)
 * if it failed. */
static bool run_child(bool preloaded, uint64_t budget_us, double *ns, double *libc)
{
	char budget[32], line[256], child[] = "--child", native[] = "native", preload[] = "preload";
	char *argv[] = { self_exe, child, preloaded ? preload : native, budget, NULL };
	char **env = child_env(preloaded);
	int p[2], status, got = 0;
	FILE *f;
	pid_t pid;

	snprintf(budget, sizeof(budget), "%llu", (unsigned long long)budget_us);
	if (pipe2(p, O_CLOEXEC))
		die("pipe2");
	fflush(stdout);
	pid = fork();
	if (pid < 0)
		die("fork");
	if (!pid) {
		if (dup2(p[1], STDOUT_FILENO) < 0)
			_exit(127);
		execve(self_exe, argv, env);
		_exit(127);
	}
	free(env);
	close(p[1]);
	f = fdopen(p[0], "r");
	if (!f)
		die("fdopen");
	while (fgets(line, sizeof(line), f)) {
		int i, k;
		double v, l;

		k = sscanf(line, "%d %lf %lf", &i, &v, &l);
		if (k == (preloaded ? 3 : 2) && i >= 0 && i < N_OPS) {
			ns[i] = v;
			if (preloaded)
				libc[i] = l;
			got++;
		}
	}
	fclose(f);
	if (waitpid(pid, &status, 0) != pid)
		die("waitpid");
	if (!WIFEXITED(status) || WEXITSTATUS(status) || got != N_OPS) {
		fprintf(stderr, "bench-preload: the %s process failed (status 0x%x, %d of %d figures)\n",
			preloaded ? "preloaded" : "native", status, got, N_OPS);
		return false;
	}
	return true;
}

int main(int argc, char **argv)
{
	double best[2][N_OPS], best_libc[N_OPS], ns[N_OPS], libc[N_OPS];
	bool quick = false;
	int rounds, cpu = -1, n_over = 0, n_wrapped = 0, n_over_paired = 0;
	uint64_t budget_us, t0 = now_ns();
	double worst = 0, worst_paired = 0;
	const char *worst_name = "", *worst_paired_name = "";
	cpu_set_t mask, one;
	struct utsname un;
	ssize_t n;

	if ((argc == 4 || argc == 5) && !strcmp(argv[1], "--child"))
		return child_main(argv[2], argv[3], argc == 5 ? argv[4] : NULL, 0);
	if (argc == 5 && !strcmp(argv[1], "--calls")) {
		long calls = atol(argv[3]);
		int op = atoi(argv[4]);

		if (calls <= 0 || op < 0 || op >= N_OPS) {
			fprintf(stderr, "bench-preload: --calls: N > 0 and OP 0-%d\n", N_OPS - 1);
			return 2;
		}
		return child_main(argv[2], NULL, argv[4], calls);
	}
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--quick")) {
			quick = true;
		} else {
			fprintf(stderr, "Usage: %s [--quick]\n", argv[0]);
			return 2;
		}
	}
	rounds = quick ? 3 : 16;
	budget_us = 20000;	/* per operation, per process, per round */

	n = readlink("/proc/self/exe", self_exe, sizeof(self_exe) - 1);
	if (n <= 0)
		die("/proc/self/exe");
	self_exe[n] = '\0';
	snprintf(preload_var, sizeof(preload_var), "LD_PRELOAD=");
	if (!find_preload(preload_var + 11, sizeof(preload_var) - 11)) {
		fprintf(stderr,
			"bench-preload: no %s (set DMASYNC_PRELOAD, or build it: it is looked for "
			"in ../src/preload/ beside this program)\n",
			PRELOAD_NAME);
		return 1;
	}
	snprintf(socket_path, sizeof(socket_path), "/tmp/bench-preload-%d.sock", (int)getpid());
	unlink(socket_path);
	snprintf(socket_var, sizeof(socket_var), "DMASYNC_SOCKET=%s", socket_path);

	/* Both processes on our first CPU (they inherit it). */
	if (sched_getaffinity(0, sizeof(mask), &mask))
		die("sched_getaffinity");
	for (int c = 0; c < CPU_SETSIZE && cpu < 0; c++)
		if (CPU_ISSET(c, &mask))
			cpu = c;
	CPU_ZERO(&one);
	CPU_SET(cpu, &one);
	if (sched_setaffinity(0, sizeof(one), &one))
		die("sched_setaffinity");

	uname(&un);
	printf("bench-preload%s: %s %s %s, %ld CPUs\n", quick ? " --quick" : "", un.sysname,
	       un.release, un.machine, sysconf(_SC_NPROCESSORS_ONLN));
	printf("preload: %s\n", preload_var + 11);
	printf("%d rounds, native and preloaded processes alternating, both on CPU %d; best "
	       "batch of each\nprocess and best of the rounds; floor = the native call, ratio = "
	       "preloaded / native\n\n",
	       rounds, cpu);

	for (int i = 0; i < N_OPS; i++)
		best[0][i] = best[1][i] = best_libc[i] = INFINITY;
	for (int r = 0; r < rounds; r++) {
		for (int k = 0; k < 2; k++) {
			int m = (r + k) % 2;	/* 0 native, 1 preloaded: N P, P N, ... */

			if (!run_child(m == 1, budget_us, ns, libc))
				return 1;
			for (int i = 0; i < N_OPS; i++) {
				if (ns[i] < best[m][i])
					best[m][i] = ns[i];
				if (m == 1 && libc[i] < best_libc[i])
					best_libc[i] = libc[i];
			}
		}
	}

	printf("%-32s %10s %10s %8s %7s | %10s %8s %7s\n", "ns per call", "native", "preloaded",
	       "+ns", "ratio", "libc", "+ns", "paired");
	for (int i = 0; i < N_OPS; i++) {
		double ratio = best[1][i] / best[0][i], paired = best[1][i] / best_libc[i];
		bool over = ops[i].wrapped && ratio > TARGET;
		bool over_paired = ops[i].wrapped && paired > TARGET;

		printf("%-32s %10.1f %10.1f %+8.1f %6.3fx | %10.1f %+8.1f %6.3fx%s\n", ops[i].name,
		       best[0][i], best[1][i], best[1][i] - best[0][i], ratio, best_libc[i],
		       best[1][i] - best_libc[i], paired,
		       over_paired ? "  > target" : over ? "  (> target across processes)" : "");
		if (!ops[i].wrapped)
			continue;
		n_wrapped++;
		n_over += over;
		n_over_paired += over_paired;
		if (ratio > worst) {
			worst = ratio;
			worst_name = ops[i].name;
		}
		if (paired > worst_paired) {
			worst_paired = paired;
			worst_paired_name = ops[i].name;
		}
	}
	printf("\nverdict, paired (the wrapper's cost: preloaded process, its calls against libc's "
	       "own, batch about batch):\n  %d of %d wrapped operations within the %.2fx target; "
	       "worst %.3fx (%s)%s\n",
	       n_wrapped - n_over_paired, n_wrapped, TARGET, worst_paired, worst_paired_name,
	       n_over_paired ? ": target missed" : ": target met");
	printf("verdict, across processes (also the noise between two processes: see the "
	       "getppid row):\n  %d of %d within the target; worst %.3fx (%s)%s\n",
	       n_wrapped - n_over, n_wrapped, worst, worst_name,
	       n_over ? ": target missed" : ": target met");
	if (!access(socket_path, F_OK)) {
		printf("note: a broker was started at %s (ordinary fds should not start one)\n",
		       socket_path);
	} else {
		printf("broker started: no\n");
	}
	printf("(%.1f s)\n", (double)(now_ns() - t0) / 1e9);
	return 0;
}
