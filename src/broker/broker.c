/* SPDX-License-Identifier: MIT */
/*
 * dmasyncd's request loop: accept same-uid clients, execute their requests
 * against the engine with the fds they carried, reply.  One thread; the
 * engine's own monitor thread releases objects whose last fd was closed.
 * The loop never waits for a client: replies are sent without blocking,
 * and a client that does not read its replies is disconnected.
 * See docs/design.md.
 */
#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <linux/sync_file.h>

#include <dmasync/dma-buf.h>
#include <dmasync/dma-resv.h>
#include <dmasync/sw_sync.h>

#include "broker.h"
#include "diag.h"
#include "engine.h"
#include "fault.h"
#include "sw_sync_uapi.h"
#include "proxy.h"
#include "tlpage.h"
#include "watchdog.h"
#include "ipc.h"
#include "schema.h"

#define PAGE 4096u

/*
 * What a client owns: the objects it made that are still alive.  Outlives
 * the client while they live (released from the engine's threads).
 */
struct broker_owner {
	unsigned long refs;	/* the client's, plus one per object */
	unsigned long objects;
	pid_t pid;		/* the client's, from its HELLO (listings) */
	char comm[16];
	struct diag *diag;	/* what it asked for at HELLO (atomic), or NULL */
	int access_fd;		/* IPC_ACCESS_CHANNEL while the client is
				 * connected, else -1 (main thread only) */
};

/* "\tPID\tCOMM" of an object's owner, for engine_list(). */
static void describe_owner(void *owner, FILE *out)
{
	struct broker_owner *o = owner;

	fprintf(out, "\t%d\t%s", (int)o->pid, o->comm[0] ? o->comm : "-");
}

/* The client's command name, as /proc shows it (same user: readable). */
static void read_comm(pid_t pid, char *comm, size_t len)
{
	char path[40];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/comm", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	n = read(fd, comm, len - 1);
	close(fd);
	if (n <= 0)
		return;
	comm[n] = '\0';
	for (ssize_t i = 0; i < n; i++)
		if ((unsigned char)comm[i] < 0x20)
			comm[i] = i == n - 1 ? '\0' : '?';
}

struct broker_client {
	int fd;
	pid_t pid;
	uint64_t requests;
	struct broker_owner *owner;
	struct proxy_set proxies;	/* its own fences' stand-ins */
	int own_fd;			/* IPC_OWN_FD (-1: none) */
	int *carried;			/* IPC_FDS for its next IPC_IOCTL */
	unsigned int n_carried;
	bool hello;			/* a HELLO of our version was answered */
	struct broker_client *next;
};

static unsigned long max_objects = 65536;

static void owner_put(struct broker_owner *o)
{
	if (__atomic_sub_fetch(&o->refs, 1, __ATOMIC_ACQ_REL) == 0) {
		diag_put(o->diag);
		free(o);
	}
}

/*
 * Whether the client's fd @fd is one of our own files: a socket whose peer
 * we made (a client's connection, the end of a sync file, timeline, device
 * or readiness mirror: their peers are ours), or the timeline page.  We
 * keep no such fd for a client (as its log or access channel): our own
 * end of a socket would then never hang up, so what its last close
 * releases (the client itself, an object) would live for ever, and log
 * lines would be written into the page.  Nor do we adopt the page as a
 * buffer: it would live as long as we do.
 */
static bool ours(int fd)
{
	struct ucred cr;
	socklen_t len = sizeof(cr);
	struct stat st;

	if (!getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len))
		return cr.pid == getpid();
	return !fstat(fd, &st) && broker_tlpage_is(st.st_dev, st.st_ino);
}

/*
 * DMA_BUF_IOCTL_SYNC of a buffer another process adopted with exporter ops
 * (the engine's hook, main thread): the op runs in its maker, asked on the
 * channel the maker gave us (IPC_CPU_ACCESS) with one end of a new socket
 * pair, whose other end goes to the caller to wait on.  We never wait.
 * Return: that end, 0 if there is nobody to ask (the maker is gone: its
 * ops went with it), or a negative errno.
 */
static int ask_exporter(void *maker, dev_t dev, ino_t ino, unsigned int op, int dir)
{
	struct broker_owner *o = maker;
	struct ipc_msg msg = { .hdr = { .op = IPC_CPU_ACCESS, .arg0 = (uint64_t)dev,
					.arg1 = (uint64_t)ino,
					.arg2 = op | (uint64_t)dir << 8 } };
	int sv[2], r;

	if (o->access_fd < 0)
		return 0;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv))
		return errno == EMFILE || errno == ENFILE ? -ENOMEM : -errno;
	msg.fds[0] = sv[1];
	msg.nfds = 1;
	r = ipc_send(o->access_fd, &msg, MSG_DONTWAIT);
	close(sv[1]);
	if (!r)
		return sv[0];
	close(sv[0]);
	if (r == -EAGAIN || r == -ENOBUFS || r == -ENOMEM)
		return -ENOMEM;	/* its queue is full: the maker is stuck */
	/* Hung up: the maker is gone, and its ops with it. */
	close(o->access_fd);
	o->access_fd = -1;
	return 0;
}

/* For the watchdog (main thread, the owner held by a live object). */
static struct diag *owner_diag(void *owner)
{
	return __atomic_load_n(&((struct broker_owner *)owner)->diag, __ATOMIC_ACQUIRE);
}

static void owner_describe(void *owner, char *buf, size_t len)
{
	struct broker_owner *o = owner;

	snprintf(buf, len, "pid %d (%s)", (int)o->pid, o->comm[0] ? o->comm : "-");
}

/*
 * The client of @o is gone.  If its log is a file that is also one of the
 * buffers it owns (a memfd given as HELLO's log, then adopted), our copy
 * of the log would keep that buffer, hence @o and the copy itself, alive
 * for ever: the buffer's last close would never come.  Drop the log.
 */
static void owner_drop_own_log(struct broker_owner *o)
{
	struct diag *d = __atomic_load_n(&o->diag, __ATOMIC_ACQUIRE);

	if (d && d->log_ino && engine_is_buffer(d->log_dev, d->log_ino))
		diag_drop_log(d);
}

/* The engine released an object @o owned (any thread). */
static void owner_released(void *owner)
{
	struct broker_owner *o = owner;

	__atomic_sub_fetch(&o->objects, 1, __ATOMIC_RELAXED);
	owner_put(o);
}

static struct broker_client *clients;
static unsigned int n_clients;
static uint64_t n_requests;
static uint64_t n_nudges, n_rings;	/* IPC_STATS */
static uint64_t instance_id;
static char rx[IPC_MAX_PAYLOAD];
static char tx[IPC_MAX_PAYLOAD];

/*
 * The replica of a caller's argument region: RW pages followed by one
 * PROT_NONE guard page, so that a region whose caller-side copy stopped
 * at a fault can be laid out to fault at the same offset for the engine.
 */
#define SCRATCH_PAGES 16
static char *scratch;

/* Fault injection and the watchdog, with the broker's own --watchdog. */
static void diagnostics_init(const struct broker_options *opt)
{
	struct watchdog_owner_ops ops = { .diag_of = owner_diag, .describe = owner_describe };
	struct diag *fallback = NULL;

	fault_init(owner_diag);
	if (opt->watchdog_ms) {
		char text[32];
		int log = opt->log_fd >= 0 ? fcntl(opt->log_fd, F_DUPFD_CLOEXEC, 3) : -1;

		snprintf(text, sizeof(text), "watchdog=%u\n", opt->watchdog_ms);
		fallback = diag_create(text, strlen(text), log, getpid(), "dmasyncd");
	}
	watchdog_init(&ops, fallback);
	diag_put(fallback);
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* ---- ioctls ------------------------------------------------------------------------- */

static uint32_t rd32(const void *p, size_t off)
{
	uint32_t v;

	memcpy(&v, (const char *)p + off, 4);
	return v;
}

static void wr32(void *p, size_t off, uint32_t v)
{
	memcpy((char *)p + off, &v, 4);
}

/* What a client learns of the object @fd: @info as a struct ipc_newfd.  A
 * dma-buf's slot in the page says how ready it is now. */
static void describe_one(const struct engine_obj_info *info, int fd, struct ipc_newfd *nf)
{
	memset(nf, 0, sizeof(*nf));
	nf->kind = info->kind;
	nf->dev = (uint64_t)info->dev;
	nf->ino = (uint64_t)info->ino;
	nf->size = info->size;
	nf->flags = info->stub ? IPC_NEWFD_STUB : 0;
	if (info->kind == IPC_KIND_DMA_BUF) {
		if (!broker_tlpage_buf_describe(info->dev, info->ino, engine_dmabuf_ready(fd),
						&nf->tl_slot, &nf->tl_gen))
			nf->tl_slot = nf->tl_gen = 0;
	} else if (info->context && broker_tlpage_lookup(info->context, &nf->tl_slot, &nf->tl_gen)) {
		nf->mark = info->mark;
		memcpy(nf->name, info->name, sizeof(nf->name));
	} else if (info->n_points) {
		unsigned int i;

		for (i = 0; i < info->n_points; i++) {
			struct ipc_point *pt = &nf->points[i];

			if (!broker_tlpage_lookup(info->contexts[i], &pt->tl_slot, &pt->tl_gen))
				break;
			pt->mark = info->marks[i];
		}
		if (i == info->n_points) {
			nf->n_points = i;
			memcpy(nf->name, info->name, sizeof(nf->name));
		} else {
			memset(nf->points, 0, sizeof(nf->points));
		}
	} else {
		nf->tl_slot = 0;
		nf->tl_gen = 0;
	}
}

/* Append a struct ipc_newfd for each fd of @out to @buf at *@len. */
static void describe_fds(struct broker_client *c, struct ipc_msg *out, char *buf, size_t *len)
{
	for (unsigned int i = 0; i < out->nfds; i++) {
		struct engine_obj_info info = { 0 };
		struct ipc_newfd nf;
		bool claimed;
		int fl;

		/* Counted against its maker until it is released. */
		engine_identify_claim(out->fds[i], &info, c ? c->owner : NULL, owner_released,
				      &claimed);
		/* Every sync file is made close-on-exec (sync_file.c), as Linux
		 * makes them: no need to ask. */
		fl = info.kind == IPC_KIND_SYNC_FILE ? FD_CLOEXEC : fcntl(out->fds[i], F_GETFD);
		/* Recognisable as ours even after we are gone (ipc.h).  Of the
		 * dma-bufs, a udmabuf is a socket; a heap buffer is a memfd,
		 * which refuses the mark (ENOTSOCK) and is told by its name. */
		if (info.kind != IPC_KIND_NONE)
			ipc_mark_fd(out->fds[i], info.kind);
		if (claimed) {
			__atomic_add_fetch(&c->owner->refs, 1, __ATOMIC_RELAXED);
			__atomic_add_fetch(&c->owner->objects, 1, __ATOMIC_RELAXED);
		}
		describe_one(&info, out->fds[i], &nf);
		/* FD_CLOEXEC as the request gave it (they travel without it). */
		nf.flags |= fl >= 0 && !(fl & FD_CLOEXEC) ? IPC_NEWFD_INHERIT : 0;
		if (*len + sizeof(nf) <= IPC_MAX_PAYLOAD) {
			memcpy(buf + *len, &nf, sizeof(nf));
			*len += sizeof(nf);
		}
	}
}

/* SW_SYNC_IOC_INC of a timeline with a fast slot: through the page. */
static bool page_inc(int fd, uint32_t inc)
{
	struct sync_timeline *tl = engine_timeline_get(fd, NULL);
	bool done;

	if (!tl)
		return false;
	done = broker_tlpage_inc(tl, inc);
	sync_timeline_put(tl);
	return done;
}

static void do_ioctl(struct broker_client *c, struct ipc_msg *in, struct ipc_msg *out)
{
	struct ipc_ioctl io, *ro = (void *)tx;
	const struct schema_layout *lay;
	char *region, *array = NULL;
	uint32_t in_fields[SCHEMA_UDMABUF_LIST_LIMIT + 1];
	int out_before[SCHEMA_MAX_FD_FIELDS];
	bool out_was_open[SCHEMA_MAX_FD_FIELDS];
	unsigned int n_fields = 0;
	const char *idx;
	size_t array_bytes = 0, region_len, len;
	struct engine_obj_info target = { 0 };
	long ret;

	if (in->hdr.len < sizeof(io) || in->nfds < 1) {
		out->hdr.ret = -EPROTO;
		return;
	}
	memcpy(&io, in->payload, sizeof(io));
	/*
	 * The layout is the target's, whatever kind the client claims: the fds
	 * handed over are taken from the fields its handler writes, so a claim
	 * must never make us read a number the client chose (and send, then
	 * close, one of our own).
	 */
	io.kind = engine_identify(in->fds[0], &target);
	if (io.kind == IPC_KIND_NONE) {
		out->hdr.ret = -ENOTTY;
		if (in->hdr.flags & IPC_IOCTL_UNIDENTIFIED)
			out->hdr.arg0 = IPC_IOCTL_NOT_OURS;
		return;
	}
	if (io.in_len > in->hdr.len - sizeof(io) ||
	    io.in_fd_count > (in->hdr.len - sizeof(io) - io.in_len) / sizeof(uint16_t) ||
	    io.in_len > (SCRATCH_PAGES - 1) * PAGE || io.out_len > 16384) {
		out->hdr.ret = -EPROTO;
		return;
	}
	idx = (const char *)in->payload + sizeof(io) + io.in_len;
	lay = schema_lookup((enum ipc_kind)io.kind, io.request);
	region_len = io.in_len > io.out_len ? io.in_len : io.out_len;
	if (lay->region == REGION_STRING && region_len < lay->max)
		region_len = lay->max;
	/* The handler reads and writes its whole argument: all of it ours,
	 * zeroed past the caller's bytes (unless they end at a fault). */
	if (!io.in_fault && region_len < _IOC_SIZE(io.request))
		region_len = _IOC_SIZE(io.request);
	/* Lay the region out so that a fault falls where it fell for the caller. */
	if (io.in_fault)
		region = scratch + SCRATCH_PAGES * PAGE - io.in_len;
	else
		region = scratch;
	/* What the handler may touch beyond the caller's bytes reads as 0. */
	memcpy(region, (char *)in->payload + sizeof(io), io.in_len);
	if (region_len > io.in_len && !io.in_fault)
		memset(region + io.in_len, 0, region_len - io.in_len);

	/* Input fd fields: the fds that came, or -1 for one that was not open. */
	if (lay->region == REGION_UDMABUF_LIST) {
		uint32_t count = io.in_len >= SCHEMA_UDMABUF_HEAD ? rd32(region, 4) : 0;

		if (count <= SCHEMA_UDMABUF_LIST_LIMIT &&
		    io.in_len >= SCHEMA_UDMABUF_HEAD + count * SCHEMA_UDMABUF_ITEM && !io.in_fault)
			for (uint32_t i = 0; i < count; i++)
				in_fields[n_fields++] = SCHEMA_UDMABUF_HEAD + i * SCHEMA_UDMABUF_ITEM;
	} else {
		for (unsigned int i = 0; i < lay->n_in_fds; i++)
			if (lay->in_fd[i] + 4u <= io.in_len)
				in_fields[n_fields++] = lay->in_fd[i];
	}
	for (unsigned int i = 0; i < n_fields; i++) {
		uint16_t k = 0;
		int v = -1;

		if (i < io.in_fd_count)
			memcpy(&k, idx + i * sizeof(k), sizeof(k));
		if (k && k < in->nfds)
			v = in->fds[k];
		else if (k >= in->nfds && k - in->nfds < c->n_carried)
			v = c->carried[k - in->nfds];
		wr32(region, in_fields[i], (uint32_t)v);
	}

	/* FILE_INFO's array: ours, as large as what the handler may write. */
	if (lay->array_elem && io.in_len >= lay->array_ptr + 8u) {
		uint32_t want = rd32(region, lay->array_count);
		long have = engine_sync_file_count(in->fds[0]);
		uint64_t p;

		if (have >= 0 && want) {
			array_bytes = (size_t)(want < (uint64_t)have ? want : (uint64_t)have) *
				      lay->array_elem;
			array = calloc(1, array_bytes ? array_bytes : 1);
			if (!array) {
				out->hdr.ret = -ENOMEM;
				return;
			}
			p = (uint64_t)(uintptr_t)array;
			memcpy(region + lay->array_ptr, &p, sizeof(p));
		}
	}

	/*
	 * Output fd fields as the client sent them, and whether each named an
	 * fd of ours already: one the handler did not overwrite is no new fd
	 * (a heap ALLOC without the read direction makes none and leaves the
	 * caller's 0 there; closing "it" closed our fd 0, someone's object).
	 */
	for (unsigned int i = 0; i < lay->n_out_fds; i++) {
		/* (a region ending at a fault ends with the caller's bytes) */
		size_t have = io.in_fault ? io.in_len : region_len;

		out_before[i] = lay->out_fd[i] + 4u <= have ? (int)rd32(region, lay->out_fd[i]) : -1;
		out_was_open[i] = out_before[i] >= 0 && fcntl(out_before[i], F_GETFD) >= 0;
	}

	/* A timeline whose maker asked for faults, or one stalled by hand. */
	if (io.kind == IPC_KIND_TIMELINE && io.request == SW_SYNC_IOC_INC && !io.in_fault &&
	    io.in_len >= 4 && (fault_inc(in->fds[0], rd32(region, 0)) ||
			       page_inc(in->fds[0], rd32(region, 0))))
		ret = 0;
	else
		ret = engine_ioctl(in->fds[0], io.request, region);

	memset(ro, 0, sizeof(*ro));
	len = sizeof(*ro);
	/* A region that ends at a fault has nothing past the caller's bytes
	 * (the guard page): what a client asks back beyond them is not there. */
	if (io.in_fault) {
		if (io.out_len > io.in_len)
			io.out_len = io.in_len;
		if (region_len > io.in_len)
			region_len = io.in_len;
	}
	if (ret >= 0) {
		ro->out_len = io.out_len;
		memcpy(tx + len, region, io.out_len);
		len += io.out_len;
		if (array) {
			uint32_t n = lay->array_count + 4u <= io.out_len ? rd32(region, lay->array_count) : 0;
			size_t bytes = (size_t)n * lay->array_elem;

			if (bytes > array_bytes)
				bytes = array_bytes;
			memcpy(tx + len, array, bytes);
			ro->array_len = (uint32_t)bytes;
			len += bytes;
		}
		if (lay->ret_fd) {
			out->fds[out->nfds++] = (int)ret;
			ro->out_fd_mask |= IPC_FD_RET;
		}
		/* The target's handler wrote each (its own layout, the region
		 * its whole argument): past what the client reads back, the new
		 * fd is closed rather than kept. */
		for (unsigned int i = 0; i < lay->n_out_fds; i++) {
			int nfd = lay->out_fd[i] + 4u <= region_len ?
					  (int)rd32(region, lay->out_fd[i]) : -1;

			if (nfd < 0 || (nfd == out_before[i] && out_was_open[i]))
				continue;	/* none made (above) */
			if (lay->out_fd[i] + 4u <= io.out_len) {
				out->fds[out->nfds++] = nfd;
				ro->out_fd_mask |= 1u << i;
			} else {
				close(nfd);	/* made, but the client did not read it back */
			}
		}
	}
	free(array);
	describe_fds(c, out, tx, &len);
	/* A target the client did not identify: described after the new
	 * fds, so that what it knows of it stays fresh (ipc.h). */
	if ((in->hdr.flags & IPC_IOCTL_UNIDENTIFIED) && len + sizeof(struct ipc_newfd) <= IPC_MAX_PAYLOAD) {
		struct ipc_newfd nf;

		/* What it is did not change (its readiness is read anew). */
		describe_one(&target, in->fds[0], &nf);
		memcpy(tx + len, &nf, sizeof(nf));
		len += sizeof(nf);
		out->hdr.flags |= IPC_IOCTL_UNIDENTIFIED;
	}
	out->hdr.ret = ret;
	out->hdr.len = (uint32_t)len;
}

/* ---- requests ----------------------------------------------------------------------- */

static const char *device_path(uint64_t dev)
{
	switch (dev) {
	case IPC_DEV_SW_SYNC:
		return "/sys/kernel/debug/sync/sw_sync";
	case IPC_DEV_UDMABUF:
		return "/dev/udmabuf";
	case IPC_DEV_HEAP_SYSTEM:
		return "/dev/dma_heap/system";
	default:
		return NULL;
	}
}

/* The fds IPC_FDS carried for @c's next IPC_IOCTL: closed. */
static void carried_drop(struct broker_client *c)
{
	for (unsigned int i = 0; i < c->n_carried; i++)
		if (c->carried[i] >= 0)
			close(c->carried[i]);
	c->n_carried = 0;
}

/*
 * IPC_FDS: keep @in's fds for @c's next IPC_IOCTL (after those carried
 * before, unless arg0 starts anew).  No more than an IPC_IOCTL can name:
 * the rest are closed (the request then finds those fields naming none).
 * Nor one of our own files (ours()): held until a request that may never
 * come, the client's own connection would keep itself alive.  Its place
 * is kept, naming none (what such a file is as a memfd: EBADFD).
 */
static void carried_take(struct broker_client *c, struct ipc_msg *in)
{
	const unsigned int max = SCHEMA_UDMABUF_LIST_LIMIT + 1;

	if (in->hdr.arg0)
		carried_drop(c);
	if (!c->carried)
		c->carried = malloc(max * sizeof(*c->carried));
	for (unsigned int i = 0; i < in->nfds; i++) {
		int fd = in->fds[i];

		if (ours(fd)) {
			close(fd);
			fd = -1;
		}
		if (c->carried && c->n_carried < max)
			c->carried[c->n_carried++] = fd;
		else if (fd >= 0)
			close(fd);
	}
	in->nfds = 0;	/* ours now */
}

/* Handle @in from @c; fill @out.  Return: false if no reply is due. */
/* For IPC_BUF_PULL: @fence is a stand-in of the asking client's own. */
static bool proxy_mine(struct dma_fence *fence, void *set)
{
	return broker_proxy_is_of(fence, set);
}

#define PUSH_MAX 1024u

/* IPC_BUF_PUSH: proxies of the client's new fences, into the buffer. */
static void buf_push(struct broker_client *c, struct ipc_msg *in, struct ipc_msg *out)
{
	dev_t dev = (dev_t)in->hdr.arg0;
	ino_t ino = (ino_t)in->hdr.arg1;
	unsigned int n = in->hdr.len / sizeof(struct ipc_push), made = 0;
	enum dma_resv_usage *usages = NULL;
	struct dma_fence **fences = NULL;
	uint64_t *ids = (void *)tx;
	int r = 0;

	if (in->hdr.len % sizeof(struct ipc_push) || !n || n > PUSH_MAX) {
		out->hdr.ret = -EPROTO;
		return;
	}
	fences = calloc(n, sizeof(*fences));
	usages = calloc(n, sizeof(*usages));
	if (!fences || !usages)
		r = -ENOMEM;
	for (; !r && made < n; made++) {
		struct ipc_push e;

		memcpy(&e, (char *)in->payload + made * sizeof(e), sizeof(e));
		if (e.usage > DMA_RESV_USAGE_BOOKKEEP) {
			r = -EINVAL;
			break;
		}
		usages[made] = (enum dma_resv_usage)e.usage;
		fences[made] = broker_proxy_fence(&c->proxies, &e.fence, &ids[made]);
		if (!fences[made])
			r = -ENOMEM;
		if (!fences[made])
			break;
	}
	out->hdr.arg0 = broker_tlpage_buf_changes(dev, ino);
	if (!r)
		r = engine_adopted_push(dev, ino, c->owner, fences, usages, n);
	out->hdr.arg1 = broker_tlpage_buf_changes(dev, ino);
	for (unsigned int i = 0; i < made; i++) {
		if (r)
			broker_proxy_abandon(fences[i]);
		dma_fence_put(fences[i]);
	}
	free(fences);
	free(usages);
	out->hdr.ret = r;
	if (!r)
		out->hdr.len = (uint32_t)(n * sizeof(*ids));
}

static bool handle(struct broker_client *c, struct ipc_msg *in, struct ipc_msg *out)
{
	size_t len = 0;

	/* Every header byte is sent: none of them from our stack. */
	memset(&out->hdr, 0, sizeof(out->hdr));
	out->hdr.op = in->hdr.op;
	out->hdr.seq = in->hdr.seq;
	out->payload = tx;
	out->nfds = 0;
	/* Nothing before a HELLO of our version (design.md section 5): the
	 * one-way messages are dropped, the rest answered EPROTO. */
	if (!c->hello && in->hdr.op != IPC_HELLO) {
		if (in->hdr.op == IPC_NUDGE || in->hdr.op == IPC_PROXY_SIGNAL ||
		    in->hdr.op == IPC_OWN_FD || in->hdr.op == IPC_FDS)
			return false;
		out->hdr.ret = -EPROTO;
		return true;
	}
	if (in->hdr.op == IPC_NUDGE) {
		n_nudges++;
		return false;	/* no reply: the drain before it did the work */
	}
	if (in->hdr.op == IPC_PROXY_SIGNAL) {
		broker_proxy_signal(&c->proxies, in->hdr.arg0, (int)(int64_t)in->hdr.arg1,
				    (int64_t)in->hdr.arg2);
		return false;
	}
	if (in->hdr.op == IPC_OWN_FD) {
		int64_t fd = (int64_t)in->hdr.arg0;

		c->own_fd = fd >= 0 && fd <= INT_MAX ? (int)fd : -1;
		return false;
	}
	if (in->hdr.op == IPC_FDS) {
		carried_take(c, in);
		return false;
	}
	c->requests++;
	n_requests++;

	/* One client cannot fill the broker: requests that make objects fail
	 * once it owns max_objects live ones. */
	if ((in->hdr.op == IPC_OPEN || in->hdr.op == IPC_IOCTL || in->hdr.op == IPC_PROXY_CREATE ||
	     in->hdr.op == IPC_BUF_ADOPT) &&
	    __atomic_load_n(&c->owner->objects, __ATOMIC_RELAXED) >= max_objects) {
		out->hdr.ret = -ENOMEM;
		return true;
	}
	switch (in->hdr.op) {
	case IPC_HELLO:
		out->hdr.ret = IPC_VERSION;
		out->hdr.arg1 = instance_id;
		if (in->hdr.arg0 != IPC_VERSION)
			out->hdr.ret = -EPROTO;
		c->hello = out->hdr.ret == IPC_VERSION;
		if (out->hdr.ret == IPC_VERSION) {
			int page = broker_tlpage_dup_fd();

			if (page >= 0)
				out->fds[out->nfds++] = page;
		}
		c->pid = (pid_t)in->hdr.arg1;
		c->owner->pid = c->pid;
		read_comm(c->pid, c->owner->comm, sizeof(c->owner->comm));
		if (in->hdr.len || in->nfds) {
			/* Diagnostics it asks for, reported on the fd it sent. */
			int log = in->nfds && !ours(in->fds[0]) ?
				  fcntl(in->fds[0], F_DUPFD_CLOEXEC, 3) : -1;
			struct diag *d = diag_create(in->payload, in->hdr.len, log, c->pid,
						     c->owner->comm);

			diag_put(__atomic_exchange_n(&c->owner->diag, d, __ATOMIC_ACQ_REL));
		}
		break;
	case IPC_OPEN: {
		const char *path = device_path(in->hdr.arg0);
		char comm[17] = "";
		int fd;

		memcpy(comm, in->payload, in->hdr.len < 16 ? in->hdr.len : 16);
		fd = path ? engine_open(path, (int)in->hdr.arg1, comm[0] ? comm : NULL) : -ENODEV;

		out->hdr.ret = fd < 0 ? fd : 0;
		if (fd >= 0 && in->hdr.arg0 == IPC_DEV_SW_SYNC) {
			struct sync_timeline *tl = engine_timeline_get(fd, NULL);
			struct diag *d = __atomic_load_n(&c->owner->diag, __ATOMIC_ACQUIRE);

			/* Faults apply to requests: a faulty maker's timeline has
			 * no fast slot. */
			if (tl)
				broker_tlpage_attach(tl, !(d && d->faulty));
			sync_timeline_put(tl);
		}
		if (fd >= 0) {
			out->fds[out->nfds++] = fd;
			describe_fds(c, out, tx, &len);
			out->hdr.len = (uint32_t)len;
		}
		break;
	}
	case IPC_IOCTL:
		do_ioctl(c, in, out);
		break;
	case IPC_IDENTIFY: {
		struct engine_obj_info info = { 0 };
		struct ipc_newfd nf;

		out->hdr.ret = in->nfds == 1 ? (int64_t)engine_identify(in->fds[0], &info) : -EPROTO;
		out->hdr.arg0 = info.size;
		describe_one(&info, in->nfds == 1 ? in->fds[0] : -1, &nf);
		memcpy(tx, &nf, sizeof(nf));
		out->hdr.len = sizeof(nf);
		break;
	}
	case IPC_SETTLE:
		/* The drain before every request applied the page; a reaped
		 * child's last copies went before its parent's wait returned. */
		if (in->hdr.arg0 & IPC_SETTLE_HANGUPS)
			engine_settle_hangups();
		break;
	case IPC_PROXY_CREATE: {
		struct ipc_proxy p;
		uint64_t id;
		int fd;

		if (in->hdr.len != sizeof(p)) {
			out->hdr.ret = -EPROTO;
			break;
		}
		memcpy(&p, in->payload, sizeof(p));
		fd = broker_proxy_create(&c->proxies, &p, &id);
		out->hdr.ret = fd < 0 ? fd : 0;
		if (fd >= 0) {
			out->hdr.arg0 = id;
			out->fds[out->nfds++] = fd;
			describe_fds(c, out, tx, &len);
			out->hdr.len = (uint32_t)len;
		}
		break;
	}
	case IPC_BUF_ADOPT: {
		struct ipc_adopt a;
		int fd;

		if (in->hdr.len != sizeof(a) || in->nfds != 1) {
			out->hdr.ret = -EPROTO;
			break;
		}
		memcpy(&a, in->payload, sizeof(a));
		/* Our own page would live as a buffer for as long as we do. */
		fd = ours(in->fds[0]) ? -EINVAL : engine_adopt(in->fds[0], &a, c->owner);
		out->hdr.ret = fd < 0 ? fd : 0;
		if (fd >= 0) {
			out->fds[out->nfds++] = fd;
			describe_fds(c, out, tx, &len);
			out->hdr.len = (uint32_t)len;
		}
		break;
	}
	case IPC_BUF_PUSH:
		buf_push(c, in, out);
		break;
	case IPC_BUF_PULL: {
		dev_t dev = (dev_t)in->hdr.arg0;
		ino_t ino = (ino_t)in->hdr.arg1;
		uint32_t changes = broker_tlpage_buf_changes(dev, ino);
		int fds[2], mask = engine_adopted_pull(dev, ino, c->owner, proxy_mine, &c->proxies, fds);

		out->hdr.ret = mask < 0 ? mask : (int64_t)changes;
		if (mask > 0) {
			out->hdr.arg0 = (uint64_t)mask;
			for (unsigned int k = 0; k < 2; k++)
				if (fds[k] >= 0)
					out->fds[out->nfds++] = fds[k];
			describe_fds(c, out, tx, &len);
			out->hdr.len = (uint32_t)len;
		}
		break;
	}
	case IPC_BUF_NAME: {
		const char *name = in->payload;

		/* A C string that fits, or nothing. */
		if (in->hdr.len > DMA_BUF_NAME_LEN ||
		    (in->hdr.len && memchr(name, '\0', in->hdr.len) != name + in->hdr.len - 1)) {
			out->hdr.ret = -EINVAL;
			break;
		}
		out->hdr.ret = engine_adopted_set_name((dev_t)in->hdr.arg0, (ino_t)in->hdr.arg1,
						       c->owner, in->hdr.len ? name : NULL);
		break;
	}
	case IPC_DOORBELL: {
		int fd = broker_tlpage_doorbell((uint32_t)in->hdr.arg0, (uint32_t)in->hdr.arg1);

		out->hdr.ret = fd < 0 ? fd : 0;
		if (fd >= 0)
			out->fds[out->nfds++] = fd;
		break;
	}
	case IPC_CLOSED:
		engine_closed((dev_t)in->hdr.arg0, (ino_t)in->hdr.arg1);
		break;
	case IPC_MIRROR: {
		int m = in->nfds == 1 ? engine_mirror(in->fds[0]) : -EPROTO;

		out->hdr.ret = m < 0 ? m : 0;
		if (m >= 0) {
			struct engine_obj_info info;

			out->fds[out->nfds++] = m;
			/* How ready it is now: the next poll may need no request. */
			if (engine_identify(in->fds[0], &info) == IPC_KIND_DMA_BUF)
				broker_tlpage_buf_ready(info.dev, info.ino,
							engine_dmabuf_ready(in->fds[0]));
		}
		break;
	}
	case IPC_MAP: {
		struct ipc_map_piece *pc = (void *)tx;
		unsigned int nfds = 0, total = 0;
		/* arg1: at most this many fds (0: as many as fit): the client
		 * asks for fewer when its fd table had no room for them. */
		unsigned int max_fds = in->hdr.arg1 && in->hdr.arg1 < IPC_MAX_FDS
					       ? (unsigned int)in->hdr.arg1 : IPC_MAX_FDS;
		int n = in->nfds != 1 ? -EPROTO
			: in->hdr.arg0 > UINT_MAX ? -EINVAL
			: engine_map(in->fds[0], (unsigned int)in->hdr.arg0, pc,
				     IPC_MAX_PAYLOAD / sizeof(*pc), out->fds, max_fds, &nfds, &total);

		out->hdr.ret = n < 0 ? n : 0;
		if (n > 0) {
			out->nfds = nfds;
			out->hdr.len = (uint32_t)((unsigned int)n * sizeof(*pc));
			out->hdr.arg0 = total;
		}
		break;
	}
	case IPC_SYNC: {
		int wait_fd = -1, r;

		r = in->nfds == 1 ? engine_sync(in->fds[0], in->hdr.arg0,
						in->hdr.arg1 & IPC_SYNC_EXPORTER_DONE, &wait_fd)
				  : -EPROTO;
		out->hdr.ret = r < 0 ? r : r > 0 ? 2 : wait_fd >= 0;
		if (wait_fd >= 0)
			out->fds[out->nfds++] = wait_fd;
		break;
	}
	case IPC_ACCESS_CHANNEL: {
		int type = 0, fd = -1;
		socklen_t tl = sizeof(type);

		if (in->nfds != 1 || getsockopt(in->fds[0], SOL_SOCKET, SO_TYPE, &type, &tl) ||
		    type != SOCK_SEQPACKET) {
			out->hdr.ret = in->nfds == 1 ? -ENOTSOCK : -EPROTO;
			break;
		}
		if (ours(in->fds[0])) {
			out->hdr.ret = -EINVAL;
			break;
		}
		fd = fcntl(in->fds[0], F_DUPFD_CLOEXEC, 3);
		if (fd < 0) {
			out->hdr.ret = -errno;
			break;
		}
		if (c->owner->access_fd >= 0)
			close(c->owner->access_fd);
		c->owner->access_fd = fd;
		break;
	}
	case IPC_STATS: {
		struct ipc_stats st = { .pid = (uint64_t)getpid(), .clients = n_clients,
					.objects = engine_object_count(), .requests = n_requests,
					.nudges = n_nudges, .rings = n_rings };
		struct timespec ts;

		clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
		st.cpu_ns = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
		memcpy(tx, &st, sizeof(st));
		out->hdr.len = sizeof(st);
		break;
	}
	case IPC_FDINFO: {
		struct ipc_fdinfo fi;

		out->hdr.ret = in->nfds == 1 ? engine_fdinfo(in->fds[0], &fi) : -EPROTO;
		if (!out->hdr.ret) {
			memcpy(tx, &fi, sizeof(fi));
			out->hdr.len = sizeof(fi);
		}
		break;
	}
	case IPC_LIST: {
		int m = memfd_create("dmasync-list", MFD_CLOEXEC), d = m >= 0 ? dup(m) : -1;
		FILE *f = d >= 0 ? fdopen(d, "w") : NULL;

		if (!f) {
			out->hdr.ret = -errno;
			if (d >= 0)
				close(d);
			if (m >= 0)
				close(m);
			break;
		}
		engine_list(f, describe_owner);
		watchdog_list(f);
		for (struct broker_client *o = clients; o; o = o->next)
			if (o->own_fd >= 0)
				fprintf(f, "own\t%d\t%d\n", (int)o->pid, o->own_fd);
		out->hdr.ret = fclose(f) ? -EIO : 0;
		if (!out->hdr.ret && lseek(m, 0, SEEK_SET) == 0) {
			out->fds[out->nfds++] = m;	/* closed once sent */
		} else {
			if (!out->hdr.ret)
				out->hdr.ret = -EIO;
			close(m);
		}
		break;
	}
	case IPC_FAULT:
		if (in->hdr.arg0 == IPC_FAULT_STALL)
			out->hdr.ret = fault_stall(in->hdr.arg1);
		else if (in->hdr.arg0 == IPC_FAULT_RELEASE)
			out->hdr.ret = fault_release(in->hdr.arg1, (int)in->hdr.arg2);
		else
			out->hdr.ret = -EINVAL;
		break;
	default:
		out->hdr.ret = -EOPNOTSUPP;
		break;
	}
	return true;
}

/* ---- clients ------------------------------------------------------------------------ */

static int epfd = -1;
static char bells_tag;		/* epoll data of the doorbells (tlpage) */

static void client_drop(struct broker_client *c)
{
	struct broker_client **p;

	for (p = &clients; *p; p = &(*p)->next) {
		if (*p == c) {
			*p = c->next;
			break;
		}
	}
	n_clients--;
	epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	carried_drop(c);
	free(c->carried);
	/* Nobody is left to signal its proxies, or to run its exporters' ops. */
	broker_proxy_set_fini(&c->proxies);
	if (c->owner->access_fd >= 0) {
		close(c->owner->access_fd);
		c->owner->access_fd = -1;
	}
	owner_drop_own_log(c->owner);
	owner_put(c->owner);
	free(c);
}

/*
 * Serve the messages waiting on @c, up to and including the first request
 * answered: its client sends no other request before it has the reply (a
 * process's threads take turns), so nothing is likely to be waiting after
 * it, and the loop's epoll_wait(), level-triggered, brings @c back if
 * something is (a read that found nothing cost a system call per request).
 * One-way messages (nudges, carried fds) are read on.  Return: false if @c
 * is gone.
 */
static bool client_serve(struct broker_client *c)
{
	struct ipc_msg in = { .payload = rx }, out;

	for (;;) {
		int r = ipc_recv(c->fd, &in, MSG_DONTWAIT);
		bool reply;

		if (r == -EAGAIN)
			return true;
		if (r) {
			client_drop(c);
			return false;
		}
		/* INCs made in the timeline page before this request was
		 * sent: applied before it is answered. */
		broker_tlpage_drain();
		reply = handle(c, &in, &out);
		ipc_msg_close_fds(&in);
		if (in.hdr.op == IPC_IOCTL)
			carried_drop(c);	/* served (or refused) with them */
		if (reply) {
			r = ipc_send(c->fd, &out, MSG_DONTWAIT);
			/* Our copies of what we handed over. */
			ipc_msg_close_fds(&out);
			if (r) {
				/* Not reading its replies, or gone. */
				client_drop(c);
				return false;
			}
			return true;
		}
	}
}

static void client_accept(int lfd)
{
	for (;;) {
		struct ucred cred;
		socklen_t len = sizeof(cred);
		struct broker_client *c;
		struct epoll_event ev;
		int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);

		if (fd < 0)
			return;
		if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) || cred.uid != geteuid()) {
			close(fd);
			continue;
		}
		c = calloc(1, sizeof(*c));
		if (!c) {
			close(fd);
			continue;
		}
		c->owner = calloc(1, sizeof(*c->owner));
		if (!c->owner) {
			close(fd);
			free(c);
			continue;
		}
		c->owner->refs = 1;
		c->owner->access_fd = -1;
		c->own_fd = -1;
		c->fd = fd;
		c->pid = cred.pid;
		ev.events = EPOLLIN;
		ev.data.ptr = c;
		if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev)) {
			close(fd);
			free(c->owner);
			free(c);
			continue;
		}
		c->next = clients;
		clients = c;
		n_clients++;
	}
}

/* ---- setup -------------------------------------------------------------------------- */

static int listen_on(const char *path)
{
	struct sockaddr_un sa;
	int fd, dirfd, r = ipc_sockaddr(path, &sa, &dirfd);

	if (r)
		return r;
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		r = -errno;
	} else {
		unlink(path);
		if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) || listen(fd, 128)) {
			r = -errno;
			close(fd);
		}
	}
	if (dirfd >= 0)
		close(dirfd);
	return r ? r : fd;
}

/*
 * RLIMIT_NOFILE as high as we may: the soft limit to the hard one, and with
 * CAP_SYS_RESOURCE (a broker of root's) the hard one to fs.nr_open too.
 */
static void raise_nofile(void)
{
	struct rlimit rl;
	unsigned long nr_open = 0;
	FILE *f = fopen("/proc/sys/fs/nr_open", "re");

	if (f) {
		if (fscanf(f, "%lu", &nr_open) != 1)
			nr_open = 0;
		fclose(f);
	}
	if (getrlimit(RLIMIT_NOFILE, &rl))
		return;
	if (nr_open > rl.rlim_max) {
		struct rlimit more = { nr_open, nr_open };

		if (!setrlimit(RLIMIT_NOFILE, &more))
			return;
	}
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

/* Whether a broker accepts connections on @path. */
static bool serving(const char *path)
{
	struct sockaddr_un sa;
	int fd, dirfd, e = errno;
	bool ok = false;

	if (ipc_sockaddr(path, &sa, &dirfd))
		return false;
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd >= 0) {
		ok = !connect(fd, (struct sockaddr *)&sa, sizeof(sa));
		close(fd);
	}
	if (dirfd >= 0)
		close(dirfd);
	errno = e;
	return ok;
}

int broker_run(const struct broker_options *opt)
{
	char lock_path[PATH_MAX];
	uint64_t idle_since;
	int lock_fd, lfd;
	struct epoll_event ev;

	if (snprintf(lock_path, sizeof(lock_path), "%s.lock", opt->socket) >= (int)sizeof(lock_path))
		return -ENAMETOOLONG;
	/* One broker per socket: whoever holds the lock serves it. */
	lock_fd = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (lock_fd < 0)
		return -errno;
	/*
	 * Another broker holds it: if it serves the socket, leave at once
	 * (our starter connects to it); if it is leaving (it unlinked the
	 * socket first), wait for it to let go.
	 */
	for (int i = 0; flock(lock_fd, LOCK_EX | LOCK_NB); i++) {
		struct timespec ts = { 0, 10000000 };

		if (errno == EWOULDBLOCK && serving(opt->socket)) {
			close(lock_fd);
			return -EADDRINUSE;
		}
		if (errno != EWOULDBLOCK || i == 500) {
			int e = errno;

			close(lock_fd);
			return e == EWOULDBLOCK ? -EADDRINUSE : -e;
		}
		nanosleep(&ts, NULL);
	}
	/* Every object costs us an fd: take all the kernel lets us. */
	raise_nofile();
	scratch = mmap(NULL, (SCRATCH_PAGES + 1) * PAGE, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (scratch == MAP_FAILED || mprotect(scratch + SCRATCH_PAGES * PAGE, PAGE, PROT_NONE))
		return -ENOMEM;
	/* Requests' arguments are laid out there: no probe before a copy
	 * (the guard page past it still faults where the caller's did). */
	engine_trust_scratch(scratch, SCRATCH_PAGES * PAGE);
	instance_id = now_ns() ^ ((uint64_t)getpid() << 40);
	/* Without the page, every INC and read is a request, as before it. */
	engine_on_timeline_release(broker_tlpage_release);
	engine_on_dmabuf_release(broker_tlpage_buf_release);
	engine_on_dmabuf_change(broker_tlpage_buf_changed);
	engine_on_cpu_access(ask_exporter);
	engine_signal_by_record();
	broker_tlpage_init();
	lfd = listen_on(opt->socket);
	if (lfd < 0)
		return lfd;
	epfd = epoll_create1(EPOLL_CLOEXEC);
	if (epfd < 0)
		return -errno;
	ev.events = EPOLLIN;
	ev.data.ptr = NULL;
	epoll_ctl(epfd, EPOLL_CTL_ADD, lfd, &ev);
	broker_tlpage_watch(epfd, &bells_tag);
	if (opt->max_objects)
		max_objects = opt->max_objects;
	diagnostics_init(opt);
	if (opt->ready)
		opt->ready(opt->ready_arg);

	idle_since = now_ns();
	for (;;) {
		struct epoll_event evs[64];
		int t1 = fault_tick(), t2 = watchdog_tick(), timeout = 200, n;

		if (t1 >= 0 && t1 < timeout)
			timeout = t1;
		if (t2 >= 0 && t2 < timeout)
			timeout = t2;
		n = epoll_wait(epfd, evs, 64, timeout);
		broker_tlpage_drain();

		for (int i = 0; i < n; i++) {
			if (!evs[i].data.ptr)
				client_accept(lfd);
			else if (evs[i].data.ptr == &bells_tag)
				n_rings++;	/* a doorbell rang: drained above */
			else
				client_serve(evs[i].data.ptr);
		}
		if (n_clients || engine_object_count()) {
			idle_since = now_ns();
		} else if (opt->idle_exit_ms >= 0 &&
			   now_ns() - idle_since >= (uint64_t)opt->idle_exit_ms * 1000000ull) {
			break;
		}
	}
	/*
	 * Leave: unlink first, so that new clients start a new broker (which
	 * waits for our lock); a client that connected meanwhile has its
	 * connection reset when the listening socket closes, and retries.
	 */
	unlink(opt->socket);
	close(lfd);
	fault_fini();
	watchdog_fini();
	close(lock_fd);
	return 0;
}
