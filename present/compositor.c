/* SPDX-License-Identifier: MIT */
/*
 * present-compositor: a Wayland compositor that knows implicit sync, and
 * explicit sync through zwp_linux_explicit_synchronization_v1.
 *
 * Buffers come as dma-bufs (zwp_linux_dmabuf_v1).  A commit queues the
 * surface's buffer as the next frame (frames are numbered by commit).
 * Before compositing, the compositor waits for the buffer's writers: with
 * an acquire fence from the explicit-sync protocol it waits on that; else
 * (implicit sync) it exports the dma-buf's write fences as a sync file
 * (DMA_BUF_IOCTL_EXPORT_SYNC_FILE, READ) or polls the dma-buf itself
 * (--implicit=poll).  Once the writers are done it takes the buffer for
 * reading: a point of its own sw_sync timeline goes into the dma-buf as a
 * read fence (implicit) or to the client as the release fence (explicit),
 * and the buffer is released.  At every vblank of a fixed refresh it
 * composites the oldest ready frame (FIFO: each frame once, in order):
 * reads the pixels through its mapping of the dma-buf, checks stamp and
 * checksum (torn and stale frames are caught), copies them to the scanout
 * buffer, and signals its read fence.
 *
 * Only the Linux UAPI: runs under `dmasync run` and on a kernel with
 * sw_sync and udmabuf alike.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/time.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <linux/dma-buf.h>
#include <linux/sync_file.h>

#include <wayland-server.h>
#include "linux-dmabuf-unstable-v1-server-protocol.h"
#include "linux-explicit-synchronization-unstable-v1-server-protocol.h"

#include "common.h"

enum implicit_method { IMPLICIT_EXPORT, IMPLICIT_POLL };

struct comp_config {
	double refresh_ms;
	enum implicit_method implicit;
	unsigned int clients;		/* exit after this many clients have gone */
	long timeout_ms;		/* no progress for this long: give up */
};

struct cbuffer {
	struct wl_resource *res;	/* NULL once the client destroyed it */
	int refs;
	int fd;
	void *map;
	size_t map_size;
	unsigned int offset, stride, width, height;
};

struct frame;
struct client_state;

struct surface {
	struct comp *comp;
	struct wl_resource *res;
	struct wl_client *client;
	unsigned int client_no;
	struct cbuffer *pending;	/* attached, not yet committed */
	bool pending_set;
	struct wl_resource *pending_cb;	/* wl_callback */
	int acquire_fd;			/* explicit sync: set_acquire_fence */
	struct wl_resource *release;	/* explicit sync: get_release */
	struct wl_resource *sync;	/* zwp_linux_surface_synchronization_v1 */
	uint32_t commits;
	struct wl_list link;		/* client_state.surfaces; empty once the client is gone */
	int client_pid;
};

/* A committed frame, from commit to scanout. */
struct frame {
	struct wl_list link;		/* comp.queue */
	struct surface *surf;
	struct cbuffer *buf;
	uint32_t no;			/* frame number: commit count */
	int wait_fd;			/* sync file (or -1 when polling the dma-buf) */
	struct wl_event_source *src;
	struct wl_resource *cb;		/* frame callback */
	struct wl_resource *release;	/* explicit: the buffer release object */
	bool ready, read_started;
	uint32_t read_point;		/* our timeline's value for the read fence; 0 none */
	int64_t t_commit, t_ready;
	struct fence_id id;
};

struct comp {
	struct comp_config cfg;
	struct wl_display *display;
	struct wl_event_loop *loop;
	struct wl_listener client_created;
	int timeline;
	uint32_t points, signaled;	/* read fences made / timeline value */
	bool *point_done;
	size_t point_cap;
	struct wl_list queue;
	unsigned int clients_seen, clients_gone;
	uint32_t *scanout;
	size_t scanout_size;
	/* display state */
	bool showing;
	uint32_t shown_frame;
	int64_t shown_since;
	unsigned int repeats, missed, displayed, dropped, failed;
	int64_t last_progress;
	int status;
};

struct client_state {
	struct wl_listener destroy;
	struct comp *comp;
	unsigned int no;
	int pid;
	struct wl_list surfaces;	/* surface.link: every surface of the client */
};

static void client_destroyed(struct wl_listener *l, void *data);

/* ---- the read fences: our sw_sync timeline ---- */

/**
 * read_point_create() - a new point on the compositor's timeline.
 * @c: compositor
 * @fd: the point as a sync file
 *
 * Points are signaled in value order by read_point_done(), whatever order
 * the frames holding them finish in.
 *
 * Return: the point's value, or a negative errno.
 */
static int64_t read_point_create(struct comp *c, int *fd)
{
	struct sw_sync_create_fence_data d = { .value = c->points + 1 };

	snprintf(d.name, sizeof(d.name), "read-%u", c->points + 1);
	if (ioctl(c->timeline, SW_SYNC_IOC_CREATE_FENCE, &d) < 0)
		return -errno;
	if (c->points + 2 > c->point_cap) {
		size_t cap = c->point_cap ? 2 * c->point_cap : 256;
		bool *v = realloc(c->point_done, cap * sizeof(*v));

		if (!v) {
			close(d.fence);
			return -ENOMEM;
		}
		memset(v + c->point_cap, 0, (cap - c->point_cap) * sizeof(*v));
		c->point_done = v;
		c->point_cap = cap;
	}
	*fd = d.fence;
	return ++c->points;
}

static void read_point_done(struct comp *c, uint32_t value)
{
	uint32_t n = 0;

	if (!value)
		return;
	c->point_done[value] = true;
	while (c->signaled + n + 1 <= c->points && c->point_done[c->signaled + n + 1])
		n++;
	if (n && ioctl(c->timeline, SW_SYNC_IOC_INC, &n) < 0)
		die("SW_SYNC_IOC_INC: %s", strerror(errno));
	c->signaled += n;
}

/* ---- buffers ---- */

/**
 * cbuffer_put() - drop a reference to a buffer.
 * @b: the buffer
 *
 * References: the wl_buffer resource (until the client destroys it), a
 * surface's pending attach, and each queued frame.  The last one unmaps
 * the dma-buf and closes it.  Event-loop thread only (no lock).
 */
static void cbuffer_put(struct cbuffer *b)
{
	if (--b->refs)
		return;
	if (b->map)
		munmap(b->map, b->map_size);
	close(b->fd);
	free(b);
}

static void buffer_destroy_req(struct wl_client *client, struct wl_resource *res)
{
	wl_resource_destroy(res);
}

static const struct wl_buffer_interface buffer_impl = {
	.destroy = buffer_destroy_req,
};

static void buffer_resource_destroyed(struct wl_resource *res)
{
	struct cbuffer *b = wl_resource_get_user_data(res);

	b->res = NULL;
	cbuffer_put(b);
}

/* zwp_linux_buffer_params_v1: one plane, create_immed only. */
struct params {
	int fd;
	unsigned int offset, stride;
	bool used;
};

static void params_destroy_req(struct wl_client *client, struct wl_resource *res)
{
	wl_resource_destroy(res);
}

static void params_destroyed(struct wl_resource *res)
{
	struct params *p = wl_resource_get_user_data(res);

	if (p->fd >= 0)
		close(p->fd);
	free(p);
}

static void params_add(struct wl_client *client, struct wl_resource *res, int32_t fd,
		       uint32_t plane, uint32_t offset, uint32_t stride, uint32_t mod_hi,
		       uint32_t mod_lo)
{
	struct params *p = wl_resource_get_user_data(res);

	if (p->used) {
		close(fd);
		wl_resource_post_error(res, ZWP_LINUX_BUFFER_PARAMS_V1_ERROR_ALREADY_USED,
				       "params already used");
		return;
	}
	if (plane != 0) {
		close(fd);
		wl_resource_post_error(res, ZWP_LINUX_BUFFER_PARAMS_V1_ERROR_PLANE_IDX,
				       "one plane only");
		return;
	}
	if (p->fd >= 0) {
		close(fd);
		wl_resource_post_error(res, ZWP_LINUX_BUFFER_PARAMS_V1_ERROR_PLANE_SET,
				       "plane 0 already set");
		return;
	}
	p->fd = fd;
	p->offset = offset;
	p->stride = stride;
}

/*
 * Can @p make a @width x @height buffer of @format?  Posts the protocol's
 * error on @res and returns false if not.  The plane must fit in the
 * dma-buf (its size is what lseek(SEEK_END) says): a mapping beyond it
 * would fault at the first read.  64-bit arithmetic: no overflow.
 */
static bool params_valid(struct wl_resource *res, struct params *p, int32_t width,
			 int32_t height, uint32_t format)
{
	uint64_t need = (uint64_t)p->offset + (uint64_t)p->stride * (uint64_t)(uint32_t)height;
	off_t size;

	if (p->fd < 0) {
		wl_resource_post_error(res, ZWP_LINUX_BUFFER_PARAMS_V1_ERROR_INCOMPLETE,
				       "no plane added");
		return false;
	}
	if (format != PRESENT_FOURCC) {
		wl_resource_post_error(res, ZWP_LINUX_BUFFER_PARAMS_V1_ERROR_INVALID_FORMAT,
				       "format 0x%08x: XRGB8888 only", format);
		return false;
	}
	if (width < 16 || height < 2) {
		wl_resource_post_error(res, ZWP_LINUX_BUFFER_PARAMS_V1_ERROR_INVALID_DIMENSIONS,
				       "%dx%d: at least 16x2", width, height);
		return false;
	}
	if ((uint64_t)p->stride < (uint64_t)width * 4) {
		wl_resource_post_error(res, ZWP_LINUX_BUFFER_PARAMS_V1_ERROR_OUT_OF_BOUNDS,
				       "stride %u < width %d * 4", p->stride, width);
		return false;
	}
	size = lseek(p->fd, 0, SEEK_END);
	if (size < 0 || need > (uint64_t)size) {
		wl_resource_post_error(res, ZWP_LINUX_BUFFER_PARAMS_V1_ERROR_OUT_OF_BOUNDS,
				       "the plane needs %llu bytes, the dma-buf has %lld",
				       (unsigned long long)need, (long long)size);
		return false;
	}
	return true;
}

static struct cbuffer *params_make_buffer(struct wl_client *client, struct wl_resource *res,
					  uint32_t id, int32_t width, int32_t height,
					  uint32_t format)
{
	struct params *p = wl_resource_get_user_data(res);
	struct cbuffer *b;

	if (p->used) {
		wl_resource_post_error(res, ZWP_LINUX_BUFFER_PARAMS_V1_ERROR_ALREADY_USED,
				       "params already used");
		return NULL;
	}
	p->used = true;
	if (!params_valid(res, p, width, height, format))
		return NULL;
	b = calloc(1, sizeof(*b));
	if (!b) {
		wl_client_post_no_memory(client);
		return NULL;
	}
	b->fd = p->fd;
	p->fd = -1;
	b->offset = p->offset;
	b->stride = p->stride;
	b->width = (unsigned int)width;
	b->height = (unsigned int)height - 1;	/* row 0 is the stamp */
	b->map_size = (size_t)p->offset + (size_t)p->stride * (size_t)height;
	b->map = mmap(NULL, b->map_size, PROT_READ, MAP_SHARED, b->fd, 0);
	if (b->map == MAP_FAILED) {
		b->map = NULL;
		close(b->fd);
		free(b);
		wl_resource_post_error(res, ZWP_LINUX_BUFFER_PARAMS_V1_ERROR_INVALID_WL_BUFFER,
				       "mmap of the dma-buf failed: %s", strerror(errno));
		return NULL;
	}
	b->refs = 1;
	b->res = wl_resource_create(client, &wl_buffer_interface, 1, id);
	if (!b->res) {
		cbuffer_put(b);
		wl_client_post_no_memory(client);
		return NULL;
	}
	wl_resource_set_implementation(b->res, &buffer_impl, b, buffer_resource_destroyed);
	return b;
}

static void params_create(struct wl_client *client, struct wl_resource *res, int32_t width,
			  int32_t height, uint32_t format, uint32_t flags)
{
	zwp_linux_buffer_params_v1_send_failed(res);
}

static void params_create_immed(struct wl_client *client, struct wl_resource *res,
				uint32_t id, int32_t width, int32_t height, uint32_t format,
				uint32_t flags)
{
	params_make_buffer(client, res, id, width, height, format);
}

static const struct zwp_linux_buffer_params_v1_interface params_impl = {
	.destroy = params_destroy_req,
	.add = params_add,
	.create = params_create,
	.create_immed = params_create_immed,
};

static void dmabuf_destroy_req(struct wl_client *client, struct wl_resource *res)
{
	wl_resource_destroy(res);
}

static void dmabuf_create_params(struct wl_client *client, struct wl_resource *res, uint32_t id)
{
	struct params *p = calloc(1, sizeof(*p));
	struct wl_resource *pr;

	if (!p) {
		wl_client_post_no_memory(client);
		return;
	}
	p->fd = -1;
	pr = wl_resource_create(client, &zwp_linux_buffer_params_v1_interface,
				wl_resource_get_version(res), id);
	if (!pr) {
		free(p);
		wl_client_post_no_memory(client);
		return;
	}
	wl_resource_set_implementation(pr, &params_impl, p, params_destroyed);
}

static const struct zwp_linux_dmabuf_v1_interface dmabuf_impl = {
	.destroy = dmabuf_destroy_req,
	.create_params = dmabuf_create_params,
};

static void dmabuf_bind(struct wl_client *client, void *data, uint32_t version, uint32_t id)
{
	struct wl_resource *res = wl_resource_create(client, &zwp_linux_dmabuf_v1_interface,
						     version, id);

	if (!res) {
		wl_client_post_no_memory(client);
		return;
	}
	wl_resource_set_implementation(res, &dmabuf_impl, data, NULL);
	zwp_linux_dmabuf_v1_send_format(res, PRESENT_FOURCC);
	if (version >= 3)
		zwp_linux_dmabuf_v1_send_modifier(res, PRESENT_FOURCC, 0, 0);
}

/* ---- frames ---- */

/**
 * frame_free() - a frame leaves the queue, whatever its state.
 * @c: compositor
 * @f: the frame, freed
 *
 * Removes its wait from the event loop and closes its fence, ends the CPU
 * read (DMA_BUF_IOCTL_SYNC END) if it began, signals its read fence (in
 * timeline order: read_point_done()), destroys the frame callback and
 * release object it still holds, unsent, and drops its buffer reference.
 * Sends nothing to the client: callers send the callback or the release
 * first (composite(), frame_drop()).
 */
static void frame_free(struct comp *c, struct frame *f)
{
	wl_list_remove(&f->link);
	if (f->src)
		wl_event_source_remove(f->src);
	if (f->wait_fd >= 0)
		close(f->wait_fd);
	if (f->read_started) {
		struct dma_buf_sync s = { .flags = DMA_BUF_SYNC_END | DMA_BUF_SYNC_READ };

		ioctl(f->buf->fd, DMA_BUF_IOCTL_SYNC, &s);
	}
	read_point_done(c, f->read_point);
	if (f->cb)
		wl_resource_destroy(f->cb);
	if (f->release)
		wl_resource_destroy(f->release);
	cbuffer_put(f->buf);
	free(f);
}

/*
 * The buffer goes back to the client: the read fence now guards our read.
 * wl_buffer.release is sent in either mode, as the explicit-sync protocol
 * asks of servers; the release object, when the client asked for one,
 * carries the fence.
 */
static int frame_release(struct comp *c, struct frame *f, int read_fd)
{
	if (f->release) {
		zwp_linux_buffer_release_v1_send_fenced_release(f->release, read_fd);
		wl_resource_destroy(f->release);
		f->release = NULL;
	} else {
		struct dma_buf_import_sync_file im = { .flags = DMA_BUF_SYNC_READ, .fd = read_fd };

		if (ioctl(f->buf->fd, DMA_BUF_IOCTL_IMPORT_SYNC_FILE, &im) < 0)
			return -errno;
	}
	if (f->buf->res)
		wl_buffer_send_release(f->buf->res);
	return 0;
}

/*
 * A frame that will not be shown gives its buffer back unread: the release
 * object's immediate_release and wl_buffer.release.  Only while its client
 * is connected (@client_alive).  Frees the frame.
 */
static void frame_drop(struct comp *c, struct frame *f, bool client_alive)
{
	if (client_alive && f->release) {
		zwp_linux_buffer_release_v1_send_immediate_release(f->release);
		wl_resource_destroy(f->release);
		f->release = NULL;
	}
	if (client_alive && f->buf->res)
		wl_buffer_send_release(f->buf->res);
	frame_free(c, f);
}

/*
 * A frame whose writers failed (@err: the fence's status, or a negative
 * errno from an ioctl on the client's dma-buf or fence): logged and
 * recorded ("F"), its buffer given back.  Frees the frame.
 */
static void frame_fail(struct comp *c, struct frame *f, const char *what, int err)
{
	fprintf(stderr, "present-compositor: client %u frame %u: %s (%d: %s); frame dropped\n",
		f->surf->client_no, f->no, what, err, err < 0 ? strerror(-err) : "?");
	if (out.rec)
		fprintf(out.rec, "F %u %u %d\n", f->surf->client_no, f->no, err);
	c->failed++;
	frame_drop(c, f, true);
}

static void frame_begin_read(struct comp *c, struct frame *f);

/* The dma-buf polled readable: try again to take it for reading. */
static int frame_dmabuf_readable(int fd, uint32_t mask, void *data)
{
	struct frame *f = data;

	wl_event_source_remove(f->src);
	f->src = NULL;
	frame_begin_read(f->surf->comp, f);
	return 0;
}

static void alarm_interrupts(int sig)
{
	(void)sig;
}

/*
 * DMA_BUF_IOCTL_SYNC(START|READ) on @fd, interrupted (-EINTR) by SIGALRM
 * (alarm_interrupts(), installed without SA_RESTART) after @bound_us.
 */
static int dmabuf_sync_start_bounded(int fd, long bound_us)
{
	struct dma_buf_sync s = { .flags = DMA_BUF_SYNC_START | DMA_BUF_SYNC_READ };
	struct itimerval arm = { .it_value = { .tv_sec = bound_us / 1000000,
					       .tv_usec = bound_us % 1000000 } };
	struct itimerval off = { 0 };
	int err = 0;

	setitimer(ITIMER_REAL, &arm, NULL);
	if (ioctl(fd, DMA_BUF_IOCTL_SYNC, &s) < 0)
		err = -errno;
	setitimer(ITIMER_REAL, &off, NULL);
	return err;
}

/**
 * frame_begin_read() - take a frame's buffer for reading, never blocking.
 * @c: compositor
 * @f: a frame whose fence (or dma-buf) said its writers are done
 *
 * Begins the CPU read (DMA_BUF_IOCTL_SYNC START, the cache-coherency
 * bracket that frame_free() ends), attaches the read fence and releases
 * the buffer; the frame is then ready for a vblank.  The SYNC ioctl waits
 * for the dma-buf's write fences, for ever if one never signals: a writer
 * the client attached after our wait, or implicit fences next to an
 * explicit acquire fence.  So it is issued only when the dma-buf polls
 * readable, else the frame waits for that in the event loop; and the
 * ioctl is bounded by a timer for a writer attached between the poll and
 * the ioctl: interrupted, the frame waits in the event loop again.  A
 * failure on the client's dma-buf fails the frame (freed).
 */
static void frame_begin_read(struct comp *c, struct frame *f)
{
	struct pollfd p = { .fd = f->buf->fd, .events = POLLIN };
	int64_t value;
	int read_fd = -1, err = -EINTR;

	if (poll(&p, 1, 0) != 0)
		err = dmabuf_sync_start_bounded(f->buf->fd, (long)(c->cfg.refresh_ms * 4000));
	if (err == -EINTR) {
		/* A writer is pending: wait for the dma-buf in the event loop. */
		f->src = wl_event_loop_add_fd(c->loop, f->buf->fd, WL_EVENT_READABLE,
					      frame_dmabuf_readable, f);
		if (!f->src)
			frame_fail(c, f, "cannot poll its dma-buf", -errno);
		return;
	}
	if (err) {
		frame_fail(c, f, "DMA_BUF_IOCTL_SYNC(START|READ) failed", err);
		return;
	}
	f->read_started = true;
	value = read_point_create(c, &read_fd);
	if (value < 0)
		die("SW_SYNC_IOC_CREATE_FENCE: %s", strerror((int)-value));
	f->read_point = (uint32_t)value;
	err = frame_release(c, f, read_fd);
	close(read_fd);
	if (err) {
		frame_fail(c, f, "DMA_BUF_IOCTL_IMPORT_SYNC_FILE(READ) failed", err);
		return;
	}
	f->ready = true;
}

/**
 * frame_writers_done() - the buffer's writers are done (or failed).
 * @fd: the fd that polled ready
 * @mask: event loop mask
 * @data: the frame
 *
 * Checks the fence's status (a fence signaled with an error, e.g. from a
 * client that died mid-frame, fails the frame), then takes the buffer for
 * reading (frame_begin_read()).
 *
 * Return: 0 (event loop convention).
 */
static int frame_writers_done(int fd, uint32_t mask, void *data)
{
	struct frame *f = data;
	struct comp *c = f->surf->comp;
	int st = 1;

	wl_event_source_remove(f->src);
	f->src = NULL;
	f->t_ready = now_ns();
	c->last_progress = f->t_ready;
	if (f->wait_fd >= 0) {
		st = fence_status(f->wait_fd);
		out_flow(&f->id, f->surf->client_pid, f->no, false, f->t_ready, "writers done");
		close(f->wait_fd);
		f->wait_fd = -1;
	} else {
		out_flow(&f->id, f->surf->client_pid, f->no, false, f->t_ready, "dma-buf readable");
	}
	out_span(SPAN_COMP_WAIT, f->no, f->t_commit, f->t_ready);
	if (st != 1) {
		frame_fail(c, f, "its writers' fence ended with an error status", st);
		return 0;
	}
	frame_begin_read(c, f);
	return 0;
}

/*
 * Start waiting for a committed frame's writers in the event loop.  What
 * fails here fails on the client's dma-buf or fence: the frame fails
 * (and is freed), the compositor goes on.
 */
static void frame_wait(struct comp *c, struct frame *f)
{
	int fd;

	if (f->wait_fd < 0 && c->cfg.implicit == IMPLICIT_EXPORT) {
		struct dma_buf_export_sync_file ex = { .flags = DMA_BUF_SYNC_READ, .fd = -1 };

		if (ioctl(f->buf->fd, DMA_BUF_IOCTL_EXPORT_SYNC_FILE, &ex) < 0) {
			frame_fail(c, f, "DMA_BUF_IOCTL_EXPORT_SYNC_FILE(READ) failed", -errno);
			return;
		}
		f->wait_fd = ex.fd;
	}
	if (f->wait_fd >= 0)
		fence_identify(f->wait_fd, &f->id);
	fd = f->wait_fd >= 0 ? f->wait_fd : f->buf->fd;	/* poll the dma-buf: POLLIN */
	f->src = wl_event_loop_add_fd(c->loop, fd, WL_EVENT_READABLE, frame_writers_done, f);
	if (!f->src)
		frame_fail(c, f, "cannot wait on its fence", -errno);
}

/* ---- the display: one composited frame per vblank ---- */

static void end_scanout(struct comp *c, int64_t t)
{
	if (c->showing)
		out_span(SPAN_SCANOUT, c->shown_frame, c->shown_since, t);
	c->showing = false;
}

/**
 * composite() - verify and composite a frame at a vblank, and show it.
 * @c: compositor
 * @f: the oldest ready frame (freed here)
 * @vblank: the vblank's time
 *
 * Reads the frame through the mapping of its dma-buf, checks stamp and
 * checksum against the frame number (its commit count), copies it to the
 * scanout buffer, writes the frame's "D" record, sends the frame callback
 * and signals the read fence (through frame_free()).
 */
static void composite(struct comp *c, struct frame *f, int64_t vblank)
{
	struct cbuffer *b = f->buf;
	size_t need = (size_t)b->width * b->height * 4;
	enum verdict v;
	int64_t t1;

	if (need > c->scanout_size) {
		free(c->scanout);
		c->scanout = malloc(need);
		if (!c->scanout)
			die("out of memory");
		c->scanout_size = need;
	}
	v = image_verify_copy((const char *)b->map + b->offset, b->stride, c->scanout, b->width,
			      b->height, f->no);
	t1 = now_ns();
	out_span(SPAN_COMPOSITE, f->no, vblank, t1);
	end_scanout(c, t1);
	c->showing = true;
	c->shown_frame = f->no;
	c->shown_since = t1;
	c->displayed++;
	if (out.rec)
		fprintf(out.rec, "D %u %u %lld %lld %lld %d\n", f->surf->client_no, f->no,
			(long long)f->t_commit, (long long)f->t_ready, (long long)t1, v);
	if (v != FRAME_OK)
		out_instant(v == FRAME_TORN ? "TORN frame" : "STALE frame", t1, "\"frame\":%u", f->no);
	if (f->cb) {
		wl_callback_send_done(f->cb, (uint32_t)(t1 / 1000000));
		wl_resource_destroy(f->cb);
		f->cb = NULL;
	}
	frame_free(c, f);
}

/**
 * vblank() - the refresh timer fired: composite the next frame, FIFO.
 * @fd: the timerfd
 * @mask: event loop mask
 * @data: the compositor
 *
 * Shows the oldest committed frame if its writers are done, else the
 * previous frame again (a repeat).  Gives up when nothing progressed for
 * the timeout, so a stuck client cannot hang the compositor for ever.
 *
 * Return: 0 (event loop convention).
 */
static int vblank(int fd, uint32_t mask, void *data)
{
	struct comp *c = data;
	uint64_t ticks = 0;
	int64_t t = now_ns();
	struct frame *f;

	if (read(fd, &ticks, sizeof(ticks)) != sizeof(ticks))
		return 0;
	if (ticks > 1)
		c->missed += (unsigned int)(ticks - 1);
	if (!wl_list_empty(&c->queue)) {
		f = wl_container_of(c->queue.next, f, link);
		if (f->ready) {
			composite(c, f, t);
			c->last_progress = t;
			return 0;
		}
	}
	if (c->showing)
		c->repeats++;
	if (t - c->last_progress > c->cfg.timeout_ms * 1000000LL) {
		fprintf(stderr, "present-compositor: no progress for %ld ms; giving up\n",
			c->cfg.timeout_ms);
		c->status = 1;
		wl_display_terminate(c->display);
	}
	return 0;
}

/* ---- surfaces ---- */

static void surface_destroy_req(struct wl_client *client, struct wl_resource *res)
{
	wl_resource_destroy(res);
}

static void surface_attach(struct wl_client *client, struct wl_resource *res,
			   struct wl_resource *buffer, int32_t x, int32_t y)
{
	struct surface *s = wl_resource_get_user_data(res);

	if (s->pending)
		cbuffer_put(s->pending);
	s->pending = buffer ? wl_resource_get_user_data(buffer) : NULL;
	if (s->pending)
		s->pending->refs++;
	s->pending_set = true;
}

static void surface_damage(struct wl_client *client, struct wl_resource *res, int32_t x,
			   int32_t y, int32_t w, int32_t h)
{
}

static void callback_destroyed(struct wl_resource *res)
{
}

static void surface_frame(struct wl_client *client, struct wl_resource *res, uint32_t id)
{
	struct surface *s = wl_resource_get_user_data(res);
	struct wl_resource *cb = wl_resource_create(client, &wl_callback_interface, 1, id);

	if (!cb) {
		wl_client_post_no_memory(client);
		return;
	}
	wl_resource_set_implementation(cb, NULL, NULL, callback_destroyed);
	if (s->pending_cb)
		wl_resource_destroy(s->pending_cb);
	s->pending_cb = cb;
}

static void surface_set_region(struct wl_client *client, struct wl_resource *res,
			       struct wl_resource *region)
{
}

/**
 * surface_commit() - wl_surface.commit: the attached buffer is the next frame.
 * @client: the client
 * @res: the surface
 *
 * Queues the frame with its acquire fence (explicit sync) or, for
 * implicit sync, the dma-buf's write fences, and starts waiting for them.
 */
static void surface_commit(struct wl_client *client, struct wl_resource *res)
{
	struct surface *s = wl_resource_get_user_data(res);
	struct comp *c = s->comp;
	struct frame *f;

	if (!s->pending_set || !s->pending) {
		/* An acquire fence or a release object asks for a buffer. */
		if (s->sync && (s->acquire_fd >= 0 || s->release)) {
			wl_resource_post_error(s->sync,
					       ZWP_LINUX_SURFACE_SYNCHRONIZATION_V1_ERROR_NO_BUFFER,
					       "commit with an acquire fence or a release but no buffer");
			return;
		}
		s->pending_set = false;
		return;
	}
	f = calloc(1, sizeof(*f));
	if (!f) {
		wl_client_post_no_memory(client);
		return;
	}
	f->t_commit = now_ns();
	c->last_progress = f->t_commit;
	f->surf = s;
	f->buf = s->pending;
	s->pending = NULL;
	s->pending_set = false;
	f->no = s->commits++;
	/* For tests: from now on the compositor holds one of the client's frames. */
	if (!f->no)
		fprintf(stderr, "present-compositor: client %u committed its first frame\n",
			s->client_no);
	f->cb = s->pending_cb;
	s->pending_cb = NULL;
	f->release = s->release;
	s->release = NULL;
	f->wait_fd = s->acquire_fd;
	s->acquire_fd = -1;
	wl_list_insert(c->queue.prev, &f->link);
	frame_wait(c, f);
}

static void surface_set_transform(struct wl_client *client, struct wl_resource *res,
				  int32_t v)
{
}

static const struct wl_surface_interface surface_impl = {
	.destroy = surface_destroy_req,
	.attach = surface_attach,
	.damage = surface_damage,
	.frame = surface_frame,
	.set_opaque_region = surface_set_region,
	.set_input_region = surface_set_region,
	.commit = surface_commit,
	.set_buffer_transform = surface_set_transform,
	.set_buffer_scale = surface_set_transform,
	.damage_buffer = surface_damage,
};

/*
 * Frames of a surface that goes away are dropped, waits and all; their
 * buffers go back to the client if it is still connected (@client_alive).
 */
static void surface_drop_frames(struct comp *c, struct surface *s, bool client_alive)
{
	struct frame *f, *tmp;

	wl_list_for_each_safe(f, tmp, &c->queue, link) {
		if (f->surf != s)
			continue;
		if (out.rec)
			fprintf(out.rec, "X %u %u\n", s->client_no, f->no);
		c->dropped++;
		frame_drop(c, f, client_alive);
	}
}

static void surface_destroyed(struct wl_resource *res)
{
	struct surface *s = wl_resource_get_user_data(res);

	/* Not on a client's list: destroyed with its client, its frames dropped then. */
	surface_drop_frames(s->comp, s, !wl_list_empty(&s->link));
	wl_list_remove(&s->link);
	if (s->pending)
		cbuffer_put(s->pending);
	if (s->pending_cb)
		wl_resource_destroy(s->pending_cb);
	if (s->acquire_fd >= 0)
		close(s->acquire_fd);
	if (s->sync)
		wl_resource_set_user_data(s->sync, NULL);
	free(s);
}

static void compositor_create_surface(struct wl_client *client, struct wl_resource *res,
				      uint32_t id)
{
	struct comp *c = wl_resource_get_user_data(res);
	struct wl_listener *l;
	struct surface *s = calloc(1, sizeof(*s));

	if (!s) {
		wl_client_post_no_memory(client);
		return;
	}
	s->comp = c;
	s->client = client;
	s->acquire_fd = -1;
	s->res = wl_resource_create(client, &wl_surface_interface,
				    wl_resource_get_version(res), id);
	if (!s->res) {
		free(s);
		wl_client_post_no_memory(client);
		return;
	}
	wl_list_init(&s->link);
	l = wl_client_get_destroy_listener(client, client_destroyed);
	if (l) {
		struct client_state *cs = wl_container_of(l, cs, destroy);

		wl_list_insert(cs->surfaces.prev, &s->link);
		s->client_no = cs->no;
		s->client_pid = cs->pid;
	}
	wl_resource_set_implementation(s->res, &surface_impl, s, surface_destroyed);
}

static void region_destroy_req(struct wl_client *client, struct wl_resource *res)
{
	wl_resource_destroy(res);
}

static void region_op(struct wl_client *client, struct wl_resource *res, int32_t x, int32_t y,
		      int32_t w, int32_t h)
{
}

static const struct wl_region_interface region_impl = {
	.destroy = region_destroy_req,
	.add = region_op,
	.subtract = region_op,
};

static void compositor_create_region(struct wl_client *client, struct wl_resource *res,
				     uint32_t id)
{
	struct wl_resource *r = wl_resource_create(client, &wl_region_interface, 1, id);

	if (!r) {
		wl_client_post_no_memory(client);
		return;
	}
	wl_resource_set_implementation(r, &region_impl, NULL, NULL);
}

static const struct wl_compositor_interface compositor_impl = {
	.create_surface = compositor_create_surface,
	.create_region = compositor_create_region,
};

static void compositor_bind(struct wl_client *client, void *data, uint32_t version, uint32_t id)
{
	struct wl_resource *res = wl_resource_create(client, &wl_compositor_interface, version, id);

	if (!res) {
		wl_client_post_no_memory(client);
		return;
	}
	wl_resource_set_implementation(res, &compositor_impl, data, NULL);
}

/* ---- explicit synchronization ---- */

static void ssync_destroy_req(struct wl_client *client, struct wl_resource *res)
{
	wl_resource_destroy(res);
}

/*
 * The acquire fence set since the last commit is discarded with the
 * object; a release object already asked for is not affected (the
 * protocol says both), and gets its event at the commit.
 */
static void ssync_destroyed(struct wl_resource *res)
{
	struct surface *s = wl_resource_get_user_data(res);

	if (!s)
		return;
	s->sync = NULL;
	if (s->acquire_fd >= 0)
		close(s->acquire_fd);
	s->acquire_fd = -1;
}

static void ssync_set_acquire_fence(struct wl_client *client, struct wl_resource *res, int32_t fd)
{
	struct surface *s = wl_resource_get_user_data(res);

	if (!s) {
		close(fd);
		wl_resource_post_error(res, ZWP_LINUX_SURFACE_SYNCHRONIZATION_V1_ERROR_NO_SURFACE,
				       "surface gone");
		return;
	}
	if (s->acquire_fd >= 0) {
		close(fd);
		wl_resource_post_error(res,
				       ZWP_LINUX_SURFACE_SYNCHRONIZATION_V1_ERROR_DUPLICATE_FENCE,
				       "acquire fence already set");
		return;
	}
	if (fence_status(fd) < 0) {
		close(fd);
		wl_resource_post_error(res, ZWP_LINUX_SURFACE_SYNCHRONIZATION_V1_ERROR_INVALID_FENCE,
				       "the acquire fence is not a sync file");
		return;
	}
	s->acquire_fd = fd;
}

static void release_destroyed(struct wl_resource *res)
{
}

static void ssync_get_release(struct wl_client *client, struct wl_resource *res, uint32_t id)
{
	struct surface *s = wl_resource_get_user_data(res);
	struct wl_resource *r;

	if (!s) {
		wl_resource_post_error(res, ZWP_LINUX_SURFACE_SYNCHRONIZATION_V1_ERROR_NO_SURFACE,
				       "surface gone");
		return;
	}
	if (s->release) {
		wl_resource_post_error(res,
				       ZWP_LINUX_SURFACE_SYNCHRONIZATION_V1_ERROR_DUPLICATE_RELEASE,
				       "release already requested");
		return;
	}
	r = wl_resource_create(client, &zwp_linux_buffer_release_v1_interface,
			       wl_resource_get_version(res), id);
	if (!r) {
		wl_client_post_no_memory(client);
		return;
	}
	wl_resource_set_implementation(r, NULL, NULL, release_destroyed);
	s->release = r;
}

static const struct zwp_linux_surface_synchronization_v1_interface ssync_impl = {
	.destroy = ssync_destroy_req,
	.set_acquire_fence = ssync_set_acquire_fence,
	.get_release = ssync_get_release,
};

static void esync_destroy_req(struct wl_client *client, struct wl_resource *res)
{
	wl_resource_destroy(res);
}

static void esync_get_synchronization(struct wl_client *client, struct wl_resource *res,
				      uint32_t id, struct wl_resource *surface)
{
	struct surface *s = wl_resource_get_user_data(surface);
	struct wl_resource *r;

	if (s->sync) {
		wl_resource_post_error(res,
				       ZWP_LINUX_EXPLICIT_SYNCHRONIZATION_V1_ERROR_SYNCHRONIZATION_EXISTS,
				       "surface already has one");
		return;
	}
	r = wl_resource_create(client, &zwp_linux_surface_synchronization_v1_interface,
			       wl_resource_get_version(res), id);
	if (!r) {
		wl_client_post_no_memory(client);
		return;
	}
	wl_resource_set_implementation(r, &ssync_impl, s, ssync_destroyed);
	s->sync = r;
}

static const struct zwp_linux_explicit_synchronization_v1_interface esync_impl = {
	.destroy = esync_destroy_req,
	.get_synchronization = esync_get_synchronization,
};

static void esync_bind(struct wl_client *client, void *data, uint32_t version, uint32_t id)
{
	struct wl_resource *res = wl_resource_create(client,
						     &zwp_linux_explicit_synchronization_v1_interface,
						     version, id);

	if (!res) {
		wl_client_post_no_memory(client);
		return;
	}
	wl_resource_set_implementation(res, &esync_impl, data, NULL);
}

/* ---- clients ---- */

/**
 * client_destroyed() - a client disconnected or was disconnected.
 * @l: its client_state's destroy listener
 * @data: the wl_client
 *
 * The destroy signal comes before libwayland destroys the client's
 * resources, in an order of their ids that the client chose: every surface
 * of the client drops its frames (and their pending waits) and its pending
 * callback and release object now, while they are still valid, and leaves
 * the client's list, which is freed with the client_state.
 */
static void client_destroyed(struct wl_listener *l, void *data)
{
	struct client_state *cs = wl_container_of(l, cs, destroy);
	struct comp *c = cs->comp;
	struct surface *s, *tmp;

	wl_list_for_each_safe(s, tmp, &cs->surfaces, link) {
		surface_drop_frames(c, s, false);
		if (s->pending_cb)
			wl_resource_destroy(s->pending_cb);
		s->pending_cb = NULL;
		if (s->release)
			wl_resource_destroy(s->release);
		s->release = NULL;
		wl_list_remove(&s->link);
		wl_list_init(&s->link);
	}
	c->clients_gone++;
	fprintf(stderr, "present-compositor: client %u gone (%u of %u)\n", cs->no,
		c->clients_gone, c->cfg.clients);
	wl_list_remove(&cs->destroy.link);
	free(cs);
	if (c->clients_gone >= c->cfg.clients)
		wl_display_terminate(c->display);
}

static void client_created(struct wl_listener *l, void *data)
{
	struct comp *c = wl_container_of(l, c, client_created);
	struct client_state *cs = calloc(1, sizeof(*cs));

	if (!cs)
		die("out of memory");
	cs->comp = c;
	cs->no = c->clients_seen++;
	wl_list_init(&cs->surfaces);
	wl_client_get_credentials(data, &cs->pid, NULL, NULL);
	cs->destroy.notify = client_destroyed;
	wl_client_add_destroy_listener(data, &cs->destroy);
	c->last_progress = now_ns();
}

static void usage(FILE *f)
{
	fprintf(f, "usage: present-compositor --listen-fd FD [options]\n"
		   "  --listen-fd FD       a listening Unix socket to serve Wayland clients on\n"
		   "  --refresh-ms X       vblank interval (default 8)\n"
		   "  --implicit M         implicit sync by 'export' (EXPORT_SYNC_FILE, default)\n"
		   "                       or 'poll' (poll the dma-buf)\n"
		   "  --clients N          exit after N clients have disconnected (default 1)\n"
		   "  --timeout-ms T       give up after T ms without progress (default 10000)\n"
		   "  --records PATH       per-frame records for the driver\n"
		   "  --trace PATH         this process's trace events\n"
		   "  --name NAME          process name in the trace\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "listen-fd", required_argument, NULL, 'l' },
		{ "refresh-ms", required_argument, NULL, 'r' },
		{ "implicit", required_argument, NULL, 'i' },
		{ "clients", required_argument, NULL, 'c' },
		{ "timeout-ms", required_argument, NULL, 't' },
		{ "records", required_argument, NULL, 'R' },
		{ "trace", required_argument, NULL, 'T' },
		{ "name", required_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct comp c = {
		.cfg = { .refresh_ms = 8, .implicit = IMPLICIT_EXPORT, .clients = 1,
			 .timeout_ms = 10000 },
		.timeline = -1,
	};
	const char *rec = NULL, *trace = NULL, *name = "compositor";
	struct itimerspec its = { 0 };
	struct wl_event_source *tick;
	int listen_fd = -1, tfd, opt;
	int64_t period, first;
	struct frame *f, *tmp;

	set_prog_name("present-compositor");
	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (opt) {
		case 'l':
			listen_fd = atoi(optarg);
			break;
		case 'r':
			c.cfg.refresh_ms = atof(optarg);
			break;
		case 'i':
			if (!strcmp(optarg, "poll"))
				c.cfg.implicit = IMPLICIT_POLL;
			else if (!strcmp(optarg, "export"))
				c.cfg.implicit = IMPLICIT_EXPORT;
			else
				die("--implicit: 'export' or 'poll'");
			break;
		case 'c':
			c.cfg.clients = (unsigned int)atoi(optarg);
			break;
		case 't':
			c.cfg.timeout_ms = atol(optarg);
			break;
		case 'R':
			rec = optarg;
			break;
		case 'T':
			trace = optarg;
			break;
		case 'n':
			name = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (listen_fd < 0 || c.cfg.refresh_ms <= 0 || c.cfg.clients < 1) {
		usage(stderr);
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	/* No SA_RESTART: the alarm interrupts a DMA_BUF_IOCTL_SYNC that waits too long. */
	if (sigaction(SIGALRM, &(struct sigaction){ .sa_handler = alarm_interrupts }, NULL) < 0)
		die("sigaction: %s", strerror(errno));
	if (out_open(rec, trace, name) < 0)
		die("cannot write %s or %s: %s", rec ? rec : "-", trace ? trace : "-",
		    strerror(errno));
	out_thread_name(getpid(), "compositor + display (event loop)");
	wl_list_init(&c.queue);
	c.timeline = open(SW_SYNC_PATH, O_RDWR | O_CLOEXEC);
	if (c.timeline < 0)
		die("open %s: %s", SW_SYNC_PATH, strerror(errno));
	c.display = wl_display_create();
	if (!c.display)
		die("wl_display_create failed");
	c.loop = wl_display_get_event_loop(c.display);
	if (wl_display_add_socket_fd(c.display, listen_fd) < 0)
		die("wl_display_add_socket_fd(%d) failed", listen_fd);
	c.client_created.notify = client_created;
	wl_display_add_client_created_listener(c.display, &c.client_created);
	if (!wl_global_create(c.display, &wl_compositor_interface, 4, &c, compositor_bind) ||
	    !wl_global_create(c.display, &zwp_linux_dmabuf_v1_interface, 3, &c, dmabuf_bind) ||
	    !wl_global_create(c.display, &zwp_linux_explicit_synchronization_v1_interface, 2, &c,
			      esync_bind))
		die("wl_global_create failed");

	/* The refresh: a periodic timer on CLOCK_MONOTONIC. */
	tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (tfd < 0)
		die("timerfd_create: %s", strerror(errno));
	period = (int64_t)(c.cfg.refresh_ms * 1e6);
	first = now_ns() + period;
	its.it_value.tv_sec = first / 1000000000;
	its.it_value.tv_nsec = first % 1000000000;
	its.it_interval.tv_sec = period / 1000000000;
	its.it_interval.tv_nsec = period % 1000000000;
	if (timerfd_settime(tfd, TFD_TIMER_ABSTIME, &its, NULL) < 0)
		die("timerfd_settime: %s", strerror(errno));
	tick = wl_event_loop_add_fd(c.loop, tfd, WL_EVENT_READABLE, vblank, &c);
	if (!tick)
		die("wl_event_loop_add_fd: %s", strerror(errno));
	c.last_progress = now_ns();

	wl_display_run(c.display);

	end_scanout(&c, now_ns());
	wl_list_for_each_safe(f, tmp, &c.queue, link) {
		if (out.rec)
			fprintf(out.rec, "X %u %u\n", f->surf->client_no, f->no);
		c.dropped++;
		frame_drop(&c, f, true);
	}
	if (out.rec)
		fprintf(out.rec, "K %u %u %u %u %u %u\n", c.displayed, c.repeats, c.missed,
			c.dropped, c.failed, c.clients_gone);
	fprintf(stderr, "present-compositor: %u frames displayed, %u repeats, %u missed vblanks, "
		"%u dropped, %u failed, %u clients\n", c.displayed, c.repeats, c.missed, c.dropped,
		c.failed, c.clients_gone);
	wl_event_source_remove(tick);
	close(tfd);
	wl_display_destroy_clients(c.display);
	wl_display_destroy(c.display);
	close(c.timeline);
	free(c.point_done);
	free(c.scanout);
	out_close();
	return c.status;
}
