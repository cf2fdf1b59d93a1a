/* SPDX-License-Identifier: MIT */
/*
 * libdmasync-preload.so: libc's functions, as an unmodified program calls
 * them, for dmasync's devices and fds (`dmasync run`, or LD_PRELOAD).
 *
 * Each wrapper looks at its path or fd: if it is one of dmasync's, the
 * call goes to the dmasync entry point that the library's own programs
 * call (dmasync_open(), dmasync_ioctl()...; src/entry.c), or is answered
 * here as the kernel would (/proc links and fdinfo, read/write errors, the
 * devices' stat); otherwise it goes to libc unchanged (real.h).  A call on
 * an fd that is not dmasync's costs one lookup in the table of fd numbers
 * (client.c, "fd numbers"), which the close/dup wrappers keep exact.
 *
 * errno: a wrapper that succeeds leaves errno as the program left it;
 * one that fails sets it as the system call would.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/select.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/sysmacros.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <dmasync/dmasync-uapi.h>
#include "client.h"
#include "remote.h"
#include "ipc.h"
#include "real.h"
#include "device.h"
#include "file.h"
#include "fork.h"
#include "sync_file-priv.h"
#include "uaccess.h"

#define EXPORT __attribute__((visibility("default")))

/*
 * The wrappers of the calls programs make most keep their fast path (an fd
 * the table knows is not dmasync's) a leaf that jumps to libc, with the rest
 * out of line (cold), so that it costs no stack frame.  Those that record
 * something after libc's call (close, dup, open: the table) return to the
 * program from a frame of their own after the system call, which a kernel
 * that leaves the return predictions useless there makes a misprediction
 * (bench/bench-preload.c): their fast paths do nothing else after it.
 */
#define FAST(cond) __builtin_expect(!!(cond), 1)
#define SLOW __attribute__((noinline, cold))


/* ---- the emulated paths ----------------------------------------------------------- */

enum dev_path {
	DP_NONE, DP_UDMABUF, DP_HEAP, DP_HEAP_DIR, DP_SW_SYNC, DP_BUFINFO, DP_SYNC_INFO,
	DP_SYNC_DIR, DP_DMABUF_DIR,
	DP_NOTDIR,	/* an emulated file, named as a directory ("/dev/udmabuf/") */
};

/* Whether @path is the directory @dir: as it is, or followed by "/" or "/.". */
static bool is_dir_path(const char *path, const char *dir)
{
	size_t n = strlen(dir);

	return !strncmp(path, dir, n) &&
	       (!path[n] || !strcmp(path + n, "/") || !strcmp(path + n, "/."));
}

static void normalize(char *path);

/* @path, absolute and written as the emulated nodes are: no "//", "." or "..". */
static enum dev_path dev_path_exact(const char *path)
{
	if (!strcmp(path, "/dev/udmabuf"))
		return DP_UDMABUF;
	if (!strcmp(path, "/dev/dma_heap/system"))
		return DP_HEAP;
	if (is_dir_path(path, "/dev/dma_heap"))
		return DP_HEAP_DIR;
	if (!strcmp(path, "/sys/kernel/debug/sync/sw_sync"))
		return DP_SW_SYNC;
	if (!strcmp(path, "/sys/kernel/debug/dma_buf/bufinfo"))
		return DP_BUFINFO;
	if (!strcmp(path, "/sys/kernel/debug/sync/info"))
		return DP_SYNC_INFO;
	if (is_dir_path(path, "/sys/kernel/debug/sync"))
		return DP_SYNC_DIR;
	if (is_dir_path(path, "/sys/kernel/debug/dma_buf"))
		return DP_DMABUF_DIR;
	return DP_NONE;
}

/*
 * The emulated node absolute @path names, written as it is or with "//",
 * "." and ".." in it ("/dev/./udmabuf", "/dev/dma_heap/../udmabuf": by
 * name, as no component of those paths is a symbolic link).  A path that
 * ends in "/" or "/." names only a directory: DP_NOTDIR for the others.
 */
static enum dev_path dev_path(const char *path)
{
	char buf[PATH_MAX];
	enum dev_path p;
	size_t n;

	/* Most paths differ by their second or sixth byte: no strcmp(). */
	if (!path || path[0] != '/')
		return DP_NONE;
	if (path[1] != '/' && path[1] != '.') {	/* "//dev/udmabuf", "/./dev/..." */
		if (path[1] != 'd' && path[1] != 's')
			return DP_NONE;
		if (path[1] == 'd' &&
		    (memcmp(path, "/dev/", 5) ||
		     (path[5] != 'u' && path[5] != 'd' && path[5] != '/' && path[5] != '.')))
			return DP_NONE;
		/* /sys: only under kernel/debug ("debug" for "/sys//kernel/debug") */
		if (path[1] == 's' && strncmp(path, "/sys/kernel/debug", 17) && !strstr(path, "debug"))
			return DP_NONE;
		p = dev_path_exact(path);
		n = strlen(path);
		if (p != DP_NONE || (path[n - 1] != '/' && !strstr(path, "//") && !strstr(path, "/.")))
			return p;
	} else {
		n = strlen(path);
	}
	if (n >= sizeof(buf))
		return DP_NONE;
	memcpy(buf, path, n + 1);
	normalize(buf);
	p = dev_path_exact(buf);
	if (p != DP_NONE && p != DP_HEAP_DIR && p != DP_SYNC_DIR && p != DP_DMABUF_DIR &&
	    (path[n - 1] == '/' || (n >= 2 && path[n - 1] == '.' && path[n - 2] == '/')))
		return DP_NOTDIR;	/* "/dev/udmabuf/" */
	return p;
}

/* A path relative to @dirfd that names an emulated node (absolute only). */
static enum dev_path dev_path_at(int dirfd, const char *path)
{
	(void)dirfd;	/* only absolute paths name the devices */
	return dev_path(path);
}

/* The stat of an emulated node, as Linux shows it. */
static void dev_stat(enum dev_path p, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_nlink = 1;
	st->st_blksize = 4096;
	switch (p) {
	case DP_UDMABUF:
		st->st_mode = S_IFCHR | 0666;	/* misc device 10:125 where udmabuf lives */
		st->st_rdev = makedev(10, 125);
		st->st_ino = 0x75646d61;
		break;
	case DP_HEAP:
		st->st_mode = S_IFCHR | 0666;
		st->st_rdev = makedev(251, 0);
		st->st_ino = 0x68656170;
		break;
	case DP_HEAP_DIR:
	case DP_SYNC_DIR:
	case DP_DMABUF_DIR:
		st->st_mode = S_IFDIR | 0755;
		st->st_nlink = 2;
		st->st_ino = p == DP_HEAP_DIR ? 0x68656164 : p == DP_SYNC_DIR ? 0x73796e64 : 0x64627566;
		break;
	case DP_SW_SYNC:
		st->st_mode = S_IFREG | 0644;	/* a debugfs file */
		st->st_ino = 0x73777379;
		break;
	case DP_BUFINFO:
	case DP_SYNC_INFO:
		st->st_mode = S_IFREG | 0444;	/* debugfs listings */
		st->st_ino = p == DP_BUFINFO ? 0x62756669 : 0x73696e66;
		break;
	default:
		break;
	}
}

/* Whether @p is an emulated node that is no directory (ENOTDIR as one). */
static bool emulated_file(enum dev_path p)
{
	return p != DP_NONE && p != DP_HEAP_DIR && p != DP_SYNC_DIR && p != DP_DMABUF_DIR;
}

/* Emulated node @p's path as written ("/dev/udmabuf"), or NULL. */
static const char *dev_path_name(enum dev_path p)
{
	switch (p) {
	case DP_UDMABUF:
		return "/dev/udmabuf";
	case DP_HEAP:
		return "/dev/dma_heap/system";
	case DP_HEAP_DIR:
		return "/dev/dma_heap";
	case DP_SW_SYNC:
		return "/sys/kernel/debug/sync/sw_sync";
	case DP_BUFINFO:
		return "/sys/kernel/debug/dma_buf/bufinfo";
	case DP_SYNC_INFO:
		return "/sys/kernel/debug/sync/info";
	case DP_SYNC_DIR:
		return "/sys/kernel/debug/sync";
	case DP_DMABUF_DIR:
		return "/sys/kernel/debug/dma_buf";
	default:
		return NULL;
	}
}

/* stat() of emulated node @p: dev_stat(), or ENOTDIR. */
static int emulated_stat(enum dev_path p, struct stat *st)
{
	if (p == DP_NOTDIR) {
		errno = ENOTDIR;
		return -1;
	}
	dev_stat(p, st);
	return 0;
}

/*
 * Real directories that stand for the emulated ones, for opendir() and
 * open(O_DIRECTORY), under the broker's runtime directory: /dev/dma_heap
 * (listing "system"), /sys/kernel/debug/sync ("info", "sw_sync") and
 * /sys/kernel/debug/dma_buf ("bufinfo").  Return: its path, or NULL.
 */
static const struct {
	enum dev_path p;
	const char *name;
	const char *entries[2];
} emulated_dirs[] = {
	{ DP_HEAP_DIR, "dev-dma_heap", { "system" } },
	{ DP_SYNC_DIR, "debug-sync", { "info", "sw_sync" } },
	{ DP_DMABUF_DIR, "debug-dma_buf", { "bufinfo" } },
};
#define N_EMULATED_DIRS (sizeof(emulated_dirs) / sizeof(emulated_dirs[0]))

/* The emulated directories' real stand-ins, once made: their paths and
 * inodes, for paths relative to them (rebase()). */
static char emu_paths[N_EMULATED_DIRS][PATH_MAX];
static dev_t emu_dev[N_EMULATED_DIRS];
static ino_t emu_ino[N_EMULATED_DIRS];
static int emu_made[N_EMULATED_DIRS];
/* Set once the program holds, or works in, one of them: only then are
 * relative paths looked at (rebase()). */
static int emu_relative;
/* Taken to make a stand-in (emulated_dir(), standin_file_open()). */
static pthread_mutex_t standin_lock = PTHREAD_MUTEX_INITIALIZER;

static const char *emulated_dir(enum dev_path p)
{
	char (*paths)[PATH_MAX] = emu_paths;
	int *made = emu_made;
	char sock[PATH_MAX - 32], *slash;
	struct stat st;
	unsigned int d;

	for (d = 0; d < N_EMULATED_DIRS && emulated_dirs[d].p != p; d++)
		;
	if (d == N_EMULATED_DIRS)
		return NULL;
	if (__atomic_load_n(&made[d], __ATOMIC_ACQUIRE))
		return paths[d];
	/* One maker at a time (a leaf; held across fork() by its prepare). */
	pthread_mutex_lock(&standin_lock);
	if (__atomic_load_n(&made[d], __ATOMIC_ACQUIRE)) {
		pthread_mutex_unlock(&standin_lock);
		return paths[d];
	}
	if (ipc_default_socket(sock, sizeof(sock)))
		goto fail;
	slash = strrchr(sock, '/');
	if (!slash)
		goto fail;
	*slash = '\0';
	snprintf(paths[d], sizeof(paths[d]), "%s/%s", sock, emulated_dirs[d].name);
	mkdir(paths[d], 0755);
	for (unsigned int e = 0; e < 2 && emulated_dirs[d].entries[e]; e++) {
		char file[PATH_MAX + 16];
		int fd;

		snprintf(file, sizeof(file), "%s/%s", paths[d], emulated_dirs[d].entries[e]);
		fd = dmasync_real_open(file, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
		if (fd < 0)
			goto fail;
		dmasync_real_close(fd);
	}
	if (dmasync_real_stat(paths[d], &st))
		goto fail;
	emu_dev[d] = st.st_dev;
	emu_ino[d] = st.st_ino;
	__atomic_store_n(&made[d], 1, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&standin_lock);
	return paths[d];

fail:
	pthread_mutex_unlock(&standin_lock);
	return NULL;
}

/*
 * Stand-in files of the emulated files, for O_PATH opens (a path-only fd
 * of them behaves as Linux's of the node: ioctl, read and mmap EBADF, poll
 * POLLNVAL; fstat() and its /proc link are the node's; reopening it
 * through /proc/self/fd opens the node): the entries of the emulated
 * directories, and "dev-udmabuf" beside them.  Their inodes, once opened.
 */
static struct {
	dev_t dev;
	ino_t ino;
	int made;	/* atomic: 1 once dev and ino are set (standin_lock) */
} standin_files[DP_NOTDIR];

static const char *standin_file_path(enum dev_path p, char *buf, size_t len)
{
	const char *dir = emulated_dir(p == DP_HEAP || p == DP_UDMABUF ? DP_HEAP_DIR
				       : p == DP_BUFINFO		  ? DP_DMABUF_DIR
									  : DP_SYNC_DIR);
	const char *name = p == DP_HEAP ? "system" : p == DP_SW_SYNC ? "sw_sync"
						: p == DP_SYNC_INFO ? "info" : "bufinfo";

	if (!dir)
		return NULL;
	if (p == DP_UDMABUF) {
		const char *slash = strrchr(dir, '/');
		int fd;

		if (!slash || (size_t)snprintf(buf, len, "%.*s/dev-udmabuf", (int)(slash - dir),
					       dir) >= len)
			return NULL;
		fd = dmasync_real_open(buf, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
		if (fd < 0)
			return NULL;
		dmasync_real_close(fd);
		return buf;
	}
	return (size_t)snprintf(buf, len, "%s/%s", dir, name) < len ? buf : NULL;
}

static void emulated_dir_entered(void);

/* open(@p, O_PATH | @flags): a path-only fd of its stand-in file. */
static SLOW int standin_file_open(enum dev_path p, int flags)
{
	char path[PATH_MAX + 16];
	struct stat st;
	int fd;

	if (!standin_file_path(p, path, sizeof(path))) {
		errno = ENOENT;
		return -1;
	}
	fd = dmasync_real_openat(AT_FDCWD, path, flags, 0);
	if (fd >= 0 && !__atomic_load_n(&standin_files[p].made, __ATOMIC_ACQUIRE) &&
	    !dmasync_real_fstat(fd, &st)) {
		pthread_mutex_lock(&standin_lock);
		if (!__atomic_load_n(&standin_files[p].made, __ATOMIC_ACQUIRE)) {
			standin_files[p].dev = st.st_dev;
			standin_files[p].ino = st.st_ino;
			__atomic_store_n(&standin_files[p].made, 1, __ATOMIC_RELEASE);
		}
		pthread_mutex_unlock(&standin_lock);
	}
	if (fd >= 0)
		emulated_dir_entered();	/* fstat() and readlink() look at stand-ins now */
	return fd;
}

/* The emulated directory's own path ("/dev/dma_heap"...). */
static const char *emulated_name(unsigned int d)
{
	switch (emulated_dirs[d].p) {
	case DP_HEAP_DIR:
		return "/dev/dma_heap";
	case DP_SYNC_DIR:
		return "/sys/kernel/debug/sync";
	default:
		return "/sys/kernel/debug/dma_buf";
	}
}

/* @path with "//", "." and ".." resolved by name, in place (absolute;
 * the emulated directories' paths hold no symbolic links). */
static void normalize(char *path)
{
	char *out = path, *in = path;

	while (*in) {
		char *end;
		size_t n;

		while (*in == '/')
			in++;
		end = strchrnul(in, '/');
		n = (size_t)(end - in);
		if (n == 0 || (n == 1 && in[0] == '.')) {
			/* nothing */
		} else if (n == 2 && in[0] == '.' && in[1] == '.') {
			while (out > path && *--out != '/')
				;
		} else {
			*out++ = '/';
			memmove(out, in, n);
			out += n;
		}
		in = end;
	}
	if (out == path)
		*out++ = '/';
	*out = '\0';
}

/*
 * Whether relative @path may name an emulated node from a real directory
 * ("udmabuf" in /dev, "dma_heap/system", "debug/sync/sw_sync" in
 * /sys/kernel): by the names those paths are made of.  A guess that only
 * decides whether the directory's own path is looked up.
 */
static bool may_name_emulated(const char *path)
{
	return strstr(path, "dma") || strstr(path, "sync") || strstr(path, "system") ||
	       strstr(path, "info");
}

/* Stand-in path @text (@n bytes, no NUL needed) as the emulated
 * directory's name ("/dev/dma_heap"), or NULL. */
static const char *standin_name(const char *text, size_t n)
{
	for (unsigned int d = 0; d < N_EMULATED_DIRS; d++)
		if (__atomic_load_n(&emu_made[d], __ATOMIC_ACQUIRE) &&
		    strlen(emu_paths[d]) == n && !memcmp(text, emu_paths[d], n))
			return emulated_name(d);
	return NULL;
}

/* The emulated directory or file whose stand-in has inode @dev:@ino, or
 * DP_NONE. */
static enum dev_path standin_node(dev_t dev, ino_t ino)
{
	if (!__atomic_load_n(&emu_relative, __ATOMIC_RELAXED))
		return DP_NONE;
	for (unsigned int d = 0; d < N_EMULATED_DIRS; d++)
		if (__atomic_load_n(&emu_made[d], __ATOMIC_ACQUIRE) && dev == emu_dev[d] &&
		    ino == emu_ino[d])
			return emulated_dirs[d].p;
	for (unsigned int p = 0; p < DP_NOTDIR; p++)
		if (__atomic_load_n(&standin_files[p].made, __ATOMIC_ACQUIRE) &&
		    dev == standin_files[p].dev && ino == standin_files[p].ino)
			return (enum dev_path)p;
	return DP_NONE;
}

/*
 * Relative @path from the real directory @dirfd (AT_FDCWD: the working
 * directory), as the absolute path of the emulated node it names on
 * Linux, in @buf; else NULL.  The directory's path is the kernel's
 * (getcwd(), /proc/self/fd): symbolic links in it are resolved, those in
 * @path are not (only ".." after one would differ).
 */
static SLOW const char *resolve_relative(int dirfd, const char *path, char *buf, size_t len)
{
	char dir[PATH_MAX];
	const char *name;
	ssize_t n;
	int saved = errno;

	if (dirfd == AT_FDCWD) {
		n = dmasync_real_getcwd(dir, sizeof(dir)) ? (ssize_t)strlen(dir) : -1;
	} else {
		char link[40];

		snprintf(link, sizeof(link), "/proc/self/fd/%d", dirfd);
		n = dmasync_real_readlink(link, dir, sizeof(dir) - 1);
	}
	errno = saved;
	if (n <= 0 || dir[0] != '/' || (size_t)n >= sizeof(dir) - 1)
		return NULL;
	dir[n] = '\0';
	/* A stand-in's path is its emulated directory's. */
	name = standin_name(dir, (size_t)n);
	if ((size_t)snprintf(buf, len, "%s/%s", name ? name : dir, path) >= len)
		return NULL;
	normalize(buf);
	if (dev_path(buf) == DP_NONE)
		return NULL;
	/* Trailing "/" and "/." say "a directory": keep them for dev_path(). */
	if (path[strlen(path) - 1] == '/' || !strcmp(path + strlen(path) - 1, ".")) {
		size_t m = strlen(buf);

		if (m + 2 >= len)
			return NULL;
		memcpy(buf + m, "/.", 3);
		if (dev_path(buf) == DP_NONE)
			return NULL;
	}
	return buf;
}

/*
 * A relative path that names an emulated node on Linux, as its absolute
 * path in @buf, @*dirfd then AT_FDCWD: one relative to an emulated
 * directory (@*dirfd is an fd of its stand-in, or AT_FDCWD while the
 * program works in it: "system" in /dev/dma_heap is the heap, and ".." is
 * /dev), or one that enters one from a real directory ("udmabuf" in /dev,
 * "dma_heap/system").  Anything else as it is.  Costs a look at the name
 * (may_name_emulated()); then, until the program opened or entered an
 * emulated directory, one system call for the few names it lets through;
 * after that, a stat() per relative path.
 */
static const char *rebase(int *dirfd, const char *path, char *buf, size_t len)
{
	const char *abs;
	struct stat st;
	int saved;

	if (!path || path[0] == '/' || !path[0])
		return path;
	if (__builtin_expect(__atomic_load_n(&emu_relative, __ATOMIC_RELAXED), 0)) {
		saved = errno;
		if (*dirfd == AT_FDCWD ? dmasync_real_stat(".", &st)
				       : dmasync_real_fstat(*dirfd, &st)) {
			errno = saved;
			return path;
		}
		for (unsigned int d = 0; d < N_EMULATED_DIRS; d++) {
			if (!__atomic_load_n(&emu_made[d], __ATOMIC_ACQUIRE) ||
			    st.st_dev != emu_dev[d] || st.st_ino != emu_ino[d])
				continue;
			if ((size_t)snprintf(buf, len, "%s/%s", emulated_name(d), path) >= len)
				return path;
			normalize(buf);
			*dirfd = AT_FDCWD;
			return buf;
		}
	}
	if (FAST(!may_name_emulated(path)))
		return path;
	abs = resolve_relative(*dirfd, path, buf, len);
	if (!abs)
		return path;
	*dirfd = AT_FDCWD;
	return abs;
}

/* Whether a path relative to @dirfd may name something in an emulated
 * directory: then rebase() it. */
static inline bool relative_path(const char *path)
{
	return path && path[0] && path[0] != '/';
}
#define REBASING(path)                                                                   \
	(__builtin_expect(relative_path(path), 0) &&                                     \
	 (__atomic_load_n(&emu_relative, __ATOMIC_RELAXED) || may_name_emulated(path)))

/*
 * What the path *@path, relative to the working directory, names: rebased
 * first (into @buf) when it may enter an emulated directory, *@path then
 * pointing at the rebased path.
 */
static enum dev_path dev_path_cwd(const char **path, char *buf, size_t len)
{
	int at = AT_FDCWD;

	if (REBASING(*path))
		*path = rebase(&at, *path, buf, len);
	return dev_path(*path);
}

/* The program now holds or works in an emulated directory. */
static void emulated_dir_entered(void)
{
	__atomic_store_n(&emu_relative, 1, __ATOMIC_RELAXED);
}

/* ---- what an fd is ------------------------------------------------------------------ */

static bool lib_fd(int fd);
static bool lib_fd_hidden(int fd);

/*
 * Whether @fd is one of dmasync's, filled in @obj.  Not in a signal handler
 * that interrupted this thread inside dmasync (client_busy()): the call
 * goes to libc as it is, rather than wait for a lock the interrupted code
 * holds.
 */
static bool ours(int fd, struct client_obj *obj)
{
	return client_enabled() && !client_busy() && client_find(fd, obj) == 1;
}

/* "TID/..." of another thread of this process: what follows "TID/", else
 * NULL (one system call: the thread group is the kernel's to say). */
static const char *other_thread(const char *path)
{
	char *end;
	long tid = strtol(path, &end, 10);
	int saved = errno;
	bool member;

	if (*end != '/' || tid <= 0 || tid > INT_MAX ||
	    (strncmp(end + 1, "fd", 2) && strncmp(end + 1, "task/", 5)))
		return NULL;	/* (no system call for /proc/1/stat and the like) */
	member = syscall(SYS_tgkill, (long)getpid(), tid, 0L) == 0;
	errno = saved;
	return member ? end + 1 : NULL;
}

/* "/proc/self/fd/N", "/proc/thread-self/fd/N", "/proc/PID/fd/N" for us or
 * for one of our threads, each also as ".../task/TID/fd/N" (and "/dev/fd/N"
 * for "fd"): N, else -1.  @what is "fd" or "fdinfo". */
static int proc_fd_number(const char *path, const char *what)
{
	char self[32];
	const char *rest = NULL;
	size_t n;
	long fd;
	char *end;

	if (!strcmp(what, "fd") && !strncmp(path, "/dev/fd/", 8)) {
		rest = path + 5;	/* /dev/fd is /proc/self/fd */
		goto number;
	}
	if (path[0] != '/' || path[1] != 'p' || strncmp(path, "/proc/", 6))
		return -1;
	path += 6;
	snprintf(self, sizeof(self), "%d/", (int)getpid());
	if (!strncmp(path, "self/", 5))
		rest = path + 5;
	else if (!strncmp(path, "thread-self/", 12))
		rest = path + 12;
	else if (!strncmp(path, self, strlen(self)))
		rest = path + strlen(self);
	else if (path[0] >= '1' && path[0] <= '9')
		rest = other_thread(path);
	if (!rest)
		return -1;
	/* a thread's view: /proc/self/task/TID/fd/N */
	if (!strncmp(rest, "task/", 5) && rest[5] >= '1' && rest[5] <= '9') {
		rest += 5 + strspn(rest + 5, "0123456789");
		if (*rest++ != '/')
			return -1;
	}
number:
	n = strlen(what);
	if (strncmp(rest, what, n) || rest[n] != '/')
		return -1;
	fd = strtol(rest + n + 1, &end, 10);
	if (*end || end == rest + n + 1 || fd < 0 || fd > INT_MAX)
		return -1;
	return (int)fd;
}

/* What /proc/self/fd/N reads for one of ours, as Linux shows it. */
static int fd_link_text(int fd, const struct client_obj *obj, char *buf, size_t len)
{
	struct ipc_fdinfo fi;

	switch (obj->kind) {
	case IPC_KIND_SYNC_FILE:
		return snprintf(buf, len, "anon_inode:sync_file");
	case IPC_KIND_TIMELINE:
		return snprintf(buf, len, "/sys/kernel/debug/sync/sw_sync");
	case IPC_KIND_UDMABUF_DEV:
		return snprintf(buf, len, "/dev/udmabuf");
	case IPC_KIND_HEAP_DEV:
		return snprintf(buf, len, "/dev/dma_heap/system");
	case IPC_KIND_DMA_BUF:
		if (client_fdinfo(fd, &fi))
			return snprintf(buf, len, "/dmabuf:");
		return snprintf(buf, len, "/dmabuf:%s", fi.name);
	default:
		return -1;
	}
}

/*
 * Mappings of dma-bufs, recorded by the mmap wrapper: a udmabuf's pages are
 * its source memfds', so /proc/self/maps cannot tell them (fdinfo's count
 * needs the records); and msync() and mremap() answer for every dma-buf's
 * mapping as Linux's do (no fsync; a heap buffer's pages cannot be grown
 * into).  An entry goes once its range is unmapped.
 */
#define PAGE_SIZE_4K 4096ul

struct map_record {
	unsigned long start, len;
	ino_t ino;	/* the dma-buf's */
	ino_t shown;	/* what /proc/self/maps shows at @start while it lasts: the
			 * heap buffer's memfd, or a udmabuf's first source memfd */
	bool memfd;	/* a heap buffer's */
	struct map_record *next;
};
static pthread_mutex_t maps_lock = PTHREAD_MUTEX_INITIALIZER;
static struct map_record *map_records;
/* Records kept, and the count at which the unmapped ones are dropped
 * (munmap() is not wrapped): twice what was left the last time. */
static unsigned long map_records_n, map_records_prune_at = 256;	/* atomic n: read unlocked */

/*
 * The pipes of vfork()s in progress (fork_in_order()), so that a fork() by
 * another thread meanwhile does not keep their ends in its child (which
 * would hold that parent until the child exec'ed or exited): every child
 * but the vfork()ing thread's own closes them.  vfork_lock guards the slots
 * and is held across fork(), so a pipe is never half recorded in a child,
 * nor closed and its number reused between record and fork.  Both ends
 * live at the library's floor and up and count as its fds (lib_fd()): the
 * program's close(), close_range() or dup2() cannot take them, in the
 * parent (another thread's closefrom()) or in the child (Python's
 * close_range() before its exec).  The numbers are read without the lock
 * by those checks (atomic loads).
 */
struct vfork_pipe {
	int r, w;	/* -1: none */
};
#define VFORK_PIPES 8
static pthread_mutex_t vfork_lock = PTHREAD_MUTEX_INITIALIZER;
static struct vfork_pipe vfork_pipes[VFORK_PIPES] = {
	[0 ... VFORK_PIPES - 1] = { -1, -1 },
};
static __thread struct vfork_pipe *vfork_mine;	/* this thread's fork() is a vfork() */

/* Whether @fd is an end of a vfork()'s pipe, its slot's field if so. */
static int *vfork_pipe_end(int fd)
{
	for (int i = 0; fd >= 0 && i < VFORK_PIPES; i++) {
		if (__atomic_load_n(&vfork_pipes[i].r, __ATOMIC_RELAXED) == fd)
			return &vfork_pipes[i].r;
		if (__atomic_load_n(&vfork_pipes[i].w, __ATOMIC_RELAXED) == fd)
			return &vfork_pipes[i].w;
	}
	return NULL;
}

/* Leaves of this stage, held across fork(): standin_lock, maps_lock, vfork_lock. */
static void preload_fork_take(void)
{
	pthread_mutex_lock(&standin_lock);
	pthread_mutex_lock(&maps_lock);
	pthread_mutex_lock(&vfork_lock);
}

static void preload_fork_give(void)
{
	pthread_mutex_unlock(&vfork_lock);
	pthread_mutex_unlock(&maps_lock);
	pthread_mutex_unlock(&standin_lock);
}

static void preload_fork_child(void)
{
	for (int i = 0; i < VFORK_PIPES; i++) {
		struct vfork_pipe *v = &vfork_pipes[i];

		if (v->r >= 0)
			syscall(SYS_close, v->r);
		__atomic_store_n(&v->r, -1, __ATOMIC_RELAXED);
		if (v != vfork_mine && v->w >= 0) {
			syscall(SYS_close, v->w);
			__atomic_store_n(&v->w, -1, __ATOMIC_RELAXED);
		}
	}
	preload_fork_give();
}

static const struct core_fork_handler maps_fork = {
	.prepare = preload_fork_take, .parent = preload_fork_give, .child = preload_fork_child,
};

static int ulong_cmp(const void *a, const void *b)
{
	unsigned long x = *(const unsigned long *)a, y = *(const unsigned long *)b;

	return x < y ? -1 : x > y;
}

/* maps_lock held: drop the records whose mapping is gone, with one read of
 * /proc/self/maps (a memory the program unmapped is never seen again). */
static void map_records_prune_locked(void)
{
	unsigned long *starts, n = 0, cap = 1024;
	struct map_record **p, *m;
	char line[512];
	FILE *maps = dmasync_real_fopen("/proc/self/maps", "re");

	starts = maps ? malloc(cap * sizeof(*starts)) : NULL;
	if (!starts) {
		if (maps)
			dmasync_real_fclose(maps);
		return;
	}
	while (fgets(line, sizeof(line), maps)) {
		if (n == cap) {
			unsigned long *more = realloc(starts, 2 * cap * sizeof(*starts));

			if (!more) {
				/* not the whole list: keep every record */
				dmasync_real_fclose(maps);
				free(starts);
				return;
			}
			starts = more;
			cap *= 2;
		}
		starts[n++] = strtoul(line, NULL, 16);
	}
	dmasync_real_fclose(maps);
	qsort(starts, n, sizeof(*starts), ulong_cmp);
	for (p = &map_records; (m = *p);) {
		if (!bsearch(&m->start, starts, n, sizeof(*starts), ulong_cmp)) {
			*p = m->next;
			free(m);
			__atomic_sub_fetch(&map_records_n, 1, __ATOMIC_RELAXED);
			continue;
		}
		p = &m->next;
	}
	free(starts);
	map_records_prune_at = map_records_n * 2 > 256 ? map_records_n * 2 : 256;
}

static void map_record_add(void *addr, size_t len, ino_t ino, ino_t shown, bool memfd)
{
	struct map_record *m = malloc(sizeof(*m));

	if (!m)
		return;
	m->start = (unsigned long)addr;
	m->len = (len + PAGE_SIZE_4K - 1) & ~(PAGE_SIZE_4K - 1);
	m->ino = ino;
	m->memfd = memfd;
	m->shown = shown;
	pthread_mutex_lock(&maps_lock);
	/* A mapping that starts where a recorded one did replaced it, or came
	 * after its munmap(). */
	for (struct map_record **p = &map_records, *old; (old = *p);) {
		if (old->start == m->start) {
			*p = old->next;
			free(old);
			__atomic_sub_fetch(&map_records_n, 1, __ATOMIC_RELAXED);
			continue;
		}
		p = &old->next;
	}
	m->next = map_records;
	map_records = m;
	if (__atomic_add_fetch(&map_records_n, 1, __ATOMIC_RELAXED) >= map_records_prune_at)
		map_records_prune_locked();
	pthread_mutex_unlock(&maps_lock);
}

/* Whether a mapping of this process starts at @start. */
static bool mapped_at(unsigned long start)
{
	char line[512];
	FILE *maps = dmasync_real_fopen("/proc/self/maps", "re");
	bool found = false;

	if (!maps)
		return false;
	while (!found && fgets(line, sizeof(line), maps))
		found = strtoul(line, NULL, 16) == start;
	dmasync_real_fclose(maps);
	return found;
}

/* Recorded mappings of @ino still in place (forgetting the others). */
static long recorded_maps(ino_t ino)
{
	struct map_record **p, *m;
	long n = 0;

	pthread_mutex_lock(&maps_lock);
	for (p = &map_records; (m = *p);) {
		if (m->ino == ino && !m->memfd && !mapped_at(m->start)) {
			*p = m->next;
			free(m);
			__atomic_sub_fetch(&map_records_n, 1, __ATOMIC_RELAXED);
			continue;
		}
		n += m->ino == ino && !m->memfd;
		p = &m->next;
	}
	pthread_mutex_unlock(&maps_lock);
	return n;
}

/* References to @obj's file in this process: its fds and its mappings. */
static long file_count(const struct client_obj *obj)
{
	char path[300], line[512];
	long count = 0;
	DIR *d = dmasync_real_opendir("/proc/self/fd");
	struct dirent *e;
	FILE *maps;

	if (d) {
		while ((e = dmasync_real_readdir(d))) {
			struct stat st;

			if (e->d_name[0] == '.')
				continue;
			snprintf(path, sizeof(path), "/proc/self/fd/%s", e->d_name);
			if (!dmasync_real_stat(path, &st) && st.st_dev == obj->dev &&
			    st.st_ino == obj->ino && atoi(e->d_name) != dirfd(d))
				count++;
		}
		dmasync_real_closedir(d);
	}
	maps = dmasync_real_fopen("/proc/self/maps", "re");
	if (maps) {
		while (fgets(line, sizeof(line), maps)) {
			unsigned long ino;

			if (sscanf(line, "%*s %*s %*s %*s %lu", &ino) == 1 && ino &&
			    ino == (unsigned long)obj->ino)
				count++;
		}
		dmasync_real_fclose(maps);
	}
	return count + recorded_maps(obj->ino);
}

/*
 * F_GETFL of the dmasync fd @fd of @kind whose socket or memfd says @fl,
 * as Linux's file says it: a sync file is an anon inode opened O_RDONLY;
 * open() of a device or of sw_sync keeps its access mode (which the
 * socket, always O_RDWR, cannot: uapi_device_accmode()) and adds
 * O_LARGEFILE, which dma-bufs (anon files) lack and a heap buffer's memfd
 * has.  O_APPEND... are the socket's or memfd's, as set; so is O_NONBLOCK
 * but a sync file's (uapi_sync_file_nonblock()).
 */
#define KERNEL_O_LARGEFILE 0100000	/* libc's O_LARGEFILE is 0 on LP64 */

static int kernel_fl(int fd, enum ipc_kind kind, int fl)
{
	switch (kind) {
	case IPC_KIND_SYNC_FILE:
		return (fl & ~(O_ACCMODE | O_NONBLOCK | KERNEL_O_LARGEFILE)) | O_RDONLY |
		       uapi_sync_file_nonblock(fd);
	case IPC_KIND_DMA_BUF:
		return fl & ~KERNEL_O_LARGEFILE;
	default:
		return (fl & ~O_ACCMODE) | uapi_device_accmode(fd) | KERNEL_O_LARGEFILE;
	}
}

/* The access mode of @obj's open file (@fd). */
static int obj_accmode(int fd, const struct client_obj *obj)
{
	switch (obj->kind) {
	case IPC_KIND_SYNC_FILE:
		return O_RDONLY;
	case IPC_KIND_DMA_BUF: {
		int fl = dmasync_real_fcntl(fd, F_GETFL);

		return fl < 0 ? O_RDWR : fl & O_ACCMODE;
	}
	default:
		return uapi_device_accmode(fd);
	}
}

/* Whether @obj's open file (@fd) was opened for writing / reading. */
static bool obj_writable(int fd, const struct client_obj *obj)
{
	int mode = obj_accmode(fd, obj);

	return mode == O_WRONLY || mode == O_RDWR;
}

static bool obj_readable(int fd, const struct client_obj *obj)
{
	int mode = obj_accmode(fd, obj);

	return mode == O_RDONLY || mode == O_RDWR;
}

/* A memfd holding /proc/self/fdinfo/@fd's text for one of ours. */
static int fdinfo_open(int fd, const struct client_obj *obj, int flags)
{
	char text[512];
	struct ipc_fdinfo fi;
	int fl = dmasync_real_fcntl(fd, F_GETFL), fdfl = dmasync_real_fcntl(fd, F_GETFD);
	int n, m;

	if (fl < 0)
		return -1;
	fl = kernel_fl(fd, obj->kind, fl);
	n = snprintf(text, sizeof(text), "pos:\t0\nflags:\t0%o\nmnt_id:\t15\nino:\t%lu\n",
		     (unsigned int)(fl | ((fdfl & FD_CLOEXEC) ? O_CLOEXEC : 0)),
		     (unsigned long)obj->ino);
	if (obj->kind == IPC_KIND_DMA_BUF && !client_fdinfo(fd, &fi)) {
		n += snprintf(text + n, sizeof(text) - (size_t)n,
			      "size:\t%llu\ncount:\t%ld\nexp_name:\t%s\n",
			      (unsigned long long)fi.size, file_count(obj), fi.exp_name);
		if (fi.has_name)
			n += snprintf(text + n, sizeof(text) - (size_t)n, "name:\t%s\n", fi.name);
	}
	m = memfd_create("fdinfo", (flags & O_CLOEXEC) ? MFD_CLOEXEC : 0);
	if (m < 0)
		return -1;
	if (dmasync_real_write(m, text, (size_t)n) != n || dmasync_real_lseek(m, 0, SEEK_SET)) {
		int e = errno;

		dmasync_real_close(m);
		errno = e;
		return -1;
	}
	return m;
}

/* ---- open --------------------------------------------------------------------------- */

/*
 * Whether opening @path can only give an fd that is not dmasync's: an
 * absolute path outside /proc and the /dev links into it (a heap dma-buf
 * is a memfd, which /proc/PID/fd/N opens again).  A symbolic link of one's
 * own into /proc is not followed here: its fd is looked up at first use.
 */
static bool ordinary_path(const char *path)
{
	return path[0] == '/' && strncmp(path, "/proc/", 6) && strncmp(path, "/dev/fd/", 8) &&
	       strncmp(path, "/dev/std", 8);
}

/*
 * Whether @path is absolute and, by its first bytes, names none of the
 * emulated nodes and nothing under /proc, /dev/fd or /dev/std*: what
 * dev_path(), proc_fd_number() and ordinary_path() would say of it, found
 * without a call (most paths differ from those by their second or sixth
 * byte).  A false answer means "look": do_openat_slow().
 */
static inline bool plain_path(const char *path)
{
	if (path[0] != '/')
		return false;
	switch (path[1]) {
	case 'p':
	case '/':	/* "//dev/udmabuf" */
	case '.':	/* "/./dev/udmabuf", "/../dev/udmabuf" */
		return false;
	case 's':
		/* Also "/sys//kernel/debug/..." (a path of /sys with "debug" in it). */
		return strncmp(path, "/sys/kernel/debug/", 18) != 0 && !strstr(path, "debug");
	case 'd':
		return path[2] != 'e' || path[3] != 'v' || path[4] != '/' ||
		       (path[5] != 'u' && path[5] != 'd' && path[5] != 'f' && path[5] != 's' &&
			path[5] != '/' && path[5] != '.');
	default:
		return true;
	}
}

static inline void fd_made(int fd);

/*
 * What Linux's debugfs shows root in /sys/kernel/debug/dma_buf/bufinfo and
 * /sys/kernel/debug/sync/info, for the broker's objects: the text of
 * `dmasync ls --format=bufinfo` or `--format=sync-info` ($DMASYNC_TOOL, set
 * by `dmasync run`; else `dmasync` in $PATH), run now (posix_spawn: no
 * fork of the program, its environment without LD_PRELOAD) into a memfd
 * that the program gets read-only, at offset 0.  The program may see a
 * SIGCHLD for it.  Return: the fd, or -1 with errno (EACCES for a writable
 * open, as for a user without the right; EIO if the listing failed).
 */
static SLOW int listing_open(enum dev_path p, int flags)
{
	const char *tool = getenv("DMASYNC_TOOL");
	char *argv[] = { (char *)"dmasync", (char *)"ls",
			 p == DP_BUFINFO ? (char *)"--format=bufinfo" : (char *)"--format=sync-info",
			 NULL };
	posix_spawn_file_actions_t fa;
	extern char **environ;
	char **env;
	int memfd, fd = -1, n = 0, status = 0, err = EIO;
	pid_t pid;

	if ((flags & O_ACCMODE) != O_RDONLY || (flags & O_CREAT)) {
		errno = EACCES;
		return -1;
	}
	memfd = memfd_create("dmasync-debugfs", MFD_CLOEXEC);
	if (memfd < 0)
		return -1;
	while (environ && environ[n])
		n++;
	env = calloc((size_t)n + 1, sizeof(*env));
	if (!env || posix_spawn_file_actions_init(&fa)) {
		free(env);
		dmasync_real_close(memfd);
		errno = ENOMEM;
		return -1;
	}
	for (int i = 0, j = 0; i < n; i++)
		if (strncmp(environ[i], "LD_PRELOAD=", 11))
			env[j++] = environ[i];
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, memfd, 1);
	posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
#if defined(__GLIBC__) && __GLIBC_PREREQ(2, 34)
	/* The tool counts every process's fds of each buffer: not the
	 * program's that it would inherit. */
	posix_spawn_file_actions_addclosefrom_np(&fa, 3);
#endif
	if (!(tool && *tool ? posix_spawn(&pid, tool, &fa, NULL, argv, env)
			    : posix_spawnp(&pid, "dmasync", &fa, NULL, argv, env))) {
		/* A program that ignores SIGCHLD has it reaped for us: ECHILD. */
		while (dmasync_real_waitpid(pid, &status, 0) < 0 && errno == EINTR)
			;
		if (dmasync_real_lseek(memfd, 0, SEEK_END) > 0) {
			char path[40];

			snprintf(path, sizeof(path), "/proc/self/fd/%d", memfd);
			fd = dmasync_real_openat(AT_FDCWD, path, O_RDONLY | (flags & O_CLOEXEC), 0);
			err = fd < 0 ? errno : 0;
		}
	}
	posix_spawn_file_actions_destroy(&fa);
	free(env);
	dmasync_real_close(memfd);
	if (fd < 0)
		errno = err;
	return fd;
}

static SLOW int do_openat_slow(int dirfd, const char *path, int flags, mode_t mode)
{
	char buf[PATH_MAX];
	enum dev_path p;
	struct client_obj obj;
	int saved = errno, fd;

	path = rebase(&dirfd, path, buf, sizeof(buf));
	p = dev_path_at(dirfd, path);
	if (emulated_file(p) && p != DP_NOTDIR && (flags & O_PATH) && !(flags & O_DIRECTORY))
		return standin_file_open(p, flags);	/* other flags are ignored */
	if (p != DP_NONE && (flags & (O_CREAT | O_DIRECTORY)) == (O_CREAT | O_DIRECTORY)) {
		errno = EINVAL;	/* Linux 6.1.192 (and 6.4 on) */
		return -1;
	}
	if (p != DP_NONE && p != DP_NOTDIR && (flags & (O_CREAT | O_EXCL)) == (O_CREAT | O_EXCL)) {
		errno = EEXIST;	/* they exist */
		return -1;
	}
	if (emulated_file(p) && (p == DP_NOTDIR || (flags & O_DIRECTORY))) {
		/* Linux: a trailing slash with O_CREAT is EISDIR first. */
		errno = p == DP_NOTDIR && (flags & O_CREAT) ? EISDIR : ENOTDIR;
		return -1;
	}
	if (emulated_file(p) && (flags & O_DIRECT)) {
		errno = EINVAL;	/* no direct I/O: character devices, debugfs */
		return -1;
	}

	switch (p) {
	case DP_UDMABUF:
	case DP_HEAP:
	case DP_SW_SYNC:
		/* As written without "//", "." or "..". */
		fd = dmasync_open(dev_path_name(p), flags);
		if (fd >= 0)
			errno = saved;
		return fd;
	case DP_HEAP_DIR:
	case DP_SYNC_DIR:
	case DP_DMABUF_DIR: {
		const char *dir = emulated_dir(p);

		if (!dir)
			break;
		fd = dmasync_real_openat(AT_FDCWD, dir, flags, mode);
		if (fd >= 0)
			emulated_dir_entered();
		return fd;
	}
	case DP_BUFINFO:
	case DP_SYNC_INFO:
		fd = listing_open(p, flags);
		if (fd >= 0) {
			errno = saved;
			fd_made(fd);
		}
		return fd;
	default:
		break;
	}
	if (path && __atomic_load_n(&emu_relative, __ATOMIC_RELAXED) &&
	    (fd = proc_fd_number(path, "fd")) >= 0) {
		struct stat st;

		/* A path-only fd of a stand-in file reopens as the node. */
		p = dmasync_real_fstat(fd, &st) ? DP_NONE : standin_node(st.st_dev, st.st_ino);
		errno = saved;
		if (emulated_file(p))
			return do_openat_slow(AT_FDCWD, dev_path_name(p), flags, mode);
	}
	if (path && (((fd = proc_fd_number(path, "fd")) >= 0 && lib_fd_hidden(fd)) ||
		     ((fd = proc_fd_number(path, "fdinfo")) >= 0 && lib_fd_hidden(fd)))) {
		/* the library's own fds are not the program's (lib_fd()) */
		errno = ENOENT;
		return -1;
	}
	if (path && (fd = proc_fd_number(path, "fdinfo")) >= 0 && ours(fd, &obj)) {
		fd = fdinfo_open(fd, &obj, flags);
		if (fd >= 0)
			errno = saved;
		return fd;
	}
	/*
	 * Reopening one of ours through /proc: a device or the sw_sync file
	 * opens anew, as its path does; a dma-buf or sync file cannot be
	 * opened (ENXIO).  Here a heap buffer would reopen its memfd, with
	 * any access mode asked (a read-only buffer made writable).  O_PATH
	 * opens nothing: the kernel's.
	 */
	if (path && !(flags & O_PATH) && (fd = proc_fd_number(path, "fd")) >= 0 && ours(fd, &obj)) {
		p = obj.kind == IPC_KIND_TIMELINE     ? DP_SW_SYNC
		    : obj.kind == IPC_KIND_UDMABUF_DEV ? DP_UDMABUF
		    : obj.kind == IPC_KIND_HEAP_DEV    ? DP_HEAP
						       : DP_NONE;
		if (p == DP_NONE) {
			errno = ENXIO;
			return -1;
		}
		errno = saved;
		return do_openat_slow(AT_FDCWD, dev_path_name(p), flags, mode);
	}
	fd = dmasync_real_openat(dirfd, path, flags, mode);
	if (fd >= 0 && ordinary_path(path))
		client_fd_made(fd);
	return fd;
}

/*
 * A plain path (plain_path()) opens a file of the system's: libc's call,
 * and the new fd recorded as not dmasync's, with no errno to keep (libc
 * leaves it alone on success).  @mode: 0 unless @flags want one.
 */
static inline int do_openat(int dirfd, const char *path, int flags, mode_t mode)
{
	if (FAST(path && plain_path(path))) {
		int fd = dmasync_real_openat_mode(dirfd, path, flags, mode);

		if (fd >= 0)
			fd_made(fd);
		return fd;
	}
	return do_openat_slow(dirfd, path, flags, mode);
}

/* Whether open flags carry a mode argument: else it is 0. */
static inline mode_t open_mode(int flags, mode_t mode)
{
	return (flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE ? mode : 0;
}

/*
 * open(const char *, int, ...) and the others: the mode, their one
 * optional argument, is a fixed fourth or third parameter, as ioctl()'s
 * below (no va_list; what the register holds when the caller passed no
 * mode is not used).
 */
EXPORT int preload_open(const char *path, int flags, mode_t mode) __asm__("open");
int preload_open(const char *path, int flags, mode_t mode)
{
	return do_openat(AT_FDCWD, path, flags, open_mode(flags, mode));
}

EXPORT int preload_open64(const char *path, int flags, mode_t mode) __asm__("open64");
int preload_open64(const char *path, int flags, mode_t mode)
{
	return do_openat(AT_FDCWD, path, flags, open_mode(flags, mode));
}

EXPORT int preload_openat(int dirfd, const char *path, int flags, mode_t mode) __asm__("openat");
int preload_openat(int dirfd, const char *path, int flags, mode_t mode)
{
	return do_openat(dirfd, path, flags, open_mode(flags, mode));
}

EXPORT int preload_openat64(int dirfd, const char *path, int flags, mode_t mode)
	__asm__("openat64");
int preload_openat64(int dirfd, const char *path, int flags, mode_t mode)
{
	return do_openat(dirfd, path, flags, open_mode(flags, mode));
}

/* The fortified entry points (-D_FORTIFY_SOURCE): no mode argument. */
EXPORT int __open_2(const char *path, int flags);
EXPORT int __open_2(const char *path, int flags)
{
	return do_openat(AT_FDCWD, path, flags, 0);
}

EXPORT int __open64_2(const char *path, int flags);
EXPORT int __open64_2(const char *path, int flags)
{
	return do_openat(AT_FDCWD, path, flags, 0);
}

EXPORT int __openat_2(int dirfd, const char *path, int flags);
EXPORT int __openat_2(int dirfd, const char *path, int flags)
{
	return do_openat(dirfd, path, flags, 0);
}

EXPORT int __openat64_2(int dirfd, const char *path, int flags);
EXPORT int __openat64_2(int dirfd, const char *path, int flags)
{
	return do_openat(dirfd, path, flags, 0);
}

EXPORT int creat(const char *path, mode_t mode)
{
	return do_openat(AT_FDCWD, path, O_CREAT | O_WRONLY | O_TRUNC, mode);
}

EXPORT int creat64(const char *path, mode_t mode)
{
	return creat(path, mode);
}

/*
 * Closes by other routes than close() (close_range(), dup2()/dup3() over
 * an fd, fclose()) of fds @lo..@hi: what close() does around the system
 * call for those the table knows are dmasync's (client_close_begin()):
 * a dma-buf's epoll registrations go, and a timeline's last close signals
 * its points before the call returns (closing_end()).  Not in a signal
 * handler that interrupted dmasync's own code, nor in process mode.
 */
struct closing {
	struct client_obj tl[16];
	int n;
};

static inline void closing_begin(struct closing *c, unsigned int lo, unsigned int hi)
{
	c->n = 0;
	if (!client_busy() && !uapi_files_any())
		c->n = client_close_begin(lo, hi, c->tl, 16);
}

static inline void closing_end(const struct closing *c)
{
	if (c->n)
		client_close_end(c->tl, c->n);
}

EXPORT FILE *fopen(const char *path, const char *mode)
{
	char buf[PATH_MAX];
	struct client_obj obj;
	int fd, at = AT_FDCWD;

	if (REBASING(path))
		path = rebase(&at, path, buf, sizeof(buf));

	if (dev_path(path) == DP_NONE &&
	    !(path && (fd = proc_fd_number(path, "fdinfo")) >= 0 && ours(fd, &obj)))
		return dmasync_real_fopen(path, mode);
	/* An emulated node or an fdinfo of ours: open it here, then stdio. */
	fd = do_openat(AT_FDCWD, path, (mode[0] == 'r' && !strchr(mode, '+')) ? O_RDONLY : O_RDWR,
		       0);
	if (fd < 0)
		return NULL;
	return fdopen(fd, mode);
}

EXPORT FILE *fopen64(const char *path, const char *mode)
{
	return fopen(path, mode);
}

EXPORT int fclose(FILE *f)
{
	int fd = f ? fileno(f) : -1, r;
	struct closing c = { .n = 0 };

	if (fd >= 0) {
		closing_begin(&c, (unsigned int)fd, (unsigned int)fd);
		client_fds_closing((unsigned int)fd, (unsigned int)fd);
	}
	r = dmasync_real_fclose(f);
	if (fd >= 0) {
		client_fds_closed((unsigned int)fd, (unsigned int)fd);
		closing_end(&c);
	}
	return r;
}

/*
 * Listings of this process's fds.  The library's own fds are not the
 * program's (lib_fd()): as close() and fcntl() of one answer EBADF, a
 * listing of /proc/self/fd or /proc/self/fdinfo (any of its names:
 * /dev/fd, /proc/PID/fd, a thread's, "." after chdir()) leaves them out,
 * so a program counting its fds there finds what it would on Linux.
 * readdir() looks at the directory only when an entry's name is the
 * number of one of the library's fds: nothing is paid at opendir().
 */

/* Which directory of this process's (or one of its threads') fds @link,
 * a directory's path as /proc/self/fd/N's link names it, is: 1 for
 * /proc/OURPID/fd (or /proc/OURPID/task/TID/fd...), 2 for fdinfo, else 0. */
static int fd_listing_link(const char *link)
{
	char want[32];
	const char *rest;

	snprintf(want, sizeof(want), "/proc/%d/", (int)getpid());
	if (!strncmp(link, want, strlen(want)))
		rest = link + strlen(want);
	else if (strncmp(link, "/proc/", 6) || !(rest = other_thread(link + 6)))
		return 0;	/* not ours, nor one of our threads' */
	if (!strncmp(rest, "task/", 5)) {
		rest += 5 + strspn(rest + 5, "0123456789");
		if (*rest++ != '/')
			return 0;
	}
	return !strcmp(rest, "fd") ? 1 : !strcmp(rest, "fdinfo") ? 2 : 0;
}

/* fd_listing_link() of the directory @dirfd (AT_FDCWD: the working one). */
static int fd_listing_kind(int dirfd)
{
	char path[32], link[64];
	struct statfs sfs;
	ssize_t n;
	int saved = errno, r;

	if (dirfd == AT_FDCWD) {
		r = dmasync_real_statfs(".", &sfs);
		snprintf(path, sizeof(path), "/proc/self/cwd");
	} else {
		r = dmasync_real_fstatfs(dirfd, &sfs);
		snprintf(path, sizeof(path), "/proc/self/fd/%d", dirfd);
	}
	if (r || sfs.f_type != 0x9fa0 /* PROC_SUPER_MAGIC */ ||
	    (n = dmasync_real_readlink(path, link, sizeof(link) - 1)) <= 0) {
		errno = saved;
		return 0;
	}
	errno = saved;
	link[n] = '\0';
	return fd_listing_link(link);
}

/*
 * lib_fd() where a lock may not be taken: a signal handler that interrupted
 * dmasync (client_busy()) sees the mirrors as the program's.  For what
 * only hides a number (listings, links); close() and dup() keep lib_fd().
 */
static bool lib_fd_hidden(int fd)
{
	return client_busy() ? client_fd_is_own(fd) || uapi_fd_is_own(fd) : lib_fd(fd);
}

/* Whether entry @e of @d is one of the library's fds in a listing of ours. */
static bool fd_listing_hides(DIR *d, const struct dirent *e)
{
	char *end;
	long fd;

	if (e->d_name[0] < '0' || e->d_name[0] > '9')
		return false;
	fd = strtol(e->d_name, &end, 10);
	return !*end && fd <= INT_MAX && lib_fd_hidden((int)fd) &&
	       fd_listing_kind(dirfd(d)) != 0;
}

EXPORT DIR *opendir(const char *path)
{
	char buf[PATH_MAX];
	enum dev_path p;
	const char *dir;
	int saved = errno;
	DIR *d;

	p = dev_path_cwd(&path, buf, sizeof(buf));
	if (emulated_file(p)) {
		errno = ENOTDIR;
		return NULL;
	}
	dir = emulated_dir(p);	/* may make the stand-in: errno as it was */
	errno = saved;
	d = dmasync_real_opendir(dir ? dir : path);
	if (d && dir)
		emulated_dir_entered();
	return d;
}

/*
 * chdir() into an emulated directory works in its stand-in, where paths
 * relative to "." are then rebased (rebase()); getcwd() names it as
 * Linux would.
 */
EXPORT int chdir(const char *path)
{
	char buf[PATH_MAX];
	enum dev_path p;
	const char *dir;
	int r;

	p = dev_path_cwd(&path, buf, sizeof(buf));
	if (emulated_file(p)) {
		errno = ENOTDIR;
		return -1;
	}
	dir = emulated_dir(p);
	r = dmasync_real_chdir(dir ? dir : path);
	if (!r && dir)
		emulated_dir_entered();
	return r;
}

EXPORT char *getcwd(char *buf, size_t size)
{
	char *r = dmasync_real_getcwd(buf, size);

	if (r && __atomic_load_n(&emu_relative, __ATOMIC_RELAXED)) {
		const char *name = standin_name(r, strlen(r));

		/* The stand-in's path is longer than the name. */
		if (name)
			memcpy(r, name, strlen(name) + 1);
	}
	return r;
}

/*
 * The heap's entry in /dev/dma_heap is a character device on Linux
 * (DT_CHR), the file standing for it a regular one: the one entry that
 * differs, told by its name first, then by the directory's inode.
 */
static void heap_dir_entry(DIR *d, struct dirent *e)
{
	struct stat st;
	int saved;

	if (FAST(!__atomic_load_n(&emu_relative, __ATOMIC_RELAXED)) || e->d_type != DT_REG ||
	    strcmp(e->d_name, "system"))
		return;
	saved = errno;
	if (!dmasync_real_fstat(dirfd(d), &st) &&
	    standin_node(st.st_dev, st.st_ino) == DP_HEAP_DIR) {
		struct stat dev;

		dev_stat(DP_HEAP, &dev);
		e->d_type = DT_CHR;
		e->d_ino = dev.st_ino;
	}
	errno = saved;
}

EXPORT struct dirent *readdir(DIR *d)
{
	struct dirent *e = dmasync_real_readdir(d);

	while (e && __builtin_expect(fd_listing_hides(d, e), 0))
		e = dmasync_real_readdir(d);
	if (e)
		heap_dir_entry(d, e);
	return e;
}

/* The same through the caller's @entry (deprecated, still in use). */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
EXPORT int readdir_r(DIR *d, struct dirent *entry, struct dirent **result)
{
	int r;

	do
		r = dmasync_real_readdir_r(d, entry, result);
	while (!r && *result && __builtin_expect(fd_listing_hides(d, *result), 0));
	if (!r && *result)
		heap_dir_entry(d, *result);
	return r;
}

/* LP64: struct dirent64 is struct dirent under another name. */
EXPORT int readdir64_r(DIR *d, struct dirent64 *entry, struct dirent64 **result)
{
	return readdir_r(d, (struct dirent *)entry, (struct dirent **)result);
}
#pragma GCC diagnostic pop

/* LP64: struct dirent64 is struct dirent under another name. */
EXPORT struct dirent64 *readdir64(DIR *d)
{
	return (struct dirent64 *)readdir(d);
}

/*
 * scandir() and its kin: glibc's reads with its own opendir() and
 * readdir(), which this library does not see (an fd listing would show
 * the library's fds, /dev/dma_heap would not be there).  So the same
 * work, on the streams above: every entry read, @sel keeps some (errno
 * as it was), @cmp sorts them, each in its own malloc()ed block.
 */
static int scan_stream(DIR *d, struct dirent ***list, int (*sel)(const struct dirent *),
		       int (*cmp)(const struct dirent **, const struct dirent **))
{
	struct dirent **v = NULL, *e;
	size_t n = 0, cap = 0;
	int saved = errno, err = 0;

	if (!d)
		return -1;
	for (;;) {
		struct dirent *copy;
		size_t len;

		errno = 0;
		e = readdir(d);
		if (!e) {
			err = errno;
			break;
		}
		if (sel && !sel(e))
			continue;
		if (n == cap) {
			struct dirent **more;

			cap = cap ? 2 * cap : 16;
			more = cap > INT_MAX ? NULL : realloc(v, cap * sizeof(*v));
			if (!more) {
				err = cap > INT_MAX ? EOVERFLOW : ENOMEM;
				break;
			}
			v = more;
		}
		/* the whole record, as glibc copies it (d_reclen covers it) */
		len = offsetof(struct dirent, d_name) + strlen(e->d_name) + 1;
		if (e->d_reclen > len)
			len = e->d_reclen;
		copy = malloc(len);
		if (!copy) {
			err = ENOMEM;
			break;
		}
		memcpy(copy, e, len);
		v[n++] = copy;
	}
	closedir(d);
	if (err) {
		while (n)
			free(v[--n]);
		free(v);
		errno = err;
		return -1;
	}
	if (cmp && n > 1)
		qsort(v, n, sizeof(*v), (int (*)(const void *, const void *))cmp);
	*list = v;
	errno = saved;
	return (int)n;
}

EXPORT int scandir(const char *path, struct dirent ***list, int (*sel)(const struct dirent *),
		   int (*cmp)(const struct dirent **, const struct dirent **))
{
	return scan_stream(opendir(path), list, sel, cmp);
}

EXPORT int scandirat(int dirfd, const char *path, struct dirent ***list,
		     int (*sel)(const struct dirent *),
		     int (*cmp)(const struct dirent **, const struct dirent **))
{
	int fd = openat(dirfd, path, O_RDONLY | O_DIRECTORY | O_NONBLOCK | O_CLOEXEC);
	DIR *d;

	if (fd < 0)
		return -1;
	d = fdopendir(fd);
	if (!d) {
		int saved = errno;

		close(fd);
		errno = saved;
		return -1;
	}
	return scan_stream(d, list, sel, cmp);
}

/* LP64: the 64 names are the same functions. */
EXPORT int scandir64(const char *path, struct dirent64 ***list,
		     int (*sel)(const struct dirent64 *),
		     int (*cmp)(const struct dirent64 **, const struct dirent64 **))
{
	return scan_stream(opendir(path), (struct dirent ***)list,
			   (int (*)(const struct dirent *))sel,
			   (int (*)(const struct dirent **, const struct dirent **))cmp);
}

EXPORT int scandirat64(int dirfd, const char *path, struct dirent64 ***list,
		       int (*sel)(const struct dirent64 *),
		       int (*cmp)(const struct dirent64 **, const struct dirent64 **))
{
	return scandirat(dirfd, path, (struct dirent ***)list,
			 (int (*)(const struct dirent *))sel,
			 (int (*)(const struct dirent **, const struct dirent **))cmp);
}

EXPORT int closedir(DIR *d)
{
	int fd = dirfd(d), r;

	if (fd >= 0)
		client_fds_closing((unsigned int)fd, (unsigned int)fd);
	r = dmasync_real_closedir(d);
	if (fd >= 0)
		client_fds_closed((unsigned int)fd, (unsigned int)fd);
	return r;
}

/* ---- stat and access ---------------------------------------------------------------- */

/*
 * What Linux 6.1's fstat() shows of a dmasync fd (measured in the kernel
 * VM; tests/uapi/conformance.c, "fstat" cases), over what the socket or
 * memfd underneath showed in @st.  Sync files and dma-bufs are anonymous
 * inodes: no file type bits, mode 0600, one link, no device, blocks of
 * 4096; a dma-buf's size is the buffer's (and its blocks the size in
 * 512-byte units), a sync file's 0 and its owner root (the one inode all
 * anonymous files share).  A timeline or a device fd shows what stat() of
 * its path does (dev_stat()).  The device and inode numbers and the times
 * stay the underlying file's: one per object, the same in every process,
 * and the inode /proc/self/fdinfo and `dmasync ls` show (Linux: every sync
 * file has the same inode, and a timeline's is its path's).
 */
static void stat_as_kernel(const struct client_obj *obj, struct stat *st)
{
	struct stat path;

	switch (obj->kind) {
	case IPC_KIND_SYNC_FILE:
		st->st_uid = 0;
		st->st_gid = 0;
		st->st_size = 0;
		st->st_blocks = 0;
		break;
	case IPC_KIND_DMA_BUF:
		st->st_size = (off_t)obj->size;
		st->st_blocks = (blkcnt_t)(obj->size / 512);
		break;
	case IPC_KIND_TIMELINE:
	case IPC_KIND_UDMABUF_DEV:
	case IPC_KIND_HEAP_DEV:
		dev_stat(obj->kind == IPC_KIND_TIMELINE ? DP_SW_SYNC :
			 obj->kind == IPC_KIND_UDMABUF_DEV ? DP_UDMABUF : DP_HEAP, &path);
		st->st_mode = path.st_mode;
		st->st_nlink = path.st_nlink;
		st->st_uid = path.st_uid;
		st->st_gid = path.st_gid;
		st->st_rdev = path.st_rdev;
		st->st_size = path.st_size;
		st->st_blksize = path.st_blksize;
		st->st_blocks = path.st_blocks;
		return;
	default:
		return;
	}
	st->st_mode = S_IRUSR | S_IWUSR;
	st->st_nlink = 1;
	st->st_rdev = 0;
	st->st_blksize = 4096;
}

/* The attribute bits statx() reports of every file (Linux 6.1). */
#define STATX_ATTRS_GENERIC ((__u64)(STATX_ATTR_AUTOMOUNT | STATX_ATTR_MOUNT_ROOT | STATX_ATTR_DAX))

/*
 * Those of a file under /dev: its file system's (devtmpfs, like tmpfs,
 * adds append, immutable and nodump), as statx() of /dev/null shows them;
 * read once.  errno kept.
 */
static __u64 dev_attributes_mask(void)
{
	static __u64 mask;	/* 0: not read yet */
	__u64 m = __atomic_load_n(&mask, __ATOMIC_RELAXED);
	struct statx stx;
	int saved = errno;

	if (m)
		return m;
	m = STATX_ATTRS_GENERIC;
	if (!dmasync_real_statx(AT_FDCWD, "/dev/null", 0, STATX_BASIC_STATS, &stx))
		m |= stx.stx_attributes_mask;
	errno = saved;
	__atomic_store_n(&mask, m, __ATOMIC_RELAXED);
	return m;
}

/* The same for statx(): the fields asked for or not, as the kernel fills
 * them all; none of these files has a birth time, nor attributes of its
 * own (a sync file or dma-buf has anon inode's, a timeline debugfs's). */
static void statx_as_kernel(const struct client_obj *obj, struct statx *stx)
{
	struct stat st;

	memset(&st, 0, sizeof(st));
	st.st_uid = stx->stx_uid;
	st.st_gid = stx->stx_gid;
	stat_as_kernel(obj, &st);
	stx->stx_mask &= ~(unsigned int)STATX_BTIME;
	memset(&stx->stx_btime, 0, sizeof(stx->stx_btime));
	stx->stx_mode = (__u16)st.st_mode;
	stx->stx_nlink = (__u32)st.st_nlink;
	stx->stx_uid = st.st_uid;
	stx->stx_gid = st.st_gid;
	stx->stx_size = (__u64)st.st_size;
	stx->stx_blocks = (__u64)st.st_blocks;
	stx->stx_blksize = (__u32)st.st_blksize;
	stx->stx_rdev_major = major(st.st_rdev);
	stx->stx_rdev_minor = minor(st.st_rdev);
	stx->stx_attributes = 0;
	if (obj->kind == IPC_KIND_UDMABUF_DEV || obj->kind == IPC_KIND_HEAP_DEV)
		stx->stx_attributes_mask = dev_attributes_mask();
	else
		stx->stx_attributes_mask = STATX_ATTRS_GENERIC;
}

/*
 * The stat wrappers of an fd call the next library's function, and the
 * next library may call ours back: fakeroot's fstat() calls __fxstat(),
 * its fstatat() __fxstatat(), and the library's own fstat() (identifying
 * an fd, mmap's check of a buffer) goes through fakeroot too.  A wrapper
 * entered while this thread is in one of the next library's stat calls
 * (dmasync_real_stat_depth) passes the call on as it is: the outermost
 * wrapper gives the answer, and the library sees its files as they are.
 */

/* How the next library stats @fd itself (the variants below). */
enum fd_stat_call { FD_FSTAT, FD_FXSTAT, FD_FSTATAT, FD_FXSTATAT, FD_FXSTATAT64 };

static int next_fd_stat(enum fd_stat_call call, int ver, int fd, struct stat *st, int flags)
{
	switch (call) {
	case FD_FSTAT:
		return dmasync_real_fstat(fd, st);
	case FD_FXSTAT:
		return dmasync_real___fxstat(ver, fd, st);
	case FD_FSTATAT:
		return dmasync_real_fstatat(fd, "", st, flags);
	case FD_FXSTATAT:
		return dmasync_real___fxstatat(ver, fd, "", st, flags);
	default:
		return dmasync_real___fxstatat64(ver, fd, "", (struct stat64 *)st, flags);
	}
}

/*
 * The library's own fds (the broker connection; the monitor's epoll and
 * inotify fds; the epoll mirrors of dma-bufs): kept at lib_floor and up
 * (preload_init()), and not the program's, as if they were not open.
 * Closing, copying (dup, dup2, dup3, F_DUPFD), reading, writing, ioctl,
 * fcntl, lseek or fstat of one answers EBADF, as a number the program
 * never opened does (the table never records one as "not dmasync's", so
 * the fast paths do not hand it to libc).  dup2()/dup3() onto one moves it
 * out of the way first (lib_fd_move()) and then does the program's call.
 */
static int lib_floor;

static bool lib_fd(int fd)
{
	return client_fd_is_own(fd) || uapi_fd_is_own(fd) || client_fd_is_mirror(fd) ||
	       vfork_pipe_end(fd);
}

/*
 * lib_fd() for the fast paths: below the floor, no number is the
 * library's (it keeps its fds at the floor and up; one that found no room
 * there stays below, and then only the slow paths know it).
 */
static inline bool lib_fd_above(int fd)
{
	return fd >= __atomic_load_n(&lib_floor, __ATOMIC_RELAXED) && lib_fd(fd);
}

/*
 * client_fd_made() of the number of a file the program just got: below
 * the floor (never the library's), a store into its slot if it has one
 * (a slot exists only once the table is trusted); else the function.
 */
static inline void fd_made(int fd)
{
	struct client_fd_slot *s = client_fd_slot(fd);

	if (s && fd < __atomic_load_n(&lib_floor, __ATOMIC_RELAXED))
		__atomic_store_n(&s->state, CLIENT_FD_NONE, __ATOMIC_RELEASE);
	else
		client_fd_made(fd);
}

/*
 * A stat of the fd @fd that the table does not know is not dmasync's: the
 * next library's answer, then the kernel's if the fd is one of ours.
 * errno: the next library's on failure, the program's on success.
 */
static SLOW int fd_stat_slow(enum fd_stat_call call, int ver, int fd, struct stat *st, int flags)
{
	struct client_obj obj;
	int saved = errno, r;

	/* Not inside a stat the library made itself (through another preload). */
	if (!dmasync_real_stat_depth && lib_fd_above(fd)) {
		errno = EBADF;	/* a number the program never opened */
		return -1;
	}
	r = next_fd_stat(call, ver, fd, st, flags);
	if (!r && !dmasync_real_stat_depth) {
		if (ours(fd, &obj))
			stat_as_kernel(&obj, st);
		else if (standin_node(st->st_dev, st->st_ino) != DP_NONE)
			dev_stat(standin_node(st->st_dev, st->st_ino), st);
	}
	if (!r)
		errno = saved;
	return r;
}

/*
 * Whether the table knows @fd is not dmasync's and the program holds no
 * emulated directory (whose stand-in's fds fstat() describes as Linux's
 * directory): then a stat of it is libc's.
 */
static inline bool fd_stat_plain(int fd)
{
	return client_fd_none(fd) && !__atomic_load_n(&emu_relative, __ATOMIC_RELAXED);
}

/* An fd the table knows is not dmasync's costs one lookup. */
EXPORT int fstat(int fd, struct stat *st)
{
	if (FAST(fd_stat_plain(fd)))
		return dmasync_real_fstat(fd, st);
	return fd_stat_slow(FD_FSTAT, 0, fd, st, 0);
}

/* LP64: struct stat64 is struct stat under another name. */
EXPORT int fstat64(int fd, struct stat64 *st)
{
	return fstat(fd, (struct stat *)st);
}

/* glibc < 2.33's entry point for fstat() (see __xstat() below). */
EXPORT int __fxstat(int ver, int fd, struct stat *st)
{
	if (FAST(fd_stat_plain(fd)))
		return dmasync_real___fxstat(ver, fd, st);
	return fd_stat_slow(FD_FXSTAT, ver, fd, st, 0);
}

EXPORT int __fxstat64(int ver, int fd, struct stat64 *st)
{
	return __fxstat(ver, fd, (struct stat *)st);
}

/* fstatat(fd, "", AT_EMPTY_PATH) and statx() of the same: the fd itself. */
static inline bool empty_path(int dirfd, const char *path, int flags)
{
	return (flags & AT_EMPTY_PATH) && path && !path[0] && dirfd != AT_FDCWD;
}

/* dev_stat() as statx() shows it. */
static void dev_statx(enum dev_path p, struct statx *stx)
{
	struct stat st;

	dev_stat(p, &st);
	memset(stx, 0, sizeof(*stx));
	stx->stx_mask = STATX_BASIC_STATS;
	stx->stx_mode = (__u16)st.st_mode;
	stx->stx_nlink = (__u32)st.st_nlink;
	stx->stx_ino = st.st_ino;
	stx->stx_blksize = (__u32)st.st_blksize;
	stx->stx_rdev_major = major(st.st_rdev);
	stx->stx_rdev_minor = minor(st.st_rdev);
	if (p == DP_UDMABUF || p == DP_HEAP || p == DP_HEAP_DIR)
		stx->stx_attributes_mask = dev_attributes_mask();
	else
		stx->stx_attributes_mask = STATX_ATTRS_GENERIC;
}

static SLOW int statx_fd(int fd, int flags, unsigned int mask, struct statx *stx)
{
	struct client_obj obj;
	int saved = errno, r;

	r = dmasync_real_statx(fd, "", flags, mask, stx);
	if (!r && !dmasync_real_stat_depth) {
		enum dev_path p = standin_node(makedev(stx->stx_dev_major, stx->stx_dev_minor),
					      stx->stx_ino);

		if (ours(fd, &obj))
			statx_as_kernel(&obj, stx);
		else if (p != DP_NONE)
			dev_statx(p, stx);
	}
	if (!r)
		errno = saved;
	return r;
}

/* Relative paths while the program works in or holds an emulated
 * directory (REBASING()): as the absolute path they name there. */
static SLOW int fstatat_rebased(int dirfd, const char *path, struct stat *st, int flags)
{
	char buf[PATH_MAX];
	const char *abs = rebase(&dirfd, path, buf, sizeof(buf));

	/* Still relative: nothing of ours (and no loop back here). */
	return abs == path ? dmasync_real_fstatat(dirfd, path, st, flags)
			   : fstatat(dirfd, abs, st, flags);
}

EXPORT int stat(const char *path, struct stat *st)
{
	enum dev_path p;

	if (REBASING(path))
		return fstatat_rebased(AT_FDCWD, path, st, 0);
	p = dev_path(path);

	if (p == DP_NONE)
		return dmasync_real_stat(path, st);
	return emulated_stat(p, st);
}

/* LP64: struct stat64 is struct stat under another name. */
EXPORT int stat64(const char *path, struct stat64 *st)
{
	return stat(path, (struct stat *)st);
}

EXPORT int lstat(const char *path, struct stat *st)
{
	enum dev_path p;

	if (REBASING(path))
		return fstatat_rebased(AT_FDCWD, path, st, AT_SYMLINK_NOFOLLOW);
	p = dev_path(path);

	if (p == DP_NONE)
		return dmasync_real_lstat(path, st);
	return emulated_stat(p, st);
}

EXPORT int lstat64(const char *path, struct stat64 *st)
{
	return lstat(path, (struct stat *)st);
}

EXPORT int fstatat(int dirfd, const char *path, struct stat *st, int flags)
{
	enum dev_path p;

	if (REBASING(path))
		return fstatat_rebased(dirfd, path, st, flags);
	p = dev_path_at(dirfd, path);

	if (empty_path(dirfd, path, flags) && !fd_stat_plain(dirfd))
		return fd_stat_slow(FD_FSTATAT, 0, dirfd, st, flags);
	if (p == DP_NONE)
		return dmasync_real_fstatat(dirfd, path, st, flags);
	return emulated_stat(p, st);
}

EXPORT int fstatat64(int dirfd, const char *path, struct stat64 *st, int flags)
{
	return fstatat(dirfd, path, (struct stat *)st, flags);
}

static SLOW int statx_rebased(int dirfd, const char *path, int flags, unsigned int mask,
			      struct statx *stx)
{
	char buf[PATH_MAX];
	const char *abs = rebase(&dirfd, path, buf, sizeof(buf));

	return abs == path ? dmasync_real_statx(dirfd, path, flags, mask, stx)
			   : statx(dirfd, abs, flags, mask, stx);
}

EXPORT int statx(int dirfd, const char *path, int flags, unsigned int mask, struct statx *stx)
{
	enum dev_path p;

	if (REBASING(path))
		return statx_rebased(dirfd, path, flags, mask, stx);
	p = dev_path_at(dirfd, path);

	if (empty_path(dirfd, path, flags) && !fd_stat_plain(dirfd))
		return statx_fd(dirfd, flags, mask, stx);
	if (p == DP_NONE)
		return dmasync_real_statx(dirfd, path, flags, mask, stx);
	if (p == DP_NOTDIR) {
		errno = ENOTDIR;
		return -1;
	}
	dev_statx(p, stx);
	return 0;
}

/*
 * The stat entry points of binaries built against glibc before 2.33 (and
 * of fakeroot's stat()): the same answers.  An emulated node is described
 * as struct stat, whatever @ver asks, as it is the only layout x86-64 has.
 */
EXPORT int __xstat(int ver, const char *path, struct stat *st)
{
	enum dev_path p;

	if (REBASING(path))
		return fstatat_rebased(AT_FDCWD, path, st, 0);
	p = dev_path(path);

	if (p == DP_NONE)
		return dmasync_real___xstat(ver, path, st);
	return emulated_stat(p, st);
}

EXPORT int __xstat64(int ver, const char *path, struct stat64 *st)
{
	enum dev_path p;

	if (REBASING(path))
		return fstatat_rebased(AT_FDCWD, path, (struct stat *)st, 0);
	p = dev_path(path);

	if (p == DP_NONE)
		return dmasync_real___xstat64(ver, path, st);
	return emulated_stat(p, (struct stat *)st);
}

EXPORT int __lxstat(int ver, const char *path, struct stat *st)
{
	enum dev_path p;

	if (REBASING(path))
		return fstatat_rebased(AT_FDCWD, path, st, AT_SYMLINK_NOFOLLOW);
	p = dev_path(path);

	if (p == DP_NONE)
		return dmasync_real___lxstat(ver, path, st);
	return emulated_stat(p, st);
}

EXPORT int __lxstat64(int ver, const char *path, struct stat64 *st)
{
	enum dev_path p;

	if (REBASING(path))
		return fstatat_rebased(AT_FDCWD, path, (struct stat *)st, AT_SYMLINK_NOFOLLOW);
	p = dev_path(path);

	if (p == DP_NONE)
		return dmasync_real___lxstat64(ver, path, st);
	return emulated_stat(p, (struct stat *)st);
}

EXPORT int __fxstatat(int ver, int dirfd, const char *path, struct stat *st, int flags)
{
	enum dev_path p;

	if (REBASING(path))
		return fstatat_rebased(dirfd, path, st, flags);
	p = dev_path_at(dirfd, path);

	if (empty_path(dirfd, path, flags) && !fd_stat_plain(dirfd))
		return fd_stat_slow(FD_FXSTATAT, ver, dirfd, st, flags);
	if (p == DP_NONE)
		return dmasync_real___fxstatat(ver, dirfd, path, st, flags);
	return emulated_stat(p, st);
}

EXPORT int __fxstatat64(int ver, int dirfd, const char *path, struct stat64 *st, int flags)
{
	enum dev_path p;

	if (REBASING(path))
		return fstatat_rebased(dirfd, path, (struct stat *)st, flags);
	p = dev_path_at(dirfd, path);

	if (empty_path(dirfd, path, flags) && !fd_stat_plain(dirfd))
		return fd_stat_slow(FD_FXSTATAT64, ver, dirfd, (struct stat *)st, flags);
	if (p == DP_NONE)
		return dmasync_real___fxstatat64(ver, dirfd, path, st, flags);
	return emulated_stat(p, (struct stat *)st);
}

static SLOW int faccessat_rebased(int dirfd, const char *path, int mode, int flags)
{
	char buf[PATH_MAX];
	const char *abs = rebase(&dirfd, path, buf, sizeof(buf));

	return abs == path ? dmasync_real_faccessat(dirfd, path, mode, flags)
			   : faccessat(dirfd, abs, mode, flags);
}

/*
 * access() of emulated node @p as Linux answers it: bad mode bits or flags
 * EINVAL; X_OK EACCES but for the directories (no execute bit, which
 * root needs too); W_OK of the read-only listings EACCES (their writable
 * open is refused); else allowed, as their open() is (whoever asks).
 */
static int dev_access(enum dev_path p, int mode, int flags)
{
	int err = 0;

	if (mode & ~(R_OK | W_OK | X_OK) ||
	    flags & ~(AT_EACCESS | AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH))
		err = EINVAL;
	else if (p == DP_NOTDIR)
		err = ENOTDIR;
	else if ((mode & X_OK) && p != DP_HEAP_DIR && p != DP_SYNC_DIR && p != DP_DMABUF_DIR)
		err = EACCES;
	else if ((mode & W_OK) && (p == DP_BUFINFO || p == DP_SYNC_INFO))
		err = EACCES;
	if (!err)
		return 0;
	errno = err;
	return -1;
}

EXPORT int access(const char *path, int mode)
{
	enum dev_path p;

	if (REBASING(path))
		return faccessat_rebased(AT_FDCWD, path, mode, 0);
	p = dev_path(path);
	return p == DP_NONE ? dmasync_real_access(path, mode) : dev_access(p, mode, 0);
}

EXPORT int faccessat(int dirfd, const char *path, int mode, int flags)
{
	enum dev_path p;

	if (REBASING(path))
		return faccessat_rebased(dirfd, path, mode, flags);
	p = dev_path_at(dirfd, path);
	return p == DP_NONE ? dmasync_real_faccessat(dirfd, path, mode, flags)
			    : dev_access(p, mode, flags);
}

EXPORT int euidaccess(const char *path, int mode)
{
	enum dev_path p;

	if (REBASING(path))
		return faccessat_rebased(AT_FDCWD, path, mode, AT_EACCESS);
	p = dev_path(path);
	return p == DP_NONE ? dmasync_real_faccessat(AT_FDCWD, path, mode, AT_EACCESS)
			    : dev_access(p, mode, AT_EACCESS);
}

EXPORT int eaccess(const char *path, int mode)
{
	return euidaccess(path, mode);
}

/* ---- readlink: /proc/self/fd/N ---------------------------------------------------- */

static ssize_t fd_readlink(const char *path, char *buf, size_t len, bool *handled)
{
	struct client_obj obj;
	char text[80];
	int fd = path ? proc_fd_number(path, "fd") : -1, n;

	*handled = false;
	if (fd >= 0 && lib_fd_hidden(fd)) {
		/* not the program's: not open, as far as it can tell */
		*handled = true;
		errno = ENOENT;
		return -1;
	}
	if (fd < 0 || !ours(fd, &obj))
		return -1;
	n = fd_link_text(fd, &obj, text, sizeof(text));
	if (n < 0)
		return -1;
	*handled = true;
	if ((size_t)n > len)
		n = (int)len;	/* readlink truncates silently */
	memcpy(buf, text, (size_t)n);
	return n;
}

/*
 * The link of an fd of a stand-in (an emulated directory's, or a file's
 * for O_PATH) is the emulated node's path, as on Linux: @r bytes of it in
 * @buf become the name.
 */
static ssize_t standin_link(ssize_t r, char *buf, size_t len)
{
	const char *name;

	if (r <= 0 || !__atomic_load_n(&emu_relative, __ATOMIC_RELAXED))
		return r;
	name = standin_name(buf, (size_t)r);
	for (unsigned int p = 0; !name && p < DP_NOTDIR; p++) {
		char path[PATH_MAX + 16];

		if (__atomic_load_n(&standin_files[p].made, __ATOMIC_ACQUIRE) &&
		    standin_file_path((enum dev_path)p, path, sizeof(path)) &&
		    strlen(path) == (size_t)r && !memcmp(path, buf, (size_t)r))
			name = dev_path_name((enum dev_path)p);
	}
	if (!name)
		return r;
	r = (ssize_t)strlen(name);
	if ((size_t)r > len)
		r = (ssize_t)len;
	memcpy(buf, name, (size_t)r);
	return r;
}

/*
 * readlink() and readlinkat(): /proc/self/fd/N of one of ours is the
 * kernel's link text; an emulated node is no symbolic link (EINVAL); a
 * stand-in directory's link is the emulated directory's path.
 */
static ssize_t do_readlink(int dirfd, const char *path, char *buf, size_t len)
{
	bool handled = false;
	ssize_t r = path && path[0] == '/' ? fd_readlink(path, buf, len, &handled) : -1;
	enum dev_path p;
	char abs[32];

	/* "N" relative to a directory of our fds (a directory fd of
	 * /proc/self/fd, or the working directory): /proc/self/fd/N. */
	if (path && path[0] >= '0' && path[0] <= '9' && strlen(path) < 11 &&
	    path[strspn(path, "0123456789")] == '\0' && fd_listing_kind(dirfd) == 1) {
		snprintf(abs, sizeof(abs), "/proc/self/fd/%s", path);
		r = fd_readlink(abs, buf, len, &handled);
	}

	if (handled)
		return r;
	p = dev_path(path);	/* NULL: DP_NONE, and libc's EFAULT */
	if (p != DP_NONE) {
		errno = p == DP_NOTDIR ? ENOTDIR : EINVAL;
		return -1;
	}
	r = dirfd == AT_FDCWD ? dmasync_real_readlink(path, buf, len)
			      : dmasync_real_readlinkat(dirfd, path, buf, len);
	return standin_link(r, buf, len);
}

EXPORT ssize_t readlink(const char *path, char *buf, size_t len)
{
	return do_readlink(AT_FDCWD, path, buf, len);
}

EXPORT ssize_t readlinkat(int dirfd, const char *path, char *buf, size_t len)
{
	return do_readlink(dirfd, path, buf, len);
}

/* ---- realpath, statfs ----------------------------------------------------------------- */

/*
 * realpath() of an emulated node is its path as written (glibc's own walk
 * would stat each component, and /dev/dma_heap is not on the machine).
 */
EXPORT char *realpath(const char *path, char *resolved)
{
	char buf[PATH_MAX];
	const char *name;
	enum dev_path p;

	p = dev_path_cwd(&path, buf, sizeof(buf));
	if (p == DP_NONE)
		return dmasync_real_realpath(path, resolved);
	if (p == DP_NOTDIR) {
		errno = ENOTDIR;
		return NULL;
	}
	name = dev_path_name(p);
	if (!resolved)
		return strdup(name);
	return strcpy(resolved, name);
}

EXPORT char *__realpath_chk(const char *path, char *resolved, size_t len);
EXPORT char *__realpath_chk(const char *path, char *resolved, size_t len)
{
	(void)len;	/* PATH_MAX or more, or glibc would not have chosen it */
	return realpath(path, resolved);
}

EXPORT char *canonicalize_file_name(const char *path)
{
	return realpath(path, NULL);
}

#define ANON_INODE_FS_MAGIC 0x09041934
#define DMA_BUF_MAGIC 0x444d4142
#define DEBUGFS_MAGIC 0x64626720
#define TMPFS_MAGIC 0x01021994

/* The file system Linux's file of kind @kind lives on. */
static long kind_fs(enum ipc_kind kind)
{
	switch (kind) {
	case IPC_KIND_SYNC_FILE:
		return ANON_INODE_FS_MAGIC;
	case IPC_KIND_DMA_BUF:
		return DMA_BUF_MAGIC;
	case IPC_KIND_TIMELINE:
		return DEBUGFS_MAGIC;
	default:
		return TMPFS_MAGIC;	/* devtmpfs */
	}
}

static SLOW int fstatfs_slow(int fd, struct statfs *buf)
{
	struct client_obj obj;
	int saved = errno, r;

	if (lib_fd_above(fd)) {
		errno = EBADF;	/* a number the program never opened */
		return -1;
	}
	r = dmasync_real_fstatfs(fd, buf);
	if (!r && ours(fd, &obj)) {
		buf->f_type = kind_fs(obj.kind);
		errno = saved;
	}
	return r;
}

/* An fd the table knows is not dmasync's costs one lookup. */
EXPORT int fstatfs(int fd, struct statfs *buf)
{
	if (FAST(client_fd_none(fd)))
		return dmasync_real_fstatfs(fd, buf);
	return fstatfs_slow(fd, buf);
}

EXPORT int fstatfs64(int fd, struct statfs64 *buf)
{
	return fstatfs(fd, (struct statfs *)buf);
}

/* statfs() of an emulated node: /dev's, or /sys's as debugfs. */
EXPORT int statfs(const char *path, struct statfs *buf)
{
	char rb[PATH_MAX];
	enum dev_path p;
	int r;
	bool dev;

	p = dev_path_cwd(&path, rb, sizeof(rb));
	if (p == DP_NONE)
		return dmasync_real_statfs(path, buf);
	if (p == DP_NOTDIR) {
		errno = ENOTDIR;
		return -1;
	}
	dev = p == DP_UDMABUF || p == DP_HEAP || p == DP_HEAP_DIR;
	r = dmasync_real_statfs(dev ? "/dev" : "/sys", buf);
	if (!r)
		buf->f_type = dev ? TMPFS_MAGIC : DEBUGFS_MAGIC;
	return r;
}

EXPORT int statfs64(const char *path, struct statfs64 *buf)
{
	return statfs(path, (struct statfs *)buf);
}

/* ---- fds the program makes: never dmasync's ------------------------------------------ */

static int made(int r, int fd)
{
	if (r >= 0)
		fd_made(fd);
	return r;
}

static int made_pair(int r, const int fds[2])
{
	if (!r) {
		fd_made(fds[0]);
		fd_made(fds[1]);
	}
	return r;
}

EXPORT int pipe(int fds[2])
{
	return made_pair(dmasync_real_pipe(fds), fds);
}

EXPORT int pipe2(int fds[2], int flags)
{
	return made_pair(dmasync_real_pipe2(fds, flags), fds);
}

EXPORT int socket(int domain, int type, int protocol)
{
	int fd = dmasync_real_socket(domain, type, protocol);

	return made(fd, fd);
}

EXPORT int socketpair(int domain, int type, int protocol, int sv[2])
{
	return made_pair(dmasync_real_socketpair(domain, type, protocol, sv), sv);
}

EXPORT int accept(int fd, __SOCKADDR_ARG addr, socklen_t *len)
{
	int r = dmasync_real_accept(fd, addr.__sockaddr__, len);

	return made(r, r);
}

EXPORT int accept4(int fd, __SOCKADDR_ARG addr, socklen_t *len, int flags)
{
	int r = dmasync_real_accept4(fd, addr.__sockaddr__, len, flags);

	return made(r, r);
}

EXPORT int eventfd(unsigned int initval, int flags)
{
	int fd = dmasync_real_eventfd(initval, flags);

	return made(fd, fd);
}

EXPORT int epoll_create(int size)
{
	int fd = dmasync_real_epoll_create(size);

	return made(fd, fd);
}

EXPORT int epoll_create1(int flags)
{
	int fd = dmasync_real_epoll_create1(flags);

	return made(fd, fd);
}

/* ---- fds: ioctl, close, dup ----------------------------------------------------------- */

static SLOW int ioctl_slow(int fd, unsigned long request, void *arg)
{
	int saved, r;

	if (lib_fd_above(fd)) {
		errno = EBADF;	/* a number the program never opened */
		return -1;
	}
	saved = errno;
	r = dmasync_ioctl(fd, request, arg);
	if (r >= 0)
		errno = saved;
	return r;
}

/*
 * ioctl(int, unsigned long, ...): every ioctl has one argument, and the
 * Linux ABIs (x86-64, AArch64, ...) pass a variadic argument where a fixed
 * one would be, so it is defined with a fixed third parameter (no va_list
 * and register save area on the fast path).  Same for fcntl() below.
 */
EXPORT int preload_ioctl(int fd, unsigned long request, void *arg) __asm__("ioctl");
int preload_ioctl(int fd, unsigned long request, void *arg)
{
	if (FAST(client_fd_none(fd) && !uapi_files_any()))
		return DMASYNC_REAL_FAST(ioctl)(fd, request, arg);
	return ioctl_slow(fd, request, arg);
}


/*
 * lib_fd_move - the program's dup2()/dup3() is about to replace the
 * library's fd @fd: move it to another number at or above the floor.
 * Return: 1 if it moved and left a copy of itself at @fd, which the call
 * replaces (or the caller closes if the call fails); 0 if @fd was closed
 * instead; a negative errno if it cannot move (it stays).  errno is kept.
 */
static int lib_fd_move(int fd)
{
	int saved = errno, floor = __atomic_load_n(&lib_floor, __ATOMIC_RELAXED), r;

	/* A signal handler that interrupted dmasync in this thread: the
	 * interrupted code may hold the lock that a move takes. */
	if (client_busy())
		return -EBUSY;
	if (vfork_pipe_end(fd)) {
		/* Moved under the lock, so that no fork() copies the slot
		 * between the two (its child would close the old number). */
		int *end;

		pthread_mutex_lock(&vfork_lock);
		end = vfork_pipe_end(fd);
		r = end ? (int)syscall(SYS_fcntl, fd, F_DUPFD_CLOEXEC, floor) : -1;
		if (r >= 0)
			__atomic_store_n(end, r, __ATOMIC_RELAXED);
		pthread_mutex_unlock(&vfork_lock);
		errno = saved;
		return r >= 0 ? 1 : end ? -EBUSY : 0;
	}
	r = client_move_own_fd(fd);
	if (r == -ENOENT)
		r = client_mirror_move(fd, floor);
	if (r == -ENOENT && uapi_fd_is_own(fd)) {
		/*
		 * The monitor's epoll or inotify fd: the registry lets both
		 * go while it holds no object (the first one makes them again,
		 * at the floor and up); otherwise they stay.
		 */
		if (!uapi_files_any())
			uapi_files_set_fd_floor(floor);
		r = uapi_fd_is_own(fd) ? -EBUSY : -ENOENT;
	}
	errno = saved;
	/* -ENOENT: not (or no longer) the library's */
	return r == -ENOENT ? 0 : r == 0 ? 1 : r;
}

/* Whether @s, @fd's slot, says it is not dmasync's, with no in-process
 * object (whose fds the table does not know). */
static inline bool close_none(struct client_fd_slot *s)
{
	return s && __atomic_load_n(&s->state, __ATOMIC_ACQUIRE) == CLIENT_FD_NONE &&
	       !uapi_files_any();
}

/*
 * close() of such an fd: closing, then closed, as the number may come back
 * at once as something else (client_fds_closing()): a store each.  libc's
 * close leaves errno alone on success.
 */
static inline int close_plain(struct client_fd_slot *s, int fd)
{
	int r;

	__atomic_store_n(&s->state, CLIENT_FD_CLOSING_STATE, __ATOMIC_RELEASE);
	r = DMASYNC_REAL_FAST(close)(fd);
	__atomic_store_n(&s->state, CLIENT_FD_UNKNOWN, __ATOMIC_RELEASE);
	return r;
}

static SLOW int close_slow(int fd);

/*
 * The fast path: an fd of the program's own making below the library's
 * floor; at the floor and up, close_slow() tells the library's fds first.
 */
EXPORT int close(int fd)
{
	struct client_fd_slot *s = client_fd_slot(fd);

	if (FAST(close_none(s) && fd < __atomic_load_n(&lib_floor, __ATOMIC_RELAXED)))
		return close_plain(s, fd);
	return close_slow(fd);
}

static SLOW int close_slow(int fd)
{
	struct client_fd_slot *s;
	struct client_obj obj;
	int saved = errno, r;
	bool mine;

	if (lib_fd(fd)) {
		errno = EBADF;
		return -1;
	}
	/* Not the library's: the fast path's case, at the floor and up. */
	s = client_fd_slot(fd);
	if (close_none(s))
		return close_plain(s, fd);
	mine = ours(fd, &obj);

	/* Once closed, the number may come back at once (to another thread,
	 * or a signal handler) as something else: closing, then closed. */
	if (fd >= 0)
		client_fds_closing((unsigned int)fd, (unsigned int)fd);
	/* Ours and not in-process: no second lookup (the slot is closing). */
	if (mine && !uapi_files_any())
		r = client_close_obj(fd, &obj);
	else
		r = mine ? dmasync_close(fd) : dmasync_real_close(fd);
	if (fd >= 0)
		client_fds_closed((unsigned int)fd, (unsigned int)fd);
	if (!r)
		errno = saved;
	return r;
}

/* close_range() of @lo..@hi around the library's own fds (and epoll mirrors
 * up to 512 fds in all: a program with more loses the registrations
 * beyond). */
static int close_range_around(unsigned int lo, unsigned int hi, int flags)
{
	int own[512], n = 0, r = 0;
	unsigned int from = lo;

	n += client_kept_fds(own, 128);
	n += uapi_own_fds(own + n);
	n += client_mirror_fds(own + n, 512 - 2 * VFORK_PIPES - n);
	for (int i = 0; i < VFORK_PIPES && n < 510; i++) {
		int rd = __atomic_load_n(&vfork_pipes[i].r, __ATOMIC_RELAXED);
		int wr = __atomic_load_n(&vfork_pipes[i].w, __ATOMIC_RELAXED);

		if (rd >= 0)
			own[n++] = rd;
		if (wr >= 0)
			own[n++] = wr;
	}
	/* in order (insertion: few) */
	for (int i = 1; i < n; i++)
		for (int j = i; j > 0 && own[j] < own[j - 1]; j--) {
			int t = own[j];

			own[j] = own[j - 1];
			own[j - 1] = t;
		}
	for (int i = 0; i < n && !r; i++) {
		unsigned int fd = (unsigned int)own[i];

		if (fd < from || fd > hi)
			continue;
		if (fd > from)
			r = dmasync_real_close_range(from, fd - 1, flags);
		from = fd + 1;
		if (fd == hi)
			return r;
	}
	return r ? r : dmasync_real_close_range(from, hi, flags);
}

EXPORT int close_range(unsigned int lo, unsigned int hi, int flags)
{
	/* CLOSE_RANGE_CLOEXEC only marks them. */
	bool closes = !(flags & CLOSE_RANGE_CLOEXEC) && lo <= hi;
	struct closing c = { .n = 0 };
	int r;

	if (closes) {
		closing_begin(&c, lo, hi);
		client_fds_closing(lo, hi);
	}
	r = lo <= hi ? close_range_around(lo, hi, flags) : dmasync_real_close_range(lo, hi, flags);
	if (closes) {
		client_fds_closed(lo, hi);
		closing_end(&c);
	}
	return r;
}

/* glibc's closefrom() closes with a system call of its own: here, around
 * the library's fds. */
EXPORT void closefrom(int lo)
{
	if (lo < 0)
		lo = 0;
	if (close_range((unsigned int)lo, ~0u, 0))
		dmasync_real_closefrom(lo);	/* no close_range(): libc's own way */
}

/* dup()'s answer @r, a copy of @fd, recorded as what @fd is. */
static SLOW int dup_record(int fd, int r)
{
	struct client_fd_slot *d;

	if (r < 0)
		return r;
	if (!client_fd_none(fd))
		client_fd_copied(fd, r);
	else if ((d = client_fd_slot(r)))
		__atomic_store_n(&d->state, CLIENT_FD_NONE, __ATOMIC_RELEASE);
	else
		client_fd_made(r);
	return r;
}

/* At the floor and up: maybe one of the library's fds. */
static SLOW int dup_slow(int fd)
{
	if (lib_fd(fd)) {
		errno = EBADF;	/* a number the program never opened */
		return -1;
	}
	return dup_record(fd, dmasync_real_dup(fd));
}

/* The fast path: a copy of an fd the table knows is not dmasync's, below
 * the library's floor, is a store (dup_record()'s second case). */
EXPORT int dup(int fd)
{
	struct client_fd_slot *d;
	int r;

	if (!FAST(fd < __atomic_load_n(&lib_floor, __ATOMIC_RELAXED)))
		return dup_slow(fd);
	r = DMASYNC_REAL_FAST(dup)(fd);
	if (!FAST(r >= 0 && client_fd_none(fd) && (d = client_fd_slot(r))))
		return dup_record(fd, r);
	__atomic_store_n(&d->state, CLIENT_FD_NONE, __ATOMIC_RELEASE);
	return r;
}

/*
 * dup2() and dup3(): what was at @fd2 is replaced.  If that is one of the
 * library's fds, the program does not know it is there (as on Linux, where
 * it is not): the library's fd moves to another number first, then the
 * program's call runs.  Only if it cannot move (no free number at the
 * floor and up; a signal handler that interrupted dmasync; the monitor's
 * fds while in-process objects exist) does the call answer EBUSY.
 */
static int dup_over(int fd, int fd2, int flags, bool three)
{
	struct closing c = { .n = 0 };
	int r, moved = 0;

	/* Copying one of the library's fds: a number the program never
	 * opened (dup3()'s EINVAL checks come first, as in Linux). */
	if (lib_fd_above(fd) && !(three && (fd == fd2 || (flags & ~O_CLOEXEC)))) {
		errno = EBADF;
		return -1;
	}
	if (fd2 != fd && lib_fd(fd2)) {
		moved = lib_fd_move(fd2);
		if (moved < 0) {
			errno = EBUSY;
			return -1;
		}
	}
	if (fd2 >= 0 && fd2 != fd) {
		closing_begin(&c, (unsigned int)fd2, (unsigned int)fd2);
		client_fds_closing((unsigned int)fd2, (unsigned int)fd2);
	}
	r = three ? dmasync_real_dup3(fd, fd2, flags) : dmasync_real_dup2(fd, fd2);
	if (r >= 0) {
		client_fd_copied(fd, r);
		closing_end(&c);
		return r;
	}
	if (moved > 0) {
		/* The call failed: the copy the move left goes, as if the
		 * number had not been open (it was not, for the program). */
		int e = errno;

		dmasync_real_close(fd2);
		errno = e;
	}
	if (fd2 >= 0 && fd2 != fd)
		client_fds_closed((unsigned int)fd2, (unsigned int)fd2);
	return r;
}

EXPORT int dup2(int fd, int fd2)
{
	return dup_over(fd, fd2, 0, false);
}

EXPORT int dup3(int fd, int fd2, int flags)
{
	return dup_over(fd, fd2, flags, true);
}

/*
 * fcntl()'s requests that Linux answers from the file itself: locks need
 * the access mode their type does (EBADF; the socket under ours is
 * O_RDWR), seals are shmem's (a heap buffer's memfd has them: EINVAL;
 * F_ADD_SEALS checks for writing first: EPERM), leases regular files'
 * (EINVAL; the timeline's is open for writing by the kernel itself:
 * EAGAIN).  Return: the errno, or 0 to let libc's call run.
 */
static int fcntl_file_error(int fd, const struct client_obj *obj, int cmd, void *arg)
{
	struct flock l;

	switch (cmd) {
	case F_SETLK:
	case F_SETLKW:
	case F_OFD_SETLK:
	case F_OFD_SETLKW:
		if (copy_from_user(&l, arg, sizeof(l)))
			return 0;	/* libc's: EFAULT */
		if ((l.l_type == F_RDLCK && !obj_readable(fd, obj)) ||
		    (l.l_type == F_WRLCK && !obj_writable(fd, obj)))
			return EBADF;
		return 0;
	case F_GET_SEALS:
		return EINVAL;
	case F_ADD_SEALS:
		return obj_writable(fd, obj) ? EINVAL : EPERM;
	case F_SETLEASE:
		if ((long)arg != F_RDLCK && (long)arg != F_WRLCK && (long)arg != F_UNLCK)
			return EINVAL;
		return obj->kind == IPC_KIND_TIMELINE ? EAGAIN : EINVAL;
	default:
		return 0;
	}
}

static SLOW int fcntl_slow(int fd, int cmd, void *arg)
{
	struct client_obj obj;
	int r;

	if (lib_fd_above(fd)) {
		errno = EBADF;	/* a number the program never opened */
		return -1;
	}
	if (!client_fd_none(fd) && ours(fd, &obj)) {
		int e = fcntl_file_error(fd, &obj, cmd, arg);

		if (e) {
			errno = e;
			return -1;
		}
		/* No dmasync file has a fasync method: Linux ignores O_ASYNC
		 * (the socket under ours would send SIGIO, whose default kills). */
		if (cmd == F_SETFL && ((long)arg & O_ASYNC))
			arg = (void *)((long)arg & ~(long)O_ASYNC);
		/* A sync file's socket stays non-blocking; the program's flag
		 * is kept beside it. */
		if (cmd == F_SETFL && obj.kind == IPC_KIND_SYNC_FILE) {
			r = uapi_sync_file_set_nonblock(fd, (long)arg & O_NONBLOCK);
			if (r) {
				errno = -r;
				return -1;
			}
			arg = (void *)((long)arg | O_NONBLOCK);
		}
	} else {
		obj.kind = IPC_KIND_NONE;
	}
	r = dmasync_real_fcntl_ptr(fd, cmd, arg);
	if (r < 0)
		return r;
	if (cmd == F_DUPFD || cmd == F_DUPFD_CLOEXEC)
		client_fd_copied(fd, r);
	else if (cmd == F_GETFL && obj.kind != IPC_KIND_NONE)
		r = kernel_fl(fd, obj.kind, r);
	return r;
}

/* The requests that may act differently on one of ours; the dups always
 * need more than libc. */
#define FCNTL_OURS_LOW ((1ull << F_GETFL) | (1ull << F_SETFL) | (1ull << F_SETLK) | \
			(1ull << F_SETLKW) | (1ull << F_OFD_SETLK) | (1ull << F_OFD_SETLKW))

static inline bool fcntl_request_ours(int cmd)
{
	if ((unsigned int)cmd < 64)
		return (FCNTL_OURS_LOW >> cmd) & 1;
	return cmd == F_GET_SEALS || cmd == F_ADD_SEALS || cmd == F_SETLEASE;
}

/* Only a dup, one of the requests above on one of ours, or any call on a
 * number at the library's floor and up (maybe its own: EBADF), need more
 * than libc. */
static inline int do_fcntl(int fd, int cmd, void *arg)
{
	int floor = __atomic_load_n(&lib_floor, __ATOMIC_RELAXED);

	if (FAST((fd < floor || !floor) && cmd != F_DUPFD && cmd != F_DUPFD_CLOEXEC &&
		 (!fcntl_request_ours(cmd) || client_fd_none(fd))))
		return DMASYNC_REAL_FAST(fcntl)(fd, cmd, arg);
	return fcntl_slow(fd, cmd, arg);
}

/* With a fixed third parameter, as ioctl() above. */
EXPORT int preload_fcntl(int fd, int cmd, void *arg) __asm__("fcntl");
int preload_fcntl(int fd, int cmd, void *arg)
{
	return do_fcntl(fd, cmd, arg);
}

EXPORT int preload_fcntl64(int fd, int cmd, void *arg) __asm__("fcntl64");
int preload_fcntl64(int fd, int cmd, void *arg)
{
	return do_fcntl(fd, cmd, arg);
}

/* ---- read, write, lseek, mmap ---------------------------------------------------------- */

/*
 * A call that none of the kernel's files behind dmasync's fds supports:
 * -1 with errno @err on a dmasync fd, EBADF on one of the library's own (a
 * number the program never opened); 0 for any other fd, errno as it was.
 */
/*
 * Whether @fd is a dmasync fd (in *@obj); EBADF in errno for one of the
 * library's own numbers (and true: the caller fails).  errno is kept
 * otherwise.
 */
static SLOW bool file_call_ours(int fd, struct client_obj *obj)
{
	if (lib_fd_above(fd)) {
		errno = EBADF;
		obj->kind = IPC_KIND_NONE;
		return true;
	}
	return ours(fd, obj);
}

static SLOW int refused(int fd, int err)
{
	struct client_obj obj;
	int saved = errno;

	if (!file_call_ours(fd, &obj)) {
		errno = saved;
		return 0;
	}
	if (obj.kind != IPC_KIND_NONE)
		errno = err;
	return -1;
}

/*
 * A vector of @n entries at @iov, read as the kernel imports one: a count
 * over UIO_MAXIOV (1024; a negative int is one) EINVAL, an unreadable array
 * EFAULT, a length over SSIZE_MAX EINVAL, then a range outside user space
 * EFAULT.  An errno, 0 if it would be accepted.
 */
static SLOW int iov_refused(const struct iovec *iov, int n)
{
	const unsigned long user_top = 0x7ffffffff000ul;	/* x86-64's TASK_SIZE_MAX */
	struct iovec v[32];

	if (n < 0 || n > 1024)
		return EINVAL;
	/* the whole array, then every length, then every range */
	for (int pass = 0; pass < 3; pass++)
		for (int i = 0; i < n; i += 32) {
			int k = n - i < 32 ? n - i : 32;
			/* an address, not pointer arithmetic: @iov may be NULL */
			uintptr_t at = (uintptr_t)iov + (uintptr_t)i * sizeof(v[0]);

			if (copy_from_user(v, (const void *)at, (size_t)k * sizeof(v[0])))
				return EFAULT;
			for (int j = 0; j < k && pass; j++) {
				unsigned long b = (unsigned long)v[j].iov_base, l = v[j].iov_len;

				if (pass == 1 && l > (unsigned long)SSIZE_MAX)
					return EINVAL;
				if (pass == 2 && (l > user_top || b > user_top - l))
					return EFAULT;
			}
		}
	return 0;
}

/*
 * One read or write call of the plain, vector and positioned forms, as
 * refused_rw() judges it.
 */
struct rw_call {
	bool write;
	bool positioned;		/* at @pos, not the file position */
	off_t pos;
	bool vector;			/* with @iov, @niov */
	const struct iovec *iov;
	int niov;
};

/*
 * Linux, in its order: a negative position EINVAL (before the fd is
 * looked at); no positioned I/O on sync files and dma-bufs (anon files)
 * nor on the heap device (nonseekable_open()): ESPIPE; a vector's own
 * errors (iov_refused()); then the access mode (a sync file is O_RDONLY; a
 * device or timeline as opened): EBADF; then none of them has read or
 * write: EINVAL.  0 for an fd not dmasync's, errno kept.
 */
static SLOW int refused_rw(int fd, const struct rw_call *c)
{
	struct client_obj obj;
	int saved = errno, e;

	if (!file_call_ours(fd, &obj)) {
		errno = saved;
		return 0;
	}
	if (c->positioned && c->pos < 0)
		errno = EINVAL;
	else if (obj.kind == IPC_KIND_NONE)
		errno = EBADF;	/* one of the library's own */
	else if (c->positioned && (obj.kind == IPC_KIND_SYNC_FILE || obj.kind == IPC_KIND_DMA_BUF ||
			      obj.kind == IPC_KIND_HEAP_DEV))
		errno = ESPIPE;	/* anon files; the heap's nonseekable_open() */
	else if (c->vector && (e = iov_refused(c->iov, c->niov)))
		errno = e;
	else if (!(c->write ? obj_writable(fd, &obj) : obj_readable(fd, &obj)))
		errno = EBADF;
	else
		errno = EINVAL;
	return -1;
}

#define RW_PLAIN(w) (&(const struct rw_call){ .write = (w) })

/* None of them has read or write. */
static SLOW ssize_t read_slow(int fd, void *buf, size_t n)
{
	if (refused_rw(fd, RW_PLAIN(false)))
		return -1;
	return dmasync_real_read(fd, buf, n);
}

EXPORT ssize_t read(int fd, void *buf, size_t n)
{
	if (FAST(client_fd_none(fd)))
		return DMASYNC_REAL_FAST(read)(fd, buf, n);
	return read_slow(fd, buf, n);
}

static SLOW ssize_t write_slow(int fd, const void *buf, size_t n)
{
	if (refused_rw(fd, RW_PLAIN(true)))
		return -1;
	return dmasync_real_write(fd, buf, n);
}

EXPORT ssize_t write(int fd, const void *buf, size_t n)
{
	if (FAST(client_fd_none(fd)))
		return DMASYNC_REAL_FAST(write)(fd, buf, n);
	return write_slow(fd, buf, n);
}

/* libc checks the buffer first, then the call is read()'s. */
EXPORT ssize_t __read_chk(int fd, void *buf, size_t n, size_t len);
EXPORT ssize_t __read_chk(int fd, void *buf, size_t n, size_t len)
{
	if (!FAST(client_fd_none(fd)) && n <= len && refused_rw(fd, RW_PLAIN(false)))
		return -1;
	return dmasync_real___read_chk(fd, buf, n, len);
}

/* @positioned: whether @off is a position (else the file's is used);
 * @vector: whether it is a vector call, of @v and @nv. */
#define RW_CALL(fd, w, positioned, off, vector, v, nv, name, args)				\
	do {											\
		const struct rw_call c_ = { (w), (positioned), (off), (vector), (v), (nv) };	\
												\
		if (!FAST(client_fd_none(fd)) && refused_rw(fd, &c_))				\
			return -1;								\
		return dmasync_real_##name args;						\
	} while (0)

EXPORT ssize_t readv(int fd, const struct iovec *iov, int n)
{
	RW_CALL(fd, false, false, 0, true, iov, n, readv, (fd, iov, n));
}

EXPORT ssize_t writev(int fd, const struct iovec *iov, int n)
{
	RW_CALL(fd, true, false, 0, true, iov, n, writev, (fd, iov, n));
}

EXPORT ssize_t pread(int fd, void *buf, size_t n, off_t off)
{
	RW_CALL(fd, false, true, off, false, NULL, 0, pread, (fd, buf, n, off));
}

EXPORT ssize_t pread64(int fd, void *buf, size_t n, off_t off)
{
	return pread(fd, buf, n, off);
}

EXPORT ssize_t __pread_chk(int fd, void *buf, size_t n, off_t off, size_t len);
EXPORT ssize_t __pread_chk(int fd, void *buf, size_t n, off_t off, size_t len)
{
	if (!FAST(client_fd_none(fd)) && n <= len &&
	    refused_rw(fd, &(const struct rw_call){ .positioned = true, .pos = off }))
		return -1;
	return dmasync_real___pread_chk(fd, buf, n, off, len);
}

EXPORT ssize_t __pread64_chk(int fd, void *buf, size_t n, off_t off, size_t len);
EXPORT ssize_t __pread64_chk(int fd, void *buf, size_t n, off_t off, size_t len)
{
	return __pread_chk(fd, buf, n, off, len);
}

EXPORT ssize_t pwrite(int fd, const void *buf, size_t n, off_t off)
{
	RW_CALL(fd, true, true, off, false, NULL, 0, pwrite, (fd, buf, n, off));
}

EXPORT ssize_t pwrite64(int fd, const void *buf, size_t n, off_t off)
{
	return pwrite(fd, buf, n, off);
}

EXPORT ssize_t preadv(int fd, const struct iovec *iov, int n, off_t off)
{
	RW_CALL(fd, false, true, off, true, iov, n, preadv, (fd, iov, n, off));
}

EXPORT ssize_t preadv64(int fd, const struct iovec *iov, int n, off_t off)
{
	return preadv(fd, iov, n, off);
}

EXPORT ssize_t pwritev(int fd, const struct iovec *iov, int n, off_t off)
{
	RW_CALL(fd, true, true, off, true, iov, n, pwritev, (fd, iov, n, off));
}

EXPORT ssize_t pwritev64(int fd, const struct iovec *iov, int n, off_t off)
{
	return pwritev(fd, iov, n, off);
}

/* Offset -1: the file position, as readv() (no ESPIPE then). */
EXPORT ssize_t preadv2(int fd, const struct iovec *iov, int n, off_t off, int flags)
{
	RW_CALL(fd, false, off != -1, off, true, iov, n, preadv2, (fd, iov, n, off, flags));
}

EXPORT ssize_t preadv64v2(int fd, const struct iovec *iov, int n, off_t off, int flags)
{
	return preadv2(fd, iov, n, off, flags);
}

EXPORT ssize_t pwritev2(int fd, const struct iovec *iov, int n, off_t off, int flags)
{
	RW_CALL(fd, true, off != -1, off, true, iov, n, pwritev2, (fd, iov, n, off, flags));
}

EXPORT ssize_t pwritev64v2(int fd, const struct iovec *iov, int n, off_t off, int flags)
{
	return pwritev2(fd, iov, n, off, flags);
}

/*
 * In-kernel copies (splice(), tee(), sendfile()): none of dmasync's files
 * can be spliced from or to.  Each call's checks in Linux's order, then
 * both ends' (copy_ends_refused()).  A foreign end is judged by its
 * F_GETFL (a bad fd, the access mode) and fstat() (a pipe); the calls
 * with no fd of ours go to libc as they are.
 */

/* Whether @fd, not ours, is a pipe or FIFO (get_pipe_info()). */
static bool foreign_pipe(int fd)
{
	struct stat st;

	return !dmasync_real_fstat(fd, &st) && S_ISFIFO(st.st_mode);
}

/*
 * Reading @in and writing @out: EBADF for a bad fd (either) or one not
 * open for that; else EINVAL (no splice_read or splice_write).  Always -1.
 */
static SLOW int copy_ends_refused(int in, int out)
{
	const int ends[2] = { in, out };
	bool bad = false;

	for (int i = 0; i < 2 && !bad; i++) {
		struct client_obj obj;
		int fl;

		if (file_call_ours(ends[i], &obj)) {
			bad = obj.kind == IPC_KIND_NONE ||
			      !(i ? obj_writable(ends[i], &obj) : obj_readable(ends[i], &obj));
			continue;
		}
		fl = fcntl(ends[i], F_GETFL);
		bad = fl < 0 || (fl & O_PATH) ||
		      (fl & O_ACCMODE) == (i ? O_RDONLY : O_WRONLY);
	}
	errno = bad ? EBADF : EINVAL;
	return -1;
}

#define SPLICE_FLAGS_KNOWN (SPLICE_F_MOVE | SPLICE_F_NONBLOCK | SPLICE_F_MORE | SPLICE_F_GIFT)

/*
 * splice(): nothing to copy is 0 before anything is looked at; then the
 * flags; the fds; an offset for a pipe end ESPIPE; the offsets' memory
 * EFAULT; then the ends.
 */
static SLOW ssize_t splice_slow(int in, loff_t *off_in, int out, loff_t *off_out, size_t n,
				unsigned int flags)
{
	struct client_obj oi, oo;
	int saved = errno;
	bool in_ours = file_call_ours(in, &oi), out_ours = file_call_ours(out, &oo);
	loff_t o;

	if (!in_ours && !out_ours) {
		errno = saved;
		return dmasync_real_splice(in, off_in, out, off_out, n, flags);
	}
	errno = saved;
	if (!n)
		return 0;
	errno = EINVAL;
	if (flags & ~SPLICE_FLAGS_KNOWN)
		return -1;
	errno = EBADF;
	if ((in_ours && oi.kind == IPC_KIND_NONE) || (out_ours && oo.kind == IPC_KIND_NONE) ||
	    (!in_ours && fcntl(in, F_GETFD) < 0) || (!out_ours && fcntl(out, F_GETFD) < 0))
		return -1;
	errno = ESPIPE;
	if ((off_in && !in_ours && foreign_pipe(in)) || (off_out && !out_ours && foreign_pipe(out)))
		return -1;
	errno = EFAULT;
	if ((off_out && copy_from_user(&o, off_out, sizeof(o))) ||
	    (off_in && copy_from_user(&o, off_in, sizeof(o))))
		return -1;
	return copy_ends_refused(in, out);
}

EXPORT ssize_t splice(int in, loff_t *off_in, int out, loff_t *off_out, size_t n,
		      unsigned int flags)
{
	if (FAST(client_fd_none(in) && client_fd_none(out)))
		return dmasync_real_splice(in, off_in, out, off_out, n, flags);
	return splice_slow(in, off_in, out, off_out, n, flags);
}

/* tee(): the flags first, then nothing to copy is 0, then the ends. */
static SLOW ssize_t tee_slow(int in, int out, size_t n, unsigned int flags)
{
	struct client_obj oi, oo;
	int saved = errno;

	if (!file_call_ours(in, &oi) && !file_call_ours(out, &oo)) {
		errno = saved;
		return dmasync_real_tee(in, out, n, flags);
	}
	errno = EINVAL;
	if (flags & ~SPLICE_FLAGS_KNOWN)
		return -1;
	errno = saved;
	if (!n)
		return 0;
	return copy_ends_refused(in, out);
}

EXPORT ssize_t tee(int in, int out, size_t n, unsigned int flags)
{
	if (FAST(client_fd_none(in) && client_fd_none(out)))
		return dmasync_real_tee(in, out, n, flags);
	return tee_slow(in, out, n, flags);
}

/*
 * sendfile(): the offset is read first (EFAULT); then the input: a bad fd
 * or one not open for reading EBADF, an offset for a file without
 * positions ESPIPE (ours but the timeline and /dev/udmabuf; a foreign one
 * that cannot seek), a negative offset EINVAL; then both ends.
 */
static SLOW ssize_t sendfile_slow(int out, int in, off_t *off, size_t n)
{
	struct client_obj oi, oo;
	int saved = errno, fl;
	bool in_ours = file_call_ours(in, &oi), out_ours = file_call_ours(out, &oo);
	off_t pos = 0;

	if (!in_ours && !out_ours) {
		errno = saved;
		return dmasync_real_sendfile(out, in, off, n);
	}
	errno = EFAULT;
	if (off && copy_from_user(&pos, off, sizeof(pos)))
		return -1;
	errno = EBADF;
	if (in_ours) {
		if (oi.kind == IPC_KIND_NONE || !obj_readable(in, &oi))
			return -1;
		errno = ESPIPE;
		if (off && oi.kind != IPC_KIND_TIMELINE && oi.kind != IPC_KIND_UDMABUF_DEV)
			return -1;
	} else {
		fl = fcntl(in, F_GETFL);
		if (fl < 0 || (fl & O_PATH) || (fl & O_ACCMODE) == O_WRONLY)
			return -1;
		errno = ESPIPE;
		if (off && lseek(in, 0, SEEK_CUR) < 0 && errno == ESPIPE)
			return -1;
	}
	errno = EINVAL;
	if (off && pos < 0)
		return -1;
	return copy_ends_refused(in, out);
}

EXPORT ssize_t sendfile(int out, int in, off_t *off, size_t n)
{
	if (FAST(client_fd_none(in) && client_fd_none(out)))
		return dmasync_real_sendfile(out, in, off, n);
	return sendfile_slow(out, in, off, n);
}

EXPORT ssize_t sendfile64(int out, int in, off_t *off, size_t n)
{
	return sendfile(out, in, off, n);
}

/*
 * The calls on a file's data and attributes that Linux's files behind
 * dmasync's fds refuse: a sync file and a dma-buf are anon files (no type
 * bits), the devices character devices, a timeline a debugfs regular file
 * without data.  Without these, a heap buffer's memfd would be truncated,
 * punched, synced, copied, sealed, leased and given extended attributes,
 * and a socket's "system.sockprotoname" would show.  Each first checks
 * what Linux checks first (arguments, then the access mode), with errors
 * from Linux 6.1 (conformance case file_calls).
 */

static SLOW int ftruncate_slow(int fd, off_t len)
{
	struct client_obj obj;

	if (!file_call_ours(fd, &obj))
		return dmasync_real_ftruncate(fd, len);
	if (obj.kind == IPC_KIND_NONE)
		return -1;
	/* Only a regular file opened for writing: the timeline's (no data). */
	if (len >= 0 && obj.kind == IPC_KIND_TIMELINE && obj_writable(fd, &obj))
		return 0;
	errno = EINVAL;
	return -1;
}

EXPORT int ftruncate(int fd, off_t len)
{
	if (FAST(client_fd_none(fd)))
		return dmasync_real_ftruncate(fd, len);
	return ftruncate_slow(fd, len);
}

EXPORT int ftruncate64(int fd, off_t len)
{
	return ftruncate(fd, len);
}

/* fallocate()'s errno on one of ours, 0 never: its arguments' checks, the
 * access mode, then the file's type. */
static int falloc_error(int fd, const struct client_obj *obj, int mode, off_t off, off_t len)
{
	const int known = FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE | FALLOC_FL_NO_HIDE_STALE |
			  FALLOC_FL_COLLAPSE_RANGE | FALLOC_FL_ZERO_RANGE | FALLOC_FL_INSERT_RANGE |
			  FALLOC_FL_UNSHARE_RANGE;

	if (off < 0 || len <= 0)
		return EINVAL;
	if ((mode & ~known) ||
	    (mode & (FALLOC_FL_PUNCH_HOLE | FALLOC_FL_ZERO_RANGE)) ==
		    (FALLOC_FL_PUNCH_HOLE | FALLOC_FL_ZERO_RANGE) ||
	    ((mode & FALLOC_FL_PUNCH_HOLE) && !(mode & FALLOC_FL_KEEP_SIZE)))
		return EOPNOTSUPP;
	if (((mode & FALLOC_FL_COLLAPSE_RANGE) && mode != FALLOC_FL_COLLAPSE_RANGE) ||
	    ((mode & FALLOC_FL_INSERT_RANGE) && mode != FALLOC_FL_INSERT_RANGE) ||
	    ((mode & FALLOC_FL_UNSHARE_RANGE) &&
	     (mode & ~(FALLOC_FL_UNSHARE_RANGE | FALLOC_FL_KEEP_SIZE))))
		return EINVAL;
	if (!obj_writable(fd, obj))
		return EBADF;
	/* debugfs has no fallocate; the others are neither regular nor block */
	return obj->kind == IPC_KIND_TIMELINE ? EOPNOTSUPP : ENODEV;
}

static SLOW int fallocate_slow(int fd, int mode, off_t off, off_t len)
{
	struct client_obj obj;

	if (!file_call_ours(fd, &obj))
		return dmasync_real_fallocate(fd, mode, off, len);
	if (obj.kind != IPC_KIND_NONE)
		errno = falloc_error(fd, &obj, mode, off, len);
	return -1;
}

EXPORT int fallocate(int fd, int mode, off_t off, off_t len)
{
	if (FAST(client_fd_none(fd)))
		return dmasync_real_fallocate(fd, mode, off, len);
	return fallocate_slow(fd, mode, off, len);
}

EXPORT int fallocate64(int fd, int mode, off_t off, off_t len)
{
	return fallocate(fd, mode, off, len);
}

/* libc's: fallocate(0), and where that is not supported (the timeline),
 * its own writes, which fail as the timeline's write does.  An error
 * number, errno untouched. */
static SLOW int posix_fallocate_slow(int fd, off_t off, off_t len)
{
	struct client_obj obj;
	int saved = errno, e;

	if (!file_call_ours(fd, &obj))
		return dmasync_real_posix_fallocate(fd, off, len);
	e = obj.kind == IPC_KIND_NONE ? EBADF : falloc_error(fd, &obj, 0, off, len);
	errno = saved;
	return e == EOPNOTSUPP ? EINVAL : e;
}

EXPORT int posix_fallocate(int fd, off_t off, off_t len)
{
	if (FAST(client_fd_none(fd)))
		return dmasync_real_posix_fallocate(fd, off, len);
	return posix_fallocate_slow(fd, off, len);
}

EXPORT int posix_fallocate64(int fd, off_t off, off_t len)
{
	return posix_fallocate(fd, off, len);
}

/* None of them has an fsync method. */
EXPORT int fsync(int fd)
{
	if (!FAST(client_fd_none(fd)) && refused(fd, EINVAL))
		return -1;
	return dmasync_real_fsync(fd);
}

EXPORT int fdatasync(int fd)
{
	if (!FAST(client_fd_none(fd)) && refused(fd, EINVAL))
		return -1;
	return dmasync_real_fdatasync(fd);
}

/* Its arguments first; then only regular files (the timeline's, with no
 * pages: nothing to do) are synced, the others ESPIPE. */
static SLOW int sync_file_range_slow(int fd, off_t off, off_t n, unsigned int flags)
{
	const unsigned int known = SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE |
				   SYNC_FILE_RANGE_WAIT_AFTER;
	struct client_obj obj;
	uint64_t end = (uint64_t)off + (uint64_t)n;

	if (!file_call_ours(fd, &obj))
		return dmasync_real_sync_file_range(fd, off, n, flags);
	if (obj.kind == IPC_KIND_NONE)
		return -1;
	if ((flags & ~known) || off < 0 || (int64_t)end < 0 || end < (uint64_t)off) {
		errno = EINVAL;
		return -1;
	}
	if (obj.kind == IPC_KIND_TIMELINE)
		return 0;
	errno = ESPIPE;
	return -1;
}

EXPORT int sync_file_range(int fd, off_t off, off_t n, unsigned int flags)
{
	if (FAST(client_fd_none(fd)))
		return dmasync_real_sync_file_range(fd, off, n, flags);
	return sync_file_range_slow(fd, off, n, flags);
}

/* Nothing to read ahead in a file without pages; a timeline's succeeds. */
static SLOW ssize_t readahead_slow(int fd, off_t off, size_t n)
{
	struct client_obj obj;

	if (!file_call_ours(fd, &obj))
		return dmasync_real_readahead(fd, off, n);
	if (obj.kind == IPC_KIND_NONE)
		return -1;
	if (obj.kind == IPC_KIND_TIMELINE && obj_readable(fd, &obj))
		return 0;
	errno = obj_readable(fd, &obj) ? EINVAL : EBADF;
	return -1;
}

EXPORT ssize_t readahead(int fd, off_t off, size_t n)
{
	if (FAST(client_fd_none(fd)))
		return dmasync_real_readahead(fd, off, n);
	return readahead_slow(fd, off, n);
}

/*
 * In-kernel copies between files (flags first, then each end's type): none
 * of ours is a regular file (EINVAL) but the timeline; between it and
 * another regular file, the access modes (EBADF), then their file systems
 * differ (EXDEV).
 */
static SLOW int copy_range_refused(int in, int out, unsigned int flags)
{
	struct client_obj oin = { .kind = IPC_KIND_NONE }, oout = { .kind = IPC_KIND_NONE };
	int saved = errno;
	bool in_ours = !client_fd_none(in) && file_call_ours(in, &oin);
	bool out_ours = !client_fd_none(out) && file_call_ours(out, &oout);
	struct stat st;

	if (!in_ours && !out_ours) {
		errno = saved;
		return 0;
	}
	if ((in_ours && oin.kind == IPC_KIND_NONE) || (out_ours && oout.kind == IPC_KIND_NONE))
		return -1;	/* one of the library's own: EBADF */
	errno = EINVAL;
	if (flags || (in_ours && oin.kind != IPC_KIND_TIMELINE) ||
	    (out_ours && oout.kind != IPC_KIND_TIMELINE))
		return -1;
	/* a timeline at one end at least, and nothing else of ours */
	if (dmasync_real_fstat(in_ours ? out : in, &st))
		return -1;	/* EBADF */
	errno = EINVAL;
	if (!S_ISREG(st.st_mode))
		return -1;
	if ((in_ours && !obj_readable(in, &oin)) || (out_ours && !obj_writable(out, &oout)))
		errno = EBADF;
	else
		errno = EXDEV;
	return -1;
}

EXPORT ssize_t copy_file_range(int in, loff_t *off_in, int out, loff_t *off_out, size_t n,
			       unsigned int flags)
{
	if (!FAST(client_fd_none(in) && client_fd_none(out)) && copy_range_refused(in, out, flags))
		return -1;
	return dmasync_real_copy_file_range(in, off_in, out, off_out, n, flags);
}

/*
 * Extended attributes.  Linux: a debugfs file has none and takes none
 * (EOPNOTSUPP); the others take no "user." attributes (not regular files:
 * ENODATA to read, EPERM to write), have no handler for the rest
 * (EOPNOTSUPP) and list nothing.  The name is checked first, by libc's
 * own read of it from the fd (EFAULT, ERANGE); a socket's
 * "system.sockprotoname" never shows.
 */
enum xattr_op { XATTR_GET, XATTR_SET, XATTR_REMOVE };

static SLOW int xattr_refused(int fd, const char *name, enum xattr_op op)
{
	struct client_obj obj;
	int saved = errno;

	if (!file_call_ours(fd, &obj)) {
		errno = saved;
		return 0;
	}
	if (obj.kind == IPC_KIND_NONE)
		return -1;
	if (dmasync_real_fgetxattr(fd, name, NULL, 0) < 0 && (errno == EFAULT || errno == ERANGE))
		return -1;
	if (obj.kind == IPC_KIND_TIMELINE)
		errno = EOPNOTSUPP;
	else if (!strncmp(name, "user.", 5))
		errno = op == XATTR_GET ? ENODATA : EPERM;
	else
		errno = EOPNOTSUPP;
	return -1;
}

EXPORT ssize_t fgetxattr(int fd, const char *name, void *value, size_t size)
{
	if (!FAST(client_fd_none(fd)) && xattr_refused(fd, name, XATTR_GET))
		return -1;
	return dmasync_real_fgetxattr(fd, name, value, size);
}

EXPORT int fsetxattr(int fd, const char *name, const void *value, size_t size, int flags)
{
	if (!FAST(client_fd_none(fd)) && xattr_refused(fd, name, XATTR_SET))
		return -1;
	return dmasync_real_fsetxattr(fd, name, value, size, flags);
}

EXPORT int fremovexattr(int fd, const char *name)
{
	if (!FAST(client_fd_none(fd)) && xattr_refused(fd, name, XATTR_REMOVE))
		return -1;
	return dmasync_real_fremovexattr(fd, name);
}

static SLOW ssize_t flistxattr_slow(int fd, char *list, size_t size)
{
	struct client_obj obj;

	if (!file_call_ours(fd, &obj))
		return dmasync_real_flistxattr(fd, list, size);
	return obj.kind == IPC_KIND_NONE ? -1 : 0;
}

EXPORT ssize_t flistxattr(int fd, char *list, size_t size)
{
	if (FAST(client_fd_none(fd)))
		return dmasync_real_flistxattr(fd, list, size);
	return flistxattr_slow(fd, list, size);
}

/*
 * Socket calls.  Linux's sync files, dma-bufs, timelines and device fds are
 * not sockets, whatever dmasync makes them of: a socket call on one
 * answers ENOTSOCK and never reaches the socket under it (a shutdown()
 * there would read as its last close, a recv() would take bytes that are
 * not the program's).  Every other fd costs the table lookup.
 */
#define SOCK_CALL(fd, name, args)                                               \
	do {                                                                    \
		if (!FAST(client_fd_none(fd)) && refused(fd, ENOTSOCK))          \
			return -1;                                              \
		return dmasync_real_##name args;                                \
	} while (0)

EXPORT int shutdown(int fd, int how)
{
	SOCK_CALL(fd, shutdown, (fd, how));
}

EXPORT int getsockopt(int fd, int level, int name, void *val, socklen_t *len)
{
	SOCK_CALL(fd, getsockopt, (fd, level, name, val, len));
}

EXPORT int setsockopt(int fd, int level, int name, const void *val, socklen_t len)
{
	SOCK_CALL(fd, setsockopt, (fd, level, name, val, len));
}

EXPORT int getsockname(int fd, struct sockaddr *addr, socklen_t *len)
{
	SOCK_CALL(fd, getsockname, (fd, addr, len));
}

EXPORT int getpeername(int fd, struct sockaddr *addr, socklen_t *len)
{
	SOCK_CALL(fd, getpeername, (fd, addr, len));
}

EXPORT int connect(int fd, const struct sockaddr *addr, socklen_t len)
{
	SOCK_CALL(fd, connect, (fd, addr, len));
}

EXPORT int bind(int fd, const struct sockaddr *addr, socklen_t len)
{
	SOCK_CALL(fd, bind, (fd, addr, len));
}

EXPORT int listen(int fd, int backlog)
{
	SOCK_CALL(fd, listen, (fd, backlog));
}

EXPORT ssize_t send(int fd, const void *buf, size_t n, int flags)
{
	SOCK_CALL(fd, send, (fd, buf, n, flags));
}

EXPORT ssize_t sendto(int fd, const void *buf, size_t n, int flags, const struct sockaddr *addr,
		      socklen_t len)
{
	SOCK_CALL(fd, sendto, (fd, buf, n, flags, addr, len));
}

EXPORT ssize_t sendmsg(int fd, const struct msghdr *msg, int flags)
{
	SOCK_CALL(fd, sendmsg, (fd, msg, flags));
}

EXPORT ssize_t recv(int fd, void *buf, size_t n, int flags)
{
	SOCK_CALL(fd, recv, (fd, buf, n, flags));
}

EXPORT ssize_t recvfrom(int fd, void *buf, size_t n, int flags, struct sockaddr *addr,
			socklen_t *len)
{
	SOCK_CALL(fd, recvfrom, (fd, buf, n, flags, addr, len));
}

EXPORT ssize_t recvmsg(int fd, struct msghdr *msg, int flags)
{
	SOCK_CALL(fd, recvmsg, (fd, msg, flags));
}

/* _FORTIFY_SOURCE's forms: libc's size check first (glibc exports it,
 * no header declares it). */
extern void __chk_fail(void) __attribute__((noreturn));

EXPORT ssize_t __recv_chk(int fd, void *buf, size_t n, size_t buflen, int flags);
EXPORT ssize_t __recv_chk(int fd, void *buf, size_t n, size_t buflen, int flags)
{
	if (n > buflen)
		__chk_fail();
	return recv(fd, buf, n, flags);
}

EXPORT ssize_t __recvfrom_chk(int fd, void *buf, size_t n, size_t buflen, int flags,
			      struct sockaddr *addr, socklen_t *len);
EXPORT ssize_t __recvfrom_chk(int fd, void *buf, size_t n, size_t buflen, int flags,
			      struct sockaddr *addr, socklen_t *len)
{
	if (n > buflen)
		__chk_fail();
	return recvfrom(fd, buf, n, flags, addr, len);
}

static SLOW off_t lseek_slow(int fd, off_t off, int whence)
{
	int saved;
	off_t r;

	if (lib_fd_above(fd)) {
		errno = EBADF;	/* a number the program never opened */
		return -1;
	}
	saved = errno;
	r = dmasync_lseek(fd, off, whence);
	if (r >= 0)
		errno = saved;
	return r;
}

static inline off_t do_lseek(int fd, off_t off, int whence)
{
	if (FAST(client_fd_none(fd) && !uapi_files_any()))
		return DMASYNC_REAL_FAST(lseek)(fd, off, whence);
	return lseek_slow(fd, off, whence);
}

EXPORT off_t lseek(int fd, off_t off, int whence)
{
	return do_lseek(fd, off, whence);
}

EXPORT off_t lseek64(int fd, off_t off, int whence)
{
	return do_lseek(fd, off, whence);
}

static void *do_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	int saved;
	void *p;
	struct client_obj obj;
	struct stat st;

	if ((flags & MAP_ANONYMOUS) || (client_fd_none(fd) && !uapi_files_any()))
		return DMASYNC_REAL_FAST(mmap)(addr, len, prot, flags, fd, off);
	saved = errno;
	p = dmasync_mmap(addr, len, prot, flags, fd, off);
	if (p == MAP_FAILED)
		return p;
	errno = saved;
	if (ours(fd, &obj) && obj.kind == IPC_KIND_DMA_BUF && !dmasync_real_fstat(fd, &st) &&
	    (flags & MAP_SHARED))
		map_record_add(p, len, obj.ino,
			       S_ISSOCK(st.st_mode) ? client_map_first_ino() : obj.ino,
			       !S_ISSOCK(st.st_mode));
	errno = saved;
	return p;
}

EXPORT void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	return do_mmap(addr, len, prot, flags, fd, off);
}

EXPORT void *mmap64(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	return do_mmap(addr, len, prot, flags, fd, off);
}

/*
 * The line of /proc/self/maps whose range holds @addr: its permissions
 * (@perms, "rw-s"...), inode and whether its path is a memfd's.  Return:
 * false if no line holds @addr.
 */
static bool maps_line_at(unsigned long addr, char perms[8], unsigned long *ino, bool *memfd)
{
	char line[512];
	FILE *maps = dmasync_real_fopen("/proc/self/maps", "re");
	bool found = false;

	if (!maps)
		return false;
	while (fgets(line, sizeof(line), maps)) {
		unsigned long lo, hi;
		int at = 0;

		if (sscanf(line, "%lx-%lx %7s %*s %*s %lu %n", &lo, &hi, perms, ino, &at) < 4)
			continue;
		if (lo <= addr && addr < hi) {
			*memfd = at && !strncmp(line + at, "/memfd:", 7);
			found = true;
			break;
		}
	}
	dmasync_real_fclose(maps);
	return found;
}

/*
 * Whether @m is still a live mapping: a heap buffer's shows its memfd's
 * inode at its start; a udmabuf's, the memfd it mapped first there; an
 * ordinary memfd mapped at the same address later shows another inode.
 */
static bool record_live(const struct map_record *m)
{
	char perms[8];
	unsigned long ino;
	bool memfd;

	if (!maps_line_at(m->start, perms, &ino, &memfd))
		return false;
	return m->shown ? ino == (unsigned long)m->shown : memfd;
}

/* Whether the mapping holding @addr is shared and writable ("rw?s"). */
static bool mapping_shared_writable(unsigned long addr)
{
	char perms[8];
	unsigned long ino;
	bool memfd;

	return maps_line_at(addr, perms, &ino, &memfd) && perms[1] == 'w' && perms[3] == 's';
}

/* A live record of a dma-buf mapping meeting [@addr, @addr + @len), or
 * of a heap buffer's holding @addr (@memfd_only), copied to @out. */
static bool dmabuf_mapped(unsigned long addr, unsigned long len, bool memfd_only,
			  struct map_record *out)
{
	struct map_record *m;
	bool found = false;

	pthread_mutex_lock(&maps_lock);
	for (m = map_records; m && !found; m = m->next) {
		if ((memfd_only && !m->memfd) || addr + len <= m->start ||
		    m->start + m->len <= addr)
			continue;
		found = record_live(m);
		if (found)
			*out = *m;
	}
	pthread_mutex_unlock(&maps_lock);
	return found;
}

/* No dma-buf has an fsync method: MS_SYNC of a range holding one's
 * mapping is EINVAL (after libc's own checks of the call). */
static SLOW int msync_slow(void *addr, size_t len, int flags)
{
	struct map_record m;
	int saved = errno;

	if (dmasync_real_msync(addr, len, flags))
		return -1;
	if (dmabuf_mapped((unsigned long)addr, len ? len : 1, false, &m)) {
		errno = EINVAL;
		return -1;
	}
	errno = saved;
	return 0;
}

EXPORT int msync(void *addr, size_t len, int flags)
{
	if (FAST(!(flags & MS_SYNC) || !__atomic_load_n(&map_records_n, __ATOMIC_RELAXED)))
		return dmasync_real_msync(addr, len, flags);
	return msync_slow(addr, len, flags);
}

/*
 * Advice on a dma-buf's mapping, as Linux answers it.  Here the mapping is
 * one of a memfd (the heap buffer's, or a udmabuf's source), which the
 * kernel would advise as shmem; on Linux it is the dma-buf file's.  So:
 *  - MADV_REMOVE punches no hole (the dma-buf's inode is not a regular
 *    file: ENODEV), after the checks of the mapping Linux makes first
 *    (EACCES unless shared and writable); here it would free the memory;
 *  - a heap buffer's pages are PFNs (VM_PFNMAP | VM_IO): they cannot be
 *    dropped, aged, paged out, dumped or copied to a fork child again
 *    (EINVAL).
 * Other advice, and every call Linux refuses on its arguments alone, is
 * the kernel's.  The range is judged by the first dma-buf mapping it meets.
 */
static SLOW int madvise_slow(void *addr, size_t len, int advice)
{
	struct map_record m;
	bool heap_refuses = advice == MADV_DONTNEED || advice == MADV_COLD ||
			    advice == MADV_PAGEOUT || advice == MADV_DODUMP ||
			    advice == MADV_DOFORK || advice == MADV_DONTNEED_LOCKED;
	unsigned long a = (unsigned long)addr;

	if ((advice != MADV_REMOVE && !heap_refuses) || (a & (PAGE_SIZE_4K - 1)) || !len ||
	    a + len < a || !dmabuf_mapped(a, len, false, &m))
		return dmasync_real_madvise(addr, len, advice);
	if (advice == MADV_REMOVE) {
		errno = mapping_shared_writable(a) ? ENODEV : EACCES;
		return -1;
	}
	if (m.memfd) {
		errno = EINVAL;
		return -1;
	}
	return dmasync_real_madvise(addr, len, advice);
}

EXPORT int madvise(void *addr, size_t len, int advice)
{
	if (FAST(!__atomic_load_n(&map_records_n, __ATOMIC_RELAXED)))
		return dmasync_real_madvise(addr, len, advice);
	return madvise_slow(addr, len, advice);
}

/* A heap buffer's mapped pages are PFNs, which mincore() never counts as
 * resident (a udmabuf's are the memfds' pages, as on Linux). */
static SLOW int mincore_slow(void *addr, size_t len, unsigned char *vec)
{
	unsigned long a = (unsigned long)addr, end = a + len;
	unsigned long pages = (len + PAGE_SIZE_4K - 1) / PAGE_SIZE_4K;
	int r = dmasync_real_mincore(addr, len, vec);

	if (r || !len)
		return r;
	pthread_mutex_lock(&maps_lock);
	for (struct map_record *p = map_records; p; p = p->next) {
		unsigned long lo = p->start > a ? p->start : a;
		unsigned long hi = p->start + p->len < end ? p->start + p->len : end;

		if (!p->memfd || lo >= hi || !record_live(p))
			continue;
		for (unsigned long pg = (lo - a) / PAGE_SIZE_4K;
		     pg < pages && a + pg * PAGE_SIZE_4K < hi; pg++)
			vec[pg] = 0;
	}
	pthread_mutex_unlock(&maps_lock);
	return 0;
}

EXPORT int mincore(void *addr, size_t len, unsigned char *vec)
{
	if (FAST(!__atomic_load_n(&map_records_n, __ATOMIC_RELAXED)))
		return dmasync_real_mincore(addr, len, vec);
	return mincore_slow(addr, len, vec);
}

/*
 * A heap buffer's mapping cannot grow (Linux maps its pages as PFNs: EFAULT
 * once the arguments pass); a udmabuf's can, as on Linux 6.1.  Neither
 * moves with MREMAP_DONTUNMAP (EINVAL once the arguments pass, as Linux
 * 6.1 answers for both in the kernel VM).  A moved mapping keeps its
 * record.
 */
static SLOW void *mremap_slow(void *old, size_t old_len, size_t new_len, int flags,
			      void *new_addr)
{
	struct map_record m;
	void *p;

	if ((flags & MREMAP_DONTUNMAP) && (flags & MREMAP_MAYMOVE) && old_len == new_len &&
	    new_len && !((unsigned long)old & (PAGE_SIZE_4K - 1)) &&
	    !(flags & ~(MREMAP_MAYMOVE | MREMAP_FIXED | MREMAP_DONTUNMAP)) &&
	    dmabuf_mapped((unsigned long)old, 1, false, &m)) {
		errno = EINVAL;
		return MAP_FAILED;
	}
	if (!((unsigned long)old & (PAGE_SIZE_4K - 1)) && new_len &&
	    ((new_len + PAGE_SIZE_4K - 1) & ~(PAGE_SIZE_4K - 1)) >
		    ((old_len + PAGE_SIZE_4K - 1) & ~(PAGE_SIZE_4K - 1)) &&
	    !(flags & ~(MREMAP_MAYMOVE | MREMAP_FIXED | MREMAP_DONTUNMAP)) &&
	    dmabuf_mapped((unsigned long)old, 1, true, &m)) {
		errno = EFAULT;
		return MAP_FAILED;
	}
	p = dmasync_real_mremap(old, old_len, new_len, flags, new_addr);
	if (p != MAP_FAILED && p != old) {
		struct map_record *r;

		pthread_mutex_lock(&maps_lock);
		for (r = map_records; r; r = r->next)
			if (r->start == (unsigned long)old) {
				r->start = (unsigned long)p;
				r->len = (new_len + PAGE_SIZE_4K - 1) & ~(PAGE_SIZE_4K - 1);
				break;
			}
		pthread_mutex_unlock(&maps_lock);
	}
	return p;
}

/*
 * A heap buffer's mapped pages are PFNs, which vmsplice() cannot take
 * (EFAULT; what comes before them in @iov is spliced); a udmabuf's are the
 * memfds' own pages.
 */
static SLOW ssize_t vmsplice_slow(int fd, const struct iovec *iov, size_t n, unsigned int flags)
{
	struct map_record m;
	struct iovec v;
	size_t i;

	for (i = 0; i < n && i < 1024; i++) {
		if (copy_from_user(&v, (const void *)((uintptr_t)iov + i * sizeof(v)), sizeof(v)))
			break;	/* libc's call: EFAULT */
		if (v.iov_len && dmabuf_mapped((unsigned long)v.iov_base, v.iov_len, true, &m)) {
			if (!i) {
				errno = EFAULT;
				return -1;
			}
			n = i;
			break;
		}
	}
	return dmasync_real_vmsplice(fd, iov, n, flags);
}

EXPORT ssize_t vmsplice(int fd, const struct iovec *iov, size_t n, unsigned int flags)
{
	if (FAST(!__atomic_load_n(&map_records_n, __ATOMIC_RELAXED)))
		return dmasync_real_vmsplice(fd, iov, n, flags);
	return vmsplice_slow(fd, iov, n, flags);
}

EXPORT void *mremap(void *old, size_t old_len, size_t new_len, int flags, ...)
{
	void *new_addr = NULL;

	if (flags & MREMAP_FIXED) {
		va_list ap;

		va_start(ap, flags);
		new_addr = va_arg(ap, void *);
		va_end(ap);
	}
	if (FAST(!__atomic_load_n(&map_records_n, __ATOMIC_RELAXED)))
		return dmasync_real_mremap(old, old_len, new_len, flags, new_addr);
	return mremap_slow(old, old_len, new_len, flags, new_addr);
}

/* ---- readiness ---------------------------------------------------------------------------- */

/*
 * What a poll array holds of ours: POLL_DMABUF if an entry is a dma-buf of
 * the broker's (its fd cannot show its readiness), POLL_SYNC_FILE if an
 * entry is a sync file (its revents trimmed to the kernel's; one of a
 * sw_sync point is decided by the timeline page): either way the call goes
 * to dmasync_ppoll(), else 0.  A table lookup
 * per entry for fds already seen.
 */
#define POLL_DMABUF 1
#define POLL_SYNC_FILE 2
#define POLL_TIMELINE 4

static int poll_kinds(const struct pollfd *fds, nfds_t n)
{
	struct pollfd copy[64];
	int kinds = 0;

	/* The kernel answers EFAULT for a bad array: read it as it would
	 * (no system call for an array on the caller's stack). */
	if (!n || n > 64 || copy_from_user(copy, fds, n * sizeof(*fds)))
		return 0;
	for (nfds_t i = 0; i < n; i++) {
		struct client_obj obj;

		if (copy[i].fd < 0 || client_fd_none(copy[i].fd) || !ours(copy[i].fd, &obj))
			continue;
		if (obj.kind == IPC_KIND_DMA_BUF)
			kinds |= POLL_DMABUF;
		else if (obj.kind == IPC_KIND_SYNC_FILE)
			kinds |= POLL_SYNC_FILE;
		else if (obj.kind == IPC_KIND_TIMELINE || obj.kind == IPC_KIND_UDMABUF_DEV ||
			 obj.kind == IPC_KIND_HEAP_DEV)
			kinds |= POLL_TIMELINE;
	}
	return kinds;
}

/* A sync file shows POLLIN once signaled and nothing else (its socket
 * adds POLLRDNORM and POLLRDHUP); POLLHUP stays: its broker is gone.  A
 * timeline or device fd shows the kernel's default mask (the socket adds
 * POLLWRBAND and POLLRDHUP). */
static int trim_sync_files(struct pollfd *fds, nfds_t n)
{
	int ready = 0;

	for (nfds_t i = 0; i < n; i++) {
		struct client_obj obj;

		if (fds[i].revents && !client_fd_none(fds[i].fd) && ours(fds[i].fd, &obj)) {
			/*
			 * A sync file polls POLLIN or nothing.  Its socket hangs
			 * up when the broker dies, with an error too (ECONNRESET:
			 * the broker's end had bytes unread): the file is then
			 * signaled with -ENOLINK (FILE_INFO), so it shows POLLIN,
			 * if asked, as a fence signaled with an error does.
			 * libsync's sync_wait(), and so Mesa, takes POLLERR for
			 * a failed wait.
			 */
			if (obj.kind == IPC_KIND_SYNC_FILE && (fds[i].revents & (POLLHUP | POLLERR)))
				fds[i].revents = (short)(fds[i].events & POLLIN);
			else if (obj.kind == IPC_KIND_SYNC_FILE)
				fds[i].revents &= POLLIN | POLLNVAL;
			/* Files with no poll method: the kernel's default mask. */
			else if (obj.kind == IPC_KIND_TIMELINE || obj.kind == IPC_KIND_UDMABUF_DEV ||
				 obj.kind == IPC_KIND_HEAP_DEV)
				fds[i].revents &= POLLIN | POLLOUT | POLLRDNORM | POLLWRNORM |
						  POLLHUP | POLLERR | POLLNVAL;
		}
		ready += fds[i].revents != 0;
	}
	return ready;
}

/*
 * A short array in memory known mapped whose fds the table knows are not
 * dmasync's (or are negative: ignored): libc's call as it is.
 */
#define POLL_FAST_MAX 8

static inline bool poll_all_none(const struct pollfd *fds, nfds_t n)
{
	/* glibc declares poll()'s array write-only (__attr_access), so gcc
	 * takes reading it for reading uninitialized memory: hide the origin. */
	__asm__("" : "+r"(fds));
	if (n > POLL_FAST_MAX || !uaccess_known_readable(fds, n * sizeof(*fds)))
		return false;
	for (nfds_t i = 0; i < n; i++)
		if (fds[i].fd >= 0 && !client_fd_none(fds[i].fd))
			return false;
	return true;
}

static SLOW int poll_slow(struct pollfd *fds, nfds_t n, int timeout)
{
	int saved = errno, kinds = client_enabled() ? poll_kinds(fds, n) : 0, r;

	if (!(kinds & (POLL_DMABUF | POLL_SYNC_FILE)) && (n <= 64 || !client_enabled())) {
		client_settle_for_epoll_sets();
		r = dmasync_real_poll(fds, n, timeout);
	} else {
		r = dmasync_poll(fds, n, timeout);
	}
	if (r > 0 && (kinds & (POLL_SYNC_FILE | POLL_TIMELINE)))
		r = trim_sync_files(fds, n);
	if (r >= 0)
		errno = saved;
	return r;
}

/* An epoll fd among them (not dmasync's) may report a sync file whose
 * INC is on its way: the slow path settles first. */
EXPORT int poll(struct pollfd *fds, nfds_t n, int timeout)
{
	if (FAST(!__atomic_load_n(&client_epoll_sets_hold_ours, __ATOMIC_RELAXED) &&
		 poll_all_none(fds, n)))
		return DMASYNC_REAL_FAST(poll)(fds, n, timeout);
	return poll_slow(fds, n, timeout);
}

EXPORT int __poll_chk(struct pollfd *fds, nfds_t n, int timeout, size_t len);
EXPORT int __poll_chk(struct pollfd *fds, nfds_t n, int timeout, size_t len)
{
	(void)len;
	return poll(fds, n, timeout);
}

EXPORT int ppoll(struct pollfd *fds, nfds_t n, const struct timespec *tmo, const sigset_t *mask)
{
	int saved = errno, kinds = client_enabled() ? poll_kinds(fds, n) : 0, r;

	if (!(kinds & (POLL_DMABUF | POLL_SYNC_FILE)) && (n <= 64 || !client_enabled())) {
		client_settle_for_epoll_sets();
		r = dmasync_real_ppoll(fds, n, tmo, mask);
	} else
		r = dmasync_ppoll(fds, n, tmo, mask);
	if (r > 0 && (kinds & (POLL_SYNC_FILE | POLL_TIMELINE)))
		r = trim_sync_files(fds, n);
	if (r >= 0)
		errno = saved;
	return r;
}

EXPORT int __ppoll_chk(struct pollfd *fds, nfds_t n, const struct timespec *tmo,
		       const sigset_t *mask, size_t len);
EXPORT int __ppoll_chk(struct pollfd *fds, nfds_t n, const struct timespec *tmo,
		       const sigset_t *mask, size_t len)
{
	(void)len;
	return ppoll(fds, n, tmo, mask);
}

/* dmasync_epoll_wait(): INCs made in the timeline page reach the sync
 * files first (one load when none is on its way). */
EXPORT int epoll_wait(int epfd, struct epoll_event *ev, int max, int timeout)
{
	return dmasync_epoll_wait(epfd, ev, max, timeout);
}

EXPORT int epoll_pwait(int epfd, struct epoll_event *ev, int max, int timeout,
		       const sigset_t *mask)
{
	return dmasync_epoll_pwait(epfd, ev, max, timeout, mask);
}

EXPORT int epoll_pwait2(int epfd, struct epoll_event *ev, int max, const struct timespec *timeout,
			const sigset_t *mask)
{
	return dmasync_epoll_pwait2(epfd, ev, max, timeout, mask);
}

/*
 * select() of a dma-buf or sync file: its readiness goes through poll (a
 * sync file's as poll() shows it: never writable, readable once signaled,
 * also when its broker died); the fd sets are translated both ways.  Only
 * when a set holds one (else libc's select).
 */
static int select_via_poll(int n, fd_set *r, fd_set *w, fd_set *e, const struct timespec *tmo,
			   const sigset_t *mask, bool *handled)
{
	struct pollfd p[FD_SETSIZE];
	nfds_t np = 0;
	int ready = 0, rc;
	bool any = false, sync = false;

	*handled = false;
	if (!client_enabled() || n <= 0 || n > FD_SETSIZE)
		return 0;
	for (int fd = 0; fd < n; fd++) {
		short ev = (short)((r && FD_ISSET(fd, r) ? POLLIN : 0) |
				   (w && FD_ISSET(fd, w) ? POLLOUT : 0) |
				   (e && FD_ISSET(fd, e) ? POLLPRI : 0));
		struct client_obj obj;

		if (!ev)
			continue;
		if (ours(fd, &obj)) {
			any |= obj.kind == IPC_KIND_DMA_BUF;
			sync |= obj.kind == IPC_KIND_SYNC_FILE;
		}
		p[np].fd = fd;
		p[np].events = ev;
		p[np].revents = 0;
		np++;
	}
	if (!any && !sync)
		return 0;
	*handled = true;
	rc = dmasync_ppoll(p, np, tmo, mask);
	if (rc < 0)
		return rc;
	if (sync)
		trim_sync_files(p, np);
	if (r)
		FD_ZERO(r);
	if (w)
		FD_ZERO(w);
	if (e)
		FD_ZERO(e);
	for (nfds_t i = 0; i < np; i++) {
		if (p[i].revents & POLLNVAL) {
			errno = EBADF;
			return -1;
		}
		if (r && (p[i].revents & (POLLIN | POLLHUP | POLLERR)) && (p[i].events & POLLIN)) {
			FD_SET(p[i].fd, r);
			ready++;
		}
		if (w && (p[i].revents & (POLLOUT | POLLERR)) && (p[i].events & POLLOUT)) {
			FD_SET(p[i].fd, w);
			ready++;
		}
		if (e && (p[i].revents & POLLPRI)) {
			FD_SET(p[i].fd, e);
			ready++;
		}
	}
	return ready;
}

EXPORT int select(int n, fd_set *r, fd_set *w, fd_set *e, struct timeval *tv)
{
	struct timespec ts, *tsp = NULL;
	int saved = errno, rc;
	bool handled;

	int64_t t0 = 0;

	if (tv) {
		ts.tv_sec = tv->tv_sec;
		ts.tv_nsec = tv->tv_usec * 1000;
		tsp = &ts;
		t0 = ktime_get();
	}
	rc = select_via_poll(n, r, w, e, tsp, NULL, &handled);
	if (!handled) {
		client_settle_for_epoll_sets();	/* errno kept */
		return dmasync_real_select(n, r, w, e, tv);
	}
	/* Linux's select() writes back the time left (pselect()'s libc
	 * passes a copy). */
	if (tv && tv->tv_sec >= 0 && tv->tv_usec >= 0 && (rc >= 0 || errno == EINTR)) {
		int64_t left = (int64_t)tv->tv_sec * 1000000 + tv->tv_usec -
			       (ktime_get() - t0) / 1000;

		if (left < 0)
			left = 0;
		tv->tv_sec = left / 1000000;
		tv->tv_usec = left % 1000000;
	}
	if (rc >= 0)
		errno = saved;
	return rc;
}

EXPORT int pselect(int n, fd_set *r, fd_set *w, fd_set *e, const struct timespec *tmo,
		   const sigset_t *mask)
{
	int saved = errno, rc;
	bool handled;

	rc = select_via_poll(n, r, w, e, tmo, mask, &handled);
	if (!handled) {
		client_settle_for_epoll_sets();	/* errno kept */
		return dmasync_real_pselect(n, r, w, e, tmo, mask);
	}
	if (rc >= 0)
		errno = saved;
	return rc;
}

EXPORT int epoll_ctl(int epfd, int op, int fd, struct epoll_event *ev)
{
	int saved = errno, r = dmasync_epoll_ctl(epfd, op, fd, ev);

	if (!r)
		errno = saved;
	return r;
}

/* ---- children ------------------------------------------------------------------------------- */

/*
 * A child that exited or was killed closed its fds before its parent's
 * wait could report it, and Linux had released by then what they were the
 * last copies of (a timeline's pending points signaled -ENOENT).  The
 * broker learns of such closes from hang-up events, a moment later: ask it
 * to finish them before the program looks (client_settle_hangups(): only
 * in a process connected to a broker; nothing in a signal handler that
 * interrupted dmasync).  A stopped or continued child closed nothing.
 * The status was just written by the kernel (the call succeeded), so it
 * is read as it is: shells reap in their SIGCHLD handler, where nothing
 * may allocate (copy_from_user()'s first use in a thread did, and broke
 * the heap of a shell interrupted in malloc()).
 */
static SLOW void reaped(const int *status)
{
	if (status && !WIFEXITED(*status) && !WIFSIGNALED(*status))
		return;
	client_settle_hangups();
}

/*
 * vfork() is fork() here.  A vfork() child runs in its parent's memory
 * until it execs, so the closes, dup2()s and close_range()s it makes on the
 * way (Python's subprocess, for one) would rewrite the parent's record of
 * its fds and epoll registrations, and any lock or allocation in those
 * paths would be made in the parent's heap.  fork() gives the child a copy
 * of its own (and runs the fork handlers); a vfork() child may do nothing
 * a fork() child may not.
 *
 * What stays of vfork() is its order: the parent resumes only once the
 * child has exec'ed or exited (a program may count on it, say to waitpid()
 * with WNOHANG right after).  The child keeps the write end of a
 * close-on-exec pipe and the parent reads the other end until the kernel
 * closes it, at the exec or exit.  Both ends are the library's fds (see
 * vfork_pipes), which other threads' fork() children and the vfork child's
 * own children close in their fork handler.  Signals wait until the call
 * returns (blocked throughout; Linux too delivers none to the vfork()ing
 * thread before its child lets go, but fatal ones): no handler can take
 * vfork_lock again, fork in the middle, or jump out of the wait.  Raw system
 * calls: nothing here is the program's.  Writes the child makes to memory
 * are its own, as after any fork(): that part of vfork() is not kept.
 * Where the ends cannot be placed at the floor (no floor: a limit under
 * 128 fds; the limit lowered under it), or eight vforks are in progress,
 * it is a plain fork().
 */
static int vfork_end_high(int fd, int floor)
{
	int high = floor ? (int)syscall(SYS_fcntl, fd, F_DUPFD_CLOEXEC, floor) : -1;

	syscall(SYS_close, fd);
	return high;
}

static pid_t fork_in_order(void)
{
	struct vfork_pipe *v = NULL, *outer = vfork_mine;
	int saved = errno, p[2], floor = __atomic_load_n(&lib_floor, __ATOMIC_RELAXED);
	sigset_t all, old;
	pid_t pid;
	char c;

	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	pthread_mutex_lock(&vfork_lock);
	for (int i = 0; i < VFORK_PIPES && !v; i++)
		if (vfork_pipes[i].r < 0 && vfork_pipes[i].w < 0)
			v = &vfork_pipes[i];
	if (v && !syscall(SYS_pipe2, p, O_CLOEXEC)) {
		p[0] = vfork_end_high(p[0], floor);
		p[1] = vfork_end_high(p[1], floor);
		if (p[0] < 0 || p[1] < 0) {
			if (p[0] >= 0)
				syscall(SYS_close, p[0]);
			if (p[1] >= 0)
				syscall(SYS_close, p[1]);
			v = NULL;
		}
	} else {
		v = NULL;
	}
	if (v) {
		__atomic_store_n(&v->r, p[0], __ATOMIC_RELAXED);
		__atomic_store_n(&v->w, p[1], __ATOMIC_RELAXED);
		vfork_mine = v;
	}
	pthread_mutex_unlock(&vfork_lock);
	errno = saved;

	pid = fork();
	vfork_mine = outer;
	if (pid < 0)
		saved = errno;
	if (pid == 0 || !v) {
		/* A child: the fork handler closed the read end (and every
		 * other vfork's); a child of this one will close the write end. */
		pthread_sigmask(SIG_SETMASK, &old, NULL);
		errno = saved;
		return pid;
	}
	pthread_mutex_lock(&vfork_lock);
	syscall(SYS_close, v->w);
	__atomic_store_n(&v->w, -1, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&vfork_lock);
	/* (the number read anew: another thread's dup2() onto it moves it) */
	while (pid > 0 && syscall(SYS_read, __atomic_load_n(&v->r, __ATOMIC_RELAXED), &c, 1) < 0 &&
	       errno == EINTR)
		;
	pthread_mutex_lock(&vfork_lock);
	syscall(SYS_close, v->r);
	__atomic_store_n(&v->r, -1, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&vfork_lock);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	errno = saved;
	return pid;
}

EXPORT pid_t vfork(void)
{
	return fork_in_order();
}

pid_t __vfork(void);

EXPORT pid_t __vfork(void)
{
	return fork_in_order();
}

EXPORT pid_t waitpid(pid_t pid, int *status, int options)
{
	pid_t r = dmasync_real_waitpid(pid, status, options);

	if (r > 0)
		reaped(status);
	return r;
}

EXPORT pid_t wait(int *status)
{
	pid_t r = dmasync_real_wait(status);

	if (r > 0)
		reaped(status);
	return r;
}

EXPORT pid_t wait3(int *status, int options, struct rusage *ru)
{
	pid_t r = dmasync_real_wait3(status, options, ru);

	if (r > 0)
		reaped(status);
	return r;
}

EXPORT pid_t wait4(pid_t pid, int *status, int options, struct rusage *ru)
{
	pid_t r = dmasync_real_wait4(pid, status, options, ru);

	if (r > 0)
		reaped(status);
	return r;
}

EXPORT int waitid(idtype_t type, id_t id, siginfo_t *info, int options)
{
	int r = dmasync_real_waitid(type, id, info, options);

	/* WNOWAIT too: the child is a zombie, its fds closed all the same.
	 * @info was just written by the kernel (see reaped()). */
	if (!r && info && info->si_pid > 0 &&
	    (info->si_code == CLD_EXITED || info->si_code == CLD_KILLED ||
	     info->si_code == CLD_DUMPED))
		client_settle_hangups();
	return r;
}

/* ---- setup ---------------------------------------------------------------------------------- */

/* Every close goes through the wrappers now: the table of fd numbers can
 * be trusted. */
__attribute__((constructor)) static void preload_init(void)
{
	int floor;

	dmasync_real_prime();
	core_fork_register(CORE_FORK_PRELOAD, &maps_fork);
	client_trust_fd_numbers();
	/*
	 * The library's own fds go high, so that the program's numbering is
	 * what it would be without dmasync (its first open() gets 3, a shell's
	 * `exec 3<file` takes 3).
	 */
	floor = client_default_fd_floor();
	if (floor) {
		__atomic_store_n(&lib_floor, floor, __ATOMIC_RELAXED);
		client_set_fd_floor(floor);
		uapi_files_set_fd_floor(floor);
	}
}
