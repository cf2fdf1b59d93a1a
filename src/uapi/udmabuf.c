/* SPDX-License-Identifier: MIT */
/*
 * /dev/udmabuf: dma-bufs made of memfd pages (UDMABUF_CREATE,
 * UDMABUF_CREATE_LIST), with Linux 6.1's checks, limits and errno.
 *
 * The device fd and the buffers are AF_UNIX sockets recognised by the fd
 * registry (tracked.h).  A udmabuf's memory is the memfds' own pages:
 * at creation every item of the list is mapped PROT_NONE, MAP_SHARED from
 * its memfd (that mapping keeps the pages, as the kernel's page references
 * do), and dmasync_mmap() maps the buffer by duplicating those mappings
 * (mremap() with old_size 0) into one range, so the buffer, the memfds
 * and every mapping of either see the same bytes.  The socket cannot be
 * mapped natively (ENODEV): dmasync_mmap() is required.
 *
 * Limits: size_limit_mb = 64, list_limit = 1024 (the module defaults).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>
#include <linux/magic.h>
#include <linux/udmabuf.h>

#include "debug.h"
#include "device.h"
#include "dma-buf-priv.h"
#include "uaccess.h"

#define PAGE DMABUF_PAGE_SIZE
#define SIZE_LIMIT_MB 64ull
#define LIST_LIMIT 1024u

#ifndef F_SEAL_FUTURE_WRITE
#define F_SEAL_FUTURE_WRITE 0x0010
#endif

/* The exporter's private data: whether a CPU access began (Linux's udmabuf
 * builds its sg table at the first begin_cpu_access, and end_cpu_access
 * without one fails with EINVAL). */
struct udmabuf {
	bool began;
};

static int udmabuf_begin_cpu_access(struct dma_buf *dmabuf, enum dma_data_direction dir)
{
	struct udmabuf *ub = dmabuf->priv;

	__atomic_store_n(&ub->began, true, __ATOMIC_RELEASE);
	return 0;
}

static int udmabuf_end_cpu_access(struct dma_buf *dmabuf, enum dma_data_direction dir)
{
	struct udmabuf *ub = dmabuf->priv;

	return __atomic_load_n(&ub->began, __ATOMIC_ACQUIRE) ? 0 : -EINVAL;
}

static void udmabuf_release(struct dma_buf *dmabuf)
{
	free(dmabuf->priv);
}

static const struct dma_buf_ops udmabuf_ops = {
	.begin_cpu_access = udmabuf_begin_cpu_access,
	.end_cpu_access = udmabuf_end_cpu_access,
	.release = udmabuf_release,
};

/* Linux accepts shmem files with F_SEAL_SHRINK and without write seals;
 * anything that is not shmem is EBADFD. */
static int check_memfd(int fd, struct stat *st)
{
	struct uapi_file *file;
	struct statfs sfs;
	int seals;

	if (fd < 0)
		return -EBADFD;
	/* Our own dma-bufs are memfds and sockets, but not shmem to Linux. */
	file = uapi_file_lookup(fd);
	if (file) {
		uapi_file_put(file);
		return -EBADFD;
	}
	if (fstat(fd, st) || fstatfs(fd, &sfs) || sfs.f_type != TMPFS_MAGIC ||
	    !S_ISREG(st->st_mode))
		return -EBADFD;
	seals = fcntl(fd, F_GET_SEALS);
	if (seals < 0)
		return -EBADFD;
	if (!(seals & F_SEAL_SHRINK) || (seals & (F_SEAL_WRITE | F_SEAL_FUTURE_WRITE)))
		return -EINVAL;
	return 0;
}

static u64 round_up_page(u64 n)
{
	return (n + PAGE - 1) / PAGE * PAGE;
}

/* Map @size bytes at @offset of memfd @fd, writable if ever asked to be. */
static void *map_item(int fd, u64 offset, u64 size, int *err)
{
	int flags = fcntl(fd, F_GETFL), src = fd;
	void *p;

	if (flags >= 0 && (flags & O_ACCMODE) != O_RDWR) {
		src = uapi_fd_reopen(fd, O_RDWR);
		if (src < 0)
			src = fd;	/* map what we can */
	}
	p = mmap(NULL, size, PROT_NONE, MAP_SHARED | MAP_NORESERVE, src, (off_t)offset);
	*err = errno;
	if (src != fd)
		close(src);
	return p;
}

/*
 * pieces[@n]'s memfd, @fd (@st: its stat): the fd of an earlier piece of
 * the same file (@files[k]: the stat of pieces[k]'s), else a copy of our
 * own, read-write.  Return: 0 or -errno.
 */
static int piece_memfd(struct uapi_dmabuf_piece *pieces, unsigned int n, int fd,
		       const struct stat *st, struct stat *files)
{
	files[n] = *st;
	for (unsigned int k = n; k-- > 0;)
		if (files[k].st_ino == st->st_ino && files[k].st_dev == st->st_dev) {
			pieces[n].memfd = pieces[k].memfd;
			pieces[n].memfd_own = false;
			return 0;
		}
	/* The buffer is read-write whatever the memfd's fd was opened for
	 * (Linux maps the pages, not the file): a read-only fd is reopened. */
	pieces[n].memfd = -1;
	if ((fcntl(fd, F_GETFL) & O_ACCMODE) != O_RDWR)
		pieces[n].memfd = uapi_fd_reopen(fd, O_RDWR);
	if (pieces[n].memfd < 0)
		pieces[n].memfd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	if (pieces[n].memfd < 0)
		return -errno;
	pieces[n].memfd_own = true;
	return 0;
}

static long udmabuf_create(const struct udmabuf_create_list *head,
			   const struct udmabuf_create_item *list)
{
	const u64 pglimit = (SIZE_LIMIT_MB << 20) / PAGE;
	DEFINE_DMA_BUF_EXPORT_INFO(info);
	struct uapi_dmabuf_piece *pieces = NULL;
	struct uapi_dmabuf *obj;
	struct udmabuf *ub = NULL;
	struct stat *files = NULL;	/* files[k]: what pieces[k] maps */
	struct dma_buf *buf;
	unsigned int n = 0;
	u64 pagecount = 0;
	long r;
	int sock, fd, sv[2];

	for (u32 i = 0; i < head->count; i++) {
		if ((list[i].offset & (PAGE - 1)) || (list[i].size & (PAGE - 1)))
			return -EINVAL;
		pagecount += list[i].size / PAGE;
		if (pagecount > pglimit)
			return -EINVAL;
	}
	if (!pagecount)
		return -EINVAL;

	pieces = calloc(head->count, sizeof(*pieces));
	files = calloc(head->count, sizeof(*files));
	ub = calloc(1, sizeof(*ub));
	if (!pieces || !files || !ub) {
		r = -ENOMEM;
		goto err_unmap;
	}
	for (u32 i = 0; i < head->count; i++) {
		struct stat st;
		int e;

		r = check_memfd((int)list[i].memfd, &st);
		if (r)
			goto err_unmap;
		if (!list[i].size)
			continue;
		/* Page by page, as shmem hands them over: an index past the
		 * largest file's is EFBIG; a page that starts at or beyond the
		 * end of the memfd EINVAL (the page holding the end is whole). */
		if (list[i].offset / PAGE > (u64)INT64_MAX / PAGE) {
			r = -EFBIG;
			goto err_unmap;
		}
		if (list[i].offset >= round_up_page((u64)st.st_size) ||
		    list[i].size > round_up_page((u64)st.st_size) - list[i].offset) {
			r = -EINVAL;
			goto err_unmap;
		}
		pieces[n].addr = map_item((int)list[i].memfd, list[i].offset, list[i].size, &e);
		if (pieces[n].addr == MAP_FAILED) {
			r = e == EBADF ? -EBADFD : -ENOMEM;
			goto err_unmap;
		}
		pieces[n].len = list[i].size;
		pieces[n].offset = list[i].offset;
		/* For mappings in other processes (the broker hands it out):
		 * one fd per memfd, whatever number of items name it. */
		r = piece_memfd(pieces, n, (int)list[i].memfd, &st, files);
		if (r) {
			munmap(pieces[n].addr, pieces[n].len);
			goto err_unmap;
		}
		n++;
	}
	free(files);
	files = NULL;

	/* The fd comes last, after every argument check, as in Linux. */
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) &&
	    (!uapi_files_reclaim_fds(errno) || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv))) {
		r = -errno;
		goto err_unmap;
	}
	if (shutdown(sv[1], SHUT_WR)) {
		r = -errno;
		close(sv[0]);
		close(sv[1]);
		goto err_unmap;
	}
	sock = sv[0];
	info.exp_name = "udmabuf";
	info.ops = &udmabuf_ops;
	info.size = pagecount * PAGE;
	info.flags = O_RDWR;
	info.priv = ub;
	buf = uapi_dmabuf_export_fd(&info, TRACKED_SOCKET, sock, O_RDWR);
	if (IS_ERR(buf)) {
		close(sv[0]);
		close(sv[1]);
		r = PTR_ERR(buf);
		goto err_unmap;
	}
	obj = to_uapi_dmabuf(buf);
	obj->t.peer = sv[1];	/* the registry watches it once installed */
	obj->shared_only = true;
	/* The item mappings are the memory; they are unmapped at release. */
	obj->pieces = pieces;
	obj->npieces = n;
	fd = dma_buf_fd(buf, (head->flags & UDMABUF_FLAGS_CLOEXEC) ? O_CLOEXEC : 0);
	if (fd < 0)
		dma_buf_put(buf);
	return fd;

err_unmap:
	for (unsigned int i = 0; i < n; i++) {
		munmap(pieces[i].addr, pieces[i].len);
		if (pieces[i].memfd_own)
			close(pieces[i].memfd);
	}
	free(files);
	free(pieces);
	free(ub);
	return r;
}

static long ioctl_create(void *arg)
{
	struct udmabuf_create create;
	struct udmabuf_create_list head;
	struct udmabuf_create_item item;

	if (copy_from_user(&create, arg, sizeof(create)))
		return -EFAULT;
	head.flags = create.flags;
	head.count = 1;
	item.memfd = create.memfd;
	item.__pad = 0;
	item.offset = create.offset;
	item.size = create.size;
	return udmabuf_create(&head, &item);
}

static long ioctl_create_list(void *arg)
{
	struct udmabuf_create_list head;
	struct udmabuf_create_item *list;
	size_t lsize;
	long r;

	if (copy_from_user(&head, arg, sizeof(head)))
		return -EFAULT;
	if (head.count > LIST_LIMIT)
		return -EINVAL;
	lsize = sizeof(*list) * head.count;
	list = malloc(lsize ? lsize : 1);
	if (!list)
		return -ENOMEM;
	if (copy_from_user(list, user_ptr_add(arg, sizeof(head)), lsize)) {
		free(list);
		return -EFAULT;
	}
	r = udmabuf_create(&head, list);
	free(list);
	return r;
}

static long udmabuf_dev_ioctl(struct uapi_file *file, int fd, unsigned long request, void *arg)
{
	switch ((unsigned int)request) {
	case UDMABUF_CREATE:
		return ioctl_create(arg);
	case UDMABUF_CREATE_LIST:
		return ioctl_create_list(arg);
	default:
		return -ENOTTY;
	}
}

static const struct uapi_file_ops udmabuf_dev_ops = {
	.name = "udmabuf-device",
	.ioctl = udmabuf_dev_ioctl,
	.epoll_ctl = uapi_file_epoll_ctl_no_poll,
	.release = uapi_device_file_release,
};

static struct uapi_device udmabuf_device = {
	.path = "/dev/udmabuf",
	.ops = &udmabuf_dev_ops,
};

__attribute__((constructor)) static void udmabuf_register(void)
{
	uapi_device_register(&udmabuf_device);
}
