/* SPDX-License-Identifier: MIT */
/*
 * The UAPI engine as the broker drives it (engine.h): thin calls into the
 * registry and the objects, with negative errnos, plus the per-client
 * ownership the broker counts objects by.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/dma-buf.h>

#include <dmasync/dma-fence.h>
#include <dmasync/dma-fence-unwrap.h>
#include <dmasync/dma-resv.h>
#include <dmasync/dmasync-uapi.h>
#include <dmasync/sync_file.h>
#include "device.h"
#include "dma-fence-priv.h"
#include "dma-buf-priv.h"
#include "engine.h"
#include "file.h"
#include "sync_file-priv.h"
#include "sw_sync_dev.h"
#include "tlpage.h"
#include "uaccess.h"
#include <dmasync/sw_sync.h>

int engine_open(const char *path, int flags, const char *comm)
{
	struct uapi_device *dev = uapi_device_find(path);
	int fd;

	if (!dev)
		return -ENOENT;
	uapi_opener_comm = comm;
	fd = uapi_device_open(dev, flags);
	uapi_opener_comm = NULL;
	return fd;
}

long engine_ioctl(int fd, unsigned long request, void *arg)
{
	struct uapi_file *file = uapi_file_lookup(fd);
	long r;

	if (!file)
		return -ENOTTY;
	r = file->ops->ioctl ? file->ops->ioctl(file, fd, request, arg) : -ENOTTY;
	uapi_file_put(file);
	return r;
}

static enum ipc_kind kind_of(const struct uapi_file *file)
{
	const char *n = file->ops->name;

	if (!strcmp(n, "sync_file"))
		return IPC_KIND_SYNC_FILE;
	if (!strcmp(n, "sw_sync"))
		return IPC_KIND_TIMELINE;
	if (!strcmp(n, "dmabuf"))
		return IPC_KIND_DMA_BUF;
	if (!strcmp(n, "udmabuf-device"))
		return IPC_KIND_UDMABUF_DEV;
	if (!strcmp(n, "dma_heap-system"))
		return IPC_KIND_HEAP_DEV;
	return IPC_KIND_NONE;
}

/* The sw_sync points @fence is made of, in unwrap (FILE_INFO) order, if it
 * has 2..IPC_POINTS_MAX leaves and all are sw_sync points. */
static void describe_points(struct dma_fence *fence, struct engine_obj_info *info)
{
	struct dma_fence_unwrap it;
	struct dma_fence *leaf;
	unsigned int n = 0;
	bool ok = true;

	dma_fence_unwrap_for_each(leaf, &it, fence) {
		if (n >= IPC_POINTS_MAX || !dma_fence_is_sw_sync(leaf)) {
			ok = false;
			n++;
			continue;
		}
		info->contexts[n] = leaf->context;
		info->marks[n] = broker_tlpage_mark(leaf);
		n++;
	}
	info->n_points = ok && n >= 2 ? n : 0;
}

void engine_settle_hangups(void)
{
	uapi_files_settle();
}

void engine_trust_scratch(void *p, size_t len)
{
	uaccess_trust_range(p, len);
}

static void (*owner_released)(void *owner);
static void release_hook(struct uapi_file *file);

/* Make @owner the owner of @file if it has none.  Return: true if it did. */
static bool claim(struct uapi_file *file, void *owner, void (*released)(void *owner))
{
	void *none = NULL;

	__atomic_store_n(&owner_released, released, __ATOMIC_RELEASE);
	__atomic_store_n(&uapi_file_release_hook, release_hook, __ATOMIC_RELEASE);
	return __atomic_compare_exchange_n(&file->owner, &none, owner, false, __ATOMIC_ACQ_REL,
					   __ATOMIC_RELAXED);
}

enum ipc_kind engine_identify(int fd, struct engine_obj_info *info)
{
	return engine_identify_claim(fd, info, NULL, NULL, NULL);
}

enum ipc_kind engine_identify_claim(int fd, struct engine_obj_info *info, void *owner,
				    void (*released)(void *owner), bool *claimed)
{
	struct uapi_file *file = uapi_file_lookup(fd);
	enum ipc_kind kind;

	memset(info, 0, sizeof(*info));
	if (claimed)
		*claimed = false;
	if (!file)
		return IPC_KIND_NONE;
	if (owner)
		*claimed = claim(file, owner, released);
	kind = kind_of(file);
	info->kind = kind;
	info->dev = file->dev;
	info->ino = file->ino;
	if (kind == IPC_KIND_DMA_BUF)
		info->size = container_of(file, struct uapi_dmabuf, t.file)->buf.size;
	if (kind == IPC_KIND_TIMELINE) {
		struct sync_timeline *tl = uapi_sw_sync_timeline(file);

		if (tl) {
			info->context = sync_timeline_context(tl);
			sync_timeline_put(tl);
		}
	} else if (kind == IPC_KIND_SYNC_FILE) {
		/* The file found: no more lookups of @fd (each an fstat). */
		struct dma_fence *fence = uapi_sync_file_fence(file);

		info->stub = fence && core_dma_fence_is_stub(fence);
		if (fence && dma_fence_is_sw_sync(fence)) {
			info->context = fence->context;
			info->mark = broker_tlpage_mark(fence);
			uapi_sync_file_name(file, info->name, sizeof(info->name));
		} else if (fence) {
			describe_points(fence, info);
			if (info->n_points)
				uapi_sync_file_name(file, info->name, sizeof(info->name));
		}
		dma_fence_put(fence);
	}
	uapi_file_put(file);
	return kind;
}

void engine_closed(dev_t dev, ino_t ino)
{
	uapi_file_closed_key(dev, ino);
}

/* The dma-buf behind @fd, with a reference, or NULL. */
static struct uapi_dmabuf *dmabuf_lookup(int fd)
{
	struct uapi_file *file = uapi_file_lookup(fd);

	if (file && kind_of(file) == IPC_KIND_DMA_BUF)
		return container_of(file, struct uapi_dmabuf, t.file);
	uapi_file_put(file);
	return NULL;
}

int engine_mirror(int fd)
{
	struct uapi_dmabuf *obj = dmabuf_lookup(fd);
	int m;

	if (!obj)
		return -EINVAL;
	m = uapi_dmabuf_poll_shared_mirror(obj);
	uapi_dmabuf_put(obj);
	return m;
}

int engine_map(int fd, unsigned int first, struct ipc_map_piece *pieces, unsigned int max_pieces,
	       int *fds, unsigned int max_fds, unsigned int *nfds, unsigned int *total)
{
	struct uapi_dmabuf *obj = dmabuf_lookup(fd);
	int src[IPC_MAX_FDS];	/* the pieces' memfds whose copy is fds[k] */
	unsigned int n = 0, k = 0;
	int r = 0;

	*nfds = 0;
	if (!obj)
		return -EINVAL;
	*total = obj->npieces;
	if (!obj->npieces || first >= obj->npieces) {
		r = obj->npieces ? -EINVAL : -ENODEV;
		uapi_dmabuf_put(obj);
		return r;
	}
	if (max_fds > IPC_MAX_FDS)
		max_fds = IPC_MAX_FDS;
	for (; first + n < obj->npieces && n < max_pieces; n++) {
		const struct uapi_dmabuf_piece *p = &obj->pieces[first + n];
		unsigned int j;

		/* Pieces of one memfd share its fd (udmabuf.c), so its copy. */
		for (j = 0; j < k && src[j] != p->memfd; j++)
			;
		if (j == k) {
			if (k == max_fds)
				break;
			fds[k] = fcntl(p->memfd, F_DUPFD_CLOEXEC, 0);
			if (fds[k] < 0) {
				r = -errno;
				break;
			}
			src[k++] = p->memfd;
		}
		pieces[n].offset = p->offset;
		pieces[n].len = p->len;
		pieces[n].fd = j;
		pieces[n].pad = 0;
	}
	uapi_dmabuf_put(obj);
	if (r) {
		while (k)
			close(fds[--k]);
		return r;
	}
	*nfds = k;
	return (int)n;
}

static int (*cpu_access_hook)(void *maker, dev_t dev, ino_t ino, unsigned int op, int dir);

void engine_on_cpu_access(int (*fn)(void *maker, dev_t dev, ino_t ino, unsigned int op, int dir))
{
	cpu_access_hook = fn;
}

/* The maker's exporter op @op for @obj, if it has one: 1 and its answer
 * socket in *@answer, 0 if none is to run, or a negative errno. */
static int ask_maker(struct uapi_dmabuf *obj, unsigned int op, enum dma_data_direction dir,
		     int *answer)
{
	void *maker = uapi_dmabuf_maker(obj);
	int r;

	if (!maker || !cpu_access_hook || !(uapi_dmabuf_maker_cpu_ops(obj) & op))
		return 0;
	r = cpu_access_hook(maker, obj->t.file.dev, obj->t.file.ino, op, (int)dir);
	if (r <= 0)
		return r;
	*answer = r;
	return 1;
}

int engine_sync(int fd, uint64_t flags, bool exporter_done, int *wait_fd)
{
	struct uapi_dmabuf *obj = dmabuf_lookup(fd);
	enum dma_data_direction dir;
	struct dma_fence *fence = NULL;
	bool write;
	int r = 0;

	*wait_fd = -1;
	if (!obj)
		return -ENOTTY;
	/* The checks and order of DMA_BUF_IOCTL_SYNC (dma-buf.c). */
	r = uapi_dmabuf_sync_decode(flags, &dir);
	if (r)
		goto out;
	if (flags & DMA_BUF_SYNC_END) {
		r = ask_maker(obj, IPC_CPU_END, dir, wait_fd);
		if (!r)
			r = dma_buf_end_cpu_access(&obj->buf, dir);
		goto out;
	}
	/* START: the exporter first; the wait is the caller's. */
	if (!exporter_done)
		r = ask_maker(obj, IPC_CPU_BEGIN, dir, wait_fd);
	if (r)
		goto out;
	if (obj->buf.ops->begin_cpu_access)
		r = obj->buf.ops->begin_cpu_access(&obj->buf, dir);
	if (r)
		goto out;
	write = dir != DMA_FROM_DEVICE;
	r = dma_resv_get_singleton(obj->buf.resv, dma_resv_usage_rw(write), &fence);
	if (r || !fence)
		goto out;
	if (!dma_fence_is_signaled(fence)) {
		r = sync_file_create_fd(fence);
		if (r >= 0) {
			*wait_fd = r;
			r = 0;
		}
	}
	dma_fence_put(fence);
out:
	uapi_dmabuf_put(obj);
	return r;
}

int engine_fdinfo(int fd, struct ipc_fdinfo *info)
{
	struct uapi_dmabuf *obj = dmabuf_lookup(fd);

	memset(info, 0, sizeof(*info));
	if (!obj)
		return -EINVAL;
	info->size = obj->buf.size;
	snprintf(info->exp_name, sizeof(info->exp_name), "%s", obj->buf.exp_name);
	spin_lock(&obj->buf.name_lock);
	if (obj->buf.name) {
		snprintf(info->name, sizeof(info->name), "%s", obj->buf.name);
		info->has_name = 1;
	}
	spin_unlock(&obj->buf.name_lock);
	uapi_dmabuf_put(obj);
	return 0;
}

unsigned int engine_object_count(void)
{
	return uapi_files_count();
}

void engine_signal_by_record(void)
{
	uapi_sync_file_set_shutdown(false);
}

long engine_sync_file_count(int fd)
{
	struct dma_fence *fence = sync_file_get_fence(fd);
	struct dma_fence_unwrap it;
	struct dma_fence *f;
	long n = 0;

	if (!fence)
		return -EINVAL;
	dma_fence_unwrap_for_each(f, &it, fence)
		n++;
	dma_fence_put(fence);
	return n;
}

static void (*timeline_released)(struct sync_timeline *tl);
static void (*dmabuf_released)(dev_t dev, ino_t ino);

void engine_on_dmabuf_release(void (*fn)(dev_t dev, ino_t ino))
{
	__atomic_store_n(&dmabuf_released, fn, __ATOMIC_RELEASE);
}

void engine_on_dmabuf_change(void (*fn)(dev_t dev, ino_t ino))
{
	__atomic_store_n(&uapi_dmabuf_changed_hook, fn, __ATOMIC_RELEASE);
}

int engine_dmabuf_ready(int fd)
{
	struct uapi_dmabuf *obj = dmabuf_lookup(fd);
	int ready = 0;

	if (!obj)
		return -ENODEV;
	if (dma_resv_test_signaled(obj->buf.resv, DMA_RESV_USAGE_WRITE))
		ready |= 1;
	if (dma_resv_test_signaled(obj->buf.resv, DMA_RESV_USAGE_READ))
		ready |= 2;
	uapi_dmabuf_put(obj);
	return ready;
}

void engine_on_timeline_release(void (*fn)(struct sync_timeline *tl))
{
	__atomic_store_n(&timeline_released, fn, __ATOMIC_RELEASE);
}

static void release_hook(struct uapi_file *file)
{
	void (*tl_fn)(struct sync_timeline *) = __atomic_load_n(&timeline_released, __ATOMIC_ACQUIRE);
	void (*buf_fn)(dev_t, ino_t) = __atomic_load_n(&dmabuf_released, __ATOMIC_ACQUIRE);

	if (buf_fn && kind_of(file) == IPC_KIND_DMA_BUF)
		buf_fn(file->dev, file->ino);

	if (tl_fn && file->ops == &uapi_sw_sync_file_ops) {
		struct sync_timeline *tl = uapi_sw_sync_timeline(file);

		if (tl) {
			tl_fn(tl);
			sync_timeline_put(tl);
		}
	}
	__atomic_load_n(&owner_released, __ATOMIC_ACQUIRE)(
		__atomic_load_n(&file->owner, __ATOMIC_ACQUIRE));
}

bool engine_claim(int fd, void *owner, void (*released)(void *owner))
{
	struct uapi_file *file = uapi_file_lookup(fd);
	bool claimed;

	if (!file)
		return false;
	claimed = claim(file, owner, released);
	uapi_file_put(file);
	return claimed;
}

/* ---- listing ------------------------------------------------------------------------ */

struct list_ctx {
	FILE *out;
	void (*describe_owner)(void *owner, FILE *out);
};

static void list_fence(const char *usage, struct dma_fence *fence, void *out)
{
	uapi_show_fence(out, usage, fence);
}

static void list_one(struct uapi_file *file, void *arg)
{
	struct list_ctx *ctx = arg;
	void *owner = __atomic_load_n(&file->owner, __ATOMIC_ACQUIRE);

	if (!file->ops->show)
		return;	/* the device nodes' fds */
	fprintf(ctx->out, "%s\t%lu\t%lu", file->ops->name, (unsigned long)file->dev,
		(unsigned long)file->ino);
	if (owner)
		ctx->describe_owner(owner, ctx->out);
	else
		fputs("\t0\t-", ctx->out);
	file->ops->show(file, ctx->out);
	if (file->ops->for_each_fence)
		file->ops->for_each_fence(file, list_fence, ctx->out);
}

void engine_list(FILE *out, void (*describe_owner)(void *owner, FILE *out))
{
	struct list_ctx ctx = { .out = out, .describe_owner = describe_owner };

	uapi_file_for_each(NULL, list_one, &ctx);
}

/* ---- timelines, for fault injection and the watchdog --------------------------------- */

struct sync_timeline *engine_timeline_get(int fd, void **owner)
{
	struct uapi_file *file = uapi_file_lookup(fd);
	struct sync_timeline *tl;

	if (!file)
		return NULL;
	tl = uapi_sw_sync_timeline(file);
	if (owner)
		*owner = __atomic_load_n(&file->owner, __ATOMIC_ACQUIRE);
	uapi_file_put(file);
	return tl;
}

struct timeline_walk {
	void (*fn)(struct sync_timeline *tl, void *owner, void *arg);
	void *arg;
};

static void timeline_one(struct uapi_file *file, void *arg)
{
	struct timeline_walk *w = arg;
	struct sync_timeline *tl = uapi_sw_sync_timeline(file);

	if (!tl)
		return;
	w->fn(tl, __atomic_load_n(&file->owner, __ATOMIC_ACQUIRE), w->arg);
	sync_timeline_put(tl);
}

void engine_for_each_timeline(void (*fn)(struct sync_timeline *tl, void *owner, void *arg),
			      void *arg)
{
	struct timeline_walk w = { .fn = fn, .arg = arg };

	uapi_file_for_each(&uapi_sw_sync_file_ops, timeline_one, &w);
}

struct fence_walk {
	void (*fn)(const struct engine_holder *h, const char *usage, struct dma_fence *fence,
		   void *arg);
	void *arg;
	struct engine_holder h;
};

static void fence_one(const char *usage, struct dma_fence *fence, void *arg)
{
	struct fence_walk *w = arg;

	w->fn(&w->h, usage, fence, w->arg);
}

static void holder_one(struct uapi_file *file, void *arg)
{
	struct fence_walk *w = arg;

	if (!file->ops->for_each_fence)
		return;
	w->h.kind = file->ops->name;
	w->h.ino = (unsigned long)file->ino;
	w->h.owner = __atomic_load_n(&file->owner, __ATOMIC_ACQUIRE);
	file->ops->for_each_fence(file, fence_one, w);
}

void engine_for_each_fence(void (*fn)(const struct engine_holder *h, const char *usage,
				      struct dma_fence *fence, void *arg),
			   void *arg)
{
	struct fence_walk w = { .fn = fn, .arg = arg };

	uapi_file_for_each(NULL, holder_one, &w);
}

/* ---- adopted buffers ------------------------------------------------------------ */

int engine_adopt(int memfd, const struct ipc_adopt *a, void *maker)
{
	char exp_name[sizeof(a->exp_name) + 1] = "", name[sizeof(a->name) + 1] = "";

	memcpy(exp_name, a->exp_name, sizeof(a->exp_name));
	memcpy(name, a->name, sizeof(a->name));
	if (a->size > SIZE_MAX || a->accmode > INT32_MAX)
		return -EINVAL;
	return uapi_dmabuf_adopt(memfd, (size_t)a->size, (int)a->accmode, exp_name,
				 a->has_name ? name : NULL, maker,
				 a->cpu_ops & (IPC_CPU_BEGIN | IPC_CPU_END));
}

bool engine_is_buffer(dev_t dev, ino_t ino)
{
	struct uapi_file *file = uapi_file_lookup_key(dev, ino);
	bool is = file && kind_of(file) == IPC_KIND_DMA_BUF;

	if (file)
		uapi_file_put(file);
	return is;
}

/* The buffer (@dev, @ino) that @maker adopted, with a reference; or NULL
 * and *@err: -ENOENT (released), -EPERM (not @maker's). */
static struct uapi_dmabuf *adopted_lookup(dev_t dev, ino_t ino, void *maker, int *err)
{
	struct uapi_file *file = uapi_file_lookup_key(dev, ino);
	struct uapi_dmabuf *obj;

	if (!file) {
		*err = -ENOENT;
		return NULL;
	}
	obj = kind_of(file) == IPC_KIND_DMA_BUF ? container_of(file, struct uapi_dmabuf, t.file)
						 : NULL;
	if (!obj || !maker || uapi_dmabuf_maker(obj) != maker) {
		uapi_file_put(file);
		*err = -EPERM;
		return NULL;
	}
	return obj;
}

int engine_adopted_push(dev_t dev, ino_t ino, void *maker, struct dma_fence **fences,
			const enum dma_resv_usage *usages, unsigned int n)
{
	struct uapi_dmabuf *obj;
	int r;

	obj = adopted_lookup(dev, ino, maker, &r);
	if (!obj)
		return r;
	dma_resv_lock(obj->buf.resv, NULL);
	r = dma_resv_reserve_fences(obj->buf.resv, n);
	for (unsigned int i = 0; !r && i < n; i++)
		dma_resv_add_fence(obj->buf.resv, fences[i], usages[i]);
	dma_resv_unlock(obj->buf.resv);
	uapi_dmabuf_put(obj);
	return r;
}

int engine_adopted_set_name(dev_t dev, ino_t ino, void *maker, const char *name)
{
	struct uapi_dmabuf *obj;
	int r;

	obj = adopted_lookup(dev, ino, maker, &r);
	if (!obj)
		return r;
	r = dma_buf_set_name(&obj->buf, name);
	uapi_dmabuf_put(obj);
	return r;
}

/* A sync file of the fences @arr[0..@n) (their references dropped). */
static int sync_file_of(struct dma_fence **arr, unsigned int n)
{
	struct dma_fence *merged = __dma_fence_unwrap_merge(n, arr, NULL);
	struct sync_file *sf;
	int fd;

	for (unsigned int i = 0; i < n; i++)
		dma_fence_put(arr[i]);
	if (!merged)
		return -ENOMEM;
	sf = sync_file_create(merged);
	dma_fence_put(merged);
	if (!sf)
		return -errno;
	fd = sync_file_install(sf);
	return fd;
}

int engine_adopted_pull(dev_t dev, ino_t ino, void *maker,
			bool (*mine)(struct dma_fence *fence, void *arg), void *arg, int fds[2])
{
	struct dma_fence **arr[2] = { NULL, NULL };
	unsigned int n[2] = { 0, 0 }, max = 0;
	struct dma_resv_iter cursor;
	struct uapi_dmabuf *obj;
	struct dma_fence *fence;
	int r, mask = 0;

	fds[0] = fds[1] = -1;
	obj = adopted_lookup(dev, ino, maker, &r);
	if (!obj)
		return r;
	dma_resv_lock(obj->buf.resv, NULL);
	dma_resv_for_each_fence(&cursor, obj->buf.resv, DMA_RESV_USAGE_READ, fence)
		max++;
	r = 0;
	if (max) {
		arr[0] = calloc(max, sizeof(*arr[0]));
		arr[1] = calloc(max, sizeof(*arr[1]));
		if (!arr[0] || !arr[1])
			r = -ENOMEM;
	}
	if (!r) {
		dma_resv_for_each_fence(&cursor, obj->buf.resv, DMA_RESV_USAGE_READ, fence) {
			/* [0]: writers (and the kernel's), [1]: readers. */
			unsigned int k = dma_resv_iter_usage(&cursor) == DMA_RESV_USAGE_READ;

			if (!dma_fence_is_signaled(fence) && !mine(fence, arg))
				arr[k][n[k]++] = dma_fence_get(fence);
		}
	}
	dma_resv_unlock(obj->buf.resv);
	uapi_dmabuf_put(obj);
	for (unsigned int k = 0; k < 2; k++) {
		if (!n[k])
			continue;
		fds[k] = sync_file_of(arr[k], n[k]);
		if (fds[k] < 0 && !r)
			r = fds[k];
		if (fds[k] >= 0)
			mask |= 1 << k;
	}
	free(arr[0]);
	free(arr[1]);
	if (r < 0) {
		for (unsigned int k = 0; k < 2; k++)
			if (fds[k] >= 0)
				dmasync_close(fds[k]);
		fds[0] = fds[1] = -1;
		return r;
	}
	return mask;
}
