/* SPDX-License-Identifier: MIT */
/* The message transport of the client/broker protocol: see ipc.h. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "ipc.h"

int ipc_send(int sock, struct ipc_msg *msg, int flags)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * IPC_MAX_FDS)];
		struct cmsghdr align;
	} ctl;
	struct iovec iov[2] = {
		{ &msg->hdr, sizeof(msg->hdr) },
		{ msg->payload, msg->hdr.len },
	};
	struct msghdr mh = {
		.msg_iov = iov,
		.msg_iovlen = msg->hdr.len ? 2 : 1,
	};
	ssize_t r;

	msg->hdr.nfds = msg->nfds;
	if (msg->nfds) {
		struct cmsghdr *c;

		mh.msg_control = ctl.buf;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * msg->nfds);
		/* The padding after the fds goes out too: no stack garbage. */
		memset(ctl.buf, 0, mh.msg_controllen);
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * msg->nfds);
		memcpy(CMSG_DATA(c), msg->fds, sizeof(int) * msg->nfds);
	}
	do
		r = sendmsg(sock, &mh, flags | MSG_NOSIGNAL);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		return -errno;
	return r == (ssize_t)(sizeof(msg->hdr) + msg->hdr.len) ? 0 : -EPROTO;
}

void ipc_msg_close_fds(struct ipc_msg *msg)
{
	for (unsigned int i = 0; i < msg->nfds; i++)
		close(msg->fds[i]);
	msg->nfds = 0;
}

int ipc_recv(int sock, struct ipc_msg *msg, int flags)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * IPC_MAX_FDS)];
		struct cmsghdr align;
	} ctl;
	struct iovec iov[2] = {
		{ &msg->hdr, sizeof(msg->hdr) },
		{ msg->payload, IPC_MAX_PAYLOAD },
	};
	struct msghdr mh = {
		.msg_iov = iov,
		.msg_iovlen = 2,
		.msg_control = ctl.buf,
		.msg_controllen = sizeof(ctl.buf),
	};
	struct cmsghdr *c;
	ssize_t r;

	msg->nfds = 0;
	do
		r = recvmsg(sock, &mh, flags | MSG_CMSG_CLOEXEC);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		return -errno;
	for (c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
			unsigned int n = (unsigned int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
			int fd;

			for (unsigned int i = 0; i < n; i++) {
				memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
				if (msg->nfds < IPC_MAX_FDS)
					msg->fds[msg->nfds++] = fd;
				else
					close(fd);	/* more than any message has */
			}
		}
	}
	if (r == 0) {
		/* The end, or an empty message (a SOCK_SEQPACKET peer may send
		 * one, with fds): either way no request.  Its fds are ours. */
		ipc_msg_close_fds(msg);
		return -ECONNRESET;
	}
	if ((size_t)r < sizeof(msg->hdr) || (size_t)r != sizeof(msg->hdr) + msg->hdr.len ||
	    (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) || msg->hdr.nfds != msg->nfds) {
		ipc_msg_close_fds(msg);
		return (mh.msg_flags & MSG_CTRUNC) ? -EMFILE : -EPROTO;
	}
	return 0;
}

/* The directory of the broker's socket: created 0700, refused if it is not
 * ours alone.  Return: 0 or a negative errno. */
static int check_dir(const char *dir)
{
	struct stat st;

	if (mkdir(dir, 0700) && errno != EEXIST)
		return -errno;
	if (lstat(dir, &st))
		return -errno;
	if (!S_ISDIR(st.st_mode) || st.st_uid != geteuid() || (st.st_mode & 077))
		return -EPERM;
	return 0;
}

int ipc_sockaddr(const char *path, struct sockaddr_un *sa, int *dirfd)
{
	const char *slash = strrchr(path, '/');
	char dir[PATH_MAX];
	int n;

	*dirfd = -1;
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	if (strlen(path) < sizeof(sa->sun_path)) {
		strcpy(sa->sun_path, path);
		return 0;
	}
	/* Too long for sun_path (a deep build tree): through the directory. */
	if (!slash || slash == path || (size_t)(slash - path) >= sizeof(dir))
		return -ENAMETOOLONG;
	memcpy(dir, path, (size_t)(slash - path));
	dir[slash - path] = '\0';
	*dirfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (*dirfd < 0)
		return -errno;
	n = snprintf(sa->sun_path, sizeof(sa->sun_path), "/proc/self/fd/%d/%s", *dirfd, slash + 1);
	if (n < 0 || (size_t)n >= sizeof(sa->sun_path)) {
		close(*dirfd);
		*dirfd = -1;
		return -ENAMETOOLONG;
	}
	return 0;
}

int ipc_default_socket(char *buf, size_t len)
{
	const char *env = getenv("DMASYNC_SOCKET");
	const char *rt = getenv("XDG_RUNTIME_DIR");
	char dir[PATH_MAX];
	int r;

	if (env && *env) {
		if (strlen(env) >= len)
			return -ENAMETOOLONG;
		strcpy(buf, env);
		return 0;
	}
	if (rt && *rt && rt[0] == '/')
		r = snprintf(dir, sizeof(dir), "%s/dmasync", rt);
	else
		r = snprintf(dir, sizeof(dir), "/tmp/dmasync-%u", (unsigned int)geteuid());
	if (r < 0 || (size_t)r >= sizeof(dir))
		return -ENAMETOOLONG;
	r = check_dir(dir);
	if (r)
		return r;
	/* One socket per protocol version: a broker of another version that
	 * lingers (an older one, with objects still alive) is not in the way
	 * of programs built with this one (it would answer them EPROTO). */
	r = snprintf(buf, len, "%s/broker-v%d", dir, IPC_VERSION);
	return r < 0 || (size_t)r >= len ? -ENAMETOOLONG : 0;
}


/* Below 2^32 / 1000 s, so that the kernel's seconds * HZ fits its u32. */
#define MARK_LINGER_BASE 0x390000

void ipc_mark_fd(int fd, enum ipc_kind kind)
{
	struct linger l = { .l_onoff = 1, .l_linger = MARK_LINGER_BASE + (int)kind };

	(void)setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
}

enum ipc_kind ipc_marked_kind(int fd)
{
	struct linger l = { 0 };
	socklen_t len = sizeof(l);

	if (getsockopt(fd, SOL_SOCKET, SO_LINGER, &l, &len) || len != sizeof(l) || !l.l_onoff ||
	    l.l_linger <= MARK_LINGER_BASE + IPC_KIND_NONE || l.l_linger >= MARK_LINGER_BASE + IPC_KIND_MAX)
		return IPC_KIND_NONE;
	return (enum ipc_kind)(l.l_linger - MARK_LINGER_BASE);
}
