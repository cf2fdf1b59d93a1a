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
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <unistd.h>

#include "dmasync-tool.h"
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
	int npoints;
	struct holder *holders;
	int nholders;
};

struct listing {
	struct object *obj;
	int n;
	int broker_pid;
};

/* ---- the broker --------------------------------------------------------------------- */

static int broker_call(int sock, struct ipc_msg *req, struct ipc_msg *rep)
{
	int r = ipc_send(sock, req, 0);

	return r ? r : ipc_recv(sock, rep, 0);
}

/* The listing's memfd and the broker's pid; -ENOENT/-ECONNREFUSED: none runs. */
static int fetch(int *broker_pid)
{
	static char rx[IPC_MAX_PAYLOAD];
	char path[PATH_MAX];
	struct sockaddr_un sa;
	struct ipc_msg req = { .hdr = { .op = IPC_HELLO, .arg0 = IPC_VERSION,
					.arg1 = (uint64_t)getpid() } };
	struct ipc_msg rep = { .payload = rx };
	struct ipc_stats st;
	int dirfd, sock, r, fd = -1;

	r = ipc_default_socket(path, sizeof(path));
	if (!r)
		r = ipc_sockaddr(path, &sa, &dirfd);
	if (r)
		return r;
	sock = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (sock < 0 || connect(sock, (struct sockaddr *)&sa, sizeof(sa)))
		r = -errno;
	if (dirfd >= 0)
		close(dirfd);
	if (!r)
		r = broker_call(sock, &req, &rep);
	if (!r && rep.hdr.ret != IPC_VERSION)
		r = -EPROTO;
	if (!r) {
		req = (struct ipc_msg){ .hdr = { .op = IPC_STATS } };
		r = broker_call(sock, &req, &rep);
		if (!r && rep.hdr.len >= sizeof(st)) {
			memcpy(&st, rx, sizeof(st));
			*broker_pid = (int)st.pid;
		}
	}
	if (!r) {
		req = (struct ipc_msg){ .hdr = { .op = IPC_LIST } };
		r = broker_call(sock, &req, &rep);
		if (!r && rep.hdr.ret)
			r = (int)rep.hdr.ret;
		if (!r && rep.nfds == 1)
			fd = rep.fds[0];
		else
			ipc_msg_close_fds(&rep);
		if (!r && fd < 0)
			r = -EPROTO;
	}
	if (sock >= 0)
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
	char line[1024], *f[16];
	struct object *cur = NULL;

	while (fgets(line, sizeof(line), in)) {
		int n = split(line, f, 16);
		enum kind k;

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
			cur->points[cur->npoints++] = strtoull(f[1], NULL, 10);
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

static void scan_holders(struct listing *l)
{
	DIR *proc = opendir("/proc");
	struct dirent *p;
	uid_t me = geteuid();

	while (proc && (p = readdir(proc))) {
		char path[300], comm[32];
		struct dirent *e;
		struct stat st;
		DIR *fds;
		int pid;

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
		while ((e = readdir(fds))) {
			struct object *o;
			struct holder *h;

			if (!isdigit((unsigned char)e->d_name[0]))
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
				printf(", \"value\": %lld, \"pending\": [", o->num);
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

static int cmd_leaks(struct listing *l, bool json, bool remember)
{
	struct proc_count *pc = NULL;
	char path[PATH_MAX], line[256];
	int n = 0;
	FILE *f;

	for (int i = 0; i < l->n; i++) {
		struct object *o = &l->obj[i];

		for (int j = 0; j < o->nholders; j++) {
			struct holder *h = &o->holders[j];

			count_of(&pc, &n, h->pid, h->comm)->n[o->kind] += h->nfds + h->more_fds;
		}
	}
	/* The last look: "PID SYNC_FILES BUFFERS TIMELINES" per line. */
	if (state_path(path, sizeof(path)) && (f = fopen(path, "re"))) {
		while (fgets(line, sizeof(line), f)) {
			int pid, b[K_MAX];

			if (sscanf(line, "%d %d %d %d", &pid, &b[K_SYNC_FILE], &b[K_DMABUF],
				   &b[K_TIMELINE]) != 4)
				continue;
			for (int i = 0; i < n; i++) {
				if (pc[i].pid != pid)
					continue;
				memcpy(pc[i].before, b, sizeof(b));
				pc[i].seen_before = true;
			}
		}
		fclose(f);
	}
	if (remember && state_path(path, sizeof(path)) && (f = fopen(path, "we"))) {
		for (int i = 0; i < n; i++)
			fprintf(f, "%d %d %d %d\n", pc[i].pid, pc[i].n[K_SYNC_FILE], pc[i].n[K_DMABUF],
				pc[i].n[K_TIMELINE]);
		fclose(f);
	}
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
	} else {
		printf("%8s %-16s %12s %12s %12s\n", "PID", "COMMAND", "SYNC FILES", "BUFFERS",
		       "TIMELINES");
		for (int i = 0; i < n; i++) {
			char cell[K_MAX][32];
			static const int order[] = { K_SYNC_FILE, K_DMABUF, K_TIMELINE };

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
	free(pc);
	return 0;
}

/* ---- the commands ------------------------------------------------------------------ */

static const char ls_usage[] =
	"Usage: dmasync ls [--json | --format=bufinfo | --format=sync-info] [--by-process]\n"
	"       dmasync leaks [--json]\n"
	"\n"
	"  ls      every live buffer, sync file and timeline of the broker: what\n"
	"          it is, the process that made it, the processes holding it\n"
	"          (pid, command, fd numbers, mappings) and its fences.\n"
	"          --json for scripts; --format=bufinfo and --format=sync-info\n"
	"          print what Linux 6.1's /sys/kernel/debug/dma_buf/bufinfo and\n"
	"          /sys/kernel/debug/sync/info would.  No root needed: it asks the\n"
	"          broker and reads /proc of this user's processes.\n"
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
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *format = NULL;
	bool json = false, by_process = leaks;
	struct listing l = { 0 };
	FILE *in;
	int c, fd;

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
		case 'h':
			fputs(ls_usage, stdout);
			return 0;
		default:
			fputs(ls_usage, stderr);
			return 2;
		}
	}
	if (optind < argc || (format && strcmp(format, "bufinfo") && strcmp(format, "sync-info")) ||
	    (format && (json || by_process))) {
		fputs(ls_usage, stderr);
		return 2;
	}
	fd = fetch(&l.broker_pid);
	if (fd == -ENOENT || fd == -ECONNREFUSED) {
		fd = -1;	/* no broker: an empty listing */
	} else if (fd < 0) {
		fprintf(stderr, "dmasync %s: cannot ask the broker: %s\n", leaks ? "leaks" : "ls",
			strerror(-fd));
		return 1;
	}
	if (fd >= 0) {
		in = fdopen(fd, "r");
		if (!in) {
			perror("dmasync");
			return 1;
		}
		parse(in, &l);
		fclose(in);
	}
	scan_holders(&l);
	if (by_process)
		cmd_leaks(&l, json, leaks);
	else if (format && !strcmp(format, "bufinfo"))
		print_bufinfo(&l);
	else if (format)
		print_sync_info(&l);
	else if (json)
		print_json(&l);
	else
		print_table(&l);
	for (int i = 0; i < l.n; i++) {
		free(l.obj[i].fences);
		free(l.obj[i].points);
		free(l.obj[i].holders);
	}
	free(l.obj);
	return 0;
}
