/* SPDX-License-Identifier: MIT */
/*
 * present-client: the seed's client, a Vulkan-style explicit-sync renderer
 * presenting to a Wayland compositor through zwp_linux_dmabuf_v1.
 *
 * Each frame: take a buffer the compositor released, acquire it (wait on
 * its fences as the mode says), record (CPU work), submit the render to the
 * GPU back-end, present (attach the render fence as the mode says, then
 * wl_surface.attach + commit).  Modes:
 *
 *   sync-file      acquire: EXPORT_SYNC_FILE(WRITE) of the buffer, wait on
 *                  it (the compositor's reads); present: IMPORT_SYNC_FILE of
 *                  the render-done sync file into the dma-buf (the seed);
 *   dummy-submit   as sync-file, but the render fence reaches the dma-buf
 *                  through an empty submit that the driver attaches as the
 *                  buffer's writer (what drivers did before the import);
 *   implicit-wait  the driver's implicit sync: the render depends on the
 *                  buffer's fences and is attached as its writer, and the
 *                  client waits on the buffer itself (poll POLLOUT), its
 *                  own rendering included;
 *   no-sync        no fence anywhere (must be caught tearing);
 *   explicit-protocol  zwp_linux_explicit_synchronization_v1: the render
 *                  fence as acquire fence, the compositor's release fence
 *                  waited on at acquire.
 *
 * Only the Linux UAPI (and libwayland, and Vulkan for the lavapipe back-end).
 */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <linux/dma-buf.h>
#include <linux/sync_file.h>

#include <wayland-client.h>
#include "linux-dmabuf-unstable-v1-client-protocol.h"
#include "linux-explicit-synchronization-unstable-v1-client-protocol.h"

#include "gpu.h"

struct client;

/* What a buffer's listeners get: the client and the buffer's index. */
struct buf_ref {
	struct client *c;
	unsigned int b;
};

struct client {
	enum mode mode;
	unsigned int frames;
	double client_ms;
	long timeout_ms;
	struct gpu gpu;
	struct wl_display *display;
	int display_fd;
	struct wl_compositor *compositor;
	struct zwp_linux_dmabuf_v1 *dmabuf;
	struct zwp_linux_explicit_synchronization_v1 *esync;
	struct zwp_linux_surface_synchronization_v1 *ssync;
	struct wl_surface *surface;
	struct wl_buffer *wlbuf[NBUFFERS];
	struct buf_ref ref[NBUFFERS];
	bool free_[NBUFFERS];
	/*
	 * Release events still due for a buffer's last commit: wl_buffer.release,
	 * and in explicit mode the release object's event too (the compositor
	 * sends both); the buffer is free when the last arrives.
	 */
	unsigned int releases_due[NBUFFERS];
	uint64_t released_at[NBUFFERS];	/* release order, to reuse the oldest */
	uint64_t releases;
	int release_fd[NBUFFERS];	/* explicit: the compositor's release fence */
	bool last_done;
};

static void buffer_release(void *data, struct wl_buffer *wb)
{
	struct buf_ref *r = data;

	if (!r->c->releases_due[r->b] || --r->c->releases_due[r->b])
		return;
	r->c->free_[r->b] = true;
	r->c->released_at[r->b] = ++r->c->releases;
}

static const struct wl_buffer_listener buffer_listener = { .release = buffer_release };

static void fenced_release(void *data, struct zwp_linux_buffer_release_v1 *r, int32_t fd)
{
	struct buf_ref *rc = data;

	rc->c->release_fd[rc->b] = fd;
	buffer_release(rc, NULL);
	zwp_linux_buffer_release_v1_destroy(r);
}

static void immediate_release(void *data, struct zwp_linux_buffer_release_v1 *r)
{
	buffer_release(data, NULL);
	zwp_linux_buffer_release_v1_destroy(r);
}

static const struct zwp_linux_buffer_release_v1_listener release_listener = {
	.fenced_release = fenced_release,
	.immediate_release = immediate_release,
};

static void frame_done(void *data, struct wl_callback *cb, uint32_t t)
{
	struct client *c = data;

	c->last_done = true;
	wl_callback_destroy(cb);
}

static const struct wl_callback_listener frame_listener = { .done = frame_done };

static void registry_global(void *data, struct wl_registry *reg, uint32_t name,
			    const char *iface, uint32_t version)
{
	struct client *c = data;

	if (!strcmp(iface, wl_compositor_interface.name))
		c->compositor = wl_registry_bind(reg, name, &wl_compositor_interface, 4);
	else if (!strcmp(iface, zwp_linux_dmabuf_v1_interface.name) && version >= 3)
		c->dmabuf = wl_registry_bind(reg, name, &zwp_linux_dmabuf_v1_interface, 3);
	else if (!strcmp(iface, zwp_linux_explicit_synchronization_v1_interface.name))
		c->esync = wl_registry_bind(reg, name,
					    &zwp_linux_explicit_synchronization_v1_interface, 2);
}

static void registry_remove(void *data, struct wl_registry *reg, uint32_t name)
{
}

static const struct wl_registry_listener registry_listener = {
	.global = registry_global,
	.global_remove = registry_remove,
};

/**
 * dispatch_wait() - read and dispatch Wayland events, waiting up to a limit.
 * @c: client
 * @timeout_ms: longest wait for the compositor
 *
 * Flushes the requests first; while the socket is full (EAGAIN) it waits
 * for it to drain (POLLOUT) and flushes again, next to waiting for events:
 * a request that stays in our buffer could be the one the compositor
 * must see before it answers.  The compositor hanging up or not answering
 * is fatal: the client exits with an error rather than wait for ever.
 */
static void dispatch_wait(struct client *c, long timeout_ms)
{
	int64_t end = now_ns() + (int64_t)timeout_ms * 1000000;

	while (wl_display_prepare_read(c->display) != 0)
		if (wl_display_dispatch_pending(c->display) < 0)
			die("compositor connection: %s", strerror(errno));
	for (;;) {
		struct pollfd p = { .fd = c->display_fd, .events = POLLIN };
		int64_t left = (end - now_ns() + 999999) / 1000000;
		int r;

		if (wl_display_flush(c->display) < 0) {
			if (errno != EAGAIN) {
				wl_display_cancel_read(c->display);
				die("compositor connection lost: %s", strerror(errno));
			}
			p.events |= POLLOUT;
		}
		if (left <= 0) {
			wl_display_cancel_read(c->display);
			die("waiting for the compositor: %s", strerror(ETIMEDOUT));
		}
		r = poll(&p, 1, left > INT32_MAX ? INT32_MAX : (int)left);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			wl_display_cancel_read(c->display);
			die("waiting for the compositor: %s", strerror(errno));
		}
		if (p.revents & (POLLIN | POLLERR | POLLHUP | POLLNVAL))
			break;
		/* Only POLLOUT (or nothing yet): flush what is left, wait again. */
	}
	if (wl_display_read_events(c->display) < 0)
		die("compositor connection lost: %s", strerror(errno));
	if (wl_display_dispatch_pending(c->display) < 0)
		die("compositor connection: %s", strerror(errno));
}

/* The buffer released longest ago, dispatching events until one is. */
static unsigned int take_buffer(struct client *c)
{
	int best = -1;

	while (best < 0) {
		for (int b = 0; b < NBUFFERS; b++)
			if (c->free_[b] && (best < 0 || c->released_at[b] < c->released_at[best]))
				best = b;
		if (best < 0)
			dispatch_wait(c, c->timeout_ms);
	}
	c->free_[best] = false;
	return (unsigned int)best;
}

/* Wait on a sync file; an error status (its signaler died) is fatal. */
static void wait_fence(struct client *c, int fd, const char *what, uint32_t n)
{
	int r = wait_fd(fd, POLLIN, c->display_fd, c->timeout_ms);

	if (r < 0)
		die("frame %u: waiting on %s: %s", n, what, strerror(-r));
	r = fence_status(fd);
	if (r != 1)
		die("frame %u: %s signaled with status %d (%s)", n, what, r,
		    r < 0 ? strerror(-r) : "?");
}

static int export_fences(int buf_fd, uint32_t flags)
{
	struct dma_buf_export_sync_file ex = { .flags = flags, .fd = -1 };

	if (ioctl(buf_fd, DMA_BUF_IOCTL_EXPORT_SYNC_FILE, &ex) < 0)
		die("DMA_BUF_IOCTL_EXPORT_SYNC_FILE: %s", strerror(errno));
	return ex.fd;
}

static void make_buffers(struct client *c)
{
	for (unsigned int b = 0; b < NBUFFERS; b++) {
		struct zwp_linux_buffer_params_v1 *p = zwp_linux_dmabuf_v1_create_params(c->dmabuf);
		const struct gpu_buffer *gb = &c->gpu.buf[b];

		zwp_linux_buffer_params_v1_add(p, gb->fd, 0, gb->offset, gb->stride, 0, 0);
		c->wlbuf[b] = zwp_linux_buffer_params_v1_create_immed(p, (int32_t)c->gpu.cfg.width,
								      (int32_t)c->gpu.cfg.height + 1,
								      PRESENT_FOURCC, 0);
		zwp_linux_buffer_params_v1_destroy(p);
		c->ref[b] = (struct buf_ref){ .c = c, .b = b };
		wl_buffer_add_listener(c->wlbuf[b], &buffer_listener, &c->ref[b]);
		c->free_[b] = true;
		c->released_at[b] = b;
		c->release_fd[b] = -1;
	}
}

/* The trace's arrow from this frame's fence to the compositor's wait. */
static void trace_fence(struct client *c, unsigned int b, uint32_t n, int explicit_fd, int64_t t)
{
	struct fence_id id;
	int fd;

	if (!out.trace)
		return;
	if (explicit_fd >= 0) {
		fence_identify(explicit_fd, &id);
	} else {
		fd = export_fences(c->gpu.buf[b].fd, DMA_BUF_SYNC_READ);
		fence_identify(fd, &id);
		close(fd);
	}
	out_flow(&id, getpid(), n, true, t, "render fence attached");
}

/**
 * present_frames() - the client's frame loop.
 * @c: client
 *
 * Writes one "C" record per frame: present time, CPU and wall time of the
 * present, of the fence attach within it, the waits at acquire.
 */
static void present_frames(struct client *c)
{
	enum mode m = c->mode;
	struct gpu *g = &c->gpu;

	for (uint32_t n = 0; n < c->frames; n++) {
		int64_t t0, acq_buf = 0, acq_t0 = 0, acq_t1 = 0, t_present, c0, a0, attach = 0;
		int rfd = -1, err;
		unsigned int b;

		t0 = now_ns();
		b = take_buffer(c);
		acq_buf = now_ns() - t0;
		out_span(SPAN_ACQ_BUFFER, n, t0, t0 + acq_buf);

		if (m == MODE_SYNC_FILE || m == MODE_DUMMY_SUBMIT || m == MODE_EXPLICIT) {
			/* Acquire: wait for the compositor's reads of the buffer. */
			int fd = m == MODE_EXPLICIT ? c->release_fd[b]
						    : export_fences(g->buf[b].fd, DMA_BUF_SYNC_WRITE);

			c->release_fd[b] = -1;
			acq_t0 = now_ns();
			if (fd >= 0) {
				wait_fence(c, fd, "the buffer's fences", n);
				close(fd);
			}
			acq_t1 = now_ns();
			out_span(SPAN_ACQ_FENCE, n, acq_t0, acq_t1);
		}

		t0 = now_ns();
		g->ops->prepare(g, b, n);
		burn_cpu(n, c->client_ms - (double)(now_ns() - t0) / 1e6);
		out_span(SPAN_RECORD, n, t0, now_ns());

		t0 = now_ns();
		switch (m) {
		case MODE_SYNC_FILE:
		case MODE_EXPLICIT:
			err = g->ops->render(g, b, n, -1, false, &rfd);
			break;
		case MODE_IMPLICIT_WAIT:
			/* The driver's implicit sync: after the buffer's fences, as its writer. */
			err = g->ops->render(g, b, n, export_fences(g->buf[b].fd, DMA_BUF_SYNC_WRITE),
					     true, NULL);
			break;
		default:
			err = g->ops->render(g, b, n, -1, false, NULL);
			break;
		}
		if (err)
			die("frame %u: render submit: %s", n, strerror(-err));
		out_span(SPAN_SUBMIT, n, t0, now_ns());

		if (m == MODE_IMPLICIT_WAIT) {
			/* Acquire through the buffer: own rendering included. */
			acq_t0 = now_ns();
			err = wait_fd(g->buf[b].fd, POLLOUT, c->display_fd, c->timeout_ms);
			if (err)
				die("frame %u: waiting on the buffer: %s", n, strerror(-err));
			acq_t1 = now_ns();
			out_span(SPAN_ACQ_FENCE, n, acq_t0, acq_t1);
		}

		t_present = now_ns();
		c0 = cpu_ns();
		if (m == MODE_SYNC_FILE) {
			a0 = cpu_ns();
			err = dmabuf_attach_writer(g->buf[b].fd, rfd);
			attach = cpu_ns() - a0;
			if (err)
				die("DMA_BUF_IOCTL_IMPORT_SYNC_FILE: %s", strerror(-err));
		} else if (m == MODE_DUMMY_SUBMIT) {
			a0 = cpu_ns();
			err = g->ops->dummy(g, b, n);
			attach = cpu_ns() - a0;
			if (err)
				die("frame %u: dummy submit: %s", n, strerror(-err));
		} else if (m == MODE_EXPLICIT) {
			struct zwp_linux_buffer_release_v1 *r;

			a0 = cpu_ns();
			zwp_linux_surface_synchronization_v1_set_acquire_fence(c->ssync, rfd);
			attach = cpu_ns() - a0;
			r = zwp_linux_surface_synchronization_v1_get_release(c->ssync);
			zwp_linux_buffer_release_v1_add_listener(r, &release_listener, &c->ref[b]);
		}
		c->releases_due[b] = m == MODE_EXPLICIT ? 2 : 1;
		wl_surface_attach(c->surface, c->wlbuf[b], 0, 0);
		wl_surface_damage_buffer(c->surface, 0, 0, INT32_MAX, INT32_MAX);
		if (n == c->frames - 1)
			wl_callback_add_listener(wl_surface_frame(c->surface), &frame_listener, c);
		wl_surface_commit(c->surface);
		if (wl_display_flush(c->display) < 0 && errno != EAGAIN)
			die("compositor connection lost: %s", strerror(errno));
		t0 = now_ns();
		if (out.rec)
			fprintf(out.rec, "C %u %lld %lld %lld %lld %lld %lld %lld %u\n", n,
				(long long)t_present, (long long)(t0 - t_present),
				(long long)(cpu_ns() - c0), (long long)attach, (long long)acq_buf,
				(long long)acq_t0, (long long)acq_t1, b);
		out_span(SPAN_PRESENT, n, t_present, t0);
		if (m != MODE_NO_SYNC)
			trace_fence(c, b, n, m == MODE_EXPLICIT ? rfd : -1, t_present);
		if (rfd >= 0)
			close(rfd);
	}
}

static void usage(FILE *f)
{
	fprintf(f, "usage: present-client --mode MODE [options]   (WAYLAND_DISPLAY: the compositor)\n"
		   "  --mode M         sync-file, dummy-submit, implicit-wait, no-sync, explicit-protocol\n"
		   "  --backend B      simulated (default) or lavapipe\n"
		   "  --frames N       frames to present (default 60)\n"
		   "  --size WxH       frame size (default 640x360)\n"
		   "  --client-ms X    client CPU work per frame (default 1)\n"
		   "  --gpu-ms X       simulated: render time per frame (default 3)\n"
		   "  --vk-passes N    lavapipe: copies per frame (default 16)\n"
		   "  --hold-ms X      no-sync: the GPU stalls half-way this long (default 2 refreshes: 16)\n"
		   "  --alloc A        simulated: udmabuf (default) or heap\n"
		   "  --timeout-ms T   longest wait for anything (default 10000)\n"
		   "  --records PATH   per-frame records for the driver\n"
		   "  --trace PATH     this process's trace events\n"
		   "  --name NAME      process name in the trace\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "mode", required_argument, NULL, 'm' },
		{ "backend", required_argument, NULL, 'b' },
		{ "frames", required_argument, NULL, 'f' },
		{ "size", required_argument, NULL, 's' },
		{ "client-ms", required_argument, NULL, 'c' },
		{ "gpu-ms", required_argument, NULL, 'g' },
		{ "vk-passes", required_argument, NULL, 'p' },
		{ "hold-ms", required_argument, NULL, 'H' },
		{ "alloc", required_argument, NULL, 'a' },
		{ "timeout-ms", required_argument, NULL, 't' },
		{ "records", required_argument, NULL, 'R' },
		{ "trace", required_argument, NULL, 'T' },
		{ "name", required_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct client c = { .mode = MODE_SYNC_FILE, .frames = 60, .client_ms = 1,
			    .timeout_ms = 10000 };
	const char *rec = NULL, *trace = NULL, *name = "client";
	enum backend be = BACKEND_SIM;
	struct wl_registry *reg;
	int opt, m;

	c.gpu.cfg = (struct gpu_config){ .width = 640, .height = 360, .gpu_ms = 3,
					 .vk_passes = 16, .hold_ms = 16, .alloc = "udmabuf" };
	set_prog_name("present-client");
	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (opt) {
		case 'm':
			m = mode_from_name(optarg);
			if (m < 0)
				die("unknown mode '%s'", optarg);
			c.mode = m;
			break;
		case 'b':
			m = backend_from_name(optarg);
			if (m < 0)
				die("unknown back-end '%s'", optarg);
			be = m;
			break;
		case 'f':
			c.frames = (unsigned int)atoi(optarg);
			break;
		case 's':
			if (sscanf(optarg, "%ux%u", &c.gpu.cfg.width, &c.gpu.cfg.height) != 2 ||
			    c.gpu.cfg.width < 16 || c.gpu.cfg.height < 8)
				die("--size: WxH, at least 16x8");
			break;
		case 'c':
			c.client_ms = atof(optarg);
			break;
		case 'g':
			c.gpu.cfg.gpu_ms = atof(optarg);
			break;
		case 'p':
			c.gpu.cfg.vk_passes = (unsigned int)atoi(optarg);
			break;
		case 'H':
			c.gpu.cfg.hold_ms = atof(optarg);
			break;
		case 'a':
			c.gpu.cfg.alloc = optarg;
			break;
		case 't':
			c.timeout_ms = atol(optarg);
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
	if (!c.frames || c.gpu.cfg.vk_passes < 1) {
		usage(stderr);
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	c.gpu.cfg.timeout_ms = c.timeout_ms;
	c.gpu.cfg.hold = c.mode == MODE_NO_SYNC;
	c.gpu.cfg.dummy_submit = c.mode == MODE_DUMMY_SUBMIT;
	c.gpu.ops = be == BACKEND_VK ? &gpu_vk_ops : &gpu_sim_ops;
	if (out_open(rec, trace, name) < 0)
		die("cannot write %s or %s: %s", rec ? rec : "-", trace ? trace : "-",
		    strerror(errno));
	out_thread_name(getpid(), "client (render loop)");

	/*
	 * The GPU first (a Vulkan instance and device take a while): the
	 * compositor's no-progress clock runs from our connection.
	 */
	m = c.gpu.ops->init(&c.gpu);
	if (m < 0)
		die("%s back-end: %s", c.gpu.ops->name, strerror(-m));
	c.display = wl_display_connect(NULL);
	if (!c.display)
		die("cannot connect to the compositor (WAYLAND_DISPLAY=%s): %s",
		    getenv("WAYLAND_DISPLAY") ? getenv("WAYLAND_DISPLAY") : "", strerror(errno));
	c.display_fd = wl_display_get_fd(c.display);
	reg = wl_display_get_registry(c.display);
	wl_registry_add_listener(reg, &registry_listener, &c);
	if (wl_display_roundtrip(c.display) < 0)
		die("compositor connection: %s", strerror(errno));
	if (!c.compositor || !c.dmabuf)
		die("the compositor offers no wl_compositor or zwp_linux_dmabuf_v1 v3");
	if (c.mode == MODE_EXPLICIT && !c.esync)
		die("the compositor offers no zwp_linux_explicit_synchronization_v1");
	c.surface = wl_compositor_create_surface(c.compositor);
	if (c.mode == MODE_EXPLICIT)
		c.ssync = zwp_linux_explicit_synchronization_v1_get_synchronization(c.esync,
										    c.surface);
	make_buffers(&c);
	if (wl_display_roundtrip(c.display) < 0)
		die("compositor connection: %s", strerror(errno));

	present_frames(&c);
	/* Until the last frame is on screen: every frame displayed. */
	while (!c.last_done)
		dispatch_wait(&c, c.timeout_ms);
	c.gpu.ops->finish(&c.gpu);
	for (int b = 0; b < NBUFFERS; b++) {
		wl_buffer_destroy(c.wlbuf[b]);
		if (c.release_fd[b] >= 0)
			close(c.release_fd[b]);
	}
	if (c.ssync)
		zwp_linux_surface_synchronization_v1_destroy(c.ssync);
	wl_surface_destroy(c.surface);
	if (c.esync)
		zwp_linux_explicit_synchronization_v1_destroy(c.esync);
	zwp_linux_dmabuf_v1_destroy(c.dmabuf);
	wl_compositor_destroy(c.compositor);
	wl_registry_destroy(reg);
	wl_display_roundtrip(c.display);
	wl_display_disconnect(c.display);
	out_close();
	return 0;
}
