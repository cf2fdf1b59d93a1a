/* SPDX-License-Identifier: MIT */
/*
 * The simulated GPU: one queue thread runs jobs in submission order, each
 * signaling the next point of a sw_sync timeline when it completes (the
 * job's fence, handed out as the sync file SW_SYNC_IOC_CREATE_FENCE
 * makes).  A render job writes the frame's pixels through the dma-buf's
 * mapping over a configurable time (sleeping between bands, as a GPU
 * costs the CPU nothing while it works), then its stamp.  Buffers come from
 * /dev/udmabuf (a sealed memfd) or /dev/dma_heap/system.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <linux/dma-buf.h>
#include <linux/dma-heap.h>

#include "gpu.h"

#define BANDS 8

enum job_type { JOB_RENDER, JOB_NOOP };

struct job {
	enum job_type type;
	unsigned int b;
	uint32_t frame;
	int dep_fd;
	struct job *next;
};

struct sim {
	int timeline;
	uint32_t seqno;
	void *map[NBUFFERS];
	pthread_t thread;
	bool running;			/* the queue thread was started */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct job *head, *tail;
	bool stop;
	/* queue statistics, thread-private until joined */
	unsigned int jobs;
	int64_t busy_ns, first, last;
	/* the last render job's numbers */
	int64_t render_t0, render_t1;
	int64_t overhead_ns;
};

static int alloc_heap(size_t size)
{
	struct dma_heap_allocation_data a = { .len = size, .fd_flags = O_RDWR | O_CLOEXEC };
	int heap = open("/dev/dma_heap/system", O_RDWR | O_CLOEXEC), err;

	if (heap < 0)
		return -errno;
	err = ioctl(heap, DMA_HEAP_IOCTL_ALLOC, &a) < 0 ? -errno : (int)a.fd;
	close(heap);
	return err;
}

/* Sync file of the next timeline point; the job that signals it is queued next. */
static int next_fence(struct sim *s, const char *what, uint32_t frame, int *fd)
{
	struct sw_sync_create_fence_data d = { .value = s->seqno + 1 };

	snprintf(d.name, sizeof(d.name), "%s-%u", what, frame);
	if (ioctl(s->timeline, SW_SYNC_IOC_CREATE_FENCE, &d) < 0)
		return -errno;
	s->seqno++;
	*fd = d.fence;
	return 0;
}

static void signal_next(struct sim *s)
{
	__u32 one = 1;

	if (ioctl(s->timeline, SW_SYNC_IOC_INC, &one) < 0)
		die("SW_SYNC_IOC_INC: %s", strerror(errno));
}

/**
 * run_render() - the render job: the frame's pixels, band by band.
 * @g: the GPU
 * @s: its queue
 * @j: the job
 *
 * Every band is written at its time in the job's budget (cfg.gpu_ms); the
 * stamp goes last.  With cfg.hold (no-sync) the job stalls for cfg.hold_ms
 * half-way, the way a slow GPU leaves a buffer half-written for whoever
 * reads it without waiting.
 */
static void run_render(struct gpu *g, struct sim *s, struct job *j)
{
	const struct gpu_buffer *gb = &g->buf[j->b];
	char *base = (char *)s->map[j->b] + gb->offset;
	unsigned int h = g->cfg.height;
	int64_t t0 = now_ns(), budget = (int64_t)(g->cfg.gpu_ms * 1e6), c0;
	uint64_t sum = 0;

	for (unsigned int k = 0; k < BANDS; k++) {
		sum += image_render_rows(base, gb->stride, g->cfg.width, h * k / BANDS,
					 h * (k + 1) / BANDS, j->frame);
		if (k == BANDS / 2 - 1 && g->cfg.hold) {
			int64_t h0 = now_ns();

			sleep_until_ns(h0 + (int64_t)(g->cfg.hold_ms * 1e6));
			out_span(SPAN_HOLD, j->frame, h0, now_ns());
			t0 += now_ns() - h0;
		}
		sleep_until_ns(t0 + budget * (k + 1) / BANDS);
	}
	image_stamp(base, j->frame, sum);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	c0 = cpu_ns();
	signal_next(s);
	s->overhead_ns = cpu_ns() - c0;
	s->render_t0 = t0;
	s->render_t1 = now_ns();
	out_span(SPAN_RENDER, j->frame, t0, s->render_t1);
}

/**
 * queue_main() - the simulated GPU: runs jobs in submission order.
 * @arg: the GPU
 *
 * Each job first waits for its dependency (a sync file), then runs and
 * signals the next point of the timeline: job n's fence is point n.
 *
 * Return: NULL.
 */
static void *queue_main(void *arg)
{
	struct gpu *g = arg;
	struct sim *s = g->priv;

	out_thread_name(gettid_cached(), "GPU queue (simulated, sw_sync timeline)");
	for (;;) {
		struct job *j;
		int64_t t0, t1, c0;

		pthread_mutex_lock(&s->lock);
		while (!s->head && !s->stop)
			pthread_cond_wait(&s->cond, &s->lock);
		j = s->head;
		if (j) {
			s->head = j->next;
			if (!s->head)
				s->tail = NULL;
		}
		pthread_mutex_unlock(&s->lock);
		if (!j)
			break;
		if (j->dep_fd >= 0) {
			int64_t w0 = now_ns();
			int r = wait_fd(j->dep_fd, POLLIN, -1, g->cfg.timeout_ms);

			if (r < 0)
				die("GPU: dependency of frame %u: %s", j->frame, strerror(-r));
			out_span(SPAN_DEP_WAIT, j->frame, w0, now_ns());
			close(j->dep_fd);
		}
		t0 = now_ns();
		c0 = cpu_ns();
		if (j->type == JOB_RENDER) {
			run_render(g, s, j);
			if (out.rec)
				fprintf(out.rec, "G %u %lld %lld %lld\n", j->frame,
					(long long)s->render_t0, (long long)s->render_t1,
					(long long)s->overhead_ns);
		} else {
			int64_t c;

			signal_next(s);
			t1 = now_ns();
			c = cpu_ns() - c0;
			out_span(SPAN_NOOP, j->frame, t0, t1);
			if (out.rec)
				fprintf(out.rec, "N %u %lld %lld\n", j->frame, (long long)c,
					(long long)t1);
		}
		t1 = now_ns();
		if (!s->jobs)
			s->first = t0;
		s->jobs++;
		s->busy_ns += t1 - t0;
		s->last = t1;
		free(j);
	}
	return NULL;
}

static void sim_free(struct gpu *g);

/**
 * sim_init() - the simulated GPU: its timeline, buffers and queue thread.
 * @g: the GPU; fills g->buf
 *
 * On error everything made so far is freed again (sim_free()).
 *
 * Return: 0 or a negative errno.
 */
static int sim_init(struct gpu *g)
{
	struct sim *s = calloc(1, sizeof(*s));
	size_t size, page;
	int err;

	if (!s)
		return -ENOMEM;
	g->priv = s;
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->cond, NULL);
	for (int b = 0; b < NBUFFERS; b++)
		g->buf[b].fd = -1;
	s->timeline = open(SW_SYNC_PATH, O_RDWR | O_CLOEXEC);
	if (s->timeline < 0) {
		err = -errno;
		goto free_sim;
	}
	page = (size_t)sysconf(_SC_PAGESIZE);
	size = (size_t)g->cfg.width * 4 * (g->cfg.height + 1);
	size = (size + page - 1) / page * page;
	for (int b = 0; b < NBUFFERS; b++) {
		int fd = strcmp(g->cfg.alloc, "heap") ? udmabuf_alloc(size) : alloc_heap(size);
		void *map;

		if (fd < 0) {
			err = fd;
			goto free_sim;
		}
		g->buf[b] = (struct gpu_buffer){ .fd = fd, .offset = 0,
						 .stride = g->cfg.width * 4, .size = size };
		map = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		if (map == MAP_FAILED) {
			err = -errno;
			goto free_sim;
		}
		s->map[b] = map;
		/* Start as an older frame than any: a buffer never written is stale. */
		memset(map, 0, size);
	}
	err = -pthread_create(&s->thread, NULL, queue_main, g);
	if (err)
		goto free_sim;
	s->running = true;
	return 0;

free_sim:
	sim_free(g);
	return err;
}

static void sim_prepare(struct gpu *g, unsigned int b, uint32_t frame)
{
}

static void push(struct sim *s, struct job *j)
{
	pthread_mutex_lock(&s->lock);
	if (s->tail)
		s->tail->next = j;
	else
		s->head = j;
	s->tail = j;
	pthread_cond_signal(&s->cond);
	pthread_mutex_unlock(&s->lock);
}

/**
 * submit() - queue a job on the simulated GPU.
 * @g: the GPU
 * @type: render or no-op
 * @b: the buffer it writes
 * @frame: frame number (names the fence)
 * @dep_fd: a sync file the job waits for first, or -1; consumed, on
 *          success (the queue thread closes it) and on error alike
 * @implicit: attach the job's fence to @b's dma-buf as a writer
 * @out_fd: the job's fence as a sync file, the caller's to close; or NULL
 *
 * Called on the client's thread; takes the queue lock only to append.
 *
 * Return: 0, or a negative errno (nothing queued).
 */
static int submit(struct gpu *g, enum job_type type, unsigned int b, uint32_t frame, int dep_fd,
		  bool implicit, int *out_fd)
{
	struct sim *s = g->priv;
	struct job *j = calloc(1, sizeof(*j));
	int fd = -1, err;

	if (!j) {
		err = -ENOMEM;
		goto close_dep;
	}
	*j = (struct job){ .type = type, .b = b, .frame = frame, .dep_fd = dep_fd };
	err = next_fence(s, type == JOB_RENDER ? "render" : "noop", frame, &fd);
	if (err)
		goto free_job;
	if (implicit) {
		err = dmabuf_attach_writer(g->buf[b].fd, fd);
		if (err)
			goto close_fence;
	}
	push(s, j);
	if (out_fd)
		*out_fd = fd;
	else
		close(fd);
	return 0;

close_fence:
	close(fd);
free_job:
	free(j);
close_dep:
	if (dep_fd >= 0)
		close(dep_fd);
	return err;
}

static int sim_render(struct gpu *g, unsigned int b, uint32_t frame, int dep_fd, bool implicit,
		      int *out_fd)
{
	return submit(g, JOB_RENDER, b, frame, dep_fd, implicit, out_fd);
}

static int sim_dummy(struct gpu *g, unsigned int b, uint32_t frame)
{
	return submit(g, JOB_NOOP, b, frame, -1, true, NULL);
}

/* What sim_init() made, however far it got; g->priv is NULL after. */
static void sim_free(struct gpu *g)
{
	struct sim *s = g->priv;

	for (int b = 0; b < NBUFFERS; b++) {
		if (s->map[b])
			munmap(s->map[b], g->buf[b].size);
		if (g->buf[b].fd >= 0)
			close(g->buf[b].fd);
		g->buf[b].fd = -1;
	}
	if (s->timeline >= 0)
		close(s->timeline);
	pthread_cond_destroy(&s->cond);
	pthread_mutex_destroy(&s->lock);
	free(s);
	g->priv = NULL;
}

/* Drain and stop the queue thread, write the queue's "Q" record, free. */
static void sim_finish(struct gpu *g)
{
	struct sim *s = g->priv;

	if (!s)
		return;
	if (s->running) {
		pthread_mutex_lock(&s->lock);
		s->stop = true;
		pthread_cond_signal(&s->cond);
		pthread_mutex_unlock(&s->lock);
		pthread_join(s->thread, NULL);
	}
	if (out.rec)
		fprintf(out.rec, "Q %u %lld %lld %lld\n", s->jobs, (long long)s->busy_ns,
			(long long)s->first, (long long)s->last);
	sim_free(g);
}

const struct gpu_ops gpu_sim_ops = {
	.name = "simulated",
	.init = sim_init,
	.prepare = sim_prepare,
	.render = sim_render,
	.dummy = sim_dummy,
	.finish = sim_finish,
};
