/* SPDX-License-Identifier: MIT */
/* The libsync helpers (include/dmasync/libsync.h), on the entry points. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <dmasync/dmasync-uapi.h>
#include <dmasync/libsync.h>

int sync_wait(int fd, int timeout)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	int r;

	for (;;) {
		p.revents = 0;
		r = dmasync_poll(&p, 1, timeout);
		if (r > 0) {
			if (p.revents & (POLLERR | POLLNVAL)) {
				errno = EINVAL;
				return -1;
			}
			return 0;
		}
		if (r == 0) {
			errno = ETIME;
			return -1;
		}
		if (errno != EINTR && errno != EAGAIN)
			return -1;
	}
}

int sync_merge(const char *name, int fd1, int fd2)
{
	struct sync_merge_data m = { .fd2 = fd2 };

	if (name)
		strncpy(m.name, name, sizeof(m.name) - 1);
	if (dmasync_ioctl(fd1, SYNC_IOC_MERGE, &m))
		return -1;
	return m.fence;
}

int sync_accumulate(const char *name, int *fd1, int fd2)
{
	int merged;

	if (*fd1 < 0) {
		merged = dup(fd2);	/* as Mesa's: not close-on-exec */
		if (merged < 0)
			return -1;
		*fd1 = merged;
		return 0;
	}
	merged = sync_merge(name, *fd1, fd2);
	if (merged < 0)
		return -1;
	dmasync_close(*fd1);
	*fd1 = merged;
	return 0;
}

struct sync_file_info *sync_file_info(int32_t fd)
{
	struct sync_file_info count = { 0 }, *info;
	size_t size;

	if (dmasync_ioctl(fd, SYNC_IOC_FILE_INFO, &count))
		return NULL;
	/* The fences may change between the two calls (a merge never grows,
	 * so num_fences can only be what it was). */
	size = sizeof(*info) + count.num_fences * sizeof(struct sync_fence_info);
	info = calloc(1, size);
	if (!info)
		return NULL;
	info->num_fences = count.num_fences;
	info->sync_fence_info = (uint64_t)(uintptr_t)(info + 1);
	if (count.num_fences && dmasync_ioctl(fd, SYNC_IOC_FILE_INFO, info)) {
		int e = errno;

		free(info);
		errno = e;
		return NULL;
	}
	if (!count.num_fences)
		*info = count;
	return info;
}

struct sync_fence_info *sync_get_fence_info(const struct sync_file_info *info)
{
	return (struct sync_fence_info *)(uintptr_t)info->sync_fence_info;
}

void sync_file_info_free(struct sync_file_info *info)
{
	free(info);
}
