/* SPDX-License-Identifier: MIT */
/*
 * Robustness of dmasyncd against whatever a same-uid client sends it
 * (issue 10: one process cannot break or exhaust the broker).  Each
 * deterministic case below reproduces a defect it found, all fixed.
 *
 * The program starts a broker of its own (dmasyncd --foreground --persist
 * on a socket in a fresh directory), then:
 *
 *  - runs a few deterministic cases of malformed requests, each one a
 *    reproducer of a defect found by fuzzing (or a protocol rule): these
 *    run on brokers of their own, so that one that wedges its broker does
 *    not spoil the rest;
 *  - forks fuzzing clients that send valid requests (HELLO, OPEN, IOCTL of
 *    every ioctl the schema knows, IDENTIFY, MIRROR, MAP, SYNC, FDINFO,
 *    LIST, STATS, DOORBELL, PROXY_*, BUF_*, FAULT...) mutated in their
 *    header, payload, lengths, fd counts and fd kinds (pipes, /dev/null,
 *    memfds, sockets, epoll/event/timer fds, directories, their own
 *    connection, the broker's own objects), plus random bytes; they close
 *    connections at random moments and some are SIGKILLed mid-stream;
 *  - meanwhile a well-behaved client (the real library: dmasync_open(),
 *    dmasync_ioctl(), dmasync_poll()) checks that the broker keeps serving
 *    sw_sync timelines, sync files, merges and heap buffers correctly;
 *  - afterwards checks that the broker is alive, answers, and that its
 *    fd count and live objects return to their baseline once the fuzzers
 *    are gone (no leak).
 *
 * Everything the fuzzers send derives from one seed (printed; -s SEED to
 * replay).  Options: -s SEED, -t SECONDS of fuzzing (default 3),
 * -j FUZZERS (default 3), -d DMASYNCD (default: $DMASYNC_DAEMON), -H
 * SECONDS: when the checker hangs or something leaked, keep the broker
 * (and the checker) that long for a debugger.
 *
 * Output is TAP; the exit status is non-zero if any case failed.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <linux/dma-buf.h>
#include <linux/dma-heap.h>
#include <linux/sync_file.h>
#include <linux/udmabuf.h>

#include <dmasync/dmasync-uapi.h>
#include "ipc.h"
#include "schema.h"
#include "sw_sync_uapi.h"

#define HEAP_PATH "/dev/dma_heap/system"

/* ---- options, TAP ------------------------------------------------------------------------ */

static uint64_t seed = 0x5eedf00dULL;
static double fuzz_seconds = 3.0;
static int n_fuzzers = 3;
static int hold_seconds;	/* -H: on a hang, leave everything as is that long */
static const char *daemon_path;

static int tap_n, tap_failed;

static void tap(bool ok, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void tap(bool ok, const char *fmt, ...)
{
	va_list ap;

	printf("%s %d - ", ok ? "ok" : "not ok", ++tap_n);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	if (!ok)
		tap_failed++;
}

static void diag(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void diag(const char *fmt, ...)
{
	va_list ap;

	printf("# ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void pause_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

/* Poll @cond every millisecond for up to @ms (for states no fd signals:
 * /proc contents, a broker's counters). */
#define WAIT_FOR(cond, ms)                                                     \
	({                                                                     \
		uint64_t __end = now_ms() + (uint64_t)(ms);                    \
		bool __ok;                                                     \
		while (!(__ok = (cond)) && now_ms() < __end)                   \
			pause_ms(1);                                           \
		__ok;                                                          \
	})

/* splitmix64: every fuzzer's stream derives from the seed. */
static uint64_t mix(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* ---- private brokers --------------------------------------------------------------------- */

static char sock_dir[64];
static pid_t main_pid;

static int rm_one(const char *p, const struct stat *st, int f, struct FTW *w)
{
	(void)st;
	(void)f;
	(void)w;
	remove(p);
	return 0;
}

static void rm_sock_dir(void)
{
	if (getpid() == main_pid && sock_dir[0])
		nftw(sock_dir, rm_one, 8, FTW_DEPTH | FTW_PHYS);
}

struct broker {
	pid_t pid;
	char path[128];
	int status;		/* once reaped: its wait status, else -1 */
};

static int sock_connect(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	if (s >= 0 && connect(s, (struct sockaddr *)&sa, sizeof(sa))) {
		close(s);
		return -1;
	}
	return s;
}

static bool broker_alive(struct broker *b)
{
	int st;

	if (b->status != -1)
		return false;
	if (waitpid(b->pid, &st, WNOHANG) == b->pid) {
		b->status = st;
		if (WIFSIGNALED(st))
			diag("broker %d died of signal %d", (int)b->pid, WTERMSIG(st));
		else
			diag("broker %d exited with %d", (int)b->pid, WEXITSTATUS(st));
		return false;
	}
	return true;
}

static bool can_connect(struct broker *b)
{
	int s = sock_connect(b->path);

	if (s < 0)
		return false;
	close(s);
	return true;
}

/* A broker of our own on a fresh socket; true once it accepts connections. */
static bool broker_start(struct broker *b)
{
	static int seq;

	b->status = -1;
	snprintf(b->path, sizeof(b->path), "%s/b%d", sock_dir, ++seq);
	fflush(stdout);
	b->pid = fork();
	if (b->pid < 0)
		return false;
	if (b->pid == 0) {
		unsetenv("LD_PRELOAD");
		execl(daemon_path, "dmasyncd", "--foreground", "--persist", "--socket", b->path,
		      (char *)NULL);
		_exit(127);
	}
	/* It binds, then listens: nothing to wait on but the socket itself. */
	return WAIT_FOR(can_connect(b) || !broker_alive(b), 20000) && broker_alive(b);
}

/* SIGKILL (by its pid, which we started) and reap.  Return: false if it
 * had died before we asked. */
static bool broker_stop(struct broker *b)
{
	bool alive = broker_alive(b);

	if (alive) {
		kill(b->pid, SIGKILL);
		waitpid(b->pid, &b->status, 0);
	}
	return alive;
}

/* Open fds of process @pid (-1 if unreadable). */
static int fd_count(pid_t pid)
{
	char path[64];
	struct dirent *e;
	DIR *d;
	int n = 0;

	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	d = opendir(path);
	if (!d)
		return -1;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

/* The lowest fd of @pid whose /proc link starts with @what, or -1. */
static int find_fd(pid_t pid, const char *what)
{
	char path[64], link[128];
	struct dirent *e;
	DIR *d;
	int found = -1;

	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	d = opendir(path);
	if (!d)
		return -1;
	while ((e = readdir(d))) {
		char lp[320];
		ssize_t n;
		int fd = atoi(e->d_name);

		if (e->d_name[0] == '.')
			continue;
		snprintf(lp, sizeof(lp), "%s/%s", path, e->d_name);
		n = readlink(lp, link, sizeof(link) - 1);
		if (n <= 0)
			continue;
		link[n] = '\0';
		if (!strncmp(link, what, strlen(what)) && (found < 0 || fd < found))
			found = fd;
	}
	closedir(d);
	return found;
}

/* On a hang: every thread's stack of @pid on stderr, if gdb is there. */
static void dump_stacks(pid_t pid, const char *who)
{
	char arg[32];
	pid_t g;

	fprintf(stderr, "# stacks of %s %d:\n", who, (int)pid);
	snprintf(arg, sizeof(arg), "%d", (int)pid);
	fflush(stdout);
	g = fork();
	if (g == 0) {
		dup2(2, 1);
		execlp("gdb", "gdb", "-nx", "-batch", "-p", arg, "-ex", "thread apply all bt",
		       (char *)NULL);
		_exit(127);
	}
	if (g > 0)
		waitpid(g, NULL, 0);
}

/* The inode of the Unix socket listening at @path (/proc/net/unix), or 0. */
static unsigned long listener_inode(const char *path)
{
	char line[512];
	unsigned long ino = 0;
	FILE *f = fopen("/proc/net/unix", "re");

	while (f && fgets(line, sizeof(line), f)) {
		char p[256] = "";
		unsigned long i;

		/* Num RefCount Protocol Flags Type St Inode Path */
		if (sscanf(line, "%*s %*s %*s %*s %*s %*s %lu %255s", &i, p) == 2 && !strcmp(p, path))
			ino = i;
	}
	if (f)
		fclose(f);
	return ino;
}

/* The broker's own epoll fd: the one that watches its listening socket. */
static int main_epoll_fd(struct broker *b)
{
	char want[64], path[64], line[256];
	int lfd, found = -1;

	snprintf(want, sizeof(want), "socket:[%lu]", listener_inode(b->path));
	lfd = find_fd(b->pid, want);
	for (int fd = 0; lfd >= 0 && fd < 256 && found < 0; fd++) {
		FILE *f;

		snprintf(path, sizeof(path), "/proc/%d/fdinfo/%d", (int)b->pid, fd);
		f = fopen(path, "re");
		while (f && fgets(line, sizeof(line), f)) {
			int t;

			if (sscanf(line, "tfd: %d", &t) == 1 && t == lfd)
				found = fd;
		}
		if (f)
			fclose(f);
	}
	return found;
}

/* ---- raw protocol ------------------------------------------------------------------------ */

static char rx_buf[IPC_MAX_PAYLOAD];

/* Wait up to @ms for a message other than one-way ones; 0, -ETIMEDOUT,
 * -ECONNRESET (dropped) or another negative errno. */
static int recv_within(int s, struct ipc_msg *rep, int ms)
{
	struct pollfd p = { .fd = s, .events = POLLIN };
	int r;

	rep->payload = rx_buf;
	rep->nfds = 0;
	do
		r = poll(&p, 1, ms);
	while (r < 0 && errno == EINTR);
	if (r == 0)
		return -ETIMEDOUT;
	r = ipc_recv(s, rep, MSG_DONTWAIT);
	return r;
}

static int call(int s, struct ipc_msg *req, struct ipc_msg *rep, int ms)
{
	int r = ipc_send(s, req, MSG_DONTWAIT);

	return r ? r : recv_within(s, rep, ms);
}

static int hello(int s)
{
	struct ipc_msg req = { .hdr = { .op = IPC_HELLO, .arg0 = IPC_VERSION,
					.arg1 = (uint64_t)getpid() } }, rep;
	int r = call(s, &req, &rep, 5000);

	if (r)
		return r;
	ipc_msg_close_fds(&rep);
	return rep.hdr.ret == IPC_VERSION ? 0 : -EPROTO;
}

static int stats(int s, struct ipc_stats *st, int ms)
{
	struct ipc_msg req = { .hdr = { .op = IPC_STATS, .seq = 77 } }, rep;
	int r = call(s, &req, &rep, ms);

	if (r)
		return r;
	ipc_msg_close_fds(&rep);
	if (rep.hdr.ret || rep.hdr.len != sizeof(*st))
		return -EPROTO;
	memcpy(st, rx_buf, sizeof(*st));
	return 0;
}

/* A new connection that has said HELLO, or -1. */
static int client_of(struct broker *b)
{
	int s = sock_connect(b->path);

	if (s >= 0 && hello(s)) {
		close(s);
		s = -1;
	}
	return s;
}

/* Whether a brand-new client is answered within @ms. */
static bool answers(struct broker *b, int ms)
{
	struct ipc_stats st;
	int s = sock_connect(b->path);
	bool ok;

	if (s < 0)
		return false;
	ok = !hello(s) && !stats(s, &st, ms) && st.pid == (uint64_t)b->pid;
	close(s);
	return ok;
}

/* OPEN of @dev on @s: the new fd, or a negative errno. */
static int open_dev(int s, uint64_t dev)
{
	struct ipc_msg req = { .hdr = { .op = IPC_OPEN, .arg0 = dev, .arg1 = O_RDWR | O_CLOEXEC } }, rep;
	int r = call(s, &req, &rep, 5000);

	if (r)
		return r;
	if (rep.hdr.ret < 0 || rep.nfds != 1) {
		ipc_msg_close_fds(&rep);
		return rep.hdr.ret < 0 ? (int)rep.hdr.ret : -EPROTO;
	}
	return rep.fds[0];
}

/* An IPC_IOCTL request on @target: @io then @in_len bytes of @region. */
static int send_ioctl(int s, int target, const struct ipc_ioctl *io, const void *region,
		      uint32_t flags)
{
	static char buf[sizeof(struct ipc_ioctl) + 65536];
	struct ipc_msg req = { .hdr = { .op = IPC_IOCTL, .seq = 5, .flags = flags } };

	memcpy(buf, io, sizeof(*io));
	memcpy(buf + sizeof(*io), region, io->in_len);
	req.payload = buf;
	req.hdr.len = (uint32_t)(sizeof(*io) + io->in_len);
	req.fds[0] = target;
	req.nfds = 1;
	return ipc_send(s, &req, MSG_DONTWAIT);
}

/* Live objects and connected clients, seen from connection @s. */
static bool settled(int s, uint64_t objects, uint64_t clients)
{
	struct ipc_stats st;

	return !stats(s, &st, 2000) && st.objects <= objects && st.clients <= clients;
}

/* The broker's listing of live objects (IPC_LIST), as diagnostics. */
static void show_list(int s)
{
	struct ipc_msg req = { .hdr = { .op = IPC_LIST, .seq = 3 } }, rep;
	char line[512];
	FILE *f;

	if (call(s, &req, &rep, 3000) || rep.hdr.ret || rep.nfds != 1) {
		ipc_msg_close_fds(&rep);
		return;
	}
	f = fdopen(rep.fds[0], "r");
	while (f && fgets(line, sizeof(line), f))
		diag("listing: %.*s", (int)strcspn(line, "\n"), line);
	if (f)
		fclose(f);
}

/* The broker's fds (number -> link) as text, to tell what is new. */
static void fd_links(pid_t pid, char *out, size_t len)
{
	char path[64], lp[320], link[256];
	struct dirent *e;
	size_t n = 0;
	DIR *d;

	out[0] = '\0';
	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	d = opendir(path);
	while (d && (e = readdir(d))) {
		ssize_t k;

		if (e->d_name[0] == '.')
			continue;
		snprintf(lp, sizeof(lp), "%s/%s", path, e->d_name);
		k = readlink(lp, link, sizeof(link) - 1);
		if (k <= 0)
			continue;
		link[k] = '\0';
		n += (size_t)snprintf(out + n, n < len ? len - n : 0, "%s->%s\n", e->d_name, link);
		if (n >= len)
			break;
	}
	if (d)
		closedir(d);
}

static void show_new_fds(pid_t pid, const char *before)
{
	static char now[16384];
	char *save = NULL;

	fd_links(pid, now, sizeof(now));
	for (char *l = strtok_r(now, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
		char key[300];

		snprintf(key, sizeof(key), "%s\n", l);
		if (!strstr(before, key))
			diag("new broker fd: %s", l);
	}
}

/* ---- deterministic cases ----------------------------------------------------------------- */

/* Unknown ops are answered with an error; the client stays connected. */
static void case_unknown_op(struct broker *b)
{
	struct ipc_msg req = { .hdr = { .op = IPC_OP_MAX + 17, .seq = 9 } }, rep;
	struct ipc_stats st;
	int s = client_of(b), r;

	if (s < 0) {
		tap(false, "unknown op answered with an error");
		return;
	}
	r = call(s, &req, &rep, 5000);
	ipc_msg_close_fds(&rep);
	tap(!r && rep.hdr.ret == -EOPNOTSUPP && rep.hdr.seq == 9 && !stats(s, &st, 5000),
	    "unknown op answered with EOPNOTSUPP, connection kept (r %d ret %lld)", r,
	    r ? 0 : (long long)rep.hdr.ret);
	close(s);
}

/* Malformed framing (header len, nfds, truncation) drops that client only. */
static void case_bad_framing(struct broker *b)
{
	struct {
		const char *what;
		int variant;
	} v[] = {
		{ "len larger than sent", 0 }, { "len smaller than sent", 1 },
		{ "nfds says 2, 1 sent", 2 }, { "nfds says 0, 1 sent", 3 },
		{ "3-byte message", 4 }, { "empty message", 5 },
	};
	int bad = 0;

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		struct ipc_hdr h = { .op = IPC_STATS, .seq = 1 };
		char msg[sizeof(h) + 16] = { 0 };
		size_t len = sizeof(h);
		union {
			char buf[CMSG_SPACE(sizeof(int))];
			struct cmsghdr align;
		} ctl;
		struct iovec iov = { msg, 0 };
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
		struct ipc_msg rep;
		int s = client_of(b), null = open("/dev/null", O_RDONLY | O_CLOEXEC), r;

		switch (v[i].variant) {
		case 0: h.len = 16; break;
		case 1: len += 16; break;
		case 2: h.nfds = 2; break;
		case 3: h.nfds = 0; break;
		case 4: len = 3; break;
		case 5: len = 0; break;
		}
		memcpy(msg, &h, sizeof(h));
		iov.iov_len = len;
		if (v[i].variant == 2 || v[i].variant == 3) {
			struct cmsghdr *c;

			memset(&ctl, 0, sizeof(ctl));
			mh.msg_control = ctl.buf;
			mh.msg_controllen = sizeof(ctl.buf);
			c = CMSG_FIRSTHDR(&mh);
			c->cmsg_level = SOL_SOCKET;
			c->cmsg_type = SCM_RIGHTS;
			c->cmsg_len = CMSG_LEN(sizeof(int));
			memcpy(CMSG_DATA(c), &null, sizeof(int));
		}
		if (s < 0 || sendmsg(s, &mh, MSG_NOSIGNAL) < 0) {
			bad++;
		} else {
			/* dropped: end of file, no reply */
			r = recv_within(s, &rep, 5000);
			ipc_msg_close_fds(&rep);
			if (r != -ECONNRESET) {
				diag("%s: got %d instead of a hang-up", v[i].what, r);
				bad++;
			}
		}
		if (s >= 0)
			close(s);
		close(null);
	}
	tap(!bad && answers(b, 5000), "malformed framing drops that client, the broker serves on");
}

/*
 * The broker must refuse requests from a client that has not said HELLO
 * with the right version (docs/design.md section 5: "a mismatch closes the
 * connection with EPROTO for every later request").  Answered with an
 * error, or dropped; never served.
 */
static void case_hello_first(struct broker *b)
{
	int served = 0;

	for (int variant = 0; variant < 2; variant++) {
		int s = sock_connect(b->path), r;

		if (s < 0) {
			served++;
			continue;
		}
		if (variant == 1) {
			struct ipc_msg req = { .hdr = { .op = IPC_HELLO, .arg0 = IPC_VERSION + 1000 } },
				       rep;

			r = call(s, &req, &rep, 5000);
			ipc_msg_close_fds(&rep);
			if (!r && rep.hdr.ret != -EPROTO)
				served++;
		}
		r = open_dev(s, IPC_DEV_SW_SYNC);
		if (r >= 0) {
			diag("%s: OPEN served (fd %d)", variant ? "after a refused HELLO" : "before HELLO",
			     r);
			close(r);
			served++;
		}
		close(s);
	}
	tap(!served, "no request is served before a successful HELLO");
}

/* Objects and fds of @b, with one probe connection, settle to what they
 * were (@objects, @fds); diagnose otherwise. */
static bool back_to(struct broker *b, int probe, uint64_t objects, int fds)
{
	bool ok = WAIT_FOR(settled(probe, objects, 1) && fd_count(b->pid) <= fds, 1500);

	if (!ok) {
		struct ipc_stats st = { 0 };

		stats(probe, &st, 2000);
		diag("broker: %llu objects (was %llu), %d fds (was %d), %llu clients",
		     (unsigned long long)st.objects, (unsigned long long)objects, fd_count(b->pid),
		     fds, (unsigned long long)st.clients);
	}
	return ok;
}

/*
 * A broker of a case's own, a client that has said HELLO (@probe) and the
 * broker's objects and fds before the case: fixture_start() (false, and
 * the case reported failed, if there is no broker), fixture_back() (the
 * broker back there, within a while), fixture_end() (@ok, and whether the
 * broker stopped cleanly).
 */
struct fixture {
	struct broker b;
	struct ipc_stats st;
	int probe, fds0;
};

static bool fixture_start(struct fixture *fx, const char *what)
{
	fx->probe = -1;
	if (!broker_start(&fx->b)) {
		tap(false, "%s (no broker)", what);
		return false;
	}
	fx->probe = client_of(&fx->b);
	if (fx->probe >= 0 && stats(fx->probe, &fx->st, 5000)) {
		close(fx->probe);
		fx->probe = -1;
	}
	fx->fds0 = fd_count(fx->b.pid);
	return true;
}

static bool fixture_back(struct fixture *fx)
{
	bool ok = fx->probe >= 0 && back_to(&fx->b, fx->probe, fx->st.objects, fx->fds0);

	if (!ok && fx->probe >= 0)
		show_list(fx->probe);
	return ok;
}

static bool fixture_end(struct fixture *fx, bool ok)
{
	if (fx->probe >= 0)
		close(fx->probe);
	return broker_stop(&fx->b) && ok;
}

/*
 * Found by the fuzzer (session 10, fixed): do_ioctl() takes the fds a request made from the fields
 * the *client's* ipc_ioctl.kind and .out_len point at (schema_lookup() of
 * the claimed kind), not from where the handler of the real target wrote
 * them.  A dma-heap device fd, asked SW_SYNC_IOC_CREATE_FENCE (nr 0:
 * "allocate") with kind = TIMELINE: the heap allocates, writes the new
 * buffer's fd at offset 8, and the broker reads the fd to hand over at
 * offset 36, a number the client chose.
 *  (a) a number not open: the reply fails (EBADF), the buffer fd stays in
 *      the broker forever (one object and one fd leaked per request);
 *  (b) the number of the broker's own epoll fd: sent to the client and
 *      then *closed* by the broker (ipc_msg_close_fds(&out)); its loop
 *      spins on EBADF and never serves anyone again.
 *  (c) out_len 0 with the right kind (CREATE_FENCE on a timeline): the
 *      fence's sync file is made, not harvested (out_len too short), and
 *      leaks in the broker.
 */
static void case_ioctl_out_fd(int variant)
{
	static const char *what[] = {
		"ioctl on a heap fd with a claimed timeline kind leaks no buffer in the broker",
		"ioctl cannot make the broker hand out and close its own epoll fd",
		"CREATE_FENCE with out_len 0 leaks no sync file in the broker",
	};
	struct broker b;
	struct ipc_stats st;
	int probe = -1, s = -1, target = -1, fds0 = 0, victim = 100000;
	bool ok = false;

	if (!broker_start(&b)) {
		tap(false, "%s (no broker)", what[variant]);
		return;
	}
	probe = client_of(&b);
	if (probe < 0 || stats(probe, &st, 5000))
		goto out;
	fds0 = fd_count(b.pid);
	s = client_of(&b);
	if (s < 0)
		goto out;
	target = open_dev(s, variant == 2 ? IPC_DEV_SW_SYNC : IPC_DEV_HEAP_SYSTEM);
	if (target < 0)
		goto out;
	{
		struct sw_sync_create_fence_data d = { .value = 4096, .fence = -1 };
		struct ipc_ioctl io = { .request = SW_SYNC_IOC_CREATE_FENCE, .kind = IPC_KIND_TIMELINE,
					.in_len = sizeof(d), .out_len = sizeof(d) };
		struct ipc_msg rep;

		if (variant == 1)
			victim = main_epoll_fd(&b);
		if (variant == 2)
			io.out_len = 0;
		else
			d.fence = victim;	/* offset 36: where a timeline's fd would be */
		if (send_ioctl(s, target, &io, &d, 0))
			goto out;
		if (!recv_within(s, &rep, 3000))
			ipc_msg_close_fds(&rep);
	}
	close(s);
	s = -1;
	close(target);
	target = -1;
	if (variant == 1) {
		char lp[64], link[64] = "";
		ssize_t n;

		snprintf(lp, sizeof(lp), "/proc/%d/fd/%d", (int)b.pid, victim);
		n = readlink(lp, link, sizeof(link) - 1);
		link[n > 0 ? n : 0] = '\0';
		ok = victim >= 0 && answers(&b, 2000) && !strcmp(link, "anon_inode:[eventpoll]");
		if (!ok)
			diag("broker's epoll fd %d is now \"%s\"; %s", victim, link,
			     answers(&b, 0) ? "answers" : "does not answer a new client");
	} else {
		ok = back_to(&b, probe, st.objects, fds0);
	}
out:
	if (s >= 0)
		close(s);
	if (target >= 0)
		close(target);
	if (probe >= 0)
		close(probe);
	ok = broker_stop(&b) && ok;
	tap(ok, "%s", what[variant]);
}

/*
 * Found by the fuzzer (session 10, fixed): an IOCTL with in_fault set lays the region out to end at
 * the guard page (region = scratch + SCRATCH_PAGES * PAGE - in_len), but
 * when the handler succeeds the broker copies io.out_len bytes from there
 * into the reply: out_len > in_len reads the PROT_NONE page (SIGSEGV).
 * SW_SYNC_IOC_INC of 0 with in_len 4, out_len 8192.
 */
static void case_in_fault_overread(void)
{
	struct broker b;
	int s = -1, tl = -1, r = -1;
	bool ok = false;

	if (!broker_start(&b)) {
		tap(false, "in_fault region with out_len > in_len (no broker)");
		return;
	}
	s = client_of(&b);
	tl = s >= 0 ? open_dev(s, IPC_DEV_SW_SYNC) : -1;
	if (tl >= 0) {
		uint32_t zero = 0;
		struct ipc_ioctl io = { .request = SW_SYNC_IOC_INC, .kind = IPC_KIND_TIMELINE,
					.in_len = 4, .in_fault = 1, .out_len = 8192 };
		struct ipc_msg rep;

		if (!send_ioctl(s, tl, &io, &zero, 0)) {
			r = recv_within(s, &rep, 3000);
			if (!r)
				ipc_msg_close_fds(&rep);
		}
		ok = (r == 0 || r == -ECONNRESET) && answers(&b, 3000);
		if (!ok)
			diag("reply: %d", r);
	}
	if (s >= 0)
		close(s);
	if (tl >= 0)
		close(tl);
	ok = broker_stop(&b) && ok;
	tap(ok, "in_fault region with out_len > in_len: answered, broker alive");
}

/*
 * HELLO's log fd must never block the broker.  diag.c nonblocking_log()
 * reopens FIFOs and character devices non-blocking and writes sockets with
 * MSG_DONTWAIT; anything else is written as the client gave it.  An
 * eventfd (neither) is such an fd: it would block a write() that overflows
 * its counter ("dmasync:" is the u64 0x3a636e7973616d64, the fifth line
 * would).  Linux 6.x refuses eventfd writes of other than 8 bytes
 * (EINVAL), so this passes there; it guards the kernels that accept them.
 */
static void case_eventfd_log(void)
{
	struct broker b;
	int ev = eventfd(0, EFD_CLOEXEC), s = -1, sent = 0;
	bool ok;

	if (!broker_start(&b) || ev < 0) {
		tap(false, "HELLO with an eventfd log (no broker)");
		if (ev >= 0)
			close(ev);
		return;
	}
	s = sock_connect(b.path);
	for (int i = 0; s >= 0 && i < 6; i++) {
		static char text[] = "fault=no-such-fault\n";
		struct ipc_msg req = { .hdr = { .op = IPC_HELLO, .arg0 = IPC_VERSION,
						.arg1 = (uint64_t)getpid(), .len = sizeof(text) - 1 },
				       .payload = text, .nfds = 1 }, rep;

		req.fds[0] = ev;
		if (ipc_send(s, &req, MSG_DONTWAIT))
			break;
		sent++;
		if (recv_within(s, &rep, 2000))
			break;
		ipc_msg_close_fds(&rep);
	}
	ok = answers(&b, 3000);
	if (s >= 0)
		close(s);
	close(ev);
	ok = broker_stop(&b) && ok;
	tap(ok && sent == 6, "HELLO with a blocking eventfd as log fd cannot block the broker");
}

/*
 * Found by the fuzzer (session 11), as an adopted buffer and a client that
 * never went away: the broker kept, for a client, files that were its
 * own.  Its own connection given back as HELLO's log (or as ACCESS_CHANNEL)
 * never hangs up, since the broker holds both ends: the client stays for
 * ever.  The timeline page (HELLO's reply) adopted as a buffer lives as
 * long as the broker.  Each is refused or not kept; once the client is
 * gone the broker is back where it was.
 */
static void case_own_files(void)
{
	static const char what[] = "the broker keeps none of its own files for a client "
				   "(connection as log or channel, page as buffer)";
	static char text[] = "watchdog=1\n";
	struct fixture fx;
	struct ipc_adopt a = { .size = 4096, .accmode = O_RDWR };
	struct ipc_msg req, rep;
	int s = -1, page = -1;
	long long r_chan = 0, r_adopt = 0;
	bool ok = false;

	if (!fixture_start(&fx, what))
		return;
	s = sock_connect(fx.b.path);
	req = (struct ipc_msg){ .hdr = { .op = IPC_HELLO, .arg0 = IPC_VERSION,
					 .arg1 = (uint64_t)getpid(), .len = sizeof(text) - 1 },
				.payload = text, .nfds = 1 };
	req.fds[0] = s;
	if (s < 0 || call(s, &req, &rep, 5000) || rep.hdr.ret != IPC_VERSION || rep.nfds != 1) {
		ipc_msg_close_fds(&rep);
		goto out;
	}
	page = rep.fds[0];
	req = (struct ipc_msg){ .hdr = { .op = IPC_ACCESS_CHANNEL }, .nfds = 1 };
	req.fds[0] = s;
	if (call(s, &req, &rep, 5000))
		goto out;
	ipc_msg_close_fds(&rep);
	r_chan = rep.hdr.ret;
	snprintf(a.exp_name, sizeof(a.exp_name), "fuzz-page");
	req = (struct ipc_msg){ .hdr = { .op = IPC_BUF_ADOPT, .len = sizeof(a) }, .payload = &a,
				.nfds = 1 };
	req.fds[0] = page;
	if (call(s, &req, &rep, 5000))
		goto out;
	ipc_msg_close_fds(&rep);
	r_adopt = rep.hdr.ret;
	close(s);
	s = -1;
	close(page);
	page = -1;
	ok = r_chan == -EINVAL && r_adopt == -EINVAL;
	if (!ok)
		diag("ACCESS_CHANNEL of its connection: %lld, BUF_ADOPT of the page: %lld", r_chan,
		     r_adopt);
	ok = fixture_back(&fx) && ok;
out:
	if (s >= 0)
		close(s);
	if (page >= 0)
		close(page);
	tap(fixture_end(&fx, ok), what);
}

/*
 * Found by the fuzzer (session 11): an empty SOCK_SEQPACKET message read
 * as the end of the connection, and the fds it carried were kept for
 * good.  One of them a connection's client end: that client then never
 * went away.  The client that sent it is dropped; nothing is kept.
 */
static void case_empty_message_fds(void)
{
	static const char what[] = "an empty message with fds drops its client and keeps none of them";
	struct fixture fx;
	int s, other;
	bool ok = false;

	if (!fixture_start(&fx, what))
		return;
	s = client_of(&fx.b);
	other = client_of(&fx.b);
	if (s >= 0 && other >= 0) {
		union {
			char buf[CMSG_SPACE(sizeof(int))];
			struct cmsghdr align;
		} ctl;
		struct iovec iov = { &ctl, 0 };
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf,
				     .msg_controllen = sizeof(ctl.buf) };
		struct cmsghdr *c;
		struct ipc_msg rep;

		memset(&ctl, 0, sizeof(ctl));
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &other, sizeof(int));
		if (sendmsg(s, &mh, MSG_NOSIGNAL) == 0) {
			/* dropped: a hang-up, no reply */
			ok = recv_within(s, &rep, 5000) == -ECONNRESET;
			ipc_msg_close_fds(&rep);
		}
	}
	if (s >= 0)
		close(s);
	if (other >= 0)
		close(other);
	ok = fixture_back(&fx) && ok;
	tap(fixture_end(&fx, ok), what);
}

/*
 * Found by the fuzzer (session 10, fixed in session 11): a reference cycle.  HELLO "watchdog=1"
 * with a memfd as the log fd: the owner's diag keeps a dup of it
 * (diag_create(), kept while the owner lives).  BUF_ADOPT of that same
 * memfd: a buffer owned by the owner, released only when the memfd's
 * last fd closes (inotify IN_IGNORED).  The owner lives while it owns an
 * object (owner_put()), so the diag's dup is never closed, the memfd never
 * goes, and the buffer, the owner and the fd leak for good once the
 * client is gone.
 */
static void case_adopt_log_cycle(void)
{
	static const char what[] = "a buffer adopted from the memfd its client gave as HELLO's log "
				   "goes with the client";
	static char text[] = "watchdog=1\n";
	struct fixture fx;
	struct ipc_adopt a = { .size = 4096, .accmode = O_RDWR };
	struct ipc_msg req = { .hdr = { .op = IPC_HELLO, .arg0 = IPC_VERSION, .len = sizeof(text) - 1 },
			       .payload = text, .nfds = 1 }, rep;
	int s = -1, m = memfd_create("fuzz-cycle", MFD_CLOEXEC);
	bool ok = false;

	if (m < 0 || ftruncate(m, 4096)) {
		tap(false, "%s (no memfd)", what);
		if (m >= 0)
			close(m);
		return;
	}
	if (!fixture_start(&fx, what)) {
		close(m);
		return;
	}
	s = sock_connect(fx.b.path);
	req.hdr.arg1 = (uint64_t)getpid();
	req.fds[0] = m;
	if (s < 0 || call(s, &req, &rep, 5000))
		goto out;
	ipc_msg_close_fds(&rep);
	snprintf(a.exp_name, sizeof(a.exp_name), "fuzz-cycle");
	req = (struct ipc_msg){ .hdr = { .op = IPC_BUF_ADOPT, .len = sizeof(a) }, .payload = &a,
				.nfds = 1 };
	req.fds[0] = m;
	if (call(s, &req, &rep, 5000))
		goto out;
	ipc_msg_close_fds(&rep);
	if (rep.hdr.ret < 0) {
		diag("BUF_ADOPT: %lld", (long long)rep.hdr.ret);
		goto out;
	}
	close(s);
	s = -1;
	close(m);
	m = -1;
	ok = fixture_back(&fx);
out:
	if (s >= 0)
		close(s);
	if (m >= 0)
		close(m);
	tap(fixture_end(&fx, ok), what);
}

/* ---- the well-behaved client ------------------------------------------------------------- */

static int checker_fail;
static int stop_w = -1;	/* the campaign's stop pipe: only the parent keeps it */

#define EXPECT(cond)                                                           \
	do {                                                                   \
		if (!(cond)) {                                                 \
			fprintf(stderr, "# checker: %s:%d: %s (errno %d)\n", __FILE__, __LINE__, \
				#cond, errno);                                 \
			checker_fail++;                                        \
		}                                                              \
	} while (0)

static int c_status(int fd, uint32_t *n)
{
	struct sync_file_info info;

	memset(&info, 0, sizeof(info));
	if (dmasync_ioctl(fd, SYNC_IOC_FILE_INFO, &info))
		return -1000;
	if (n)
		*n = info.num_fences;
	return info.status;
}

static int c_fence(int tl, uint32_t value)
{
	struct sw_sync_create_fence_data d = { .value = value, .fence = -1 };

	snprintf(d.name, sizeof(d.name), "check-%u", value);
	return dmasync_ioctl(tl, SW_SYNC_IOC_CREATE_FENCE, &d) ? -1 : d.fence;
}

static short c_poll(int fd, short events, int ms)
{
	struct pollfd p = { .fd = fd, .events = events };

	return dmasync_poll(&p, 1, ms) < 0 ? -1 : p.revents;
}

static int c_inc(int tl, uint32_t n)
{
	return dmasync_ioctl(tl, SW_SYNC_IOC_INC, &n);
}

/* One round of everyday use; failures counted in checker_fail. */
static void checker_round(void)
{
	int tl = dmasync_open(SW_SYNC_DEVICE_PATH, O_RDWR | O_CLOEXEC);
	int tl2 = dmasync_open(SW_SYNC_DEVICE_PATH, O_RDWR | O_CLOEXEC);
	int heap = dmasync_open(HEAP_PATH, O_RDWR | O_CLOEXEC);
	struct dma_heap_allocation_data a = { .len = 4096, .fd_flags = O_RDWR | O_CLOEXEC };
	struct sync_merge_data m = { .name = "check-merge", .fence = -1 };
	int f1 = -1, f2 = -1, f3 = -1, buf = -1, ex = -1;
	uint32_t n = 0;

	EXPECT(tl >= 0 && tl2 >= 0);
	EXPECT(heap >= 0);
	if (tl < 0 || tl2 < 0 || heap < 0)
		goto out;
	/* Two timelines, a point on each, merged. */
	f1 = c_fence(tl, 1);
	f2 = c_fence(tl2, 1);
	EXPECT(f1 >= 0 && f2 >= 0);
	if (f1 < 0 || f2 < 0)
		goto out;
	m.fd2 = f2;
	EXPECT(dmasync_ioctl(f1, SYNC_IOC_MERGE, &m) == 0);
	EXPECT(c_status(m.fence, &n) == 0);
	EXPECT(n == 2);
	EXPECT(c_poll(f1, POLLIN, 0) == 0);
	EXPECT(c_inc(tl, 1) == 0);
	EXPECT(c_poll(f1, POLLIN, 5000) == POLLIN);
	EXPECT(c_status(f1, NULL) == 1);
	EXPECT(c_status(f2, NULL) == 0);
	EXPECT(c_status(m.fence, NULL) == 0);

	/* A heap buffer: a fence in, a sync file out. */
	EXPECT(dmasync_ioctl(heap, DMA_HEAP_IOCTL_ALLOC, &a) == 0);
	buf = (int)a.fd;
	f3 = c_fence(tl, 2);
	EXPECT(f3 >= 0);
	if (buf >= 0 && f3 >= 0) {
		struct dma_buf_import_sync_file im = { .flags = DMA_BUF_SYNC_WRITE, .fd = f3 };
		struct dma_buf_export_sync_file e = { .flags = DMA_BUF_SYNC_RW, .fd = -1 };

		EXPECT(dmasync_ioctl(buf, DMA_BUF_IOCTL_IMPORT_SYNC_FILE, &im) == 0);
		EXPECT(dmasync_ioctl(buf, DMA_BUF_IOCTL_EXPORT_SYNC_FILE, &e) == 0);
		ex = e.fd;
		EXPECT(ex >= 0 && c_status(ex, NULL) == 0);
		EXPECT(c_poll(buf, POLLOUT, 0) == 0);
	}
	EXPECT(c_inc(tl2, 1) == 0);
	EXPECT(c_poll(m.fence, POLLIN, 5000) == POLLIN);
	EXPECT(c_status(m.fence, NULL) == 1);
	EXPECT(c_inc(tl, 1) == 0);
	if (ex >= 0) {
		EXPECT(c_poll(ex, POLLIN, 5000) == POLLIN);
		EXPECT(c_status(ex, NULL) == 1);
	}
	if (buf >= 0)
		EXPECT(c_poll(buf, POLLOUT, 5000) == POLLOUT);
out:
	if (m.fence >= 0)
		dmasync_close(m.fence);
	for (int *p = (int[]){ f1, f2, f3, buf, ex, tl, tl2, heap }, i = 0; i < 8; i++)
		if (p[i] >= 0)
			dmasync_close(p[i]);
}

/* Fork a checker on @b: rounds until @stop_fd reads end of file (-1: one
 * round).  It writes its round count to @count_fd and exits 0 if all
 * went well. */
static pid_t checker_start(struct broker *b, int stop_fd, int count_fd)
{
	pid_t pid;

	fflush(stdout);
	pid = fork();
	if (pid)
		return pid;
	if (stop_w >= 0)
		close(stop_w);
	setenv("DMASYNC_SOCKET", b->path, 1);
	setenv("DMASYNC_DAEMON", "/nonexistent/dmasyncd", 1);	/* never another broker */
	{
		uint32_t rounds = 0;
		struct pollfd p = { .fd = stop_fd, .events = POLLIN };

		do {
			checker_round();
			rounds++;
		} while (stop_fd >= 0 && !checker_fail && poll(&p, 1, 0) == 0);
		if (stop_fd >= 0)	/* one round more, once the fuzzing is over */
			checker_round();
		if (count_fd >= 0)
			(void)!write(count_fd, &rounds, sizeof(rounds));
	}
	_exit(checker_fail ? 1 : 0);
}

/* ---- fuzzing ----------------------------------------------------------------------------- */

/* Pool kinds: enum ipc_kind as the broker described the fd, 0 for fds
 * that are not its objects, K_UNKNOWN for fds it sent undescribed (a
 * SYNC's wait file, a mirror, a doorbell...). */
enum { K_FOREIGN = 0, K_UNKNOWN = 99 };

struct pfd {
	int fd;
	int kind;		/* enum ipc_kind if one of the broker's objects */
	bool mine;		/* made by the fuzzer (closed at exit only) */
	bool blocking_anon;	/* eventfd/epoll/timerfd */
};

#define POOL_MAX 96
#define KEYS_MAX 32

struct fuzzer {
	uint64_t rng;
	int sock;
	struct pfd pool[POOL_MAX];
	int npool;
	struct { uint64_t dev, ino; uint32_t kind, slot, gen; } keys[KEYS_MAX];
	int nkeys;
	uint64_t sent, replies, drops, timeouts, sessions;
	char buf[sizeof(struct ipc_hdr) + 70000];
	char big[IPC_MAX_PAYLOAD + 4096];
};

static uint64_t r64(struct fuzzer *f)
{
	return mix(&f->rng);
}

static uint32_t rn(struct fuzzer *f, uint32_t n)
{
	return n ? (uint32_t)(r64(f) % n) : 0;
}

static bool chance(struct fuzzer *f, unsigned int percent)
{
	return rn(f, 100) < percent;
}

static uint64_t interesting(struct fuzzer *f)
{
	static const uint64_t v[] = {
		0, 1, 2, 3, 4, 7, 8, 16, 31, 32, 63, 64, 127, 128, 253, 254, 255, 256, 4095, 4096,
		4097, 65535, 65536, 1u << 20, (1u << 20) + 1, 0x7fffffff, 0x80000000u, 0xffffffffu,
		0x100000000ull, 0x7fffffffffffffffull, 0x8000000000000000ull, ~0ull, ~0ull - 1,
	};

	if (chance(f, 20))
		return r64(f);
	return v[rn(f, sizeof(v) / sizeof(v[0]))];
}

static void pool_add(struct fuzzer *f, int fd, int kind, bool mine)
{
	if (fd < 0)
		return;
	if (f->npool == POOL_MAX) {
		/* evict a random one of the broker's (ours stay) */
		int i = (int)rn(f, POOL_MAX), tries = 0;

		while (f->pool[i].mine && tries++ < POOL_MAX)
			i = (i + 1) % POOL_MAX;
		if (f->pool[i].mine) {
			close(fd);
			return;
		}
		close(f->pool[i].fd);
		f->pool[i] = f->pool[--f->npool];
	}
	f->pool[f->npool++] = (struct pfd){ fd, kind, mine };
}

static struct pfd *pick(struct fuzzer *f, int kind)
{
	int start, i;

	if (!f->npool)
		return NULL;
	start = (int)rn(f, (uint32_t)f->npool);
	if (kind >= 0)
		for (i = 0; i < f->npool; i++)
			if (f->pool[(start + i) % f->npool].kind == kind)
				return &f->pool[(start + i) % f->npool];
	return &f->pool[start];
}

/* Close a few of the broker's objects we hold (their last copy, often). */
static void pool_shed(struct fuzzer *f)
{
	for (int i = 0; i < f->npool;) {
		if (!f->pool[i].mine && chance(f, 30)) {
			close(f->pool[i].fd);
			f->pool[i] = f->pool[--f->npool];
		} else {
			i++;
		}
	}
}

static void fuzzer_fds(struct fuzzer *f)
{
	int p[2], sv[2], m;

	if (!pipe2(p, O_CLOEXEC)) {
		pool_add(f, p[0], K_FOREIGN, true);
		pool_add(f, p[1], K_FOREIGN, true);
	}
	pool_add(f, open("/dev/null", O_RDWR | O_CLOEXEC), K_FOREIGN, true);
	pool_add(f, open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC), K_FOREIGN, true);
	pool_add(f, open("/proc/self/status", O_PATH | O_CLOEXEC), K_FOREIGN, true);
	m = memfd_create("fuzz-page", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (m >= 0 && !ftruncate(m, 4096 * 4)) {
		fcntl(m, F_ADD_SEALS, F_SEAL_SHRINK);
		pool_add(f, m, K_FOREIGN, true);
	}
	pool_add(f, memfd_create("dmasync-dmabuf", MFD_CLOEXEC), K_FOREIGN, true);
	for (int type = 0; type < 3; type++) {
		int t = type == 0 ? SOCK_SEQPACKET : type == 1 ? SOCK_STREAM : SOCK_DGRAM;

		if (!socketpair(AF_UNIX, t | SOCK_CLOEXEC, 0, sv)) {
			pool_add(f, sv[0], K_FOREIGN, true);
			pool_add(f, sv[1], K_FOREIGN, true);
		}
	}
	pool_add(f, epoll_create1(EPOLL_CLOEXEC), K_FOREIGN, true);
	pool_add(f, eventfd(0, EFD_CLOEXEC), K_FOREIGN, true);
	pool_add(f, timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC), K_FOREIGN, true);
}

/* The requests the schema knows, and a few it does not. */
static const struct {
	int kind;
	uint32_t request;
} requests[] = {
	{ IPC_KIND_TIMELINE, SW_SYNC_IOC_CREATE_FENCE },
	{ IPC_KIND_TIMELINE, SW_SYNC_IOC_INC },
	{ IPC_KIND_TIMELINE, SW_SYNC_GET_DEADLINE },
	{ IPC_KIND_SYNC_FILE, SYNC_IOC_MERGE },
	{ IPC_KIND_SYNC_FILE, SYNC_IOC_FILE_INFO },
#ifdef SYNC_IOC_SET_DEADLINE
	{ IPC_KIND_SYNC_FILE, SYNC_IOC_SET_DEADLINE },
#endif
	{ IPC_KIND_DMA_BUF, DMA_BUF_IOCTL_EXPORT_SYNC_FILE },
	{ IPC_KIND_DMA_BUF, DMA_BUF_IOCTL_IMPORT_SYNC_FILE },
	{ IPC_KIND_DMA_BUF, DMA_BUF_SET_NAME_B },
	{ IPC_KIND_DMA_BUF, DMA_BUF_IOCTL_SYNC },
	{ IPC_KIND_HEAP_DEV, DMA_HEAP_IOCTL_ALLOC },
	{ IPC_KIND_UDMABUF_DEV, UDMABUF_CREATE },
	{ IPC_KIND_UDMABUF_DEV, UDMABUF_CREATE_LIST },
	{ IPC_KIND_TIMELINE, _IOWR('W', 9, uint64_t) },
	{ IPC_KIND_SYNC_FILE, _IO('>', 1) },
};

static uint32_t ioc_size(uint32_t request)
{
	return _IOC_SIZE(request);
}

/* Fill the argument region of a request plausibly; the in-fd fields go as
 * fds of the pool.  Return: in_len. */
static uint32_t fill_region(struct fuzzer *f, int kind, uint32_t request, char *reg,
			    int *fds, unsigned int *nfds, uint16_t *idx, uint32_t *nidx)
{
	uint32_t len = ioc_size(request);
	struct pfd *p;

	memset(reg, 0, 8192);
	*nidx = 0;
	switch (request) {
	case SW_SYNC_IOC_CREATE_FENCE: {
		struct sw_sync_create_fence_data d = { .value = rn(f, 8) + 1, .fence = -1 };

		snprintf(d.name, sizeof(d.name), "fz%u", rn(f, 100));
		memcpy(reg, &d, sizeof(d));
		break;
	}
	case SW_SYNC_IOC_INC: {
		uint32_t n = chance(f, 80) ? rn(f, 3) : (uint32_t)interesting(f);

		memcpy(reg, &n, 4);
		break;
	}
	case SW_SYNC_GET_DEADLINE:
	case SYNC_IOC_MERGE:
	case DMA_BUF_IOCTL_IMPORT_SYNC_FILE: {
		uint32_t off = request == SW_SYNC_GET_DEADLINE ? 12 : request == SYNC_IOC_MERGE ? 32 : 4;

		if (request == SYNC_IOC_MERGE)
			snprintf(reg, 32, "fzm");
		if (request == DMA_BUF_IOCTL_IMPORT_SYNC_FILE) {
			uint32_t fl = chance(f, 80) ? DMA_BUF_SYNC_RW : (uint32_t)interesting(f);

			memcpy(reg, &fl, 4);
		}
		p = pick(f, chance(f, 75) ? IPC_KIND_SYNC_FILE : -1);
		if (p && chance(f, 90)) {
			memcpy(reg + off, &p->fd, 4);
			idx[(*nidx)++] = (uint16_t)*nfds;
			fds[(*nfds)++] = p->fd;
		} else {
			int none = chance(f, 50) ? -1 : (int)interesting(f);

			memcpy(reg + off, &none, 4);
			idx[(*nidx)++] = 0;
		}
		break;
	}
	case SYNC_IOC_FILE_INFO: {
		uint32_t n = rn(f, 6);
		uint64_t ptr = chance(f, 70) ? 0x1000 : interesting(f);

		memcpy(reg + 40, &n, 4);
		memcpy(reg + 48, &ptr, 8);
		break;
	}
	case DMA_BUF_IOCTL_EXPORT_SYNC_FILE: {
		uint32_t fl = chance(f, 80) ? DMA_BUF_SYNC_RW : (uint32_t)interesting(f);
		int none = -1;

		memcpy(reg, &fl, 4);
		memcpy(reg + 4, &none, 4);
		break;
	}
	case DMA_BUF_SET_NAME_B:
		len = rn(f, 40) + 1;
		for (uint32_t i = 0; i + 1 < len; i++)
			reg[i] = (char)('a' + rn(f, 26));
		if (chance(f, 80))
			reg[len - 1] = 0;
		break;
	case DMA_HEAP_IOCTL_ALLOC: {
		struct dma_heap_allocation_data a = {
			.len = chance(f, 80) ? 4096 * (rn(f, 4) + 1) : interesting(f),
			.fd_flags = chance(f, 80) ? O_RDWR | O_CLOEXEC : (uint32_t)interesting(f),
			.heap_flags = chance(f, 90) ? 0 : interesting(f),
		};

		memcpy(reg, &a, sizeof(a));
		break;
	}
	case UDMABUF_CREATE: {
		struct udmabuf_create c = { .flags = chance(f, 70) ? UDMABUF_FLAGS_CLOEXEC : (uint32_t)interesting(f),
					    .offset = chance(f, 70) ? 0 : interesting(f),
					    .size = chance(f, 70) ? 4096 : interesting(f) };

		p = pick(f, -1);
		idx[(*nidx)++] = p ? (uint16_t)*nfds : 0;
		if (p) {
			c.memfd = (uint32_t)p->fd;
			fds[(*nfds)++] = p->fd;
		}
		memcpy(reg, &c, sizeof(c));
		break;
	}
	case UDMABUF_CREATE_LIST: {
		uint32_t count = chance(f, 80) ? rn(f, 4) + 1 : (uint32_t)interesting(f), fl = 0;
		uint32_t n = count < 8 ? count : 8;

		memcpy(reg, &fl, 4);
		memcpy(reg + 4, &count, 4);
		for (uint32_t i = 0; i < n; i++) {
			struct udmabuf_create_item it = { .offset = 4096 * rn(f, 2), .size = 4096 };

			p = pick(f, -1);
			it.memfd = p ? (uint32_t)p->fd : (uint32_t)-1;
			/* now and then an index past what was sent (none) */
			idx[(*nidx)++] = p ? (uint16_t)*nfds : chance(f, 90) ? 0 : (uint16_t)r64(f);
			if (p)
				fds[(*nfds)++] = p->fd;
			memcpy(reg + 8 + 24 * i, &it, sizeof(it));
		}
		len = 8 + 24 * n;
		break;
	}
	default:
		for (uint32_t i = 0; i < len && i < 64; i++)
			reg[i] = (char)r64(f);
		break;
	}
	(void)kind;
	return len;
}

/*
 * What a message to the broker should look like before mutation.  The
 * header goes into f->buf, the payload after it; the fds into @fds.
 * Return: the payload length.
 */
static uint32_t build(struct fuzzer *f, struct ipc_hdr *h, char *pl, int *fds, unsigned int *nfds)
{
	static const uint32_t ops[] = {
		IPC_HELLO, IPC_OPEN, IPC_OPEN, IPC_IOCTL, IPC_IOCTL, IPC_IOCTL, IPC_IOCTL, IPC_IOCTL,
		IPC_IDENTIFY, IPC_CLOSED, IPC_MIRROR, IPC_MAP, IPC_SYNC, IPC_SYNC, IPC_STATS,
		IPC_FDINFO, IPC_LIST, IPC_FAULT, IPC_DOORBELL, IPC_SETTLE, IPC_NUDGE,
		IPC_PROXY_CREATE, IPC_PROXY_SIGNAL, IPC_BUF_ADOPT, IPC_BUF_PUSH, IPC_BUF_PULL,
		IPC_OWN_FD, IPC_BUF_NAME, IPC_ACCESS_CHANNEL, IPC_CPU_ACCESS, 0, IPC_OP_MAX,
		IPC_FDS,
	};
	uint32_t len = 0;
	struct pfd *p;

	memset(h, 0, sizeof(*h));
	h->op = ops[rn(f, sizeof(ops) / sizeof(ops[0]))];
	h->seq = r64(f);
	*nfds = 0;
	switch (h->op) {
	case IPC_HELLO:
		h->arg0 = chance(f, 90) ? IPC_VERSION : interesting(f);
		h->arg1 = chance(f, 80) ? (uint64_t)getpid() : interesting(f);
		if (chance(f, 30)) {
			static const char *texts[] = {
				"watchdog=1\n", "fault=no-such\n", "watchdog=99999999999\nfault=\n",
				"fault=fail:1\n", "fault=delay:1000\n", "\n\n\n", "watchdog=",
			};
			const char *t = texts[rn(f, sizeof(texts) / sizeof(texts[0]))];

			len = (uint32_t)strlen(t);
			memcpy(pl, t, len);
			p = pick(f, -1);
			if (p && chance(f, 70))
				fds[(*nfds)++] = p->fd;

		}
		break;
	case IPC_OPEN:
		h->arg0 = chance(f, 85) ? rn(f, 3) + 1 : interesting(f);
		h->arg1 = chance(f, 85) ? (uint64_t)(O_RDWR | O_CLOEXEC) : interesting(f);
		if (chance(f, 30)) {
			len = rn(f, 24);
			for (uint32_t i = 0; i < len; i++)
				pl[i] = (char)(chance(f, 90) ? (int)('a' + rn(f, 26)) : (int)r64(f));
		}
		break;
	case IPC_IOCTL: {
		int i = (int)rn(f, sizeof(requests) / sizeof(requests[0]));
		struct ipc_ioctl io = { .request = requests[i].request, .kind = (uint32_t)requests[i].kind };
		unsigned int n = 1;
		uint16_t idx[16];

		p = pick(f, chance(f, 85) ? requests[i].kind : -1);
		fds[0] = p ? p->fd : 0;
		io.in_len = fill_region(f, requests[i].kind, io.request, pl + sizeof(io), fds, &n,
					idx, &io.in_fd_count);
		memcpy(pl + sizeof(io) + io.in_len, idx, io.in_fd_count * sizeof(idx[0]));
		io.out_len = schema_ioc_out(io.request);
		if (requests[i].kind == IPC_KIND_DMA_BUF && io.request == DMA_BUF_SET_NAME_B)
			io.out_len = 0;
		if (chance(f, 10))
			h->flags = IPC_IOCTL_UNIDENTIFIED;
		*nfds = p ? n : 0;
		memcpy(pl, &io, sizeof(io));
		len = (uint32_t)sizeof(io) + io.in_len + io.in_fd_count * (uint32_t)sizeof(idx[0]);
		break;
	}
	case IPC_FDS:
		/* fds for the next IOCTL's fields, now and then anew */
		h->arg0 = rn(f, 2);
		for (unsigned int k = rn(f, 4); k--;) {
			p = pick(f, -1);
			if (p)
				fds[(*nfds)++] = p->fd;
		}
		break;
	case IPC_IDENTIFY: case IPC_MIRROR: case IPC_MAP: case IPC_SYNC: case IPC_FDINFO:
	case IPC_ACCESS_CHANNEL:
		p = pick(f, chance(f, 60) ? IPC_KIND_DMA_BUF : -1);
		if (p)
			fds[(*nfds)++] = p->fd;
		if (h->op == IPC_MAP)
			h->arg0 = chance(f, 80) ? 0 : chance(f, 50) ? rn(f, 4) : interesting(f);
		if (h->op == IPC_SYNC) {
			static const uint64_t fl[] = {
				DMA_BUF_SYNC_START | DMA_BUF_SYNC_READ, DMA_BUF_SYNC_END | DMA_BUF_SYNC_READ,
				DMA_BUF_SYNC_START | DMA_BUF_SYNC_RW, DMA_BUF_SYNC_END | DMA_BUF_SYNC_RW,
			};

			h->arg0 = chance(f, 85) ? fl[rn(f, 4)] : interesting(f);
			h->arg1 = rn(f, 3);
		}
		break;
	case IPC_CLOSED: case IPC_BUF_PULL: case IPC_BUF_NAME: case IPC_BUF_PUSH:
		if (f->nkeys && chance(f, 85)) {
			int k = (int)rn(f, (uint32_t)f->nkeys);

			h->arg0 = f->keys[k].dev;
			h->arg1 = f->keys[k].ino;
		} else {
			h->arg0 = interesting(f);
			h->arg1 = interesting(f);
		}
		if (h->op == IPC_BUF_NAME) {
			len = rn(f, 40);
			for (uint32_t i = 0; i < len; i++)
				pl[i] = (char)('a' + rn(f, 26));
			if (len && chance(f, 80))
				pl[len - 1] = 0;
		} else if (h->op == IPC_BUF_PUSH) {
			unsigned int n = chance(f, 90) ? rn(f, 4) + 1 : rn(f, 1100);

			h->arg2 = rn(f, 4);
			for (unsigned int i = 0; i < n; i++) {
				struct ipc_push e = { .usage = chance(f, 90) ? rn(f, 4) : (uint32_t)interesting(f) };

				e.fence.context = rn(f, 4);
				e.fence.seqno = rn(f, 10);
				e.fence.status = chance(f, 60) ? 0 : chance(f, 50) ? 1 : -(int)rn(f, 200);
				snprintf(e.fence.driver, sizeof(e.fence.driver), "fzdrv");
				memset(e.fence.timeline, 'T', sizeof(e.fence.timeline));
				memcpy(pl + len, &e, sizeof(e));
				len += (uint32_t)sizeof(e);
			}
		}
		break;
	case IPC_FAULT:
		h->arg0 = chance(f, 80) ? rn(f, 2) + 1 : interesting(f);
		h->arg1 = interesting(f);
		h->arg2 = interesting(f);
		break;
	case IPC_DOORBELL:
		if (f->nkeys && chance(f, 70)) {
			int k = (int)rn(f, (uint32_t)f->nkeys);

			h->arg0 = f->keys[k].slot;
			h->arg1 = f->keys[k].gen;
		} else {
			h->arg0 = interesting(f);
			h->arg1 = interesting(f);
		}
		break;
	case IPC_PROXY_CREATE: {
		struct ipc_proxy px = { .context = rn(f, 4), .seqno = rn(f, 100),
					.timestamp = (int64_t)interesting(f),
					.status = chance(f, 50) ? 0 : chance(f, 50) ? 1 : (int32_t)interesting(f),
					.flags = chance(f, 80) ? rn(f, 2) : (uint32_t)interesting(f) };

		memset(px.driver, chance(f, 50) ? 'd' : 0, sizeof(px.driver));
		snprintf(px.timeline, sizeof(px.timeline), "fz-tl");
		memset(px.name, 'n', sizeof(px.name));
		memcpy(pl, &px, sizeof(px));
		len = sizeof(px);
		break;
	}
	case IPC_PROXY_SIGNAL:
		h->arg0 = rn(f, 50);
		h->arg1 = chance(f, 50) ? 1 : interesting(f);
		h->arg2 = interesting(f);
		break;
	case IPC_BUF_ADOPT: {
		struct ipc_adopt a = { .size = chance(f, 80) ? 4096 : interesting(f),
				       .accmode = chance(f, 80) ? O_RDWR : (uint32_t)interesting(f),
				       .has_name = rn(f, 2),
				       .cpu_ops = rn(f, 4) };

		snprintf(a.exp_name, sizeof(a.exp_name), "fz-exp");
		memset(a.name, 'x', sizeof(a.name));
		memcpy(pl, &a, sizeof(a));
		len = sizeof(a);
		p = pick(f, -1);
		/* the fuzzer's 16 KiB memfd, mostly */
		for (int i = 0; i < f->npool && chance(f, 70); i++)
			if (f->pool[i].mine && f->pool[i].fd >= 0) {
				struct stat st;

				if (!fstat(f->pool[i].fd, &st) && S_ISREG(st.st_mode) && st.st_size) {
					p = &f->pool[i];
					break;
				}
			}
		if (p)
			fds[(*nfds)++] = p->fd;
		break;
	}
	case IPC_OWN_FD:
		h->arg0 = interesting(f);
		break;
	default:
		h->arg0 = interesting(f);
		h->arg1 = interesting(f);
		h->arg2 = interesting(f);
		break;
	}
	/* sometimes more fds than the op wants, of any kind */
	if (chance(f, 8)) {
		unsigned int more = chance(f, 80) ? rn(f, 4) : rn(f, IPC_MAX_FDS);

		for (unsigned int i = 0; i < more && *nfds < IPC_MAX_FDS; i++) {
			p = pick(f, -1);
			if (p)
				fds[(*nfds)++] = p->fd;
		}
	}
	h->len = len;
	return len;
}

/* Tool ops that act on other clients by design: a FAULT_STALL of the
 * checker's timeline would stop it.  Only contexts nobody has. */
static void keep_tools_away(struct ipc_hdr *h)
{
	if (h->op == IPC_FAULT)
		h->arg1 |= 1ull << 62;
}

static void mutate(struct fuzzer *f, struct ipc_hdr *h, char *pl, uint32_t *len, int *fds,
		   unsigned int *nfds)
{
	unsigned int n = rn(f, 4) + 1;

	for (unsigned int k = 0; k < n; k++) {
		switch (rn(f, 12)) {
		case 0:
			h->op = chance(f, 70) ? rn(f, IPC_OP_MAX + 3) : (uint32_t)r64(f);
			break;
		case 1:
			h->arg0 = interesting(f);
			break;
		case 2:
			h->arg1 = interesting(f);
			break;
		case 3:
			h->arg2 = interesting(f);
			break;
		case 4:
			h->flags = chance(f, 50) ? IPC_IOCTL_UNIDENTIFIED : (uint32_t)r64(f);
			break;
		case 5: /* flip bits in the payload */
			for (unsigned int i = 0; *len && i < rn(f, 8) + 1; i++)
				pl[rn(f, *len)] ^= (char)(1 << rn(f, 8));
			break;
		case 6: /* a 32-bit field of the payload to a boundary value */
			if (*len >= 4) {
				uint32_t v = (uint32_t)interesting(f);

				memcpy(pl + (rn(f, *len / 4) * 4), &v, 4);
			}
			break;
		case 7: /* shorter or longer payload (header len follows) */
			if (chance(f, 50) && *len)
				*len = rn(f, *len);
			else {
				uint32_t more = rn(f, 256);

				for (uint32_t i = 0; i < more; i++)
					pl[*len + i] = (char)r64(f);
				*len += more;
			}
			h->len = *len;
			break;
		case 8: /* drop or add fds */
			if (chance(f, 50))
				*nfds = *nfds ? rn(f, *nfds) : 0;
			else
				for (unsigned int i = rn(f, 6); i && *nfds < IPC_MAX_FDS; i--) {
					struct pfd *p = pick(f, -1);

					if (p)
						fds[(*nfds)++] = p->fd;
				}
			break;
		case 9: /* swap an fd for one of another kind */
			if (*nfds) {
				struct pfd *p = pick(f, -1);

				if (p)
					fds[rn(f, *nfds)] = p->fd;
			}
			break;
		case 10: /* the ioctl header's fields */
			if (h->op == IPC_IOCTL && *len >= sizeof(struct ipc_ioctl)) {
				uint32_t v = chance(f, 50) ? (uint32_t)interesting(f) : rn(f, 8);

				memcpy(pl + 4 * rn(f, 8), &v, 4);
			}
			break;
		case 11:
			h->seq = interesting(f);
			break;
		}
	}
}

/* Send: @hdr_len bytes of header (a valid header's is sizeof), the payload,
 * @nfds fds in one or two SCM_RIGHTS messages.  The header's len and nfds
 * are as the caller left them (the broker must check them). */
static int raw_send(struct fuzzer *f, const struct ipc_hdr *h, size_t hdr_len, const char *pl,
		    size_t len, const int *fds, unsigned int nfds, bool split)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * 300) + CMSG_SPACE(sizeof(int) * 300)];
		struct cmsghdr align;
	} ctl;
	struct iovec iov[2] = { { (void *)h, hdr_len }, { (void *)pl, len } };
	struct msghdr mh = { .msg_iov = iov, .msg_iovlen = len ? 2 : 1 };
	ssize_t r;

	if (nfds) {
		unsigned int a = split && nfds > 1 ? nfds / 2 : nfds, b = nfds - a;
		struct cmsghdr *c;

		memset(&ctl, 0, sizeof(ctl));
		mh.msg_control = ctl.buf;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * a) + (b ? CMSG_SPACE(sizeof(int) * b) : 0);
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * a);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * a);
		if (b) {
			c = CMSG_NXTHDR(&mh, c);
			c->cmsg_level = SOL_SOCKET;
			c->cmsg_type = SCM_RIGHTS;
			c->cmsg_len = CMSG_LEN(sizeof(int) * b);
			memcpy(CMSG_DATA(c), fds + a, sizeof(int) * b);
		}
	}
	r = sendmsg(f->sock, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
	if (r >= 0)
		f->sent++;
	return r < 0 ? -errno : 0;
}

/* Read whatever replies are there (waiting up to @ms for the first).
 * Return: false if the broker dropped us. */
static bool drain(struct fuzzer *f, int ms, const struct ipc_hdr *req, const char *reqpl)
{
	for (;;) {
		struct ipc_msg rep;
		int r = recv_within(f->sock, &rep, ms);

		if (r == -ETIMEDOUT || r == -EAGAIN) {
			if (ms > 0)
				f->timeouts++;
			return true;
		}
		if (r == -EPROTO)
			continue;	/* a reply we cannot parse: fds closed */
		if (r) {
			f->drops++;
			return false;
		}
		f->replies++;
		ms = 0;
		/* new objects described after the request's own payload */
		int kinds[IPC_MAX_FDS];
		bool described = rep.nfds && rep.hdr.len >= sizeof(struct ipc_newfd) * rep.nfds &&
				 (rep.hdr.op == IPC_OPEN || rep.hdr.op == IPC_IOCTL ||
				  rep.hdr.op == IPC_PROXY_CREATE || rep.hdr.op == IPC_BUF_ADOPT ||
				  rep.hdr.op == IPC_BUF_PULL);

		for (unsigned int i = 0; i < rep.nfds; i++)
			kinds[i] = K_UNKNOWN;
		if (described) {
			const char *d = rx_buf + rep.hdr.len - sizeof(struct ipc_newfd) * rep.nfds;

			if (rep.hdr.flags & IPC_IOCTL_UNIDENTIFIED)
				d -= sizeof(struct ipc_newfd);
			for (unsigned int i = 0; i < rep.nfds && d >= rx_buf; i++) {
				struct ipc_newfd nf;

				memcpy(&nf, d + i * sizeof(nf), sizeof(nf));
				kinds[i] = nf.kind < IPC_KIND_MAX ? (int)nf.kind : K_UNKNOWN;
				if (nf.kind && nf.kind < IPC_KIND_MAX) {
					int k = f->nkeys < KEYS_MAX ? f->nkeys++ : (int)rn(f, KEYS_MAX);

					f->keys[k].dev = nf.dev;
					f->keys[k].ino = nf.ino;
					f->keys[k].kind = nf.kind;
					f->keys[k].slot = nf.tl_slot;
					f->keys[k].gen = nf.tl_gen;
				}
			}
		}
		(void)req;
		(void)reqpl;
		for (unsigned int i = 0; i < rep.nfds; i++) {
			if (chance(f, 80))
				pool_add(f, rep.fds[i], kinds[i], false);
			else
				close(rep.fds[i]);
		}
	}
}

static void fuzz_session(struct fuzzer *f)
{
	static int fds[IPC_MAX_FDS + 8];
	unsigned int msgs = chance(f, 20) ? rn(f, 3) + 1 : rn(f, 60) + 1;
	bool flood = chance(f, 5);
	struct ipc_hdr h;
	char *pl = f->buf;

	f->sessions++;
	f->sock = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	{
		struct sockaddr_un sa = { .sun_family = AF_UNIX };

		snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", getenv("DMASYNC_SOCKET"));
		if (f->sock < 0 || connect(f->sock, (struct sockaddr *)&sa, sizeof(sa))) {
			if (f->sock >= 0)
				close(f->sock);
			f->sock = -1;
			return;
		}
	}
	/* mostly a proper HELLO first */
	if (chance(f, 85)) {
		struct ipc_hdr hh = { .op = IPC_HELLO, .arg0 = IPC_VERSION, .arg1 = (uint64_t)getpid(),
				      .seq = 1 };

		if (raw_send(f, &hh, sizeof(hh), NULL, 0, NULL, 0, false) || !drain(f, 2000, &hh, NULL))
			goto end;
	}
	/* our own connection is an fd kind too */
	pool_add(f, fcntl(f->sock, F_DUPFD_CLOEXEC, 0), K_FOREIGN, false);

	for (unsigned int i = 0; i < msgs; i++) {
		unsigned int nfds = 0;
		uint32_t len;
		size_t hdr_len = sizeof(h);
		int r;

		if (chance(f, 6)) {
			/* random bytes, sometimes with fds */
			len = chance(f, 70) ? rn(f, 128) : rn(f, 70000);
			for (uint32_t k = 0; k < len; k++)
				f->buf[k] = (char)r64(f);
			if (len >= sizeof(h)) {
				struct ipc_hdr *rh = (void *)f->buf;

				/* make it pass the framing check now and then */
				if (chance(f, 50)) {
					rh->len = len - (uint32_t)sizeof(h);
					rh->op %= IPC_OP_MAX + 2;
					rh->nfds = 0;
				}
				keep_tools_away(rh);
			}
			r = raw_send(f, (void *)f->buf, len, NULL, 0, NULL, 0, false);
		} else {
			len = build(f, &h, pl, fds, &nfds);
			if (chance(f, 45))
				mutate(f, &h, pl, &len, fds, &nfds);
			keep_tools_away(&h);
			/* header nfds usually right (the broker checks it) */
			h.nfds = chance(f, 95) ? nfds : (uint32_t)interesting(f);
			if (chance(f, 97))
				h.len = len;
			if (chance(f, 2))
				hdr_len = rn(f, sizeof(h));
			if (chance(f, 1)) {
				/* a payload beyond IPC_MAX_PAYLOAD */
				memset(f->big, 0, sizeof(f->big));
				h.len = sizeof(f->big);
				r = raw_send(f, &h, sizeof(h), f->big, sizeof(f->big), NULL, 0, false);
			} else {
				r = raw_send(f, &h, hdr_len, pl, len, fds, nfds, chance(f, 5));
			}
		}
		if (r == -EPIPE || r == -ECONNRESET || r == -ENOTCONN) {
			f->drops++;
			break;
		}
		if (chance(f, 4))
			pool_shed(f);
		if (flood)
			continue;	/* never read: the broker must drop us, not wait */
		if (!drain(f, chance(f, 40) ? 300 : 0, &h, pl))
			break;
		if (chance(f, 2))
			break;	/* hang up with requests in flight */
	}
end:
	close(f->sock);
	f->sock = -1;
}

/* A fuzzing process: sessions until @deadline (CLOCK_MONOTONIC ms). */
static void fuzzer_main(uint64_t sub_seed, uint64_t deadline, int stats_fd)
{
	struct fuzzer *f = calloc(1, sizeof(*f));
	uint64_t st[5];

	if (!f)
		_exit(2);
	f->rng = sub_seed;
	f->sock = -1;
	signal(SIGPIPE, SIG_IGN);
	fuzzer_fds(f);
	while (now_ms() < deadline)
		fuzz_session(f);
	st[0] = f->sent;
	st[1] = f->replies;
	st[2] = f->drops;
	st[3] = f->timeouts;
	st[4] = f->sessions;
	if (stats_fd >= 0)
		(void)!write(stats_fd, st, sizeof(st));
	_exit(0);
}

/* ---- the campaign ------------------------------------------------------------------------ */

struct slot {
	pid_t pid;
	uint64_t kill_at;	/* 0: let it finish */
	int pidfd;
};

static int pidfd_of(pid_t pid)
{
#ifdef SYS_pidfd_open
	return (int)syscall(SYS_pidfd_open, pid, 0);
#else
	(void)pid;
	return -1;
#endif
}

static void campaign(struct broker *b)
{
	static char links0[16384];
	struct ipc_stats st0, st1;
	int probe, fds0, stop[2], count[2], stats_p[2];
	uint64_t rng = seed, end, spawned = 0, killed = 0, totals[5] = { 0 };
	uint32_t rounds = 0;
	struct slot slots[16];
	pid_t checker;
	int cst;
	bool checker_ok, checker_done;

	probe = client_of(b);
	/* a round first: whatever the broker makes lazily is made now */
	checker = checker_start(b, -1, -1);
	checker_ok = checker > 0 && waitpid(checker, &cst, 0) == checker && WIFEXITED(cst) &&
		     !WEXITSTATUS(cst);
	tap(probe >= 0 && checker_ok, "a well-behaved client is served before the fuzzing");
	if (probe < 0)
		return;
	if (!WAIT_FOR(settled(probe, 0, 1), 5000) || stats(probe, &st0, 5000)) {
		tap(false, "broker settles before the fuzzing");
		return;
	}
	fds0 = fd_count(b->pid);
	fd_links(b->pid, links0, sizeof(links0));
	diag("baseline: broker pid %d, %d fds, %llu objects", (int)b->pid, fds0,
	     (unsigned long long)st0.objects);

	if (pipe2(stop, O_CLOEXEC) || pipe2(count, O_CLOEXEC) || pipe2(stats_p, O_CLOEXEC) ||
	    fcntl(stats_p[0], F_SETFL, O_NONBLOCK)) {
		tap(false, "pipes");
		return;
	}
	stop_w = stop[1];
	checker = checker_start(b, stop[0], count[1]);
	close(count[1]);
	setenv("DMASYNC_SOCKET", b->path, 1);
	end = now_ms() + (uint64_t)(fuzz_seconds * 1000);
	memset(slots, 0, sizeof(slots));
	for (int i = 0; i < n_fuzzers; i++)
		slots[i].pidfd = -1;

	/* Keep n_fuzzers fuzzing processes going; some are SIGKILLed at a
	 * moment the seed picks, the others end on their own. */
	for (;;) {
		struct pollfd pf[16];
		uint64_t now = now_ms(), next = end > now ? end - now : 0;
		bool any = false;

		for (int i = 0; i < n_fuzzers; i++) {
			struct slot *s = &slots[i];

			if (!s->pid && now < end) {
				uint64_t sub = mix(&rng), life = 100 + mix(&rng) % 900;

				s->kill_at = mix(&rng) % 3 == 0 ? now + mix(&rng) % life : 0;
				fflush(stdout);
				s->pid = fork();
				if (s->pid == 0) {
					close(stop_w);
					close(stop[0]);
					close(count[0]);
				}
				if (s->pid == 0)
					fuzzer_main(sub, now + life < end ? now + life : end, stats_p[1]);
				if (s->pid < 0) {
					s->pid = 0;
					continue;
				}
				spawned++;
				s->pidfd = pidfd_of(s->pid);
			}
			if (s->pid && s->kill_at && now >= s->kill_at) {
				kill(s->pid, SIGKILL);
				killed++;
				s->kill_at = 0;
			}
			if (s->pid) {
				int wst;

				if (waitpid(s->pid, &wst, WNOHANG) == s->pid) {
					if (WIFSIGNALED(wst) && WTERMSIG(wst) != SIGKILL)
						diag("fuzzer %d died of signal %d", (int)s->pid, WTERMSIG(wst));
					if (s->pidfd >= 0)
						close(s->pidfd);
					s->pid = 0;
					s->pidfd = -1;
					i--;	/* respawn at once */
					continue;
				}
				any = true;
				if (s->kill_at && s->kill_at - now < next)
					next = s->kill_at - now;
			}
		}
		if (!any && now >= end)
			break;
		{
			int n = 0;

			for (int i = 0; i < n_fuzzers; i++)
				if (slots[i].pid && slots[i].pidfd >= 0)
					pf[n++] = (struct pollfd){ .fd = slots[i].pidfd, .events = POLLIN };
			/* a fuzzer's exit, its kill time or the end; without
			 * pidfds, look again every few ms */
			bool all = true;

			for (int i = 0; i < n_fuzzers; i++)
				if (slots[i].pid && slots[i].pidfd < 0)
					all = false;
			poll(pf, (nfds_t)n, all && n ? (int)(next < 1000 ? next + 1 : 1000) : 5);
		}
		/* the broker's death ends the campaign early */
		if (!broker_alive(b))
			end = 0;
	}
	{
		uint64_t st[5];

		while (read(stats_p[0], st, sizeof(st)) == sizeof(st))
			for (int k = 0; k < 5; k++)
				totals[k] += st[k];
	}
	close(stats_p[0]);
	close(stats_p[1]);
	unsetenv("DMASYNC_SOCKET");
	diag("seed %llu: %llu fuzzers (%llu SIGKILLed; the finished ones sent %llu messages in "
	     "%llu sessions, %llu replies, %llu hang-ups)",
	     (unsigned long long)seed, (unsigned long long)spawned, (unsigned long long)killed,
	     (unsigned long long)totals[0], (unsigned long long)totals[4],
	     (unsigned long long)totals[1], (unsigned long long)totals[2]);

	/* The checker: stop it, one last round, its verdict. */
	close(stop[1]);
	stop_w = -1;
	checker_done = WAIT_FOR(waitpid(checker, &cst, WNOHANG) == checker, 20000);
	if (!checker_done) {
		diag("checker hung: broker %d is stuck?", (int)b->pid);
		dump_stacks(checker, "the checker");
		dump_stacks(b->pid, "the broker");
		if (hold_seconds) {
			diag("holding %d s: checker %d, broker %d", hold_seconds, (int)checker,
			     (int)b->pid);
			pause_ms(hold_seconds * 1000);
		}
		kill(checker, SIGKILL);
		waitpid(checker, &cst, 0);
	}
	if (read(count[0], &rounds, sizeof(rounds)) != sizeof(rounds))
		rounds = 0;
	close(count[0]);
	close(stop[0]);
	tap(checker_done && WIFEXITED(cst) && !WEXITSTATUS(cst) && rounds > 0,
	    "a well-behaved client was served correctly during the fuzzing (%u rounds)", rounds);

	tap(broker_alive(b), "the broker survived the fuzzing");
	tap(answers(b, 5000), "the broker answers a new client");
	checker = checker_start(b, -1, -1);
	checker_ok = checker > 0 && WAIT_FOR(waitpid(checker, &cst, WNOHANG) == checker, 20000) &&
		     WIFEXITED(cst) && !WEXITSTATUS(cst);
	if (!checker_ok && checker > 0 && !kill(checker, SIGKILL))
		waitpid(checker, &cst, 0);
	tap(checker_ok, "a well-behaved client is served after the fuzzing");

	/*
	 * No leak: once every fuzzer is gone, the broker's fds and objects
	 * come back to the baseline.  The slack: nothing, for the objects;
	 * for fds, the eventfd the broker keeps per timeline-page slot that a
	 * DOORBELL asked for stays with the slot (tlpage.c keeps it for the
	 * slot's next timeline), so up to 2 more fds are allowed.
	 */
	{
		int slack = 2, fds1;
		bool ok = WAIT_FOR(settled(probe, st0.objects, 1) &&
				   fd_count(b->pid) <= fds0 + slack, 3000);

		fds1 = fd_count(b->pid);
		memset(&st1, 0, sizeof(st1));
		stats(probe, &st1, 5000);
		if (!ok) {
			show_list(probe);
			show_new_fds(b->pid, links0);
			if (hold_seconds) {
				diag("holding %d s: broker %d", hold_seconds, (int)b->pid);
				pause_ms(hold_seconds * 1000);
			}
		}
		tap(ok, "no fd or object leaked: %d fds (baseline %d, slack %d), %llu objects "
			"(baseline %llu), %llu clients", fds1, fds0, slack,
		    (unsigned long long)st1.objects, (unsigned long long)st0.objects,
		    (unsigned long long)st1.clients);
	}
	close(probe);
}

int main(int argc, char **argv)
{
	struct broker b;
	int c;

	while ((c = getopt(argc, argv, "s:t:j:d:H:")) != -1) {
		switch (c) {
		case 's': seed = strtoull(optarg, NULL, 0); break;
		case 't': fuzz_seconds = strtod(optarg, NULL); break;
		case 'j': n_fuzzers = atoi(optarg); break;
		case 'd': daemon_path = optarg; break;
		case 'H': hold_seconds = atoi(optarg); break;
		default:
			fprintf(stderr, "usage: %s [-s SEED] [-t SECONDS] [-j FUZZERS] [-d DMASYNCD] [-H SECONDS]\n",
				argv[0]);
			return 2;
		}
	}
	if (n_fuzzers < 1 || n_fuzzers > 16)
		n_fuzzers = 3;
	if (!daemon_path)
		daemon_path = getenv("DMASYNC_DAEMON");
	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGPIPE, SIG_IGN);
	printf("# seed %llu (replay: -s %llu)\n", (unsigned long long)seed,
	       (unsigned long long)seed);
	if (!daemon_path) {
		printf("1..0 # SKIP no dmasyncd ($DMASYNC_DAEMON unset, no -d)\n");
		return 0;
	}
	main_pid = getpid();
	snprintf(sock_dir, sizeof(sock_dir), "/tmp/dmasync-fuzz-XXXXXX");
	if (!mkdtemp(sock_dir)) {
		printf("Bail out! mkdtemp: %s\n", strerror(errno));
		return 1;
	}
	atexit(rm_sock_dir);

	/* Defects and rules, each on a broker of its own. */
	case_ioctl_out_fd(0);
	case_ioctl_out_fd(1);
	case_ioctl_out_fd(2);
	case_in_fault_overread();
	case_eventfd_log();
	case_adopt_log_cycle();
	case_own_files();
	case_empty_message_fds();

	if (!broker_start(&b)) {
		tap(false, "a private broker starts (%s)", daemon_path);
	} else {
		tap(true, "a private broker starts");
		case_unknown_op(&b);
		case_bad_framing(&b);
		case_hello_first(&b);
		campaign(&b);
		tap(broker_stop(&b), "the broker was alive to the end");
	}
	printf("1..%d\n", tap_n);
	return tap_failed ? 1 : 0;
}
