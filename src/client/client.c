/* SPDX-License-Identifier: MIT */
/*
 * The client side of the broker: the connection, starting the broker on
 * demand, the table of known objects, and one function per request.
 * See client.h and docs/design.md.
 */
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <linux/dma-buf.h>
#include <linux/sync_file.h>

#include "client.h"
#include "dma-buf-priv.h"
#include "file.h"
#include "fork.h"
#include "schema.h"
#include "sync_file-priv.h"
#include "sw_sync_uapi.h"
#include "tlpage.h"
#include "uaccess.h"
#include <sys/syscall.h>

#ifndef DMASYNC_LIBEXECDIR
#define DMASYNC_LIBEXECDIR "/usr/local/libexec"
#endif

#define PAGE 4096u

/* ---- mode ------------------------------------------------------------------------- */

static int mode = -1;	/* -1 not decided, 0 process, 1 broker */

static void decide_mode(void)
{
	const char *m = getenv("DMASYNC_MODE");

	__atomic_store_n(&mode, (m && !strcmp(m, "process")) ? 0 : 1, __ATOMIC_RELAXED);
}

bool client_enabled(void)
{
	int m = __atomic_load_n(&mode, __ATOMIC_RELAXED);

	if (m < 0) {
		decide_mode();
		m = __atomic_load_n(&mode, __ATOMIC_RELAXED);
	}
	return m == 1;
}

void client_disable(void)
{
	__atomic_store_n(&mode, 0, __ATOMIC_RELAXED);
}

/* ---- locks and signal handlers --------------------------------------------------------- */

/*
 * How many of this layer's locks the calling thread holds or is waiting
 * for.  Counted before a lock is taken and after it is released, so that a
 * signal handler running on this thread sees it non-zero for as long as
 * the lock could be held: client_busy().
 */
static _Thread_local unsigned int lock_depth __attribute__((tls_model("initial-exec")));

void client_lock(pthread_mutex_t *m)
{
	lock_depth++;
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	pthread_mutex_lock(m);
}

void client_unlock(pthread_mutex_t *m)
{
	pthread_mutex_unlock(m);
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	lock_depth--;
}

bool client_busy(void)
{
	return __atomic_load_n(&lock_depth, __ATOMIC_RELAXED) != 0;
}

/* ---- the connection ------------------------------------------------------------------ */

static pthread_mutex_t conn_lock = PTHREAD_MUTEX_INITIALIZER;
/*
 * One-way messages (an INC's nudge, a proxy's signal) take send_lock
 * alone, so that they never wait for another thread's round trip (the
 * kernel's selftests' threads INC while another makes a sync file).
 * conn_fd changes only with conn_lock and send_lock held, so either keeps
 * it open and the same.  A leaf: nothing is taken under it.
 */
static pthread_mutex_t send_lock = PTHREAD_MUTEX_INITIALIZER;
static int conn_fd = -1;		/* see send_lock (read atomically too: client_fd_is_own()) */
static int fd_floor;			/* client_set_fd_floor() */
static ino_t conn_ino;			/* its inode, to recognise it after fork */
static int inherited_fd = -1;		/* fork child: the parent's connection's number */
static uint64_t conn_seq;		/* atomic: next_seq() */
static uint64_t broker_id;		/* the connected broker's instance id (0: none yet) */
static char rx_buf[IPC_MAX_PAYLOAD];	/* replies, under conn_lock */

/*
 * A sync file of the stub fence, kept (FD_CLOEXEC, above the floor) for
 * EXPORT_SYNC_FILE of a buffer that has nothing to wait for: every such
 * export is alike, so it is answered with a copy (export_stub()).  Taken
 * from the first one the broker sends (IPC_NEWFD_STUB); replaced when the
 * broker changes.  stub_lock nests inside conn_lock.
 */
static pthread_mutex_t stub_lock = PTHREAD_MUTEX_INITIALIZER;
static int stub_fd = -1;		/* written under conn_lock and stub_lock (read atomically too) */
static struct client_obj stub_obj;	/* the same */

static pthread_mutex_t known_lock, fdt_lock;
static pthread_mutex_t doors_lock = PTHREAD_MUTEX_INITIALIZER;

static uint64_t next_seq(void)
{
	return __atomic_add_fetch(&conn_seq, 1, __ATOMIC_RELAXED);
}

/* conn_lock held: the connection is @fd from now on (-1: none). */
static void conn_fd_set_locked(int fd)
{
	client_lock(&send_lock);
	__atomic_store_n(&conn_fd, fd, __ATOMIC_RELAXED);
	client_unlock(&send_lock);
}

/* conn_lock held: close the connection (the next request reconnects). */
static void conn_drop_locked(void)
{
	client_lock(&send_lock);
	close(conn_fd);
	__atomic_store_n(&conn_fd, -1, __ATOMIC_RELAXED);
	client_unlock(&send_lock);
}

static int connect_spawning_locked(bool may_spawn);

/*
 * conn_lock held, after a send on the connection failed with @err: whether
 * its fd is no longer ours (closed, or another kind of file at its number:
 * the program closed it with a raw system call, past the preload's close,
 * which keeps it).  Then it is forgotten, not closed (the number may be
 * the program's now), and the caller may connect again and send again: a
 * send that failed delivered nothing.  EBADF with our fd still there is an
 * attached fd's, the caller's to answer.
 */
static bool conn_lost_locked(int err)
{
	int fd = conn_fd;

	if (fd < 0 || (err != -EBADF && err != -ENOTSOCK))
		return false;
	if (err == -EBADF && fcntl(fd, F_GETFD) >= 0)
		return false;
	client_lock(&send_lock);
	__atomic_store_n(&conn_fd, -1, __ATOMIC_RELAXED);
	client_unlock(&send_lock);
	return true;
}

/*
 * send_oneway - send @msg, which has no reply, to broker instance @owner:
 * on the connection as it is, under send_lock alone (past another thread's
 * round trip); else (no connection yet, as in a fork child, or the send
 * failed) under conn_lock, connecting if need be (no broker is started),
 * where a failed send drops the connection, as a request's would.
 * Return: 0; -EAGAIN if @flags had MSG_DONTWAIT and the queue is full;
 * -ENOLINK if @owner is gone or the send failed.
 */
static int send_oneway(uint64_t owner, struct ipc_msg *msg, int flags)
{
	int r = -ENOTCONN, fd, failed = -1;

	client_lock(&send_lock);
	if (conn_fd >= 0 && owner == __atomic_load_n(&broker_id, __ATOMIC_RELAXED)) {
		msg->hdr.seq = next_seq();
		r = ipc_send(conn_fd, msg, flags);
		failed = conn_fd;
	}
	client_unlock(&send_lock);
	if (!r || r == -EAGAIN)
		return r;
	client_lock(&conn_lock);
	if (failed >= 0 && failed == conn_fd)
		conn_lost_locked(r);	/* then a new connection, below */
	fd = connect_spawning_locked(false);
	r = fd < 0 || owner != broker_id ? -ENOLINK : 0;
	if (!r) {
		msg->hdr.seq = next_seq();
		r = ipc_send(fd, msg, flags);
		if (r && r != -EAGAIN) {
			conn_drop_locked();
			r = -ENOLINK;
		}
	}
	client_unlock(&conn_lock);
	return r;
}

/*
 * At fork() no other thread may hold a lock of the client: a child would
 * inherit it held, by a thread it does not have, and wait for it forever
 * (a fork while another thread looked up an fd did).  conn_lock and
 * stub_lock (which nests inside it) here; the leaf locks in a stage of
 * their own, after every other (fork.h).
 */
static void fork_prepare(void)
{
	client_lock(&conn_lock);
	client_lock(&stub_lock);
}

static void fork_parent(void)
{
	client_unlock(&stub_lock);
	client_unlock(&conn_lock);
}

static void leaves_prepare(void)
{
	client_lock(&doors_lock);
	client_lock(&known_lock);
	client_lock(&fdt_lock);
	client_mirrors_lock();
	client_lock(&send_lock);
}

/* Parent and child alike (unlocked, not re-initialised: TSan sees it). */
static void leaves_unlock(void)
{
	client_unlock(&send_lock);
	client_mirrors_unlock();
	client_unlock(&fdt_lock);
	client_unlock(&known_lock);
	client_unlock(&doors_lock);
}

static const struct core_fork_handler leaves_fork = {
	.prepare = leaves_prepare,
	.parent = leaves_unlock,
	.child = leaves_unlock,
};

/* The child shares the parent's connection socket: replies would go to
 * whichever reads first.  The number was ours at fork (the lock is held
 * across it): close the child's copy and reconnect on first use. */
static void doors_fork_child(void);

static void fork_child(void)
{
	/*
	 * Keep the number, not the connection: the child's own connection
	 * takes the inherited one's place when it first talks to the broker
	 * (connect_locked()), so a process's fd table does not grow by one
	 * because its parent used dmasync.
	 */
	__atomic_store_n(&inherited_fd, conn_fd, __ATOMIC_RELAXED);
	__atomic_store_n(&conn_fd, -1, __ATOMIC_RELAXED);
	doors_fork_child();
	/* Taken by this very thread in fork_prepare(): unlock, as the
	 * parent does (re-initialising it would hide it from TSan). */
	client_unlock(&stub_lock);
	client_unlock(&conn_lock);
}

static const struct core_fork_handler client_fork = {
	.prepare = fork_prepare,
	.parent = fork_parent,
	.child = fork_child,
};

__attribute__((constructor)) static void client_init(void)
{
	core_fork_register(CORE_FORK_CLIENT, &client_fork);
	core_fork_register(CORE_FORK_CLIENT_LEAVES, &leaves_fork);
}

static int try_connect(const char *path)
{
	struct sockaddr_un sa;
	int fd, dirfd, r = ipc_sockaddr(path, &sa, &dirfd);

	if (r)
		return r;
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0)
		r = -errno;
	else if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)))
		r = -errno;
	if (dirfd >= 0)
		close(dirfd);
	if (r) {
		if (fd >= 0)
			close(fd);
		return r;
	}
	return fd;
}

/*
 * The broker program: $DMASYNC_DAEMON; else the installed one; else the
 * one of the build tree this library comes from (src/broker/dmasyncd
 * beside src/libdmasync.so), so that a program run from a build finds it.
 */
static const char *daemon_path(void)
{
	static char beside[PATH_MAX];
	const char *p = getenv("DMASYNC_DAEMON");
	Dl_info info;

	if (p && *p)
		return p;
	if (!access(DMASYNC_LIBEXECDIR "/dmasyncd", X_OK))
		return DMASYNC_LIBEXECDIR "/dmasyncd";
	if (dladdr((void *)daemon_path, &info) && info.dli_fname) {
		const char *slash = strrchr(info.dli_fname, '/');
		int n = slash ? (int)(slash - info.dli_fname) : 0;

		if (slash && snprintf(beside, sizeof(beside), "%.*s/broker/dmasyncd", n,
				      info.dli_fname) < (int)sizeof(beside) &&
		    !access(beside, X_OK))
			return beside;
	}
	return DMASYNC_LIBEXECDIR "/dmasyncd";
}

/*
 * Start a broker for @path and wait until it listens (or failed).  It
 * detaches itself (new session, not our child once started), and gets our
 * environment without the preload library.  posix_spawn(), not fork():
 * the caller holds locks that atfork handlers take.  Return: 0 or -errno.
 */
static int spawn_broker(const char *path)
{
	extern char **environ;
	const char *prog = daemon_path();
	char *argv[] = { (char *)prog, "--socket", (char *)path, NULL };
	posix_spawnattr_t attr;
	sigset_t none, all;
	size_t n = 0, k = 0;
	char **envp;
	pid_t pid;
	int status, r;

	if (access(prog, X_OK))
		return -errno;
	while (environ[n])
		n++;
	envp = calloc(n + 1, sizeof(*envp));
	if (!envp)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		if (strncmp(environ[i], "LD_PRELOAD=", 11))
			envp[k++] = environ[i];
	sigemptyset(&none);
	sigfillset(&all);
	posix_spawnattr_init(&attr);
	posix_spawnattr_setsigmask(&attr, &none);
	posix_spawnattr_setsigdefault(&attr, &all);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
	r = posix_spawn(&pid, prog, NULL, &attr, argv, envp);
	posix_spawnattr_destroy(&attr);
	free(envp);
	if (r)
		return -r;
	/* It exits once the broker it forked listens. */
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	return 0;
}

static void sleep_ns(long ns)
{
	struct timespec ts = { ns / 1000000000, ns % 1000000000 };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

static int hello(int fd);
static void stub_announce_locked(void);
static int roundtrip_to_locked(struct ipc_msg *req, struct ipc_msg *rep, uint64_t owner);
static int roundtrip_carrying_locked(struct ipc_msg *req, const int *extra, unsigned int n_extra,
				     struct ipc_msg *rep, uint64_t owner);

void client_set_fd_floor(int min)
{
	__atomic_store_n(&fd_floor, min, __ATOMIC_RELAXED);
}

int client_own_fd(void)
{
	return __atomic_load_n(&conn_fd, __ATOMIC_RELAXED);
}

/*
 * Doorbells: the eventfd of each slot this process waited or signaled on,
 * kept (above the fd floor, FD_CLOEXEC) in a small table; the oldest is
 * closed when it is full.  Beside each, once this process has polled with
 * it, its wait set: an epoll set of this process's own in which the
 * doorbell is edge-triggered (client_doorbell_set()).  Entries change under
 * doors_lock (a leaf, but for the rare round trip that asks for a new one,
 * made holding conn_lock and then doors_lock); client_fd_is_own() reads the
 * fds without it.
 */
#define DOORS 32
struct door {
	int fd;		/* -1: empty */
	int set;	/* -1: none yet */
	bool set_taken;	/* a poll waits on it */
	uint32_t slot1, gen;
	uint64_t broker;
	unsigned int users;	/* polls and INCs using it now (never closed then) */
};
static struct door doors[DOORS] = { [0 ... DOORS - 1] = { .fd = -1, .set = -1 } };

static bool fd_is_doorbell(int fd);

/* Close @d's wait set, if it has one (doors_lock held, or a fork child). */
static void door_close_set(struct door *d)
{
	int set = d->set;

	d->set_taken = false;
	if (set >= 0) {
		__atomic_store_n(&d->set, -1, __ATOMIC_RELAXED);
		close(set);
	}
}

/* In a fork child: the threads that used doorbells are the parent's, and so
 * are the wait sets (an epoll set is one object, whoever holds it: parent
 * and child would take each other's rings); the child makes its own. */
static void doors_fork_child(void)
{
	for (unsigned int i = 0; i < DOORS; i++) {
		doors[i].users = 0;
		door_close_set(&doors[i]);
	}
}

bool client_fd_is_own(int fd)
{
	/* In a fork child, the parent's connection's number is kept for the
	 * child's own connection: the library's too (a read there would take
	 * the parent's replies). */
	return fd >= 0 && (fd == __atomic_load_n(&conn_fd, __ATOMIC_RELAXED) ||
			   fd == __atomic_load_n(&inherited_fd, __ATOMIC_RELAXED) ||
			   fd == __atomic_load_n(&stub_fd, __ATOMIC_RELAXED) || fd_is_doorbell(fd) ||
			   client_adopt_fd_is_own(fd));
}

/* @fd moved to a number at or above the floor, if one is set. */
static int above_floor(int fd)
{
	int min = __atomic_load_n(&fd_floor, __ATOMIC_RELAXED), high;

	if (min <= 0 || fd >= min)
		return fd;
	high = fcntl(fd, F_DUPFD_CLOEXEC, min);
	if (high < 0)
		return fd;	/* no room up there: stay */
	close(fd);
	return high;
}

int client_fd_above_floor(int fd)
{
	return above_floor(fd);
}

/**
 * client_move_own_fd() - move the broker connection off the number @fd
 * @fd: a number the program wants for itself (its dup2()/dup3() onto it)
 *
 * If @fd is the connection, it is copied to the lowest free number at or
 * above the floor (client_set_fd_floor(); 0 if none), and requests use the
 * copy from then on.  Done under the connection's lock: a request in flight
 * in another thread ends on the old number, the next one starts on the
 * new.  @fd is left open, a copy of the same connection that the client no
 * longer uses, so that no other thread can be given the number before the
 * caller replaces it (dup2()/dup3()) or closes it.  Takes the lock: not
 * for a signal handler that interrupted this thread in the client
 * (client_busy()).
 *
 * Return: 0 if the connection moved; -ENOENT if @fd is not it; else the
 * negative errno of fcntl(F_DUPFD_CLOEXEC) (no room above the floor), and
 * the connection stays at @fd.
 */
/* The fd in *@slot copied to the lowest free number >= @min (0 if none),
 * which *@slot holds from then on.  Return: 0 or a negative errno. */
static int move_slot(int *slot, int min)
{
	int high = fcntl(*slot, F_DUPFD_CLOEXEC, min > 0 ? min : 0);

	if (high < 0)
		return -errno;
	__atomic_store_n(slot, high, __ATOMIC_RELAXED);
	return 0;
}

int client_move_own_fd(int fd)
{
	int min = __atomic_load_n(&fd_floor, __ATOMIC_RELAXED), r = -ENOENT;
	bool moved_stub = false;

	client_lock(&conn_lock);
	if (fd >= 0 && fd == __atomic_load_n(&inherited_fd, __ATOMIC_RELAXED)) {
		/* The parent's connection, kept for adoption: give the number
		 * up (the child's own connection goes high instead). */
		__atomic_store_n(&inherited_fd, -1, __ATOMIC_RELAXED);
		r = 0;
	}
	if (fd >= 0 && r == -ENOENT && fd == conn_fd) {
		client_lock(&send_lock);
		r = move_slot(&conn_fd, min);
		client_unlock(&send_lock);
	}
	/* A doorbell (the timeline page's) and its wait set move the same
	 * way (the set's registration follows the doorbell's open file, not
	 * its number). */
	client_lock(&doors_lock);
	for (unsigned int i = 0; fd >= 0 && r == -ENOENT && i < DOORS; i++) {
		if (doors[i].fd == fd)
			r = move_slot(&doors[i].fd, min);
		else if (doors[i].set == fd)
			r = move_slot(&doors[i].set, min);
	}
	client_unlock(&doors_lock);
	/* And the stub's sync file. */
	client_lock(&stub_lock);
	if (fd >= 0 && r == -ENOENT && fd == stub_fd) {
		r = move_slot(&stub_fd, min);
		moved_stub = !r;
	}
	client_unlock(&stub_lock);
	if (moved_stub)
		stub_announce_locked();
	client_unlock(&conn_lock);
	/* And the CPU-access channel (its lock comes before conn_lock). */
	if (r == -ENOENT)
		r = client_adopt_move_fd(fd, min);
	return r;
}

int client_default_fd_floor(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl))
		return 0;
	if (rl.rlim_cur >= 1024 + 64)
		return 1024;
	return rl.rlim_cur >= 128 ? (int)rl.rlim_cur - 64 : 0;
}

/*
 * @fd (the library's, kept for the life of the process) moved out of the
 * program's numbering: above the floor if one is set (the preload), else
 * where the preload would put it (client_default_fd_floor()).
 */
static int kept_high(int fd)
{
	int min, high;

	if (__atomic_load_n(&fd_floor, __ATOMIC_RELAXED) > 0)
		return above_floor(fd);
	min = client_default_fd_floor();
	if (!min || fd >= min)
		return fd;
	high = fcntl(fd, F_DUPFD_CLOEXEC, min);
	if (high < 0)
		return fd;
	close(fd);
	return high;
}

/*
 * conn_lock held.  In a fork child, move the new connection @fd to the
 * number the parent's connection had, if that number still holds it (the
 * program may have closed it and reused the number).  Return: the fd.
 */
static int adopt_number(int fd)
{
	struct stat st;
	int old = __atomic_load_n(&inherited_fd, __ATOMIC_RELAXED);

	__atomic_store_n(&inherited_fd, -1, __ATOMIC_RELAXED);
	if (old >= 0 && !fstat(old, &st) && S_ISSOCK(st.st_mode) && st.st_ino == conn_ino &&
	    dup3(fd, old, O_CLOEXEC) == old) {
		close(fd);
		fd = old;
	} else {
		fd = above_floor(fd);
	}
	if (!fstat(fd, &st))
		conn_ino = st.st_ino;
	return fd;
}

/*
 * conn_lock held: a connected socket, or a negative errno.  Nobody
 * listening: start a broker, and again every ~0.5 s while nobody answers
 * (a broker that was leaving resets connections it had not accepted), for
 * up to ~5 s.
 */
static int connect_locked(void)
{
	return connect_spawning_locked(true);
}

/*
 * conn_lock held.  Without @may_spawn, a broker that does not run is not
 * started: asking whether an fd is one of its objects must not start one
 * (if none runs, none of its objects exist).
 */
static int connect_spawning_locked(bool may_spawn)
{
	char path[PATH_MAX];
	long wait_ns = 1000000, since_spawn = -1;
	int fd = -ECONNREFUSED, r;

	if (conn_fd >= 0)
		return conn_fd;
	r = ipc_default_socket(path, sizeof(path));
	if (r)
		return r;
	for (long waited = 0; waited < 5000000000l; waited += wait_ns) {
		fd = try_connect(path);
		if (fd >= 0) {
			r = hello(fd);
			if (!r) {
				conn_fd_set_locked(adopt_number(fd));
				/* A fork child keeps its parent's copy. */
				stub_announce_locked();
				return conn_fd;
			}
			close(fd);
			if (r != -ECONNREFUSED)
				return r;
			fd = r;
		} else if (fd != -ENOENT && fd != -ECONNREFUSED) {
			return fd;
		}
		if (!may_spawn)
			return fd;
		if (since_spawn < 0 || since_spawn >= 500000000) {
			r = spawn_broker(path);
			if (r)
				return r == -ENOENT ? -ECONNREFUSED : r;
			since_spawn = 0;
		}
		sleep_ns(wait_ns);
		since_spawn += wait_ns;
		if (wait_ns < 50000000)
			wait_ns *= 2;
	}
	return fd;
}

/*
 * One round trip: send @req (its fds borrowed), receive the reply into
 * @rep (payload: rx_buf; its fds the caller's).  conn_lock held.  A broken
 * connection is dropped: the next call reconnects (to a new broker, if
 * this one died).  Return: 0 or a negative errno of the transport.
 */
static int roundtrip_locked(struct ipc_msg *req, struct ipc_msg *rep)
{
	return roundtrip_to_locked(req, rep, 0);
}

/*
 * The same, for a request on an object of broker instance @owner (0: any):
 * -ENOLINK if that broker is gone, even if a new one answers now.  For
 * such a request no broker is started: if none answers, @owner is gone
 * too (starting one only to learn that took up to 5 s on a loaded machine,
 * and then failed with the last connect()'s ENOENT).
 */
static int roundtrip_to_locked(struct ipc_msg *req, struct ipc_msg *rep, uint64_t owner)
{
	return roundtrip_carrying_locked(req, NULL, 0, rep, owner);
}

/*
 * The same, with @n_extra more fds (@extra, borrowed) sent just before
 * @req in IPC_FDS messages, the first of which drops what an attempt
 * before this one left with the broker (an IPC_IOCTL naming more files
 * than one message carries; ipc.h).
 */
static int roundtrip_carrying_locked(struct ipc_msg *req, const int *extra, unsigned int n_extra,
				     struct ipc_msg *rep, uint64_t owner)
{
	bool again = true;
	int fd, r;

retry:
	fd = owner ? connect_spawning_locked(false) : connect_locked();
	r = 0;
	if (fd < 0)
		return owner && (fd == -ENOENT || fd == -ECONNREFUSED) ? -ENOLINK : fd;
	if (owner && owner != broker_id)
		return -ENOLINK;
	for (unsigned int done = 0; !r && done < n_extra;) {
		struct ipc_msg m = { .hdr = { .op = IPC_FDS, .arg0 = !done } };

		m.nfds = n_extra - done < IPC_MAX_FDS ? n_extra - done : IPC_MAX_FDS;
		memcpy(m.fds, extra + done, m.nfds * sizeof(int));
		done += m.nfds;
		r = ipc_send(fd, &m, 0);
	}
	if (!r) {
		req->hdr.seq = next_seq();
		r = ipc_send(fd, req, 0);
	}
	/* Our fd taken from under us: once more, on a new connection. */
	if (again && conn_lost_locked(r)) {
		again = false;
		goto retry;
	}
	if (r == -EBADF)
		return r;	/* an attached fd: the caller decides */
	if (!r) {
		rep->payload = rx_buf;
		r = ipc_recv(fd, rep, 0);
		if (!r && rep->hdr.seq != req->hdr.seq) {
			ipc_msg_close_fds(rep);
			r = -EPROTO;
		}
	}
	if (r && r != -EMFILE) {
		conn_drop_locked();
		return r == -ECONNRESET || r == -EPIPE || r == -EPROTO ? -ENOLINK : r;
	}
	return r;
}

/*
 * The diagnostics the process asks for (DMASYNC_FAULT, DMASYNC_WATCHDOG in
 * seconds), as HELLO's text (ipc.h) into @buf, and the fd they are reported
 * on: DMASYNC_LOG opened for appending (*@opened set), else stderr.
 * Return: the text's length (0: nothing asked).
 */
static size_t diagnostics(char *buf, size_t len, int *log_fd, bool *opened)
{
	const char *fault = getenv("DMASYNC_FAULT"), *wd = getenv("DMASYNC_WATCHDOG");
	const char *log = getenv("DMASYNC_LOG");
	size_t n = 0;

	*log_fd = -1;
	*opened = false;
	if (fault && *fault)
		n += (size_t)snprintf(buf + n, len - n, "fault=%s\n", fault);
	if (wd && *wd && n < len) {
		double sec = strtod(wd, NULL);

		if (sec > 0)
			n += (size_t)snprintf(buf + n, len - n, "watchdog=%lu\n",
					      (unsigned long)(sec * 1000 + 0.5));
	}
	if (n >= len)
		return 0;
	if (!n)
		return 0;
	if (log && *log) {
		*log_fd = open(log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
		*opened = *log_fd >= 0;
	}
	if (*log_fd < 0 && fcntl(2, F_GETFD) >= 0)
		*log_fd = 2;
	return n;
}

/* ---- the timeline page (src/ipc/tlpage.h) -------------------------------------------- */

/*
 * The page of broker instance @broker, mapped.  One per broker this
 * process has talked to, never unmapped: a thread may be reading the old
 * one while another connects to a new broker.  Published with one store.
 */
struct page_map {
	void *base;
	uint64_t broker;
};
static struct page_map *page_cur;

/* A mapping the preload cannot see (its mmap() would ask what @fd is,
 * and we hold the connection's lock). */
static void *map_raw(size_t len, int prot, int flags, int fd)
{
	long p = syscall(SYS_mmap, NULL, len, prot, flags, fd, 0L);

	return p < 0 && p > -4096 ? MAP_FAILED : (void *)p;
}

/* conn_lock held: the page @fd that broker @id sent with HELLO (consumed). */
static void page_adopt(int fd, uint64_t id)
{
	struct page_map *cur = __atomic_load_n(&page_cur, __ATOMIC_ACQUIRE), *pm;
	struct stat st;
	void *p = MAP_FAILED;

	if (!(cur && cur->broker == id) && !fstat(fd, &st) && st.st_size >= (off_t)TLPAGE_SIZE)
		p = map_raw(TLPAGE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd);
	close(fd);
	if (p == MAP_FAILED)
		return;
	pm = map_raw(sizeof(*pm), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1);
	if (pm == MAP_FAILED || __atomic_load_n(&tlpage_hdr(p)->magic, __ATOMIC_ACQUIRE) != TLPAGE_MAGIC ||
	    tlpage_hdr(p)->nslots != TLPAGE_SLOTS ||
	    tlpage_hdr(p)->slot_size != sizeof(struct tlpage_slot)) {
		munmap(p, TLPAGE_SIZE);
		if (pm != MAP_FAILED)
			munmap(pm, sizeof(*pm));
		return;
	}
	pm->base = p;
	pm->broker = id;
	__atomic_store_n(&page_cur, pm, __ATOMIC_RELEASE);
}

/* The page that describes @obj's timeline, or NULL. */
static void *page_of(const struct client_obj *obj)
{
	struct page_map *pm = __atomic_load_n(&page_cur, __ATOMIC_ACQUIRE);

	if (!obj->tl_slot || obj->dead || !pm || pm->broker != obj->broker)
		return NULL;
	return pm->base;
}

int client_point_state(const struct client_obj *obj)
{
	void *page = page_of(obj);
	uint64_t c;

	if (!page || obj->kind != IPC_KIND_SYNC_FILE ||
	    !tlpage_read(page, obj->tl_slot - 1, obj->tl_gen, &c))
		return -1;
	return tlpage_passed(obj->mark, c);
}

bool client_point_broker_alive(const struct client_obj *obj)
{
	void *page = page_of(obj);

	return page && tlpage_broker_alive(page);
}

unsigned int client_buffer_ready(const struct client_obj *obj)
{
	void *page = page_of(obj);

	if (!page || obj->kind != IPC_KIND_DMA_BUF)
		return 0;
	return tlpage_buf_ready(page, obj->tl_slot - 1, obj->tl_gen);
}

void client_point_waiting(const struct client_obj *obj, bool waiting)
{
	void *page = page_of(obj);

	if (page)
		__atomic_add_fetch(&tlpage_slot(page, obj->tl_slot - 1)->waiters,
				   waiting ? 1u : (uint32_t)-1, __ATOMIC_SEQ_CST);
}

int client_kept_fds(int *fds, int max)
{
	int n = 0, one[4] = {
		__atomic_load_n(&conn_fd, __ATOMIC_RELAXED),
		__atomic_load_n(&inherited_fd, __ATOMIC_RELAXED),
		__atomic_load_n(&stub_fd, __ATOMIC_RELAXED),
		client_adopt_fd(),
	};

	for (unsigned int i = 0; i < 4 && n < max; i++)
		if (one[i] >= 0)
			fds[n++] = one[i];
	for (unsigned int i = 0; i < DOORS && n < max; i++) {
		int fd = __atomic_load_n(&doors[i].fd, __ATOMIC_RELAXED),
		    set = __atomic_load_n(&doors[i].set, __ATOMIC_RELAXED);

		if (fd >= 0)
			fds[n++] = fd;
		if (set >= 0 && n < max)
			fds[n++] = set;
	}
	return n;
}

static bool fd_is_doorbell(int fd)
{
	for (unsigned int i = 0; i < DOORS; i++)
		if (__atomic_load_n(&doors[i].fd, __ATOMIC_RELAXED) == fd ||
		    __atomic_load_n(&doors[i].set, __ATOMIC_RELAXED) == fd)
			return true;
	return false;
}

/* doors_lock held: the entry of @obj's slot, or NULL. */
static struct door *door_find_locked(const struct client_obj *obj)
{
	for (unsigned int i = 0; i < DOORS; i++)
		if (doors[i].fd >= 0 && doors[i].slot1 == obj->tl_slot &&
		    doors[i].gen == obj->tl_gen && doors[i].broker == obj->broker)
			return &doors[i];
	return NULL;
}

/* doors_lock held: a doorbell entry that may be (re)used, or NULL: an
 * empty one, else one nobody uses whose timeline is gone, else the first
 * one nobody uses. */
static struct door *door_free_locked(void)
{
	struct page_map *pm = __atomic_load_n(&page_cur, __ATOMIC_ACQUIRE);
	struct door *idle = NULL;

	for (unsigned int i = 0; i < DOORS; i++) {
		struct door *d = &doors[i];

		if (d->fd < 0)
			return d;
		if (d->users)
			continue;
		if (!pm || pm->broker != d->broker ||
		    __atomic_load_n(&tlpage_slot(pm->base, d->slot1 - 1)->gen, __ATOMIC_ACQUIRE) !=
			    d->gen)
			return d;	/* its timeline is gone */
		if (!idle)
			idle = d;
	}
	return idle;
}

int client_doorbell(const struct client_obj *obj)
{
	struct ipc_msg req = { .hdr = { .op = IPC_DOORBELL } }, rep;
	struct door *d = NULL;
	int fd = -1, r;

	if (!page_of(obj))
		return -ENOENT;
	/* Known: doors_lock alone (no wait for another thread's request). */
	client_lock(&doors_lock);
	if ((d = door_find_locked(obj))) {
		d->users++;
		fd = d->fd;
	}
	client_unlock(&doors_lock);
	if (fd >= 0)
		return fd;
	/* Asked for: entries are added under both locks, so it is looked for
	 * again; doors_lock is held across this rare round trip. */
	client_lock(&conn_lock);
	client_lock(&doors_lock);
	if ((d = door_find_locked(obj)))
		fd = d->fd;
	else if ((d = door_free_locked())) {
		/* Every entry in use: no doorbell; the poll waits for the
		 * broker's record instead. */
		req.hdr.arg0 = obj->tl_slot;
		req.hdr.arg1 = obj->tl_gen;
		r = roundtrip_to_locked(&req, &rep, obj->broker);
		if (!r && rep.hdr.ret == 0 && rep.nfds == 1) {
			fd = kept_high(rep.fds[0]);
			if (d->fd >= 0) {
				int old = d->fd;

				__atomic_store_n(&d->fd, -1, __ATOMIC_RELAXED);
				close(old);
			}
			door_close_set(d);
			d->slot1 = obj->tl_slot;
			d->gen = obj->tl_gen;
			d->broker = obj->broker;
			d->users = 0;
			__atomic_store_n(&d->fd, fd, __ATOMIC_RELAXED);
		} else if (!r) {
			ipc_msg_close_fds(&rep);
		}
	}
	if (fd >= 0)
		d->users++;
	client_unlock(&doors_lock);
	client_unlock(&conn_lock);
	return fd >= 0 ? fd : -ENOENT;
}

/* A new wait set of the doorbell @door, moved out of the program's numbering
 * if it is to be @kept.  Return: its fd or -errno. */
static int door_set_make(int door, bool kept)
{
	struct epoll_event ev = { .events = EPOLLIN | EPOLLET };
	int set = epoll_create1(EPOLL_CLOEXEC), r;

	if (set < 0)
		return -errno;
	if (epoll_ctl(set, EPOLL_CTL_ADD, door, &ev)) {
		r = -errno;
		close(set);
		return r;
	}
	return kept ? kept_high(set) : set;
}

int client_doorbell_set(int fd, bool *own)
{
	int set = -ENOENT;
	bool taken = false;

	*own = false;
	client_lock(&doors_lock);
	for (unsigned int i = 0; i < DOORS; i++) {
		struct door *d = &doors[i];

		if (d->fd != fd || !d->users)
			continue;
		taken = d->set_taken;
		if (taken)
			break;
		if (d->set < 0) {
			set = door_set_make(fd, true);
			if (set >= 0)
				__atomic_store_n(&d->set, set, __ATOMIC_RELAXED);
		}
		if (d->set >= 0) {
			set = d->set;
			d->set_taken = true;
		}
		break;
	}
	client_unlock(&doors_lock);
	if (taken) {
		/* Another thread waits on the kept one: a set for this call
		 * (the caller's use of @fd keeps it open meanwhile). */
		set = door_set_make(fd, false);
		*own = set >= 0;
	}
	return set;
}

void client_doorbell_set_put(int fd, int set, bool own)
{
	if (own) {
		close(set);
		return;
	}
	/* Either number may have moved meanwhile (a dup2() onto it): the
	 * entry is the one holding either. */
	client_lock(&doors_lock);
	for (unsigned int i = 0; i < DOORS; i++)
		if (doors[i].set_taken && (doors[i].fd == fd || doors[i].set == set)) {
			doors[i].set_taken = false;
			break;
		}
	client_unlock(&doors_lock);
}

void client_doorbell_put(int fd)
{
	client_lock(&doors_lock);
	for (unsigned int i = 0; i < DOORS; i++)
		if (doors[i].fd == fd && doors[i].users) {
			doors[i].users--;
			break;
		}
	client_unlock(&doors_lock);
}

void client_settle(void)
{
	struct page_map *pm = __atomic_load_n(&page_cur, __ATOMIC_ACQUIRE);
	struct ipc_msg req = { .hdr = { .op = IPC_SETTLE } }, rep;
	int saved;

	/* Not in a signal handler that interrupted us holding the lock. */
	if (!pm || !tlpage_unsettled(pm->base) || client_busy())
		return;
	saved = errno;
	client_lock(&conn_lock);
	if (!roundtrip_to_locked(&req, &rep, pm->broker))
		ipc_msg_close_fds(&rep);
	client_unlock(&conn_lock);
	errno = saved;
}

void client_settle_hangups(void)
{
	struct ipc_msg req = { .hdr = { .op = IPC_SETTLE, .arg0 = IPC_SETTLE_HANGUPS } }, rep;
	uint64_t owner;
	int saved;

	/* Not connected: nothing of ours the child could have held (and no
	 * broker is started for this).  Not in a signal handler that
	 * interrupted us holding the lock. */
	if (__atomic_load_n(&conn_fd, __ATOMIC_RELAXED) < 0 || client_busy())
		return;
	saved = errno;
	client_lock(&conn_lock);
	owner = broker_id;
	if (owner && !roundtrip_to_locked(&req, &rep, owner))
		ipc_msg_close_fds(&rep);
	client_unlock(&conn_lock);
	errno = saved;
}

/* The doorbell of @obj's slot if this process holds it already (a user
 * more, for client_doorbell_put()), or -1: never a request. */
static int doorbell_held(const struct client_obj *obj)
{
	struct door *d;
	int fd = -1;

	client_lock(&doors_lock);
	if ((d = door_find_locked(obj))) {
		d->users++;
		fd = d->fd;
	}
	client_unlock(&doors_lock);
	return fd;
}

/*
 * SW_SYNC_IOC_INC in the timeline page: add, ring the doorbell if someone
 * polls with it (the poller wakes on this write, not on the broker's
 * record), and wake the broker.  No round trip: every later request is
 * answered after the broker applied the page, every poll through dmasync
 * decides the timeline's points from the page, and one that lets the
 * kernel report other sync files settles first (client_settle()).  Return:
 * the ioctl's result, or -EAGAIN if the timeline has no fast slot (an
 * ordinary request).
 */
static long inc_in_page(const struct client_obj *obj, void *arg)
{
	struct ipc_msg nudge = { .hdr = { .op = IPC_NUDGE } };
	void *page = page_of(obj);
	uint32_t inc;
	uint64_t c;
	bool first, rang = false;
	int door, r;

	if (!page || obj->kind != IPC_KIND_TIMELINE ||
	    !tlpage_read(page, obj->tl_slot - 1, obj->tl_gen, &c))
		return -EAGAIN;
	if (copy_from_user(&inc, arg, sizeof(inc)))
		return -EFAULT;
	/* The broker must wake for what no dirty mark announced yet (@first:
	 * any later INC has that wake-up on its way, and the broker takes
	 * every mark when it applies, the summary first).  It watches the
	 * doorbells: a ring for the pollers is its wake-up too, and the
	 * first INC rings one this process holds rather than send a nudge. */
	if (tlpage_add(page, obj->tl_slot - 1, inc, ktime_get(), &first))
		door = client_doorbell(obj);
	else
		door = first ? doorbell_held(obj) : -1;
	if (door >= 0) {
		uint64_t one = 1;
		int saved = errno;

		/* Failed (EAGAIN: the counter is full, readable for pollers,
		 * but a write that adds nothing wakes nobody): the nudge. */
		rang = write(door, &one, sizeof(one)) == sizeof(one);
		errno = saved;
		client_doorbell_put(door);
	}
	/* Otherwise one message, no reply, which brings the sync files' own
	 * readiness (and everything made of the points) up to date, sent
	 * past another thread's round trip (-EAGAIN: its queue is full, so
	 * it has this to drain anyway).  A broker that died is noticed here,
	 * as by a request (-ENOLINK); without a nudge to send, by the page's
	 * life word, and a send then confirms it (the word is in shared
	 * memory any client may scribble on). */
	if ((rang || !first) && tlpage_broker_alive(page))
		return 0;
	r = send_oneway(obj->broker, &nudge, MSG_DONTWAIT);
	return r == -EAGAIN ? 0 : r;
}

static int hello(int fd)
{
	struct ipc_msg req = { .hdr = { .op = IPC_HELLO, .arg0 = IPC_VERSION, .arg1 = (uint64_t)getpid() } };
	struct ipc_msg rep = { .payload = rx_buf };
	char text[512];
	bool opened;
	int log_fd, r;

	req.hdr.len = (uint32_t)diagnostics(text, sizeof(text), &log_fd, &opened);
	req.payload = text;
	if (req.hdr.len && log_fd >= 0)
		req.fds[req.nfds++] = log_fd;
	r = ipc_send(fd, &req, 0);
	if (opened)
		close(log_fd);

	if (!r)
		r = ipc_recv(fd, &rep, 0);
	if (r)
		return r == -ECONNRESET || r == -EPIPE ? -ECONNREFUSED : r;
	if (rep.hdr.ret != IPC_VERSION) {
		ipc_msg_close_fds(&rep);
		return -EPROTO;
	}
	if (rep.nfds == 1)
		page_adopt(rep.fds[0], rep.hdr.arg1);
	else
		ipc_msg_close_fds(&rep);
	__atomic_store_n(&broker_id, rep.hdr.arg1, __ATOMIC_RELAXED);
	return 0;
}

/* ---- known objects ---------------------------------------------------------------------- */

/*
 * A cache of (dev, ino) -> what the broker said, positive or negative:
 * 2048 sets of 4 entries, zero (empty) until used, so that only the
 * pages a process uses are its memory (160 bytes an entry).  Entries carry
 * the broker's instance id: an object of a broker that died answers
 * -ENOLINK.  A full set evicts in turn (the next lookup of the evicted
 * inode asks the broker again, one round trip: with one entry per set,
 * 4096 in all, a process holding 3500 live sync files asked again for up
 * to half of its lookups, depending on their inode numbers).
 */
#define KNOWN_SET_BITS 11
#define KNOWN_WAYS 4
#define KNOWN_BITS (KNOWN_SET_BITS + 2)
struct known {
	dev_t dev;
	ino_t ino;
	uint64_t broker;
	uint64_t size;
	int kind1;	/* enum ipc_kind + 1; 0: empty */
	uint32_t tl_slot, tl_gen;
	uint64_t mark;
	char name[32];	/* a sync file's, with tl_slot or points */
	unsigned int n_points;	/* a merge's, in the page (struct ipc_newfd) */
	struct ipc_point points[IPC_POINTS_MAX];
};
static pthread_mutex_t known_lock = PTHREAD_MUTEX_INITIALIZER;	/* a leaf */
static struct known known[1u << KNOWN_BITS];

static unsigned char known_next[1u << KNOWN_SET_BITS];	/* each set's next victim */

static unsigned int known_set(dev_t dev, ino_t ino)
{
	uint64_t h = ((uint64_t)dev * 0x9E3779B97F4A7C15ull) ^ ((uint64_t)ino * 0xC2B2AE3D27D4EB4Full);

	return (unsigned int)(h >> (64 - KNOWN_SET_BITS));
}

/* known_lock held: the entry of (@dev, @ino), or NULL. */
static struct known *known_find_locked(dev_t dev, ino_t ino)
{
	struct known *set = &known[known_set(dev, ino) * KNOWN_WAYS];

	for (unsigned int w = 0; w < KNOWN_WAYS; w++)
		if (set[w].kind1 && set[w].dev == dev && set[w].ino == ino)
			return &set[w];
	return NULL;
}

/* known_lock held: the entry to (re)write for (@dev, @ino): its own, an
 * empty one, or the set's next victim. */
static struct known *known_slot_locked(dev_t dev, ino_t ino)
{
	unsigned int i = known_set(dev, ino);
	struct known *k = known_find_locked(dev, ino), *set = &known[i * KNOWN_WAYS];

	if (k)
		return k;
	for (unsigned int w = 0; w < KNOWN_WAYS; w++)
		if (!set[w].kind1)
			return &set[w];
	k = &set[known_next[i]];
	known_next[i] = (unsigned char)((known_next[i] + 1) % KNOWN_WAYS);
	return k;
}

/* @nf: what the broker said of it beyond its kind and size, or NULL. */
static void known_put(dev_t dev, ino_t ino, int kind, uint64_t size, uint64_t broker,
		      const struct ipc_newfd *nf)
{
	struct known *k;

	client_lock(&known_lock);
	k = known_slot_locked(dev, ino);
	k->dev = dev;
	k->ino = ino;
	k->kind1 = kind + 1;
	k->size = size;
	k->broker = broker;
	k->tl_slot = nf ? nf->tl_slot : 0;
	k->tl_gen = nf ? nf->tl_gen : 0;
	k->mark = nf ? nf->mark : 0;
	k->n_points = nf && nf->n_points <= IPC_POINTS_MAX ? nf->n_points : 0;
	if (nf) {
		memcpy(k->name, nf->name, sizeof(k->name));
		memcpy(k->points, nf->points, sizeof(k->points));
	}
	k->name[sizeof(k->name) - 1] = '\0';
	client_unlock(&known_lock);
}

/* The points in the page of the sync file (@dev, @ino) of several sw_sync
 * points, if known, and its FILE_INFO name.  Return: their number, or 0. */
static unsigned int known_points(dev_t dev, ino_t ino, char name[32],
				 struct ipc_point points[IPC_POINTS_MAX])
{
	unsigned int n = 0;
	struct known *k;

	client_lock(&known_lock);
	k = known_find_locked(dev, ino);
	if (k && k->kind1 == IPC_KIND_SYNC_FILE + 1 && k->n_points) {
		n = k->n_points;
		memcpy(name, k->name, 32);
		memcpy(points, k->points, n * sizeof(points[0]));
	}
	client_unlock(&known_lock);
	return n;
}

/* The FILE_INFO name of the sync file (@dev, @ino) of one sw_sync point,
 * if known.  Return: true and @name filled. */
static bool known_name(dev_t dev, ino_t ino, char name[32])
{
	struct known *k;
	bool ok = false;

	client_lock(&known_lock);
	k = known_find_locked(dev, ino);
	if (k && k->kind1 == IPC_KIND_SYNC_FILE + 1 && k->tl_slot) {
		memcpy(name, k->name, 32);
		ok = true;
	}
	client_unlock(&known_lock);
	return ok;
}

/* Return: the kind, or -1 if unknown. */
static int known_get(dev_t dev, ino_t ino, struct client_obj *obj)
{
	struct known *k;
	int kind = -1;

	client_lock(&known_lock);
	k = known_find_locked(dev, ino);
	if (k) {
		kind = k->kind1 - 1;
		obj->size = k->size;
		obj->broker = k->broker;
		obj->tl_slot = k->tl_slot;
		obj->tl_gen = k->tl_gen;
		obj->mark = k->mark;
		obj->dead = kind != IPC_KIND_NONE && k->broker != __atomic_load_n(&broker_id, __ATOMIC_RELAXED);
	}
	client_unlock(&known_lock);
	return kind;
}

/* ---- fd numbers, when every close is seen (the preload) ---------------------------- */

/*
 * Under the preload, which wraps every libc call that closes an fd or puts
 * another file at a number (close, close_range, dup2, dup3, fclose...),
 * what an fd number refers to can only change through those wrappers, so
 * what was found out about a number stays true until they say otherwise:
 * a table by fd number answers client_find() with no system call (a
 * program's calls on its own fds then cost one table lookup).  Without the
 * preload the program may close fds behind our back, and the table is not
 * used.  Fds closed by raw system calls or inside libc (not through its
 * exported functions) are outside this; docs/kernel-compat.md.
 */
#define FDT_CHUNK CLIENT_FDT_CHUNK
#define FDT_CHUNKS CLIENT_FDT_CHUNKS
/* FD_CLOSING: being closed (or replaced); looked up like FD_UNKNOWN, and
 * what is found out then is not recorded. */
enum {
	FD_UNKNOWN = CLIENT_FD_UNKNOWN,
	FD_NONE = CLIENT_FD_NONE,
	FD_OURS,
	FD_CLOSING = CLIENT_FD_CLOSING_STATE,
};
#define fd_slot client_fd_slot
static bool fdt_trusted;
static pthread_mutex_t fdt_lock = PTHREAD_MUTEX_INITIALIZER;	/* a leaf */
struct client_fd_slot client_fdt_chunk0[CLIENT_FDT_CHUNK];
struct client_fd_slot *client_fdt[CLIENT_FDT_CHUNKS] = { client_fdt_chunk0 };
#define fdt client_fdt

void client_trust_fd_numbers(void)
{
	__atomic_store_n(&fdt_trusted, true, __ATOMIC_RELEASE);
}

/*
 * The slot of @fd, its chunk allocated if @make, or NULL.  Chunk 0 is
 * static; the others are mmap()ed and published with a compare-and-swap,
 * never freed: a lookup,
 * and the state-only updates below, take no lock and allocate nothing that
 * a signal handler could not (the preload's close() and read() run there).
 */
static struct fd_slot *fdt_slot(int fd, bool make)
{
	struct fd_slot *chunk, *fresh;
	unsigned int c = (unsigned int)fd / FDT_CHUNK;

	if (fd < 0 || c >= FDT_CHUNKS)
		return NULL;
	chunk = __atomic_load_n(&fdt[c], __ATOMIC_ACQUIRE);
	if (!chunk && make) {
		fresh = mmap(NULL, FDT_CHUNK * sizeof(*chunk), PROT_READ | PROT_WRITE,
			     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (fresh == MAP_FAILED)
			return NULL;
		if (__atomic_compare_exchange_n(&fdt[c], &chunk, fresh, false, __ATOMIC_ACQ_REL,
						__ATOMIC_ACQUIRE))
			chunk = fresh;
		else
			munmap(fresh, FDT_CHUNK * sizeof(*chunk));	/* another thread's won */
	}
	return chunk ? &chunk[(unsigned int)fd % FDT_CHUNK] : NULL;
}

static int fdt_lookup(int fd, struct client_obj *obj);

/*
 * @fd is @state (FD_NONE, or FD_OURS with @obj).  @learned: the number was
 * just handed to us (a reply's fds), so this is true whatever the slot
 * said; otherwise it was found out by looking, and is recorded only if
 * nothing changed the slot meanwhile (it is still FD_UNKNOWN: not closing,
 * not closed and reused).  An object's identity is written under fdt_lock,
 * which fdt_lookup() takes to read it; FD_NONE is one store.
 */
static void fdt_record(int fd, int state, const struct client_obj *obj, bool learned)
{
	struct fd_slot *s;
	uint8_t expect = FD_UNKNOWN;

	if (!__atomic_load_n(&fdt_trusted, __ATOMIC_ACQUIRE))
		return;
	s = fdt_slot(fd, true);
	if (!s)
		return;
	if (state != FD_OURS || !obj) {
		/* The library's own fds (at the floor and up) are never "not
		 * ours": the wrappers' fast paths would hand them to libc, and
		 * the program never opened them (EBADF, in the slow paths). */
		if (fd >= __atomic_load_n(&fd_floor, __ATOMIC_RELAXED) &&
		    __atomic_load_n(&fd_floor, __ATOMIC_RELAXED) > 0 &&
		    (client_fd_is_own(fd) || client_fd_is_mirror(fd) || uapi_fd_is_own(fd)))
			return;
		if (learned)
			__atomic_store_n(&s->state, FD_NONE, __ATOMIC_RELEASE);
		else
			__atomic_compare_exchange_n(&s->state, &expect, FD_NONE, false,
						    __ATOMIC_ACQ_REL, __ATOMIC_RELAXED);
		return;
	}
	client_lock(&fdt_lock);
	if (learned || __atomic_load_n(&s->state, __ATOMIC_ACQUIRE) == FD_UNKNOWN) {
		s->kind = (uint8_t)obj->kind;
		s->dev = obj->dev;
		s->ino = obj->ino;
		s->size = obj->size;
		s->broker = obj->broker;
		s->tl_slot = obj->tl_slot;
		s->tl_gen = obj->tl_gen;
		s->mark = obj->mark;
		__atomic_store_n(&s->state, FD_OURS, __ATOMIC_RELEASE);
	}
	client_unlock(&fdt_lock);
}

/* Fds @lo..@hi become @state: FD_UNKNOWN or FD_CLOSING.  No lock. */
static void fdt_mark(unsigned int lo, unsigned int hi, uint8_t state)
{
	if (!__atomic_load_n(&fdt_trusted, __ATOMIC_ACQUIRE))
		return;
	for (unsigned int c = lo / FDT_CHUNK; c < FDT_CHUNKS && c <= hi / FDT_CHUNK; c++) {
		struct fd_slot *chunk = __atomic_load_n(&fdt[c], __ATOMIC_ACQUIRE);
		unsigned int a = c * FDT_CHUNK, b = a + FDT_CHUNK - 1;

		if (!chunk)
			continue;
		for (unsigned int fd = a > lo ? a : lo; fd <= b && fd <= hi; fd++)
			__atomic_store_n(&chunk[fd % FDT_CHUNK].state, state, __ATOMIC_RELEASE);
	}
}

void client_fd_made(int fd)
{
	fdt_record(fd, FD_NONE, NULL, true);
}

void client_fds_closing(unsigned int lo, unsigned int hi)
{
	fdt_mark(lo, hi, FD_CLOSING);
}

void client_fds_closed(unsigned int lo, unsigned int hi)
{
	fdt_mark(lo, hi, FD_UNKNOWN);
}

int client_fds_known(unsigned int lo, unsigned int hi, int *fds, struct client_obj *objs,
		     int max)
{
	int n = 0;

	if (!__atomic_load_n(&fdt_trusted, __ATOMIC_ACQUIRE))
		return 0;
	for (unsigned int c = lo / FDT_CHUNK; c < FDT_CHUNKS && c <= hi / FDT_CHUNK; c++) {
		struct fd_slot *chunk = __atomic_load_n(&fdt[c], __ATOMIC_ACQUIRE);
		unsigned int a = c * FDT_CHUNK, b = a + FDT_CHUNK - 1;

		if (!chunk)
			continue;
		for (unsigned int fd = a > lo ? a : lo; fd <= b && fd <= hi && n < max; fd++) {
			if (__atomic_load_n(&chunk[fd % FDT_CHUNK].state, __ATOMIC_ACQUIRE) !=
			    FD_OURS || fdt_lookup((int)fd, &objs[n]) != 1)
				continue;
			fds[n++] = (int)fd;
		}
	}
	return n;
}

int client_fd_copy_elsewhere(dev_t dev, ino_t ino, unsigned int lo, unsigned int hi)
{
	if (!__atomic_load_n(&fdt_trusted, __ATOMIC_ACQUIRE))
		return -1;
	for (unsigned int c = 0; c < FDT_CHUNKS; c++) {
		struct fd_slot *chunk = __atomic_load_n(&fdt[c], __ATOMIC_ACQUIRE);

		if (!chunk)
			continue;
		for (unsigned int i = 0; i < FDT_CHUNK; i++) {
			unsigned int fd = c * FDT_CHUNK + i;
			struct client_obj obj;

			if ((fd >= lo && fd <= hi) ||
			    __atomic_load_n(&chunk[i].state, __ATOMIC_ACQUIRE) != FD_OURS ||
			    fdt_lookup((int)fd, &obj) != 1)
				continue;
			if (obj.dev == dev && obj.ino == ino)
				return 1;
		}
	}
	return 0;
}

void client_fd_copied(int from, int to)
{
	struct fd_slot *s;
	struct client_obj obj;
	int state;

	if (!__atomic_load_n(&fdt_trusted, __ATOMIC_ACQUIRE) || to < 0)
		return;
	s = fdt_slot(from, false);
	state = s ? __atomic_load_n(&s->state, __ATOMIC_ACQUIRE) : FD_UNKNOWN;
	/* In a signal handler that interrupted our own locked code, @to is
	 * left to be identified at its next use. */
	if (state == FD_OURS && (client_busy() || fdt_lookup(from, &obj) != 1))
		state = FD_UNKNOWN;
	if (state == FD_OURS)
		fdt_record(to, FD_OURS, &obj, true);
	else if (state == FD_NONE)
		fdt_record(to, FD_NONE, NULL, true);
	else
		client_fds_closed((unsigned int)to, (unsigned int)to);
}

/* What the table says of @fd: -1 (nothing), 0 (not ours), 1 (@obj filled). */
static int fdt_lookup(int fd, struct client_obj *obj)
{
	struct fd_slot *s;
	int state;

	if (!__atomic_load_n(&fdt_trusted, __ATOMIC_ACQUIRE))
		return -1;
	s = fdt_slot(fd, false);
	state = s ? __atomic_load_n(&s->state, __ATOMIC_ACQUIRE) : FD_UNKNOWN;
	if (state == FD_NONE)
		return 0;
	if (state != FD_OURS)
		return -1;
	client_lock(&fdt_lock);
	state = __atomic_load_n(&s->state, __ATOMIC_ACQUIRE);
	memset(obj, 0, sizeof(*obj));
	obj->kind = (enum ipc_kind)s->kind;
	obj->dev = s->dev;
	obj->ino = s->ino;
	obj->size = s->size;
	obj->broker = s->broker;
	obj->tl_slot = s->tl_slot;
	obj->tl_gen = s->tl_gen;
	obj->mark = s->mark;
	client_unlock(&fdt_lock);
	if (state != FD_OURS)
		return -1;
	obj->dead = obj->broker != __atomic_load_n(&broker_id, __ATOMIC_RELAXED);
	return 1;
}

/* A copy of @fd for the library to keep, made straight at a number where
 * kept_high() would move it (no low number is taken even for a moment). */
static int dup_high(int fd)
{
	int min = __atomic_load_n(&fd_floor, __ATOMIC_RELAXED), high = -1;

	if (min <= 0)
		min = client_default_fd_floor();
	if (min > 0)
		high = fcntl(fd, F_DUPFD_CLOEXEC, min);
	return high >= 0 ? high : fcntl(fd, F_DUPFD_CLOEXEC, 0);
}

/*
 * conn_lock held, connected: tell the broker where the stub's copy is
 * kept, if it is this broker's (IPC_OWN_FD: `dmasync ls` and `leaks` leave
 * the library's own fd out).  For tools only: a failed send is ignored.
 */
static void stub_announce_locked(void)
{
	struct ipc_msg msg = { .hdr = { .op = IPC_OWN_FD } };

	/* No stub_lock: they change with conn_lock held too (and
	 * client_doorbell() gets here holding doors_lock). */
	if (conn_fd >= 0 && stub_fd >= 0 && stub_obj.broker == broker_id) {
		msg.hdr.arg0 = (uint64_t)(int64_t)stub_fd;
		msg.hdr.seq = next_seq();
		(void)ipc_send(conn_fd, &msg, MSG_DONTWAIT);
	}
}

/* conn_lock held: keep a copy of @fd, a sync file of the stub fence, if
 * none of this broker's is kept yet. */
static void stub_adopt(int fd, const struct client_obj *obj)
{
	int copy, old = -1;
	bool kept = false;

	client_lock(&stub_lock);
	if (stub_fd < 0 || stub_obj.broker != obj->broker) {
		copy = dup_high(fd);
		if (copy >= 0) {
			old = stub_fd;
			stub_obj = *obj;
			__atomic_store_n(&stub_fd, copy, __ATOMIC_RELAXED);
			kept = true;
		}
	}
	client_unlock(&stub_lock);
	if (old >= 0)
		close(old);
	if (kept)
		stub_announce_locked();
}

/*
 * EXPORT_SYNC_FILE of the dma-buf @obj when the page says it has nothing
 * unsignaled to wait for in the direction asked (no writer for READ,
 * nothing for WRITE): Linux then exports the stub fence, so the answer is
 * a copy of the stub's sync file kept here, at the lowest free number,
 * FD_CLOEXEC, as Linux's.  No request.  Return: the ioctl's result, or
 * -EAGAIN to ask the broker (bad arguments included: its errors are the
 * kernel's, in the kernel's order).
 */
static long export_stub(const struct client_obj *obj, void *arg)
{
	struct dma_buf_export_sync_file data;
	struct client_obj sf;
	unsigned int want;
	int fd = -1;

	if (__atomic_load_n(&stub_fd, __ATOMIC_RELAXED) < 0 ||
	    copy_from_user(&data, arg, sizeof(data)) || !(data.flags & DMA_BUF_SYNC_RW) ||
	    (data.flags & ~DMA_BUF_SYNC_RW))
		return -EAGAIN;
	want = (data.flags & DMA_BUF_SYNC_WRITE) ? 2u : 1u;
	if ((client_buffer_ready(obj) & want) != want)
		return -EAGAIN;
	client_lock(&stub_lock);
	if (stub_fd >= 0 && stub_obj.broker == obj->broker) {
		fd = fcntl(stub_fd, F_DUPFD_CLOEXEC, 0);
		if (fd < 0)
			fd = -errno;
		sf = stub_obj;
	}
	client_unlock(&stub_lock);
	if (fd == -1)
		return -EAGAIN;
	if (fd < 0)
		return fd;
	data.fd = fd;
	if (copy_to_user(arg, &data, sizeof(data))) {
		close(fd);
		return -EFAULT;
	}
	fdt_record(fd, FD_OURS, &sf, true);
	return 0;
}

/*
 * Per fd number (below FI_HINTS), whether its last FILE_INFO found it
 * pending, or it was made here as a pending sw_sync point's sync file: a
 * hint for the order of the next one's steps, never an answer
 * (client_file_info_wants_identity()).
 */
#define FI_HINTS 1024u
static bool fi_hint[FI_HINTS];

bool client_file_info_wants_identity(int fd)
{
	return (unsigned int)fd < FI_HINTS && __atomic_load_n(&fi_hint[fd], __ATOMIC_RELAXED);
}

static void learn_newfds(const struct ipc_msg *rep, size_t off)
{
	const struct ipc_newfd *nf = (const void *)((const char *)rep->payload + off);
	uint64_t broker = __atomic_load_n(&broker_id, __ATOMIC_RELAXED);

	if (off + rep->nfds * sizeof(*nf) > rep->hdr.len)
		return;
	for (unsigned int i = 0; i < rep->nfds; i++) {
		struct client_obj obj = {
			.kind = (enum ipc_kind)nf[i].kind, .dev = (dev_t)nf[i].dev,
			.ino = (ino_t)nf[i].ino, .size = nf[i].size, .broker = broker,
			.tl_slot = nf[i].tl_slot, .tl_gen = nf[i].tl_gen, .mark = nf[i].mark,
		};

		known_put((dev_t)nf[i].dev, (ino_t)nf[i].ino, (int)nf[i].kind, nf[i].size, broker,
			  &nf[i]);
		fdt_record(rep->fds[i], nf[i].kind ? FD_OURS : FD_NONE, &obj, true);
		if ((unsigned int)rep->fds[i] < FI_HINTS)
			__atomic_store_n(&fi_hint[rep->fds[i]], client_point_state(&obj) == 0,
					 __ATOMIC_RELAXED);
		if ((nf[i].flags & IPC_NEWFD_STUB) && obj.kind == IPC_KIND_SYNC_FILE)
			stub_adopt(rep->fds[i], &obj);
		/* fds arrive FD_CLOEXEC; the request may have asked otherwise. */
		if (nf[i].flags & IPC_NEWFD_INHERIT)
			fcntl(rep->fds[i], F_SETFD, 0);
	}
}

/* The description of an unidentified request's target at @off of @rep. */
static void learn_target(const struct ipc_msg *rep, size_t off)
{
	struct ipc_newfd nf;

	if (off + sizeof(nf) > rep->hdr.len)
		return;
	memcpy(&nf, (const char *)rep->payload + off, sizeof(nf));
	if (nf.kind > IPC_KIND_NONE && nf.kind < IPC_KIND_MAX)
		known_put((dev_t)nf.dev, (ino_t)nf.ino, (int)nf.kind, nf.size,
			  __atomic_load_n(&broker_id, __ATOMIC_RELAXED), &nf);
}

static int client_find_slow(int fd, struct client_obj *obj);

int client_find(int fd, struct client_obj *obj)
{
	int r = fdt_lookup(fd, obj);

	if (r >= 0)
		return r;
	r = client_find_slow(fd, obj);
	if (r >= 0)
		fdt_record(fd, r ? FD_OURS : FD_NONE, r ? obj : NULL, false);
	return r;
}

bool client_fd_still(int fd, const struct client_obj *obj)
{
	struct client_obj now;
	int r = fdt_lookup(fd, &now);

	return r < 0 || (r == 1 && now.dev == obj->dev && now.ino == obj->ino);
}

/* The broker id of objects of a broker this process never knew, found dead. */
#define BROKER_GONE UINT64_MAX

/*
 * The kind of the socket @fd if it is an object of a broker that is gone:
 * marked by a broker (ipc_mark_fd()) and hung up (its peer, the broker's
 * end, closed).  A live broker's objects always have their peer.  *@marked
 * is set if it is a broker's object at all.
 */
static int dead_broker_kind(int fd, bool *marked)
{
	struct pollfd p = { .fd = fd };
	int kind = ipc_marked_kind(fd);

	if (kind == IPC_KIND_NONE)
		return IPC_KIND_NONE;
	*marked = true;
	if (poll(&p, 1, 0) != 1 || !(p.revents & POLLHUP))
		return IPC_KIND_NONE;
	return kind;
}

/*
 * Whether the memfd @fd is a dma-buf of a broker that is gone: named as
 * dma_buf_export() names its memfds (a live broker knows all of its own).
 * One readlink(), on the slow path of a memfd no broker knows.
 */
static bool dead_broker_buffer(int fd)
{
	static const char want[] = "/memfd:" UAPI_DMABUF_MEMFD_NAME " (deleted)";
	char path[40], link[sizeof(want) + 1];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	n = readlink(path, link, sizeof(link));
	return n == (ssize_t)sizeof(want) - 1 && !memcmp(link, want, sizeof(want) - 1);
}

static int client_find_slow(int fd, struct client_obj *obj)
{
	struct ipc_msg req = { .hdr = { .op = IPC_IDENTIFY } }, rep;
	struct ipc_newfd nf;
	bool marked = false;
	struct stat st;
	int kind, r;

	memset(&nf, 0, sizeof(nf));

	if (fd < 0)
		return -EBADF;
	if (fstat(fd, &st))
		return -errno;
	/* Only sockets and memfds can be ours. */
	if (!S_ISSOCK(st.st_mode) && !S_ISREG(st.st_mode))
		return 0;
	memset(obj, 0, sizeof(*obj));
	obj->dev = st.st_dev;
	obj->ino = st.st_ino;
	kind = known_get(st.st_dev, st.st_ino, obj);
	if (kind >= 0) {
		obj->kind = (enum ipc_kind)kind;
		return kind != IPC_KIND_NONE;
	}
	if (S_ISREG(st.st_mode) && st.st_nlink) {
		/* A file with a name: never a memfd of ours. */
		known_put(st.st_dev, st.st_ino, IPC_KIND_NONE, 0, 0, NULL);
		return 0;
	}
	req.fds[0] = fd;
	req.nfds = 1;
	client_lock(&conn_lock);
	r = connect_spawning_locked(false);
	if (r >= 0)
		r = roundtrip_locked(&req, &rep);
	if (!r) {
		ipc_msg_close_fds(&rep);
		kind = (int)rep.hdr.ret;
		obj->size = rep.hdr.arg0;
		if (rep.hdr.len >= sizeof(nf))
			memcpy(&nf, rep.payload, sizeof(nf));
	}
	client_unlock(&conn_lock);
	if (r == -EBADF)
		return r;
	/* No broker answered (none runs, so no live object of one exists;
	 * or one was dying as we asked), or it does not know the fd: it may
	 * still be a dead broker's. */
	if (r || kind < 0 || kind >= IPC_KIND_MAX)
		kind = IPC_KIND_NONE;
	if (kind == IPC_KIND_NONE) {
		int gone = S_ISSOCK(st.st_mode) ? dead_broker_kind(fd, &marked)
			   : dead_broker_buffer(fd) ? IPC_KIND_DMA_BUF : IPC_KIND_NONE;

		if (gone != IPC_KIND_NONE) {
			known_put(st.st_dev, st.st_ino, gone, 0, BROKER_GONE, NULL);
			obj->kind = (enum ipc_kind)gone;
			obj->broker = BROKER_GONE;
			obj->dead = true;
			return 1;
		}
	}
	/* A broker's object whose broker does not answer (dying, its end
	 * not yet closed): not ours for now, asked again next time. */
	if (r && (marked || (r != -ENOENT && r != -ECONNREFUSED)))
		return 0;
	if (r) {
		/* not ours, ever */
		known_put(st.st_dev, st.st_ino, IPC_KIND_NONE, 0, 0, NULL);
		return 0;
	}
	obj->broker = __atomic_load_n(&broker_id, __ATOMIC_RELAXED);
	known_put(st.st_dev, st.st_ino, kind, obj->size, obj->broker, &nf);
	obj->kind = (enum ipc_kind)kind;
	obj->tl_slot = nf.tl_slot;
	obj->tl_gen = nf.tl_gen;
	obj->mark = nf.mark;
	return kind != IPC_KIND_NONE;
}

/* ---- requests ------------------------------------------------------------------------------ */

int client_open(enum ipc_device dev, int flags)
{
	struct ipc_msg req = { .hdr = { .op = IPC_OPEN, .arg0 = dev, .arg1 = (uint64_t)(unsigned int)flags } };
	struct ipc_msg rep;
	char comm[16] = "";
	int r;

	/* A timeline is named after the thread that opened it. */
	prctl(PR_GET_NAME, comm);
	req.payload = comm;
	req.hdr.len = sizeof(comm);

	client_lock(&conn_lock);
	r = roundtrip_locked(&req, &rep);
	if (!r) {
		r = (int)rep.hdr.ret;
		if (r >= 0) {
			if (rep.nfds != 1) {
				ipc_msg_close_fds(&rep);
				r = -EPROTO;
			} else {
				learn_newfds(&rep, 0);
				r = rep.fds[0];
			}
		} else {
			ipc_msg_close_fds(&rep);
		}
	}
	client_unlock(&conn_lock);
	return r;
}

/*
 * Copy up to @n bytes of the caller's memory at @uptr into @to, stopping at
 * the first page that cannot be read.  Return: the bytes copied.
 */
static size_t copy_in_partial(void *to, const void *uptr, size_t n)
{
	size_t done = 0;

	while (done < n) {
		uintptr_t a = (uintptr_t)uptr + done;
		size_t chunk = PAGE - (a & (PAGE - 1));

		if (chunk > n - done)
			chunk = n - done;
		if (copy_from_user((char *)to + done, (const void *)a, chunk))
			break;
		done += chunk;
	}
	return done;
}

/* A string: byte by byte up to the NUL, @max bytes or a fault. */
static size_t copy_in_string(char *to, const void *uptr, size_t max, bool *fault)
{
	size_t i;

	*fault = false;
	for (i = 0; i < max; i++) {
		if (copy_from_user(&to[i], user_ptr_add(uptr, i), 1)) {
			*fault = true;
			break;
		}
		if (!to[i])
			return i + 1;
	}
	return i;
}

static uint32_t get_u32(const void *p, size_t off)
{
	uint32_t v;

	memcpy(&v, (const char *)p + off, sizeof(v));
	return v;
}

static void set_u32(void *p, size_t off, uint32_t v)
{
	memcpy((char *)p + off, &v, sizeof(v));
}

static long client_ioctl_remote(int fd, const struct client_obj *obj, unsigned long request,
				void *arg, bool unidentified);

/* Close fds handed to us in reply to a request that then failed here. */
static void undo_newfds(int *fds, unsigned int n)
{
	for (unsigned int i = 0; i < n; i++)
		close(fds[i]);
}

/*
 * FILE_INFO of a sync file whose broker is gone: it polls readable (its
 * peer vanished), and must not read as signaled: one fence, status
 * -ENOLINK.  The kernel's checks on the argument still apply.
 */
static long file_info_broker_gone(void *arg)
{
	struct sync_file_info info;
	struct sync_fence_info fi;

	if (copy_from_user(&info, arg, sizeof(info)))
		return -EFAULT;
	if (info.flags || info.pad)
		return -EINVAL;
	memset(&fi, 0, sizeof(fi));
	snprintf(fi.obj_name, sizeof(fi.obj_name), "dmasyncd");
	snprintf(fi.driver_name, sizeof(fi.driver_name), "dmasync-broker-gone");
	fi.status = -ENOLINK;
	if (info.num_fences && copy_to_user((void *)(uintptr_t)info.sync_fence_info, &fi, sizeof(fi)))
		return -EFAULT;
	info.num_fences = 1;
	info.status = -ENOLINK;
	snprintf(info.name, sizeof(info.name), "dmasync-broker-gone");
	return copy_to_user(arg, &info, sizeof(info)) ? -EFAULT : 0;
}

static long ioctl_broker_gone(const struct client_obj *obj, unsigned long request, void *arg)
{
	if (obj->kind == IPC_KIND_SYNC_FILE && request == SYNC_IOC_FILE_INFO)
		return file_info_broker_gone(arg);
	return -ENOLINK;
}

/*
 * What FILE_INFO says of the sync file @obj of one sw_sync point while the
 * timeline page says that point is pending, as the record a signal would
 * leave (its status 0): the caller saw no record with the broker's end
 * open.  Return: false if the page cannot say.
 */
static bool file_info_pending(const struct client_obj *obj, struct sync_file_record *hdr,
			      struct sync_fence_info *fi)
{
	void *page = page_of(obj);
	const char *tl;
	char name[32];

	if (!page || client_point_state(obj) != 0 || !known_name(obj->dev, obj->ino, name))
		return false;
	memset(hdr, 0, sizeof(*hdr));
	memset(fi, 0, sizeof(*fi));
	hdr->magic = SYNC_FILE_RECORD_MAGIC;
	hdr->complete = 1;
	hdr->num_fences = 1;
	memcpy(hdr->name, name, sizeof(hdr->name));
	tl = tlpage_slot(page, obj->tl_slot - 1)->name;
	for (size_t i = 0; i + 1 < sizeof(fi->obj_name) && tl[i]; i++)
		fi->obj_name[i] = tl[i];
	memcpy(fi->driver_name, "sw_sync", sizeof("sw_sync"));
	hdr->len = (__u32)(sizeof(*hdr) + sizeof(*fi));
	return true;
}

/*
 * The same for a sync file of several sw_sync points (a merge) while the
 * page says at least one of them is pending, so the merge is: enough for
 * FILE_INFO's count alone (status 0); its entries too (hdr->complete) if
 * the page also shows when each signaled one signaled (the broker's
 * applied entries, tlpage_point_time(): the points of a merge were pending
 * when it was made).  Return: false if the page cannot say.
 */
static bool file_info_pending_merge(const struct client_obj *obj, struct sync_file_record *hdr,
				    struct sync_fence_info *fi)
{
	struct page_map *pm = __atomic_load_n(&page_cur, __ATOMIC_ACQUIRE);
	struct ipc_point pts[IPC_POINTS_MAX];
	unsigned int n, pending = 0, timed = 0;
	char name[32];
	int64_t ts;

	if (obj->tl_slot || obj->dead || !pm || pm->broker != obj->broker)
		return false;
	n = known_points(obj->dev, obj->ino, name, pts);
	if (!n)
		return false;
	memset(hdr, 0, sizeof(*hdr));
	memset(fi, 0, n * sizeof(*fi));
	for (unsigned int i = 0; i < n; i++) {
		const char *tl;
		uint64_t count;

		if (pts[i].tl_slot - 1 >= TLPAGE_SLOTS)
			return false;
		tl = tlpage_slot(pm->base, pts[i].tl_slot - 1)->name;
		for (size_t c = 0; c + 1 < sizeof(fi[i].obj_name) && tl[c]; c++)
			fi[i].obj_name[c] = tl[c];
		memcpy(fi[i].driver_name, "sw_sync", sizeof("sw_sync"));
		/* Read after the name: the slot served this timeline throughout. */
		if (!tlpage_read(pm->base, pts[i].tl_slot - 1, pts[i].tl_gen, &count))
			return false;
		if (!tlpage_passed(pts[i].mark, count)) {
			pending++;
		} else if (tlpage_point_time(pm->base, pts[i].tl_slot - 1, pts[i].tl_gen,
					     pts[i].mark, &ts)) {
			fi[i].status = 1;
			fi[i].timestamp_ns = (__u64)ts;
			timed++;
		}
	}
	if (!pending)
		return false;
	hdr->magic = SYNC_FILE_RECORD_MAGIC;
	hdr->complete = pending + timed == n;
	hdr->num_fences = n;
	memcpy(hdr->name, name, sizeof(hdr->name));
	hdr->len = (__u32)(sizeof(*hdr) + (hdr->complete ? n * sizeof(*fi) : 0));
	return true;
}

/*
 * What the page says of @obj's points, if they are pending (the record's
 * stand-in: status 0), and only while the broker lives: a dead broker's
 * page is frozen (tlpage_broker_alive(), read after the points).  A point
 * signals only after the page stops saying it is pending (an INC moves its
 * value first; a timeline's release and a stall by hand take the slot off
 * the fast state first), so no record can exist that this contradicts.
 */
static bool file_info_from_page(const struct client_obj *obj, struct sync_file_record *hdr,
				struct sync_fence_info *fi)
{
	struct page_map *pm = __atomic_load_n(&page_cur, __ATOMIC_ACQUIRE);

	return pm && pm->broker == obj->broker &&
	       (file_info_pending(obj, hdr, fi) || file_info_pending_merge(obj, hdr, fi)) &&
	       tlpage_broker_alive(pm->base);
}

/*
 * FILE_INFO of a signaled sync file from its signal record (sync_file-priv.h,
 * "DOC: the signal record"): one recv(MSG_PEEK), no request.  The kernel's
 * order of checks and copies.  Return: the ioctl's result, or -EAGAIN when
 * the record cannot answer (pending, no record, or entries left out).
 */
/*
 * @empty: the caller just peeked and found nothing, the broker's end open
 * (no second peek).  *@empty_out (may be NULL): set if this peek did.
 */
static long file_info_from_record(int fd, const struct client_obj *obj, void *arg, bool empty,
				  bool *empty_out)
{
	struct {
		struct sync_file_record hdr;
		struct sync_fence_info fi[SYNC_FILE_RECORD_MAX_FENCES];
	} rec;
	struct sync_file_info info;
	bool from_page = false;
	ssize_t n;

	if (obj && !empty && file_info_from_page(obj, &rec.hdr, rec.fi)) {
		/* Pending, and the broker alive to say so: no record to look for. */
		n = (ssize_t)rec.hdr.len;
		from_page = true;
		if (empty_out)
			*empty_out = false;
	} else {
		if (empty) {
			n = -1;
			errno = EAGAIN;
		} else {
			n = recv(fd, &rec, sizeof(rec), MSG_PEEK | MSG_DONTWAIT);
		}
		if (empty_out)
			*empty_out = n < 0 && errno == EAGAIN;
		/* No record, the broker's end open: the page may say pending. */
		if (n < 0 && errno == EAGAIN && obj && file_info_from_page(obj, &rec.hdr, rec.fi)) {
			n = (ssize_t)rec.hdr.len;
			from_page = true;
		}
	}
	if (obj && (unsigned int)fd < FI_HINTS)
		__atomic_store_n(&fi_hint[fd], from_page, __ATOMIC_RELAXED);
	if (n < (ssize_t)sizeof(rec.hdr) || rec.hdr.magic != SYNC_FILE_RECORD_MAGIC ||
	    rec.hdr.len != (size_t)n)
		return -EAGAIN;
	if (copy_from_user(&info, arg, sizeof(info)))
		return -EFAULT;
	if (info.flags || info.pad)
		return -EINVAL;
	if (!info.num_fences) {
		info.status = rec.hdr.status;
	} else {
		if (info.num_fences < rec.hdr.num_fences)
			return -EINVAL;
		if (!rec.hdr.complete)
			return -EAGAIN;
		if (copy_to_user((void *)(uintptr_t)info.sync_fence_info, rec.fi,
				 rec.hdr.num_fences * sizeof(rec.fi[0])))
			return -EFAULT;
		info.status = rec.hdr.fences_status;
	}
	memcpy(info.name, rec.hdr.name, sizeof(info.name));
	info.num_fences = rec.hdr.num_fences;
	return copy_to_user(arg, &info, sizeof(info)) ? -EFAULT : 0;
}

long client_file_info_peek(int fd, void *arg, bool *empty)
{
	int saved = errno;
	long r;

	*empty = false;
	/* Under the preload the table identifies @fd for free: no need. */
	if (__atomic_load_n(&fdt_trusted, __ATOMIC_ACQUIRE))
		return -EAGAIN;
	r = file_info_from_record(fd, NULL, arg, false, empty);
	errno = saved;
	return r;
}

long client_ioctl(int fd, const struct client_obj *obj, unsigned long request, void *arg)
{
	return client_ioctl_peeked(fd, obj, request, arg, false);
}

long client_ioctl_peeked(int fd, const struct client_obj *obj, unsigned long request, void *arg,
			 bool empty)
{
	long r;

	if (obj->kind == IPC_KIND_SYNC_FILE && request == SYNC_IOC_FILE_INFO) {
		r = file_info_from_record(fd, obj, arg, empty, NULL);
		if (r != -EAGAIN)
			return r;
	}
	if (obj->kind == IPC_KIND_TIMELINE && request == SW_SYNC_IOC_INC) {
		r = inc_in_page(obj, arg);
		if (r != -EAGAIN)
			return r;
	}
	if (obj->kind == IPC_KIND_DMA_BUF && request == DMA_BUF_IOCTL_EXPORT_SYNC_FILE) {
		r = export_stub(obj, arg);
		if (r != -EAGAIN)
			return r;
	}
	r = client_ioctl_remote(fd, obj, request, arg, false);

	return r == -ENOLINK ? ioctl_broker_gone(obj, request, arg) : r;
}

/* What an ioctl's code says of its target, for requests that need no
 * more than the broker (not INC, FILE_INFO or SYNC: the page, the record
 * and the wait want the object known first). */
static enum ipc_kind kind_of_request(unsigned long request)
{
	switch ((uint32_t)request) {
	case SYNC_IOC_MERGE:
		return IPC_KIND_SYNC_FILE;
	case SW_SYNC_IOC_CREATE_FENCE:
		return IPC_KIND_TIMELINE;
	case DMA_BUF_IOCTL_EXPORT_SYNC_FILE:
	case DMA_BUF_IOCTL_IMPORT_SYNC_FILE:
		return IPC_KIND_DMA_BUF;
	default:
		return IPC_KIND_NONE;
	}
}

long client_ioctl_unidentified(int fd, unsigned long request, void *arg)
{
	uint64_t id = __atomic_load_n(&broker_id, __ATOMIC_RELAXED);
	struct client_obj obj = { .kind = kind_of_request(request), .broker = id };
	long r;

	/* Under the preload the table identifies for free; before any
	 * connection there is no broker to ask without identifying. */
	if (__atomic_load_n(&fdt_trusted, __ATOMIC_ACQUIRE) || !id || fd < 0 ||
	    obj.kind == IPC_KIND_NONE)
		return -EREMOTE;
	/* An EXPORT may need no request (export_stub()): identify first. */
	if ((uint32_t)request == DMA_BUF_IOCTL_EXPORT_SYNC_FILE &&
	    __atomic_load_n(&stub_fd, __ATOMIC_RELAXED) >= 0)
		return -EREMOTE;
	r = client_ioctl_remote(fd, &obj, request, arg, true);
	/* Not this broker's (or it is gone): identify as usual. */
	return r == -ENOLINK ? -EREMOTE : r;
}

/*
 * An IPC_IOCTL's input fds (ipc.h): each number the @n fields at @field
 * of @region name, once, into @fds from [1] on ([0]: the target), and one
 * index per field into @idx (unaligned).  With @check, a number that is
 * not open names none.  Return: the number of fds in @fds.
 */
static unsigned int gather_fds(const char *region, const int *field, unsigned int n, bool check,
			       int *fds, char *idx)
{
	unsigned int total = 1;

	for (unsigned int i = 0; i < n; i++) {
		int v = (int)get_u32(region, (size_t)field[i]);
		uint16_t k = 0;

		if (v >= 0) {
			for (k = 1; k < total && fds[k] != v; k++)
				;
			if (k == total) {
				if (check && fcntl(v, F_GETFD) < 0)
					k = 0;
				else
					fds[total++] = v;
			}
		}
		memcpy(idx + i * sizeof(k), &k, sizeof(k));
	}
	return total;
}

/*
 * An IPC_IOCTL's buffers: its argument region (and the fd indices after
 * it), the argument written back, its input fd fields and the fds sent.
 * Most requests' fit on the stack (struct small_request).  A udmabuf list
 * or a large ioctl struct takes the calling thread's struct big_request,
 * mapped at its first such request and unmapped when the thread ends:
 * neither in static TLS, which would take its size from every thread's
 * stack in every program under the preload (a thread made with a 64 KiB
 * stack crashed), nor on the stack, which would take ~60 KiB of it.
 */
#define SMALL_REGION 512u

struct small_request {
	char in[sizeof(struct ipc_ioctl) + SMALL_REGION + SCHEMA_MAX_FD_FIELDS * sizeof(uint16_t)];
	char out[SMALL_REGION];
	int fd_field[SCHEMA_MAX_FD_FIELDS];
	int sent[SCHEMA_MAX_FD_FIELDS + 1];
};

struct big_request {
	char in[sizeof(struct ipc_ioctl) + SCHEMA_UDMABUF_HEAD +
		SCHEMA_UDMABUF_LIST_LIMIT * SCHEMA_UDMABUF_ITEM + 16384 +
		(SCHEMA_UDMABUF_LIST_LIMIT + 1) * sizeof(uint16_t)];
	char out[16384];
	int fd_field[SCHEMA_UDMABUF_LIST_LIMIT + 1];
	int sent[SCHEMA_UDMABUF_LIST_LIMIT + 2];
};

static _Thread_local struct big_request *big_tls __attribute__((tls_model("initial-exec")));
static pthread_key_t big_key;
static pthread_once_t big_once = PTHREAD_ONCE_INIT;

static void big_request_free(void *p)
{
	munmap(p, sizeof(struct big_request));
}

static void big_key_make(void)
{
	pthread_key_create(&big_key, big_request_free);
}

/* The calling thread's struct big_request, or NULL (no memory). */
static struct big_request *big_request(void)
{
	struct big_request *b = big_tls;

	if (b)
		return b;
	pthread_once(&big_once, big_key_make);
	b = mmap(NULL, sizeof(*b), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (b == MAP_FAILED)
		return NULL;
	if (pthread_setspecific(big_key, b)) {
		munmap(b, sizeof(*b));
		return NULL;
	}
	big_tls = b;
	return b;
}

static long client_ioctl_remote(int fd, const struct client_obj *obj, unsigned long request,
				void *arg, bool unidentified)
{
	const struct schema_layout *lay = schema_lookup(obj->kind, (uint32_t)request);
	uint32_t in_len = 0, out_len = schema_ioc_out((uint32_t)request);
	bool big = lay->region == REGION_UDMABUF_LIST || out_len > SMALL_REGION ||
		   (lay->region == REGION_STRING ? lay->max : schema_ioc_in((uint32_t)request)) >
			   SMALL_REGION;
	struct small_request small;
	struct big_request *b = big ? big_request() : NULL;
	char *in = big ? (b ? b->in : NULL) : small.in;
	char *out = big ? (b ? b->out : NULL) : small.out;
	int *fd_field = big ? (b ? b->fd_field : NULL) : small.fd_field;
	int *sent = big ? (b ? b->sent : NULL) : small.sent;
	size_t out_max = big ? sizeof(b->out) : sizeof(small.out);
	struct ipc_ioctl *io = (void *)in;
	char *region = in + sizeof(*io);
	struct ipc_msg req = { .hdr = { .op = IPC_IOCTL, .flags = unidentified ? IPC_IOCTL_UNIDENTIFIED : 0 },
			       .payload = in }, rep;
	unsigned int n_fd_fields = 0, n_sent;
	uint64_t user_array = 0;
	int newfds[IPC_MAX_FDS];
	unsigned int n_new = 0;
	long ret;
	int r;

	if (obj->dead)
		return -ENOLINK;
	if (!in)
		return -ENOMEM;
	memset(io, 0, sizeof(*io));
	io->request = (uint32_t)request;
	io->kind = obj->kind;
	io->out_len = out_len;

	/* The region the handler reads, as far as it is readable. */
	switch (lay->region) {
	case REGION_STRING: {
		bool fault;

		in_len = (uint32_t)copy_in_string(region, arg, lay->max, &fault);
		io->in_fault = fault;
		break;
	}
	case REGION_UDMABUF_LIST: {
		uint32_t want = SCHEMA_UDMABUF_HEAD, count;

		in_len = (uint32_t)copy_in_partial(region, arg, want);
		if (in_len < want) {
			io->in_fault = 1;
			break;
		}
		count = get_u32(region, 4);
		if (count && count <= SCHEMA_UDMABUF_LIST_LIMIT) {
			want += count * SCHEMA_UDMABUF_ITEM;
			in_len += (uint32_t)copy_in_partial(region + in_len, user_ptr_add(arg, in_len),
							    want - in_len);
			io->in_fault = in_len < want;
			if (!io->in_fault)
				for (uint32_t i = 0; i < count; i++)
					fd_field[n_fd_fields++] = (int)(SCHEMA_UDMABUF_HEAD +
									i * SCHEMA_UDMABUF_ITEM);
		}
		break;
	}
	default: {
		uint32_t want = schema_ioc_in((uint32_t)request);

		in_len = (uint32_t)copy_in_partial(region, arg, want);
		io->in_fault = in_len < want;
		for (unsigned int i = 0; i < lay->n_in_fds; i++)
			if (lay->in_fd[i] + 4u <= in_len)
				fd_field[n_fd_fields++] = lay->in_fd[i];
		if (lay->array_elem && in_len >= lay->array_ptr + 8u)
			memcpy(&user_array, region + lay->array_ptr, sizeof(user_array));
		break;
	}
	}
	io->in_len = in_len;
	req.hdr.len = (uint32_t)sizeof(*io) + in_len;

	/* fds: the target, then each fd the input fields name, once (ipc.h). */
	io->in_fd_count = n_fd_fields;
	req.hdr.len += n_fd_fields * (uint32_t)sizeof(uint16_t);
	sent[0] = fd;
	n_sent = gather_fds(region, fd_field, n_fd_fields, false, sent, region + in_len);
	req.nfds = n_sent < IPC_MAX_FDS ? n_sent : IPC_MAX_FDS;
	memcpy(req.fds, sent, req.nfds * sizeof(int));

	client_lock(&conn_lock);
	r = roundtrip_carrying_locked(&req, sent + req.nfds, n_sent - req.nfds, &rep, obj->broker);
	if (r == -EBADF) {
		/* A field named an fd that is not open: send it as none. */
		if (fcntl(fd, F_GETFD) < 0) {
			client_unlock(&conn_lock);
			return -EBADF;
		}
		n_sent = gather_fds(region, fd_field, n_fd_fields, true, sent, region + in_len);
		req.nfds = n_sent < IPC_MAX_FDS ? n_sent : IPC_MAX_FDS;
		memcpy(req.fds, sent, req.nfds * sizeof(int));
		r = roundtrip_carrying_locked(&req, sent + req.nfds, n_sent - req.nfds, &rep,
					      obj->broker);
	}
	if (r) {
		client_unlock(&conn_lock);
		return r == -EBADF ? -EBADF : r;
	}
	ret = rep.hdr.ret;
	if (unidentified && rep.hdr.arg0 == IPC_IOCTL_NOT_OURS) {
		ipc_msg_close_fds(&rep);
		client_unlock(&conn_lock);
		return -EREMOTE;
	}
	if (rep.hdr.len < sizeof(*io)) {
		/* Refused before it ran (e.g. the object limit): no payload. */
		ipc_msg_close_fds(&rep);
		client_unlock(&conn_lock);
		return ret < 0 ? ret : -EPROTO;
	}
	{
		const struct ipc_ioctl *ro = rep.payload;
		const char *rregion = (const char *)rep.payload + sizeof(*ro);
		size_t newfd_off = sizeof(*ro) + ro->out_len + ro->array_len;
		unsigned int f = 0;

		if (newfd_off > rep.hdr.len || ro->out_len > out_max) {
			ipc_msg_close_fds(&rep);
			client_unlock(&conn_lock);
			return -EPROTO;
		}
		learn_newfds(&rep, newfd_off);
		if (unidentified && (rep.hdr.flags & IPC_IOCTL_UNIDENTIFIED))
			learn_target(&rep, newfd_off + rep.nfds * sizeof(struct ipc_newfd));
		memcpy(newfds, rep.fds, rep.nfds * sizeof(int));
		n_new = rep.nfds;
		memcpy(out, rregion, ro->out_len);
		/* Rewrite the broker's fd numbers to ours, in field order. */
		if (ro->out_fd_mask & IPC_FD_RET) {
			if (f < n_new)
				ret = newfds[f++];
		}
		for (unsigned int i = 0; i < lay->n_out_fds; i++)
			if ((ro->out_fd_mask & (1u << i)) && f < n_new &&
			    lay->out_fd[i] + 4u <= ro->out_len)
				set_u32(out, lay->out_fd[i], (uint32_t)newfds[f++]);
		/* Input fd fields go back as the caller wrote them (the broker
		 * saw its own numbers there), as does the pointer field. */
		for (unsigned int i = 0; i < lay->n_in_fds; i++)
			if (lay->in_fd[i] + 4u <= ro->out_len && lay->in_fd[i] + 4u <= in_len)
				set_u32(out, lay->in_fd[i], get_u32(region, lay->in_fd[i]));
		if (lay->array_elem && ro->out_len >= lay->array_ptr + 8u)
			memcpy(out + lay->array_ptr, &user_array, sizeof(user_array));

		/* Write back in the kernel's order: the array, then the struct
		 * (still under the lock: the array is in the shared rx_buf). */
		if ((ro->array_len &&
		     copy_to_user((void *)(uintptr_t)user_array, rregion + ro->out_len, ro->array_len)) ||
		    (ro->out_len && copy_to_user(arg, out, ro->out_len))) {
			client_unlock(&conn_lock);
			/* Never reported: take the new fds back (put_unused_fd()). */
			undo_newfds(newfds, n_new);
			return -EFAULT;
		}
	}
	client_unlock(&conn_lock);
	if (ret < 0 && ret != -EMFILE && lay->fd_first) {
		/* Would the kernel have failed to reserve the fd first? */
		int probe = fcntl(fd, F_DUPFD_CLOEXEC, 0);

		if (probe < 0 && errno == EMFILE)
			return -EMFILE;
		if (probe >= 0)
			close(probe);
	}
	return ret;
}

/* A request with no payload and at most one fd; the reply's fds are
 * returned in @fds (up to @max, the rest closed).  Return: the reply's ret,
 * or a negative errno. */
static long simple_call(uint32_t op, int fd, uint64_t a0, uint64_t a1, uint64_t a2,
			int *fds, unsigned int max, unsigned int *nfds, uint64_t *rarg)
{
	const uint64_t arg[3] = { a0, a1, a2 };
	uint64_t rr[2] = { 0, 0 };
	unsigned int n;
	long ret;

	ret = client_call(op, 0, fd, arg, NULL, 0, rr, NULL, NULL, fds, fds ? max : 0, &n, NULL);
	if (rarg)
		*rarg = rr[0];
	if (nfds)
		*nfds = n;
	return ret;
}

long client_call(uint32_t op, uint64_t broker, int fd, const uint64_t arg[3],
		 const void *payload, size_t len, uint64_t rarg[2], void *out, size_t *out_len,
		 int *fds, unsigned int max, unsigned int *nfds, struct client_obj *described)
{
	struct ipc_msg req = { .hdr = { .op = op, .len = (uint32_t)len, .arg0 = arg[0],
					.arg1 = arg[1], .arg2 = arg[2] },
			       .payload = (void *)payload }, rep;
	long ret;
	int r;

	if (fd >= 0) {
		req.fds[0] = fd;
		req.nfds = 1;
	}
	*nfds = 0;
	client_lock(&conn_lock);
	r = roundtrip_to_locked(&req, &rep, broker);
	if (r) {
		client_unlock(&conn_lock);
		return r;
	}
	ret = rep.hdr.ret;
	rarg[0] = rep.hdr.arg0;
	rarg[1] = rep.hdr.arg1;
	if (out && out_len) {
		size_t n = rep.hdr.len < *out_len ? rep.hdr.len : *out_len;

		memcpy(out, rep.payload, n);
		*out_len = n;
	}
	if (described && rep.nfds && rep.hdr.len >= sizeof(struct ipc_newfd)) {
		struct ipc_newfd nf;

		memcpy(&nf, rep.payload, sizeof(nf));
		memset(described, 0, sizeof(*described));
		described->kind = (enum ipc_kind)nf.kind;
		described->dev = (dev_t)nf.dev;
		described->ino = (ino_t)nf.ino;
		described->size = nf.size;
		described->broker = __atomic_load_n(&broker_id, __ATOMIC_RELAXED);
		described->tl_slot = nf.tl_slot;
		described->tl_gen = nf.tl_gen;
	}
	learn_newfds(&rep, 0);
	for (unsigned int i = 0; i < rep.nfds; i++) {
		if (i < max) {
			fds[i] = rep.fds[i];
			(*nfds)++;
		} else {
			close(rep.fds[i]);
			client_fds_closed((unsigned int)rep.fds[i], (unsigned int)rep.fds[i]);
		}
	}
	client_unlock(&conn_lock);
	return ret;
}

uint64_t client_broker_id(void)
{
	return __atomic_load_n(&broker_id, __ATOMIC_RELAXED);
}

uint32_t client_buffer_changes(const struct client_obj *obj)
{
	void *page = page_of(obj);

	if (!page || obj->kind != IPC_KIND_DMA_BUF)
		return UINT32_MAX;
	return tlpage_buf_changes(page, obj->tl_slot - 1, obj->tl_gen);
}

int client_proxy_create(const struct ipc_proxy *p, int at, uint64_t *id, uint64_t *broker,
			struct stat *st)
{
	struct ipc_newfd nf;
	struct ipc_msg req = { .hdr = { .op = IPC_PROXY_CREATE, .len = sizeof(*p) },
			       .payload = (void *)p }, rep;
	int r, fd;

	client_lock(&conn_lock);
	r = roundtrip_locked(&req, &rep);
	if (!r && (rep.hdr.ret < 0 || rep.nfds != 1)) {
		r = rep.hdr.ret < 0 ? (int)rep.hdr.ret : -EPROTO;
		ipc_msg_close_fds(&rep);
	}
	if (r) {
		client_unlock(&conn_lock);
		return r;
	}
	learn_newfds(&rep, 0);
	fd = rep.fds[0];
	*id = rep.hdr.arg0;
	memset(st, 0, sizeof(*st));
	if (rep.hdr.len >= sizeof(nf)) {
		memcpy(&nf, rep.payload, sizeof(nf));
		st->st_dev = (dev_t)nf.dev;
		st->st_ino = (ino_t)nf.ino;
	}
	*broker = __atomic_load_n(&broker_id, __ATOMIC_RELAXED);
	client_unlock(&conn_lock);
	/* At the number the program was to get: Linux reserves it first. */
	r = dup3(fd, at, O_CLOEXEC) < 0 ? -errno : 0;
	if (!r)
		client_fd_copied(fd, at);
	close(fd);
	client_fds_closed((unsigned int)fd, (unsigned int)fd);
	return r;
}

void client_proxy_signal(uint64_t broker, uint64_t id, int status, int64_t timestamp)
{
	struct ipc_msg msg = { .hdr = { .op = IPC_PROXY_SIGNAL, .arg0 = id,
					.arg1 = (uint64_t)(int64_t)status, .arg2 = (uint64_t)timestamp } };

	/* Blocking: a lost signal would leave the proxy pending forever.  A
	 * broker that is gone answers its holders ENOLINK anyway. */
	(void)send_oneway(broker, &msg, 0);
}

void client_closed(const struct client_obj *obj)
{
	if (obj->dead)
		return;
	simple_call(IPC_CLOSED, -1, (uint64_t)obj->dev, (uint64_t)obj->ino, 0, NULL, 0, NULL, NULL);
}

int client_mirror(int fd)
{
	unsigned int n;
	int m;
	long r = simple_call(IPC_MIRROR, fd, 0, 0, 0, &m, 1, &n, NULL);

	if (r < 0)
		return (int)r;
	return n == 1 ? m : -EPROTO;
}

/*
 * Whether a signal pending now (and not blocked in @mask) has a handler
 * without SA_RESTART: one the kernel's interruptible wait would return
 * EINTR for, had it been pending as the wait began.
 */
static bool pending_interrupts(const sigset_t *mask)
{
	sigset_t pend;

	if (sigpending(&pend))
		return false;
	for (int s = 1; s < NSIG; s++) {
		struct sigaction sa;

		if (!sigismember(&pend, s) || sigismember(mask, s) || sigaction(s, NULL, &sa))
			continue;
		if (sa.sa_handler != SIG_IGN && sa.sa_handler != SIG_DFL && !(sa.sa_flags & SA_RESTART))
			return true;
	}
	return false;
}

/*
 * The result of an exporter's op that another process runs (IPC_SYNC's
 * answer socket; closed here).  The op cannot be called back, so the wait
 * is not interruptible: the kernel's begin_cpu_access runs to its end too.
 * No answer means the maker died with the op asked: -EPIPE, as for its
 * fences.
 */
static long exporter_answer(int sock)
{
	int32_t r;
	ssize_t n;

	do
		n = recv(sock, &r, sizeof(r), 0);
	while (n < 0 && errno == EINTR);
	close(sock);
	if (n != (ssize_t)sizeof(r))
		return -EPIPE;
	return r > 0 || r < -4095 ? -EIO : r;
}

long client_sync(int fd, void *arg)
{
	uint64_t exporter_done = 0;
	struct dma_buf_sync sync;
	sigset_t all, old;
	unsigned int n;
	bool interrupted;
	int wait_fd;
	long r;

	if (copy_from_user(&sync, arg, sizeof(sync)))
		return -EFAULT;
	/*
	 * The kernel's wait fails with EINTR for a signal that arrived before
	 * it began, too.  A handler that ran during the request would leave
	 * nothing for the wait below to notice (it would block, however long
	 * the fences take): signals are held during the request and looked at
	 * before the wait.
	 */
again:
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	r = simple_call(IPC_SYNC, fd, sync.flags, exporter_done, 0, &wait_fd, 1, &n, NULL);
	if (r <= 0 || n != 1) {
		pthread_sigmask(SIG_SETMASK, &old, NULL);
		return r < 0 ? r : 0;
	}
	if (r == 2) {
		/* The exporter's op, in the process that made the buffer. */
		pthread_sigmask(SIG_SETMASK, &old, NULL);
		r = exporter_answer(wait_fd);
		if (r || (sync.flags & DMA_BUF_SYNC_END))
			return r;
		exporter_done = 1;
		goto again;
	}
	interrupted = pending_interrupts(&old);
	pthread_sigmask(SIG_SETMASK, &old, NULL);	/* the handlers run here */
	if (interrupted) {
		close(wait_fd);
		return -EINTR;
	}
	/*
	 * Wait for the conflicting fences here, interruptibly as the kernel:
	 * a blocking recv() on the sync file (readable once signaled) is
	 * restarted after a handler with SA_RESTART and fails with EINTR
	 * otherwise, as the kernel's wait is.  The fd is ours alone.
	 */
	fcntl(wait_fd, F_SETFL, 0);
	for (;;) {
		char c;
		ssize_t got = recv(wait_fd, &c, 1, 0);

		if (got >= 0)
			break;
		if (errno == EINTR) {
			close(wait_fd);
			return -EINTR;
		}
		if (errno != EAGAIN) {
			r = -errno;
			close(wait_fd);
			return r;
		}
	}
	close(wait_fd);
	return 0;
}

/* The inode of the memfd client_map_pieces() last mapped first, per thread. */
static _Thread_local ino_t map_first_ino __attribute__((tls_model("initial-exec")));

ino_t client_map_first_ino(void)
{
	return map_first_ino;
}

void *client_map_pieces(int fd, void *addr, size_t len, int prot, int flags, size_t off, int *err)
{
	struct ipc_msg req = { .hdr = { .op = IPC_MAP } }, rep;
	char *base = MAP_FAILED;
	uint64_t first = 0, total = 1, max_fds = IPC_MAX_FDS;
	size_t pos = 0;
	int r = 0;

	client_lock(&conn_lock);
	/* The pieces come as many at a time as one message carries fds for
	 * (fewer if our fd table had no room for that many: EMFILE, the fds
	 * cut); those past the window are not asked for. */
	while (!r && first < total && pos < off + len) {
		const struct ipc_map_piece *pc;
		unsigned int n;

		req.hdr.arg0 = first;
		req.hdr.arg1 = max_fds;
		req.fds[0] = fd;
		req.nfds = 1;
		r = roundtrip_locked(&req, &rep);
		if (r == -EMFILE && max_fds > 1) {
			max_fds /= 2;
			r = 0;
			continue;
		}
		if (r)
			break;
		pc = rep.payload;
		n = rep.hdr.len / sizeof(*pc);
		if (rep.hdr.ret < 0 || !n || rep.hdr.arg0 <= first) {
			r = rep.hdr.ret < 0 ? (int)rep.hdr.ret : -EPROTO;
			ipc_msg_close_fds(&rep);
			break;
		}
		total = rep.hdr.arg0;
		first += n;
		/* One reservation, then each piece of the window mapped over it. */
		if (base == MAP_FAILED) {
			base = mmap(addr, len, PROT_NONE,
				    MAP_PRIVATE | MAP_ANONYMOUS |
					    (flags & (MAP_FIXED | MAP_FIXED_NOREPLACE)), -1, 0);
			if (base == MAP_FAILED)
				r = -errno;
		}
		for (unsigned int i = 0; !r && i < n; i++) {
			size_t a = pos, b = pos + pc[i].len;

			pos = b;
			if (b <= off || a >= off + len)
				continue;
			if (pc[i].fd >= rep.nfds) {
				r = -EPROTO;
				break;
			}
			{
				size_t from = a > off ? a : off, to = b < off + len ? b : off + len;

				struct stat st;

				if (mmap(base + (from - off), to - from, prot,
					 MAP_FIXED | (flags & MAP_TYPE) |
						 (flags & ~(MAP_TYPE | MAP_FIXED | MAP_FIXED_NOREPLACE)),
					 rep.fds[pc[i].fd], (off_t)(pc[i].offset + (from - a))) == MAP_FAILED)
					r = -errno;
				else if (from == off)
					map_first_ino = fstat(rep.fds[pc[i].fd], &st) ? 0 : st.st_ino;
			}
		}
		ipc_msg_close_fds(&rep);
	}
	client_unlock(&conn_lock);
	if (r) {
		if (base != MAP_FAILED)
			munmap(base, len);
		*err = -r;
		return MAP_FAILED;
	}
	return base;
}

int client_stats(struct ipc_stats *st)
{
	struct ipc_msg req = { .hdr = { .op = IPC_STATS } }, rep;
	int r;

	client_lock(&conn_lock);
	r = roundtrip_locked(&req, &rep);
	if (!r) {
		ipc_msg_close_fds(&rep);
		if (rep.hdr.len >= sizeof(*st))
			memcpy(st, rep.payload, sizeof(*st));
		else
			r = -EPROTO;
	}
	client_unlock(&conn_lock);
	return r;
}

int client_fdinfo(int fd, struct ipc_fdinfo *info)
{
	struct ipc_msg req = { .hdr = { .op = IPC_FDINFO } }, rep;
	int r;

	req.fds[0] = fd;
	req.nfds = 1;
	client_lock(&conn_lock);
	r = roundtrip_locked(&req, &rep);
	if (!r) {
		ipc_msg_close_fds(&rep);
		r = (int)rep.hdr.ret;
		if (!r && rep.hdr.len >= sizeof(*info))
			memcpy(info, rep.payload, sizeof(*info));
		else if (!r)
			r = -EPROTO;
	}
	client_unlock(&conn_lock);
	return r;
}
