/* SPDX-License-Identifier: MIT */
/*
 * `dmasync ls` and `dmasync leaks`: every live object of the broker, who
 * made it and which processes hold it, without root.
 *
 * The broker lists its objects (IPC_LIST: the listing format of
 * src/uapi/file.h); the holders come from /proc: every process of this
 * user whose fds or mappings are one of those inodes (the broker itself,
 * which holds them all, left out).
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "dmasync-tool.h"
#include "fault-spec.h"
#include "ipc.h"

enum kind { K_SYNC_FILE, K_TIMELINE, K_DMABUF, K_MAX };
static const char *const kind_word[K_MAX] = { "sync_file", "sw_sync", "dmabuf" };

struct fence_rec {
	char usage[16], driver[64], timeline[64];
	unsigned long long context, seqno;
	int status;
	long long timestamp;
};

struct holder {
	int pid;
	char comm[32];
	int fds[8];
	int nfds, more_fds;	/* fds beyond those listed */
	int maps;
};

struct object {
	enum kind kind;
	unsigned long dev, ino;
	int pid;		/* creator */
	char comm[32];
	char name[64];
	long long num;		/* sync_file: status; sw_sync: value; dmabuf: size */
	int accmode;		/* dmabuf */
	char exp_name[64];	/* dmabuf */
	struct fence_rec *fences;	/* sync file: unwrapped; dmabuf: reservation */
	int nfences;
	unsigned long long *points;	/* sw_sync: pending seqnos */
	long long *created;		/* sw_sync: when each was made (CLOCK_MONOTONIC ns) */
	int npoints;
	unsigned long long context;	/* sw_sync */
	struct holder *holders;
	int nholders;
};

/* A point the broker's watchdog reported, still pending. */
struct stuck_rec {
	unsigned long long context, seqno;
	unsigned int limit_ms;
};

/* An fd the client library keeps for itself ("own" lines): not the program's. */
struct own_rec {
	int pid, fd;
};

struct listing {
	struct object *obj;
	int n;
	int broker_pid;
	struct stuck_rec *stuck;
	int nstuck;
	struct own_rec *own;
	int nown;
};

/* ---- the broker --------------------------------------------------------------------- */

/* The listing's memfd and the broker's pid; -ENOENT/-ECONNREFUSED: none runs. */
static int fetch(int *broker_pid)
{
	struct ipc_msg req = { .hdr = { .op = IPC_STATS } }, rep;
	struct ipc_stats st;
	int sock = tool_broker_connect(), r, fd = -1;

	if (sock < 0)
		return sock;
	r = tool_broker_call(sock, &req, &rep);
	if (!r && rep.hdr.len >= sizeof(st)) {
		memcpy(&st, tool_broker_payload(), sizeof(st));
		*broker_pid = (int)st.pid;
	}
	if (!r) {
		req = (struct ipc_msg){ .hdr = { .op = IPC_LIST } };
		r = tool_broker_call(sock, &req, &rep);
		if (!r && rep.hdr.ret)
			r = (int)rep.hdr.ret;
		if (!r && rep.nfds == 1)
			fd = rep.fds[0];
		else
			ipc_msg_close_fds(&rep);
		if (!r && fd < 0)
			r = -EPROTO;
	}
	close(sock);
	return r ? r : fd;
}

/* ---- parsing ------------------------------------------------------------------------ */

/* Split @line at tabs into @f (at most @max); returns the count. */
static int split(char *line, char **f, int max)
{
	int n = 0;

	line[strcspn(line, "\n")] = '\0';
	while (n < max) {
		f[n++] = line;
		line = strchr(line, '\t');
		if (!line)
			break;
		*line++ = '\0';
	}
	return n;
}

/* Room for element @n of the array @p of @n elements (capacities: 4, 8, 16...). */
static void *grow(void *p, int n, size_t size)
{
	if (n && (n < 4 || (n & (n - 1))))
		return p;
	p = realloc(p, (size_t)(n ? 2 * n : 4) * size);
	if (!p) {
		perror("dmasync");
		exit(1);
	}
	return p;
}

static void copy(char *dst, size_t len, const char *src)
{
	snprintf(dst, len, "%s", src ? src : "");
}

static void parse(FILE *in, struct listing *l)
{
	char line[1024], *f[16] = { NULL };
	struct object *cur = NULL;

	while (fgets(line, sizeof(line), in)) {
		int n = split(line, f, 16);
		enum kind k;

		if (n < 1)
			continue;

		if (!strcmp(f[0], "fence") && n >= 8 && cur &&
		    (cur->kind == K_SYNC_FILE || cur->kind == K_DMABUF)) {
			struct fence_rec *fr;

			cur->fences = grow(cur->fences, cur->nfences, sizeof(*cur->fences));
			fr = &cur->fences[cur->nfences++];
			copy(fr->usage, sizeof(fr->usage), f[1]);
			copy(fr->driver, sizeof(fr->driver), f[2]);
			copy(fr->timeline, sizeof(fr->timeline), f[3]);
			fr->context = strtoull(f[4], NULL, 10);
			fr->seqno = strtoull(f[5], NULL, 10);
			fr->status = atoi(f[6]);
			fr->timestamp = strtoll(f[7], NULL, 10);
			continue;
		}
		if (!strcmp(f[0], "point") && n >= 3 && cur && cur->kind == K_TIMELINE) {
			cur->points = grow(cur->points, cur->npoints, sizeof(*cur->points));
			cur->created = grow(cur->created, cur->npoints, sizeof(*cur->created));
			cur->points[cur->npoints] = strtoull(f[1], NULL, 10);
			cur->created[cur->npoints++] = n >= 4 ? strtoll(f[3], NULL, 10) : 0;
			continue;
		}
		if (!strcmp(f[0], "own") && n >= 3) {
			l->own = grow(l->own, l->nown, sizeof(*l->own));
			l->own[l->nown].pid = atoi(f[1]);
			l->own[l->nown++].fd = atoi(f[2]);
			cur = NULL;
			continue;
		}
		if (!strcmp(f[0], "stuck") && n >= 4) {
			struct stuck_rec *st;

			l->stuck = grow(l->stuck, l->nstuck, sizeof(*l->stuck));
			st = &l->stuck[l->nstuck++];
			st->context = strtoull(f[1], NULL, 10);
			st->seqno = strtoull(f[2], NULL, 10);
			st->limit_ms = (unsigned int)strtoul(f[3], NULL, 10);
			cur = NULL;
			continue;
		}
		cur = NULL;
		for (k = 0; k < K_MAX && strcmp(f[0], kind_word[k]); k++)
			;
		if (k == K_MAX || n < 7)
			continue;	/* a kind or line this tool does not know */
		l->obj = grow(l->obj, l->n, sizeof(*l->obj));
		cur = &l->obj[l->n++];
		memset(cur, 0, sizeof(*cur));
		cur->kind = k;
		cur->dev = strtoul(f[1], NULL, 10);
		cur->ino = strtoul(f[2], NULL, 10);
		cur->pid = atoi(f[3]);
		copy(cur->comm, sizeof(cur->comm), f[4]);
		if (k == K_DMABUF && n >= 9) {
			cur->num = strtoll(f[5], NULL, 10);
			cur->accmode = atoi(f[6]);
			copy(cur->exp_name, sizeof(cur->exp_name), f[7]);
			copy(cur->name, sizeof(cur->name), f[8]);
		} else {
			copy(cur->name, sizeof(cur->name), f[5]);
			cur->num = strtoll(f[6], NULL, 10);
			if (k == K_TIMELINE && n >= 8)
				cur->context = strtoull(f[7], NULL, 10);
		}
	}
}

static struct object *find(struct listing *l, unsigned long dev, unsigned long ino)
{
	for (int i = 0; i < l->n; i++)
		if (l->obj[i].ino == ino && l->obj[i].dev == dev)
			return &l->obj[i];
	return NULL;
}

/* ---- holders, from /proc --------------------------------------------------------------- */

static struct holder *holder_of(struct object *o, int pid, const char *comm)
{
	struct holder *h;

	for (int i = 0; i < o->nholders; i++)
		if (o->holders[i].pid == pid)
			return &o->holders[i];
	o->holders = grow(o->holders, o->nholders, sizeof(*o->holders));
	h = &o->holders[o->nholders++];
	memset(h, 0, sizeof(*h));
	h->pid = pid;
	copy(h->comm, sizeof(h->comm), comm);
	return h;
}

static void read_comm(int pid, char *comm, size_t len)
{
	char path[64];
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/comm", pid);
	comm[0] = '\0';
	f = fopen(path, "re");
	if (f) {
		if (fgets(comm, (int)len, f))
			comm[strcspn(comm, "\n")] = '\0';
		fclose(f);
	}
}

/* Mappings of memfd-backed buffers: /proc/PID/maps names their inodes. */
static void scan_maps(struct listing *l, int pid, const char *comm)
{
	char path[64], line[512];
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/maps", pid);
	f = fopen(path, "re");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		unsigned int maj, min;
		unsigned long ino;
		struct object *o;

		if (sscanf(line, "%*s %*s %*s %x:%x %lu", &maj, &min, &ino) != 3 || !ino)
			continue;
		o = find(l, (unsigned long)makedev(maj, min), ino);
		if (o && o->kind == K_DMABUF)
			holder_of(o, pid, comm)->maps++;
	}
	fclose(f);
}

/* The parent of @pid (0: unknown), from /proc/PID/status. */
static int parent_of(int pid)
{
	char path[64], line[128];
	int ppid = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", pid);
	f = fopen(path, "re");
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "PPid: %d", &ppid) == 1)
			break;
	fclose(f);
	return ppid;
}

/*
 * Whether fd @fd of @pid is the client library's own copy (an "own" line):
 * its own, or, for a fork child that has not talked to the broker yet, the
 * one it inherited at the same number from an ancestor's.  @ancestors:
 * @pid and its parents, computed by the caller once per process.
 */
static bool library_own(const struct listing *l, const int *ancestors, int n, int fd)
{
	for (int a = 0; a < n; a++)
		for (int i = 0; i < l->nown; i++)
			if (l->own[i].pid == ancestors[a] && l->own[i].fd == fd)
				return true;
	return false;
}

static void scan_holders(struct listing *l)
{
	DIR *proc = opendir("/proc");
	struct dirent *p;
	uid_t me = geteuid();

	while (proc && (p = readdir(proc))) {
		char path[300], comm[32];
		int pid, anc[8], nanc;
		struct dirent *e;
		struct stat st;
		DIR *fds;

		if (!isdigit((unsigned char)p->d_name[0]))
			continue;
		pid = atoi(p->d_name);
		snprintf(path, sizeof(path), "/proc/%d", pid);
		if (pid == l->broker_pid || stat(path, &st) || st.st_uid != me)
			continue;
		snprintf(path, sizeof(path), "/proc/%d/fd", pid);
		fds = opendir(path);
		if (!fds)
			continue;
		read_comm(pid, comm, sizeof(comm));
		/* Of the process and its ancestors, those that say where their
		 * library keeps its own fd: the first that does is the one. */
		nanc = 0;
		for (int a = pid; a > 1 && nanc < 8 && l->nown; a = parent_of(a)) {
			bool said = false;

			for (int i = 0; i < l->nown && !said; i++)
				said = l->own[i].pid == a;
			anc[nanc++] = a;
			if (said) {
				anc[0] = a;
				nanc = 1;
				break;
			}
		}
		while ((e = readdir(fds))) {
			struct object *o;
			struct holder *h;

			if (!isdigit((unsigned char)e->d_name[0]) ||
			    library_own(l, anc, nanc, atoi(e->d_name)))
				continue;
			snprintf(path, sizeof(path), "/proc/%d/fd/%s", pid, e->d_name);
			if (stat(path, &st))
				continue;
			o = find(l, (unsigned long)st.st_dev, (unsigned long)st.st_ino);
			if (!o)
				continue;
			h = holder_of(o, pid, comm);
			if (h->nfds < (int)(sizeof(h->fds) / sizeof(h->fds[0])))
				h->fds[h->nfds++] = atoi(e->d_name);
			else
				h->more_fds++;
		}
		closedir(fds);
		scan_maps(l, pid, comm);
	}
	if (proc)
		closedir(proc);
}

/* ---- output ------------------------------------------------------------------------ */

static const char *status_word(long long s)
{
	return s > 0 ? "signaled" : s == 0 ? "pending" : "error";
}

static int by_ino_desc(const void *a, const void *b)
{
	const struct object *x = a, *y = b;

	return x->ino < y->ino ? 1 : x->ino > y->ino ? -1 : 0;
}

static int count_refs(const struct object *o)
{
	int n = 0;

	for (int i = 0; i < o->nholders; i++)
		n += o->holders[i].nfds + o->holders[i].more_fds + o->holders[i].maps;
	return n;
}

/* The kernel's /sys/kernel/debug/dma_buf/bufinfo, as Linux 6.1 prints it. */
static void print_bufinfo(struct listing *l)
{
	size_t total = 0;
	int n = 0;

	qsort(l->obj, (size_t)l->n, sizeof(*l->obj), by_ino_desc);	/* newest first */
	printf("\nDma-buf Objects:\n");
	printf("%-8s\t%-8s\t%-8s\t%-8s\t%s\t%-8s\t%s\n", "size", "flags", "mode", "count",
	       "exp_name", "ino", "name");
	for (int i = 0; i < l->n; i++) {
		struct object *o = &l->obj[i];
		unsigned int mode = 0x80004 | (o->accmode != O_WRONLY ? 1 : 0) |
				    (o->accmode != O_RDONLY ? 2 : 0);

		if (o->kind != K_DMABUF)
			continue;
		printf("%08lld\t%08x\t%08x\t%08d\t%s\t%08lu\t%s\n", o->num, (unsigned int)o->accmode,
		       mode, count_refs(o), o->exp_name, o->ino, o->name[0] ? o->name : "<none>");
		for (int j = 0; j < o->nfences; j++) {
			struct fence_rec *f = &o->fences[j];

			printf("\t%s fence:%s %s seq %llu %ssignalled\n", f->usage, f->driver,
			       f->timeline, f->seqno, f->status ? "" : "un");
		}
		printf("\tAttached Devices:\nTotal 0 devices attached\n\n");
		total += (size_t)o->num;
		n++;
	}
	printf("\nTotal %d objects, %zu bytes\n", n, total);
}

static int by_ino(const void *a, const void *b)
{
	return -by_ino_desc(a, b);
}

/* The kernel's /sys/kernel/debug/sync/info, as Linux 6.1 prints it. */
static void print_sync_info(struct listing *l)
{
	qsort(l->obj, (size_t)l->n, sizeof(*l->obj), by_ino);	/* oldest first */
	printf("objs:\n--------------\n");
	for (int i = 0; i < l->n; i++) {
		struct object *o = &l->obj[i];

		if (o->kind != K_TIMELINE)
			continue;
		printf("%s: %lld\n", o->name, o->num);
		for (int j = 0; j < o->npoints; j++)
			printf("  fence active: %llu / %lld\n", o->points[j], o->num);
		printf("\n");
	}
	printf("fences:\n--------------\n");
}

static void json_str(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			printf("\\%c", *s);
		else if ((unsigned char)*s < 0x20)
			printf("\\u%04x", (unsigned char)*s);
		else
			putchar(*s);
	}
	putchar('"');
}

static void json_holders(const struct object *o)
{
	printf("\"holders\": [");
	for (int i = 0; i < o->nholders; i++) {
		const struct holder *h = &o->holders[i];

		printf("%s{\"pid\": %d, \"comm\": ", i ? ", " : "", h->pid);
		json_str(h->comm);
		printf(", \"fds\": [");
		for (int j = 0; j < h->nfds; j++)
			printf("%s%d", j ? ", " : "", h->fds[j]);
		printf("], \"more_fds\": %d, \"mappings\": %d}", h->more_fds, h->maps);
	}
	printf("]");
}

static void json_fences(const struct object *o)
{
	printf("\"fences\": [");
	for (int j = 0; j < o->nfences; j++) {
		const struct fence_rec *f = &o->fences[j];

		printf("%s{", j ? ", " : "");
		if (o->kind == K_DMABUF) {
			printf("\"usage\": ");
			json_str(f->usage);
			printf(", ");
		}
		printf("\"driver\": ");
		json_str(f->driver);
		printf(", \"timeline\": ");
		json_str(f->timeline);
		printf(", \"context\": %llu, \"seqno\": %llu, \"status\": %d, \"timestamp_ns\": %lld}",
		       f->context, f->seqno, f->status, f->timestamp);
	}
	printf("]");
}

static void print_json(struct listing *l)
{
	static const char *const section[K_MAX] = { "sync_files", "timelines", "buffers" };

	qsort(l->obj, (size_t)l->n, sizeof(*l->obj), by_ino);
	printf("{\"broker_pid\": %d", l->broker_pid);
	for (int k = 0; k < K_MAX; k++) {
		int first = 1;

		printf(", \"%s\": [", section[k]);
		for (int i = 0; i < l->n; i++) {
			struct object *o = &l->obj[i];

			if ((int)o->kind != k)
				continue;
			printf("%s\n  {\"inode\": %lu, \"created_by\": {\"pid\": %d, \"comm\": ",
			       first ? "" : ",", o->ino, o->pid);
			json_str(o->comm);
			printf("}, \"name\": ");
			json_str(o->name);
			if (o->kind == K_DMABUF) {
				printf(", \"size\": %lld, \"exp_name\": ", o->num);
				json_str(o->exp_name);
				printf(", \"access\": \"%s\"",
				       o->accmode == O_RDONLY ? "r" : o->accmode == O_WRONLY ? "w" : "rw");
			} else if (o->kind == K_SYNC_FILE) {
				printf(", \"status\": %lld", o->num);
			} else {
				printf(", \"context\": %llu, \"value\": %lld, \"pending\": [", o->context,
				       o->num);
				for (int j = 0; j < o->npoints; j++)
					printf("%s%llu", j ? ", " : "", o->points[j]);
				printf("]");
			}
			printf(", ");
			if (o->kind != K_TIMELINE) {
				json_fences(o);
				printf(", ");
			}
			json_holders(o);
			printf("}");
			first = 0;
		}
		printf("]");
	}
	printf("}\n");
}

static void print_holders(const struct object *o)
{
	if (!o->nholders) {
		printf("(nobody)");
		return;
	}
	for (int i = 0; i < o->nholders; i++) {
		const struct holder *h = &o->holders[i];

		printf("%s%d %s [", i ? ", " : "", h->pid, h->comm);
		for (int j = 0; j < h->nfds; j++)
			printf("%s%d", j ? "," : h->nfds + h->more_fds > 1 ? "fds " : "fd ", h->fds[j]);
		if (h->more_fds)
			printf(",+%d", h->more_fds);
		if (h->maps)
			printf("%s%d map%s", h->nfds ? ", " : "", h->maps, h->maps > 1 ? "s" : "");
		printf("]");
	}
}

static void print_fence_line(const struct fence_rec *f, bool usage)
{
	printf("      %s%s%s:%s seq %llu %s", usage ? f->usage : "", usage ? " " : "", f->driver,
	       f->timeline, f->seqno, status_word(f->status));
	if (f->status < 0)
		printf(" (%s)", strerror(-f->status));
	printf("\n");
}

static void print_table(struct listing *l)
{
	int count[K_MAX] = { 0 };
	long long bytes = 0;

	qsort(l->obj, (size_t)l->n, sizeof(*l->obj), by_ino);
	for (int i = 0; i < l->n; i++) {
		count[l->obj[i].kind]++;
		if (l->obj[i].kind == K_DMABUF)
			bytes += l->obj[i].num;
	}
	printf("Buffers: %d (%lld bytes)\n", count[K_DMABUF], bytes);
	for (int i = 0; i < l->n; i++) {
		struct object *o = &l->obj[i];

		if (o->kind != K_DMABUF)
			continue;
		printf("  inode %lu  %lld bytes  %s  \"%s\"  %s  made by %d %s  held by ", o->ino,
		       o->num, o->exp_name, o->name,
		       o->accmode == O_RDONLY ? "r" : o->accmode == O_WRONLY ? "w" : "rw", o->pid,
		       o->comm);
		print_holders(o);
		printf("\n");
		for (int j = 0; j < o->nfences; j++)
			print_fence_line(&o->fences[j], true);
	}
	printf("Sync files: %d\n", count[K_SYNC_FILE]);
	for (int i = 0; i < l->n; i++) {
		struct object *o = &l->obj[i];

		if (o->kind != K_SYNC_FILE)
			continue;
		printf("  inode %lu  \"%s\"  %s  made by %d %s  held by ", o->ino, o->name,
		       status_word(o->num), o->pid, o->comm);
		print_holders(o);
		printf("\n");
		for (int j = 0; j < o->nfences; j++)
			print_fence_line(&o->fences[j], false);
	}
	printf("Timelines: %d\n", count[K_TIMELINE]);
	for (int i = 0; i < l->n; i++) {
		struct object *o = &l->obj[i];

		if (o->kind != K_TIMELINE)
			continue;
		printf("  inode %lu  \"%s\"  value %lld  %d pending", o->ino, o->name, o->num,
		       o->npoints);
		for (int j = 0; j < o->npoints && j < 8; j++)
			printf("%s%llu", j ? "," : " (", o->points[j]);
		if (o->npoints)
			printf("%s)", o->npoints > 8 ? ",..." : "");
		printf("  made by %d %s  held by ", o->pid, o->comm);
		print_holders(o);
		printf("\n");
	}
}

/* ---- stuck fences ----------------------------------------------------------------------- */

static long long now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000000ll + ts.tv_nsec;
}

/* The watchdog's limit for this point if it reported it, else 0. */
static unsigned int reported_limit(const struct listing *l, unsigned long long ctx,
				   unsigned long long seqno)
{
	for (int i = 0; i < l->nstuck; i++)
		if (l->stuck[i].context == ctx && l->stuck[i].seqno == seqno)
			return l->stuck[i].limit_ms ? l->stuck[i].limit_ms : 1;
	return 0;
}

/* The objects holding fence (@ctx, @seqno), for --stuck: "what waits on it". */
static void print_waiters(const struct listing *l, unsigned long long ctx, unsigned long long seqno,
			  bool json)
{
	int n = 0;

	for (int i = 0; i < l->n; i++) {
		const struct object *o = &l->obj[i];

		for (int j = 0; j < o->nfences; j++) {
			const struct fence_rec *f = &o->fences[j];

			if (f->context != ctx || f->seqno != seqno)
				continue;
			if (json) {
				printf("%s{\"kind\": \"%s\", \"inode\": %lu, \"usage\": ", n ? ", " : "",
				       kind_word[o->kind], o->ino);
				json_str(o->kind == K_DMABUF ? f->usage : "-");
				printf(", \"created_by\": {\"pid\": %d, \"comm\": ", o->pid);
				json_str(o->comm);
				printf("}, ");
				json_holders(o);
				printf("}");
			} else {
				printf("      waited on by %s inode %lu%s%s, made by %d %s, held by ",
				       kind_word[o->kind], o->ino, o->kind == K_DMABUF ? " as " : "",
				       o->kind == K_DMABUF ? f->usage : "", o->pid, o->comm);
				print_holders(o);
				printf("\n");
			}
			n++;
			break;
		}
	}
	if (!n && !json)
		printf("      waited on by nothing (no sync file or buffer holds it)\n");
}

/*
 * `ls --stuck`: pending points older than @limit_s seconds, or with
 * @limit_s < 0, those the broker's watchdog reported.
 */
static int print_stuck(struct listing *l, double limit_s, bool json)
{
	long long now = now_ns();
	int n = 0;

	qsort(l->obj, (size_t)l->n, sizeof(*l->obj), by_ino);
	if (json)
		printf("{\"broker_pid\": %d, \"stuck\": [", l->broker_pid);
	for (int i = 0; i < l->n; i++) {
		const struct object *o = &l->obj[i];

		if (o->kind != K_TIMELINE)
			continue;
		for (int j = 0; j < o->npoints; j++) {
			double age = o->created[j] ? (double)(now - o->created[j]) / 1e9 : 0;
			unsigned int rep = reported_limit(l, o->context, o->points[j]);

			if (limit_s >= 0 ? !o->created[j] || age < limit_s : !rep)
				continue;
			if (json) {
				printf("%s\n  {\"timeline\": {\"inode\": %lu, \"name\": ", n ? "," : "",
				       o->ino);
				json_str(o->name);
				printf(", \"context\": %llu, \"value\": %lld, \"created_by\": {\"pid\": %d, \"comm\": ",
				       o->context, o->num, o->pid);
				json_str(o->comm);
				printf("}}, \"seqno\": %llu, \"pending_s\": %.3f, \"reported\": %s, \"waiters\": [",
				       o->points[j], age, rep ? "true" : "false");
				print_waiters(l, o->context, o->points[j], true);
				printf("]}");
			} else {
				if (!n)
					printf("Stuck fences:\n");
				printf("  sw_sync \"%s\" context %llu seqno %llu: pending %.1f s%s (timeline inode %lu at %lld, made by %d %s)\n",
				       o->name, o->context, o->points[j], age,
				       rep ? ", reported by the watchdog" : "", o->ino, o->num, o->pid,
				       o->comm);
				print_waiters(l, o->context, o->points[j], false);
			}
			n++;
		}
	}
	if (json)
		printf("]}\n");
	else if (!n)
		printf("No stuck fences%s.\n", limit_s >= 0 ? "" : " (reported by the watchdog)");
	return 0;
}

/* ---- per process (leaks) --------------------------------------------------------------- */

struct proc_count {
	int pid;
	char comm[32];
	int n[K_MAX];
	int before[K_MAX];
	bool seen_before;
};

static struct proc_count *count_of(struct proc_count **pc, int *n, int pid, const char *comm)
{
	for (int i = 0; i < *n; i++)
		if ((*pc)[i].pid == pid)
			return &(*pc)[i];
	*pc = grow(*pc, *n, sizeof(**pc));
	memset(&(*pc)[*n], 0, sizeof(**pc));
	(*pc)[*n].pid = pid;
	copy((*pc)[*n].comm, sizeof((*pc)[*n].comm), comm);
	return &(*pc)[(*n)++];
}

/* Where the last look is kept: beside the broker's socket. */
static bool state_path(char *buf, size_t len)
{
	char sock[PATH_MAX], *slash;

	if (ipc_default_socket(sock, sizeof(sock)))
		return false;
	slash = strrchr(sock, '/');
	if (!slash)
		return false;
	*slash = '\0';
	return snprintf(buf, len, "%s/leaks.last", sock) < (int)len;
}

/* Per process: the objects it holds fds of, into *@pc (*@n entries). */
static void count_processes(const struct listing *l, struct proc_count **pc, int *n)
{
	*pc = NULL;
	*n = 0;
	for (int i = 0; i < l->n; i++) {
		const struct object *o = &l->obj[i];

		for (int j = 0; j < o->nholders; j++) {
			const struct holder *h = &o->holders[j];

			count_of(pc, n, h->pid, h->comm)->n[o->kind] += h->nfds + h->more_fds;
		}
	}
}

/* The counts of @before (or the last look) as each process's "before". */
static void set_before(struct proc_count *pc, int n, int pid, const int b[K_MAX])
{
	for (int i = 0; i < n; i++) {
		if (pc[i].pid != pid)
			continue;
		memcpy(pc[i].before, b, sizeof(pc[i].before));
		pc[i].seen_before = true;
	}
}

static void print_counts(const struct proc_count *pc, int n, bool json)
{
	if (json) {
		printf("{\"processes\": [");
		for (int i = 0; i < n; i++) {
			printf("%s\n  {\"pid\": %d, \"comm\": ", i ? "," : "", pc[i].pid);
			json_str(pc[i].comm);
			printf(", \"sync_files\": %d, \"buffers\": %d, \"timelines\": %d",
			       pc[i].n[K_SYNC_FILE], pc[i].n[K_DMABUF], pc[i].n[K_TIMELINE]);
			if (pc[i].seen_before)
				printf(", \"change\": {\"sync_files\": %d, \"buffers\": %d, \"timelines\": %d}",
				       pc[i].n[K_SYNC_FILE] - pc[i].before[K_SYNC_FILE],
				       pc[i].n[K_DMABUF] - pc[i].before[K_DMABUF],
				       pc[i].n[K_TIMELINE] - pc[i].before[K_TIMELINE]);
			printf("}");
		}
		printf("]}\n");
		return;
	}
	printf("%8s %-16s %12s %12s %12s\n", "PID", "COMMAND", "SYNC FILES", "BUFFERS",
	       "TIMELINES");
	for (int i = 0; i < n; i++) {
		static const int order[] = { K_SYNC_FILE, K_DMABUF, K_TIMELINE };
		char cell[K_MAX][32];

		for (int k = 0; k < 3; k++) {
			int kk = order[k], d = pc[i].n[kk] - pc[i].before[kk];

			if (pc[i].seen_before && d)
				snprintf(cell[k], sizeof(cell[k]), "%d (%+d)", pc[i].n[kk], d);
			else
				snprintf(cell[k], sizeof(cell[k]), "%d", pc[i].n[kk]);
		}
		printf("%8d %-16s %12s %12s %12s\n", pc[i].pid, pc[i].comm, cell[0], cell[1],
		       cell[2]);
	}
	if (!n)
		printf("(no process holds a dmasync object)\n");
}

static int cmd_leaks(struct listing *l, bool json, bool remember)
{
	struct proc_count *pc;
	char path[PATH_MAX], line[256];
	int n;
	FILE *f;

	count_processes(l, &pc, &n);
	/* The last look: "PID SYNC_FILES BUFFERS TIMELINES" per line. */
	if (state_path(path, sizeof(path)) && (f = fopen(path, "re"))) {
		while (fgets(line, sizeof(line), f)) {
			int pid, b[K_MAX];

			if (sscanf(line, "%d %d %d %d", &pid, &b[K_SYNC_FILE], &b[K_DMABUF],
				   &b[K_TIMELINE]) == 4)
				set_before(pc, n, pid, b);
		}
		fclose(f);
	}
	if (remember && state_path(path, sizeof(path)) && (f = fopen(path, "we"))) {
		for (int i = 0; i < n; i++)
			fprintf(f, "%d %d %d %d\n", pc[i].pid, pc[i].n[K_SYNC_FILE], pc[i].n[K_DMABUF],
				pc[i].n[K_TIMELINE]);
		fclose(f);
	}
	print_counts(pc, n, json);
	free(pc);
	return 0;
}

/* ---- the commands ------------------------------------------------------------------ */

/* Ask the broker and read /proc into @l.  Return: 0, or 1 with a message. */
static int load(struct listing *l, const char *cmd)
{
	FILE *in;
	int fd;

	memset(l, 0, sizeof(*l));
	fd = fetch(&l->broker_pid);
	if (fd == -ENOENT || fd == -ECONNREFUSED)
		return 0;	/* no broker: an empty listing */
	if (fd < 0) {
		fprintf(stderr, "dmasync %s: cannot ask the broker: %s\n", cmd, strerror(-fd));
		return 1;
	}
	in = fdopen(fd, "r");
	if (!in) {
		perror("dmasync");
		close(fd);
		return 1;
	}
	parse(in, l);
	fclose(in);
	scan_holders(l);
	return 0;
}

static void unload(struct listing *l)
{
	for (int i = 0; i < l->n; i++) {
		free(l->obj[i].fences);
		free(l->obj[i].points);
		free(l->obj[i].created);
		free(l->obj[i].holders);
	}
	free(l->obj);
	free(l->stuck);
	free(l->own);
	memset(l, 0, sizeof(*l));
}

static const char ls_usage[] =
	"Usage: dmasync ls [--json | --format=bufinfo | --format=sync-info]\n"
	"                  [--by-process]\n"
	"       dmasync ls --stuck[=SECONDS] [--json]\n"
	"       dmasync leaks [--json]\n"
	"\n"
	"  ls      every live buffer, sync file and timeline of the broker: what\n"
	"          it is, the process that made it, the processes holding it\n"
	"          (pid, command, fd numbers, mappings) and its fences.\n"
	"          --json for scripts; --format=bufinfo and --format=sync-info\n"
	"          print what Linux 6.1's /sys/kernel/debug/dma_buf/bufinfo and\n"
	"          /sys/kernel/debug/sync/info would.  No root needed: it asks the\n"
	"          broker and reads /proc of this user's processes.\n"
	"  ls --stuck[=SECONDS]\n"
	"          the fences pending longer than SECONDS, or without it, those\n"
	"          the watchdog reported (dmasync run --watchdog, dmasyncd\n"
	"          --watchdog): timeline, seqno, age, who made it, and what waits\n"
	"          on it (the sync files and buffers holding it, and their holders).\n"
	"  leaks   per process, the sync files, buffers and timelines it holds and\n"
	"          how that changed since the last `dmasync leaks` (same as\n"
	"          `ls --by-process`, which does not remember).\n"
	"\n"
	"No broker running means no objects (nothing is started).\n";

int dmasync_cmd_ls(int argc, char **argv, bool leaks)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "format", required_argument, NULL, 'f' },
		{ "by-process", no_argument, NULL, 'p' },
		{ "stuck", optional_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *format = NULL;
	bool json = false, by_process = leaks, stuck = false;
	double limit_s = -1;
	struct listing l;
	int c, r;

	optind = 1;
	while ((c = getopt_long(argc, argv, "jhp", opts, NULL)) != -1) {
		switch (c) {
		case 'j':
			json = true;
			break;
		case 'f':
			format = optarg;
			break;
		case 'p':
			by_process = true;
			break;
		case 's':
			stuck = true;
			if (optarg) {
				char *end;

				limit_s = strtod(optarg, &end);
				if (*end || !(limit_s >= 0)) {
					fprintf(stderr, "dmasync ls: --stuck=%s: seconds expected\n", optarg);
					return 2;
				}
			}
			break;
		case 'h':
			fputs(ls_usage, stdout);
			return 0;
		default:
			fputs(ls_usage, stderr);
			return 2;
		}
	}
	if (optind < argc || (format && strcmp(format, "bufinfo") && strcmp(format, "sync-info")) ||
	    (format && (json || by_process || stuck)) || (stuck && by_process)) {
		fputs(ls_usage, stderr);
		return 2;
	}
	r = load(&l, leaks ? "leaks" : "ls");
	if (r)
		return r;
	if (stuck)
		print_stuck(&l, limit_s, json);
	else if (by_process)
		cmd_leaks(&l, json, leaks);
	else if (format && !strcmp(format, "bufinfo"))
		print_bufinfo(&l);
	else if (format)
		print_sync_info(&l);
	else if (json)
		print_json(&l);
	else
		print_table(&l);
	unload(&l);
	return 0;
}

static const char watch_usage[] =
	"Usage: dmasync watch [--interval SECONDS] [--count N]\n"
	"Per process, the sync files, buffers and timelines it holds, refreshed\n"
	"every SECONDS (default 1), with the change since the watch began, and\n"
	"the fences pending longer than 5 s; q or Ctrl-C leaves.  Not on a\n"
	"terminal, it prints one view after another.  --count: stop after N views.\n";

/* Whether 'q' was typed on the terminal within @ms. */
static bool quit_typed(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000l };
	fd_set set;
	char ch;

	if (!isatty(0)) {
		nanosleep(&ts, NULL);
		return false;
	}
	FD_ZERO(&set);
	FD_SET(0, &set);
	if (select(1, &set, NULL, NULL, &(struct timeval){ ts.tv_sec, ts.tv_nsec / 1000 }) == 1 &&
	    read(0, &ch, 1) == 1)
		return ch == 'q' || ch == 'Q';
	return false;
}

int dmasync_cmd_watch(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "interval", required_argument, NULL, 'i' },
		{ "count", required_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct proc_count *base = NULL;
	int nbase = 0, count = -1, c, r = 0;
	bool tty = isatty(1);
	double interval = 1.0;
	struct termios old, raw;
	bool raw_set = false;

	optind = 1;
	while ((c = getopt_long(argc, argv, "i:n:h", opts, NULL)) != -1) {
		char *end;

		switch (c) {
		case 'i':
			interval = strtod(optarg, &end);
			if (*end || !(interval >= 0.05 && interval <= 3600)) {
				fprintf(stderr, "dmasync watch: --interval %s: seconds expected\n", optarg);
				return 2;
			}
			break;
		case 'n':
			count = atoi(optarg);
			break;
		case 'h':
			fputs(watch_usage, stdout);
			return 0;
		default:
			fputs(watch_usage, stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fputs(watch_usage, stderr);
		return 2;
	}
	if (isatty(0) && !tcgetattr(0, &old)) {
		raw = old;
		raw.c_lflag &= ~(tcflag_t)(ICANON | ECHO);
		raw_set = !tcsetattr(0, TCSANOW, &raw);
	}
	for (int view = 0; count < 0 || view < count; view++) {
		struct listing l;
		struct proc_count *pc;
		time_t t = time(NULL);
		char when[32];
		int n;

		r = load(&l, "watch");
		if (r)
			break;
		count_processes(&l, &pc, &n);
		if (!view) {
			base = pc;
			nbase = n;
			count_processes(&l, &pc, &n);
		}
		for (int i = 0; i < nbase; i++)
			set_before(pc, n, base[i].pid, base[i].n);
		strftime(when, sizeof(when), "%H:%M:%S", localtime(&t));
		if (tty)
			printf("\033[H\033[2J");
		printf("dmasync watch  %s  broker %d  %d objects  (change since the watch began)\n\n",
		       when, l.broker_pid, l.n);
		print_counts(pc, n, false);
		printf("\n");
		print_stuck(&l, 5.0, false);
		if (!tty)
			printf("\n");
		fflush(stdout);
		free(pc);
		unload(&l);
		if ((count < 0 || view + 1 < count) && quit_typed((int)(interval * 1000)))
			break;
	}
	if (raw_set)
		tcsetattr(0, TCSANOW, &old);
	free(base);
	return r;
}

static const char fault_usage[] =
	"Usage: dmasync fault stall CONTEXT\n"
	"       dmasync fault release CONTEXT [ERRNO]\n"
	"On the running broker, by hand: stall holds every SW_SYNC_IOC_INC of the\n"
	"timeline whose fence context is CONTEXT (dmasync ls shows it), as a GPU\n"
	"that hangs; release applies them, and the points they reach signal with\n"
	"-ERRNO (EIO, ETIME, ECANCELED, ... or a number; default ETIME; 0 for\n"
	"none), as after a GPU reset.  Faults chosen at random: dmasync run\n"
	"--fault (dmasync run --help).\n";

int dmasync_cmd_fault(int argc, char **argv)
{
	struct ipc_msg req = { .hdr = { .op = IPC_FAULT } }, rep;
	unsigned long long context;
	int sock, r, e = ETIME;
	char *end;

	if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
		fputs(fault_usage, stdout);
		return 0;
	}
	if (argc < 3 || argc > 4 || (strcmp(argv[1], "stall") && strcmp(argv[1], "release")) ||
	    (!strcmp(argv[1], "stall") && argc != 3)) {
		fputs(fault_usage, stderr);
		return 2;
	}
	errno = 0;
	context = strtoull(argv[2], &end, 0);
	if (errno || *end || end == argv[2]) {
		fprintf(stderr, "dmasync fault: %s: not a fence context\n", argv[2]);
		return 2;
	}
	if (argc == 4) {
		e = strcmp(argv[3], "0") ? fault_errno_parse(argv[3]) : 0;
		if (e < 0) {
			fprintf(stderr, "dmasync fault: %s: not an errno\n", argv[3]);
			return 2;
		}
	}
	req.hdr.arg0 = strcmp(argv[1], "stall") ? IPC_FAULT_RELEASE : IPC_FAULT_STALL;
	req.hdr.arg1 = context;
	req.hdr.arg2 = (uint64_t)e;
	sock = tool_broker_connect();
	if (sock < 0) {
		fprintf(stderr, "dmasync fault: no broker runs (%s)\n", strerror(-sock));
		return 1;
	}
	r = tool_broker_call(sock, &req, &rep);
	close(sock);
	if (!r)
		r = rep.hdr.ret < 0 ? (int)rep.hdr.ret : 0;
	if (r == -ENOENT) {
		fprintf(stderr, "dmasync fault: no %stimeline has context %llu\n",
			req.hdr.arg0 == IPC_FAULT_RELEASE ? "stalled " : "", context);
		return 1;
	}
	if (r) {
		fprintf(stderr, "dmasync fault: %s\n", strerror(-r));
		return 1;
	}
	if (req.hdr.arg0 == IPC_FAULT_RELEASE)
		printf("released: %lld points signaled\n", (long long)rep.hdr.ret);
	return 0;
}
