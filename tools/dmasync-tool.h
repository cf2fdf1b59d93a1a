/* SPDX-License-Identifier: MIT */
/* Private: the subcommands of the dmasync command (tools/dmasync.c). */
#ifndef DMASYNC_TOOL_H
#define DMASYNC_TOOL_H

#include <stdbool.h>

struct ipc_msg;

/* `dmasync ls` (@leaks false) and `dmasync leaks`: argv[0] is the
 * subcommand.  Return: the exit status. */
int dmasync_cmd_ls(int argc, char **argv, bool leaks);

/* `dmasync watch`: the leaks view, refreshed. */
int dmasync_cmd_watch(int argc, char **argv);

/* `dmasync fault stall|release`: by hand, on a running broker. */
int dmasync_cmd_fault(int argc, char **argv);

/*
 * tool_broker_connect - a connection to the running broker, after HELLO;
 * never starts one.  Return: the socket, or -ENOENT/-ECONNREFUSED when no
 * broker runs, or another negative errno.
 */
int tool_broker_connect(void);

/* A request and its reply (payload in tool_broker_payload(), valid until
 * the next call).  Return: 0 or a negative errno (transport). */
int tool_broker_call(int sock, struct ipc_msg *req, struct ipc_msg *rep);
const void *tool_broker_payload(void);

#endif
