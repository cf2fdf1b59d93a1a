/* SPDX-License-Identifier: MIT */
/*
 * dmasync-present: one mode of the present loop, with its four actors.
 *
 * The program side (client, compositor, display) talks to dmasync through
 * the Linux UAPI only: dma-heap allocation, mmap, DMA_BUF_IOCTL_* on the
 * dma-bufs, poll() on dma-bufs (dmasync_poll) and on sync files (plain
 * poll), SYNC_IOC_FILE_INFO.  The "GPU" is a driver living in the same
 * process, so it uses the in-kernel API, as a kernel driver would: software
 * timelines for its job fences, dma_resv to attach them to buffers, and
 * sync_file_create_fd()/sync_file_get_fence() for its out- and in-fences.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <linux/dma-buf.h>
#include <linux/dma-heap.h>
#include <linux/sync_file.h>

#include "present.h"

const char *const mode_names[MODE_COUNT] = {
	[MODE_SYNC_FILE] = "sync-file",
	[MODE_DUMMY_SUBMIT] = "dummy-submit",
	[MODE_IMPLICIT_WAIT] = "implicit-wait",
	[MODE_NO_SYNC] = "no-sync",
};

const char *const span_names[SPAN_KIND_COUNT] = {
	[SPAN_ACQ_BUFFER] = "wait for a free buffer",
	[SPAN_ACQ_FENCE] = "acquire: wait on fences",
	[SPAN_RECORD] = "record (CPU)",
	[SPAN_SUBMIT] = "submit render",
	[SPAN_PRESENT] = "present",
	[SPAN_DEP_WAIT] = "wait for dependency",
	[SPAN_RENDER] = "render",
	[SPAN_NOOP] = "no-op job (dummy submit)",
	[SPAN_HOLD] = "half-written, held for the compositor (no-sync)",
	[SPAN_COMP_WAIT] = "implicit wait (poll)",
	[SPAN_OUT_WAIT] = "wait for output buffer",
	[SPAN_COMPOSITE] = "verify + composite",
	[SPAN_SCANOUT] = "scanout",
};

const bool span_is_wait[SPAN_KIND_COUNT] = {
	[SPAN_ACQ_BUFFER] = true,
	[SPAN_ACQ_FENCE] = true,
	[SPAN_DEP_WAIT] = true,
	[SPAN_COMP_WAIT] = true,
	[SPAN_OUT_WAIT] = true,
	[SPAN_HOLD] = true,
};

void die(const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fputs("dmasync-present: error: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

/* ---- spans ------------------------------------------------------------------ */

size_t span_begin(struct span_log *log, enum span_kind kind, uint32_t frame)
{
	if (log->n == log->cap) {
		size_t cap = log->cap ? log->cap * 2 : 256;
		struct span *v = realloc(log->v, cap * sizeof(*v));

		if (!v)
			die("out of memory");
		log->v = v;
		log->cap = cap;
	}
	log->v[log->n] = (struct span){ .t0 = now_ns(), .t1 = 0, .frame = frame, .kind = kind };
	if (dmasync_trace_enabled())
		dmasync_trace_begin("%s %u", span_names[kind], frame);
	return log->n++;
}

void span_end(struct span_log *log, size_t idx)
{
	log->v[idx].t1 = now_ns();
	dmasync_trace_end();
}

void span_log_free(struct span_log *log)
{
	free(log->v);
	memset(log, 0, sizeof(*log));
}

/* ---- a small blocking FIFO between actors ------------------------------------- */

struct msg {
	uint32_t frame;
	uint32_t slot;		/* buffer index */
	int64_t t;		/* present time */
};

#define FIFO_LEN 8

struct fifo {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct msg ring[FIFO_LEN];
	unsigned int head, count;
};

static void fifo_init(struct fifo *q)
{
	pthread_condattr_t a;

	pthread_mutex_init(&q->lock, NULL);
	pthread_condattr_init(&a);
	pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
	pthread_cond_init(&q->cond, &a);
	pthread_condattr_destroy(&a);
	q->head = q->count = 0;
}

static void fifo_destroy(struct fifo *q)
{
	pthread_mutex_destroy(&q->lock);
	pthread_cond_destroy(&q->cond);
}

static struct timespec deadline_ts(long timeout_ms)
{
	int64_t t = now_ns() + (int64_t)timeout_ms * 1000000;

	return (struct timespec){ .tv_sec = t / 1000000000, .tv_nsec = t % 1000000000 };
}

/* Wait (lock held) for @cond; false on timeout. */
static bool cond_wait_until(pthread_cond_t *c, pthread_mutex_t *m, const struct timespec *dl)
{
	return pthread_cond_timedwait(c, m, dl) != ETIMEDOUT;
}

static void fifo_push(struct fifo *q, struct msg m)
{
	pthread_mutex_lock(&q->lock);
	if (q->count == FIFO_LEN)
		die("internal: queue overflow");
	q->ring[(q->head + q->count++) % FIFO_LEN] = m;
	pthread_cond_broadcast(&q->cond);
	pthread_mutex_unlock(&q->lock);
}

static struct msg fifo_pop(struct fifo *q, long timeout_ms, const char *who)
{
	struct timespec dl = deadline_ts(timeout_ms);
	struct msg m;

	pthread_mutex_lock(&q->lock);
	while (!q->count)
		if (!cond_wait_until(&q->cond, &q->lock, &dl))
			die("%s: nothing arrived for %ld ms", who, timeout_ms);
	m = q->ring[q->head];
	q->head = (q->head + 1) % FIFO_LEN;
	q->count--;
	pthread_cond_broadcast(&q->cond);
	pthread_mutex_unlock(&q->lock);
	return m;
}

static bool fifo_peek(struct fifo *q, struct msg *m)
{
	bool ok;

	pthread_mutex_lock(&q->lock);
	ok = q->count > 0;
	if (ok)
		*m = q->ring[q->head];
	pthread_mutex_unlock(&q->lock);
	return ok;
}

/* Wait until at most @max messages are queued. */
static void fifo_wait_below(struct fifo *q, unsigned int max, long timeout_ms, const char *who)
{
	struct timespec dl = deadline_ts(timeout_ms);

	pthread_mutex_lock(&q->lock);
	while (q->count > max)
		if (!cond_wait_until(&q->cond, &q->lock, &dl))
			die("%s: queue did not drain for %ld ms", who, timeout_ms);
	pthread_mutex_unlock(&q->lock);
}

/* ---- the run ------------------------------------------------------------------- */

struct buffer {
	int fd;
	void *map;
	size_t size;
	struct dma_buf *dmabuf;		/* the driver's reference */
};

enum job_type { JOB_RENDER, JOB_NOOP };

struct job {
	enum job_type type;
	uint32_t frame;
	uint32_t slot;
	struct dma_fence *wait;		/* dependency, owned; may be NULL */
	struct dma_fence *fence;	/* the job's fence, owned */
	struct job *next;
};

struct run {
	const struct config *cfg;
	enum mode mode;
	struct mode_result *res;
	long timeout_ms;
	struct buffer swap[SWAPCHAIN_LEN], out[OUTPUT_LEN];
	struct fifo present_q, release_q, display_q;

	/* the GPU queue */
	pthread_mutex_t gpu_lock;
	pthread_cond_t gpu_cond;
	struct job *gpu_head, *gpu_tail;
	bool gpu_stop;
	struct sync_timeline *gpu_tl;
	uint32_t gpu_seqno;

	struct sync_timeline *comp_tl, *disp_tl;

	/* no-sync only: the handshake that makes the race deterministic */
	pthread_mutex_t hs_lock;
	pthread_cond_t hs_cond;
	int64_t half_written, comp_read;
};

static void name_thread(struct run *r, const char *what)
{
	char name[64];

	snprintf(name, sizeof(name), "%s [%s]", what, mode_names[r->mode]);
	dmasync_trace_set_thread_name(name);
}

static void xioctl(int fd, unsigned long req, void *arg, const char *what)
{
	if (dmasync_ioctl(fd, req, arg) < 0)
		die("%s: %s", what, strerror(errno));
}

static void cpu_access(struct buffer *b, __u64 flags, const char *what)
{
	struct dma_buf_sync s = { .flags = flags };

	xioctl(b->fd, DMA_BUF_IOCTL_SYNC, &s, what);
}

/* Poll one fd; @dmabuf selects dmasync_poll (a dma-buf) or poll (a sync file). */
static bool poll_one(int fd, short events, long timeout_ms, bool dmabuf)
{
	struct pollfd p = { .fd = fd, .events = events };
	int64_t deadline = now_ns() + (int64_t)timeout_ms * 1000000;

	for (;;) {
		int left = (int)((deadline - now_ns()) / 1000000);
		int r = dmabuf ? dmasync_poll(&p, 1, left > 0 ? left : 0)
			       : poll(&p, 1, left > 0 ? left : 0);

		if (r > 0) {
			if (p.revents & (POLLERR | POLLNVAL))
				die("poll: error on fd %d (revents 0x%x)", fd, p.revents);
			if (p.revents & events)
				return true;
		}
		if (r < 0 && errno != EINTR)
			die("poll: %s", strerror(errno));
		if (r == 0 && timeout_ms == 0)
			return false;
		if (now_ns() >= deadline)
			return false;
	}
}

/* The driver's implicit-sync bookkeeping (kernel side: dma_resv). */
static void driver_attach(struct buffer *b, struct dma_fence *f, enum dma_resv_usage usage)
{
	struct dma_resv *resv = b->dmabuf->resv;

	dma_resv_lock(resv, NULL);
	if (dma_resv_reserve_fences(resv, 1))
		die("dma_resv_reserve_fences failed");
	dma_resv_add_fence(resv, f, usage);
	dma_resv_unlock(resv);
}

static struct dma_fence *driver_implicit_deps(struct buffer *b)
{
	struct dma_fence *f = NULL;

	/* A writer waits for everybody: readers and writers. */
	if (dma_resv_get_singleton(b->dmabuf->resv, dma_resv_usage_rw(true), &f))
		die("dma_resv_get_singleton failed");
	return f;
}

/*
 * Submit a job to the GPU queue.  @wait (consumed) is its dependency;
 * @implicit attaches the job's fence to the buffer as a writer.  Returns
 * the job's fence (a new reference).
 */
static struct dma_fence *gpu_submit(struct run *r, enum job_type type, uint32_t frame,
				    uint32_t slot, struct dma_fence *wait, bool implicit)
{
	struct job *job = calloc(1, sizeof(*job));
	struct dma_fence *f;

	if (!job)
		die("out of memory");
	f = sync_pt_create(r->gpu_tl, ++r->gpu_seqno);
	if (!f)
		die("sync_pt_create failed");
	if (implicit)
		driver_attach(&r->swap[slot], f, DMA_RESV_USAGE_WRITE);
	job->type = type;
	job->frame = frame;
	job->slot = slot;
	job->wait = wait;
	job->fence = dma_fence_get(f);
	pthread_mutex_lock(&r->gpu_lock);
	if (r->gpu_tail)
		r->gpu_tail->next = job;
	else
		r->gpu_head = job;
	r->gpu_tail = job;
	trace_dma_fence_emit(f);
	pthread_cond_signal(&r->gpu_cond);
	pthread_mutex_unlock(&r->gpu_lock);
	return f;
}

static void handshake_wait(struct run *r, int64_t *var, int64_t value, const char *who)
{
	struct timespec dl = deadline_ts(r->timeout_ms);

	pthread_mutex_lock(&r->hs_lock);
	while (*var < value)
		if (!cond_wait_until(&r->hs_cond, &r->hs_lock, &dl))
			die("%s: no-sync handshake timed out", who);
	pthread_mutex_unlock(&r->hs_lock);
}

static void handshake_set(struct run *r, int64_t *var, int64_t value)
{
	pthread_mutex_lock(&r->hs_lock);
	*var = value;
	pthread_cond_broadcast(&r->hs_cond);
	pthread_mutex_unlock(&r->hs_lock);
}

static void *gpu_main(void *arg)
{
	struct run *r = arg;
	struct mode_result *res = r->res;
	struct span_log *log = &res->log[ACTOR_QUEUE];
	unsigned int w = r->cfg->width, h = r->cfg->height;

	name_thread(r, "gpu queue");
	for (;;) {
		struct job *job;
		int64_t t0, t1, c_job, work = 0;
		size_t s;

		pthread_mutex_lock(&r->gpu_lock);
		while (!r->gpu_head && !r->gpu_stop)
			pthread_cond_wait(&r->gpu_cond, &r->gpu_lock);
		job = r->gpu_head;
		if (job) {
			r->gpu_head = job->next;
			if (!r->gpu_head)
				r->gpu_tail = NULL;
		}
		pthread_mutex_unlock(&r->gpu_lock);
		if (!job)
			break;
		c_job = cpu_ns();

		if (job->wait) {
			s = span_begin(log, SPAN_DEP_WAIT, job->frame);
			if (dma_fence_wait_timeout(job->wait, false,
						   r->timeout_ms * 1000000l) <= 0)
				die("gpu queue: dependency of frame %u never signaled", job->frame);
			span_end(log, s);
			dma_fence_put(job->wait);
		}

		t0 = now_ns();
		if (job->type == JOB_RENDER) {
			void *base = r->swap[job->slot].map;
			uint64_t sum;
			int64_t w0 = cpu_ns();

			s = span_begin(log, SPAN_RENDER, job->frame);
			sum = image_render_rows(base, w, 0, h / 2, job->frame);
			if (r->mode == MODE_NO_SYNC) {
				/* Let the compositor look at the half-written frame. */
				span_end(log, s);
				s = span_begin(log, SPAN_HOLD, job->frame);
				handshake_set(r, &r->half_written, job->frame);
				handshake_wait(r, &r->comp_read, job->frame, "gpu queue");
				span_end(log, s);
				s = span_begin(log, SPAN_RENDER, job->frame);
			}
			sum += image_render_rows(base, w, h / 2, h, job->frame);
			image_stamp(base, job->frame, sum);
			work = cpu_ns() - w0;
			t1 = now_ns();
			res->fs[job->frame].render_t0 = t0;
			res->fs[job->frame].render_t1 = t1;
		} else {
			s = span_begin(log, SPAN_NOOP, job->frame);
			t1 = now_ns();
			res->fs[job->frame].t_noop_end = t1;
		}
		sync_timeline_signal(r->gpu_tl, 1);	/* the job's fence */
		span_end(log, s);
		t1 = now_ns();
		if (!res->queue_jobs++)
			res->queue_first = t0;
		res->queue_last = t1;
		res->queue_busy_ns += t1 - t0;
		dma_fence_put(job->fence);

		/* What the job cost the queue beyond the rendering itself. */
		c_job = cpu_ns() - c_job - work;
		res->fs[job->frame].queue_overhead_ns += c_job;
		if (job->type == JOB_NOOP)
			res->fs[job->frame].noop_cpu_ns = c_job;
		free(job);
	}
	return NULL;
}

/* The client's per-frame CPU work: builds a command stream for the time given. */
static uint64_t record_commands(uint32_t frame, double ms)
{
	static __thread uint64_t cmds[2048];
	int64_t end = now_ns() + (int64_t)(ms * 1e6);
	uint64_t h = frame * 0x9e3779b97f4a7c15ull + 1;

	do {
		for (unsigned int i = 0; i < 2048; i++) {
			h = h * 6364136223846793005ull + i;
			cmds[i] = h ^ (h >> 29);
		}
	} while (now_ns() < end);
	return h ^ cmds[frame % 2048];
}

static void *client_main(void *arg)
{
	struct run *r = arg;
	struct mode_result *res = r->res;
	struct span_log *log = &res->log[ACTOR_CLIENT];
	volatile uint64_t sink = 0;

	name_thread(r, "client");
	for (uint32_t n = 0; n < res->frames; n++) {
		struct frame_stat *fs = &res->fs[n];
		struct dma_fence *rf;
		int64_t c0;
		uint32_t b;
		int rfd;
		size_t s;

		s = span_begin(log, SPAN_ACQ_BUFFER, n);
		b = fifo_pop(&r->release_q, r->timeout_ms, "client (waiting for a buffer)").slot;
		span_end(log, s);
		fs->acq_buffer_ns = log->v[s].t1 - log->v[s].t0;
		fs->buffer = (uint8_t)b;

		if (r->mode == MODE_SYNC_FILE || r->mode == MODE_DUMMY_SUBMIT) {
			struct dma_buf_export_sync_file ex = { .flags = DMA_BUF_SYNC_WRITE, .fd = -1 };
			struct sync_file_info info;

			/* Acquire: snapshot the buffer's fences, wait on the sync file. */
			s = span_begin(log, SPAN_ACQ_FENCE, n);
			xioctl(r->swap[b].fd, DMA_BUF_IOCTL_EXPORT_SYNC_FILE, &ex,
			       "DMA_BUF_IOCTL_EXPORT_SYNC_FILE");
			if (!poll_one(ex.fd, POLLIN, r->timeout_ms, false))
				die("client: acquire sync file of frame %u never signaled", n);
			memset(&info, 0, sizeof(info));
			xioctl(ex.fd, SYNC_IOC_FILE_INFO, &info, "SYNC_IOC_FILE_INFO");
			if (info.status != 1)
				die("client: acquire fence of frame %u has status %d", n, info.status);
			close(ex.fd);
			span_end(log, s);
			fs->acq_t0 = log->v[s].t0;
			fs->acq_t1 = log->v[s].t1;

			s = span_begin(log, SPAN_RECORD, n);
			sink += record_commands(n, r->cfg->client_ms);
			span_end(log, s);

			/* Explicit sync: the render job returns an out-fence fd. */
			/* Explicit sync: the render job's fence is like a VkSemaphore. */
			s = span_begin(log, SPAN_SUBMIT, n);
			rf = gpu_submit(r, JOB_RENDER, n, b, NULL, false);
			span_end(log, s);

			s = span_begin(log, SPAN_PRESENT, n);
			fs->t_present = log->v[s].t0;
			c0 = cpu_ns();
			dmasync_trace_async_begin(((u64)r->mode << 32) | n, "frame %u [%s]", n,
						  mode_names[r->mode]);
			if (r->mode == MODE_SYNC_FILE) {
				/* Export the semaphore as a sync file, import it as the writer. */
				struct dma_buf_import_sync_file im = { .flags = DMA_BUF_SYNC_WRITE };
				int64_t a0;

				rfd = sync_file_create_fd(rf);
				if (rfd < 0)
					die("sync_file_create_fd: %s", strerror(-rfd));
				im.fd = rfd;
				a0 = cpu_ns();
				xioctl(r->swap[b].fd, DMA_BUF_IOCTL_IMPORT_SYNC_FILE, &im,
				       "DMA_BUF_IOCTL_IMPORT_SYNC_FILE");
				fs->attach_cpu_ns = cpu_ns() - a0;
				close(rfd);
			} else {
				/* A no-op job that waits for the render fence and writes b. */
				int64_t a0 = cpu_ns();

				dma_fence_put(gpu_submit(r, JOB_NOOP, n, b, dma_fence_get(rf), true));
				fs->attach_cpu_ns = cpu_ns() - a0;
			}
			fifo_push(&r->present_q, (struct msg){ .frame = n, .slot = b,
							      .t = fs->t_present });
			fs->present_cpu_ns = cpu_ns() - c0;
			span_end(log, s);
			dma_fence_put(rf);
		} else {
			s = span_begin(log, SPAN_RECORD, n);
			sink += record_commands(n, r->cfg->client_ms);
			span_end(log, s);

			s = span_begin(log, SPAN_SUBMIT, n);
			if (r->mode == MODE_IMPLICIT_WAIT)
				rf = gpu_submit(r, JOB_RENDER, n, b, driver_implicit_deps(&r->swap[b]),
						true);
			else
				rf = gpu_submit(r, JOB_RENDER, n, b, NULL, false);
			dma_fence_put(rf);
			span_end(log, s);

			if (r->mode == MODE_IMPLICIT_WAIT) {
				/* Acquire by waiting on the buffer, own render included. */
				s = span_begin(log, SPAN_ACQ_FENCE, n);
				if (!poll_one(r->swap[b].fd, POLLOUT, r->timeout_ms, true))
					die("client: buffer of frame %u never became idle", n);
				span_end(log, s);
				fs->acq_t0 = log->v[s].t0;
				fs->acq_t1 = log->v[s].t1;
			}

			s = span_begin(log, SPAN_PRESENT, n);
			fs->t_present = log->v[s].t0;
			c0 = cpu_ns();
			dmasync_trace_async_begin(((u64)r->mode << 32) | n, "frame %u [%s]", n,
						  mode_names[r->mode]);
			fifo_push(&r->present_q, (struct msg){ .frame = n, .slot = b,
							      .t = fs->t_present });
			fs->present_cpu_ns = cpu_ns() - c0;
			span_end(log, s);
		}
		fs->acq_fence_ns = fs->acq_t1 - fs->acq_t0;
		fs->present_ns = log->v[s].t1 - log->v[s].t0;
	}
	(void)sink;
	return NULL;
}

static void *compositor_main(void *arg)
{
	struct run *r = arg;
	struct mode_result *res = r->res;
	struct span_log *log = &res->log[ACTOR_COMPOSITOR];
	unsigned int w = r->cfg->width, h = r->cfg->height;

	name_thread(r, "compositor");
	for (unsigned int i = 0; i < res->frames; i++) {
		struct msg m = fifo_pop(&r->present_q, r->timeout_ms, "compositor");
		struct buffer *src = &r->swap[m.slot], *dst;
		struct dma_buf_import_sync_file im;
		struct dma_fence *cf;
		uint32_t o = m.frame % OUTPUT_LEN;
		enum verdict v;
		size_t s;
		int cfd;

		/* Implicit sync: readable once every writer is done. */
		s = span_begin(log, SPAN_COMP_WAIT, m.frame);
		if (!poll_one(src->fd, POLLIN, r->timeout_ms, true))
			die("compositor: buffer of frame %u never became readable", m.frame);
		if (r->mode == MODE_NO_SYNC)
			handshake_wait(r, &r->half_written, m.frame, "compositor");
		/*
		 * Begin the CPU read now, while the buffer is ours: once it is
		 * handed back, the client may attach its next writer, and a
		 * SYNC_START after that would wait for it (which waits for us).
		 */
		cpu_access(src, DMA_BUF_SYNC_START | DMA_BUF_SYNC_READ, "SYNC_START client buffer");
		span_end(log, s);
		res->fs[m.frame].t_comp_wake = log->v[s].t1;

		/* An output buffer: FIFO depth, then the display's scanout fence. */
		s = span_begin(log, SPAN_OUT_WAIT, m.frame);
		fifo_wait_below(&r->display_q, OUTPUT_LEN - 1, r->timeout_ms, "compositor");
		dst = &r->out[o];
		if (!poll_one(dst->fd, POLLOUT, r->timeout_ms, true))
			die("compositor: output buffer %u never became idle", o);
		cpu_access(dst, DMA_BUF_SYNC_START | DMA_BUF_SYNC_WRITE, "SYNC_START output");
		span_end(log, s);

		/* Our fence: a reader of the client buffer, the writer of the output. */
		cf = sync_pt_create(r->comp_tl, m.frame + 1);
		if (!cf)
			die("sync_pt_create failed");
		cfd = sync_file_create_fd(cf);
		if (cfd < 0)
			die("sync_file_create_fd: %s", strerror(-cfd));
		im = (struct dma_buf_import_sync_file){ .flags = DMA_BUF_SYNC_READ, .fd = cfd };
		xioctl(src->fd, DMA_BUF_IOCTL_IMPORT_SYNC_FILE, &im, "IMPORT_SYNC_FILE (read)");
		im.flags = DMA_BUF_SYNC_WRITE;
		xioctl(dst->fd, DMA_BUF_IOCTL_IMPORT_SYNC_FILE, &im, "IMPORT_SYNC_FILE (write)");
		close(cfd);

		/* The read fence protects the buffer: hand it back right away. */
		fifo_push(&r->release_q, (struct msg){ .slot = m.slot });
		fifo_push(&r->display_q, (struct msg){ .frame = m.frame, .slot = o, .t = m.t });

		s = span_begin(log, SPAN_COMPOSITE, m.frame);
		v = image_verify_copy(src->map, dst->map, w, h, m.frame);
		cpu_access(src, DMA_BUF_SYNC_END | DMA_BUF_SYNC_READ, "SYNC_END client buffer");
		cpu_access(dst, DMA_BUF_SYNC_END | DMA_BUF_SYNC_WRITE, "SYNC_END output");
		if (r->mode == MODE_NO_SYNC)
			handshake_set(r, &r->comp_read, m.frame);
		res->fs[m.frame].verdict = (uint8_t)v;
		sync_timeline_signal(r->comp_tl, 1);
		span_end(log, s);
		dma_fence_put(cf);
	}
	return NULL;
}

static void sleep_until(int64_t t)
{
	struct timespec ts = { .tv_sec = t / 1000000000, .tv_nsec = t % 1000000000 };

	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
		;
}

static void *display_main(void *arg)
{
	struct run *r = arg;
	struct mode_result *res = r->res;
	struct span_log *log = &res->log[ACTOR_DISPLAY];
	int64_t refresh = (int64_t)(r->cfg->refresh_ms * 1e6);
	int64_t vblank = now_ns() + refresh, idle_since = now_ns();
	bool on_screen = false;
	uint32_t dseq = 0;
	size_t scan = 0;

	name_thread(r, "display");
	while (res->displayed < res->frames) {
		struct msg m;

		sleep_until(vblank);
		if (fifo_peek(&r->display_q, &m) &&
		    poll_one(r->out[m.slot].fd, POLLIN, 0, true)) {
			struct buffer *b = &r->out[m.slot];
			struct dma_buf_import_sync_file im = { .flags = DMA_BUF_SYNC_READ };
			struct dma_fence *df;
			uint64_t shown;

			if (on_screen)
				span_end(log, scan);
			scan = span_begin(log, SPAN_SCANOUT, m.frame);

			cpu_access(b, DMA_BUF_SYNC_START | DMA_BUF_SYNC_READ, "SYNC_START scanout");
			shown = ((const struct image_header *)b->map)->frame;
			cpu_access(b, DMA_BUF_SYNC_END | DMA_BUF_SYNC_READ, "SYNC_END scanout");
			if (shown != m.frame)
				res->display_mismatch++;

			/* Scanning out = reading: attach our fence, flip away from the last. */
			df = sync_pt_create(r->disp_tl, ++dseq);
			if (!df)
				die("sync_pt_create failed");
			im.fd = sync_file_create_fd(df);
			if (im.fd < 0)
				die("sync_file_create_fd: %s", strerror(-im.fd));
			xioctl(b->fd, DMA_BUF_IOCTL_IMPORT_SYNC_FILE, &im, "IMPORT_SYNC_FILE (scanout)");
			close(im.fd);
			dma_fence_put(df);
			if (on_screen)
				sync_timeline_signal(r->disp_tl, 1);
			on_screen = true;
			/* Only now may the compositor reuse an output: ours is fenced. */
			fifo_pop(&r->display_q, r->timeout_ms, "display");

			res->fs[m.frame].t_display = vblank;
			res->fs[m.frame].shown++;
			res->display_order[res->displayed++] = m.frame;
			dmasync_trace_async_end(((u64)r->mode << 32) | m.frame);
			idle_since = now_ns();
		} else if (res->displayed) {
			res->repeats++;
		}
		if (now_ns() - idle_since > (int64_t)r->timeout_ms * 1000000)
			die("display: no frame for %ld ms", r->timeout_ms);
		vblank += refresh;
	}
	/* Flip away from the last frame at the next refresh. */
	sleep_until(vblank);
	if (on_screen) {
		span_end(log, scan);
		sync_timeline_signal(r->disp_tl, 1);
	}
	return NULL;
}

/* ---- setup and teardown ---------------------------------------------------------- */

static void buffer_alloc(int heap, struct buffer *b, size_t size)
{
	struct dma_heap_allocation_data a = {
		.len = size, .fd_flags = O_RDWR | O_CLOEXEC,
	};

	xioctl(heap, DMA_HEAP_IOCTL_ALLOC, &a, "DMA_HEAP_IOCTL_ALLOC");
	b->fd = (int)a.fd;
	b->size = size;
	b->map = dmasync_mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, b->fd, 0);
	if (b->map == MAP_FAILED)
		die("mmap of a dma-buf: %s", strerror(errno));
	b->dmabuf = dma_buf_get(b->fd);
	if (IS_ERR(b->dmabuf))
		die("dma_buf_get: %s", strerror((int)-PTR_ERR(b->dmabuf)));
}

static void buffer_free(struct buffer *b)
{
	munmap(b->map, b->size);
	dma_buf_put(b->dmabuf);
	dmasync_close(b->fd);
}

void mode_result_free(struct mode_result *res)
{
	for (int a = 0; a < ACTOR_COUNT; a++)
		span_log_free(&res->log[a]);
	free(res->fs);
	free(res->display_order);
	res->fs = NULL;
	res->display_order = NULL;
}

int run_mode(const struct config *cfg, enum mode mode, struct mode_result *res)
{
	struct run *r = calloc(1, sizeof(*r));
	size_t size = image_bytes(cfg->width, cfg->height);
	pthread_t gpu, comp, disp, client;
	pthread_condattr_t a;
	int heap;

	if (!r)
		die("out of memory");
	memset(res, 0, sizeof(*res));
	res->mode = mode;
	res->frames = cfg->frames;
	res->fs = calloc(cfg->frames, sizeof(*res->fs));
	res->display_order = calloc(cfg->frames, sizeof(*res->display_order));
	if (!res->fs || !res->display_order)
		die("out of memory");

	r->cfg = cfg;
	r->mode = mode;
	r->res = res;
	r->timeout_ms = cfg->timeout_ms;
	r->half_written = r->comp_read = -1;
	fifo_init(&r->present_q);
	fifo_init(&r->release_q);
	fifo_init(&r->display_q);
	pthread_mutex_init(&r->gpu_lock, NULL);
	pthread_cond_init(&r->gpu_cond, NULL);
	pthread_mutex_init(&r->hs_lock, NULL);
	pthread_condattr_init(&a);
	pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
	pthread_cond_init(&r->hs_cond, &a);
	pthread_condattr_destroy(&a);

	heap = dmasync_open("/dev/dma_heap/system", O_RDONLY | O_CLOEXEC);
	if (heap < 0)
		die("open /dev/dma_heap/system: %s", strerror(errno));
	for (int i = 0; i < SWAPCHAIN_LEN; i++)
		buffer_alloc(heap, &r->swap[i], size);
	for (int i = 0; i < OUTPUT_LEN; i++)
		buffer_alloc(heap, &r->out[i], size);
	close(heap);
	r->gpu_tl = sync_timeline_create("gpu-queue");
	r->comp_tl = sync_timeline_create("compositor");
	r->disp_tl = sync_timeline_create("display");
	if (!r->gpu_tl || !r->comp_tl || !r->disp_tl)
		die("sync_timeline_create failed");
	for (uint32_t i = 0; i < SWAPCHAIN_LEN; i++)
		fifo_push(&r->release_q, (struct msg){ .slot = i });

	res->t_start = now_ns();
	if (pthread_create(&gpu, NULL, gpu_main, r) || pthread_create(&comp, NULL, compositor_main, r) ||
	    pthread_create(&disp, NULL, display_main, r) ||
	    pthread_create(&client, NULL, client_main, r))
		die("pthread_create failed");
	pthread_join(client, NULL);
	pthread_join(comp, NULL);
	pthread_join(disp, NULL);
	pthread_mutex_lock(&r->gpu_lock);
	r->gpu_stop = true;
	pthread_cond_signal(&r->gpu_cond);
	pthread_mutex_unlock(&r->gpu_lock);
	pthread_join(gpu, NULL);
	res->t_end = now_ns();
	res->ran = true;

	sync_timeline_destroy(r->gpu_tl);
	sync_timeline_destroy(r->comp_tl);
	sync_timeline_destroy(r->disp_tl);
	for (int i = 0; i < SWAPCHAIN_LEN; i++)
		buffer_free(&r->swap[i]);
	for (int i = 0; i < OUTPUT_LEN; i++)
		buffer_free(&r->out[i]);
	fifo_destroy(&r->present_q);
	fifo_destroy(&r->release_q);
	fifo_destroy(&r->display_q);
	pthread_mutex_destroy(&r->gpu_lock);
	pthread_cond_destroy(&r->gpu_cond);
	pthread_mutex_destroy(&r->hs_lock);
	pthread_cond_destroy(&r->hs_cond);
	free(r);
	return 0;
}
