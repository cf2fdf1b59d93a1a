/* SPDX-License-Identifier: MIT */
/*
 * dma-buf objects: export, fds, references, CPU access, names, the dma-buf
 * ioctls (SYNC, SET_NAME, EXPORT_SYNC_FILE, IMPORT_SYNC_FILE), mmap and
 * lseek.  Readiness (poll, epoll) is in dma-buf-poll.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <linux/dma-buf.h>

#include <dmasync/dma-buf.h>
#include <dmasync/dma-fence-unwrap.h>
#include <dmasync/dmasync-uapi.h>
#include <dmasync/sync_file.h>
#include "debug.h"
#include "dma-buf-priv.h"
#include "sync_file-priv.h"
#include "uaccess.h"

#define PAGE DMABUF_PAGE_SIZE

static const struct uapi_file_ops dmabuf_ops;

/* ---- dma-buf objects --------------------------------------------------------------- */

static void set_name_owned(struct dma_buf *dmabuf, char *name);

static size_t page_round(size_t size)
{
	return (size + PAGE - 1) & ~(PAGE - 1);
}

/* Every fd (and, for a memfd, every mapping) is gone, in every process. */
static void dmabuf_hangup(struct uapi_file *file)
{
	uapi_dmabuf_poll_died(container_of(file, struct uapi_dmabuf, t.file));
}

static void dmabuf_survived(struct uapi_tracked *t)
{
	uapi_dmabuf_poll_reap_orphans(container_of(t, struct uapi_dmabuf, t));
}

static void dmabuf_fork_child(struct uapi_tracked *t)
{
	uapi_dmabuf_poll_fork_child_obj(container_of(t, struct uapi_dmabuf, t));
}

static void dma_buf_file_release(struct uapi_file *file)
{
	struct uapi_dmabuf *obj = container_of(file, struct uapi_dmabuf, t.file);

	if (obj->remote) {
		const struct uapi_dmabuf_share_ops *share =
			__atomic_load_n(&uapi_dmabuf_share_hook, __ATOMIC_ACQUIRE);

		core_resv_set_remote(obj->buf.resv, NULL);
		share->unshare(obj->remote);
	}
	core_resv_hook_del(obj->buf.resv, &obj->resv_hook);
	uapi_dmabuf_poll_fini(obj);
	uapi_tracked_fini(&obj->t);
	obj->buf.ops->release(&obj->buf);
	if (obj->own_resv_used)
		dma_resv_fini(&obj->own_resv);
	free((char *)obj->buf.name);
	for (unsigned int i = 0; i < obj->npieces; i++) {
		munmap(obj->pieces[i].addr, obj->pieces[i].len);
		if (obj->pieces[i].memfd_own)
			close(obj->pieces[i].memfd);
	}
	free(obj->pieces);
	if (obj->fd >= 0)
		close(obj->fd);
	free(obj);
}

/* The dma-buf behind @fd with a reference, or NULL. */
static struct uapi_dmabuf *dmabuf_lookup(int fd)
{
	struct uapi_file *file = uapi_file_lookup_type(fd, &dmabuf_ops);

	return file ? container_of(file, struct uapi_dmabuf, t.file) : NULL;
}

int uapi_fd_reopen(int fd, int accmode)
{
	char path[40];
	int nfd;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	nfd = open(path, accmode | O_CLOEXEC);
	return nfd < 0 ? -errno : nfd;
}

struct dma_buf *uapi_dmabuf_export_fd(const struct dma_buf_export_info *info,
				      enum tracked_kind kind, int fd, int accmode)
{
	struct uapi_dmabuf *obj = calloc(1, sizeof(*obj));

	if (!obj)
		return ERR_PTR(-ENOMEM);
	uapi_tracked_init(&obj->t, &dmabuf_ops, kind);
	obj->t.survived = dmabuf_survived;
	obj->t.fork_child = dmabuf_fork_child;
	obj->buf.size = page_round(info->size);
	obj->buf.ops = info->ops;
	obj->buf.exp_name = info->exp_name;
	obj->buf.priv = info->priv;
	spin_lock_init(&obj->buf.name_lock);
	obj->accmode = accmode;
	obj->fd = -1;
	if (kind == TRACKED_MEMFD) {
		if (accmode != O_RDWR) {
			int nfd = uapi_fd_reopen(fd, accmode);

			if (nfd < 0) {
				free(obj);
				return ERR_PTR(nfd);
			}
			close(fd);
			fd = nfd;
		}
	}
	obj->fd = fd;
	if (info->resv) {
		obj->buf.resv = info->resv;
	} else {
		dma_resv_init(&obj->own_resv);
		obj->own_resv_used = true;
		obj->buf.resv = &obj->own_resv;
	}
	uapi_dmabuf_poll_init(obj);
	/* Last: from here on the hook may queue the poll work. */
	obj->resv_hook.changed = uapi_dmabuf_poll_resv_changed;
	core_resv_hook_add(obj->buf.resv, &obj->resv_hook);
	return &obj->buf;
}

struct dma_buf *dma_buf_export(const struct dma_buf_export_info *exp_info)
{
	struct dma_buf *buf;
	int fd, accmode;
	size_t size;

	if (WARN_ON(!exp_info || !exp_info->ops || !exp_info->ops->release || !exp_info->priv))
		return ERR_PTR(-EINVAL);
	accmode = exp_info->flags & O_ACCMODE;
	size = page_round(exp_info->size);
	if (!exp_info->size || size < exp_info->size ||
	    size > (size_t)INT64_MAX)
		return ERR_PTR(-EINVAL);
	fd = memfd_create(UAPI_DMABUF_MEMFD_NAME, MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0)
		return ERR_PTR(-errno);
	if (ftruncate(fd, (off_t)size) ||
	    fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL)) {
		int e = errno;

		close(fd);
		return ERR_PTR(e == EFBIG ? -ENOMEM : -e);
	}
	buf = uapi_dmabuf_export_fd(exp_info, TRACKED_MEMFD, fd, accmode);
	if (IS_ERR(buf))
		close(fd);
	return buf;
}

const struct uapi_dmabuf_share_ops *uapi_dmabuf_share_hook;

int dma_buf_fd(struct dma_buf *dmabuf, int flags)
{
	const struct uapi_dmabuf_share_ops *share;
	struct core_resv_remote *remote = NULL;
	struct uapi_dmabuf *obj;
	int fd, r;

	if (!dmabuf)
		return -EINVAL;
	obj = to_uapi_dmabuf(dmabuf);
	if (__atomic_exchange_n(&obj->fd_given, true, __ATOMIC_ACQ_REL))
		return -EINVAL;
	fd = obj->fd;
	if (!(flags & O_CLOEXEC) && fcntl(fd, F_SETFD, 0)) {
		r = -errno;
		goto err_ungive;
	}
	/* Other processes it reaches use it through the broker; best effort:
	 * without one it stays ours alone, as in process mode. */
	share = __atomic_load_n(&uapi_dmabuf_share_hook, __ATOMIC_ACQUIRE);
	if (share && obj->t.kind == TRACKED_MEMFD)
		remote = share->share(dmabuf, fd);
	r = uapi_tracked_install(&obj->t, fd);
	if (r)
		goto err_unshare;
	obj->fd = -1;
	if (remote) {
		__atomic_store_n(&obj->remote, remote, __ATOMIC_RELEASE);
		core_resv_set_remote(dmabuf->resv, remote);
	}
	/* The caller's reference is the fd's now, which the registry holds. */
	uapi_dmabuf_put(obj);
	return fd;
err_unshare:
	if (remote)
		share->unshare(remote);
err_ungive:
	__atomic_store_n(&obj->fd_given, false, __ATOMIC_RELEASE);
	return r;
}

/* ---- adopted buffers (the broker's side) --------------------------------------- */

/* What the broker keeps of a buffer another process made (uapi_dmabuf_adopt()). */
struct adopted {
	char exp_name[32];
	void *maker;
	unsigned int cpu_ops;
};

static void adopted_release(struct dma_buf *dmabuf)
{
	free(dmabuf->priv);
}

static const struct dma_buf_ops adopted_ops = {
	.release = adopted_release,
};

int uapi_dmabuf_adopt(int memfd, size_t size, int accmode, const char *exp_name,
		      const char *name, void *maker, unsigned int cpu_ops)
{
	DEFINE_DMA_BUF_EXPORT_INFO(info);
	struct uapi_file *known;
	struct adopted *priv;
	struct dma_buf *buf;
	struct stat st;
	int fd;

	if (fstat(memfd, &st))
		return -errno;
	if (!S_ISREG(st.st_mode) || !size || size != page_round(size) ||
	    (uint64_t)st.st_size < size || (accmode & ~O_ACCMODE) || accmode == O_ACCMODE)
		return -EINVAL;
	known = uapi_file_lookup_key(st.st_dev, st.st_ino);
	if (known) {
		uapi_file_put(known);
		return -EEXIST;
	}
	priv = calloc(1, sizeof(*priv));
	if (!priv)
		return -ENOMEM;
	snprintf(priv->exp_name, sizeof(priv->exp_name), "%s", exp_name);
	priv->maker = maker;
	priv->cpu_ops = cpu_ops;
	fd = fcntl(memfd, F_DUPFD_CLOEXEC, 0);
	if (fd < 0) {
		free(priv);
		return -errno;
	}
	info.exp_name = priv->exp_name;
	info.ops = &adopted_ops;
	info.size = size;
	info.flags = O_RDWR;
	info.priv = priv;
	buf = uapi_dmabuf_export_fd(&info, TRACKED_MEMFD, fd, O_RDWR);
	if (IS_ERR(buf)) {
		close(fd);
		free(priv);
		return (int)PTR_ERR(buf);
	}
	to_uapi_dmabuf(buf)->accmode = accmode;
	if (name) {
		char *copy = strndup(name, DMA_BUF_NAME_LEN - 1);

		if (copy)
			set_name_owned(buf, copy);
	}
	fd = dma_buf_fd(buf, O_CLOEXEC);
	if (fd < 0)
		dma_buf_put(buf);
	return fd;
}

void *uapi_dmabuf_maker(struct uapi_dmabuf *obj)
{
	return obj->buf.ops == &adopted_ops ? ((struct adopted *)obj->buf.priv)->maker : NULL;
}

unsigned int uapi_dmabuf_maker_cpu_ops(struct uapi_dmabuf *obj)
{
	return obj->buf.ops == &adopted_ops ? ((struct adopted *)obj->buf.priv)->cpu_ops : 0;
}

int uapi_dmabuf_exporter_op(dev_t dev, ino_t ino, bool end, enum dma_data_direction dir)
{
	struct uapi_file *file = uapi_file_lookup_key(dev, ino);
	struct uapi_dmabuf *obj;
	int r = 0;

	if (!file)
		return -ENOENT;
	if (file->ops != &dmabuf_ops) {
		uapi_file_put(file);
		return -ENOENT;
	}
	obj = container_of(file, struct uapi_dmabuf, t.file);
	if (end && obj->buf.ops->end_cpu_access)
		r = obj->buf.ops->end_cpu_access(&obj->buf, dir);
	else if (!end && obj->buf.ops->begin_cpu_access)
		r = obj->buf.ops->begin_cpu_access(&obj->buf, dir);
	uapi_dmabuf_put(obj);
	return r;
}

struct dma_buf *dma_buf_get(int fd)
{
	struct uapi_dmabuf *obj;

	if (fd < 0 || fcntl(fd, F_GETFD) < 0)
		return ERR_PTR(-EBADF);
	obj = dmabuf_lookup(fd);
	return obj ? &obj->buf : ERR_PTR(-EINVAL);
}

void dma_buf_put(struct dma_buf *dmabuf)
{
	if (WARN_ON(IS_ERR_OR_NULL(dmabuf)))
		return;
	uapi_dmabuf_put(to_uapi_dmabuf(dmabuf));
}

void __dma_buf_get_ref(struct dma_buf *dmabuf)
{
	uapi_dmabuf_get(to_uapi_dmabuf(dmabuf));
}

int dma_buf_begin_cpu_access(struct dma_buf *dmabuf, enum dma_data_direction direction)
{
	bool write = direction == DMA_BIDIRECTIONAL || direction == DMA_TO_DEVICE;
	long ret;
	int r = 0;

	if (WARN_ON(!dmabuf))
		return -EINVAL;
	/* As Linux: the exporter first, then the implicit fences. */
	if (dmabuf->ops->begin_cpu_access)
		r = dmabuf->ops->begin_cpu_access(dmabuf, direction);
	if (r)
		return r;
	ret = dma_resv_wait_timeout(dmabuf->resv, dma_resv_usage_rw(write), true,
				    MAX_SCHEDULE_TIMEOUT);
	return ret < 0 ? (int)ret : 0;
}

int dma_buf_end_cpu_access(struct dma_buf *dmabuf, enum dma_data_direction direction)
{
	if (WARN_ON(!dmabuf))
		return -EINVAL;
	return dmabuf->ops->end_cpu_access ? dmabuf->ops->end_cpu_access(dmabuf, direction) : 0;
}

/* Install @name (malloc()ed or NULL) as the name. */
static void set_name_owned(struct dma_buf *dmabuf, char *name)
{
	const char *old;

	spin_lock(&dmabuf->name_lock);
	old = dmabuf->name;
	dmabuf->name = name;
	spin_unlock(&dmabuf->name_lock);
	free((char *)old);
}

/* A name set here goes to the other copy of a shared buffer too. */
static void name_shared(struct uapi_dmabuf *obj)
{
	struct core_resv_remote *remote = __atomic_load_n(&obj->remote, __ATOMIC_ACQUIRE);
	const struct uapi_dmabuf_share_ops *share;
	char name[DMA_BUF_NAME_LEN];
	bool has;

	if (!remote)
		return;
	share = __atomic_load_n(&uapi_dmabuf_share_hook, __ATOMIC_ACQUIRE);
	if (!share || !share->set_name)
		return;
	spin_lock(&obj->buf.name_lock);
	has = obj->buf.name != NULL;
	if (has)
		snprintf(name, sizeof(name), "%s", obj->buf.name);
	spin_unlock(&obj->buf.name_lock);
	share->set_name(remote, has ? name : NULL);
}

int dma_buf_set_name(struct dma_buf *dmabuf, const char *name)
{
	char *copy = NULL;

	if (WARN_ON(!dmabuf))
		return -EINVAL;
	if (name) {
		if (strnlen(name, DMA_BUF_NAME_LEN) >= DMA_BUF_NAME_LEN)
			return -EINVAL;
		copy = strdup(name);
		if (!copy)
			return -ENOMEM;
	}
	set_name_owned(dmabuf, copy);
	name_shared(to_uapi_dmabuf(dmabuf));
	return 0;
}

/* ---- ioctls ----------------------------------------------------------------------- */

/*
 * The kernel's strndup_user(@ustr, @max): the string up to its NUL, read a
 * byte at a time so that nothing past the NUL is touched (the string may
 * end just before an unmapped page, or an object boundary).
 * Return: a malloc()ed copy, or ERR_PTR(-EFAULT) if a byte before the NUL
 * is unreadable, ERR_PTR(-EINVAL) if there is no NUL in the first @max
 * bytes, ERR_PTR(-ENOMEM).
 */
static char *strndup_user(const char *ustr, size_t max)
{
	char buf[DMA_BUF_NAME_LEN];

	if (max > sizeof(buf))
		max = sizeof(buf);
	for (size_t i = 0; i < max; i++) {
		if (copy_from_user(&buf[i], user_ptr_add(ustr, i), 1))
			return ERR_PTR(-EFAULT);
		if (!buf[i]) {
			char *s = strdup(buf);

			return s ? s : ERR_PTR(-ENOMEM);
		}
	}
	return ERR_PTR(-EINVAL);
}

int uapi_dmabuf_sync_decode(u64 flags, enum dma_data_direction *dir)
{
	if (flags & ~(__u64)DMA_BUF_SYNC_VALID_FLAGS_MASK)
		return -EINVAL;
	switch (flags & DMA_BUF_SYNC_RW) {
	case DMA_BUF_SYNC_READ:
		*dir = DMA_FROM_DEVICE;
		return 0;
	case DMA_BUF_SYNC_WRITE:
		*dir = DMA_TO_DEVICE;
		return 0;
	case DMA_BUF_SYNC_RW:
		*dir = DMA_BIDIRECTIONAL;
		return 0;
	default:
		return -EINVAL;
	}
}

static long ioctl_sync(struct uapi_dmabuf *obj, void *arg)
{
	struct dma_buf_sync sync;
	enum dma_data_direction dir;
	int r;

	if (copy_from_user(&sync, arg, sizeof(sync)))
		return -EFAULT;
	r = uapi_dmabuf_sync_decode(sync.flags, &dir);
	if (r)
		return r;
	if (sync.flags & DMA_BUF_SYNC_END)
		return dma_buf_end_cpu_access(&obj->buf, dir);
	return dma_buf_begin_cpu_access(&obj->buf, dir);
}

static long ioctl_set_name(struct uapi_dmabuf *obj, void *arg)
{
	char *name = strndup_user(arg, DMA_BUF_NAME_LEN);

	if (IS_ERR(name))
		return PTR_ERR(name);
	set_name_owned(&obj->buf, name);
	name_shared(obj);
	return 0;
}

/* EXPORT/IMPORT_SYNC_FILE: READ, WRITE or both, nothing else. */
static bool sync_file_flags_valid(__u32 flags)
{
	return (flags & DMA_BUF_SYNC_RW) && !(flags & ~DMA_BUF_SYNC_RW);
}

/* Linux's order: arguments, then the fd (EMFILE), then the fence. */
static long ioctl_export_sync_file(struct uapi_dmabuf *obj, void *arg)
{
	struct dma_buf_export_sync_file data;
	struct dma_fence *fence = NULL;
	struct sync_file *sf;
	int r;

	if (copy_from_user(&data, arg, sizeof(data)))
		return -EFAULT;
	if (!sync_file_flags_valid(data.flags))
		return -EINVAL;
	sf = sync_file_alloc();
	if (IS_ERR(sf))
		return PTR_ERR(sf);
	/* READ exports the writers (usage WRITE), WRITE/RW everybody (READ). */
	r = dma_resv_get_singleton(obj->buf.resv, dma_resv_usage_rw(data.flags & DMA_BUF_SYNC_WRITE),
				   &fence);
	if (r) {
		sync_file_discard(sf);
		return r;
	}
	if (!fence)
		fence = dma_fence_get_stub();
	sync_file_set_fence(sf, fence);
	dma_fence_put(fence);
	return sync_file_publish(sf, arg, &data, sizeof(data), &data.fd);
}

static long ioctl_import_sync_file(struct uapi_dmabuf *obj, void *arg)
{
	struct dma_buf_import_sync_file data;
	struct dma_resv *resv = obj->buf.resv;
	struct dma_fence_unwrap iter;
	struct dma_fence *fence, *f;
	enum dma_resv_usage usage;
	unsigned int count = 0;
	int r = 0;

	if (copy_from_user(&data, arg, sizeof(data)))
		return -EFAULT;
	if (!sync_file_flags_valid(data.flags))
		return -EINVAL;
	fence = sync_file_get_fence(data.fd);
	if (!fence)
		return -EINVAL;
	usage = (data.flags & DMA_BUF_SYNC_WRITE) ? DMA_RESV_USAGE_WRITE : DMA_RESV_USAGE_READ;
	/* Never a container in the reservation object: its leaves, with one
	 * reservation for all of them. */
	dma_fence_unwrap_for_each(f, &iter, fence)
		count++;
	if (count) {
		dma_resv_lock(resv, NULL);
		r = dma_resv_reserve_fences(resv, count);
		if (!r) {
			dma_fence_unwrap_for_each(f, &iter, fence)
				dma_resv_add_fence(resv, f, usage);
		}
		dma_resv_unlock(resv);
	}
	dma_fence_put(fence);
	return r;
}

static long dma_buf_ioctl(struct uapi_file *file, int fd, unsigned long request, void *arg)
{
	struct uapi_dmabuf *obj = container_of(file, struct uapi_dmabuf, t.file);

	/* The kernel takes the request as an unsigned int. */
	switch ((unsigned int)request) {
	case DMA_BUF_IOCTL_SYNC:
		return ioctl_sync(obj, arg);
	case DMA_BUF_SET_NAME_A:
	case DMA_BUF_SET_NAME_B:
		return ioctl_set_name(obj, arg);
	case DMA_BUF_IOCTL_EXPORT_SYNC_FILE:
		return ioctl_export_sync_file(obj, arg);
	case DMA_BUF_IOCTL_IMPORT_SYNC_FILE:
		return ioctl_import_sync_file(obj, arg);
	default:
		return -ENOTTY;
	}
}

/* ---- mmap and lseek ---------------------------------------------------------------- */

/* Map the pieces covering [@off, @off + @len) of a udmabuf at @dst. */
static int map_pieces(struct uapi_dmabuf *obj, char *dst, size_t off, size_t len)
{
	size_t pos = 0;

	for (unsigned int i = 0; i < obj->npieces && len; i++) {
		struct uapi_dmabuf_piece *p = &obj->pieces[i];
		size_t n;

		if (off >= pos + p->len) {
			pos += p->len;
			continue;
		}
		n = pos + p->len - off;
		if (n > len)
			n = len;
		/* A second mapping of the same shared pages. */
		if (mremap(p->addr + (off - pos), 0, n, MREMAP_MAYMOVE | MREMAP_FIXED, dst) ==
		    MAP_FAILED)
			return -errno;
		dst += n;
		off += n;
		len -= n;
		pos += p->len;
	}
	return 0;
}

static void *mmap_pieces(struct uapi_dmabuf *obj, void *addr, size_t len, int prot, int flags,
			 size_t off)
{
	bool fixed = flags & MAP_FIXED;
	char *dst = addr;
	int r;

	if (fixed) {
		if ((unsigned long)addr & (PAGE - 1)) {
			errno = EINVAL;
			return MAP_FAILED;
		}
	} else {
		/* Reserve the range (honouring the hint and MAP_FIXED_NOREPLACE). */
		dst = mmap(addr, len, PROT_NONE,
			   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | (flags & MAP_FIXED_NOREPLACE),
			   -1, 0);
		if (dst == MAP_FAILED)
			return MAP_FAILED;
	}
	r = map_pieces(obj, dst, off, len);
	if (!r && mprotect(dst, len, prot))
		r = -errno;
	if (r) {
		munmap(dst, len);
		errno = -r;
		return MAP_FAILED;
	}
	return dst;
}

/* The mmap op: the checks of mmap(2), then the dma-buf's, in Linux's order. */
static void *dma_buf_mmap(struct uapi_file *file, void *addr, size_t length, int prot, int flags,
			  int fd, off_t offset)
{
	struct uapi_dmabuf *obj = container_of(file, struct uapi_dmabuf, t.file);
	size_t pages, pgoff;
	int type = flags & MAP_TYPE;
	void *p;

	if ((offset & (off_t)(PAGE - 1)) || !length)
		return ERR_PTR(-EINVAL);
	if (length > SIZE_MAX - PAGE)
		return ERR_PTR(-ENOMEM);
	/* The inode has no type: mappable up to ULONG_MAX bytes (a negative
	 * offset goes past that). */
	if ((size_t)offset / PAGE > (SIZE_MAX - (length + PAGE - 1) / PAGE * PAGE) / PAGE)
		return ERR_PTR(-EOVERFLOW);
	if (type != MAP_SHARED && type != MAP_PRIVATE && type != MAP_SHARED_VALIDATE)
		return ERR_PTR(-EINVAL);
	if (obj->accmode == O_WRONLY || obj->accmode == O_ACCMODE ||
	    (type != MAP_PRIVATE && (prot & PROT_WRITE) && obj->accmode == O_RDONLY))
		return ERR_PTR(-EACCES);
	pages = (length + PAGE - 1) / PAGE;
	pgoff = (size_t)offset / PAGE;
	if (offset < 0 || pgoff + pages > obj->buf.size / PAGE)
		return ERR_PTR(-EINVAL);
	if (obj->shared_only && type == MAP_PRIVATE)
		return ERR_PTR(-EINVAL);
	/* The system heap maps its pages one by one as PFNs, and a private
	 * (copy-on-write) mapping of PFNs must be made in one go: one page. */
	if (obj->t.kind == TRACKED_MEMFD && type == MAP_PRIVATE && pages > 1 &&
	    obj->buf.exp_name && !strcmp(obj->buf.exp_name, "system"))
		return ERR_PTR(-EINVAL);
	if (obj->t.kind == TRACKED_MEMFD)
		p = mmap(addr, length, prot, flags, fd, offset);
	else
		p = mmap_pieces(obj, addr, pages * PAGE, prot, flags, pgoff * PAGE);
	return p == MAP_FAILED ? ERR_PTR(-errno) : p;
}

/* The lseek op: only the size can be discovered (SEEK_END or SEEK_SET,
 * offset 0). */
static off_t dma_buf_lseek(struct uapi_file *file, off_t offset, int whence)
{
	struct uapi_dmabuf *obj = container_of(file, struct uapi_dmabuf, t.file);

	if (offset)
		return -EINVAL;
	if (whence == SEEK_END)
		return (off_t)obj->buf.size;
	if (whence == SEEK_SET)
		return 0;
	return -EINVAL;
}

/* The listing (file.h, "DOC: object listing"): size, access, exporter,
 * name. */
static void dma_buf_show(struct uapi_file *file, FILE *out)
{
	struct uapi_dmabuf *obj = container_of(file, struct uapi_dmabuf, t.file);
	char name[DMA_BUF_NAME_LEN] = "", exp[UAPI_SHOW_STR_MAX], clean[UAPI_SHOW_STR_MAX];

	spin_lock(&obj->buf.name_lock);
	if (obj->buf.name)
		snprintf(name, sizeof(name), "%s", obj->buf.name);
	spin_unlock(&obj->buf.name_lock);
	fprintf(out, "\t%zu\t%d\t%s\t%s\n", obj->buf.size, obj->accmode,
		uapi_show_str(obj->buf.exp_name, exp, sizeof(exp)),
		uapi_show_str(name, clean, sizeof(clean)));
}

/* The reservation object's fences with their usage, under its lock. */
static void dma_buf_for_each_fence(struct uapi_file *file,
				   void (*fn)(const char *usage, struct dma_fence *fence, void *arg),
				   void *arg)
{
	static const char *const usage[] = { "kernel", "write", "read", "bookkeep" };
	struct uapi_dmabuf *obj = container_of(file, struct uapi_dmabuf, t.file);
	struct dma_resv_iter cursor;
	struct dma_fence *fence;

	dma_resv_lock(obj->buf.resv, NULL);
	dma_resv_for_each_fence(&cursor, obj->buf.resv, DMA_RESV_USAGE_BOOKKEEP, fence)
		fn(usage[dma_resv_iter_usage(&cursor)], fence, arg);
	dma_resv_unlock(obj->buf.resv);
}

static const struct uapi_file_ops dmabuf_ops = {
	.name = "dmabuf",
	.show = dma_buf_show,
	.for_each_fence = dma_buf_for_each_fence,
	.ioctl = dma_buf_ioctl,
	.poll = uapi_dmabuf_poll,
	.poll_wait = uapi_dmabuf_poll_wait,
	.poll_unwait = uapi_dmabuf_poll_unwait,
	.epoll_ctl = uapi_dmabuf_epoll_ctl,
	.mmap = dma_buf_mmap,
	.lseek = dma_buf_lseek,
	.hangup = dmabuf_hangup,
	.match = uapi_tracked_match,
	.release = dma_buf_file_release,
};
