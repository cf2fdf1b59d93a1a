/* SPDX-License-Identifier: MIT */
/*
 * dmasync - dma-buf: a shared buffer with a reservation object, behind a
 * real file descriptor.
 *
 * A dma-buf is exported once, by the code that owns the memory (the
 * "exporter": the emulated /dev/udmabuf and /dev/dma_heap/system, or the
 * program itself through dma_buf_export()), and handed out as an fd with
 * dma_buf_fd().  Every dma-buf carries a struct dma_resv: the fences of
 * everybody who uses the buffer, which is what implicit synchronization
 * (poll, DMA_BUF_IOCTL_SYNC, DMA_BUF_IOCTL_EXPORT_SYNC_FILE/IMPORT_SYNC_FILE)
 * is about.
 *
 * The fd.  A buffer of fresh memory (dma-heap, dma_buf_export()) is a memfd
 * of exactly the buffer's page-rounded size, so mmap(), fstat() and
 * lseek(SEEK_END) work on it natively; a udmabuf is an AF_UNIX socket that
 * cannot be mapped natively (mmap fails with ENODEV) and is mapped with
 * dmasync_mmap().  Either way the fd is recognised by dmasync_ioctl(),
 * dmasync_poll(), dmasync_epoll_ctl(), dmasync_mmap() and dmasync_lseek()
 * (<dmasync/dmasync-uapi.h>); docs/kernel-compat.md lists which libc calls
 * need those wrappers and why.
 *
 * Lifetime.  A dma-buf is reference counted.  dma_buf_export() returns the
 * creator's reference; dma_buf_fd() hands that reference to the fd.  The
 * fd's reference is dropped once no fd of this process refers to the
 * buffer any more: immediately when the last copy is closed with
 * dmasync_close(), otherwise at the next reap pass (see dmasync_close() in
 * <dmasync/dmasync-uapi.h> for when those run).  dma_buf_get() takes an
 * extra reference from an fd, dma_buf_put() drops one; the exporter's
 * ops->release runs when the last one goes.
 *
 * Errors: functions returning a pointer return ERR_PTR(-errno) on failure,
 * as the kernel's do; test with IS_ERR() and decode with PTR_ERR().
 */
#ifndef DMASYNC_DMA_BUF_H
#define DMASYNC_DMA_BUF_H

#include <stddef.h>
#include <dmasync/types.h>
#include <dmasync/spinlock.h>
#include <dmasync/dma-resv.h>

#ifdef __cplusplus
extern "C" {
#endif

#ifndef DMASYNC_HAVE_ERR_PTR
#define DMASYNC_HAVE_ERR_PTR 1
/**
 * ERR_PTR - encode a negative errno as a pointer.
 * @error: -MAX_ERRNO..-1
 */
static inline void *ERR_PTR(long error)
{
	return (void *)error;
}

/** PTR_ERR - the negative errno encoded in @ptr (only if IS_ERR(@ptr)). */
static inline long PTR_ERR(const void *ptr)
{
	return (long)ptr;
}

/** IS_ERR - whether @ptr encodes an error (the top MAX_ERRNO addresses). */
static inline bool IS_ERR(const void *ptr)
{
	return (unsigned long)ptr >= (unsigned long)-MAX_ERRNO;
}

/** IS_ERR_OR_NULL - IS_ERR(@ptr) or @ptr == NULL. */
static inline bool IS_ERR_OR_NULL(const void *ptr)
{
	return !ptr || IS_ERR(ptr);
}
#endif

/** DMA_BUF_NAME_LEN - size of a dma-buf name buffer, NUL included. */
#ifndef DMA_BUF_NAME_LEN
#define DMA_BUF_NAME_LEN 32
#endif

/**
 * enum dma_data_direction - the direction of a CPU access.
 * @DMA_BIDIRECTIONAL: read and write (DMA_BUF_SYNC_RW)
 * @DMA_TO_DEVICE: the CPU writes (DMA_BUF_SYNC_WRITE)
 * @DMA_FROM_DEVICE: the CPU reads (DMA_BUF_SYNC_READ)
 * @DMA_NONE: no access
 */
enum dma_data_direction {
	DMA_BIDIRECTIONAL = 0,
	DMA_TO_DEVICE = 1,
	DMA_FROM_DEVICE = 2,
	DMA_NONE = 3,
};

struct dma_buf;

/**
 * struct dma_buf_ops - what an exporter implements.
 * @begin_cpu_access: optional; called by dma_buf_begin_cpu_access() (and
 *	DMA_BUF_IOCTL_SYNC with START) before it waits for the fences the
 *	access conflicts with.  A negative errno fails the call.  Called
 *	without any dmasync lock held; may sleep.
 * @end_cpu_access: optional; called by dma_buf_end_cpu_access() (SYNC with
 *	END).  A negative errno fails the call.  No lock held.
 * @release: mandatory; the last reference is gone: free what @priv holds.
 *	Called once, from whichever thread dropped the last reference, with
 *	no dmasync lock held.  The buffer's reservation object is finalized
 *	after it returns.
 *
 * Device attachment (attach, map_dma_buf, ...) has no counterpart: there
 * are no devices in a process.
 */
struct dma_buf_ops {
	int (*begin_cpu_access)(struct dma_buf *dmabuf, enum dma_data_direction direction);
	int (*end_cpu_access)(struct dma_buf *dmabuf, enum dma_data_direction direction);
	void (*release)(struct dma_buf *dmabuf);
};

/**
 * struct dma_buf - a shared buffer.
 * @size: size in bytes (a multiple of the page size); constant
 * @ops: the exporter's operations; constant
 * @exp_name: the exporter's name (e.g. "udmabuf", "system"); constant
 * @name_lock: protects @name
 * @name: the name given with DMA_BUF_SET_NAME / dma_buf_set_name(), or
 *	NULL; read it under @name_lock (it is replaced, and the old string
 *	freed, by renames)
 * @priv: the exporter's private data; constant
 * @resv: the reservation object: the buffer's own, or the one given in
 *	&dma_buf_export_info.resv; constant.  Lock it with dma_resv_lock() to
 *	add fences; dma_resv_unlock() brings the buffer's epoll registrations
 *	up to date.
 *
 * Allocated by dma_buf_export() only; the rest of the object is private.
 */
struct dma_buf {
	size_t size;
	const struct dma_buf_ops *ops;
	const char *exp_name;
	spinlock_t name_lock;
	const char *name;
	void *priv;
	struct dma_resv *resv;
};

/**
 * struct dma_buf_export_info - what dma_buf_export() needs.
 * @exp_name: the exporter's name (copied by reference: must outlive the
 *	buffer; string literals are the norm)
 * @ops: the exporter's operations (must outlive the buffer); @ops->release
 *	is mandatory
 * @size: the buffer size in bytes, > 0; rounded up to whole pages
 * @flags: open flags of the fd's file: its access mode (O_RDWR, O_RDONLY,
 *	O_WRONLY, or 3 for neither, as open(2)) decides which mmap()s are
 *	allowed; O_CLOEXEC is given to dma_buf_fd() instead
 * @resv: a reservation object to share (the caller keeps it alive for the
 *	buffer's lifetime and finalizes it), or NULL for the buffer's own
 * @priv: the exporter's private data, mandatory (as in the kernel)
 */
struct dma_buf_export_info {
	const char *exp_name;
	const struct dma_buf_ops *ops;
	size_t size;
	int flags;
	struct dma_resv *resv;
	void *priv;
};

#ifdef KBUILD_MODNAME
#define DMA_BUF_DEFAULT_EXP_NAME KBUILD_MODNAME
#else
#define DMA_BUF_DEFAULT_EXP_NAME "dmasync"
#endif

/**
 * DEFINE_DMA_BUF_EXPORT_INFO - declare @name, a struct dma_buf_export_info
 * with the exporter name set to KBUILD_MODNAME if the program defines it,
 * else "dmasync", and everything else zero.
 */
#define DEFINE_DMA_BUF_EXPORT_INFO(name) \
	struct dma_buf_export_info name = { .exp_name = DMA_BUF_DEFAULT_EXP_NAME }

/**
 * dma_buf_export - create a dma-buf of fresh, zeroed memory.
 * @exp_info: the exporter's description; read during the call only
 *
 * The buffer is backed by a new memfd of @exp_info->size rounded up to
 * pages; the fd that dma_buf_fd() hands out is that memfd, so the program
 * maps it with plain mmap() (or dmasync_mmap(), which also enforces the
 * size).  Thread-safe.
 *
 * Return: the buffer with one reference owned by the caller (give it to
 * an fd with dma_buf_fd(), or drop it with dma_buf_put()), or
 * ERR_PTR(-EINVAL) with a warning if @ops, @ops->release or @priv is
 * missing, ERR_PTR(-EINVAL) if the size is 0, ERR_PTR(-ENOMEM),
 * ERR_PTR(-EMFILE) or ERR_PTR(-ENFILE).
 */
DMASYNC_EXPORT struct dma_buf *dma_buf_export(const struct dma_buf_export_info *exp_info);

/**
 * dma_buf_fd - hand @dmabuf out as a file descriptor.
 * @dmabuf: a buffer from dma_buf_export() that has no fd yet
 * @flags: O_CLOEXEC or 0
 *
 * Consumes the caller's reference on success: from then on the fd owns
 * it, and the buffer lives as long as any copy of the fd does.  Each
 * buffer gets one fd (dup() it for more).  Thread-safe.
 *
 * Return: the fd, or -EINVAL if @dmabuf is NULL or already has its fd,
 * or another negative errno (the caller keeps its reference then).
 */
DMASYNC_EXPORT int dma_buf_fd(struct dma_buf *dmabuf, int flags);

/**
 * dma_buf_get - the dma-buf behind a file descriptor.
 * @fd: any fd; borrowed
 *
 * Return: the buffer with a new reference (drop it with dma_buf_put()),
 * ERR_PTR(-EBADF) if @fd is not open, ERR_PTR(-EINVAL) if it is not a
 * dma-buf.
 */
DMASYNC_EXPORT struct dma_buf *dma_buf_get(int fd);

/**
 * dma_buf_put - drop a reference to @dmabuf.
 * @dmabuf: the buffer; NULL and error pointers are warned about and ignored
 *
 * The last reference runs @dmabuf->ops->release and frees the buffer.
 * Must not be called with @dmabuf->resv locked.
 */
DMASYNC_EXPORT void dma_buf_put(struct dma_buf *dmabuf);

/**
 * __dma_buf_get_ref - take a reference; use get_dma_buf().
 * @dmabuf: the buffer; the caller must already hold a reference
 */
DMASYNC_EXPORT void __dma_buf_get_ref(struct dma_buf *dmabuf);

/**
 * get_dma_buf - take another reference to @dmabuf.
 * @dmabuf: the buffer; the caller must already hold a reference
 */
static inline void get_dma_buf(struct dma_buf *dmabuf)
{
	__dma_buf_get_ref(dmabuf);
}

/**
 * dma_buf_begin_cpu_access - prepare for CPU access (DMA_BUF_IOCTL_SYNC
 * with DMA_BUF_SYNC_START).
 * @dmabuf: the buffer; the caller holds a reference
 * @direction: DMA_FROM_DEVICE to read, DMA_TO_DEVICE to write,
 *	DMA_BIDIRECTIONAL for both
 *
 * Calls the exporter's begin_cpu_access, then waits, interruptibly, for
 * the fences the access conflicts with: a reader waits for the KERNEL and
 * WRITE fences, a writer for the READ ones too (dma_resv_usage_rw()).
 * Must not be called with @dmabuf->resv locked.  An interrupted wait with
 * an SA_RESTART handler resumes; without, it ends the call.
 *
 * Return: 0, the exporter's error, or -ERESTARTSYS if interrupted.
 */
DMASYNC_EXPORT int dma_buf_begin_cpu_access(struct dma_buf *dmabuf,
					    enum dma_data_direction direction);

/**
 * dma_buf_end_cpu_access - CPU access is over (SYNC with DMA_BUF_SYNC_END).
 * @dmabuf: the buffer; the caller holds a reference
 * @direction: as given to dma_buf_begin_cpu_access()
 *
 * Calls the exporter's end_cpu_access; never waits.
 * Return: 0 or the exporter's error (a udmabuf: -EINVAL before any
 * successful begin, as Linux).
 */
DMASYNC_EXPORT int dma_buf_end_cpu_access(struct dma_buf *dmabuf,
					  enum dma_data_direction direction);

/**
 * dma_buf_set_name - name @dmabuf (DMA_BUF_SET_NAME from in-process code).
 * @dmabuf: the buffer; the caller holds a reference
 * @name: the new name (copied); NULL clears it
 *
 * Takes @dmabuf->name_lock.  Renaming is allowed at any time (Linux 6.x).
 * Return: 0, -EINVAL if @name is longer than DMA_BUF_NAME_LEN - 1
 * characters, or -ENOMEM.
 */
DMASYNC_EXPORT int dma_buf_set_name(struct dma_buf *dmabuf, const char *name);

#ifdef __cplusplus
}
#endif

#endif /* DMASYNC_DMA_BUF_H */
