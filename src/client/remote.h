/* SPDX-License-Identifier: MIT */
/*
 * Private: the entry points' calls for objects of the broker (remote.c).
 * Each sets *@handled to whether @fd (or @path) was the broker's; if so it
 * returns the result with errno set, as the system call would.
 */
#ifndef DMASYNC_CLIENT_REMOTE_H
#define DMASYNC_CLIENT_REMOTE_H

#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <sys/epoll.h>
#include <sys/types.h>
#include <time.h>

int client_entry_open(const char *path, int flags, bool *handled);
long client_entry_ioctl(int fd, unsigned long request, void *arg, bool *handled);
int client_entry_ppoll(struct pollfd *fds, nfds_t nfds, const struct timespec *tmo,
		       const sigset_t *sigmask, bool *handled);
int client_entry_epoll_ctl(int epfd, int op, int fd, struct epoll_event *event, bool *handled);
void *client_entry_mmap(void *addr, size_t length, int prot, int flags, int fd, off_t offset,
			bool *handled);
off_t client_entry_lseek(int fd, off_t offset, int whence, bool *handled);
int client_entry_close(int fd, bool *handled);
/* The same for an fd already found to be @obj (client_find()): what the
 * process kept for it goes, the fd is closed, a timeline's last close
 * waits for the broker's release.  Return: close()'s. */
int client_close_obj(int fd, const struct client_obj *obj);

#endif
