/* SPDX-License-Identifier: MIT */
/* Private: the subcommands of the dmasync command (tools/dmasync.c). */
#ifndef DMASYNC_TOOL_H
#define DMASYNC_TOOL_H

#include <stdbool.h>

/* `dmasync ls` (@leaks false) and `dmasync leaks`: argv[0] is the
 * subcommand.  Return: the exit status. */
int dmasync_cmd_ls(int argc, char **argv, bool leaks);

#endif
