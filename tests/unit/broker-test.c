/* SPDX-License-Identifier: MIT */
/*
 * Tests of the broker as programs meet it: started on demand (once, by
 * racing clients), leaving when idle, its death under load (clients get
 * errors, never hangs), per-client object limits, the protocol version
 * check, and a 2-process x 4-thread stress.  Work that needs a broker of
 * its own runs in forked children with their own DMASYNC_SOCKET.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <ftw.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <linux/dma-buf.h>
#include <linux/dma-heap.h>
#include <linux/sync_file.h>
#include <linux/udmabuf.h>

#include <dmasync/dma-buf.h>
#include <dmasync/dma-fence.h>
#include <dmasync/dma-resv.h>
#include <dmasync/dmasync-uapi.h>
#include <dmasync/spinlock.h>
#include <dmasync/sync_file.h>
#include "client.h"
#include "ipc.h"
#include "tlpage.h"
#include "test-harness.h"
#include "uapi-test.h"

static int inc(int tl, u32 n)
{
	return dmasync_ioctl(tl, SW_SYNC_IOC_INC, &n);
}

static int status(int fd)
{
	struct sync_file_info info;

	memset(&info, 0, sizeof(info));
	if (dmasync_ioctl(fd, SYNC_IOC_FILE_INFO, &info))
		return -1000;
	return info.status;
}

static short revents(int fd, short events, int timeout_ms)
{
	struct pollfd p = { .fd = fd, .events = events };

	return dmasync_poll(&p, 1, timeout_ms) < 0 ? -1 : p.revents;
}

static char sock_dir[64];
static int sock_seq;

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

/* At exit of the test process (not its children): the directory goes. */
static pid_t sock_dir_owner;

static void remove_sock_dir(void)
{
	if (getpid() == sock_dir_owner)
		nftw(sock_dir, remove_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* A fresh socket path for one test's broker, in a directory of this run's
 * own (a reused pid must not meet an old run's directories). */
static void fresh_socket(char *buf, size_t len)
{
	if (!sock_dir[0]) {
		snprintf(sock_dir, sizeof(sock_dir), "/tmp/dmasync-broker-test-XXXXXX");
		if (!mkdtemp(sock_dir))
			abort();
		sock_dir_owner = getpid();
		atexit(remove_sock_dir);
	}
	snprintf(buf, len, "%s/b%d", sock_dir, ++sock_seq);
}

/*
 * fork() a child that talks to a broker of its own (on a fresh socket,
 * returned in @path): what it counts and lists is its own.  Return: as
 * fork().
 */
static pid_t fork_own_broker(char *path, size_t len)
{
	pid_t pid;

	fresh_socket(path, len);
	fflush(stdout);
	pid = fork();
	if (pid == 0)
		setenv("DMASYNC_SOCKET", path, 1);
	return pid;
}

static int wait_status(pid_t pid)
{
	int st;

	if (waitpid(pid, &st, 0) != pid)
		return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* An exit status for @code, a case's failure bits: 0 only for 0 (an exit
 * status keeps 8 bits; the whole code goes to stderr). */
static int exit_code(int code)
{
	if (!code)
		return 0;
	fprintf(stderr, "# failure bits %d (0x%x)\n", code, (unsigned int)code);
	return (code & 0xff) ? (code & 0xff) : 255;
}

/* @fn run in a child on a broker of its own: its exit status. */
static int on_own_broker(int (*fn)(void))
{
	char path[128];
	pid_t pid = fork_own_broker(path, sizeof(path));

	if (pid < 0)
		return -1;
	if (pid == 0)
		_exit(exit_code(fn()));
	return wait_status(pid);
}

static bool exists(const char *path)
{
	struct stat st;

	return !lstat(path, &st);
}

/* ---- starting and leaving ---------------------------------------------------------------- */

/* The first request starts the broker; it leaves once nobody uses it. */
TEST(started_on_demand_and_leaves_when_idle)
{
	char path[128];
	pid_t pid;

	fresh_socket(path, sizeof(path));
	CHECK(!exists(path));
	fflush(stdout);
	pid = fork();
	REQUIRE(pid >= 0);
	if (pid == 0) {
		struct ipc_stats st;
		int tl, code = 0;

		setenv("DMASYNC_SOCKET", path, 1);
		tl = open_tl();
		if (client_stats(&st) || st.objects < 1)
			code = 2;
		close(tl);
		_exit(code);
	}
	CHECK_EQ(wait_status(pid), 0);
	CHECK(exists(path));
	/* no client, no object: gone within its 2 s grace and a bit */
	CHECK(WAIT_UNTIL(!exists(path), 5000));
}

/* A socket path longer than sun_path (a deep build tree) works too. */
TEST(long_socket_path)
{
	char dir[200], path[256];
	pid_t pid;
	int n;

	fresh_socket(dir, sizeof(dir));
	n = snprintf(path, sizeof(path), "%s", dir);
	/* directories until the socket's path exceeds 108 bytes */
	REQUIRE(mkdir(path, 0700) == 0);
	while (n < 120) {
		n += snprintf(path + n, sizeof(path) - (size_t)n, "/a-rather-long-directory-name");
		REQUIRE(mkdir(path, 0700) == 0);
	}
	snprintf(path + n, sizeof(path) - (size_t)n, "/broker");
	fflush(stdout);
	pid = fork();
	REQUIRE(pid >= 0);
	if (pid == 0) {
		int tl, f;

		setenv("DMASYNC_SOCKET", path, 1);
		tl = open_tl();
		f = create_fence(tl, 1);
		_exit(f >= 0 && inc(tl, 1) == 0 && status(f) == 1 ? 0 : 2);
	}
	CHECK_EQ(wait_status(pid), 0);
	CHECK(exists(path));
}

/*
 * The default socket is per protocol version: a broker of another version
 * on the runtime directory's old name (here a socket that listens and
 * never answers, where the client would wait for ever) is not in the way;
 * the client starts its own on broker-vN.
 */
TEST(default_socket_per_protocol_version)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char dir[128], sub[160], want[200];
	int old, st = -1;
	pid_t pid;

	fresh_socket(dir, sizeof(dir));
	REQUIRE(mkdir(dir, 0700) == 0);
	snprintf(sub, sizeof(sub), "%s/dmasync", dir);
	REQUIRE(mkdir(sub, 0700) == 0);
	REQUIRE(strlen(sub) + sizeof("/broker") <= sizeof(sa.sun_path));
	memcpy(sa.sun_path, sub, strlen(sub));
	memcpy(sa.sun_path + strlen(sub), "/broker", sizeof("/broker"));
	old = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	REQUIRE(old >= 0);
	REQUIRE(bind(old, (struct sockaddr *)&sa, sizeof(sa)) == 0 && listen(old, 8) == 0);
	snprintf(want, sizeof(want), "%s/broker-v%d", sub, IPC_VERSION);
	fflush(stdout);
	pid = fork();
	REQUIRE(pid >= 0);
	if (pid == 0) {
		int tl, f;

		alarm(20);
		unsetenv("DMASYNC_SOCKET");
		setenv("XDG_RUNTIME_DIR", dir, 1);
		tl = open_tl();
		f = create_fence(tl, 1);
		_exit(f >= 0 && inc(tl, 1) == 0 && status(f) == 1 ? 0 : 2);
	}
	REQUIRE(waitpid(pid, &st, 0) == pid);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	CHECK(exists(want));
	close(old);
	/* the broker leaves once idle: nothing of it outlives the case */
	CHECK(WAIT_UNTIL(!exists(want), 5000));
}

/* Clients racing to start it start one. */
TEST(racing_clients_start_one_broker)
{
	char path[128];
	int p[2];
	pid_t kids[6];
	uint64_t first = 0;
	bool same = true;

	fresh_socket(path, sizeof(path));
	REQUIRE(pipe2(p, O_CLOEXEC) == 0);
	fflush(stdout);
	for (int i = 0; i < 6; i++) {
		kids[i] = fork();
		REQUIRE(kids[i] >= 0);
		if (kids[i] == 0) {
			struct ipc_stats st;
			int tl;

			setenv("DMASYNC_SOCKET", path, 1);
			tl = dmasync_open(SW_SYNC_DEVICE_PATH, O_RDWR | O_CLOEXEC);
			if (tl < 0 || client_stats(&st))
				_exit(2);
			if (write(p[1], &st.pid, sizeof(st.pid)) != sizeof(st.pid))
				_exit(3);
			/* stay connected until all have asked */
			sleep_ms(300);
			_exit(0);
		}
	}
	close(p[1]);
	for (int i = 0; i < 6; i++) {
		uint64_t pid;

		CHECK_EQ(read(p[0], &pid, sizeof(pid)), (long)sizeof(pid));
		if (!first)
			first = pid;
		same &= pid == first;
	}
	for (int i = 0; i < 6; i++)
		CHECK_EQ(wait_status(kids[i]), 0);
	close(p[0]);
	CHECK(same);
}

/* ---- the broker's death ----------------------------------------------------------------- */

/*
 * The broker killed while clients work: sync files they hold turn readable
 * but report an error (never success), requests on the dead objects fail
 * with ENOLINK, nothing hangs, and new objects work (a new broker).
 */
TEST(broker_killed_under_load)
{
	char path[128];
	int go[2], done[2], ready[2];
	pid_t workers[2], checker;
	struct ipc_stats st;

	fresh_socket(path, sizeof(path));
	REQUIRE(pipe2(go, O_CLOEXEC) == 0);
	REQUIRE(pipe2(done, O_CLOEXEC) == 0);
	REQUIRE(pipe2(ready, O_CLOEXEC) == 0);
	fflush(stdout);
	for (int w = 0; w < 2; w++) {
		workers[w] = fork();
		REQUIRE(workers[w] >= 0);
		if (workers[w] == 0) {
			int tl;

			setenv("DMASYNC_SOCKET", path, 1);
			tl = open_tl();
			/* its timeline is the broker's to be killed with, not a
			 * new one's: say so before the kill */
			if (write(ready[1], "r", 1) != 1)
				_exit(5);
			/* hammer until killed with the broker, then exit on error */
			for (unsigned v = 1;; v++) {
				int f = create_fence(tl, v);

				if (f < 0) {
					if (errno == ENOLINK || errno == ECONNREFUSED)
						_exit(0);
					fprintf(stderr, "# worker %d: CREATE_FENCE %u: %s\n", w, v,
						strerror(errno));
					_exit(2);
				}
				close(f);
			}
		}
	}
	checker = fork();
	REQUIRE(checker >= 0);
	if (checker == 0) {
		struct sync_file_info info;
		struct sync_fence_info fi;
		int tl, f, code = 0;
		char c;

		setenv("DMASYNC_SOCKET", path, 1);
		tl = open_tl();
		f = create_fence(tl, 7);
		if (client_stats(&st) || write(go[1], &st.pid, sizeof(st.pid)) != sizeof(st.pid))
			_exit(2);
		/* the broker dies: f turns readable, with an error status */
		if (read(done[0], &c, 1) != 1)
			_exit(3);
		if (revents(f, POLLIN, 5000) & POLLIN) {
			memset(&info, 0, sizeof(info));
			info.num_fences = 1;
			info.sync_fence_info = (u64)(uintptr_t)&fi;
			if (dmasync_ioctl(f, SYNC_IOC_FILE_INFO, &info) || info.status >= 0 ||
			    fi.status >= 0)
				code |= 4;
		} else {
			code |= 8;
		}
		/* requests on the dead timeline fail; a new one works */
		if (create_fence(tl, 9) >= 0 || errno != ENOLINK)
			code |= 16;
		close(tl);
		tl = open_tl();
		f = create_fence(tl, 1);
		if (f < 0 || status(f) != 0)
			code |= 32;
		_exit(code);
	}
	CHECK_EQ(read(go[0], &st.pid, sizeof(st.pid)), (long)sizeof(st.pid));
	for (int w = 0; w < 2; w++) {
		char c;

		CHECK_EQ(read(ready[0], &c, 1), 1);
	}
	sleep_ms(100);
	CHECK_EQ(kill((pid_t)st.pid, SIGKILL), 0);
	CHECK_EQ(write(done[1], "d", 1), 1);
	for (int w = 0; w < 2; w++)
		CHECK_EQ(wait_status(workers[w]), 0);
	CHECK_EQ(wait_status(checker), 0);
	close(go[0]);
	close(go[1]);
	close(done[0]);
	close(done[1]);
	close(ready[0]);
	close(ready[1]);
}

/* ---- limits and protocol ----------------------------------------------------------------- */

TEST(per_client_object_limit)
{
	char path[128];
	pid_t pid = fork_own_broker(path, sizeof(path));

	REQUIRE(pid >= 0);
	if (pid == 0) {
		int fds[64], tl, n = 0, code = 0, f;

		setenv("DMASYNC_MAX_OBJECTS", "40", 1);
		tl = open_tl();
		for (; n < 64; n++) {
			fds[n] = create_fence(tl, (u32)n + 1);
			if (fds[n] < 0)
				break;
		}
		/* the timeline counts too: 39 fences, then ENOMEM */
		if (n != 39 || errno != ENOMEM) {
			fprintf(stderr, "# %d fences, then %s\n", n, strerror(errno));
			code |= 2;
		}
		/* what it released no longer counts, once the broker has seen the
		 * close (a sync file's release is the broker's to notice) */
		dmasync_close(fds[0]);
		if (!WAIT_UNTIL((f = create_fence(tl, 100)) >= 0, 10000))
			code |= 4;
		_exit(code);
	}
	CHECK_EQ(wait_status(pid), 0);
}

/* A client of another protocol version is refused with EPROTO. */
TEST(protocol_version_checked)
{
	struct sockaddr_un sa;
	char path[PATH_MAX];
	int dirfd;
	struct ipc_msg req = { .hdr = { .op = IPC_HELLO, .arg0 = IPC_VERSION + 1000 } }, rep;
	static char buf[IPC_MAX_PAYLOAD];
	struct ipc_stats st;
	int fd;

	/* the test's own broker: make sure it runs, then talk to it raw */
	REQUIRE(client_stats(&st) == 0);
	REQUIRE(ipc_default_socket(path, sizeof(path)) == 0);
	REQUIRE(ipc_sockaddr(path, &sa, &dirfd) == 0);
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	REQUIRE(fd >= 0);
	REQUIRE(connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0);
	if (dirfd >= 0)
		close(dirfd);
	/* nothing before a HELLO of our version: nor after a refused one */
	{
		struct ipc_msg op = { .hdr = { .op = IPC_OPEN, .arg0 = IPC_DEV_SW_SYNC,
					       .arg1 = O_RDWR | O_CLOEXEC } };

		rep.payload = buf;
		CHECK_EQ(ipc_send(fd, &op, 0), 0);
		CHECK_EQ(ipc_recv(fd, &rep, 0), 0);
		CHECK_EQ(rep.hdr.ret, -EPROTO);
		CHECK_EQ(rep.nfds, 0u);
		ipc_msg_close_fds(&rep);
		CHECK_EQ(ipc_send(fd, &req, 0), 0);
		CHECK_EQ(ipc_recv(fd, &rep, 0), 0);
		CHECK_EQ(rep.hdr.ret, -EPROTO);
		ipc_msg_close_fds(&rep);
		CHECK_EQ(ipc_send(fd, &op, 0), 0);
		CHECK_EQ(ipc_recv(fd, &rep, 0), 0);
		CHECK_EQ(rep.hdr.ret, -EPROTO);
		CHECK_EQ(rep.nfds, 0u);
		ipc_msg_close_fds(&rep);
	}
	close(fd);
}

/* A raw connection to the broker of DMASYNC_SOCKET, after HELLO; -1 if none. */
static int raw_client(void)
{
	struct ipc_msg req = { .hdr = { .op = IPC_HELLO, .arg0 = IPC_VERSION,
					.arg1 = (uint64_t)getpid() } }, rep;
	static char buf[IPC_MAX_PAYLOAD];
	struct sockaddr_un sa;
	char path[PATH_MAX];
	int dirfd, fd;

	if (ipc_default_socket(path, sizeof(path)) || ipc_sockaddr(path, &sa, &dirfd))
		return -1;
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		close(fd);
		fd = -1;
	}
	if (dirfd >= 0)
		close(dirfd);
	rep.payload = buf;
	if (fd < 0 || ipc_send(fd, &req, 0) || ipc_recv(fd, &rep, 0) || rep.hdr.ret != IPC_VERSION) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	ipc_msg_close_fds(&rep);
	return fd;
}

/* One raw round trip: IPC_IOCTL of @io + @arg on @target.  Return: the
 * reply's ret, its fds closed; -1000 if the broker did not answer. */
static long raw_ioctl(int s, int target, const struct ipc_ioctl *io, const void *arg)
{
	static char buf[IPC_MAX_PAYLOAD], out[sizeof(*io) + 4096];
	struct ipc_msg req = { .hdr = { .op = IPC_IOCTL, .seq = 1,
					.len = (uint32_t)(sizeof(*io) + io->in_len) },
			       .payload = out, .nfds = 1 }, rep = { .payload = buf };

	memcpy(out, io, sizeof(*io));
	memcpy(out + sizeof(*io), arg, io->in_len);
	req.fds[0] = target;
	if (ipc_send(s, &req, 0) || ipc_recv(s, &rep, 0))
		return -1000;
	ipc_msg_close_fds(&rep);
	return (long)rep.hdr.ret;
}

/*
 * Found by broker-fuzz (a fuzzing client, session 10): what a client
 * claims of a request must not steer the broker.  (1) The layout of the
 * fds handed back was the claimed kind's: SW_SYNC_IOC_CREATE_FENCE on a
 * heap device claimed a timeline, the heap allocated, and the broker sent
 * (and then closed) the fd number the client had put where a timeline's
 * fence goes, its own epoll fd for one, and kept the buffer.  (2) A
 * request whose bytes end at a fault but asks more back read the guard
 * page: the broker died.  (3) CREATE_FENCE asking nothing back kept the
 * sync file it made.  Each: the broker still answers, and holds no new
 * object.
 */
static int claims_case(void)
{
	struct ipc_stats st0, st;
	int s, heap, tl, code = 0;
	struct ipc_msg req = { .hdr = { .op = IPC_OPEN, .arg0 = IPC_DEV_HEAP_SYSTEM,
					.arg1 = O_RDWR | O_CLOEXEC } }, rep;
	static char buf[IPC_MAX_PAYLOAD];

	/* the library's request starts the broker; then a raw client */
	if (client_stats(&st0))
		return 2;
	s = raw_client();
	if (s < 0)
		return 2;
	rep.payload = buf;
	if (ipc_send(s, &req, 0) || ipc_recv(s, &rep, 0) || rep.nfds != 1)
		return 3;
	heap = rep.fds[0];
	tl = open_tl();
	if (tl < 0)
		return 3;
	/* (1) a heap device, a claimed timeline, a number of the broker's */
	for (int victim = 0; victim < 16; victim++) {
		struct sw_sync_create_fence_data d = { .value = 4096, .fence = victim };
		struct ipc_ioctl io = { .request = SW_SYNC_IOC_CREATE_FENCE, .kind = IPC_KIND_TIMELINE,
					.in_len = sizeof(d), .out_len = sizeof(d) };

		if (raw_ioctl(s, heap, &io, &d) == -1000)
			code |= 4;
	}
	/* (2) bytes ending at a fault, more asked back */
	{
		uint32_t zero = 0;
		struct ipc_ioctl io = { .request = SW_SYNC_IOC_INC, .kind = IPC_KIND_TIMELINE,
					.in_len = 4, .in_fault = 1, .out_len = 8192 };
		if (raw_ioctl(s, tl, &io, &zero) == -1000)
			code |= 8;
	}
	/* (3) CREATE_FENCE asking nothing back */
	for (int i = 0; i < 8; i++) {
		struct sw_sync_create_fence_data d = { .value = 100 };
		struct ipc_ioctl io = { .request = SW_SYNC_IOC_CREATE_FENCE, .kind = IPC_KIND_TIMELINE,
					.in_len = sizeof(d), .out_len = 0 };

		if (raw_ioctl(s, tl, &io, &d) == -1000)
			code |= 16;
	}
	close(s);
	close(heap);
	/* still serving, and nothing kept: the timeline is ours, and the
	 * heap device's object goes with our connection */
	for (int i = 0; i < 200; i++) {
		if (client_stats(&st))
			return code | 32;
		if (st.objects <= st0.objects + 1)
			break;
		usleep(10000);
	}
	if (st.objects > st0.objects + 1) {
		fprintf(stderr, "# %llu objects, %llu before (+1: the timeline)\n",
			(unsigned long long)st.objects, (unsigned long long)st0.objects);
		code |= 64;
	}
	if (create_fence(tl, 1) < 0)
		code |= 128;
	dmasync_close(tl);
	return code;
}

TEST(client_claims_do_not_steer_the_broker)
{
	CHECK_EQ(on_own_broker(claims_case), 0);
}

/*
 * Found by broker-fuzz (session 14): fds carried for a request naming
 * more files than one message carries (IPC_FDS) are held until that
 * request.  A client that carries its own connection and never sends it
 * kept itself alive: its end never hung up for the broker, so its
 * objects and fds stayed for good.  Also: fds carried and never used go
 * with the client, and a memfd carried for a real request is used.
 */
static int carried_case(void)
{
	struct ipc_stats st0, st;
	int s, code = 0, m = memfd_create("carried", MFD_CLOEXEC);

	if (m < 0 || client_stats(&st0))
		return 2;
	for (int round = 0; round < 2; round++) {
		struct ipc_msg fds = { .hdr = { .op = IPC_FDS, .arg0 = 1 }, .nfds = 2 };

		s = raw_client();
		if (s < 0)
			return 2;
		fds.fds[0] = s;		/* its own connection */
		fds.fds[1] = m;
		if (ipc_send(s, &fds, 0))
			code |= 4;
		/* the second round asks something after: still answered */
		if (round) {
			struct ipc_msg req = { .hdr = { .op = IPC_STATS, .seq = 5 } }, rep;
			static char buf[IPC_MAX_PAYLOAD];

			rep.payload = buf;
			if (ipc_send(s, &req, 0) || ipc_recv(s, &rep, 0) || rep.hdr.seq != 5)
				code |= 8;
			else
				ipc_msg_close_fds(&rep);
		}
		close(s);
	}
	/* both connections are dropped: the clients go back to what they were */
	for (int i = 0; i < 300; i++) {
		if (client_stats(&st))
			return code | 16;
		if (st.clients <= st0.clients)
			break;
		usleep(10000);
	}
	if (st.clients > st0.clients) {
		fprintf(stderr, "# %llu clients, %llu before\n", (unsigned long long)st.clients,
			(unsigned long long)st0.clients);
		code |= 32;
	}
	close(m);
	return code;
}

TEST(carried_fds_never_keep_a_client_alive)
{
	CHECK_EQ(on_own_broker(carried_case), 0);
}

/* ---- stress ------------------------------------------------------------------------------ */

struct xstress {
	int tl, b, iters, errors;
};

static void *xstress_thread(void *arg)
{
	struct xstress *x = arg;

	for (int i = 0; i < x->iters; i++) {
		int f = create_fence(x->tl, (u32)(i % 5) + 1);
		struct dma_buf_import_sync_file im = { .flags = (i & 1) ? DMA_BUF_SYNC_READ
									 : DMA_BUF_SYNC_WRITE };
		struct dma_buf_export_sync_file ex = { .flags = DMA_BUF_SYNC_RW, .fd = -1 };
		struct pollfd p = { .fd = x->b, .events = POLLIN };

		if (f < 0) {
			__atomic_fetch_add(&x->errors, 1, __ATOMIC_RELAXED);
			continue;
		}
		im.fd = f;
		if (dmasync_ioctl(x->b, DMA_BUF_IOCTL_IMPORT_SYNC_FILE, &im) ||
		    dmasync_ioctl(x->b, DMA_BUF_IOCTL_EXPORT_SYNC_FILE, &ex) ||
		    dmasync_poll(&p, 1, 0) < 0)
			__atomic_fetch_add(&x->errors, 1, __ATOMIC_RELAXED);
		if (ex.fd >= 0)
			dmasync_close(ex.fd);
		dmasync_close(f);
	}
	return NULL;
}

/* ---- long udmabuf lists from many threads ------------------------------------------------ */

/*
 * @fn(@arg) in 4 threads of this process and 4 of a fork child, made
 * first; they count their failures in *@errors (each process its own).
 * The child exits 2 if it counted any.  Return: the child's exit status
 * (-1: no child).
 */
static int four_threads_two_processes(void *(*fn)(void *), void *arg, const int *errors)
{
	pthread_t th[4];
	pid_t pid;

	fflush(stdout);
	pid = fork();
	if (pid < 0)
		return -1;
	for (int i = 0; i < 4; i++)
		pthread_create(&th[i], NULL, fn, arg);
	for (int i = 0; i < 4; i++)
		pthread_join(th[i], NULL);
	if (pid == 0)
		_exit(__atomic_load_n(errors, __ATOMIC_RELAXED) ? 2 : 0);
	return wait_status(pid);
}

enum { LIST_FILES = 260, LIST_ITEMS = 2 * LIST_FILES };

struct list_stress {
	int dev, iters, errors;
	int memfd[LIST_FILES];
};

/* Lists naming more memfds than one message carries (their fds go ahead in
 * IPC_FDS messages), made and mapped by several threads at once: every
 * page must be the one its item named. */
static void *list_stress_thread(void *arg)
{
	struct list_stress *x = arg;
	size_t head = sizeof(struct udmabuf_create_list);
	struct udmabuf_create_list *l = calloc(1, head + LIST_ITEMS * sizeof(l->list[0]));

	if (!l)
		return NULL;
	l->flags = UDMABUF_FLAGS_CLOEXEC;
	l->count = LIST_ITEMS;
	for (int it = 0; it < x->iters; it++) {
		int shift = rand_r(&(unsigned int){ (unsigned int)it }) % LIST_FILES, b;
		unsigned char *p;

		for (unsigned int i = 0; i < LIST_ITEMS; i++) {
			l->list[i].memfd = (uint32_t)x->memfd[(i + (unsigned int)shift) % LIST_FILES];
			l->list[i].offset = 0;
			l->list[i].size = PAGE;
		}
		b = dmasync_ioctl(x->dev, UDMABUF_CREATE_LIST, l);
		if (b < 0) {
			__atomic_fetch_add(&x->errors, 1, __ATOMIC_RELAXED);
			continue;
		}
		p = dmasync_mmap(NULL, LIST_ITEMS * PAGE, PROT_READ, MAP_SHARED, b, 0);
		if (p == MAP_FAILED) {
			__atomic_fetch_add(&x->errors, 1, __ATOMIC_RELAXED);
		} else {
			for (unsigned int i = 0; i < LIST_ITEMS; i++)
				if (p[(size_t)i * PAGE] != (unsigned char)((i + (unsigned int)shift) % LIST_FILES)) {
					__atomic_fetch_add(&x->errors, 1, __ATOMIC_RELAXED);
					break;
				}
			munmap(p, LIST_ITEMS * PAGE);
		}
		dmasync_close(b);
	}
	free(l);
	return NULL;
}

TEST(udmabuf_long_lists_from_four_threads)
{
	struct list_stress x = { .iters = (int)STRESS(12) };
	int status;

	x.dev = dmasync_open("/dev/udmabuf", O_RDWR | O_CLOEXEC);
	REQUIRE(x.dev >= 0);
	for (int k = 0; k < LIST_FILES; k++) {
		unsigned char v = (unsigned char)k;

		x.memfd[k] = memfd_create("lists", MFD_CLOEXEC | MFD_ALLOW_SEALING);
		REQUIRE(x.memfd[k] >= 0);
		REQUIRE(ftruncate(x.memfd[k], PAGE) == 0 && pwrite(x.memfd[k], &v, 1, 0) == 1);
		REQUIRE(fcntl(x.memfd[k], F_ADD_SEALS, F_SEAL_SHRINK) == 0);
	}
	status = four_threads_two_processes(list_stress_thread, &x, &x.errors);
	CHECK_EQ(x.errors, 0);
	CHECK_EQ(status, 0);
	for (int k = 0; k < LIST_FILES; k++)
		close(x.memfd[k]);
	dmasync_close(x.dev);
}

/* 2 processes x 4 threads on one timeline and one buffer; a third thread
 * advances the timeline so that everything signals. */
TEST(stress_two_processes_four_threads)
{
	struct dma_heap_allocation_data a = { .len = PAGE, .fd_flags = O_RDWR | O_CLOEXEC };
	int heap = dmasync_open("/dev/dma_heap/system", O_RDWR | O_CLOEXEC);
	int tl = open_tl(), iters = (int)STRESS(400), status;

	REQUIRE(heap >= 0);
	REQUIRE(dmasync_ioctl(heap, DMA_HEAP_IOCTL_ALLOC, &a) == 0);
	{
		struct xstress x = { .tl = tl, .b = (int)a.fd, .iters = iters };

		status = four_threads_two_processes(xstress_thread, &x, &x.errors);
		CHECK_EQ(x.errors, 0);
	}
	CHECK_EQ(status, 0);
	/* everything imported signals: the buffer goes idle */
	CHECK_EQ(inc(tl, 10), 0);
	{
		struct pollfd p = { .fd = (int)a.fd, .events = POLLIN | POLLOUT };

		CHECK_EQ(dmasync_poll(&p, 1, 5000), 1);
		CHECK_EQ(p.revents, POLLIN | POLLOUT);
	}
	dmasync_close((int)a.fd);
	dmasync_close(heap);
	dmasync_close(tl);
}

/*
 * dmasync_close() of a timeline's last copy: its points have signaled with
 * -ENOENT when it returns, also when the broker's monitor thread saw the
 * hang-up first and was still releasing the timeline as the request came
 * (the request found nothing installed and returned at once: a merge of
 * such points was not yet signaled, about once in a thousand under load).
 */
TEST(stress_last_close_is_synchronous)
{
	int iters = (int)STRESS(200), late = 0;

	for (int i = 0; i < iters; i++) {
		int tl = open_tl(), tl2 = open_tl(), pts[64];
		int a = create_fence(tl, 1), b = create_fence(tl2, 1);
		struct sync_merge_data m = { .name = "m", .fd2 = b };

		REQUIRE(a >= 0 && b >= 0);
		REQUIRE(dmasync_ioctl(a, SYNC_IOC_MERGE, &m) == 0);
		/* points to signal: the release takes a while */
		for (int j = 0; j < 64; j++)
			pts[j] = create_fence(tl, (u32)j + 2);
		dmasync_close(tl);
		dmasync_close(tl2);
		/* FILE_INFO never waits: the status it reports is the state now */
		if (status(a) != -ENOENT || status((int)m.fence) != -ENOENT)
			late++;
		close(a);
		close(b);
		close((int)m.fence);
		for (int j = 0; j < 64; j++)
			close(pts[j]);
	}
	CHECK_EQ(late, 0);
}

/* ---- signals during a request ---------------------------------------------------------- */

static volatile sig_atomic_t alarms;

static void on_alarm(int sig)
{
	(void)sig;
	alarms++;
}

struct sync_helper {
	pid_t broker;
	pthread_t waiter;
	pid_t waiter_tid;
	int tl;
};

/* Whether thread @tid is in system call @nr now (/proc/self/task/TID/syscall). */
static bool in_syscall(pid_t tid, long nr)
{
	char path[64], buf[64] = "";
	int fd;

	snprintf(path, sizeof(path), "/proc/self/task/%d/syscall", (int)tid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	if (read(fd, buf, sizeof(buf) - 1) < 0)
		buf[0] = '\0';
	close(fd);
	return strtol(buf, NULL, 10) == nr;
}

/* SIGALRM to the waiting thread once it waits for the (stopped) broker's
 * reply; let the broker go on 200 ms later; signal the fence after 1.5 s. */
static void *sync_helper(void *arg)
{
	struct sync_helper *h = arg;

	WAIT_UNTIL(in_syscall(h->waiter_tid, SYS_recvmsg), 10000);
	pthread_kill(h->waiter, SIGALRM);
	sleep_ms(200);
	kill(h->broker, SIGCONT);
	sleep_ms(1200);
	inc(h->tl, 1);
	return NULL;
}

/*
 * DMA_BUF_IOCTL_SYNC(START) waits interruptibly, as the kernel's: a signal
 * that comes while the request is still with the broker (stopped here, so
 * the alarm always falls there) is one pending as the wait begins.  With a
 * handler without SA_RESTART: EINTR at once.  With SA_RESTART: the wait
 * goes on until the fence signals.  (The handler used to run during the
 * request, and the wait then blocked until the fence signaled.)
 */
static int sync_interrupted_during_request(bool restart)
{
	struct dma_heap_allocation_data a = { .len = PAGE, .fd_flags = O_RDWR | O_CLOEXEC };
	struct sigaction sa = { .sa_handler = on_alarm, .sa_flags = restart ? SA_RESTART : 0 };
	struct dma_buf_import_sync_file imp = { .flags = DMA_BUF_SYNC_WRITE };
	struct dma_buf_sync sync = { .flags = DMA_BUF_SYNC_START | DMA_BUF_SYNC_READ };
	struct sync_helper h = { .waiter = pthread_self(), .waiter_tid = gettid() };
	struct ipc_stats st;
	pthread_t th;
	int heap, r, e, code = 0;

	heap = dmasync_open("/dev/dma_heap/system", O_RDWR | O_CLOEXEC);
	h.tl = open_tl();
	imp.fd = create_fence(h.tl, 1);
	if (heap < 0 || dmasync_ioctl(heap, DMA_HEAP_IOCTL_ALLOC, &a) ||
	    dmasync_ioctl((int)a.fd, DMA_BUF_IOCTL_IMPORT_SYNC_FILE, &imp) || client_stats(&st))
		return 2;
	h.broker = (pid_t)st.pid;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGALRM, &sa, NULL);
	alarms = 0;
	kill(h.broker, SIGSTOP);
	pthread_create(&th, NULL, sync_helper, &h);
	r = dmasync_ioctl((int)a.fd, DMA_BUF_IOCTL_SYNC, &sync);
	e = errno;
	if (alarms != 1)
		code |= 4;
	if (restart ? r != 0 : r != -1 || e != EINTR) {
		fprintf(stderr, "# SYNC START%s: %d/%s, %d alarms\n",
			restart ? " (SA_RESTART)" : "", r, strerror(e), (int)alarms);
		code |= 8;
	}
	pthread_join(th, NULL);
	close((int)a.fd);
	close(imp.fd);
	close(heap);
	dmasync_close(h.tl);
	return code;
}

TEST(sync_start_signal_during_request)
{
	for (int restart = 0; restart < 2; restart++) {
		char path[128];
		pid_t pid = fork_own_broker(path, sizeof(path));

		REQUIRE(pid >= 0);
		if (pid == 0)
			_exit(sync_interrupted_during_request(restart));
		CHECK_EQ(wait_status(pid), 0);
	}
}

/* ---- the timeline page ---------------------------------------------------------------------- */

static uint64_t requests_now(void);

static int64_t mono_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000ll + ts.tv_nsec;
}

/* A request of another thread of the signaler's, stuck with the broker. */
static void *stuck_request(void *arg)
{
	int f = create_fence(*(int *)arg, 7);

	return (void *)(long)f;
}

/*
 * The signaler wakes the poller itself: with the broker stopped, an INC in
 * one process (which then waits for the broker to settle) still wakes a
 * dmasync_poll() in another, through the timeline's doorbell; the broker,
 * let go, applies it, and FILE_INFO reports the time the INC was made.
 * @busy: another thread of the signaler's is in a request the stopped
 * broker does not answer, which the INC must not wait for.
 */
static int doorbell_wakes_with_broker_stopped_busy(bool busy)
{
	int tl = open_tl(), f = create_fence(tl, 1), go[2], woke[2], code = 0;
	struct sync_fence_info fi;
	struct sync_file_info info;
	struct ipc_stats st;
	int64_t t0, t1;
	pid_t waiter, signaler;
	char c;

	if (tl < 0 || f < 0 || pipe2(go, O_CLOEXEC) || pipe2(woke, O_CLOEXEC) || client_stats(&st))
		return 2;
	/* the doorbell, fetched once (a request) and inherited by both */
	if (revents(f, POLLIN, 0) != 0)
		return 2;
	fflush(stdout);
	waiter = fork();
	if (waiter == 0) {
		struct pollfd p = { .fd = f, .events = POLLIN };
		int r;

		/* counted in as a poller before the broker stops */
		if (write(go[1], "w", 1) != 1)
			_exit(2);
		r = dmasync_poll(&p, 1, 10000);
		_exit(r == 1 && p.revents == POLLIN && write(woke[1], "k", 1) == 1 ? 0 : 3);
	}
	if (read(go[0], &c, 1) != 1)
		return 2;
	/* the poller is in its poll (or about to be: the INC's doorbell
	 * write is seen either way, the page being read after counting in) */
	kill((pid_t)st.pid, SIGSTOP);
	t0 = mono_now();
	signaler = fork();
	if (signaler == 0) {
		pthread_t th;
		void *made;
		int r;

		if (busy) {
			if (pthread_create(&th, NULL, stuck_request, &tl))
				_exit(5);
			usleep(100000);	/* in its request (a test of what waits for it) */
		}
		r = inc(tl, 1);
		/* answered once the broker goes on */
		if (busy && (pthread_join(th, &made) || (long)made < 0))
			_exit(6);
		_exit(r == 0 ? 0 : 4);
	}
	{
		struct pollfd w = { .fd = woke[0], .events = POLLIN };

		if (poll(&w, 1, 5000) != 1)
			code |= 8;	/* not woken while the broker stood still */
	}
	kill((pid_t)st.pid, SIGCONT);
	if (wait_status(signaler) != 0)
		code |= 16;
	t1 = mono_now();
	if (wait_status(waiter) != 0)
		code |= 32;
	memset(&info, 0, sizeof(info));
	info.num_fences = 1;
	info.sync_fence_info = (uintptr_t)&fi;
	if (dmasync_ioctl(f, SYNC_IOC_FILE_INFO, &info) || info.status != 1 ||
	    (int64_t)fi.timestamp_ns < t0 || (int64_t)fi.timestamp_ns > t1)
		code |= 64;
	close(f);
	dmasync_close(tl);
	return code;
}

static int doorbell_wakes_with_broker_stopped(void)
{
	return doorbell_wakes_with_broker_stopped_busy(false);
}

static int doorbell_wakes_past_a_stuck_request(void)
{
	return doorbell_wakes_with_broker_stopped_busy(true);
}

TEST(timeline_page_doorbell_wakes_with_broker_stopped)
{
	CHECK_EQ(on_own_broker(doorbell_wakes_with_broker_stopped), 0);
}

/* ... and while another thread of the signaler's waits for its reply (the
 * doorbell and the nudge do not wait for another thread's request). */
TEST(timeline_page_doorbell_wakes_past_a_stuck_request)
{
	CHECK_EQ(on_own_broker(doorbell_wakes_past_a_stuck_request), 0);
}

/*
 * Two processes (or two threads of one) take turns on one timeline with
 * the broker stopped, both on one CPU: each INCs (ringing the doorbell for
 * the other) and at once polls its own next point, so its poll sees the
 * ring it just made before the other side has run.  Every poller of a
 * timeline waits on the same doorbell: a poll that took the ring (read the
 * eventfd, or took the event from a wait set the other side waited on
 * too) left the other asleep, and with the broker stopped nothing woke it
 * (the first turn hung until the poll's timeout).  Each turn must be
 * woken by the doorbell.
 */
#define TURNS 200

struct turns {
	int tl;
	int odd[TURNS];		/* the other side's points: 1, 3, 5... */
};

/* The other side: wait for each odd point, then INC to the next even one. */
static int turns_odd(struct turns *t)
{
	for (int i = 0; i < TURNS; i++) {
		if (revents(t->odd[i], POLLIN, 2000) != POLLIN)
			return 3;
		if (inc(t->tl, 1))
			return 4;
	}
	return 0;
}

static void *turns_odd_thread(void *arg)
{
	return (void *)(long)turns_odd(arg);
}

static int doorbell_turns(bool threads)
{
	struct turns t = { .tl = open_tl() };
	int last = create_fence(t.tl, 2 * TURNS + 2), even[TURNS], ready[2], code = 0;
	struct ipc_stats st;
	pthread_t th;
	cpu_set_t one;
	pid_t pid = -1;
	void *res;
	char c;

	if (t.tl < 0 || last < 0 || pipe2(ready, O_CLOEXEC) || client_stats(&st))
		return 2;
	CPU_ZERO(&one);
	CPU_SET(sched_getcpu() < 0 ? 0 : sched_getcpu(), &one);
	if (sched_setaffinity(0, sizeof(one), &one))
		return 2;
	/* the doorbell, fetched once (a request) and inherited by the child,
	 * with this process's wait set, which the child must not share (it
	 * failed this test when a fork child kept it) */
	if (revents(last, POLLIN, 0) != 0)
		return 2;
	fflush(stdout);
	if (threads) {
		for (int i = 0; i < TURNS; i++)
			if ((t.odd[i] = create_fence(t.tl, 2 * (unsigned int)i + 1)) < 0)
				return 2;
		if (pthread_create(&th, NULL, turns_odd_thread, &t))
			return 2;
	} else {
		pid = fork();
		if (pid == 0) {
			for (int i = 0; i < TURNS; i++)
				if ((t.odd[i] = create_fence(t.tl, 2 * (unsigned int)i + 1)) < 0)
					_exit(2);
			if (write(ready[1], "r", 1) != 1)
				_exit(2);
			_exit(turns_odd(&t));
		}
	}
	for (int i = 0; i < TURNS; i++)
		if ((even[i] = create_fence(t.tl, 2 * (unsigned int)i + 2)) < 0)
			code |= 2;
	if (!threads && read(ready[0], &c, 1) != 1)
		code |= 2;
	kill((pid_t)st.pid, SIGSTOP);
	for (int i = 0; !code && i < TURNS; i++) {
		if (inc(t.tl, 1))
			code |= 4;
		else if (revents(even[i], POLLIN, 2000) != POLLIN)
			code |= 8;	/* not woken while the broker stood still */
	}
	kill((pid_t)st.pid, SIGCONT);
	if (threads) {
		if (code)
			inc(t.tl, 2 * TURNS);	/* let the other side finish */
		if (pthread_join(th, &res) || res)
			code |= 16;
		for (int i = 0; i < TURNS; i++)
			close(t.odd[i]);
	} else {
		if (code)
			kill(pid, SIGKILL);
		if (wait_status(pid) != 0)
			code |= 16;
	}
	for (int i = 0; i < TURNS; i++)
		close(even[i]);
	close(last);
	close(ready[0]);
	close(ready[1]);
	dmasync_close(t.tl);
	return code;
}

static int doorbell_turns_processes(void)
{
	return doorbell_turns(false);
}

static int doorbell_turns_threads(void)
{
	return doorbell_turns(true);
}

TEST(timeline_page_doorbell_wakes_each_poller_in_turn)
{
	CHECK_EQ(on_own_broker(doorbell_turns_processes), 0);
}

TEST(timeline_page_doorbell_wakes_each_thread_in_turn)
{
	CHECK_EQ(on_own_broker(doorbell_turns_threads), 0);
}

/*
 * Eight pollers, four threads in each of two processes, each waiting in
 * turn for its own points of one timeline, with the broker stopped: the
 * signaler INCs by one and waits for the one poller whose point that
 * reached to say so before it INCs again.  Every ring wakes all eight
 * (seven look and sleep on); a wake-up lost to another poller (of this
 * process or the other) is never made up for, since the broker's record
 * cannot come: the turn times out.
 */
enum { WAKERS = 8, WAKER_ROUNDS = 25 };

struct waker {
	int tl, slot, ack;
	int fences[WAKER_ROUNDS];
	int err;
};

static void *waker_thread(void *arg)
{
	struct waker *w = arg;
	char me = (char)w->slot;

	for (int r = 0; r < WAKER_ROUNDS; r++) {
		if (revents(w->fences[r], POLLIN, 3000) != POLLIN || write(w->ack, &me, 1) != 1) {
			w->err = 1;
			break;
		}
	}
	return NULL;
}

/* Four pollers of this process, slots @first..@first+3, their points made
 * and the doorbell fetched (requests: before the broker stops). */
static int wakers_make(struct waker *w, int tl, int first, int ack)
{
	for (int k = 0; k < 4; k++) {
		w[k].tl = tl;
		w[k].slot = first + k;
		w[k].ack = ack;
		w[k].err = 0;
		for (int r = 0; r < WAKER_ROUNDS; r++)
			if ((w[k].fences[r] = create_fence(tl, (unsigned int)(r * WAKERS + first + k + 1))) < 0)
				return -1;
	}
	return revents(w[0].fences[WAKER_ROUNDS - 1], POLLIN, 0) == 0 ? 0 : -1;
}

static int wakers_run(struct waker *w, pthread_t *th)
{
	for (int k = 0; k < 4; k++)
		if (pthread_create(&th[k], NULL, waker_thread, &w[k]))
			return -1;
	return 0;
}

static int wakers_join(struct waker *w, pthread_t *th)
{
	int err = 0;

	for (int k = 0; k < 4; k++) {
		pthread_join(th[k], NULL);
		err |= w[k].err;
		for (int r = 0; r < WAKER_ROUNDS; r++)
			close(w[k].fences[r]);
	}
	return err;
}

static int doorbell_many_pollers(void)
{
	int tl = open_tl(), ack[2], ready[2], code = 0;
	struct waker w[4];
	struct ipc_stats st;
	pthread_t th[4];
	pid_t pid;
	char c;

	if (tl < 0 || pipe2(ack, O_CLOEXEC) || pipe2(ready, O_CLOEXEC) || client_stats(&st))
		return 2;
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		if (wakers_make(w, tl, 4, ack[1]) || wakers_run(w, th) ||
		    write(ready[1], "r", 1) != 1)
			_exit(2);
		_exit(wakers_join(w, th) ? 3 : 0);
	}
	if (wakers_make(w, tl, 0, ack[1]) || wakers_run(w, th))
		code |= 2;
	if (read(ready[0], &c, 1) != 1)
		code |= 2;
	kill((pid_t)st.pid, SIGSTOP);
	for (int i = 0; !code && i < WAKERS * WAKER_ROUNDS; i++) {
		struct pollfd p = { .fd = ack[0], .events = POLLIN };

		if (inc(tl, 1))
			code |= 4;
		else if (poll(&p, 1, 3000) != 1 || read(ack[0], &c, 1) != 1)
			code |= 8;	/* its poller was not woken */
		else if (c != i % WAKERS)
			code |= 32;	/* another one said it was */
	}
	kill((pid_t)st.pid, SIGCONT);
	if (code) {
		inc(tl, WAKERS * WAKER_ROUNDS);	/* let everyone finish */
		kill(pid, SIGKILL);
	}
	if (wakers_join(w, th) && !code)
		code |= 16;
	if (wait_status(pid) != 0 && !code)
		code |= 16;
	close(ack[0]);
	close(ack[1]);
	close(ready[0]);
	close(ready[1]);
	dmasync_close(tl);
	return code;
}

TEST(timeline_page_doorbell_wakes_each_of_many_pollers)
{
	CHECK_EQ(on_own_broker(doorbell_many_pollers), 0);
}

/*
 * More timelines than the page has slots: the rest are served by requests,
 * with the same results; a slot given back serves the next timeline, and
 * a sync file of the old one is not read from it.
 */
/* Whether our soft RLIMIT_NOFILE is, or can be raised to, @n or more. */
static bool nofile_at_least(rlim_t n)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl))
		return false;
	if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < n) {
		if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < n)
			return false;
		rl.rlim_cur = n;
		if (setrlimit(RLIMIT_NOFILE, &rl))
			return false;
	}
	return true;
}

enum { MORE_THAN_SLOTS = 4096 + 8 };

static int more_timelines_than_slots(void)
{
	enum { N = MORE_THAN_SLOTS };
	int *tls = calloc(N, sizeof(int)), code = 0;
	int f_first, f_last, keep, fresh, ff;

	/* a soft limit of 1024 is common: one fd per timeline and some */
	if (!tls || !nofile_at_least(N + 256))
		return 2;
	for (int i = 0; i < N; i++) {
		tls[i] = open_tl();
		if (tls[i] < 0)
			return 3;
	}
	f_first = create_fence(tls[0], 2);
	f_last = create_fence(tls[N - 1], 2);
	if (f_first < 0 || f_last < 0)
		return 4;
	/* pending, then signaled, on a paged and an unpaged timeline */
	if (status(f_first) != 0 || status(f_last) != 0 || revents(f_last, POLLIN, 0))
		code |= 8;
	if (inc(tls[0], 2) || inc(tls[N - 1], 2) || status(f_first) != 1 || status(f_last) != 1 ||
	    revents(f_first, POLLIN, 0) != POLLIN || revents(f_last, POLLIN, 0) != POLLIN)
		code |= 16;
	/* a point of a timeline whose slot is given back and taken again */
	keep = create_fence(tls[1], 5);
	dmasync_close(tls[1]);		/* keep signals -ENOENT */
	fresh = open_tl();
	ff = fresh >= 0 ? create_fence(fresh, 5) : -1;
	if (ff < 0 || status(keep) != -ENOENT || revents(keep, POLLIN, 0) != POLLIN)
		code |= 32;
	if (inc(fresh, 5) || status(ff) != 1 || status(keep) != -ENOENT)
		code |= 64;
	close(keep);
	close(ff);
	dmasync_close(fresh);
	close(f_first);
	close(f_last);
	for (int i = 0; i < N; i++)
		if (i != 1)
			dmasync_close(tls[i]);
	free(tls);
	return code;
}

TEST(timeline_page_more_timelines_than_slots)
{
	struct rlimit rl;

	if (!getrlimit(RLIMIT_NOFILE, &rl) && rl.rlim_max != RLIM_INFINITY &&
	    rl.rlim_max < MORE_THAN_SLOTS + 256) {
		dmasync_test_skip("the hard RLIMIT_NOFILE is below 4360: too few fds for 4104 timelines");
		return;
	}
	CHECK_EQ(on_own_broker(more_timelines_than_slots), 0);
}

/*
 * A client that scribbles on the page (same uid: it may) cannot crash the
 * broker: dirty marks of free slots, log positions far ahead, garbage
 * values.  The broker keeps serving.
 */
static int scribbled_page(void)
{
	struct ipc_msg req = { .hdr = { .op = IPC_HELLO, .arg0 = IPC_VERSION } }, rep;
	static char buf[IPC_MAX_PAYLOAD];
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int tl = open_tl(), f = create_fence(tl, 1), s, code = 0;
	unsigned char *page;

	if (tl < 0 || f < 0)
		return 2;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", getenv("DMASYNC_SOCKET"));
	s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (s < 0 || connect(s, (struct sockaddr *)&sa, sizeof(sa)))
		return 3;
	req.hdr.arg1 = (uint64_t)getpid();
	rep.payload = buf;
	if (ipc_send(s, &req, 0) || ipc_recv(s, &rep, 0) || rep.nfds != 1)
		return 4;
	page = mmap(NULL, TLPAGE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, rep.fds[0], 0);
	close(rep.fds[0]);
	if (page == MAP_FAILED)
		return 5;
	/* every dirty bit, every slot's count and log garbage (the layout
	 * from tlpage.h: it outgrew the literal offsets this once had) */
	memset(&tlpage_hdr(page)->summary, 0xff, sizeof(tlpage_hdr(page)->summary));
	memset(tlpage_hdr(page)->dirty, 0xff, sizeof(tlpage_hdr(page)->dirty));
	for (uint32_t i = 0; i < TLPAGE_SLOTS; i++) {
		struct tlpage_slot *slot = tlpage_slot(page, i);

		memset(&slot->count, 0xa5, sizeof(slot->count));
		memset(&slot->log_head, 0xee, sizeof(slot->log_head));
		memset(slot->log, 0xa5, sizeof(slot->log));
	}
	/* the broker still answers, and the timeline still works */
	if (status(f) < 0 || inc(tl, 1) || revents(f, POLLIN, 1000) != POLLIN)
		code |= 8;
	munmap(page, TLPAGE_SIZE);
	close(s);
	close(f);
	dmasync_close(tl);
	return code;
}

TEST(timeline_page_scribbled_by_a_client)
{
	CHECK_EQ(on_own_broker(scribbled_page), 0);
}

/* Open fds of this process at @min and up. */
static int fds_from(int min)
{
	int n = 0;

	for (int fd = min; fd < min + 4096; fd++)
		n += fcntl(fd, F_GETFD) >= 0;
	return n;
}

/*
 * A process that polls points of many timelines keeps a doorbell and its
 * wait set for at most 32 of them (the table reuses the entries of
 * released or idle ones), and every poll still wakes.
 */
static int doorbells_bounded(void)
{
	enum { N = 48 };
	int base = fds_from(1024), code = 0;

	for (int i = 0; i < N; i++) {
		int tl = open_tl(), f = tl >= 0 ? create_fence(tl, 1) : -1;

		if (f < 0)
			return 2;
		if (revents(f, POLLIN, 0) != 0 || inc(tl, 1) || revents(f, POLLIN, 1000) != POLLIN)
			code |= 4;
		close(f);
		if (i % 2)
			dmasync_close(tl);	/* half released, half kept (to exit) */
	}
	if (fds_from(1024) - base > 2 * 32 + 2)
		code |= 8;
	return code;
}

TEST(timeline_page_doorbells_bounded)
{
	CHECK_EQ(on_own_broker(doorbells_bounded), 0);
}

/*
 * A poll of a dma-buf that the broker has found ready (at its creation, at
 * the last poll that asked) needs no request; once fences are added it
 * asks again, at once, in every process (the page's bits are cleared
 * before the IMPORT returns).
 */
static int buffer_polls_decided_by_page(void)
{
	struct dma_heap_allocation_data a = { .len = PAGE, .fd_flags = O_RDWR | O_CLOEXEC };
	struct dma_buf_import_sync_file imp = { .flags = DMA_BUF_SYNC_WRITE };
	int heap = dmasync_open("/dev/dma_heap/system", O_RDONLY | O_CLOEXEC), tl = open_tl();
	int code = 0, buf;
	uint64_t r0;
	pid_t kid;

	if (heap < 0 || tl < 0 || dmasync_ioctl(heap, DMA_HEAP_IOCTL_ALLOC, &a))
		return 2;
	buf = (int)a.fd;
	/* idle since its creation: no request, in either direction */
	r0 = requests_now();
	if (revents(buf, POLLIN, 0) != POLLIN || revents(buf, POLLIN | POLLOUT, 0) != (POLLIN | POLLOUT))
		code |= 4;
	if (requests_now() - r0 != 1)	/* requests_now() itself */
		code |= 8;
	/* a writer pending: not ready, in this process and in another */
	imp.fd = create_fence(tl, 1);
	if (imp.fd < 0 || dmasync_ioctl(buf, DMA_BUF_IOCTL_IMPORT_SYNC_FILE, &imp))
		return 2;
	if (revents(buf, POLLIN, 0) != 0 || revents(buf, POLLOUT, 0) != 0)
		code |= 16;
	fflush(stdout);
	kid = fork();
	if (kid == 0)
		_exit(revents(buf, POLLIN, 0) == 0 ? 0 : 1);
	if (wait_status(kid) != 0)
		code |= 32;
	/* signaled: the poll that asks finds it ready, the next one does not ask */
	if (inc(tl, 1) || revents(buf, POLLIN, 0) != POLLIN)
		code |= 64;
	r0 = requests_now();
	if (revents(buf, POLLIN | POLLOUT, 0) != (POLLIN | POLLOUT) || requests_now() - r0 != 1)
		code |= 128;
	close(imp.fd);
	close(buf);
	close(heap);
	dmasync_close(tl);
	return code;
}

TEST(timeline_page_buffer_polls_decided)
{
	CHECK_EQ(on_own_broker(buffer_polls_decided_by_page), 0);
}

/*
 * EXPORT_SYNC_FILE of a buffer with nothing unsignaled to wait for exports
 * the stub fence (as Linux): after the first, the client answers it from
 * the page with a copy of the stub's sync file, with no request, at the
 * lowest free number, FD_CLOEXEC, alike in every way the first one; a
 * fence imported since is exported from the broker again; a write-back
 * fault is EFAULT with no fd left behind.
 */
static int info_one(int fd, struct sync_fence_info *fi, char name[32]);

static int export_stub_case(void)
{
	struct dma_heap_allocation_data a = { .len = PAGE, .fd_flags = O_RDWR | O_CLOEXEC };
	struct dma_buf_export_sync_file ex = { .flags = DMA_BUF_SYNC_READ, .fd = -1 };
	struct dma_buf_import_sync_file imp = { .flags = DMA_BUF_SYNC_READ };
	struct sync_fence_info f1, f2;
	char n1[32], n2[32];
	int heap = dmasync_open("/dev/dma_heap/system", O_RDONLY | O_CLOEXEC), tl = open_tl();
	int code = 0, buf, e1, e2, lowest;
	struct dma_buf_export_sync_file *ro;
	uint64_t r0;

	if (heap < 0 || tl < 0 || dmasync_ioctl(heap, DMA_HEAP_IOCTL_ALLOC, &a))
		return 2;
	buf = (int)a.fd;
	/* the first asks the broker */
	if (dmasync_ioctl(buf, DMA_BUF_IOCTL_EXPORT_SYNC_FILE, &ex))
		return 3;
	e1 = ex.fd;
	if (info_one(e1, &f1, n1) != 1)
		code |= 4;
	/* the next ones do not, in either direction */
	for (unsigned int flags = DMA_BUF_SYNC_READ; flags <= DMA_BUF_SYNC_RW; flags++) {
		lowest = dup(0);
		close(lowest);
		ex = (struct dma_buf_export_sync_file){ .flags = flags, .fd = -1 };
		r0 = requests_now();
		if (dmasync_ioctl(buf, DMA_BUF_IOCTL_EXPORT_SYNC_FILE, &ex) || ex.fd != lowest ||
		    ex.flags != flags)
			code |= 8;
		if (requests_now() - r0 != 1)	/* requests_now() itself */
			code |= 16;
		e2 = ex.fd;
		if (fcntl(e2, F_GETFD) != FD_CLOEXEC || info_one(e2, &f2, n2) != 1 ||
		    memcmp(&f1, &f2, sizeof(f1)) || memcmp(n1, n2, sizeof(n1)))
			code |= 32;
		dmasync_close(e2);
	}
	/* the write-back faults: EFAULT, and the number is free again */
	ro = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (ro == MAP_FAILED)
		return 2;
	*ro = (struct dma_buf_export_sync_file){ .flags = DMA_BUF_SYNC_READ, .fd = -1 };
	mprotect(ro, PAGE, PROT_READ);
	lowest = dup(0);
	close(lowest);
	if (dmasync_ioctl(buf, DMA_BUF_IOCTL_EXPORT_SYNC_FILE, ro) != -1 || errno != EFAULT)
		code |= 64;
	e2 = dup(0);
	if (e2 != lowest)
		code |= 128;
	close(e2);
	munmap(ro, PAGE);
	/* a reader imported: READ still exports the stub, WRITE the reader */
	imp.fd = create_fence(tl, 1);
	if (imp.fd < 0 || dmasync_ioctl(buf, DMA_BUF_IOCTL_IMPORT_SYNC_FILE, &imp))
		return 2;
	ex = (struct dma_buf_export_sync_file){ .flags = DMA_BUF_SYNC_READ, .fd = -1 };
	if (dmasync_ioctl(buf, DMA_BUF_IOCTL_EXPORT_SYNC_FILE, &ex) || info_one(ex.fd, &f2, NULL) != 1 ||
	    memcmp(&f1, &f2, sizeof(f1)))
		code |= 256;
	dmasync_close(ex.fd);
	ex = (struct dma_buf_export_sync_file){ .flags = DMA_BUF_SYNC_WRITE, .fd = -1 };
	if (dmasync_ioctl(buf, DMA_BUF_IOCTL_EXPORT_SYNC_FILE, &ex) || status(ex.fd) != 0)
		code |= 512;
	dmasync_close(ex.fd);
	/* signaled: WRITE exports that fence (Linux: signaled fences are not
	 * waited for, so the stub again) */
	if (inc(tl, 1))
		code |= 2;
	ex = (struct dma_buf_export_sync_file){ .flags = DMA_BUF_SYNC_WRITE, .fd = -1 };
	if (dmasync_ioctl(buf, DMA_BUF_IOCTL_EXPORT_SYNC_FILE, &ex) || info_one(ex.fd, &f2, NULL) != 1 ||
	    memcmp(&f1, &f2, sizeof(f1)))
		code |= 1024;
	dmasync_close(ex.fd);
	dmasync_close(e1);
	dmasync_close(imp.fd);
	close(buf);
	close(heap);
	dmasync_close(tl);
	return code;
}

TEST(export_of_an_idle_buffer_from_the_page)
{
	CHECK_EQ(on_own_broker(export_stub_case), 0);
}

/*
 * The stub takes its timestamp when it is first used (Linux: the first
 * dma_fence_get_stub()), here the first EXPORT of an idle buffer: making
 * and describing sync files before (the broker describes every new fd,
 * and asks each whether it is the stub) is not a use.  Before: the stub
 * was made, and stamped, by the first CREATE_FENCE's description.
 */
static int stub_time_case(void)
{
	struct dma_heap_allocation_data a = { .len = PAGE, .fd_flags = O_RDWR | O_CLOEXEC };
	struct dma_buf_export_sync_file ex = { .flags = DMA_BUF_SYNC_READ, .fd = -1 };
	int heap = dmasync_open("/dev/dma_heap/system", O_RDONLY | O_CLOEXEC), tl = open_tl();
	int done = create_fence(tl, 0), pending = create_fence(tl, 1), code = 0;
	struct sync_fence_info fi;
	struct timespec t;
	int64_t before;

	if (heap < 0 || done < 0 || pending < 0 || dmasync_ioctl(heap, DMA_HEAP_IOCTL_ALLOC, &a))
		return 2;
	if (status(done) != 1 || status(pending) != 0)
		code |= 4;
	sleep_ms(30);
	clock_gettime(CLOCK_MONOTONIC, &t);
	before = (int64_t)t.tv_sec * 1000000000ll + t.tv_nsec;
	if (dmasync_ioctl((int)a.fd, DMA_BUF_IOCTL_EXPORT_SYNC_FILE, &ex))
		return code | 2;
	if (info_one(ex.fd, &fi, NULL) != 1 || strcmp(fi.driver_name, "stub"))
		code |= 8;
	if ((int64_t)fi.timestamp_ns < before)
		code |= 16;	/* stamped before its first use */
	CLOSE_ALL(ex.fd, (int)a.fd, done, pending, heap);
	dmasync_close(tl);
	return code;
}

TEST(stub_time_is_its_first_use)
{
	CHECK_EQ(on_own_broker(stub_time_case), 0);
}

/*
 * The kept stub under threads and forks: four threads export an idle
 * buffer and close the copies while another thread forks children that do
 * the same (the fork handlers take the stub's lock) and imports a pending
 * fence now and then, so that exports switch between the kept copy and
 * the broker.  Every export is a sync file of the right status; nothing
 * leaks (the harness's fd census), nothing hangs.
 */
struct stub_worker {
	int buf, tl, rounds, bad;
};

static void *stub_exporter(void *arg)
{
	struct stub_worker *w = arg;

	for (int i = 0; i < w->rounds; i++) {
		struct dma_buf_export_sync_file ex = { .flags = DMA_BUF_SYNC_READ, .fd = -1 };
		int st;

		if (dmasync_ioctl(w->buf, DMA_BUF_IOCTL_EXPORT_SYNC_FILE, &ex)) {
			__atomic_add_fetch(&w->bad, 1, __ATOMIC_RELAXED);
			continue;
		}
		st = status(ex.fd);
		if (st != 0 && st != 1)
			__atomic_add_fetch(&w->bad, 1, __ATOMIC_RELAXED);
		dmasync_close(ex.fd);
	}
	return NULL;
}

static int stub_stress_case(void)
{
	struct dma_heap_allocation_data a = { .len = PAGE, .fd_flags = O_RDWR | O_CLOEXEC };
	int heap = dmasync_open("/dev/dma_heap/system", O_RDONLY | O_CLOEXEC);
	struct stub_worker w = { .tl = open_tl(), .rounds = (int)STRESS(400) };
	pthread_t t[4];
	int code = 0, forks = 0;

	if (heap < 0 || w.tl < 0 || dmasync_ioctl(heap, DMA_HEAP_IOCTL_ALLOC, &a))
		return 2;
	w.buf = (int)a.fd;
	for (int i = 0; i < 4; i++)
		if (pthread_create(&t[i], NULL, stub_exporter, &w))
			return 2;
	for (u32 v = 1; v <= 8; v++) {
		struct dma_buf_import_sync_file imp = { .flags = DMA_BUF_SYNC_WRITE };
		pid_t kid;

		fflush(stdout);
		kid = fork();
		if (kid == 0) {
			struct stub_worker cw = w;

			cw.rounds = 20;
			cw.bad = 0;
			stub_exporter(&cw);
			if (cw.bad)
				_exit(1);
			/* Not exit(): to TSan, the parent's threads would be
			 * this child's, never joined ("thread leak"). */
			execl("/bin/true", "true", (char *)NULL);
			_exit(3);
		}
		if (kid < 0 || wait_status(kid) != 0)
			code |= 4;
		forks++;
		/* a writer for a moment: exports go to the broker again */
		imp.fd = create_fence(w.tl, v);
		if (imp.fd < 0 || dmasync_ioctl(w.buf, DMA_BUF_IOCTL_IMPORT_SYNC_FILE, &imp))
			code |= 8;
		usleep(2000);
		/* signaled; a poll finds it idle, and the page says so again */
		if (inc(w.tl, 1) || revents(w.buf, POLLIN | POLLOUT, 5000) != (POLLIN | POLLOUT))
			code |= 8;
		dmasync_close(imp.fd);
	}
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	if (w.bad)
		code |= 16;
	dmasync_close(w.buf);
	close(heap);
	dmasync_close(w.tl);
	return forks == 8 ? code : code | 32;
}

TEST(export_stub_threads_and_forks)
{
	CHECK_EQ(on_own_broker(stub_stress_case), 0);
}

/* ---- FILE_INFO from the signal record ------------------------------------------------------ */

static int merge_fds(int a, int b, const char *name)
{
	struct sync_merge_data m = { .fd2 = b };

	snprintf(m.name, sizeof(m.name), "%s", name);
	return dmasync_ioctl(a, SYNC_IOC_MERGE, &m) ? -1 : (int)m.fence;
}

static uint64_t requests_now(void)
{
	struct ipc_stats st;

	return client_stats(&st) ? 0 : st.requests;
}

/*
 * FILE_INFO of a signaled sync file is answered from the record the broker
 * left on its socket, with no request (the broker's count of requests
 * says), and says what the broker would: name, status (also an error), the
 * fences; a pending one, or entries left out of the record, still ask.
 */
static void file_info_cases(void)
{
	enum { N = 40 };
	int tl = open_tl(), tl2 = open_tl(), tl2b = open_tl(), a = create_fence(tl, 1);
	int p = create_fence(tl, 2);
	int e = create_fence(tl2, 5), many[N], tls[N], m, big;
	struct sync_fence_info fi[N];
	struct sync_file_info info;
	uint64_t r0, r1, base;

	REQUIRE(a >= 0 && p >= 0 && e >= 0);
	m = merge_fds(a, e, "pair");
	REQUIRE(m >= 0);
	REQUIRE(inc(tl, 1) == 0);
	dmasync_close(tl2);	/* e signals -ENOENT */
	/* what two stats requests in a row cost */
	r0 = requests_now();
	r1 = requests_now();
	base = r1 - r0;

	r0 = requests_now();
	memset(&info, 0, sizeof(info));
	CHECK_EQ(dmasync_ioctl(a, SYNC_IOC_FILE_INFO, &info), 0);
	CHECK_EQ(info.status, 1);
	CHECK_EQ(info.num_fences, 1);
	CHECK(strncmp(info.name, "sw_sync-", 8) == 0);
	memset(&info, 0, sizeof(info));
	info.num_fences = 2;
	info.sync_fence_info = (uintptr_t)fi;
	memset(fi, 0, sizeof(fi));
	CHECK_EQ(dmasync_ioctl(a, SYNC_IOC_FILE_INFO, &info), 0);
	CHECK_EQ(info.num_fences, 1);
	CHECK_STR(fi[0].driver_name, "sw_sync");
	CHECK_EQ(fi[0].status, 1);
	CHECK(fi[0].timestamp_ns > 0);
	/* an error, in the merge too */
	memset(&info, 0, sizeof(info));
	CHECK_EQ(dmasync_ioctl(e, SYNC_IOC_FILE_INFO, &info), 0);
	CHECK_EQ(info.status, -ENOENT);
	memset(&info, 0, sizeof(info));
	info.num_fences = 2;
	info.sync_fence_info = (uintptr_t)fi;
	CHECK_EQ(dmasync_ioctl(m, SYNC_IOC_FILE_INFO, &info), 0);
	CHECK_STR(info.name, "pair");
	CHECK_EQ(info.num_fences, 2);
	CHECK(info.status == -ENOENT);
	CHECK(fi[0].status == -ENOENT || fi[1].status == -ENOENT);
	/* the kernel's errors, from the record too */
	memset(&info, 0, sizeof(info));
	info.num_fences = 1;
	info.sync_fence_info = (uintptr_t)fi;
	CHECK_EQ(dmasync_ioctl(m, SYNC_IOC_FILE_INFO, &info), -1);
	CHECK_EQ(errno, EINVAL);
	memset(&info, 0, sizeof(info));
	info.flags = 1;
	CHECK_EQ(dmasync_ioctl(a, SYNC_IOC_FILE_INFO, &info), -1);
	CHECK_EQ(errno, EINVAL);
	CHECK_EQ(dmasync_ioctl(a, SYNC_IOC_FILE_INFO, NULL), -1);
	CHECK_EQ(errno, EFAULT);
	r1 = requests_now();
	CHECK_EQ(r1 - r0, base);

	/* pending, one point of a timeline with a slot in the timeline page:
	 * the page answers, as the broker would (compared once signaled) */
	r0 = requests_now();
	memset(&info, 0, sizeof(info));
	CHECK_EQ(dmasync_ioctl(p, SYNC_IOC_FILE_INFO, &info), 0);
	CHECK_EQ(info.status, 0);
	memset(&info, 0, sizeof(info));
	memset(fi, 0x5a, sizeof(fi));
	info.num_fences = 2;
	info.sync_fence_info = (uintptr_t)fi;
	CHECK_EQ(dmasync_ioctl(p, SYNC_IOC_FILE_INFO, &info), 0);
	CHECK_EQ(info.status, 0);
	CHECK_EQ(info.num_fences, 1);
	CHECK_STR(fi[0].driver_name, "sw_sync");
	CHECK_EQ(fi[0].status, 0);
	CHECK_EQ(fi[0].flags, 0);
	CHECK_EQ(fi[0].timestamp_ns, 0);
	CHECK_EQ((unsigned char)fi[1].obj_name[0], 0x5a);	/* one entry written */
	CHECK_EQ(requests_now() - r0, base);
	{
		struct sync_fence_info pend = fi[0], done;
		char pname[32];
		int p2 = create_fence(tl2b, 3), pm;

		memcpy(pname, info.name, sizeof(pname));
		CHECK_EQ(strncmp(pname, "sw_sync-", 8), 0);
		struct sync_fence_info mfi[2], bfi[2];

		/* a pending merge of two timelines: the page answers too, the
		 * count, the entries and the kernel's EINVAL */
		pm = merge_fds(p, p2, "two");
		REQUIRE(pm >= 0);
		r0 = requests_now();
		memset(&info, 0, sizeof(info));
		CHECK_EQ(dmasync_ioctl(pm, SYNC_IOC_FILE_INFO, &info), 0);
		CHECK_EQ(info.status, 0);
		CHECK_EQ(info.num_fences, 2);
		CHECK_STR(info.name, "two");
		memset(&info, 0, sizeof(info));
		info.num_fences = 1;
		info.sync_fence_info = (uintptr_t)mfi;
		CHECK_EQ(dmasync_ioctl(pm, SYNC_IOC_FILE_INFO, &info), -1);
		CHECK_EQ(errno, EINVAL);
		memset(&info, 0, sizeof(info));
		memset(mfi, 0x5a, sizeof(mfi));
		info.num_fences = 2;
		info.sync_fence_info = (uintptr_t)mfi;
		CHECK_EQ(dmasync_ioctl(pm, SYNC_IOC_FILE_INFO, &info), 0);
		CHECK_EQ(info.status, 0);
		CHECK_EQ(info.num_fences, 2);
		for (int i = 0; i < 2; i++) {
			CHECK_STR(mfi[i].driver_name, "sw_sync");
			CHECK_EQ(mfi[i].status, 0);
			CHECK_EQ(mfi[i].flags, 0);
			CHECK_EQ(mfi[i].timestamp_ns, 0);
		}
		CHECK_EQ(requests_now() - r0, base);
		/* one point signaled: the count still from the page; the
		 * entries too once the broker has applied the INC (it does
		 * before it serves any request, requests_now() here), with the
		 * time it signaled the point at, in the same order */
		REQUIRE(inc(tl, 1) == 0);
		r0 = requests_now();
		memset(&info, 0, sizeof(info));
		CHECK_EQ(dmasync_ioctl(pm, SYNC_IOC_FILE_INFO, &info), 0);
		CHECK_EQ(info.status, 0);
		CHECK_EQ(info.num_fences, 2);
		CHECK_EQ(requests_now() - r0, base);
		r0 = requests_now();
		memset(&info, 0, sizeof(info));
		info.num_fences = 2;
		info.sync_fence_info = (uintptr_t)bfi;
		CHECK_EQ(dmasync_ioctl(pm, SYNC_IOC_FILE_INFO, &info), 0);
		CHECK_EQ(info.status, 0);
		CHECK_EQ(requests_now() - r0, base);
		for (int i = 0; i < 2; i++) {
			CHECK_STR(bfi[i].obj_name, mfi[i].obj_name);
			CHECK_STR(bfi[i].driver_name, "sw_sync");
			CHECK_EQ(bfi[i].timestamp_ns != 0, bfi[i].status == 1);
		}
		CHECK((bfi[0].status == 1) != (bfi[1].status == 1));
		/* the page keeps the last few steps only: later ones push it
		 * out, and the broker answers, with the same time */
		for (int i = 0; i < 6; i++) {
			REQUIRE(inc(tl, 1) == 0);
			requests_now();	/* applied, one step each */
		}
		{
			struct sync_fence_info again[2];

			r0 = requests_now();
			memset(&info, 0, sizeof(info));
			info.num_fences = 2;
			info.sync_fence_info = (uintptr_t)again;
			CHECK_EQ(dmasync_ioctl(pm, SYNC_IOC_FILE_INFO, &info), 0);
			CHECK_EQ(requests_now() - r0, base + 1);
			for (int i = 0; i < 2; i++) {
				CHECK_EQ(again[i].status, bfi[i].status);
				CHECK_EQ(again[i].timestamp_ns, bfi[i].timestamp_ns);
			}
		}
		/* signaled: the record, with the same names */
		memset(&info, 0, sizeof(info));
		info.num_fences = 1;
		info.sync_fence_info = (uintptr_t)&done;
		CHECK_EQ(dmasync_ioctl(p, SYNC_IOC_FILE_INFO, &info), 0);
		CHECK_EQ(info.status, 1);
		CHECK_STR(info.name, pname);
		CHECK_STR(done.obj_name, pend.obj_name);
		CHECK_STR(done.driver_name, pend.driver_name);
		CHECK(done.timestamp_ns > 0);
		/* the page said what the broker says */
		CHECK_EQ(done.timestamp_ns, bfi[bfi[0].status == 1 ? 0 : 1].timestamp_ns);
		close(pm);
		close(p2);
	}

	/* more fences than a record holds: the count from it, the entries asked */
	for (int i = 0; i < N; i++) {
		tls[i] = open_tl();
		many[i] = create_fence(tls[i], 1);
		REQUIRE(many[i] >= 0);
	}
	big = many[0];
	for (int i = 1; i < N; i++) {
		int next = merge_fds(big, many[i], "big");

		REQUIRE(next >= 0);
		if (big != many[0])
			close(big);
		big = next;
	}
	for (int i = 0; i < N; i++)
		inc(tls[i], 1);
	r0 = requests_now();
	memset(&info, 0, sizeof(info));
	CHECK_EQ(dmasync_ioctl(big, SYNC_IOC_FILE_INFO, &info), 0);
	CHECK_EQ(info.num_fences, N);
	CHECK_EQ(info.status, 1);
	CHECK_EQ(requests_now() - r0, base);
	r0 = requests_now();
	memset(&info, 0, sizeof(info));
	info.num_fences = N;
	info.sync_fence_info = (uintptr_t)fi;
	CHECK_EQ(dmasync_ioctl(big, SYNC_IOC_FILE_INFO, &info), 0);
	CHECK_EQ(info.num_fences, N);
	CHECK_EQ(fi[N - 1].status, 1);
	CHECK_EQ(requests_now() - r0, base + 1);

	for (int i = 0; i < N; i++) {
		close(many[i]);
		dmasync_close(tls[i]);
	}
	close(big);
	close(m);
	close(e);
	close(p);
	close(a);
	dmasync_close(tl2b);
	dmasync_close(tl);
}

/*
 * FILE_INFO of a pending point is answered from the timeline page, with no
 * look at the sync file (one system call linked: the fstat that identifies
 * it).  A dead broker's page is frozen: once it is gone, the same call at
 * once (no poll first) reports its error, not "pending".  A merge too.
 */
static int pending_when_broker_dies_case(void)
{
	struct sync_merge_data md = { .name = "m" };
	struct sync_fence_info fi;
	struct pollfd p;
	struct ipc_stats st;
	int tl = open_tl(), f, g, h, m, code = 0;

	f = create_fence(tl, 5);
	g = create_fence(tl, 6);
	h = create_fence(tl, 1);
	md.fd2 = g;
	if (f < 0 || g < 0 || h < 0 || inc(tl, 1) || dmasync_ioctl(f, SYNC_IOC_MERGE, &md) ||
	    client_stats(&st))
		return 2;
	m = md.fence;
	for (int i = 0; i < 3; i++)
		if (info_one(f, &fi, NULL) != 0 || fi.status != 0 || status(m) != 0)
			code |= 4;
	if (kill((pid_t)st.pid, SIGKILL))
		return 3;
	/* its end of our sync file closes after its futexes are marked */
	p = (struct pollfd){ .fd = f, .events = POLLIN };
	if (poll(&p, 1, 5000) != 1)
		return 4;
	if (info_one(f, &fi, NULL) != -ENOLINK || fi.status != -ENOLINK) {
		fprintf(stderr, "# FILE_INFO after the broker: status %d\n", fi.status);
		code |= 8;
	}
	if (status(m) >= 0)
		code |= 16;
	/* One that had signaled, which the page (frozen now) shows reached,
	 * polls as every sync file of a dead broker: hung up too. */
	p = (struct pollfd){ .fd = h, .events = POLLIN };
	if (dmasync_poll(&p, 1, 0) != 1 || !(p.revents & POLLIN) || !(p.revents & POLLHUP)) {
		fprintf(stderr, "# signaled before the broker died: %#x\n", (unsigned int)p.revents);
		code |= 32;
	}
	close(f);
	close(g);
	close(h);
	close(m);
	close(tl);
	return code;
}

TEST(file_info_of_a_pending_point_when_the_broker_dies)
{
	CHECK_EQ(on_own_broker(pending_when_broker_dies_case), 0);
}

/* The state letter of process @pid in /proc ('R', 'S', 'T', 'Z'...), or 0
 * if it is gone. */
static char proc_state(pid_t pid)
{
	char path[64], buf[256], *paren;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	buf[n > 0 ? n : 0] = '\0';
	paren = strrchr(buf, ')');
	return n > 0 && paren && paren[1] == ' ' ? paren[2] : 0;
}

/* Whether process @pid (not our child) shows as stopped ('T' in /proc) or
 * is gone, within @ms: kill() returns before SIGSTOP takes effect. */
static bool stopped_within(pid_t pid, int ms)
{
	for (int i = 0; i < ms; i++) {
		char st = proc_state(pid);

		if (!st || st == 'T')
			return true;
		sleep_ms(1);
	}
	return false;
}

/*
 * Only the INC that finds no INC before it unapplied nudges the broker;
 * the others leave their mark in the page and return.  Three INCs made
 * while the broker stands still are applied in one go once it runs, and
 * the sync file shows it to libc's poll() (the broker's sync files show a
 * signal by the record alone: POLLIN, never the POLLRDHUP of a shutdown).
 * An INC made after the broker died while a nudge was still on its way
 * (so with none of its own to send) still answers ENOLINK, as every
 * request does then.
 */
static int inc_behind_a_pending_nudge_case(void)
{
	int tl = open_tl(), f = create_fence(tl, 3), g = create_fence(tl, 100), code = 0;
	struct ipc_stats st;
	struct pollfd p;

	if (tl < 0 || f < 0 || g < 0 || client_stats(&st) || kill((pid_t)st.pid, SIGSTOP) ||
	    !stopped_within((pid_t)st.pid, 5000))
		return 2;
	for (int i = 0; i < 3; i++)
		if (inc(tl, 1))
			code |= 4;
	kill((pid_t)st.pid, SIGCONT);
	p = (struct pollfd){ .fd = f, .events = POLLIN };
	if (poll(&p, 1, 5000) != 1 || p.revents != POLLIN || status(f) != 1)
		code |= 8;
	/* Shown by the record alone, not by shutting the socket: no POLLRDHUP
	 * for libc's poll() (Linux's sync file shows POLLIN only). */
	p = (struct pollfd){ .fd = f, .events = POLLIN | POLLRDHUP };
	if (poll(&p, 1, 0) != 1 || (p.revents & POLLRDHUP)) {
		fprintf(stderr, "# signaled sync file, libc poll: %#x\n", (unsigned int)p.revents);
		code |= 128;
	}
	/* pending again, then the broker dies with the nudge unread */
	if (kill((pid_t)st.pid, SIGSTOP) || !stopped_within((pid_t)st.pid, 5000) || inc(tl, 1) ||
	    kill((pid_t)st.pid, SIGKILL))
		return code | 16;
	/* Its fds close one by one as it exits, g's end maybe before the
	 * connection's (by its last thread, after the leader shows 'Z'): an
	 * INC made meanwhile may still queue its nudge, as one made just
	 * before the kill would; then every INC answers ENOLINK. */
	p = (struct pollfd){ .fd = g, .events = POLLIN };
	if (poll(&p, 1, 5000) != 1 || !(p.revents & POLLHUP))
		return code | 32;
	for (int i = 0;; i++) {
		int r = inc(tl, 1);

		if (r == -1 && errno == ENOLINK)
			break;
		if (r != 0 || i == 5000) {
			fprintf(stderr, "# INC behind a nudge, the broker dead: %d (%s)\n", r,
				r ? strerror(errno) : "no error, 5 s on");
			code |= 64;
			break;
		}
		sleep_ms(1);
	}
	close(f);
	close(g);
	dmasync_close(tl);
	return code;
}

TEST(inc_behind_a_pending_nudge)
{
	CHECK_EQ(on_own_broker(inc_behind_a_pending_nudge_case), 0);
}

/* Whether process @pid (not our child) is gone, or down to its leader,
 * a zombie, within @ms: every thread has exited, so its fds are closed. */
static bool threads_gone_within(pid_t pid, int ms)
{
	for (int i = 0; i < ms; i++) {
		char path[64], st;
		struct dirent *e;
		int tasks = 0;
		DIR *d;

		snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
		d = opendir(path);
		if (!d)
			return true;
		while ((e = readdir(d)))
			tasks += e->d_name[0] != '.';
		closedir(d);
		st = proc_state(pid);
		if (!st || (tasks <= 1 && (st == 'Z' || st == 'X')))
			return true;
		sleep_ms(1);
	}
	return false;
}

/*
 * The broker watches the timelines' doorbells: an INC that rings one (for
 * a poller, or the one its process holds) wakes the broker without an
 * IPC_NUDGE of its own, and the sync file's own readiness (libc's poll(),
 * woken by the broker's record) follows.  An INC with no doorbell to ring
 * nudges.  (Without the watch, the ring would reach the broker's loop
 * only by its next periodic wake-up, and never count as its wake-up.)
 * Once the broker is dead, a ring still succeeds (the doorbell is the
 * process's too): the INC answers ENOLINK by the page's life word.
 */
static int inc_rings_the_broker_case(void)
{
	int tl = open_tl(), f = create_fence(tl, 1), g = create_fence(tl, 2),
	    h = create_fence(tl, 100), code = 0;
	struct ipc_stats s0, s1, s2;
	struct pollfd p = { .fd = f, .events = POLLIN };

	if (tl < 0 || f < 0 || g < 0 || h < 0 || client_stats(&s0))
		return 2;
	if (inc(tl, 1) || poll(&p, 1, 5000) != 1 || p.revents != POLLIN || client_stats(&s1))
		return 4;
	if (s1.nudges != s0.nudges + 1 || s1.rings != s0.rings) {
		fprintf(stderr, "# INC, no doorbell: %llu nudges, %llu rings\n",
			(unsigned long long)(s1.nudges - s0.nudges),
			(unsigned long long)(s1.rings - s0.rings));
		code |= 8;
	}
	/* A poll through dmasync that finds g pending takes the doorbell. */
	p = (struct pollfd){ .fd = g, .events = POLLIN };
	if (dmasync_poll(&p, 1, 0) != 0)
		code |= 16;
	p = (struct pollfd){ .fd = g, .events = POLLIN };
	if (inc(tl, 1) || poll(&p, 1, 5000) != 1 || p.revents != POLLIN || client_stats(&s2))
		return code | 32;
	/* The ring was queued before the record came, so before STATS. */
	if (s2.nudges != s1.nudges || s2.rings == s1.rings) {
		fprintf(stderr, "# INC, doorbell held: %llu nudges, %llu rings\n",
			(unsigned long long)(s2.nudges - s1.nudges),
			(unsigned long long)(s2.rings - s1.rings));
		code |= 64;
	}
	/* A ring still succeeds once the broker is dead (the doorbell is ours
	 * too): the INC reads the page's life word and answers ENOLINK. */
	if (kill((pid_t)s2.pid, SIGKILL))
		return code | 128;
	p = (struct pollfd){ .fd = h, .events = POLLIN };	/* pending: its hang-up */
	if (poll(&p, 1, 5000) != 1 || !(p.revents & POLLHUP)) {
		fprintf(stderr, "# the broker killed, its sync file: %#x\n", (unsigned int)p.revents);
		return code | 128;
	}
	/* Every thread of it gone (its leader a zombie alone, or reaped): its
	 * fds, the connection's end among them, are closed.  The first INC
	 * since (nothing left unapplied: it rings the doorbell it holds) must
	 * not stop at the ring. */
	if (!threads_gone_within((pid_t)s2.pid, 5000))
		return code | 128;
	if (inc(tl, 1) != -1 || errno != ENOLINK) {
		fprintf(stderr, "# INC with the doorbell, the broker dead: %s\n", strerror(errno));
		code |= 128;
	}
	close(f);
	close(g);
	close(h);
	dmasync_close(tl);
	return code;
}

TEST(inc_rings_the_broker)
{
	CHECK_EQ(on_own_broker(inc_rings_the_broker_case), 0);
}

/* In a child with a broker of its own: the requests counted are its own. */
TEST(file_info_from_the_signal_record)
{
	char path[128];
	pid_t pid = fork_own_broker(path, sizeof(path));

	REQUIRE(pid >= 0);
	if (pid == 0) {
		file_info_cases();
		fflush(stdout);
		_exit(dmasync_test_failed() ? 1 : 0);
	}
	CHECK_EQ(wait_status(pid), 0);
}

/*
 * A linked program identifies its fds by fstat() and what it was told of
 * them: with 3500 live sync files, polling each of them (a pending point,
 * decided by the timeline page) asks the broker again for hardly any
 * (with a direct-mapped table of 4096 entries, 2 to 1886 of the 3500 in six
 * runs, as their inode numbers fell; 1 of 3500 now).
 */
static int known_objects_case(void)
{
	enum { N = 3500 };
	struct rlimit rl;
	int tl = open_tl(), *f = calloc(N, sizeof(int)), asked;
	uint64_t r0, r1, base;

	if (!f || getrlimit(RLIMIT_NOFILE, &rl))
		return 1;
	if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < N + 256)
		return 0;	/* too few fds here: nothing to check */
	if (!nofile_at_least(N + 256))
		return 2;
	for (int i = 0; i < N; i++)
		if ((f[i] = create_fence(tl, (u32)i + 1)) < 0)
			return 3;
	r0 = requests_now();
	r1 = requests_now();
	base = r1 - r0;
	r0 = requests_now();
	for (int i = 0; i < N; i++)
		if (revents(f[i], POLLIN, 0) != 0)
			return 4;
	r1 = requests_now();
	asked = (int)(r1 - r0 - base);
	printf("# %d of %d polls asked the broker\n", asked, N);
	fflush(stdout);
	for (int i = 0; i < N; i++)
		close(f[i]);
	dmasync_close(tl);
	free(f);
	return asked <= N / 20 ? 0 : 5;
}

TEST(known_objects_thousands_live)
{
	CHECK_EQ(on_own_broker(known_objects_case), 0);
}

/* ---- proxies of in-process fences --------------------------------------------------------- */

static DEFINE_SPINLOCK(own_fence_lock);

static const char *own_driver(struct dma_fence *f)
{
	(void)f;
	return "own-driver";
}

static const char *own_timeline(struct dma_fence *f)
{
	(void)f;
	return "own-timeline";
}

static const struct dma_fence_ops own_fence_ops = {
	.get_driver_name = own_driver,
	.get_timeline_name = own_timeline,
};

/* One fd over a Unix socket (SCM_RIGHTS).  Return: 1, or -1. */
static int send_fds(int sock, const int *fd, int n)
{
	char c = 'f', cbuf[CMSG_SPACE(sizeof(int))];
	struct iovec iov = { .iov_base = &c, .iov_len = 1 };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf,
			     .msg_controllen = sizeof(cbuf) };
	struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);

	if (n != 1)
		return -1;
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), fd, sizeof(int));
	return sendmsg(sock, &mh, 0) == 1 ? 1 : -1;
}

static int recv_fds(int sock, int *fd, int n)
{
	char c, cbuf[CMSG_SPACE(sizeof(int))];
	struct iovec iov = { .iov_base = &c, .iov_len = 1 };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf,
			     .msg_controllen = sizeof(cbuf) };
	struct cmsghdr *cm;

	if (n != 1 || recvmsg(sock, &mh, MSG_CMSG_CLOEXEC) != 1)
		return -1;
	cm = CMSG_FIRSTHDR(&mh);
	if (!cm || cm->cmsg_type != SCM_RIGHTS)
		return -1;
	memcpy(fd, CMSG_DATA(cm), sizeof(int));
	return 1;
}

static void send_fd_helper(int sock, int fd)
{
	if (send_fds(sock, &fd, 1) != 1)
		_exit(4);
}

/* A fence of this process's own (the in-process kernel API). */
static struct dma_fence *own_fence(u64 context, u64 seqno)
{
	struct dma_fence *f = calloc(1, sizeof(*f));

	if (f)
		dma_fence_init(f, &own_fence_ops, &own_fence_lock, context, seqno);
	return f;
}

/* FILE_INFO with its one entry: the status; the entry in *@fi. */
static int info_one(int fd, struct sync_fence_info *fi, char name[32])
{
	struct sync_file_info info;

	memset(&info, 0, sizeof(info));
	memset(fi, 0, sizeof(*fi));
	info.num_fences = 1;
	info.sync_fence_info = (uintptr_t)fi;
	if (dmasync_ioctl(fd, SYNC_IOC_FILE_INFO, &info) || info.num_fences != 1)
		return -1000;
	if (name)
		memcpy(name, info.name, 32);
	return info.status;
}

/*
 * A sync file made in this process of its own fence (sync_file_create_fd())
 * works in another process as any other: poll, FILE_INFO with the fence's
 * names, status and timestamp, MERGE, IMPORT into a buffer; one made
 * signaled arrives signaled; and one whose maker dies unsignaled signals
 * -EPIPE in its holders.
 */
static void proxy_cases(void)
{
	u64 ctx = dma_fence_context_alloc(1);
	struct dma_fence *f = own_fence(ctx, 5), *g = own_fence(ctx, 6), *done = own_fence(ctx, 4);
	int up[2], down[2], sv[2], fd, gfd, dfd, before;
	struct sync_fence_info fi;
	char name[32], cname[32];
	ktime_t ts[2];
	pid_t pid;

	REQUIRE(f && g && done);
	REQUIRE(pipe2(up, O_CLOEXEC) == 0 && pipe2(down, O_CLOEXEC) == 0);
	REQUIRE(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) == 0);
	dma_fence_signal(done);
	/* the number Linux would give: the lowest free one */
	before = dup(0);
	REQUIRE(before >= 0);
	close(before);
	fd = sync_file_create_fd(f);
	CHECK_EQ(fd, before);
	gfd = sync_file_create_fd(g);
	dfd = sync_file_create_fd(done);
	REQUIRE(fd >= 0 && gfd >= 0 && dfd >= 0);
	CHECK(is_cloexec(fd));
	/* our own fence back, as the kernel's sync_file_get_fence() gives it */
	{
		struct dma_fence *back = sync_file_get_fence(fd);

		CHECK(back == f);
		dma_fence_put(back);
	}
	/* here already: the broker's, with the fence's names */
	CHECK_EQ(info_one(fd, &fi, name), 0);
	CHECK_STR(fi.driver_name, "own-driver");
	CHECK_STR(fi.obj_name, "own-timeline");
	CHECK(strncmp(name, "own-driver-own-timeline", 23) == 0);
	CHECK_EQ(info_one(dfd, &fi, NULL), 1);
	CHECK_EQ(fi.timestamp_ns, (u64)dma_fence_timestamp(done));

	fflush(stdout);
	pid = fork();
	REQUIRE(pid >= 0);
	if (pid == 0) {
		int code = 0, tl = open_tl(), p = create_fence(tl, 1), m, buf;
		struct sync_merge_data md = { .name = "mixed" };
		struct dma_heap_allocation_data a = { .len = PAGE, .fd_flags = O_RDWR | O_CLOEXEC };
		struct dma_buf_import_sync_file im = { .flags = DMA_BUF_SYNC_WRITE };
		int heap = dmasync_open("/dev/dma_heap/system", O_RDWR | O_CLOEXEC);

		if (heap < 0 || dmasync_ioctl(heap, DMA_HEAP_IOCTL_ALLOC, &a))
			_exit(99);
		buf = (int)a.fd;
		im.fd = gfd;
		md.fd2 = fd;
		if (dmasync_ioctl(p, SYNC_IOC_MERGE, &md) || dmasync_ioctl(buf, DMA_BUF_IOCTL_IMPORT_SYNC_FILE, &im))
			code |= 1;
		m = md.fence;
		if (revents(fd, POLLIN, 0) != 0 || info_one(fd, &fi, cname) != 0 ||
		    strcmp(cname, name) || strcmp(fi.driver_name, "own-driver") ||
		    revents(buf, POLLIN, 0) != 0)
			code |= 2;
		if (write(up[1], "r", 1) != 1 || read(down[0], ts, sizeof(ts)) != sizeof(ts))
			_exit(98);
		if (revents(fd, POLLIN, 5000) != POLLIN || info_one(fd, &fi, NULL) != -EIO ||
		    fi.timestamp_ns != (u64)ts[0])
			code |= 4;
		if (revents(buf, POLLIN, 5000) != POLLIN || info_one(gfd, &fi, NULL) != 1 ||
		    fi.timestamp_ns != (u64)ts[1])
			code |= 8;
		/* the merge waits for the sw_sync point too, then reports the error */
		if (revents(m, POLLIN, 0) != 0 || inc(tl, 1) || revents(m, POLLIN, 5000) != POLLIN ||
		    status(m) != -EIO)
			code |= 16;
		_exit(code);
	}
	{
		char c;

		REQUIRE(read(up[0], &c, 1) == 1);
	}
	dma_fence_set_error(f, -EIO);
	dma_fence_signal(f);
	dma_fence_signal(g);
	ts[0] = dma_fence_timestamp(f);
	ts[1] = dma_fence_timestamp(g);
	REQUIRE(write(down[1], ts, sizeof(ts)) == sizeof(ts));
	CHECK_EQ(wait_status(pid), 0);
	CHECK_EQ(info_one(fd, &fi, NULL), -EIO);

	/* A maker that dies with its fence pending: its holders see -EPIPE. */
	fflush(stdout);
	pid = fork();
	REQUIRE(pid >= 0);
	if (pid == 0) {
		struct dma_fence *h = own_fence(dma_fence_context_alloc(1), 1);
		int hfd = h ? sync_file_create_fd(h) : -1;

		if (hfd < 0 || send_fds(sv[1], &hfd, 1) != 1)
			_exit(1);
		_exit(0);
	}
	CHECK_EQ(wait_status(pid), 0);
	{
		int hfd = -1;

		REQUIRE(recv_fds(sv[0], &hfd, 1) == 1);
		CHECK_EQ(revents(hfd, POLLIN, 5000), POLLIN);
		CHECK_EQ(info_one(hfd, &fi, NULL), -EPIPE);
		CHECK_STR(fi.obj_name, "own-timeline");
		close(hfd);
	}
	close(fd);
	close(gfd);
	close(dfd);
	close(up[0]);
	close(up[1]);
	close(down[0]);
	close(down[1]);
	close(sv[0]);
	close(sv[1]);
	dma_fence_put(f);
	dma_fence_put(g);
	dma_fence_put(done);
}

struct proxy_worker {
	u64 context;
	int n;
	int *fds;		/* out: one sync file per fence */
	struct dma_fence **fences;
};

/* Make @w->n fences of one context and their sync files (proxies). */
static void *proxy_maker(void *arg)
{
	struct proxy_worker *w = arg;

	for (int i = 0; i < w->n; i++) {
		w->fences[i] = own_fence(w->context, (u64)i + 1);
		w->fds[i] = w->fences[i] ? sync_file_create_fd(w->fences[i]) : -1;
	}
	return NULL;
}

/* Signal them, newest first, while other threads still make theirs. */
static void *proxy_signaler(void *arg)
{
	struct proxy_worker *w = arg;

	for (int i = w->n - 1; i >= 0; i--)
		if (w->fences[i])
			dma_fence_signal(w->fences[i]);
	return NULL;
}

struct proxy_race {
	struct proxy_worker w;
	int made;		/* fences published by the maker */
};

/* Signal each fence as soon as it exists: races its sync file's making. */
static void *proxy_chaser(void *arg)
{
	struct proxy_race *r = arg;

	for (int i = 0; i < r->w.n; i++) {
		while (__atomic_load_n(&r->made, __ATOMIC_ACQUIRE) <= i)
			sched_yield();
		dma_fence_signal(r->w.fences[i]);
	}
	return NULL;
}

static void *proxy_racer(void *arg)
{
	struct proxy_race *r = arg;

	for (int i = 0; i < r->w.n; i++) {
		r->w.fences[i] = own_fence(r->w.context, (u64)i + 1);
		if (!r->w.fences[i])
			abort();
		__atomic_store_n(&r->made, i + 1, __ATOMIC_RELEASE);
		r->w.fds[i] = sync_file_create_fd(r->w.fences[i]);
	}
	return NULL;
}

/*
 * Threads make proxies and signal their fences concurrently, while another
 * process waits on every one of them: each arrives signaled there, none
 * is lost; and fences signaled while their sync files are being made
 * (before, during or after PROXY_CREATE) arrive signaled too.  TSan and
 * ASan run this as well.
 */
static void proxy_stress_cases(void)
{
	enum { T = 4 };
	int n = (int)STRESS(60), sv[2];
	struct proxy_worker w[T];
	pthread_t th[T];
	pid_t pid;

	REQUIRE(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) == 0);
	for (int t = 0; t < T; t++) {
		w[t].context = dma_fence_context_alloc(1);
		w[t].n = n;
		w[t].fds = calloc((size_t)n, sizeof(int));
		w[t].fences = calloc((size_t)n, sizeof(*w[t].fences));
		REQUIRE(w[t].fds && w[t].fences);
	}
	for (int t = 0; t < T; t++)
		pthread_create(&th[t], NULL, proxy_maker, &w[t]);
	for (int t = 0; t < T; t++)
		pthread_join(th[t], NULL);
	fflush(stdout);
	pid = fork();
	REQUIRE(pid >= 0);
	if (pid == 0) {
		int code = 0;

		close(sv[0]);
		for (int t = 0; t < T; t++)
			for (int i = 0; i < n; i++)
				if (revents(w[t].fds[i], POLLIN, 10000) != POLLIN || status(w[t].fds[i]) != 1)
					code |= 1;
		if (write(sv[1], "d", 1) != 1)
			code |= 2;
		_exit(code);
	}
	close(sv[1]);
	for (int t = 0; t < T; t++)
		pthread_create(&th[t], NULL, proxy_signaler, &w[t]);
	for (int t = 0; t < T; t++)
		pthread_join(th[t], NULL);
	CHECK_EQ(wait_status(pid), 0);
	for (int t = 0; t < T; t++) {
		for (int i = 0; i < n; i++) {
			CHECK(w[t].fds[i] >= 0);
			close(w[t].fds[i]);
			dma_fence_put(w[t].fences[i]);
		}
		free(w[t].fds);
		free(w[t].fences);
	}
	close(sv[0]);

	/* each fence signaled as soon as it exists, by another thread */
	{
		struct proxy_race r = { .w = { .context = dma_fence_context_alloc(1), .n = n } };
		pthread_t a, b;

		r.w.fds = calloc((size_t)n, sizeof(int));
		r.w.fences = calloc((size_t)n, sizeof(*r.w.fences));
		REQUIRE(r.w.fds && r.w.fences);
		pthread_create(&a, NULL, proxy_racer, &r);
		pthread_create(&b, NULL, proxy_chaser, &r);
		pthread_join(a, NULL);
		pthread_join(b, NULL);
		for (int i = 0; i < n; i++) {
			REQUIRE(r.w.fds[i] >= 0);
			CHECK_EQ(revents(r.w.fds[i], POLLIN, 10000), POLLIN);
			CHECK_EQ(status(r.w.fds[i]), 1);
			close(r.w.fds[i]);
			dma_fence_put(r.w.fences[i]);
		}
		free(r.w.fds);
		free(r.w.fences);
	}
}

/* @cases in a child: the threads the library starts once this process
 * frees fences of its own (RCU's) stay out of later tests' forks, which
 * TSan cannot follow with threads. */
static int in_child(void (*cases)(void))
{
	pid_t pid;

	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		cases();
		fflush(stdout);
		_exit(dmasync_test_failed() ? 1 : 0);
	}
	return pid < 0 ? -1 : wait_status(pid);
}

TEST(proxy_of_an_in_process_fence)
{
	CHECK_EQ(in_child(proxy_cases), 0);
}

TEST(proxy_stress_threads)
{
	CHECK_EQ(in_child(proxy_stress_cases), 0);
}

/*
 * Objects of a broker that died, reaching a process that never saw them
 * before (over SCM_RIGHTS, after the death): a pending sync file reports an
 * error status, one that had signaled what it was, and requests on any of
 * them answer ENOLINK, not the ENOTTY of a socket nobody knows.
 */
TEST(dead_broker_objects_never_seen)
{
	char path[128];
	int sp[2], pidpipe[2];
	pid_t holder, maker;
	struct ipc_stats st;

	fresh_socket(path, sizeof(path));
	REQUIRE(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) == 0);
	REQUIRE(pipe2(pidpipe, O_CLOEXEC) == 0);
	fflush(stdout);
	holder = fork();
	REQUIRE(holder >= 0);
	if (holder == 0) {
		struct dma_buf_export_sync_file exp = { .flags = DMA_BUF_SYNC_RW, .fd = -1 };
		struct sync_fence_info fi;
		struct sync_merge_data md;
		struct pollfd p;
		int tl, f, s, buf, ub, code = 0;

		setenv("DMASYNC_SOCKET", path, 1);
		if (recv_fds(sp[1], &tl, 1) != 1 || recv_fds(sp[1], &f, 1) != 1 ||
		    recv_fds(sp[1], &s, 1) != 1 || recv_fds(sp[1], &buf, 1) != 1 ||
		    recv_fds(sp[1], &ub, 1) != 1)
			_exit(2);
		/* the broker's death, seen with libc alone (each end closes
		 * in its turn as the broker exits) */
		for (int i = 0; i < 4; i++) {
			p = (struct pollfd){ .fd = i == 0 ? f : i == 1 ? s : i == 2 ? tl : ub };
			if (poll(&p, 1, 10000) != 1 || !(p.revents & POLLHUP))
				_exit(3);
		}
		if (info_one(f, &fi, NULL) != -ENOLINK || fi.status != -ENOLINK) {
			fprintf(stderr, "# pending: status %d/%d (%s)\n", info_one(f, &fi, NULL),
				fi.status, strerror(errno));
			code |= 4;
		}
		if (info_one(s, &fi, NULL) != 1 || fi.status != 1) {
			fprintf(stderr, "# signaled: status %d (%s)\n", info_one(s, &fi, NULL),
				strerror(errno));
			code |= 8;
		}
		if (inc(tl, 1) != -1 || errno != ENOLINK)
			code |= 16;
		if (create_fence(tl, 9) >= 0 || errno != ENOLINK)
			code |= 32;
		memset(&md, 0, sizeof(md));
		md.fd2 = s;
		if (dmasync_ioctl(f, SYNC_IOC_MERGE, &md) != -1 || errno != ENOLINK)
			code |= 64;
		/* a buffer (a memfd: no socket to mark; its name says) */
		if (dmasync_ioctl(buf, DMA_BUF_IOCTL_EXPORT_SYNC_FILE, &exp) != -1 || errno != ENOLINK) {
			fprintf(stderr, "# dead broker's buffer: %s\n", strerror(errno));
			code |= 128;
		}
		/* a udmabuf (a socket, marked as a dma-buf) */
		if (dmasync_ioctl(ub, DMA_BUF_IOCTL_EXPORT_SYNC_FILE, &exp) != -1 || errno != ENOLINK) {
			fprintf(stderr, "# dead broker's udmabuf: %s\n", strerror(errno));
			code |= 1;	/* (exit statuses keep 8 bits) */
		}
		_exit(code);
	}
	maker = fork();
	REQUIRE(maker >= 0);
	if (maker == 0) {
		struct dma_heap_allocation_data a = { .len = PAGE, .fd_flags = O_RDWR | O_CLOEXEC };
		struct udmabuf_create uc = { .flags = UDMABUF_FLAGS_CLOEXEC, .size = PAGE };
		int tl, f, s, heap, udev, ub;

		setenv("DMASYNC_SOCKET", path, 1);
		tl = open_tl();
		f = create_fence(tl, 5);
		s = create_fence(tl, 1);
		heap = dmasync_open("/dev/dma_heap/system", O_RDWR | O_CLOEXEC);
		udev = dmasync_open("/dev/udmabuf", O_RDWR | O_CLOEXEC);
		uc.memfd = (__u32)memfd_create("dead-broker-test", MFD_ALLOW_SEALING);
		if (tl < 0 || f < 0 || s < 0 || inc(tl, 1) || status(s) != 1 || client_stats(&st) ||
		    heap < 0 || dmasync_ioctl(heap, DMA_HEAP_IOCTL_ALLOC, &a) || udev < 0 ||
		    (int)uc.memfd < 0 || ftruncate((int)uc.memfd, PAGE) ||
		    fcntl((int)uc.memfd, F_ADD_SEALS, F_SEAL_SHRINK) ||
		    (ub = dmasync_ioctl(udev, UDMABUF_CREATE, &uc)) < 0)
			_exit(2);
		send_fd_helper(sp[0], tl);
		send_fd_helper(sp[0], f);
		send_fd_helper(sp[0], s);
		send_fd_helper(sp[0], (int)a.fd);
		send_fd_helper(sp[0], ub);
		_exit(write(pidpipe[1], &st.pid, sizeof(st.pid)) == sizeof(st.pid) ? 0 : 3);
	}
	close(pidpipe[1]);
	if (wait_status(maker) != 0 || read(pidpipe[0], &st.pid, sizeof(st.pid)) != sizeof(st.pid)) {
		CHECK(!"the maker failed");
		kill(holder, SIGKILL);
		wait_status(holder);
	} else {
		CHECK_EQ(kill((pid_t)st.pid, SIGKILL), 0);
		CHECK_EQ(wait_status(holder), 0);
	}
	close(sp[0]);
	close(sp[1]);
	close(pidpipe[0]);
}

/*
 * The other way round: a sync file of the broker (made by another process)
 * given to sync_file_get_fence() becomes a fence of this process, as a
 * kernel sync_file does: pending while its point is, signaled at once
 * after an INC here (the page), woken in a blocked wait by an INC in
 * another process, with the error of a point whose timeline went away;
 * and one imported into a buffer of this process's own (dma_buf_export())
 * holds the buffer's readiness until it signals.
 */
static void own_buffer_release(struct dma_buf *db)
{
}

static const struct dma_buf_ops own_buffer_ops = { .release = own_buffer_release };

/* A page-sized buffer of this process's, exported with @ops. */
static struct dma_buf *own_buffer_with(const struct dma_buf_ops *ops)
{
	static int priv;
	DEFINE_DMA_BUF_EXPORT_INFO(info);
	struct dma_buf *db;

	info.ops = ops;
	info.size = 4096;
	info.flags = O_RDWR;
	info.priv = &priv;
	db = dma_buf_export(&info);
	return IS_ERR(db) ? NULL : db;
}

static struct dma_buf *own_buffer(void)
{
	return own_buffer_with(&own_buffer_ops);
}

static int remote_fence_case(void)
{
	int tl = open_tl(), code = 0, f, g, h, buf;
	struct dma_fence *ff, *gf, *hf;
	struct dma_buf *db;
	pid_t kid;

	f = create_fence(tl, 1);
	g = create_fence(tl, 2);
	h = create_fence(tl, 10);
	if (tl < 0 || f < 0 || g < 0 || h < 0)
		return 2;
	ff = sync_file_get_fence(f);
	gf = sync_file_get_fence(g);
	hf = sync_file_get_fence(h);
	if (!ff || !gf || !hf)
		return 3;
	if (dma_fence_is_signaled(ff) || dma_fence_wait_timeout(ff, false, 0) != 0)
		code |= 4;
	/* named after the point it stands for */
	{
		struct sync_fence_info fi;

		if (info_one(f, &fi, NULL) != 0 || strcmp(dma_fence_driver_name(ff), "sw_sync") ||
		    strcmp(dma_fence_timeline_name(ff), fi.obj_name)) {
			fprintf(stderr, "# names %s/%s, FILE_INFO %s/%s\n", dma_fence_driver_name(ff),
				dma_fence_timeline_name(ff), fi.driver_name, fi.obj_name);
			code |= 1;	/* (exit statuses keep 8 bits) */
		}
	}
	/* a buffer of our own waits for g (a writer) */
	db = own_buffer();
	if (!db)
		return 2;
	buf = dma_buf_fd(db, O_CLOEXEC);
	{
		struct dma_buf_import_sync_file imp = { .flags = DMA_BUF_SYNC_WRITE, .fd = g };

		if (buf < 0 || dmasync_ioctl(buf, DMA_BUF_IOCTL_IMPORT_SYNC_FILE, &imp))
			return 5;
		if (dma_resv_test_signaled(db->resv, DMA_RESV_USAGE_WRITE) || revents(buf, POLLIN, 0))
			code |= 8;
	}
	/* INC here: signaled at once */
	if (inc(tl, 1) || !dma_fence_is_signaled(ff) || dma_fence_get_status(ff) != 1)
		code |= 16;
	/* INC in another process wakes a blocked wait, and the buffer */
	fflush(stdout);
	kid = fork();
	if (kid == 0) {
		usleep(50000);
		_exit(inc(tl, 1) ? 1 : 0);
	}
	if (dma_fence_wait_timeout(gf, false, 5000000000ll) <= 0 || dma_fence_get_status(gf) != 1)
		code |= 32;
	if (wait_status(kid) != 0)
		code |= 2;
	if (revents(buf, POLLIN, 5000) != POLLIN ||
	    !dma_resv_test_signaled(db->resv, DMA_RESV_USAGE_WRITE))
		code |= 64;
	/* the timeline's last fd closes: its pending point's error */
	dmasync_close(tl);
	if (dma_fence_wait_timeout(hf, false, 5000000000ll) <= 0 ||
	    dma_fence_get_status(hf) != -ENOENT) {
		fprintf(stderr, "# after the timeline: status %d\n", dma_fence_get_status(hf));
		code |= 128;
	}
	dma_fence_put(ff);
	dma_fence_put(gf);
	dma_fence_put(hf);
	dmasync_close(buf);
	close(f);
	close(g);
	close(h);
	return code;
}

TEST(broker_sync_file_as_a_fence)
{
	CHECK_EQ(on_own_broker(remote_fence_case), 0);
}

/*
 * A buffer made with the in-process API (dma_buf_export() + dma_buf_fd())
 * and sent to another process is one buffer for both, as on Linux: the
 * other process sees the maker's fences (EXPORT, poll, each usage), and
 * the maker's own reservation object, read by its driver code, sees what
 * the other process imports (unlocked readers, lock holders, its UAPI).
 */
static int step(int sock, char want)
{
	char c;

	return read(sock, &c, 1) == 1 && c == want ? 0 : -1;
}

static int adopted_holder(int sock)
{
	struct dma_buf_export_sync_file exp = { .flags = DMA_BUF_SYNC_READ, .fd = -1 };
	struct dma_buf_import_sync_file imp = { .flags = DMA_BUF_SYNC_WRITE };
	int buf, tl, s, code = 0;

	if (recv_fds(sock, &buf, 1) != 1)
		return 2;
	/* the maker's writer, pending */
	if (dmasync_ioctl(buf, DMA_BUF_IOCTL_EXPORT_SYNC_FILE, &exp) || exp.fd < 0)
		return 3;
	if (status(exp.fd) != 0 || revents(buf, POLLIN, 0) != 0)
		code |= 4;
	/* and its reader */
	if (revents(buf, POLLOUT, 0) != 0)
		code |= 8;
	if (write(sock, "a", 1) != 1 || step(sock, 'b'))
		return 5;
	/* both signaled in the maker */
	if (revents(exp.fd, POLLIN, 5000) != POLLIN || status(exp.fd) != 1)
		code |= 16;
	if (revents(buf, POLLIN | POLLOUT, 5000) != (POLLIN | POLLOUT))
		code |= 32;
	close(exp.fd);
	/* a writer of ours, for the maker to see */
	tl = open_tl();
	s = create_fence(tl, 1);
	imp.fd = s;
	if (tl < 0 || s < 0 || dmasync_ioctl(buf, DMA_BUF_IOCTL_IMPORT_SYNC_FILE, &imp))
		return 6;
	if (write(sock, "c", 1) != 1 || step(sock, 'd'))
		return 7;
	usleep(50000);	/* the maker waits in poll() by now */
	if (inc(tl, 1))
		code |= 64;
	if (write(sock, "e", 1) != 1 || step(sock, 'f'))
		return 8;
	close(s);
	dmasync_close(tl);
	dmasync_close(buf);
	return code;
}

/* Whether a fork child (which asks the broker) sees the buffer @buf named @name. */
static bool named_elsewhere(int buf, const char *name)
{
	pid_t kid;

	fflush(stdout);
	kid = fork();
	if (kid == 0) {
		struct ipc_fdinfo fi;

		_exit(!client_fdinfo(buf, &fi) && fi.has_name && !strcmp(fi.name, name) ? 0 : 1);
	}
	return kid > 0 && wait_status(kid) == 0;
}

static int adopted_case(void)
{
	u64 ctx = dma_fence_context_alloc(1);
	struct dma_fence *w, *r;
	struct dma_buf *db;
	int sp[2], buf, code = 0;
	pid_t kid;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp))
		return 2;
	fflush(stdout);
	kid = fork();
	if (kid < 0)
		return 2;
	if (kid == 0) {
		close(sp[0]);
		_exit(adopted_holder(sp[1]));
	}
	close(sp[1]);
	db = own_buffer();
	w = own_fence(ctx, 1);
	r = own_fence(ctx + 1, 1);
	if (!db || !w || !r)
		return 3;
	dma_resv_lock(db->resv, NULL);
	if (dma_resv_reserve_fences(db->resv, 2))
		return 3;
	dma_resv_add_fence(db->resv, w, DMA_RESV_USAGE_WRITE);
	dma_resv_add_fence(db->resv, r, DMA_RESV_USAGE_READ);
	dma_resv_unlock(db->resv);
	buf = dma_buf_fd(db, O_CLOEXEC);
	if (buf < 0 || send_fds(sp[0], &buf, 1) != 1)
		return 4;
	if (step(sp[0], 'a'))
		return 5;
	dma_fence_signal(w);
	dma_fence_signal(r);
	if (write(sp[0], "b", 1) != 1 || step(sp[0], 'c'))
		return 6;
	/* the holder's writer, seen by an unlocked reader, a lock holder and
	 * the UAPI here */
	if (dma_resv_test_signaled(db->resv, DMA_RESV_USAGE_WRITE))
		code |= 8;
	{
		struct dma_fence *single = NULL;

		dma_resv_lock(db->resv, NULL);
		if (dma_resv_get_singleton(db->resv, DMA_RESV_USAGE_WRITE, &single) || !single ||
		    dma_fence_is_signaled(single))
			code |= 16;
		dma_resv_unlock(db->resv);
		dma_fence_put(single);
	}
	if (revents(buf, POLLIN, 0) != 0 || revents(buf, POLLOUT, 0) != 0)
		code |= 32;
	if (write(sp[0], "d", 1) != 1)
		return 7;
	/* its INC there wakes a poll and a wait here */
	if (revents(buf, POLLIN, 5000) != POLLIN)
		code |= 128;
	if (dma_resv_wait_timeout(db->resv, DMA_RESV_USAGE_WRITE, false, 5000000000ul) <= 0 ||
	    !dma_resv_test_signaled(db->resv, DMA_RESV_USAGE_BOOKKEEP))
		code |= 64;
	if (step(sp[0], 'e'))
		return 8;
	if (write(sp[0], "f", 1) != 1)
		return 9;
	if (wait_status(kid) != 0)
		code |= 256;
	/* named here, by the ioctl and by the kernel API: the broker's copy
	 * (what other processes and the tools see) has the name too */
	if (dmasync_ioctl(buf, DMA_BUF_SET_NAME_B, "by-ioctl") || !named_elsewhere(buf, "by-ioctl"))
		code |= 4096;
	if (dma_buf_set_name(db, "by-api") || !named_elsewhere(buf, "by-api"))
		code |= 8192;
	/* a fork child, with the fd it inherited: a reader */
	{
		int cp[2];

		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, cp))
			return 10;
		fflush(stdout);
		kid = fork();
		if (kid == 0) {
			struct dma_buf_import_sync_file imp = { .flags = DMA_BUF_SYNC_READ };
			int tl = open_tl();

			imp.fd = create_fence(tl, 1);
			if (imp.fd < 0 || dmasync_ioctl(buf, DMA_BUF_IOCTL_IMPORT_SYNC_FILE, &imp))
				_exit(1);
			if (write(cp[1], "g", 1) != 1 || step(cp[1], 'h') || inc(tl, 1))
				_exit(2);
			_exit(0);
		}
		if (kid < 0 || step(cp[0], 'g'))
			return 11;
		if (!dma_resv_test_signaled(db->resv, DMA_RESV_USAGE_WRITE) ||
		    dma_resv_test_signaled(db->resv, DMA_RESV_USAGE_READ))
			code |= 512;
		if (write(cp[0], "h", 1) != 1)
			return 12;
		if (dma_resv_wait_timeout(db->resv, DMA_RESV_USAGE_READ, false, 5000000000ul) <= 0)
			code |= 1024;
		if (wait_status(kid) != 0)
			code |= 2048;
		close(cp[0]);
		close(cp[1]);
	}
	dma_fence_put(w);
	dma_fence_put(r);
	dmasync_close(buf);	/* the buffer's reference was the fd's */
	close(sp[0]);
	return code;
}

TEST(adopted_buffer_shared_with_another_process)
{
	CHECK_EQ(on_own_broker(adopted_case), 0);
}

/*
 * The maker dies with a fence of its own pending in a buffer another
 * process holds: that fence signals -EPIPE there (nobody is left to
 * signal it), and the buffer goes on working for its holder.
 */
static int adopted_maker_killed_case(void)
{
	struct dma_buf_export_sync_file exp = { .flags = DMA_BUF_SYNC_READ, .fd = -1 };
	struct dma_buf_import_sync_file imp = { .flags = DMA_BUF_SYNC_WRITE };
	int sp[2], buf, tl, code = 0;
	pid_t maker;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp))
		return 2;
	fflush(stdout);
	maker = fork();
	if (maker < 0)
		return 2;
	if (maker == 0) {
		struct dma_buf *db = own_buffer();
		struct dma_fence *w = own_fence(dma_fence_context_alloc(1), 1);
		int fd;

		if (!db || !w)
			_exit(2);
		dma_resv_lock(db->resv, NULL);
		if (dma_resv_reserve_fences(db->resv, 1))
			_exit(3);
		dma_resv_add_fence(db->resv, w, DMA_RESV_USAGE_WRITE);
		dma_resv_unlock(db->resv);
		fd = dma_buf_fd(db, O_CLOEXEC);
		if (fd < 0 || send_fds(sp[1], &fd, 1) != 1)
			_exit(4);
		pause();
		_exit(5);
	}
	close(sp[1]);
	if (recv_fds(sp[0], &buf, 1) != 1)
		return 3;
	if (dmasync_ioctl(buf, DMA_BUF_IOCTL_EXPORT_SYNC_FILE, &exp) || exp.fd < 0)
		return 4;
	if (status(exp.fd) != 0 || revents(buf, POLLIN, 0) != 0)
		code |= 8;
	kill(maker, SIGKILL);
	if (wait_status(maker) != 128 + SIGKILL)
		code |= 16;
	if (revents(exp.fd, POLLIN, 5000) != POLLIN || status(exp.fd) != -EPIPE) {
		fprintf(stderr, "# the dead maker's fence: status %d\n", status(exp.fd));
		code |= 32;
	}
	if (revents(buf, POLLIN | POLLOUT, 5000) != (POLLIN | POLLOUT))
		code |= 64;
	tl = open_tl();
	imp.fd = create_fence(tl, 1);
	if (imp.fd < 0 || dmasync_ioctl(buf, DMA_BUF_IOCTL_IMPORT_SYNC_FILE, &imp) ||
	    revents(buf, POLLOUT, 0) != 0 || inc(tl, 1) || revents(buf, POLLOUT, 5000) != POLLOUT)
		code |= 128;
	close(imp.fd);
	close(exp.fd);
	dmasync_close(tl);
	dmasync_close(buf);
	close(sp[0]);
	return code;
}

TEST(adopted_buffer_maker_killed)
{
	CHECK_EQ(on_own_broker(adopted_maker_killed_case), 0);
}

/*
 * The exporter's CPU-access ops are the maker's code, and another
 * process's DMA_BUF_IOCTL_SYNC runs them there, as Linux runs a driver's
 * for any process: START calls begin_cpu_access (here it writes into the
 * pages, as a driver making the CPU's view current would) before waiting
 * for the fences, and its error fails the call without waiting; END calls
 * end_cpu_access; bad flags call nothing.  A maker killed while its op
 * runs fails the call with EPIPE, as its fences do.
 */
static struct {
	int begins, ends, last_dir;	/* atomics: the ops' own record */
	int begin_result;		/* what begin answers */
	int block;			/* begin waits while set */
	int pending_at_begin;		/* the maker's writer was pending at begin */
	struct dma_fence *writer;
	char *map;
} cpu;

static int cpu_begin(struct dma_buf *db, enum dma_data_direction dir)
{
	int n = __atomic_add_fetch(&cpu.begins, 1, __ATOMIC_SEQ_CST);
	struct dma_fence *w = __atomic_load_n(&cpu.writer, __ATOMIC_ACQUIRE);

	(void)db;
	__atomic_store_n(&cpu.last_dir, (int)dir, __ATOMIC_SEQ_CST);
	if (w && !dma_fence_is_signaled(w))
		__atomic_store_n(&cpu.pending_at_begin, 1, __ATOMIC_SEQ_CST);
	while (__atomic_load_n(&cpu.block, __ATOMIC_ACQUIRE))
		usleep(1000);
	snprintf(__atomic_load_n(&cpu.map, __ATOMIC_ACQUIRE), 64, "begin %d dir %d", n, (int)dir);
	return __atomic_load_n(&cpu.begin_result, __ATOMIC_ACQUIRE);
}

static int cpu_end(struct dma_buf *db, enum dma_data_direction dir)
{
	(void)db;
	__atomic_add_fetch(&cpu.ends, 1, __ATOMIC_SEQ_CST);
	__atomic_store_n(&cpu.last_dir, (int)dir, __ATOMIC_SEQ_CST);
	return 0;
}

static const struct dma_buf_ops cpu_ops = {
	.begin_cpu_access = cpu_begin, .end_cpu_access = cpu_end, .release = own_buffer_release,
};

static int cpu_seen(int *what)
{
	return __atomic_load_n(what, __ATOMIC_ACQUIRE);
}

/* Whether begin ran @n times, within 5 s. */
static bool begins_reach(int n)
{
	for (int i = 0; i < 5000; i++) {
		if (__atomic_load_n(&cpu.begins, __ATOMIC_ACQUIRE) >= n)
			return true;
		usleep(1000);
	}
	return false;
}

static int buf_sync(int buf, __u64 flags)
{
	struct dma_buf_sync sync = { .flags = flags };

	return dmasync_ioctl(buf, DMA_BUF_IOCTL_SYNC, &sync) ? -errno : 0;
}

static int cpu_holder(int sock)
{
	char *map;
	int buf, code = 0;

	alarm(20);	/* a wait that never ends fails the case */
	if (recv_fds(sock, &buf, 1) != 1)
		return 2;
	map = dmasync_mmap(NULL, 4096, PROT_READ, MAP_SHARED, buf, 0);
	if (map == MAP_FAILED)
		return 3;
	/* START runs begin there first: its writes are seen here after it */
	if (buf_sync(buf, DMA_BUF_SYNC_START | DMA_BUF_SYNC_READ) ||
	    strcmp(map, "begin 1 dir 2"))
		code |= 4;
	if (buf_sync(buf, DMA_BUF_SYNC_END | DMA_BUF_SYNC_READ))
		code |= 8;
	/* bad flags: EINVAL, no op called (the maker checks its counts) */
	if (buf_sync(buf, DMA_BUF_SYNC_START) != -EINVAL ||
	    buf_sync(buf, DMA_BUF_SYNC_RW | 0x100) != -EINVAL)
		code |= 16;
	if (write(sock, "a", 1) != 1 || step(sock, 'b'))
		return 5;
	/* begin fails: its error, without waiting for the maker's pending writer */
	if (buf_sync(buf, DMA_BUF_SYNC_START | DMA_BUF_SYNC_WRITE) != -EBUSY)
		code |= 32;
	if (write(sock, "c", 1) != 1 || step(sock, 'd'))
		return 6;
	/* begin succeeds: then the wait, until the maker signals its writer */
	if (buf_sync(buf, DMA_BUF_SYNC_START | DMA_BUF_SYNC_RW) || strcmp(map, "begin 3 dir 0"))
		code |= 64;
	if (write(sock, "e", 1) != 1 || step(sock, 'f'))
		return 7;
	/* the maker dies while its begin runs */
	if (buf_sync(buf, DMA_BUF_SYNC_START | DMA_BUF_SYNC_READ) != -EPIPE)
		code |= 128;
	/* and the buffer goes on, without ops */
	if (buf_sync(buf, DMA_BUF_SYNC_START | DMA_BUF_SYNC_READ) ||
	    buf_sync(buf, DMA_BUF_SYNC_END | DMA_BUF_SYNC_READ))
		code |= 256;
	munmap(map, 4096);
	dmasync_close(buf);
	return code;
}

static int cpu_access_case(void)
{
	int sp[2], buf, code = 0, maker_code;
	pid_t holder, maker;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp))
		return 2;
	fflush(stdout);
	holder = fork();
	if (holder == 0) {
		close(sp[0]);
		_exit(exit_code(cpu_holder(sp[1])));
	}
	/* The maker in a process of its own, so that it can be killed. */
	maker = fork();
	if (maker == 0) {
		struct dma_buf *db;
		struct dma_fence *writer;
		int mcode = 0;
		char *map;

		close(sp[1]);
		alarm(20);
		db = own_buffer_with(&cpu_ops);
		if (!db)
			_exit(2);
		buf = dma_buf_fd(db, O_CLOEXEC);
		map = dmasync_mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, buf, 0);
		/* (the ops run on another thread, once the holder has the fd) */
		__atomic_store_n(&cpu.map, map, __ATOMIC_RELEASE);
		if (buf < 0 || map == MAP_FAILED || send_fds(sp[0], &buf, 1) != 1)
			_exit(3);
		if (step(sp[0], 'a'))
			_exit(4);
		if (cpu_seen(&cpu.begins) != 1 || cpu_seen(&cpu.ends) != 1 ||
		    cpu_seen(&cpu.last_dir) != DMA_FROM_DEVICE)
			mcode |= 1;
		/* a writer pending, and begin failing */
		writer = own_fence(dma_fence_context_alloc(1), 1);
		__atomic_store_n(&cpu.writer, writer, __ATOMIC_RELEASE);
		dma_resv_lock(db->resv, NULL);
		if (dma_resv_reserve_fences(db->resv, 1))
			_exit(5);
		dma_resv_add_fence(db->resv, writer, DMA_RESV_USAGE_WRITE);
		dma_resv_unlock(db->resv);
		__atomic_store_n(&cpu.begin_result, -EBUSY, __ATOMIC_RELEASE);
		if (write(sp[0], "b", 1) != 1 || step(sp[0], 'c'))
			_exit(6);
		if (cpu_seen(&cpu.begins) != 2 || cpu_seen(&cpu.last_dir) != DMA_TO_DEVICE)
			mcode |= 2;
		__atomic_store_n(&cpu.begin_result, 0, __ATOMIC_RELEASE);
		__atomic_store_n(&cpu.pending_at_begin, 0, __ATOMIC_RELEASE);
		if (write(sp[0], "d", 1) != 1)
			_exit(7);
		/* the holder's START: begin first, with the writer still pending */
		if (!begins_reach(3) || (usleep(20000), !cpu_seen(&cpu.pending_at_begin)))
			mcode |= 4;
		dma_fence_signal(writer);
		if (step(sp[0], 'e'))
			_exit(8);
		/* the next begin blocks, and we are killed there */
		__atomic_store_n(&cpu.block, 1, __ATOMIC_RELEASE);
		if (write(sp[0], "f", 1) != 1)
			_exit(9);
		if (!begins_reach(4))
			mcode |= 8;
		_exit(mcode ? 16 + mcode : 1);	/* 1: "killed in begin", below */
	}
	close(sp[0]);
	close(sp[1]);
	if (holder < 0 || maker < 0)
		return 3;
	/* The maker's exit in its op stands for its death there (no answer). */
	maker_code = wait_status(maker);
	if (maker_code != 1) {
		fprintf(stderr, "# maker: %d\n", maker_code);
		code |= 512;
		kill(holder, SIGKILL);
	}
	code |= wait_status(holder) << 10;
	return code;
}

TEST(adopted_buffer_cpu_access_in_the_maker)
{
	CHECK_EQ(on_own_broker(cpu_access_case), 0);
}

/*
 * Stress: three threads of the maker add fences of their own to its
 * buffer and signal them, and wait on it now and then, while two threads
 * of another process import sw_sync points into it (and signal them) and
 * export, poll and SYNC it (whose exporter ops the maker runs).  Nothing
 * hangs; at the end everything is idle on both sides.
 */
struct adopted_stress {
	struct dma_buf *db;
	int buf;
	int n;
	int t;
	int fail;
};

/* Its exporter ops, run for the holder's SYNCs by the maker's channel
 * thread while the maker's threads lock and add (they read the object too). */
static int stress_begins, stress_ends;

static int stress_begin(struct dma_buf *db, enum dma_data_direction dir)
{
	dma_resv_test_signaled(db->resv, DMA_RESV_USAGE_WRITE);
	__atomic_add_fetch(&stress_begins, dir == DMA_FROM_DEVICE, __ATOMIC_SEQ_CST);
	return 0;
}

static int stress_end(struct dma_buf *db, enum dma_data_direction dir)
{
	(void)db;
	__atomic_add_fetch(&stress_ends, dir == DMA_FROM_DEVICE, __ATOMIC_SEQ_CST);
	return 0;
}

static const struct dma_buf_ops stress_ops = {
	.begin_cpu_access = stress_begin, .end_cpu_access = stress_end,
	.release = own_buffer_release,
};

#define STRESS_SYNC_EVERY 4

static void *adopted_stress_maker(void *arg)
{
	struct adopted_stress *st = arg;
	u64 ctx = dma_fence_context_alloc(1);

	for (int i = 0; i < st->n; i++) {
		struct dma_fence *f = own_fence(ctx, (u64)i + 1);

		if (!f) {
			st->fail |= 1;
			break;
		}
		dma_resv_lock(st->db->resv, NULL);
		if (dma_resv_reserve_fences(st->db->resv, 1)) {
			st->fail |= 2;
		} else {
			dma_resv_add_fence(st->db->resv, f,
					   (i + st->t) % 2 ? DMA_RESV_USAGE_WRITE : DMA_RESV_USAGE_READ);
		}
		dma_resv_unlock(st->db->resv);
		if (i % 8 == 3)
			dma_resv_test_signaled(st->db->resv, DMA_RESV_USAGE_READ);
		dma_fence_signal(f);
		dma_fence_put(f);
		if (i % 16 == 7 && dma_resv_wait_timeout(st->db->resv, DMA_RESV_USAGE_READ, false,
							 10000000000ul) <= 0)
			st->fail |= 4;
	}
	return NULL;
}

static void *adopted_stress_holder(void *arg)
{
	struct adopted_stress *st = arg;
	int tl = st->t == 0 ? open_tl() : -1;

	for (int i = 0; i < st->n; i++) {
		if (st->t == 0) {
			struct dma_buf_import_sync_file imp = {
				.flags = i % 2 ? DMA_BUF_SYNC_READ : DMA_BUF_SYNC_WRITE,
				.fd = create_fence(tl, (u32)i + 1),
			};

			if (imp.fd < 0 || dmasync_ioctl(st->buf, DMA_BUF_IOCTL_IMPORT_SYNC_FILE, &imp))
				st->fail |= 8;
			close(imp.fd);
			if (inc(tl, 1))
				st->fail |= 16;
		} else {
			struct dma_buf_export_sync_file exp = { .flags = DMA_BUF_SYNC_RW, .fd = -1 };

			if (dmasync_ioctl(st->buf, DMA_BUF_IOCTL_EXPORT_SYNC_FILE, &exp) || exp.fd < 0) {
				st->fail |= 32;
				continue;
			}
			if (revents(exp.fd, POLLIN, 10000) != POLLIN)
				st->fail |= 64;
			close(exp.fd);
			if (revents(st->buf, i % 2 ? POLLIN : POLLOUT, 10000) <= 0)
				st->fail |= 128;
			/* the maker's ops, in the maker, meanwhile */
			if (i % STRESS_SYNC_EVERY == 0) {
				struct dma_buf_sync sync = { DMA_BUF_SYNC_START | DMA_BUF_SYNC_READ };

				if (dmasync_ioctl(st->buf, DMA_BUF_IOCTL_SYNC, &sync))
					st->fail |= 4096;
				sync.flags = DMA_BUF_SYNC_END | DMA_BUF_SYNC_READ;
				if (dmasync_ioctl(st->buf, DMA_BUF_IOCTL_SYNC, &sync))
					st->fail |= 4096;
			}
		}
	}
	if (tl >= 0)
		dmasync_close(tl);
	return NULL;
}

static int adopted_stress_case(void)
{
	struct adopted_stress st[3];
	int n = (int)STRESS(1000), fail = 0, buf, sp[2];
	pthread_t th[3];
	struct dma_buf *db;
	pid_t kid;

	/* the holder: forked before this process has threads (the library's
	 * too), then given the fd */
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp))
		return 2;
	fflush(stdout);
	kid = fork();
	if (kid < 0)
		return 4;
	if (kid == 0) {
		close(sp[0]);
		if (recv_fds(sp[1], &buf, 1) != 1)
			_exit(2);
		for (int t = 0; t < 2; t++) {
			st[t] = (struct adopted_stress){ .buf = buf, .n = n, .t = t };
			pthread_create(&th[t], NULL, adopted_stress_holder, &st[t]);
		}
		for (int t = 0; t < 2; t++) {
			pthread_join(th[t], NULL);
			fail |= st[t].fail;
		}
		if (revents(buf, POLLIN | POLLOUT, 10000) != (POLLIN | POLLOUT))
			fail |= 256;
		dmasync_close(buf);
		_exit(fail);
	}
	close(sp[1]);
	db = own_buffer_with(&stress_ops);
	if (!db)
		return 2;
	buf = dma_buf_fd(db, O_CLOEXEC);
	if (buf < 0 || send_fds(sp[0], &buf, 1) != 1)
		return 3;
	for (int t = 0; t < 3; t++) {
		st[t] = (struct adopted_stress){ .db = db, .buf = buf, .n = n, .t = t };
		pthread_create(&th[t], NULL, adopted_stress_maker, &st[t]);
	}
	for (int t = 0; t < 3; t++) {
		pthread_join(th[t], NULL);
		fail |= st[t].fail;
	}
	if (wait_status(kid) != 0) {
		fprintf(stderr, "# the holder failed\n");
		fail |= 512;
	}
	/* every SYNC of the holder's ran the ops here, once each */
	{
		int want = (n + STRESS_SYNC_EVERY - 1) / STRESS_SYNC_EVERY;

		if (__atomic_load_n(&stress_begins, __ATOMIC_SEQ_CST) != want ||
		    __atomic_load_n(&stress_ends, __ATOMIC_SEQ_CST) != want) {
			fprintf(stderr, "# ops: %d begins, %d ends for %d SYNCs\n", stress_begins,
				stress_ends, want);
			fail |= 8192;
		}
	}
	if (dma_resv_wait_timeout(db->resv, DMA_RESV_USAGE_BOOKKEEP, false, 10000000000ul) <= 0 ||
	    revents(buf, POLLIN | POLLOUT, 10000) != (POLLIN | POLLOUT))
		fail |= 1024;
	/* every fence went over: a push per lock that added one */
	{
		struct ipc_stats ist;

		if (client_stats(&ist) || ist.requests < 3ull * (unsigned long long)n) {
			fprintf(stderr, "# %llu requests for %d fences\n",
				(unsigned long long)ist.requests, 3 * n);
			fail |= 2048;
		}
	}
	dmasync_close(buf);
	close(sp[0]);
	return fail;
}

TEST(adopted_buffer_stress)
{
	CHECK_EQ(on_own_broker(adopted_stress_case), 0);
}

/* ---- diagnostics ------------------------------------------------------------------------- */

struct inc_worker {
	int tl;
	int incs;
};

static void *inc_worker(void *arg)
{
	struct inc_worker *w = arg;

	for (int i = 0; i < w->incs; i++)
		inc(w->tl, 1);
	return NULL;
}

/* Lines of @path that contain @what. */
static int count_lines(const char *path, const char *what)
{
	char line[1024];
	FILE *f = fopen(path, "re");
	int n = 0;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		n += strstr(line, what) != NULL;
	fclose(f);
	return n;
}

/*
 * Faults and the watchdog a process asks for in its environment, applied
 * by the broker (its own, here, in the sanitizer builds too): every point
 * fails with the errno asked for, late but in order; INCs from several
 * threads race timelines closed with INCs still held; a point left pending
 * is reported once; a process that asked for nothing is untouched.
 */
TEST(faults_and_watchdog)
{
	char path[128], log[160];
	pid_t pid;

	fresh_socket(path, sizeof(path));
	snprintf(log, sizeof(log), "%s.log", path);
	fflush(stdout);
	pid = fork();
	REQUIRE(pid >= 0);
	if (pid == 0) {
		int tl, f[4], code = 0, rounds = (int)STRESS(40);

		setenv("DMASYNC_SOCKET", path, 1);
		setenv("DMASYNC_FAULT", "error=1:ECANCELED,delay=5-20,seed=3", 1);
		setenv("DMASYNC_WATCHDOG", "0.2", 1);
		setenv("DMASYNC_LOG", log, 1);
		tl = open_tl();
		for (int i = 0; i < 4; i++)
			f[i] = create_fence(tl, (u32)i + 1);
		for (int i = 0; i < 4; i++)
			inc(tl, 1);
		if (revents(f[0], POLLIN, 0) != 0)
			code |= 2;	/* delayed: nothing yet */
		for (int i = 0; i < 4; i++)
			if (revents(f[i], POLLIN, 2000) != POLLIN || status(f[i]) != -ECANCELED)
				code |= 4;
		/* the watchdog: a point nobody signals */
		close(f[0]);
		f[0] = create_fence(tl, 100);
		sleep_ms(600);
		if (count_lines(log, "watchdog: fence") != 1 || count_lines(log, "seqno 100 ") != 1)
			code |= 8;
		/* held INCs racing the timeline's last close, from 4 threads */
		for (int r = 0; r < rounds; r++) {
			struct inc_worker w = { .tl = open_tl(), .incs = 8 };
			pthread_t th[4];
			int p = create_fence(w.tl, 16);

			for (int t = 0; t < 4; t++)
				pthread_create(&th[t], NULL, inc_worker, &w);
			for (int t = 0; t < 4; t++)
				pthread_join(th[t], NULL);
			dmasync_close(w.tl);
			/* closed: pending points end with -ENOENT, delivered ones fail */
			if (revents(p, POLLIN, 2000) != POLLIN ||
			    (status(p) != -ENOENT && status(p) != -ECANCELED))
				code |= 16;
			close(p);
		}
		for (int i = 0; i < 4; i++)
			close(f[i]);
		close(tl);
		_exit(code);
	}
	CHECK_EQ(wait_status(pid), 0);
	CHECK(count_lines(log, "signaled with -ECANCELED") >= 4);
	CHECK(count_lines(log, "delayed") >= 4);

	/* A process of the same broker that asked for nothing: untouched. */
	fflush(stdout);
	pid = fork();
	REQUIRE(pid >= 0);
	if (pid == 0) {
		int tl, f, code = 0;

		setenv("DMASYNC_SOCKET", path, 1);
		unsetenv("DMASYNC_FAULT");
		unsetenv("DMASYNC_WATCHDOG");
		tl = open_tl();
		f = create_fence(tl, 1);
		inc(tl, 1);
		if (revents(f, POLLIN, 0) != POLLIN || status(f) != 1)
			code = 2;
		_exit(code);
	}
	CHECK_EQ(wait_status(pid), 0);
	unlink(log);
}

/* The harness counts fds around each case: connect before it starts. */
__attribute__((constructor)) static void connect_first(void)
{
	struct ipc_stats st;

	client_stats(&st);
}
