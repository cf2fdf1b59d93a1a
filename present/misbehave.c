/* SPDX-License-Identifier: MIT */
/*
 * present-misbehave: a Wayland client that tests present-compositor at the
 * edges of the protocols, one scenario per run.  It exits 0 when the
 * compositor answered as the protocols say (an event, or the protocol
 * error expected), 1 otherwise, with the reason on stderr.  What must
 * survive (the compositor, serving the next client) present-test.py
 * checks from outside.
 *
 * Only the Linux UAPI and libwayland, as the other programs.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <wayland-client.h>
#include "linux-dmabuf-unstable-v1-client-protocol.h"
#include "linux-explicit-synchronization-unstable-v1-client-protocol.h"

#include "common.h"

#define WAIT_MS 10000
#define W 64
#define H 16			/* pixel rows; the plane has H + 1 */

struct bad {
	struct wl_display *display;
	struct wl_compositor *compositor;
	struct zwp_linux_dmabuf_v1 *dmabuf;
	struct zwp_linux_explicit_synchronization_v1 *esync;
	int timeline;			/* sw_sync, for fences of our own */
	uint32_t points;
};

/* What the events of one buffer (and its release object) said. */
struct seen {
	bool buffer_release, fenced_release, immediate_release, frame_done;
	int release_fd;
};

static void fail(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));

static void fail(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "present-misbehave: FAIL: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static void registry_global(void *data, struct wl_registry *reg, uint32_t name,
			    const char *iface, uint32_t version)
{
	struct bad *b = data;

	if (!strcmp(iface, wl_compositor_interface.name))
		b->compositor = wl_registry_bind(reg, name, &wl_compositor_interface, 4);
	else if (!strcmp(iface, zwp_linux_dmabuf_v1_interface.name))
		b->dmabuf = wl_registry_bind(reg, name, &zwp_linux_dmabuf_v1_interface, 3);
	else if (!strcmp(iface, zwp_linux_explicit_synchronization_v1_interface.name))
		b->esync = wl_registry_bind(reg, name,
					    &zwp_linux_explicit_synchronization_v1_interface, 2);
}

static void registry_remove(void *data, struct wl_registry *reg, uint32_t name)
{
}

static const struct wl_registry_listener registry_listener = {
	.global = registry_global,
	.global_remove = registry_remove,
};

static void buffer_release(void *data, struct wl_buffer *wb)
{
	((struct seen *)data)->buffer_release = true;
}

static const struct wl_buffer_listener buffer_listener = { .release = buffer_release };

static void fenced_release(void *data, struct zwp_linux_buffer_release_v1 *r, int32_t fd)
{
	struct seen *s = data;

	s->fenced_release = true;
	s->release_fd = fd;
	zwp_linux_buffer_release_v1_destroy(r);
}

static void immediate_release(void *data, struct zwp_linux_buffer_release_v1 *r)
{
	((struct seen *)data)->immediate_release = true;
	zwp_linux_buffer_release_v1_destroy(r);
}

static const struct zwp_linux_buffer_release_v1_listener release_listener = {
	.fenced_release = fenced_release,
	.immediate_release = immediate_release,
};

static void frame_done(void *data, struct wl_callback *cb, uint32_t t)
{
	((struct seen *)data)->frame_done = true;
	wl_callback_destroy(cb);
}

static const struct wl_callback_listener frame_listener = { .done = frame_done };

static void connect_compositor(struct bad *b)
{
	struct wl_registry *reg;

	b->display = wl_display_connect(NULL);
	if (!b->display)
		fail("cannot connect to the compositor: %s", strerror(errno));
	reg = wl_display_get_registry(b->display);
	wl_registry_add_listener(reg, &registry_listener, b);
	if (wl_display_roundtrip(b->display) < 0)
		fail("compositor connection: %s", strerror(errno));
	if (!b->compositor || !b->dmabuf || !b->esync)
		fail("the compositor lacks a global");
	b->timeline = open(SW_SYNC_PATH, O_RDWR | O_CLOEXEC);
	if (b->timeline < 0)
		fail("open %s: %s", SW_SYNC_PATH, strerror(errno));
}

/* A new point of our timeline, as a sync file (signaled if @signal). */
static int make_fence(struct bad *b, bool signal)
{
	struct sw_sync_create_fence_data d = { .value = b->points + 1 };
	__u32 one = 1;

	snprintf(d.name, sizeof(d.name), "misbehave-%u", b->points + 1);
	if (ioctl(b->timeline, SW_SYNC_IOC_CREATE_FENCE, &d) < 0)
		fail("SW_SYNC_IOC_CREATE_FENCE: %s", strerror(errno));
	if (signal) {
		if (ioctl(b->timeline, SW_SYNC_IOC_INC, &one) < 0)
			fail("SW_SYNC_IOC_INC: %s", strerror(errno));
		b->points++;
	}
	return d.fence;
}

/*
 * A wl_buffer on a dma-buf of @size bytes claimed to be @width x @height
 * with @stride; the first frame's image is in it when it fits.
 */
static struct wl_buffer *make_buffer(struct bad *b, size_t size, int32_t width, int32_t height,
				     uint32_t stride, int *dmabuf_fd)
{
	struct zwp_linux_buffer_params_v1 *p;
	struct wl_buffer *wb;
	int fd = udmabuf_alloc(size);

	if (fd < 0)
		fail("udmabuf: %s", strerror(-fd));
	if (size >= (size_t)stride * (H + 1) && stride >= W * 4) {
		void *map = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);

		if (map == MAP_FAILED)
			fail("mmap: %s", strerror(errno));
		image_stamp(map, 0, image_render_rows(map, stride, W, 0, H, 0));
		munmap(map, size);
	}
	p = zwp_linux_dmabuf_v1_create_params(b->dmabuf);
	zwp_linux_buffer_params_v1_add(p, fd, 0, 0, stride, 0, 0);
	/* The params stay: an error the compositor posts on them must find them. */
	wb = zwp_linux_buffer_params_v1_create_immed(p, width, height, PRESENT_FOURCC, 0);
	if (dmabuf_fd)
		*dmabuf_fd = fd;
	else
		close(fd);
	return wb;
}

static struct wl_buffer *good_buffer(struct bad *b, struct seen *s, int *dmabuf_fd)
{
	struct wl_buffer *wb = make_buffer(b, 8192, W, H + 1, W * 4, dmabuf_fd);

	s->release_fd = -1;
	wl_buffer_add_listener(wb, &buffer_listener, s);
	return wb;
}

/* Dispatch until *@flag (or @flag2 if not NULL) is set; fail after WAIT_MS. */
static void wait_for(struct bad *b, const bool *flag, const bool *flag2, const char *what)
{
	int64_t end = now_ns() + WAIT_MS * 1000000LL;

	while (!*flag && !(flag2 && *flag2)) {
		struct pollfd p = { .fd = wl_display_get_fd(b->display), .events = POLLIN };
		int left = (int)((end - now_ns()) / 1000000);

		if (left <= 0)
			fail("no %s from the compositor in %d ms", what, WAIT_MS);
		while (wl_display_prepare_read(b->display) != 0)
			if (wl_display_dispatch_pending(b->display) < 0)
				fail("waiting for %s: connection: %s", what, strerror(errno));
		wl_display_flush(b->display);
		if (poll(&p, 1, left) <= 0) {
			wl_display_cancel_read(b->display);
			continue;
		}
		if (wl_display_read_events(b->display) < 0 ||
		    wl_display_dispatch_pending(b->display) < 0)
			fail("waiting for %s: connection: %s", what, strerror(errno));
	}
}

/* A protocol error @code on an object of @iface must end the connection. */
static void expect_error(struct bad *b, const struct wl_interface *iface, uint32_t code)
{
	const struct wl_interface *got = NULL;
	uint32_t id, c;

	wl_display_roundtrip(b->display);
	if (!wl_display_get_error(b->display))
		fail("no protocol error (expected %s error %u)", iface->name, code);
	if (wl_display_get_error(b->display) != EPROTO)
		fail("connection error %s, not a protocol error", strerror(wl_display_get_error(b->display)));
	c = wl_display_get_protocol_error(b->display, &got, &id);
	if (got != iface || c != code)
		fail("protocol error %s %u, expected %s %u", got ? got->name : "?", c, iface->name,
		     code);
	fprintf(stderr, "present-misbehave: got %s error %u, as expected\n", iface->name, code);
}

static void connection_alive(struct bad *b)
{
	if (wl_display_roundtrip(b->display) < 0)
		fail("connection lost (error %d)", wl_display_get_error(b->display));
}

/* ---- the scenarios ---- */

/* Explicit sync: the release object's event and wl_buffer.release, both. */
static void explicit_release(struct bad *b)
{
	struct wl_surface *surf = wl_compositor_create_surface(b->compositor);
	struct zwp_linux_surface_synchronization_v1 *ss =
		zwp_linux_explicit_synchronization_v1_get_synchronization(b->esync, surf);
	struct seen s = { 0 };
	struct wl_buffer *wb = good_buffer(b, &s, NULL);
	int fence = make_fence(b, true);

	zwp_linux_surface_synchronization_v1_set_acquire_fence(ss, fence);
	close(fence);
	zwp_linux_buffer_release_v1_add_listener(zwp_linux_surface_synchronization_v1_get_release(ss),
						 &release_listener, &s);
	wl_surface_attach(surf, wb, 0, 0);
	wl_surface_commit(surf);
	wait_for(b, &s.fenced_release, &s.immediate_release, "buffer release event");
	wait_for(b, &s.buffer_release, NULL, "wl_buffer.release");
}

/*
 * A frame whose acquire fence (explicit) or write fence (implicit) ends
 * with an error fails: its buffer must still come back.
 */
static void failed_frame(struct bad *b, bool explicit)
{
	struct wl_surface *surf = wl_compositor_create_surface(b->compositor);
	struct zwp_linux_surface_synchronization_v1 *ss = NULL;
	struct seen s = { 0 };
	int buf_fd, fence = make_fence(b, false), err;
	struct wl_buffer *wb = good_buffer(b, &s, &buf_fd);

	if (explicit) {
		ss = zwp_linux_explicit_synchronization_v1_get_synchronization(b->esync, surf);
		zwp_linux_surface_synchronization_v1_set_acquire_fence(ss, fence);
		zwp_linux_buffer_release_v1_add_listener(
			zwp_linux_surface_synchronization_v1_get_release(ss), &release_listener, &s);
	} else {
		err = dmabuf_attach_writer(buf_fd, fence);
		if (err)
			fail("DMA_BUF_IOCTL_IMPORT_SYNC_FILE: %s", strerror(-err));
	}
	close(fence);
	wl_surface_attach(surf, wb, 0, 0);
	wl_surface_commit(surf);
	connection_alive(b);
	/* The timeline goes: its unsignaled point signals with an error. */
	close(b->timeline);
	b->timeline = -1;
	if (explicit) {
		wait_for(b, &s.immediate_release, &s.fenced_release, "buffer release event");
		if (!s.immediate_release)
			fail("a failed frame's buffer came back with a fence, not immediate_release");
	}
	wait_for(b, &s.buffer_release, NULL, "wl_buffer.release of the failed frame");
	close(buf_fd);
}

static void failed_frame_explicit(struct bad *b)
{
	failed_frame(b, true);
}

static void failed_frame_implicit(struct bad *b)
{
	failed_frame(b, false);
}

/*
 * Two surfaces; the first goes, the second leaves a frame callback
 * pending and a committed frame when the client disconnects.
 */
static void two_surfaces(struct bad *b)
{
	struct wl_surface *s1 = wl_compositor_create_surface(b->compositor);
	struct wl_surface *s2 = wl_compositor_create_surface(b->compositor);
	struct seen a = { 0 }, c = { 0 }, d = { 0 };
	struct wl_buffer *wa = good_buffer(b, &a, NULL), *wc = good_buffer(b, &c, NULL);

	wl_surface_attach(s1, wa, 0, 0);
	wl_callback_add_listener(wl_surface_frame(s1), &frame_listener, &a);
	wl_surface_commit(s1);
	wait_for(b, &a.frame_done, NULL, "frame callback of the first surface");
	wl_surface_destroy(s1);
	/* Its id is free again: the next objects reuse it. */
	wl_surface_attach(s2, wc, 0, 0);
	wl_callback_add_listener(wl_surface_frame(s2), &frame_listener, &c);
	wl_surface_commit(s2);
	wl_callback_add_listener(wl_surface_frame(s2), &frame_listener, &d);
	connection_alive(b);
}

/* A buffer whose plane does not fit in its dma-buf. */
static void short_buffer(struct bad *b)
{
	make_buffer(b, 4096, 640, 361, 640 * 4, NULL);
	expect_error(b, &zwp_linux_buffer_params_v1_interface,
		     ZWP_LINUX_BUFFER_PARAMS_V1_ERROR_OUT_OF_BOUNDS);
}

/* A width whose row size overflows 32 bits: 0x40000001 * 4 = 4. */
static void huge_width(struct bad *b)
{
	make_buffer(b, 8192, 0x40000001, 2, 4096, NULL);
	expect_error(b, &zwp_linux_buffer_params_v1_interface,
		     ZWP_LINUX_BUFFER_PARAMS_V1_ERROR_OUT_OF_BOUNDS);
}

/* One params object, two buffers. */
static void params_reuse(struct bad *b)
{
	struct zwp_linux_buffer_params_v1 *p = zwp_linux_dmabuf_v1_create_params(b->dmabuf);
	int fd = udmabuf_alloc(8192);

	if (fd < 0)
		fail("udmabuf: %s", strerror(-fd));
	zwp_linux_buffer_params_v1_add(p, fd, 0, 0, W * 4, 0, 0);
	close(fd);
	zwp_linux_buffer_params_v1_create_immed(p, W, H + 1, PRESENT_FOURCC, 0);
	zwp_linux_buffer_params_v1_create_immed(p, W, H + 1, PRESENT_FOURCC, 0);
	expect_error(b, &zwp_linux_buffer_params_v1_interface,
		     ZWP_LINUX_BUFFER_PARAMS_V1_ERROR_ALREADY_USED);
}

/* An acquire fence and a commit without a buffer. */
static void no_buffer(struct bad *b)
{
	struct wl_surface *surf = wl_compositor_create_surface(b->compositor);
	struct zwp_linux_surface_synchronization_v1 *ss =
		zwp_linux_explicit_synchronization_v1_get_synchronization(b->esync, surf);
	int fence = make_fence(b, true);

	zwp_linux_surface_synchronization_v1_set_acquire_fence(ss, fence);
	close(fence);
	wl_surface_commit(surf);
	expect_error(b, &zwp_linux_surface_synchronization_v1_interface,
		     ZWP_LINUX_SURFACE_SYNCHRONIZATION_V1_ERROR_NO_BUFFER);
}

/* An acquire "fence" that is a pipe. */
static void invalid_fence(struct bad *b)
{
	struct wl_surface *surf = wl_compositor_create_surface(b->compositor);
	struct zwp_linux_surface_synchronization_v1 *ss =
		zwp_linux_explicit_synchronization_v1_get_synchronization(b->esync, surf);
	int p[2];

	if (pipe2(p, O_CLOEXEC) < 0)
		fail("pipe: %s", strerror(errno));
	zwp_linux_surface_synchronization_v1_set_acquire_fence(ss, p[0]);
	expect_error(b, &zwp_linux_surface_synchronization_v1_interface,
		     ZWP_LINUX_SURFACE_SYNCHRONIZATION_V1_ERROR_INVALID_FENCE);
}

/*
 * The synchronization object goes after set_acquire_fence: the fence is
 * discarded (a frame that never signals it is shown), the release object
 * is not affected (it still gets its event).
 */
static void sync_destroyed(struct bad *b)
{
	struct wl_surface *surf = wl_compositor_create_surface(b->compositor);
	struct zwp_linux_surface_synchronization_v1 *ss =
		zwp_linux_explicit_synchronization_v1_get_synchronization(b->esync, surf);
	struct seen s = { 0 };
	struct wl_buffer *wb = good_buffer(b, &s, NULL);
	int fence = make_fence(b, false);

	zwp_linux_surface_synchronization_v1_set_acquire_fence(ss, fence);
	close(fence);
	zwp_linux_buffer_release_v1_add_listener(zwp_linux_surface_synchronization_v1_get_release(ss),
						 &release_listener, &s);
	zwp_linux_surface_synchronization_v1_destroy(ss);
	wl_surface_attach(surf, wb, 0, 0);
	wl_callback_add_listener(wl_surface_frame(surf), &frame_listener, &s);
	wl_surface_commit(surf);
	wait_for(b, &s.frame_done, NULL, "frame callback (the discarded fence never signals)");
	wait_for(b, &s.fenced_release, &s.immediate_release, "release object's event");
}

static void sync_done(void *data, struct wl_callback *cb, uint32_t t)
{
	*(bool *)data = true;
	wl_callback_destroy(cb);
}

static const struct wl_callback_listener sync_listener = { .done = sync_done };

/*
 * Explicit sync with a signaled acquire fence, but a write fence that never
 * signals on the dma-buf (implicit sync, which the client should not mix
 * in): the compositor must go on answering while the frame waits; when
 * the write fence ends (with an error: its timeline goes), the buffer
 * comes back.
 */
static void stuck_writer(struct bad *b)
{
	struct wl_surface *surf = wl_compositor_create_surface(b->compositor);
	struct zwp_linux_surface_synchronization_v1 *ss =
		zwp_linux_explicit_synchronization_v1_get_synchronization(b->esync, surf);
	struct seen s = { 0 };
	int buf_fd, stuck = make_fence(b, false), fence, err;
	struct wl_buffer *wb = good_buffer(b, &s, &buf_fd);
	bool answered = false;

	err = dmabuf_attach_writer(buf_fd, stuck);
	if (err)
		fail("DMA_BUF_IOCTL_IMPORT_SYNC_FILE: %s", strerror(-err));
	close(stuck);
	{
		/* The acquire fence, signaled: on a timeline of its own. */
		struct bad other = { .timeline = open(SW_SYNC_PATH, O_RDWR | O_CLOEXEC) };

		if (other.timeline < 0)
			fail("open %s: %s", SW_SYNC_PATH, strerror(errno));
		fence = make_fence(&other, true);
		close(other.timeline);
	}
	zwp_linux_surface_synchronization_v1_set_acquire_fence(ss, fence);
	close(fence);
	zwp_linux_buffer_release_v1_add_listener(zwp_linux_surface_synchronization_v1_get_release(ss),
						 &release_listener, &s);
	wl_surface_attach(surf, wb, 0, 0);
	wl_surface_commit(surf);
	/* A few refreshes for the compositor to take the commit and wait, then a round trip. */
	wl_display_flush(b->display);
	usleep(100 * 1000);
	wl_callback_add_listener(wl_display_sync(b->display), &sync_listener, &answered);
	wait_for(b, &answered, NULL, "answer to wl_display.sync while a frame's writer is stuck");
	if (s.buffer_release)
		fail("the buffer came back while its write fence was pending");
	close(b->timeline);
	b->timeline = -1;
	wait_for(b, &s.buffer_release, NULL, "wl_buffer.release once the write fence ended");
	close(buf_fd);
}

static const struct scenario {
	const char *name;
	void (*run)(struct bad *b);
} scenarios[] = {
	{ "explicit-release", explicit_release },
	{ "failed-frame-explicit", failed_frame_explicit },
	{ "failed-frame-implicit", failed_frame_implicit },
	{ "two-surfaces", two_surfaces },
	{ "short-buffer", short_buffer },
	{ "huge-width", huge_width },
	{ "params-reuse", params_reuse },
	{ "no-buffer", no_buffer },
	{ "invalid-fence", invalid_fence },
	{ "sync-destroyed", sync_destroyed },
	{ "stuck-writer", stuck_writer },
};

int main(int argc, char **argv)
{
	struct bad b = { .timeline = -1 };
	const struct scenario *sc = NULL;

	set_prog_name("present-misbehave");
	for (size_t i = 0; argc == 2 && i < sizeof(scenarios) / sizeof(scenarios[0]); i++)
		if (!strcmp(argv[1], scenarios[i].name))
			sc = &scenarios[i];
	if (!sc) {
		fprintf(stderr, "usage: present-misbehave SCENARIO   (WAYLAND_DISPLAY: the compositor)\n"
				"scenarios:");
		for (size_t i = 0; i < sizeof(scenarios) / sizeof(scenarios[0]); i++)
			fprintf(stderr, " %s", scenarios[i].name);
		fputc('\n', stderr);
		return 2;
	}
	connect_compositor(&b);
	sc->run(&b);
	wl_display_disconnect(b.display);
	if (b.timeline >= 0)
		close(b.timeline);
	fprintf(stderr, "present-misbehave: %s: ok\n", sc->name);
	return 0;
}
