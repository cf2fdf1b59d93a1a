// SPDX-License-Identifier: MIT
/*
 * The dmasync command's connection to the broker (dmasync-tool.h): it
 * never starts one; no broker means no objects.
 */
#include <errno.h>
#include <limits.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "dmasync-tool.h"
#include "ipc.h"

static char rx[IPC_MAX_PAYLOAD];

int tool_broker_call(int sock, struct ipc_msg *req, struct ipc_msg *rep)
{
	int r;

	rep->payload = rx;
	r = ipc_send(sock, req, 0);
	return r ? r : ipc_recv(sock, rep, 0);
}

int tool_broker_connect(void)
{
	struct ipc_msg req = { .hdr = { .op = IPC_HELLO, .arg0 = IPC_VERSION,
					.arg1 = (uint64_t)getpid() } };
	struct ipc_msg rep;
	char path[PATH_MAX];
	struct sockaddr_un sa;
	int dirfd = -1, sock, r;

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
		r = tool_broker_call(sock, &req, &rep);
	if (!r) {
		ipc_msg_close_fds(&rep);
		if (rep.hdr.ret != IPC_VERSION)
			r = -EPROTO;
	}
	if (r) {
		if (sock >= 0)
			close(sock);
		return r;
	}
	return sock;
}

const void *tool_broker_payload(void)
{
	return rx;
}
