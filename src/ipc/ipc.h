/* SPDX-License-Identifier: MIT */
/*
 * Private: the protocol between libdmasync (the client) and dmasyncd (the
 * broker), and the transport both sides use.  See docs/design.md, "Protocol".
 *
 * One SOCK_SEQPACKET connection per process.  A message is a struct
 * ipc_hdr, then @len payload bytes, with @nfds file descriptors attached
 * (SCM_RIGHTS).  Requests and replies have the same shape; a reply carries
 * the request's @seq and its result in @ret (>= 0, or a negative errno).
 */
#ifndef DMASYNC_IPC_H
#define DMASYNC_IPC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define IPC_VERSION 10
/* The kernel's limit on fds in one SCM_RIGHTS message. */
#define IPC_MAX_FDS 253
/* Payload bytes: the largest argument (a udmabuf list of 1024 items, a
 * FILE_INFO array) fits. */
#define IPC_MAX_PAYLOAD (1u << 20)

enum ipc_op {
	IPC_HELLO = 1,	/* arg0: IPC_VERSION, arg1: client pid -> ret: version */
	IPC_OPEN,	/* arg0: enum ipc_device, arg1: open flags -> fd */
	IPC_IOCTL,	/* struct ipc_ioctl + region; fds: target, inputs -> see ipc_ioctl */
	IPC_IDENTIFY,	/* fd -> enum ipc_kind (IPC_KIND_NONE: not an object of ours),
			 * payload: its struct ipc_newfd */
	IPC_CLOSED,	/* arg0: dev, arg1: ino: a copy was closed; release now if last */
	IPC_MIRROR,	/* fd: a dma-buf -> its readiness mirror */
	IPC_MAP,	/* fd: a udmabuf, arg0: its first piece wanted, arg1:
			 * at most this many fds (0: no limit) -> arg0: its
			 * number of pieces; struct ipc_map_piece[] for pieces
			 * arg0 on, as many as the fds of one message name
			 * (one fd per memfd) */
	IPC_SYNC,	/* fd: a dma-buf; arg0: dma_buf_sync.flags, arg1:
			 * IPC_SYNC_* -> 0; or 1 + a sync file to wait on; or
			 * 2 + an answer socket: the exporter's CPU-access op
			 * runs in its maker (IPC_CPU_ACCESS); wait for its
			 * int32_t result there, then (START, result 0) ask
			 * again with IPC_SYNC_EXPORTER_DONE */
	IPC_STATS,	/* -> struct ipc_stats (tests, tools) */
	IPC_FDINFO,	/* fd: a dma-buf -> struct ipc_fdinfo */
	IPC_LIST,	/* -> fd: a memfd holding every live object, in the
			 * listing format (src/uapi/file.h); tools */
	IPC_FAULT,	/* arg0: IPC_FAULT_STALL or _RELEASE, arg1: a timeline's
			 * fence context, arg2: errno to release with -> 0 or
			 * points released (tools: `dmasync fault`) */
	IPC_DOORBELL,	/* arg0: slot + 1, arg1: its gen -> fd: the slot's doorbell
			 * (the broker watches it: a ring wakes it as a NUDGE) */
	IPC_SETTLE,	/* -> 0 once every INC made in the timeline page is applied;
			 * arg0 IPC_SETTLE_HANGUPS: and every object whose last
			 * fd was closed before is released (a child reaped) */
	IPC_NUDGE,	/* no reply: an INC was made in the timeline page, apply it */
	IPC_PROXY_CREATE, /* struct ipc_proxy -> fd: a sync file of a proxy fence,
			 * arg0: its id (0: made signaled, no PROXY_SIGNAL due) */
	IPC_PROXY_SIGNAL, /* no reply: arg0: id, arg1: status (1 or -errno),
			 * arg2: timestamp (CLOCK_MONOTONIC ns) */
	IPC_BUF_ADOPT,	/* fd: the memfd of a dma-buf of the client's in-process
			 * API; payload: struct ipc_adopt -> fd: the same buffer,
			 * now also the broker's (described; the client closes it);
			 * -EINVAL for one of the broker's own files */
	IPC_BUF_PUSH,	/* arg0: dev, arg1: ino of a buffer the client adopted,
			 * arg2: the change count it has seen; payload: struct
			 * ipc_push[] -> arg0: the change count before, arg1:
			 * after; payload: a uint64_t proxy id per entry */
	IPC_BUF_PULL,	/* arg0: dev, arg1: ino of a buffer the client adopted
			 * -> ret: its change count; arg0: bit 0: a sync file of
			 * the other holders' writers follows, bit 1: of their
			 * readers (in that order) */
	IPC_OWN_FD,	/* no reply: arg0: the number (int64_t; -1: none) at
			 * which the client library keeps a copy of the stub's
			 * sync file for itself, so that tools do not count it
			 * as the program's (IPC_LIST's "own" lines) */
	IPC_BUF_NAME,	/* arg0: dev, arg1: ino of a buffer the client adopted;
			 * payload: its new name, NUL included (none: no name)
			 * -> 0 */
	IPC_ACCESS_CHANNEL, /* fd: a SOCK_SEQPACKET socket, the client's channel
			 * for IPC_CPU_ACCESS (replaces an earlier one) -> 0;
			 * -EINVAL if its peer is the broker's own */
	IPC_CPU_ACCESS,	/* broker -> client, on its channel, no reply: arg0:
			 * dev, arg1: ino of a buffer it adopted, arg2:
			 * IPC_CPU_* op | direction << 8; fd: the answer socket,
			 * on which the client writes the op's int32_t result */
	IPC_FDS,	/* no reply: fds the next IPC_IOCTL's input fields name
			 * beyond what one message carries (struct ipc_ioctl) */
	IPC_OP_MAX,
};

/* IPC_SYNC's arg1. */
#define IPC_SYNC_EXPORTER_DONE 1u

enum ipc_fault_op {
	IPC_FAULT_STALL = 1,
	IPC_FAULT_RELEASE,
};

/*
 * IPC_HELLO's reply carries the timeline page (src/ipc/tlpage.h) as its
 * one fd, if the broker has one.
 *
 * IPC_HELLO may carry the diagnostics the process asks for, as text lines
 * "fault=SPEC" (src/ipc/fault-spec.h) and "watchdog=MS", with one fd
 * attached: where the broker reports them.  A log that is one of the
 * broker's own files (a socket whose peer it made, the timeline page) is
 * not kept, and a file log that is also a buffer is closed when the
 * client goes: either would keep alive what its last close releases.
 */

/* The kinds of objects behind dmasync fds (IPC_IDENTIFY). */
enum ipc_kind {
	IPC_KIND_NONE = 0,
	IPC_KIND_SYNC_FILE,
	IPC_KIND_TIMELINE,
	IPC_KIND_DMA_BUF,
	IPC_KIND_UDMABUF_DEV,
	IPC_KIND_HEAP_DEV,
	IPC_KIND_MAX,
};

/* Emulated device nodes (IPC_OPEN). */
enum ipc_device {
	IPC_DEV_SW_SYNC = 1,
	IPC_DEV_UDMABUF,
	IPC_DEV_HEAP_SYSTEM,
};

struct ipc_hdr {
	uint32_t op;
	uint32_t len;		/* payload bytes after the header */
	uint64_t seq;
	int64_t ret;
	uint64_t arg0, arg1, arg2;
	uint32_t nfds;		/* fds attached (checked against what arrived) */
	uint32_t flags;
};

/*
 * IPC_IOCTL request payload: this, then @in_len bytes of the caller's
 * argument region (for most requests the _IOC_SIZE bytes at the argument
 * pointer; see schema.c).  If @in_fault, the caller's region became
 * unreadable at byte @in_len; the broker lays the bytes out so that the
 * same offset faults for the engine.  fds: [0] the target, then each open
 * fd the input fd fields name, once however many name it (a udmabuf list
 * may name one memfd 1024 times).  After the region, @in_fd_count
 * uint16_t, one per input fd field in field order: 0 if it names no fd
 * sent (negative, or not open), else k, the k-th fd sent: fds[k] of this
 * message if k < nfds, else fd k - nfds of those that IPC_FDS messages
 * just before it carried (a list naming more files than one message
 * can carry; the broker closes them once the request is served).
 *
 * Reply payload: this, with @out_len bytes of the argument region and
 * @array_len bytes of the FILE_INFO array after it; fds: one per output fd
 * field that was filled (bit i of @out_fd_mask), in field order; the
 * reply's ret is the ioctl's result (for UDMABUF_CREATE*, with the new fd
 * attached first and bit 31 of @out_fd_mask set).
 */
struct ipc_ioctl {
	uint32_t request;
	uint32_t kind;		/* enum ipc_kind of the target, as the client knows it */
	uint32_t in_len;
	uint32_t in_fault;
	uint32_t out_len;
	uint32_t array_len;
	uint32_t in_fd_count;
	uint32_t out_fd_mask;
};

#define IPC_FD_RET (1u << 31)

/*
 * IPC_IOCTL request flag (hdr.flags): the client did not identify the
 * target (it saved the fstat()); @kind is what the request code implies.
 * If the broker does not know the fd, it answers at once with
 * hdr.arg0 = IPC_IOCTL_NOT_OURS and the client identifies it the usual
 * way (a foreign fd, or an object of a broker that died).  Otherwise the
 * reply has the flag too and describes the target (a struct ipc_newfd)
 * after the new fds' descriptions: the client keeps what it knows of an
 * object it uses fresh, for the day its broker is gone.
 */
#define IPC_IOCTL_UNIDENTIFIED 1u
/* IPC_SETTLE's arg0: also release what the hang-ups queued name. */
#define IPC_SETTLE_HANGUPS 1u
#define IPC_IOCTL_NOT_OURS 0x6e6f74u

/*
 * Replies that hand over new fds describe each, in order, after the
 * request-specific payload: what it is, so that the client need not ask.
 */
struct ipc_newfd {
	uint32_t kind;		/* enum ipc_kind */
	uint32_t flags;		/* IPC_NEWFD_* */
	uint64_t dev, ino, size;
	/* A timeline, or a sync file of one sw_sync point: its timeline's
	 * slot + 1 in the timeline page (0: none) and generation; the
	 * point's mark (the slot's count at which it signals, 0: signaled;
	 * tlpage.h) and the sync file's name (FILE_INFO while pending).
	 * A dma-buf: its buffer slot + 1 and generation (tlpage.h). */
	uint32_t tl_slot, tl_gen;
	uint64_t mark;
	char name[32];
	/* A sync file of 2..IPC_POINTS_MAX sw_sync points (a merge), each
	 * with a slot in the page (tl_slot above is then 0): the points in
	 * FILE_INFO's order, @name its name. */
	uint32_t n_points, pad;
	struct ipc_point {
		uint32_t tl_slot, tl_gen;
		uint64_t mark;
	} points[4];
};
#define IPC_POINTS_MAX 4
#define IPC_NEWFD_INHERIT 1u	/* the fd must not be FD_CLOEXEC */
/* A sync file of the stub fence: every one is alike, so the client may
 * keep one and answer EXPORT_SYNC_FILE of a buffer the page says has
 * nothing to wait for with a copy (docs/design.md section 16). */
#define IPC_NEWFD_STUB 2u

/*
 * IPC_PROXY_CREATE: a fence of the client's own (the in-process kernel API:
 * sync_file_create() and what builds on it) that a sync file is being made
 * of.  The broker makes a proxy fence with these names, on a context of its
 * own per (client, @context), and a sync file of it named @name; the client
 * signals it with IPC_PROXY_SIGNAL when its fence signals, and if the
 * client goes first the proxy signals -EPIPE.
 */
struct ipc_proxy {
	uint64_t context, seqno;
	int64_t timestamp;	/* signaled already: when */
	int32_t status;		/* 0: pending; 1: signaled; -errno: signaled with an error */
	uint32_t flags;		/* IPC_PROXY_* */
	char driver[32], timeline[32];
	char name[32];		/* the sync file's FILE_INFO name */
};
#define IPC_PROXY_SEQNO64 1u	/* the fence's ops use 64-bit seqnos */

/*
 * IPC_BUF_ADOPT: a dma-buf made with dma_buf_export() in the client (its
 * pages a memfd) becomes a buffer of the broker's as well, so that every
 * process it reaches can use it; the client mirrors its reservation
 * object and the broker's (IPC_BUF_PUSH: its own fences, as proxies;
 * IPC_BUF_PULL: everyone else's).  The change count is the upper 30 bits
 * of the buffer's tlpage_buf.ready (tlpage.h).
 */
struct ipc_adopt {
	uint64_t size;
	uint32_t accmode;	/* O_RDONLY, O_WRONLY or O_RDWR */
	uint32_t has_name;
	char exp_name[32];
	char name[32];
	uint32_t cpu_ops;	/* IPC_CPU_*: the exporter's ops, which other
				 * processes' DMA_BUF_IOCTL_SYNC has the client
				 * call (IPC_CPU_ACCESS) */
	uint32_t pad;
};
#define IPC_CPU_BEGIN 1u	/* begin_cpu_access (SYNC_START) */
#define IPC_CPU_END 2u		/* end_cpu_access (SYNC_END) */

/* IPC_BUF_PUSH entry: a fence added with @usage (enum dma_resv_usage). */
struct ipc_push {
	uint32_t usage;
	uint32_t pad;
	struct ipc_proxy fence;
};

/* IPC_FDINFO reply: what the kernel shows of a dma-buf in /proc. */
struct ipc_fdinfo {
	uint64_t size;
	char exp_name[32];
	char name[32];		/* DMA_BUF_NAME_LEN */
	uint32_t has_name;
};

/* IPC_MAP reply: one per piece, in buffer order from the first asked. */
struct ipc_map_piece {
	uint64_t offset;	/* in the source memfd */
	uint64_t len;
	uint32_t fd;		/* index of its memfd in the reply's fds */
	uint32_t pad;
};

struct ipc_stats {
	uint64_t pid;		/* the broker's */
	uint64_t clients;
	uint64_t objects;	/* live fd-backed objects */
	uint64_t requests;
	uint64_t cpu_ns;	/* the broker's CPU time so far (user + system) */
	uint64_t nudges;	/* IPC_NUDGE messages received */
	uint64_t rings;		/* wake-ups of its loop by a doorbell */
};

/* A message being built or received. */
struct ipc_msg {
	struct ipc_hdr hdr;
	void *payload;		/* IPC_MAX_PAYLOAD bytes for receiving */
	int fds[IPC_MAX_FDS];
	unsigned int nfds;
};

/*
 * ipc_send - send @msg (header, hdr.len payload bytes, nfds fds) on @sock.
 * The fds are borrowed.  @flags: MSG_DONTWAIT or 0.
 * Return: 0 or a negative errno (-EBADF if an attached fd is not open).
 */
int ipc_send(int sock, struct ipc_msg *msg, int flags);

/*
 * ipc_recv - receive one message into @msg (payload must point to
 * IPC_MAX_PAYLOAD bytes).  Received fds are FD_CLOEXEC and the caller's.
 * Return: 0, -ECONNRESET at end of file, or a negative errno; -EPROTO
 * (received fds closed) for a malformed message.
 */
int ipc_recv(int sock, struct ipc_msg *msg, int flags);

/*
 * ipc_mark_fd - mark the socket @fd as the broker's object of @kind.  The
 * mark is an SO_LINGER time, which Unix sockets store and report but never
 * act on; it stays on the socket after the broker is gone, so a process
 * that never saw the object can still tell it was one of a dead broker's
 * (ipc_marked_kind()).  Not for dma-bufs (memfds).  Errors are ignored:
 * the mark only turns a later ENOTTY into ENOLINK.
 */
void ipc_mark_fd(int fd, enum ipc_kind kind);

/*
 * ipc_marked_kind - the enum ipc_kind ipc_mark_fd() gave the socket @fd.
 * Return: IPC_KIND_NONE if it is not a marked socket.  One system call.
 */
enum ipc_kind ipc_marked_kind(int fd);

/*
 * ipc_default_socket - the broker's socket path: $DMASYNC_SOCKET, else
 * $XDG_RUNTIME_DIR/dmasync/broker-vN, else /tmp/dmasync-$UID/broker-vN
 * (N: IPC_VERSION); the directory of the last two is created 0700 and
 * refused (-EPERM) if it is not a directory of ours that only we can
 * enter.
 * Return: 0 or a negative errno.
 */
int ipc_default_socket(char *buf, size_t len);

/*
 * ipc_sockaddr - the address of the socket at @path.  A path too long for
 * sun_path is reached through an O_PATH fd of its directory, returned in
 * *@dirfd for the caller to close after bind()/connect() (-1 if none).
 * Return: 0 or a negative errno.
 */
struct sockaddr_un;
int ipc_sockaddr(const char *path, struct sockaddr_un *sa, int *dirfd);

/* Close every fd of @msg and forget them. */
void ipc_msg_close_fds(struct ipc_msg *msg);

#endif
