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
/*
 * Set (for good) once the process registered a sync file or dma-buf in an
 * epoll set: a poll() or select() of an epoll fd may then observe them, so
 * it settles INCs made in the timeline page first (client_settle(): one
 * load when none is on its way), as epoll_wait() does.
 */
extern bool client_epoll_sets_hold_ours;
static inline void client_settle_for_epoll_sets(void)
{
	if (__atomic_load_n(&client_epoll_sets_hold_ours, __ATOMIC_RELAXED))
		client_settle();
}
void *client_entry_mmap(void *addr, size_t length, int prot, int flags, int fd, off_t offset,
			bool *handled);
off_t client_entry_lseek(int fd, off_t offset, int whence, bool *handled);
int client_entry_close(int fd, bool *handled);
/* The same for an fd already found to be @obj (client_find()): what the
 * process kept for it goes, the fd is closed, a timeline's last close
 * waits for the broker's release.  Return: close()'s. */
int client_close_obj(int fd, const struct client_obj *obj);

/**
 * client_close_begin() - before a close of @lo..@hi by another route
 * @lo: first number
 * @hi: last number
 * @objs: the timelines among them (room for @max)
 * @max: at most 64 are handled
 *
 * What client_close_obj() does around close() for each fd of the range the
 * table knows is dmasync's, for close_range(), dup2()/dup3() over an fd and
 * fclose(): a dma-buf's epoll registrations go now; a timeline is kept in
 * @objs for client_close_end(), after the system call.
 * Return: the number of timelines in @objs.
 */
int client_close_begin(unsigned int lo, unsigned int hi, struct client_obj *objs, int max);

/**
 * client_close_end() - after it: each timeline's last close, if it was
 * one, signals its points before this returns (a round trip each)
 * @objs: from client_close_begin()
 * @n: its return
 *
 * errno is kept.
 */
void client_close_end(const struct client_obj *objs, int n);

#endif
