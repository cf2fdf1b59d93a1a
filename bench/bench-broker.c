/* SPDX-License-Identifier: MIT */
/*
 * Broker-mode costs (docs/design.md, "Costs"): every request a program makes
 * through the dmasync_*() wrappers is one SOCK_SEQPACKET round trip to
 * dmasyncd.  Each figure is printed beside the floors it is bounded by,
 * measured in the same run:
 *
 *   (a)  a round trip of a 64-byte message over a SOCK_SEQPACKET socketpair
 *        to an echo process;
 *   (b1) the same, the request carrying one SCM_RIGHTS fd (a Unix socket,
 *        as a sync file is) to the echo process, which closes it: the floor
 *        of requests that send their target fd and get no fd back;
 *   (b2) the same, the fd also coming back (the echo process returns it,
 *        we close the copy we receive): the floor of requests that return a
 *        new fd (CREATE_FENCE, MERGE, EXPORT, and poll()'s mirror);
 *   (c)  one-way latency of an eventfd ping-pong between two processes
 *        (the floor of a cross-process signal-to-wakeup);
 *   (d)  getppid(), for scale.
 *
 * Then, per request: wall time, its ratio to (a) and to (b1 or b2), the
 * broker requests it makes, the broker's CPU per request (client_stats()),
 * and the system calls the calling thread makes (the bench runs itself
 * under `strace -c`, no -f, once per request and once for a baseline);
 * the cross-process signal-to-wakeup latency over one sw_sync timeline
 * (linked, and as an unmodified program under libdmasync-preload.so:
 * pingpong-plain, beside this program; DMASYNC_PRELOAD names the library,
 * else ../src/preload/libdmasync-preload.so of the build tree);
 * FILE_INFO with 1, 10 and 100 client processes; and FILE_INFO and
 * CREATE_FENCE+close with many live objects in the broker.
 *
 * Floors and per-request figures are the best of 3 repetitions each, and
 * both are taken with the same CPU pinning (see "placement"): [0] everything
 * on one CPU, [1] the client on one CPU and the other end on another.  The broker's
 * threads are pinned for that and given back their affinity afterwards.
 * Sync files are closed with close(); the timelines (only at the end) with
 * dmasync_close(), whose last close makes a round trip (IPC_CLOSED).
 *
 * Usage: bench-broker [--quick] [--objects N]  (~20-30 s, or ~6 s, on 2 CPUs;
 *                                 N live objects in the last step, 100000)
 *        bench-broker --count REQUEST N   (run only REQUEST N times; for strace)
 * Needs broker mode.  DMASYNC_DAEMON and DMASYNC_SOCKET say which broker;
 * unset, it uses the dmasyncd of its own build tree (../src/broker/dmasyncd) and
 * /tmp/bench-broker-$UID.sock, so that `meson test --benchmark` needs no
 * environment.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>
#include <linux/dma-buf.h>
#include <linux/dma-heap.h>
#include <linux/sync_file.h>

#include <dmasync/dma-buf.h>
#include <dmasync/dma-fence.h>
#include <dmasync/dma-resv.h>
#include <dmasync/dmasync-uapi.h>
#include <dmasync/sync_file.h>
#include "client.h"
#include "sw_sync_uapi.h"
#include "bench-common.h"

/* ---- settings ------------------------------------------------------------------------- */

static struct {
	bool quick;
	long n_floor;		/* round trips per floor */
	long n_req;		/* requests per figure */
	long n_count;		/* requests per strace run */
	int pp_rounds;		/* signal-to-wakeup ping-pong rounds */
	double scale_s;		/* seconds per client-count step */
	long many;		/* live objects wanted */
} cfg;

/* Live objects the last step makes (fewer if the fd limit is lower). */
#define MANY_OBJECTS 100000l

static void set_cfg(bool quick, long many)
{
	cfg.quick = quick;
	cfg.n_floor = quick ? 3000 : 12000;
	cfg.n_req = quick ? 1500 : 6000;
	cfg.n_count = quick ? 200 : 500;
	cfg.pp_rounds = quick ? 200 : 400;
	cfg.scale_s = quick ? 0.4 : 1.5;
	cfg.many = many > 0 ? many : MANY_OBJECTS;
}

static void die(const char *what)
{
	perror(what);
	exit(1);
}

static double us(double ns)
{
	return ns / 1000.0;
}

/* ---- placement ---------------------------------------------------------------------- */

/*
 * Where processes run decides these figures: on this kind of VM a wakeup of
 * a process on the other (idle) CPU costs ~10x one on the same CPU, and the
 * scheduler picks either.  So floors and requests are measured with the
 * same pinning: [0] everything on our first CPU, then [1] the client on
 * it and the other end (echo process, broker: all its threads) on our
 * second CPU.
 */
struct placement {
	char name[48];
	int client, server;	/* CPUs */
};
static struct placement places[2];
static int n_places;
static pid_t broker_pid;
static cpu_set_t self_mask0, broker_mask0;

/* Pin every thread of @pid (0: us) to @cpu, or give them @dflt if @cpu < 0. */
static void pin_tasks(pid_t pid, int cpu, const cpu_set_t *dflt)
{
	char path[64];
	cpu_set_t one;
	struct dirent *e;
	DIR *d;

	CPU_ZERO(&one);
	if (cpu >= 0)
		CPU_SET(cpu, &one);
	snprintf(path, sizeof(path), "/proc/%d/task", pid ? (int)pid : (int)getpid());
	d = opendir(path);
	if (!d)
		return;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.') {
			sched_setaffinity((pid_t)atoi(e->d_name), sizeof(cpu_set_t),
					  cpu >= 0 ? &one : dflt);
			if (pid && getenv("BENCH_POLICY")) {
				struct sched_param sp = { 0 };
				sched_setscheduler((pid_t)atoi(e->d_name), atoi(getenv("BENCH_POLICY")), &sp);
			}
		}
	closedir(d);
}

/* The calling process (a fork child: itself) on @cpu; -1: nothing. */
static void pin_me(int cpu)
{
	cpu_set_t one;

	if (cpu < 0)
		return;
	CPU_ZERO(&one);
	CPU_SET(cpu, &one);
	sched_setaffinity(0, sizeof(one), &one);
}

/* @p < 0: everything back as found. */
static void place(int p)
{
	pin_tasks(0, p < 0 ? -1 : places[p].client, &self_mask0);
	if (broker_pid)
		pin_tasks(broker_pid, p < 0 ? -1 : places[p].server, &broker_mask0);
}

/* ---- floors ------------------------------------------------------------------------- */

#define MSG_BYTES 64

/* Send @len bytes with @fd (if >= 0) attached. */
static void send_fd(int sock, const void *buf, size_t len, int fd)
{
	union {
		char b[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} ctl;
	struct iovec iov = { (void *)buf, len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };

	if (fd >= 0) {
		struct cmsghdr *c;

		mh.msg_control = ctl.b;
		mh.msg_controllen = sizeof(ctl.b);
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &fd, sizeof(int));
	}
	if (sendmsg(sock, &mh, MSG_NOSIGNAL) != (ssize_t)len)
		die("sendmsg");
}

/* Receive one message; *@fd: the fd it carried, or -1.  Return: its bytes. */
static ssize_t recv_fd(int sock, void *buf, size_t len, int *fd)
{
	union {
		char b[CMSG_SPACE(sizeof(int) * 4)];
		struct cmsghdr align;
	} ctl;
	struct iovec iov = { buf, len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.b,
			     .msg_controllen = sizeof(ctl.b) };
	ssize_t r = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);

	*fd = -1;
	if (r >= 0) {
		for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c))
			if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS)
				memcpy(fd, CMSG_DATA(c), sizeof(int));
	}
	return r;
}

enum echo_mode { ECHO_PLAIN, ECHO_FD_IN, ECHO_FD_BOTH };

/* Round trips to an echo process; the fds sent are a Unix socket's. */
static double floor_echo(enum echo_mode mode, long n, int cpu)
{
	char buf[MSG_BYTES] = "";
	int sv[2], carried[2];
	ktime_t t = 0;
	pid_t pid;

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) ||
	    socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, carried))
		die("socketpair");
	fflush(stdout);
	pid = fork();
	if (pid < 0)
		die("fork");
	if (!pid) {
		pin_me(cpu);
		close(sv[0]);
		for (;;) {
			int fd;
			ssize_t r = recv_fd(sv[1], buf, sizeof(buf), &fd);

			if (r <= 0)
				_exit(0);
			send_fd(sv[1], buf, (size_t)r, mode == ECHO_FD_BOTH ? fd : -1);
			if (fd >= 0)
				close(fd);
		}
	}
	close(sv[1]);
	for (long i = -n / 10; i < n; i++) {
		int fd;

		if (!i)
			t = ktime_get();
		send_fd(sv[0], buf, sizeof(buf), mode == ECHO_PLAIN ? -1 : carried[0]);
		if (recv_fd(sv[0], buf, sizeof(buf), &fd) != MSG_BYTES)
			die("echo");
		if (fd >= 0)
			close(fd);
	}
	{
		double ns = per_op(t, n);

		close(sv[0]);
		waitpid(pid, NULL, 0);
		close(carried[0]);
		close(carried[1]);
		return ns;
	}
}

/* One-way latency of an eventfd ping-pong between two processes. */
static double floor_eventfd(long n, int cpu)
{
	int e1 = eventfd(0, EFD_CLOEXEC), e2 = eventfd(0, EFD_CLOEXEC);
	uint64_t v = 1;
	ktime_t t = 0;
	pid_t pid;

	if (e1 < 0 || e2 < 0)
		die("eventfd");
	fflush(stdout);
	pid = fork();
	if (pid < 0)
		die("fork");
	if (!pid) {
		pin_me(cpu);
		for (long i = -n / 10; i < n; i++) {
			if (read(e1, &v, sizeof(v)) != sizeof(v) || write(e2, &v, sizeof(v)) != sizeof(v))
				_exit(1);
		}
		_exit(0);
	}
	for (long i = -n / 10; i < n; i++) {
		if (!i)
			t = ktime_get();
		if (write(e1, &v, sizeof(v)) != sizeof(v) || read(e2, &v, sizeof(v)) != sizeof(v))
			die("eventfd ping-pong");
	}
	{
		double ns = per_op(t, 2 * n);

		waitpid(pid, NULL, 0);
		close(e1);
		close(e2);
		return ns;
	}
}

static double floor_getppid(long n)
{
	ktime_t t;

	for (long i = 0; i < n / 10; i++)
		syscall(SYS_getppid);
	t = ktime_get();
	for (long i = 0; i < n; i++)
		syscall(SYS_getppid);
	return per_op(t, n);
}

/* ---- the broker --------------------------------------------------------------------- */

static unsigned long n_stats;	/* client_stats() calls: each is a broker request */

static void stats(struct ipc_stats *st)
{
	int r = client_stats(st);

	if (r) {
		errno = -r;
		die("client_stats");
	}
	n_stats++;
}

/* Wait until the broker holds at most @objects live objects (releases run
 * in its monitor thread after our close()).  Return: false once 10 s went
 * by with no release (a release of 10^5 takes longer than that in all). */
static bool wait_objects(uint64_t objects)
{
	struct ipc_stats st;
	ktime_t t = ktime_get();
	uint64_t last = UINT64_MAX;

	for (;;) {
		stats(&st);
		if (st.objects <= objects)
			return true;
		if (st.objects < last) {
			last = st.objects;
			t = ktime_get();
		}
		if (ktime_get() - t > 10000000000ll)
			return false;
		usleep(200);
	}
}

/* The broker's RLIMIT_NOFILE, from /proc. */
static void broker_nofile(uint64_t pid, char *out, size_t len)
{
	char path[64], line[256];
	FILE *f;

	snprintf(out, len, "?");
	snprintf(path, sizeof(path), "/proc/%llu/limits", (unsigned long long)pid);
	f = fopen(path, "r");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		unsigned long long soft, hard;

		if (!strncmp(line, "Max open files", 14) &&
		    sscanf(line + 14, "%llu %llu", &soft, &hard) == 2) {
			snprintf(out, len, "%llu/%llu", soft, hard);
			break;
		}
	}
	fclose(f);
}

/* ---- the requests ------------------------------------------------------------------- */

static struct {
	int t1, t2, t_inc;	/* timelines: pending points, MERGE's second, INC */
	int a, b, imp, m;	/* pending sync files (m: a merge of a and b) */
	int mp, mq;		/* merges of a and a point signaled since (mp: long since) */
	int t_q;
	int heap, buf, buf2;	/* heap device; idle buffer; buffer IMPORT fills */
	u32 next;		/* next CREATE_FENCE value on t1 (never reached) */
	struct dma_fence *own;	/* a signaled fence of this process (PROXY) */
	struct dma_buf *adopted;	/* a buffer of this process, shared (ADOPT) */
	int adopted_fd;
	u64 adopt_ctx, adopt_seq;
} o;

static const char *bench_fence_name(struct dma_fence *f)
{
	(void)f;
	return "bench";
}

static const struct dma_fence_ops bench_fence_ops = {
	.get_driver_name = bench_fence_name,
	.get_timeline_name = bench_fence_name,
};

static DEFINE_SPINLOCK(bench_fence_lock);

static void bench_buf_release(struct dma_buf *db)
{
	(void)db;
}

static const struct dma_buf_ops bench_buf_ops = { .release = bench_buf_release };

static int open_tl(void)
{
	int fd = dmasync_open(SW_SYNC_DEVICE_PATH, O_RDWR | O_CLOEXEC);

	if (fd < 0)
		die("open sw_sync");
	return fd;
}

/* Return: the new sync file, or -errno. */
static int try_create_fence(int tl, u32 value)
{
	struct sw_sync_create_fence_data d = { .value = value };

	if (dmasync_ioctl(tl, SW_SYNC_IOC_CREATE_FENCE, &d))
		return -errno;
	return d.fence;
}

static int create_fence(int tl, u32 value)
{
	int fd = try_create_fence(tl, value);

	if (fd < 0) {
		errno = -fd;
		die("CREATE_FENCE");
	}
	return fd;
}

/* Four more steps of @tl, each applied by the broker (a request drains
 * the page first): the page forgets when its earlier points signaled, and
 * FILE_INFO of a merge holding one asks the broker. */
static void push_out_of_page(int tl)
{
	struct ipc_stats st;
	u32 one = 1;

	for (int i = 0; i < 4; i++) {
		if (dmasync_ioctl(tl, SW_SYNC_IOC_INC, &one))
			die("INC");
		stats(&st);
	}
}

static int heap_alloc(void)
{
	struct dma_heap_allocation_data a = { .len = 65536, .fd_flags = O_RDWR | O_CLOEXEC };

	if (dmasync_ioctl(o.heap, DMA_HEAP_IOCTL_ALLOC, &a))
		die("DMA_HEAP_IOCTL_ALLOC");
	return (int)a.fd;
}

static void setup(void)
{
	o.t1 = open_tl();
	o.t2 = open_tl();
	o.t_inc = open_tl();
	o.t_q = open_tl();
	o.a = create_fence(o.t1, 1);
	o.b = create_fence(o.t2, 1);
	o.imp = create_fence(o.t2, 2);
	{
		struct sync_merge_data md = { .name = "bench", .fd2 = o.b };

		if (dmasync_ioctl(o.a, SYNC_IOC_MERGE, &md))
			die("MERGE");
		o.m = md.fence;
	}
	{
		struct sync_merge_data md = { .name = "bench", .fd2 = create_fence(o.t_inc, 1) };
		u32 one = 1;

		if (dmasync_ioctl(o.a, SYNC_IOC_MERGE, &md))
			die("MERGE");
		close(md.fd2);
		o.mp = md.fence;
		if (dmasync_ioctl(o.t_inc, SW_SYNC_IOC_INC, &one))
			die("INC");
		push_out_of_page(o.t_inc);
	}
	{
		int f = create_fence(o.t_q, 1);
		struct sync_merge_data md = { .name = "bench", .fd2 = f };
		u32 one = 1;
		struct ipc_stats st;

		if (dmasync_ioctl(o.a, SYNC_IOC_MERGE, &md))
			die("MERGE");
		close(f);
		o.mq = md.fence;
		if (dmasync_ioctl(o.t_q, SW_SYNC_IOC_INC, &one))
			die("INC");
		stats(&st);	/* applied */
	}
	o.heap = dmasync_open("/dev/dma_heap/system", O_RDONLY | O_CLOEXEC);
	if (o.heap < 0)
		die("open /dev/dma_heap/system");
	o.buf = heap_alloc();
	o.buf2 = heap_alloc();
	o.next = 1000;
	o.own = dma_fence_allocate_private_stub(ktime_get());
	if (!o.own)
		die("a fence of our own");
}

static void teardown(void)
{
	close(o.a);
	close(o.b);
	close(o.imp);
	close(o.m);
	close(o.mp);
	close(o.mq);
	dmasync_close(o.t_q);
	close(o.buf);
	close(o.buf2);
	close(o.heap);
	dmasync_close(o.t1);
	dmasync_close(o.t2);
	dmasync_close(o.t_inc);
	dma_fence_put(o.own);
}

enum req { R_NONE, R_CREATE, R_MERGE, R_EXPORT, R_IMPORT, R_INFO0, R_INFO1, R_INFOM, R_INFOQ,
	   R_INFOP,
	   R_POLL, R_INC, R_PROXY, R_ADOPT,
	   R_MAX };

static const struct {
	const char *name, *label;
	bool fd_back;		/* a new fd comes back: floor (b2), else (b1) */
} reqs[R_MAX] = {
	[R_NONE] = { "none", "(baseline)", false },
	[R_CREATE] = { "create", "CREATE_FENCE + close", true },
	[R_MERGE] = { "merge", "MERGE 2 pending + close", true },
	[R_EXPORT] = { "export", "EXPORT_SYNC_FILE + close", true },
	[R_IMPORT] = { "import", "IMPORT_SYNC_FILE", false },
	[R_INFO0] = { "info0", "FILE_INFO count only", false },
	[R_INFO1] = { "info1", "FILE_INFO 1 fence", false },
	[R_INFOM] = { "infom", "FILE_INFO merge, count", false },
	[R_INFOQ] = { "infoq", "FILE_INFO merge, 1 sig'd", false },
	[R_INFOP] = { "infop", "  the same, step forgotten", false },
	[R_POLL] = { "poll", "poll idle dma-buf, t=0", true },
	[R_INC] = { "inc", "INC, nothing pending", false },
	[R_PROXY] = { "proxy", "sync_file_create_fd+close", true },
	[R_ADOPT] = { "adopt", "shared own buf: add+signal", false },
};

static void file_info(int fd, bool with_fence)
{
	struct sync_file_info info;
	struct sync_fence_info fi;

	memset(&info, 0, sizeof(info));
	if (with_fence) {
		info.num_fences = 1;
		info.sync_fence_info = (u64)(uintptr_t)&fi;
	}
	if (dmasync_ioctl(fd, SYNC_IOC_FILE_INFO, &info) || info.num_fences != 1)
		die("FILE_INFO");
}

/* FILE_INFO with its entries of a merge of two sw_sync points, one of them
 * signaled: from the timeline page while it still shows the step that
 * signaled it (the broker's last 4 applied steps); after
 * push_out_of_page(), a request. */
static void file_info_asks(int fd)
{
	struct sync_file_info info = { .num_fences = 2 };
	struct sync_fence_info fi[2];

	info.sync_fence_info = (u64)(uintptr_t)fi;
	if (dmasync_ioctl(fd, SYNC_IOC_FILE_INFO, &info) || info.num_fences != 2 ||
	    (fi[0].status == 1) == (fi[1].status == 1))
		die("FILE_INFO of a merge");
}

/* The kernel API on a buffer of ours another process may hold: each fence
 * goes over at unlock (a request), its signal after (a message). */
static void run_adopt(long n)
{
	for (long i = 0; i < n; i++) {
		struct dma_fence *f = calloc(1, sizeof(*f));

		if (!f)
			die("calloc");
		dma_fence_init(f, &bench_fence_ops, &bench_fence_lock, o.adopt_ctx, ++o.adopt_seq);
		dma_resv_lock(o.adopted->resv, NULL);
		if (dma_resv_reserve_fences(o.adopted->resv, 1))
			die("dma_resv_reserve_fences");
		dma_resv_add_fence(o.adopted->resv, f, DMA_RESV_USAGE_WRITE);
		dma_resv_unlock(o.adopted->resv);
		dma_fence_signal(f);
		dma_fence_put(f);
	}
}

/*
 * For R_ADOPT only (a live in-process object makes every other request look
 * its fd up in-process first): a buffer of ours, shared with the broker.
 */
static void adopted_make(void)
{
	static int priv;
	DEFINE_DMA_BUF_EXPORT_INFO(info);

	info.ops = &bench_buf_ops;
	info.size = 65536;
	info.flags = O_RDWR;
	info.priv = &priv;
	o.adopted = dma_buf_export(&info);
	if (IS_ERR(o.adopted))
		die("dma_buf_export");
	o.adopted_fd = dma_buf_fd(o.adopted, O_CLOEXEC);
	if (o.adopted_fd < 0)
		die("dma_buf_fd");
	o.adopt_ctx = dma_fence_context_alloc(1);
}

/* Make @n requests of kind @r on the objects of setup(). */
static void run_req(enum req r, long n)
{
	if (r == R_ADOPT) {
		adopted_make();
		run_adopt(n);
		dmasync_close(o.adopted_fd);	/* the buffer's reference was the fd's */
		return;
	}
	for (long i = 0; i < n; i++) {
		switch (r) {
		case R_NONE:
		case R_ADOPT:
		case R_MAX:
			return;
		case R_CREATE:
			close(create_fence(o.t1, o.next++));
			break;
		case R_MERGE: {
			struct sync_merge_data md = { .name = "bench", .fd2 = o.b };

			if (dmasync_ioctl(o.a, SYNC_IOC_MERGE, &md))
				die("MERGE");
			close(md.fence);
			break;
		}
		case R_EXPORT: {
			struct dma_buf_export_sync_file e = { .flags = DMA_BUF_SYNC_RW, .fd = -1 };

			if (dmasync_ioctl(o.buf, DMA_BUF_IOCTL_EXPORT_SYNC_FILE, &e))
				die("EXPORT_SYNC_FILE");
			close(e.fd);
			break;
		}
		case R_IMPORT: {
			struct dma_buf_import_sync_file im = { .flags = DMA_BUF_SYNC_WRITE, .fd = o.imp };

			if (dmasync_ioctl(o.buf2, DMA_BUF_IOCTL_IMPORT_SYNC_FILE, &im))
				die("IMPORT_SYNC_FILE");
			break;
		}
		case R_INFO0:
		case R_INFO1:
			file_info(o.a, r == R_INFO1);
			break;
		case R_INFOM: {
			struct sync_file_info info = { 0 };

			if (dmasync_ioctl(o.m, SYNC_IOC_FILE_INFO, &info) || info.num_fences != 2)
				die("FILE_INFO of a merge");
			break;
		}
		case R_INFOP:
			file_info_asks(o.mp);
			break;
		case R_INFOQ:
			file_info_asks(o.mq);
			break;
		case R_POLL: {
			struct pollfd p = { .fd = o.buf, .events = POLLIN };

			if (dmasync_poll(&p, 1, 0) != 1 || p.revents != POLLIN)
				die("dmasync_poll");
			break;
		}
		case R_INC: {
			u32 one = 1;

			if (dmasync_ioctl(o.t_inc, SW_SYNC_IOC_INC, &one))
				die("INC");
			break;
		}
		case R_PROXY: {
			/* the kernel API: a proxy with the broker */
			int fd = sync_file_create_fd(o.own);

			if (fd < 0)
				die("sync_file_create_fd");
			close(fd);
			break;
		}
		}
	}
}

struct figure {
	double ns;		/* wall per request */
	double cpu;		/* broker CPU per request (incl. releases after close) */
	double rt;		/* broker requests per request */
};

/* @n requests of kind @r, timed; then the broker's CPU for them, after it
 * released what they made. */
static void measure_once(enum req r, long n, struct figure *f)
{
	struct ipc_stats s0, s1;
	unsigned long stats0;
	ktime_t t;

	run_req(r, n / 10 + 1);
	stats(&s0);
	wait_objects(s0.objects);
	stats(&s0);
	stats0 = n_stats;
	t = ktime_get();
	run_req(r, n);
	f->ns = per_op(t, n);
	wait_objects(s0.objects);
	stats(&s1);
	f->cpu = (double)(s1.cpu_ns - s0.cpu_ns) / (double)n;
	f->rt = (double)(s1.requests - s0.requests - (n_stats - stats0)) / (double)n;
}

/* The best of REPS runs of @n / REPS requests (the floors are taken the same way). */
#define REPS 3
static void measure(enum req r, long n, struct figure *f)
{
	struct figure one;

	for (int i = 0; i < REPS; i++) {
		measure_once(r, n / REPS, &one);
		if (!i || one.ns < f->ns)
			*f = one;
	}
}

static double best_echo(enum echo_mode mode, long n, int cpu)
{
	double best = 0;

	for (int i = 0; i < REPS; i++) {
		double ns = floor_echo(mode, n / REPS, cpu);

		if (!i || ns < best)
			best = ns;
	}
	return best;
}

static double best_eventfd(long n, int cpu)
{
	double best = 0;

	for (int i = 0; i < REPS; i++) {
		double ns = floor_eventfd(n / REPS, cpu);

		if (!i || ns < best)
			best = ns;
	}
	return best;
}

/* ---- system calls (strace -c) ---------------------------------------------------------- */

static char self_exe[PATH_MAX];

/* Total "calls" of `strace -c` running `self --count NAME N`; -1 if n/a. */
static long strace_calls(enum req r, long n)
{
	char file[] = "/tmp/bench-broker-strace-XXXXXX", nbuf[32], line[256];
	long calls = -1;
	int fd = mkstemp(file), status;
	FILE *f;
	pid_t pid;

	if (fd < 0)
		return -1;
	close(fd);
	snprintf(nbuf, sizeof(nbuf), "%ld", n);
	fflush(stdout);
	pid = fork();
	if (pid < 0)
		die("fork");
	if (!pid) {
		char *argv[] = { "strace", "-c", "-o", file, self_exe, "--count",
				 (char *)reqs[r].name, nbuf, NULL };
		int null = open("/dev/null", O_RDWR);

		dup2(null, 1);
		dup2(null, 2);
		execvp("strace", argv);
		_exit(127);
	}
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status)) {
		unlink(file);
		return -1;
	}
	f = fopen(file, "r");
	if (f) {
		while (fgets(line, sizeof(line), f)) {
			char tok[6][32];
			int k = sscanf(line, "%31s %31s %31s %31s %31s %31s", tok[0], tok[1], tok[2],
				       tok[3], tok[4], tok[5]);

			/* "% time seconds usecs/call calls [errors] total" */
			if (k >= 5 && !strcmp(tok[k - 1], "total"))
				calls = strtol(tok[3], NULL, 10);
		}
		fclose(f);
	}
	unlink(file);
	return calls;
}

static int count_mode(const char *name, long n)
{
	enum req r = R_MAX;

	for (int i = 0; i < R_MAX; i++)
		if (!strcmp(name, reqs[i].name))
			r = (enum req)i;
	if (r == R_MAX || n < 0) {
		fprintf(stderr, "bench-broker: --count REQUEST N; REQUEST is one of:");
		for (int i = 0; i < R_MAX; i++)
			fprintf(stderr, " %s", reqs[i].name);
		fprintf(stderr, "\n");
		return 2;
	}
	setup();
	run_req(r, n);
	teardown();
	return 0;
}

/* ---- signal-to-wakeup across processes ------------------------------------------------ */

static u32 one_u32 = 1;

/* Wait for the sync file @fd: dmasync_poll() (@wrapped: decided by the
 * timeline page, woken by the signaler's doorbell) or libc's poll() (woken
 * by the broker's record). */
static int wait_fence(int fd, bool wrapped, int timeout)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	int r = wrapped ? dmasync_poll(&p, 1, timeout) : poll(&p, 1, timeout);

	return r == 1 && (p.revents & POLLIN) ? 0 : -1;
}

/*
 * Two processes share one timeline.  The child waits on the odd values, the
 * parent on the even ones, each on sync files it made beforehand; each in
 * turn INCs by 1 (waking the other) and polls its next fence.
 * Return: one-way latency (ns), measured after the first tenth of rounds.
 */
static double pingpong_sw_sync(int rounds, int cpu, bool wrapped, double *broker_cpu)
{
	int tl = open_tl(), ready[2], *fences = calloc((size_t)rounds, sizeof(int)), warm = rounds / 10;
	struct ipc_stats s0 = { 0 }, s1;
	ktime_t t = 0;
	pid_t pid;
	char c;

	if (!fences || pipe2(ready, O_CLOEXEC))
		die("pingpong");
	fflush(stdout);
	pid = fork();
	if (pid < 0)
		die("fork");
	if (!pid) {
		pin_me(cpu);
		close(ready[0]);
		for (int i = 0; i < rounds; i++)
			fences[i] = create_fence(tl, 2 * (u32)i + 1);
		if (write(ready[1], "", 1) != 1)
			_exit(1);
		for (int i = 0; i < rounds; i++) {
			if (wait_fence(fences[i], wrapped, -1))
				_exit(1);
			if (dmasync_ioctl(tl, SW_SYNC_IOC_INC, &one_u32))
				_exit(1);
		}
		_exit(0);
	}
	close(ready[1]);
	for (int i = 0; i < rounds; i++)
		fences[i] = create_fence(tl, 2 * (u32)i + 2);
	if (read(ready[0], &c, 1) != 1)
		die("ping-pong child");
	for (int i = 0; i < rounds; i++) {
		if (i == warm) {
			stats(&s0);
			t = ktime_get();
		}
		if (dmasync_ioctl(tl, SW_SYNC_IOC_INC, &one_u32))
			die("INC");
		if (wait_fence(fences[i], wrapped, 10000))
			die("ping-pong poll");
	}
	{
		double ns = per_op(t, 2l * (rounds - warm));
		int status;

		stats(&s1);
		*broker_cpu = (double)(s1.cpu_ns - s0.cpu_ns) / (2.0 * (rounds - warm));
		waitpid(pid, &status, 0);
		if (!WIFEXITED(status) || WEXITSTATUS(status))
			fprintf(stderr, "ping-pong child failed\n");
		for (int i = 0; i < rounds; i++)
			close(fences[i]);
		free(fences);
		close(ready[0]);
		dmasync_close(tl);
		return ns;
	}
}

/*
 * The same ping-pong by pingpong-plain (beside us), a plain Linux program
 * run with libdmasync-preload.so as `dmasync run` runs one: libc's ioctl()
 * and poll() wrapped, every fd known to the preload's table (no fstat()).
 * Return: one-way latency (ns), or -1 if it cannot run here.
 */
static double pingpong_preload(int rounds, int client_cpu, int server_cpu)
{
	char prog[PATH_MAX + 32], lib[PATH_MAX + 64], nbuf[3][16], out[64] = "";
	char *slash;
	int pipefd[2], status;
	ssize_t n, got = 0;
	pid_t pid;

	snprintf(prog, sizeof(prog), "%s", self_exe);
	slash = strrchr(prog, '/');
	if (!slash)
		return -1;
	snprintf(lib, sizeof(lib), "%.*s/../src/preload/libdmasync-preload.so",
		 (int)(slash - prog), prog);
	snprintf(slash, sizeof(prog) - (size_t)(slash - prog), "/pingpong-plain");
	if (getenv("DMASYNC_PRELOAD"))
		snprintf(lib, sizeof(lib), "%s", getenv("DMASYNC_PRELOAD"));
	if (access(prog, X_OK) || access(lib, R_OK) || pipe2(pipefd, O_CLOEXEC))
		return -1;
	snprintf(nbuf[0], sizeof(nbuf[0]), "%d", rounds);
	snprintf(nbuf[1], sizeof(nbuf[1]), "%d", client_cpu);
	snprintf(nbuf[2], sizeof(nbuf[2]), "%d", server_cpu);
	fflush(stdout);
	pid = fork();
	if (pid < 0)
		die("fork");
	if (!pid) {
		char *argv[] = { prog, nbuf[0], nbuf[1], nbuf[2], NULL };

		dup2(pipefd[1], 1);
		setenv("LD_PRELOAD", lib, 1);
		execv(prog, argv);
		_exit(127);
	}
	close(pipefd[1]);
	while (got < (ssize_t)sizeof(out) - 1 &&
	       (n = read(pipefd[0], out + got, sizeof(out) - 1 - (size_t)got)) > 0)
		got += n;
	close(pipefd[0]);
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) ||
	    got <= 0)
		return -1;
	return strtod(out, NULL);
}

/* ---- many clients ------------------------------------------------------------------- */

struct slot {
	long ops;
	long ns;
	int err;
};

struct scale {
	double lat_ns;		/* mean per-request latency seen by clients */
	double per_s;		/* aggregate requests per second */
	double cpu;		/* broker CPU per request */
};


/* @nproc processes loop FILE_INFO (file_info_asks()) on a merge of their
 * own (a request each) for @secs, all started at once. */
static void scale_clients(int nproc, double secs, struct scale *sc)
{
	struct slot *slots = mmap(NULL, (size_t)nproc * sizeof(*slots), PROT_READ | PROT_WRITE,
				  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	pid_t *pids = calloc((size_t)nproc, sizeof(pid_t));
	int ready[2], go[2];
	struct ipc_stats s0, s1;
	long ops = 0, ns = 0, wall = 0;
	char c;

	if (slots == MAP_FAILED || !pids || pipe2(ready, O_CLOEXEC) || pipe2(go, O_CLOEXEC))
		die("scale");
	fflush(stdout);
	for (int k = 0; k < nproc; k++) {
		pids[k] = fork();
		if (pids[k] < 0)
			die("fork");
		if (!pids[k]) {
			struct slot *s = &slots[k];
			int f1 = try_create_fence(o.t1, 2000000000u + (u32)k), fence = -1;
			int tk = open_tl(), f2 = try_create_fence(tk, 1);
			ktime_t t0, end, now;
			u32 one = 1;

			close(ready[0]);
			close(go[1]);
			if (f1 >= 0 && f2 >= 0) {
				struct sync_merge_data md = { .name = "scale", .fd2 = f2 };

				fence = dmasync_ioctl(f1, SYNC_IOC_MERGE, &md) ? -errno : md.fence;
			}
			if (f1 < 0 || f2 < 0 || fence < 0) {
				s->err = f1 < 0 ? -f1 : f2 < 0 ? -f2 : -fence;
				_exit(1);
			}
			close(f1);
			close(f2);
			if (dmasync_ioctl(tk, SW_SYNC_IOC_INC, &one))
				_exit(1);
			push_out_of_page(tk);	/* a request each */
			file_info_asks(fence);	/* known, connected */
			if (write(ready[1], "", 1) != 1 || read(go[0], &c, 1) != 0)
				_exit(1);
			t0 = ktime_get();
			end = t0 + (ktime_t)(secs * 1e9);
			do {
				file_info_asks(fence);
				s->ops++;
				now = ktime_get();
			} while (now < end);
			s->ns = now - t0;
			close(fence);
			dmasync_close(tk);
			_exit(0);
		}
	}
	close(ready[1]);
	close(go[0]);
	for (int k = 0; k < nproc; k++)
		if (read(ready[0], &c, 1) != 1)
			die("scale: a client failed to start");
	stats(&s0);
	close(go[1]);
	for (int k = 0; k < nproc; k++) {
		int status;

		waitpid(pids[k], &status, 0);
		if (!WIFEXITED(status) || WEXITSTATUS(status))
			fprintf(stderr, "scale: client %d failed (%s)\n", k, strerror(slots[k].err));
		ops += slots[k].ops;
		ns += slots[k].ns;
		if (slots[k].ns > wall)
			wall = slots[k].ns;
	}
	stats(&s1);
	sc->lat_ns = (double)ns / (double)ops;
	sc->per_s = (double)ops / ((double)wall / 1e9);
	sc->cpu = (double)(s1.cpu_ns - s0.cpu_ns) / (double)(s1.requests - s0.requests);
	close(ready[0]);
	munmap(slots, (size_t)nproc * sizeof(*slots));
	free(pids);
}

/* ---- many objects ------------------------------------------------------------------- */

/* Growth of @many over @few beyond this counts as growing with the number
 * of objects (run-to-run noise here is up to ~30%). */
#define GROWS 1.5

/* One line of the few/many table; return: whether it grows. */
static bool grow_row(const char *what, double few, double many, double d_objects)
{
	bool grows = many / few > GROWS;

	printf("  %-30s %7.1f %7.1f %6.2fx %+9.2f   %s\n", what, us(few), us(many), many / few,
	       (many - few) / d_objects, grows ? "GROWS" : "flat");
	return grows;
}

static double min2(double x, double y)
{
	return x < y ? x : y;
}

/* The best of the first and of the last @k of @v[0..@n). */
static void ends(const double *v, int n, int k, double *first, double *last)
{
	*first = v[0];
	*last = v[n - 1];
	for (int i = 1; i < k; i++) {
		*first = min2(*first, v[i]);
		*last = min2(*last, v[n - 1 - i]);
	}
}

static void many_objects(void)
{
	struct figure info_few, cf_few, info_many, cf_many, again;
	struct ipc_stats st;
	struct rlimit rl;
	long want = cfg.many, have = 0, chunk;
	double chunk_ns[10] = { 0 }, chunk_cpu[10] = { 0 }, close_ns, rel_ns, d;
	int chunks = 0, err = 0, *fds;
	uint64_t base_objects, many_objects_n;
	char blim[64];
	bool ok, lin = false;
	ktime_t t;

	measure(R_INFOP, cfg.n_req, &info_few);
	measure(R_CREATE, cfg.n_req, &cf_few);
	stats(&st);
	base_objects = st.objects;
	broker_nofile(st.pid, blim, sizeof(blim));

	if (getrlimit(RLIMIT_NOFILE, &rl))
		die("getrlimit");
	/* With CAP_SYS_RESOURCE (root), above the hard limit too. */
	if (rl.rlim_max != RLIM_INFINITY && (long)rl.rlim_max < cfg.many + 1024) {
		struct rlimit more = { (rlim_t)cfg.many + 1024, (rlim_t)cfg.many + 1024 };

		if (!setrlimit(RLIMIT_NOFILE, &more))
			rl = more;
	}
	rl.rlim_cur = rl.rlim_max;
	setrlimit(RLIMIT_NOFILE, &rl);
	getrlimit(RLIMIT_NOFILE, &rl);
	if (rl.rlim_cur != RLIM_INFINITY && (long)rl.rlim_cur - 256 < want)
		want = (long)rl.rlim_cur - 256;
	fds = calloc((size_t)want, sizeof(int));
	if (!fds)
		die("calloc");
	printf("\nmany live objects (placement [0]): our RLIMIT_NOFILE soft raised to the hard limit, "
	       "%llu;\nthe broker's is %s (it holds one fd per object); objects one client may "
	       "own: %s\n", (unsigned long long)rl.rlim_cur, blim,
	       getenv("DMASYNC_MAX_OBJECTS") ? getenv("DMASYNC_MAX_OBJECTS") : "the default");
	if (want < cfg.many)
		printf("  the hard limit is too low for %ld sync files: making %ld instead\n",
		       cfg.many, want);

	/* CREATE_FENCE until @want live, timed per tenth of the way. */
	chunk = want / 10;
	for (int k = 0; k < 10 && !err; k++) {
		long end = k == 9 ? want : (k + 1) * chunk, from = have;
		struct ipc_stats c0, c1;

		stats(&c0);
		t = ktime_get();
		for (; have < end; have++) {
			int fd = try_create_fence(o.t1, o.next++);

			if (fd < 0) {
				err = -fd;
				break;
			}
			fds[have] = fd;
		}
		if (have > from) {
			chunk_ns[k] = per_op(t, have - from);
			stats(&c1);
			chunk_cpu[k] = (double)(c1.cpu_ns - c0.cpu_ns) / (double)(have - from);
			chunks = k + 1;
		}
	}
	if (err) {
		printf("  stopped at %ld sync files: CREATE_FENCE failed: %s\n", have, strerror(err));
		/* Leave room for the requests below. */
		for (int i = 0; i < 64 && have > 0; i++)
			close(fds[--have]);
		wait_objects(base_objects + (uint64_t)have);
	}
	stats(&st);
	many_objects_n = st.objects;
	printf("  live objects in the broker: %llu (before: %llu)\n",
	       (unsigned long long)many_objects_n, (unsigned long long)base_objects);
	printf("  CREATE_FENCE while filling, per tenth: us/req   ");
	for (int k = 0; k < chunks; k++)
		printf(" %5.1f", us(chunk_ns[k]));
	printf("\n  %-47s", "                         broker CPU us/req");
	for (int k = 0; k < chunks; k++)
		printf(" %5.1f", us(chunk_cpu[k]));
	printf("\n");

	measure(R_INFOP, cfg.n_req, &info_many);
	measure(R_CREATE, cfg.n_req, &cf_many);

	t = ktime_get();
	for (long i = 0; i < have; i++)
		close(fds[i]);
	close_ns = per_op(t, have > 0 ? have : 1);
	ok = wait_objects(base_objects);
	rel_ns = per_op(t, have > 0 ? have : 1);
	free(fds);

	/* Few objects again, after: the better of before and after. */
	measure(R_INFOP, cfg.n_req, &again);
	info_few.ns = min2(info_few.ns, again.ns);
	info_few.cpu = min2(info_few.cpu, again.cpu);
	measure(R_CREATE, cfg.n_req, &again);
	cf_few.ns = min2(cf_few.ns, again.ns);
	cf_few.cpu = min2(cf_few.cpu, again.cpu);

	d = (double)many_objects_n - (double)base_objects;
	if (d < 1)
		d = 1;
	printf("\n  %-30s %7s %7s %7s %9s\n", "us per request", "few", "many", "ratio",
	       "ns/object");
	lin |= grow_row("FILE_INFO of a merge (wall)", info_few.ns, info_many.ns, d);
	lin |= grow_row("  broker CPU", info_few.cpu, info_many.cpu, d);
	lin |= grow_row("CREATE_FENCE + close (wall)", cf_few.ns, cf_many.ns, d);
	lin |= grow_row("  broker CPU", cf_few.cpu, cf_many.cpu, d);
	if (chunks >= 6) {
		double first, last;

		ends(chunk_ns, chunks, 3, &first, &last);
		lin |= grow_row("CREATE_FENCE while filling *", first, last, 0.8 * d);
		ends(chunk_cpu, chunks, 3, &first, &last);
		lin |= grow_row("  broker CPU", first, last, 0.8 * d);
	}
	printf("  (few: best of before and after; many: %llu live; * best of the first vs the last\n"
	       "  3 tenths of the fill; ns/object: the difference per extra live object)\n",
	       (unsigned long long)many_objects_n);
	printf("  close() of the %ld: %.1f us each; all released by the broker after %.1f us each%s\n",
	       have, us(close_ns), us(rel_ns), ok ? "" : " (TIMED OUT)");
	printf("  => %s\n", lin ? "a step GROWS by more than 1.5x with the live objects: it looks "
				"linear in their number"
			      : "no step looks linear in the number of live objects (all within 1.5x)");
}

/* ---- main --------------------------------------------------------------------------- */

/* Broker mode with this build's dmasyncd unless told otherwise. */
static void default_env(long many)
{
	ssize_t n = readlink("/proc/self/exe", self_exe, sizeof(self_exe) - 1);

	if (n <= 0)
		die("readlink /proc/self/exe");
	self_exe[n] = 0;
	if (!getenv("DMASYNC_DAEMON")) {
		char path[PATH_MAX + 32], *slash;

		snprintf(path, sizeof(path), "%s", self_exe);
		slash = strrchr(path, '/');
		if (slash) {
			/* build/bench/bench-broker -> build/src/broker/dmasyncd */
			char real[PATH_MAX];

			snprintf(slash, sizeof(path) - (size_t)(slash - path), "/../src/broker/dmasyncd");
			if (realpath(path, real) && !access(real, X_OK))
				setenv("DMASYNC_DAEMON", real, 1);
		}
	}
	/* The broker this bench starts lets one client own the many objects
	 * of its last step (one process makes them all; the default cap per
	 * client is 65536). */
	if (!getenv("DMASYNC_MAX_OBJECTS")) {
		char cap[32];

		snprintf(cap, sizeof(cap), "%ld", (many > 0 ? many : MANY_OBJECTS) + 4096);
		setenv("DMASYNC_MAX_OBJECTS", cap, 1);
	}
	if (!getenv("DMASYNC_SOCKET")) {
		char sock[64];

		snprintf(sock, sizeof(sock), "/tmp/bench-broker-%u.sock", (unsigned int)getuid());
		setenv("DMASYNC_SOCKET", sock, 1);
	}
}

struct floors {
	double a, b1, b2, c;
};

int main(int argc, char **argv)
{
	struct figure fig[2][R_MAX];
	struct floors fl[2];
	long calls[R_MAX];
	struct ipc_stats st;
	struct utsname un;
	struct rlimit rl;
	double fd, pp[2], ppn[2], ppp[2], pp_cpu[2], ppn_cpu[2];
	struct scale sc[3];
	static const int nprocs[3] = { 1, 10, 100 };
	char blim[64];
	const char *count_req = NULL;
	long count_n = 0, many = 0;
	bool quick = false;
	ktime_t t_start = ktime_get();

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--quick")) {
			quick = true;
		} else if (!strcmp(argv[i], "--objects") && i + 1 < argc &&
			   (many = strtol(argv[i + 1], NULL, 10)) > 0) {
			i++;
		} else if (!strcmp(argv[i], "--count") && i + 2 < argc) {
			count_req = argv[i + 1];
			count_n = strtol(argv[i + 2], NULL, 10);
			i += 2;
		} else {
			fprintf(stderr, "Usage: %s [--quick] [--objects N] | --count REQUEST N\n",
				argv[0]);
			return 2;
		}
	}
	default_env(many);
	set_cfg(quick, many);
	if (count_req)
		return count_mode(count_req, count_n);
	if (!client_enabled()) {
		printf("bench-broker: needs broker mode (DMASYNC_MODE=%s): skipped\n",
		       getenv("DMASYNC_MODE"));
		return 77;
	}

	/* Start (or find) the broker before anything is timed or traced. */
	stats(&st);
	broker_pid = (pid_t)st.pid;
	broker_nofile(st.pid, blim, sizeof(blim));
	if (sched_getaffinity(0, sizeof(self_mask0), &self_mask0) ||
	    sched_getaffinity(broker_pid, sizeof(broker_mask0), &broker_mask0))
		die("sched_getaffinity");
	n_places = 0;
	for (int cpu = 0; cpu < CPU_SETSIZE && n_places < 2; cpu++) {
		if (!CPU_ISSET(cpu, &self_mask0))
			continue;
		if (!n_places) {
			places[0].client = places[0].server = places[1].client = cpu;
			snprintf(places[0].name, sizeof(places[0].name), "all on CPU %d", cpu);
		} else {
			places[1].server = cpu;
			snprintf(places[1].name, sizeof(places[1].name),
				 "client on CPU %d, broker on CPU %d", places[1].client, cpu);
		}
		n_places++;
	}
	uname(&un);
	getrlimit(RLIMIT_NOFILE, &rl);
	printf("bench-broker%s: %s %s %s %s %s, %ld CPUs\n", cfg.quick ? " --quick" : "",
	       un.sysname, un.nodename, un.release, un.version, un.machine,
	       sysconf(_SC_NPROCESSORS_ONLN));
	printf("broker: pid %llu, %s, socket %s, RLIMIT_NOFILE %s (ours %llu/%llu)%s\n",
	       (unsigned long long)st.pid,
	       getenv("DMASYNC_DAEMON") ? getenv("DMASYNC_DAEMON") : "(installed)",
	       getenv("DMASYNC_SOCKET"), blim, (unsigned long long)rl.rlim_cur,
	       (unsigned long long)rl.rlim_max,
#ifdef DMASYNC_DEBUG
	       ", debug_checks on"
#else
	       ""
#endif
	);
	if (st.clients > 1 || st.objects)
		printf("note: the broker already has %llu clients, %llu objects\n",
		       (unsigned long long)st.clients, (unsigned long long)st.objects);
	printf("placement: [0] %s%s%s; the broker's threads are pinned too\n", places[0].name,
	       n_places > 1 ? ", [1] " : "", n_places > 1 ? places[1].name : "");

	/* 1. Floors. */
	fd = floor_getppid(200000);
	for (int i = 1; i < REPS; i++)
		fd = min2(fd, floor_getppid(200000));
	for (int p = 0; p < n_places; p++) {
		int cpu = places[p].server;

		place(p);
		fl[p].a = best_echo(ECHO_PLAIN, cfg.n_floor, cpu);
		fl[p].b1 = best_echo(ECHO_FD_IN, cfg.n_floor, cpu);
		fl[p].b2 = best_echo(ECHO_FD_BOTH, cfg.n_floor, cpu);
		fl[p].c = best_eventfd(cfg.n_floor, cpu);
	}
	place(-1);
	printf("\nfloors, us (same run; this and every figure below: best of %d repetitions)\n", REPS);
	printf("%64s%s\n", "[0]", n_places > 1 ? "       [1]" : "");
	{
		static const char *const what[4] = {
			"(a)  SEQPACKET round trip, 64 B, to an echo process",
			"(b1) same + 1 SCM_RIGHTS fd (a socket) in; it closes",
			"(b2) same + that fd sent back, we close it",
			"(c)  eventfd ping-pong, 2 processes, one way",
		};

		for (int k = 0; k < 4; k++) {
			printf("  %-52s", what[k]);
			for (int p = 0; p < n_places; p++) {
				const double *v = &fl[p].a;

				printf(" %9.2f", us(v[k]));
			}
			printf("\n");
		}
	}
	printf("  %-52s %9.3f\n", "(d)  getppid()", us(fd));

	/* 2, 5. Per request; 3. syscalls (placement does not matter). */
	setup();
	for (int p = 0; p < n_places; p++) {
		place(p);
		for (int r = 1; r < R_MAX; r++)
			measure((enum req)r, cfg.n_req, &fig[p][r]);
	}
	place(-1);
	calls[R_NONE] = strace_calls(R_NONE, cfg.n_count);
	for (int r = 1; r < R_MAX; r++) {
		calls[r] = calls[R_NONE] < 0 ? -1 : strace_calls((enum req)r, cfg.n_count);
		if (calls[r] >= 0)
			calls[r] -= calls[R_NONE];
	}

	printf("\nper request, broker mode: us/req, x floor (a), x floor (b) [b1, or b2 where an fd "
	       "comes back],\nbroker CPU us/req (incl. releasing what was closed), broker round trips "
	       "(rt) and\nsyscalls of the calling thread (sysc) per request\n");
	printf("%-24s | %-26s", "", "[0] all on one CPU");
	if (n_places > 1)
		printf(" | %-14s", "[1] 0 / 1");
	printf(" |\n%-24s | %6s %5s %5s %7s", "request", "us", "x a", "x b", "brkCPU");
	if (n_places > 1)
		printf(" | %6s %7s", "us", "brkCPU");
	printf(" | %-2s %3s %5s\n", "b", "rt", "sysc");
	for (int r = 1; r < R_MAX; r++) {
		const struct figure *f = &fig[0][r];
		char sbuf[16];

		printf("%-24s | %6.1f %5.2f %5.2f %7.1f", reqs[r].label, us(f->ns), f->ns / fl[0].a,
		       f->ns / (reqs[r].fd_back ? fl[0].b2 : fl[0].b1), us(f->cpu));
		if (n_places > 1)
			printf(" | %6.1f %7.1f", us(fig[1][r].ns), us(fig[1][r].cpu));
		if (calls[r] >= 0)
			snprintf(sbuf, sizeof(sbuf), "%.1f", (double)calls[r] / (double)cfg.n_count);
		else
			snprintf(sbuf, sizeof(sbuf), "n/a");
		printf(" | %-2s %3.1f %5s\n", reqs[r].fd_back ? "b2" : "b1", fig[0][r].rt, sbuf);
	}
	if (n_places > 1)
		printf("([1]: client and broker on 2 CPUs: every request wakes the other CPU, which\n"
		       " costs what floors [1] show and varies up to 2x between runs here; no ratios.)\n");
	if (calls[R_NONE] < 0)
		printf("(sysc: strace unavailable or failed)\n");
	else
		printf("(sysc: strace -c, no -f, of `--count REQUEST %ld` minus `--count none %ld`)\n",
		       cfg.n_count, cfg.n_count);
	for (int p = 0; p < n_places; p++)
		printf("broker CPU/request [%d]: FILE_INFO of a merge %.1f us (%.0f%% of the wall "
		       "time), CREATE_FENCE+close %.1f us (%.0f%%)\n",
		       p, us(fig[p][R_INFOP].cpu), 100 * fig[p][R_INFOP].cpu / fig[p][R_INFOP].ns,
		       us(fig[p][R_CREATE].cpu), 100 * fig[p][R_CREATE].cpu / fig[p][R_CREATE].ns);

	/* 4. Signal-to-wakeup. */
	{
		int rounds = cfg.pp_rounds;

		getrlimit(RLIMIT_NOFILE, &rl);
		if (rl.rlim_cur != RLIM_INFINITY && (rlim_t)rounds + 128 > rl.rlim_cur)
			rounds = (int)rl.rlim_cur - 128;
		for (int p = 0; p < n_places; p++) {
			place(p);
			pp[p] = pingpong_sw_sync(rounds, places[p].server, true, &pp_cpu[p]);
			ppn[p] = pingpong_sw_sync(rounds, places[p].server, false, &ppn_cpu[p]);
			ppp[p] = pingpong_preload(rounds, places[p].client, places[p].server);
		}
		place(-1);
		printf("\nsignal-to-wakeup across 2 processes sharing 1 timeline (INC, then a poll of "
		       "the next fence;\n%d rounds; [1]: the second process on the broker's CPU), "
		       "one way:\n", rounds);
		printf("  dmasync_poll() in a linked program (an fstat identifies each fd): woken by the "
		       "signaler's doorbell, 1 wake-up per hop\n");
		for (int p = 0; p < n_places; p++)
			printf("  [%d] %6.2f us = %5.2fx the eventfd ping-pong (c) %.2f us; target <= 1.5x: "
			       "%s; broker CPU %.2f us/hop\n", p, us(pp[p]), pp[p] / fl[p].c, us(fl[p].c),
			       pp[p] / fl[p].c <= 1.5 ? "met" : "MISSED", us(pp_cpu[p]));
		printf("  the same by a plain program under the preload (libc's ioctl() and poll() "
		       "wrapped; no fstat)\n");
		for (int p = 0; p < n_places; p++) {
			if (ppp[p] < 0) {
				printf("  [%d] not measured (pingpong-plain or the preload not found)\n", p);
				continue;
			}
			printf("  [%d] %6.2f us = %5.2fx the eventfd ping-pong (c) %.2f us; target <= 1.5x: "
			       "%s\n", p, us(ppp[p]), ppp[p] / fl[p].c, us(fl[p].c),
			       ppp[p] / fl[p].c <= 1.5 ? "met" : "MISSED");
		}
		printf("  libc poll() of the sync file: woken by the broker's record, 2 wake-ups per "
		       "hop\n");
		for (int p = 0; p < n_places; p++)
			printf("  [%d] %6.2f us = %5.2fx the eventfd ping-pong (c) %.2f us; broker CPU "
			       "%.2f us/hop\n", p, us(ppn[p]), ppn[p] / fl[p].c, us(fl[p].c), us(ppn_cpu[p]));
	}

	/* 6. Scaling with clients: not pinned (the scheduler's choice). */
	for (int k = 0; k < 3; k++)
		scale_clients(nprocs[k], cfg.scale_s, &sc[k]);
	printf("\nFILE_INFO (entries, a merge, 1 of 2 signaled) looped by N client processes at once for %.1f s "
	       "(nothing pinned:\nN = 1 is ~[0] or ~[1] above as the scheduler places it)\n",
	       cfg.scale_s);
	printf("  %5s %12s %12s %16s\n", "N", "lat us/req", "req/s total", "broker CPU us/req");
	for (int k = 0; k < 3; k++)
		printf("  %5d %12.1f %12.0f %16.2f\n", nprocs[k], us(sc[k].lat_ns), sc[k].per_s,
		       us(sc[k].cpu));

	/* 6. Many live objects, all on one CPU. */
	place(0);
	many_objects();
	place(-1);

	teardown();
	printf("\ntotal %.1f s\n", (double)(ktime_get() - t_start) / 1e9);
	return 0;
}
