/* SPDX-License-Identifier: MIT */
/*
 * Private: the UAPI engine as the broker drives it.  Each call is what the
 * kernel does for one request on an fd of this process, with results as
 * negative errnos instead of errno (see docs/design.md, "Pieces").  All are
 * thread-safe.  Fds passed in are borrowed; fds returned are the caller's.
 */
#ifndef DMASYNC_UAPI_ENGINE_H
#define DMASYNC_UAPI_ENGINE_H

#include <stdbool.h>
#include <stdio.h>
#include <stdint.h>
#include <sys/types.h>

#include "ipc.h"

struct sync_timeline;

struct engine_obj_info {
	enum ipc_kind kind;
	dev_t dev;
	ino_t ino;
	uint64_t size;		/* dma-bufs */
	/* A timeline, or a sync file of one sw_sync point: its fence context
	 * (0: neither), the point's mark in the timeline page
	 * (broker_tlpage_mark()), the sync file's FILE_INFO name. */
	uint64_t context;
	uint64_t mark;
	char name[32];
	/* A sync file of 2..IPC_POINTS_MAX sw_sync points (context 0): each
	 * point's context and mark, in FILE_INFO's order. */
	unsigned int n_points;
	uint64_t contexts[IPC_POINTS_MAX], marks[IPC_POINTS_MAX];
	/* A sync file of the global stub fence (what EXPORT_SYNC_FILE gives
	 * for a buffer with nothing unsignaled to wait for). */
	bool stub;
};

/* open(2) of an emulated device path by a thread named @comm (NULL: this
 * one): a new fd or a negative errno. */
int engine_open(const char *path, int flags, const char *comm);

/* ioctl(2) on @fd: the result or a negative errno. */
long engine_ioctl(int fd, unsigned long request, void *arg);

/* What @fd is.  Return: its kind (IPC_KIND_NONE if not an object). */
enum ipc_kind engine_identify(int fd, struct engine_obj_info *info);

/*
 * engine_identify_claim - engine_identify(), and engine_claim() of the
 * same object by @owner (*@claimed: whether it became the owner), with
 * one lookup of @fd.
 */
enum ipc_kind engine_identify_claim(int fd, struct engine_obj_info *info, void *owner,
				    void (*released)(void *owner), bool *claimed);

/*
 * engine_trust_scratch - [@p, @p + @len) is the broker's own memory for
 * requests' arguments, mapped and writable for good: the handlers' copies
 * there need not ask the kernel first (uaccess.h).
 */
void engine_trust_scratch(void *p, size_t len);

/* Release now every object whose last fd is closed already (its hang-up
 * queued): uapi_files_settle(). */
void engine_settle_hangups(void);

/*
 * A copy of the fd of the object with (@dev, @ino) was closed somewhere:
 * if no copy is left, release the object now (a timeline's points signal
 * before this returns).
 */
void engine_closed(dev_t dev, ino_t ino);

/* The readiness mirror of the dma-buf @fd (a new fd), or a negative errno. */
int engine_mirror(int fd);

/*
 * The pieces of the udmabuf @fd from piece @first on: up to @max_pieces
 * of them into @pieces, with new fds of their memfds into @fds, one per
 * memfd, as long as no more than @max_fds are needed (*@nfds: how many).
 * *@total: the buffer's number of pieces.  Return: the number of pieces
 * filled (at least one), or a negative errno (-ENODEV: not a udmabuf,
 * -EINVAL: @first past its last piece).
 */
int engine_map(int fd, unsigned int first, struct ipc_map_piece *pieces, unsigned int max_pieces,
	       int *fds, unsigned int max_fds, unsigned int *nfds, unsigned int *total);

/*
 * DMA_BUF_IOCTL_SYNC without the wait: checks, begin/end CPU access, and
 * for START a sync file (*@wait_fd) of the fences to wait for, or -1.
 * For a buffer adopted with exporter ops (engine_adopt()), the op runs in
 * its maker: unless @exporter_done (START only: the caller has had it
 * run), the hook set by engine_on_cpu_access() is asked, and its answer
 * socket is returned in *@wait_fd with 1.
 * Return: 0, 1 (above) or a negative errno.
 */
int engine_sync(int fd, uint64_t flags, bool exporter_done, int *wait_fd);

/*
 * engine_on_cpu_access - set the hook that has the maker of an adopted
 * buffer (dev, ino) run its exporter's op (IPC_CPU_BEGIN or _END) with
 * direction @dir.  It returns a socket on which the op's int32_t result
 * will arrive, 0 if no op is to be called, or a negative errno.  Main
 * thread.
 */
void engine_on_cpu_access(int (*fn)(void *maker, dev_t dev, ino_t ino, unsigned int op, int dir));

/*
 * Make @owner the owner of the object behind @fd if it has none, and set
 * the hook that hears of owned objects' release.  Return: true if @owner
 * became its owner now.
 */
bool engine_claim(int fd, void *owner, void (*released)(void *owner));

/*
 * engine_on_timeline_release - call @fn with the timeline of every claimed
 * sw_sync file about to be released (before its pending points signal
 * -ENOENT), from whatever thread releases it.  Set once, before any claim.
 */
void engine_on_timeline_release(void (*fn)(struct sync_timeline *tl));

/* The same for every claimed dma-buf (its dev and inode), and for every
 * change of a dma-buf's fences (uapi_dmabuf_changed_hook: synchronous). */
void engine_on_dmabuf_release(void (*fn)(dev_t dev, ino_t ino));
void engine_on_dmabuf_change(void (*fn)(dev_t dev, ino_t ino));

/*
 * engine_dmabuf_ready - the directions in which the dma-buf @fd is ready
 * now: bit 0 POLLIN (no unsignaled writer), bit 1 POLLOUT (no unsignaled
 * reader or writer); a negative errno if @fd is not one.
 */
int engine_dmabuf_ready(int fd);

/*
 * engine_is_buffer - whether the file (@dev, @ino) is the memory of a live
 * dma-buf (an adopted buffer is its maker's memfd).  Any thread.
 */
bool engine_is_buffer(dev_t dev, ino_t ino);

/* What /proc shows of the dma-buf @fd.  Return: 0 or a negative errno. */
int engine_fdinfo(int fd, struct ipc_fdinfo *info);

/* Live fd-backed objects. */
unsigned int engine_object_count(void);

/*
 * engine_signal_by_record - a sync file shows its signal by its record
 * alone, without shutting its socket (src/uapi/sync_file-priv.h, "DOC: the
 * signal record"): every holder reads it through dmasync, and a shutdown
 * would wake the registry's monitor thread at every signal.  Main thread,
 * before the first object.
 */
void engine_signal_by_record(void);

/*
 * engine_list - every live object, in the listing format of src/uapi/file.h
 * ("DOC: object listing"), to @out.  @describe_owner prints "\tPID\tCOMM"
 * for an object's owner (engine_claim()).  Any thread; takes the objects'
 * locks one at a time.
 */
void engine_list(FILE *out, void (*describe_owner)(void *owner, FILE *out));

struct sync_timeline;
struct dma_fence;

/*
 * engine_timeline_get - the sw_sync timeline behind @fd with a reference
 * (sync_timeline_put()), and its owner (engine_claim()) into *@owner if
 * @owner; NULL if @fd is not a timeline.  Any thread.
 */
struct sync_timeline *engine_timeline_get(int fd, void **owner);

/* Call @fn for every live timeline with its owner (or NULL), holding a
 * reference and no lock. */
void engine_for_each_timeline(void (*fn)(struct sync_timeline *tl, void *owner, void *arg),
			      void *arg);

/* An object that holds fences (engine_for_each_fence()). */
struct engine_holder {
	const char *kind;	/* "sync_file", "dmabuf" */
	unsigned long ino;
	void *owner;		/* engine_claim()'s, or NULL */
};

/*
 * engine_for_each_fence - call @fn for each fence of each sync file
 * (unwrapped, usage "-") and dma-buf (its reservation's, with their usage)
 * with that object's locks held: @fn must not block nor call the engine.
 */
void engine_for_each_fence(void (*fn)(const struct engine_holder *h, const char *usage,
				      struct dma_fence *fence, void *arg),
			   void *arg);

/*
 * Adopted buffers (ipc.h, IPC_BUF_ADOPT).  engine_adopt(): the memfd
 * @memfd (borrowed) as @a describes it becomes a dma-buf whose maker is
 * @maker; return a new fd of it, or a negative errno.  For the others,
 * (@dev, @ino) must be a buffer @maker adopted (-ENOENT: released, -EPERM:
 * not its).  engine_adopted_push(): add @fences[i] (borrowed) with
 * @usages[i].  engine_adopted_pull(): a sync file of the unsignaled
 * writers (fds[0]) and readers (fds[1]) for which @mine() says false, each
 * only if there are any; return which (bit 0, bit 1).
 */
struct ipc_adopt;
enum dma_resv_usage;
int engine_adopt(int memfd, const struct ipc_adopt *a, void *maker);
int engine_adopted_push(dev_t dev, ino_t ino, void *maker, struct dma_fence **fences,
			const enum dma_resv_usage *usages, unsigned int n);
int engine_adopted_pull(dev_t dev, ino_t ino, void *maker,
			bool (*mine)(struct dma_fence *fence, void *arg), void *arg, int fds[2]);
/* engine_adopted_set_name(): @name (or NULL: none) as the buffer's name. */
int engine_adopted_set_name(dev_t dev, ino_t ino, void *maker, const char *name);
/* Fences that FILE_INFO of the sync file @fd reports (its unwrapped leaves);
 * a negative errno if @fd is not a sync file. */
long engine_sync_file_count(int fd);

#endif
