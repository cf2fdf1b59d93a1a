// SPDX-License-Identifier: MIT
/*
 * The broker's side of the timeline page (tlpage.h, src/ipc/tlpage.h).
 *
 * Per slot the broker keeps, privately: the timeline (a reference), its
 * fence context, the page count it has applied (@seen) and the log
 * position it has read up to, and the doorbell if anyone asked for it.
 * Clients only ever add to a slot's count; the broker turns each
 * difference it finds into sync_timeline signals (in steps the core splits
 * at INT_MAX, as Linux's INC), in log order with the logged times where
 * the log still holds them (an INC's points signal at the time that INC
 * was made), the rest at once.
 *
 * The doorbells are watched in the broker's loop (broker_tlpage_watch()):
 * a client whose INC rings one needs no IPC_NUDGE to wake the broker.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <dmasync/sw_sync.h>
#include "sw_sync-priv.h"
#include "tlpage.h"
#include "../ipc/tlpage.h"

#define BUCKETS 1024u

struct slot_priv {
	struct sync_timeline *tl;	/* a reference; NULL: free */
	uint64_t context;
	uint64_t seen;			/* page count applied */
	uint32_t log_seen;		/* log position read up to */
	int doorbell;			/* eventfd, or -1 */
	int next;			/* hash chain (slot index), or -1 */
	int next_free;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static void *page;
static int page_fd = -1;
static struct slot_priv priv[TLPAGE_SLOTS];
static int bucket[BUCKETS];
static int free_head = -1;
static int watch_epfd = -1;		/* the loop's epoll set, or -1 */
static void *watch_tag;			/* its data for a doorbell */

static unsigned int hash(uint64_t context)
{
	return (unsigned int)((context * 0x9E3779B97F4A7C15ull) >> 54) % BUCKETS;
}

/*
 * Buffers (struct tlpage_buf): a slot per dma-buf the broker described to
 * a client, keyed by (dev, inode), under their own lock, which is never
 * held across anything but the table and the page: the change hook
 * (engine_on_dmabuf_change()) takes it with a reservation object's hooks'
 * lock held.
 */
struct buf_priv {
	dev_t dev;
	ino_t ino;
	bool used;
	int next;		/* hash chain, or -1 */
	int next_free;
};

static pthread_mutex_t buf_lock = PTHREAD_MUTEX_INITIALIZER;
static struct buf_priv bpriv[TLPAGE_BUFS];
static int bbucket[BUCKETS];
static int bfree = -1;

static unsigned int buf_hash(dev_t dev, ino_t ino)
{
	return (unsigned int)((((uint64_t)ino * 0x9E3779B97F4A7C15ull) ^ (uint64_t)dev) >> 54) %
	       BUCKETS;
}

/* buf_lock held: the slot of (@dev, @ino), or -1. */
static int buf_find_locked(dev_t dev, ino_t ino)
{
	for (int i = bbucket[buf_hash(dev, ino)]; i >= 0; i = bpriv[i].next)
		if (bpriv[i].used && bpriv[i].dev == dev && bpriv[i].ino == ino)
			return i;
	return -1;
}

bool broker_tlpage_buf_describe(dev_t dev, ino_t ino, int ready, uint32_t *slot1, uint32_t *gen)
{
	struct tlpage_buf *b;
	int i;

	if (!__atomic_load_n(&page, __ATOMIC_ACQUIRE))
		return false;
	pthread_mutex_lock(&buf_lock);
	i = buf_find_locked(dev, ino);
	if (i < 0 && bfree >= 0) {
		uint32_t g;

		i = bfree;
		bfree = bpriv[i].next_free;
		bpriv[i].used = true;
		bpriv[i].dev = dev;
		bpriv[i].ino = ino;
		bpriv[i].next = bbucket[buf_hash(dev, ino)];
		bbucket[buf_hash(dev, ino)] = i;
		b = tlpage_buf(page, (uint32_t)i);
		__atomic_store_n(&b->ready, 0, __ATOMIC_SEQ_CST);
		__atomic_store_n(&b->ino, (uint64_t)ino, __ATOMIC_RELAXED);
		g = __atomic_load_n(&b->gen, __ATOMIC_RELAXED);
		__atomic_store_n(&b->gen, (g + 1) | 1u, __ATOMIC_RELEASE);	/* odd: live */
	}
	if (i >= 0) {
		b = tlpage_buf(page, (uint32_t)i);
		if (ready >= 0)
			__atomic_store_n(&b->ready,
					 (__atomic_load_n(&b->ready, __ATOMIC_RELAXED) & ~3u) |
					 ((uint32_t)ready & 3u), __ATOMIC_SEQ_CST);
		*slot1 = (uint32_t)i + 1;
		*gen = __atomic_load_n(&b->gen, __ATOMIC_RELAXED);
	}
	pthread_mutex_unlock(&buf_lock);
	return i >= 0;
}

void broker_tlpage_buf_ready(dev_t dev, ino_t ino, int ready)
{
	uint32_t slot1, gen;

	if (ready >= 0)
		broker_tlpage_buf_describe(dev, ino, ready, &slot1, &gen);
}

void broker_tlpage_buf_changed(dev_t dev, ino_t ino)
{
	int i;

	if (!__atomic_load_n(&page, __ATOMIC_ACQUIRE))
		return;
	pthread_mutex_lock(&buf_lock);
	i = buf_find_locked(dev, ino);
	if (i >= 0) {
		struct tlpage_buf *b = tlpage_buf(page, (uint32_t)i);

		/* Not ready as far as anyone knows; one change more. */
		__atomic_store_n(&b->ready, (__atomic_load_n(&b->ready, __ATOMIC_RELAXED) & ~3u) + 4u,
				 __ATOMIC_SEQ_CST);
	}
	pthread_mutex_unlock(&buf_lock);
}

uint32_t broker_tlpage_buf_changes(dev_t dev, ino_t ino)
{
	uint32_t n = UINT32_MAX;
	int i;

	if (!__atomic_load_n(&page, __ATOMIC_ACQUIRE))
		return n;
	pthread_mutex_lock(&buf_lock);
	i = buf_find_locked(dev, ino);
	if (i >= 0)
		n = __atomic_load_n(&tlpage_buf(page, (uint32_t)i)->ready, __ATOMIC_RELAXED) >> 2;
	pthread_mutex_unlock(&buf_lock);
	return n;
}

void broker_tlpage_buf_release(dev_t dev, ino_t ino)
{
	struct tlpage_buf *b;
	int i, *pp;

	if (!__atomic_load_n(&page, __ATOMIC_ACQUIRE))
		return;
	pthread_mutex_lock(&buf_lock);
	i = buf_find_locked(dev, ino);
	if (i >= 0) {
		b = tlpage_buf(page, (uint32_t)i);
		__atomic_store_n(&b->ready, 0, __ATOMIC_SEQ_CST);
		__atomic_store_n(&b->gen, __atomic_load_n(&b->gen, __ATOMIC_RELAXED) + 1,
				 __ATOMIC_RELEASE);	/* even: free */
		for (pp = &bbucket[buf_hash(dev, ino)]; *pp >= 0 && *pp != i; pp = &bpriv[*pp].next)
			;
		if (*pp == i)
			*pp = bpriv[i].next;
		bpriv[i].used = false;
		bpriv[i].next = -1;
		bpriv[i].next_free = bfree;
		bfree = i;
	}
	pthread_mutex_unlock(&buf_lock);
}

/* The page's life word (tlpage.h): taken by this, the main, thread for good. */
static int alive_init(union tlpage_alive *alive)
{
	pthread_mutexattr_t a;
	int r;

	if (pthread_mutexattr_init(&a))
		return -1;
	r = pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED) ||
	    pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST) ||
	    pthread_mutex_init(&alive->mutex, &a) || pthread_mutex_lock(&alive->mutex);
	pthread_mutexattr_destroy(&a);
	return r ? -1 : 0;
}

int broker_tlpage_init(void)
{
	int fd = memfd_create("dmasync-timelines", MFD_CLOEXEC);
	struct tlpage_hdr *h;
	void *p;

	if (fd < 0)
		return -errno;
	if (ftruncate(fd, (off_t)TLPAGE_SIZE)) {
		close(fd);
		return -errno;
	}
	p = mmap(NULL, TLPAGE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) {
		close(fd);
		return -errno;
	}
	h = tlpage_hdr(p);
	h->nslots = TLPAGE_SLOTS;
	h->slot_size = sizeof(struct tlpage_slot);
	for (unsigned int i = 0; i < BUCKETS; i++)
		bucket[i] = -1;
	for (int i = (int)TLPAGE_SLOTS - 1; i >= 0; i--) {
		priv[i].doorbell = -1;
		priv[i].next = -1;
		priv[i].next_free = free_head;
		free_head = i;
	}
	pthread_mutex_lock(&buf_lock);
	for (unsigned int i = 0; i < BUCKETS; i++)
		bbucket[i] = -1;
	for (int i = (int)TLPAGE_BUFS - 1; i >= 0; i--) {
		bpriv[i].next = -1;
		bpriv[i].next_free = bfree;
		bfree = i;
	}
	pthread_mutex_unlock(&buf_lock);
	if (alive_init(&h->alive)) {
		munmap(p, TLPAGE_SIZE);
		close(fd);
		return -ENOMEM;
	}
	__atomic_store_n(&h->magic, TLPAGE_MAGIC, __ATOMIC_RELEASE);
	pthread_mutex_lock(&lock);
	page = p;
	page_fd = fd;
	pthread_mutex_unlock(&lock);
	return 0;
}

int broker_tlpage_dup_fd(void)
{
	return page_fd >= 0 ? fcntl(page_fd, F_DUPFD_CLOEXEC, 3) : -1;
}

bool broker_tlpage_is(dev_t dev, ino_t ino)
{
	struct stat st;

	return page_fd >= 0 && !fstat(page_fd, &st) && st.st_dev == dev && st.st_ino == ino;
}

/* lock held.  The slot of @tl, or -1. */
static int find_locked(uint64_t context)
{
	for (int i = bucket[hash(context)]; i >= 0; i = priv[i].next)
		if (priv[i].context == context && priv[i].tl)
			return i;
	return -1;
}

/* lock held: publish that slot @s reached @count, its points signaled at
 * @ts (tlpage_point_time()). */
static void applied_locked(struct tlpage_slot *s, uint64_t count, int64_t ts)
{
	uint32_t pos = __atomic_load_n(&s->applied_head, __ATOMIC_RELAXED);
	struct tlpage_applied *e = &s->applied[pos % TLPAGE_APPLIED];

	__atomic_store_n(&e->seq, 0, __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_RELEASE);
	__atomic_store_n(&e->count, count, __ATOMIC_RELAXED);
	__atomic_store_n(&e->ts, ts, __ATOMIC_RELAXED);
	__atomic_store_n(&e->seq, pos + 1, __ATOMIC_RELEASE);
	__atomic_store_n(&s->applied_head, pos + 1, __ATOMIC_RELEASE);
}

/* lock held: signal @tl up to page count @target (if it is ahead of what
 * was applied and not beyond @limit) at @ts (0: now). */
static void advance_locked(struct tlpage_slot *s, struct slot_priv *sp, uint64_t target,
			   uint64_t limit, int64_t ts)
{
	struct core_sync_fault at = { .timestamp = ts > 0 ? ts : ktime_get() };
	uint64_t d = target - sp->seen;

	if (target <= sp->seen || target > limit)
		return;
	/* A point signals once as much as its distance was added, whatever
	 * the steps (each at most INT_MAX, which the core sees to).  Past
	 * 2^32 every point pending before has signaled, and only the value
	 * mod 2^32 is left to reach: at most three steps, whatever a client
	 * wrote in the count. */
	if (d >= 2 * (1ull << 32))
		d = (1ull << 32) + (d & UINT32_MAX);
	while (d) {
		uint32_t step = d > UINT32_MAX ? UINT32_MAX : (uint32_t)d;

		core_sync_timeline_signal_faulty(sp->tl, step, &at);
		d -= step;
	}
	sp->seen = target;
	applied_locked(s, target, at.timestamp);
}

/* lock held: apply slot @i. */
static void apply_locked(uint32_t i)
{
	struct tlpage_slot *s = tlpage_slot(page, i);
	struct slot_priv *sp = &priv[i];
	uint32_t head, from;
	uint64_t c;

	if (!sp->tl)
		return;
	c = __atomic_load_n(&s->count, __ATOMIC_SEQ_CST);
	head = __atomic_load_n(&s->log_head, __ATOMIC_ACQUIRE);
	from = head - sp->log_seen > TLPAGE_LOG ? head - TLPAGE_LOG : sp->log_seen;
	for (uint32_t pos = from; pos != head; pos++) {
		struct tlpage_log *e = &s->log[pos % TLPAGE_LOG];
		uint32_t seq = __atomic_load_n(&e->seq, __ATOMIC_ACQUIRE);
		uint64_t count = __atomic_load_n(&e->count, __ATOMIC_RELAXED);
		int64_t ts = __atomic_load_n(&e->ts, __ATOMIC_RELAXED);

		__atomic_thread_fence(__ATOMIC_ACQUIRE);
		if (seq != pos + 1 || __atomic_load_n(&e->seq, __ATOMIC_RELAXED) != seq || ts <= 0)
			continue;	/* being rewritten, or never finished */
		advance_locked(s, sp, count, c, ts);
	}
	sp->log_seen = head;
	advance_locked(s, sp, c, c, 0);
}

static void drain_locked(void)
{
	struct tlpage_hdr *h = tlpage_hdr(page);
	uint64_t sum;

	/* Set before the summary is taken, cleared once every record is
	 * out: tlpage_unsettled() sees one or the other until then. */
	__atomic_store_n(&h->draining, 1, __ATOMIC_SEQ_CST);
	sum = __atomic_exchange_n(&h->summary, 0, __ATOMIC_SEQ_CST);

	while (sum) {
		unsigned int w = (unsigned int)__builtin_ctzll(sum);
		uint64_t bits = __atomic_exchange_n(&h->dirty[w], 0, __ATOMIC_SEQ_CST);

		sum &= sum - 1;
		while (bits) {
			unsigned int b = (unsigned int)__builtin_ctzll(bits);

			bits &= bits - 1;
			apply_locked(w * 64 + b);
		}
	}
	__atomic_store_n(&h->draining, 0, __ATOMIC_SEQ_CST);
}

void broker_tlpage_drain(void)
{
	void *p = __atomic_load_n(&page, __ATOMIC_ACQUIRE);

	if (!p || !__atomic_load_n(&tlpage_hdr(p)->summary, __ATOMIC_SEQ_CST))
		return;
	pthread_mutex_lock(&lock);
	drain_locked();
	pthread_mutex_unlock(&lock);
}

void broker_tlpage_attach(struct sync_timeline *tl, bool fast)
{
	struct tlpage_slot *s;
	struct slot_priv *sp;
	const char *name;
	uint32_t gen;
	int i;

	pthread_mutex_lock(&lock);
	if (!page || free_head < 0) {
		pthread_mutex_unlock(&lock);
		return;
	}
	i = free_head;
	sp = &priv[i];
	free_head = sp->next_free;
	s = tlpage_slot(page, (uint32_t)i);
	sp->tl = sync_timeline_get(tl);
	sp->context = sync_timeline_context(tl);
	sp->next = bucket[hash(sp->context)];
	bucket[hash(sp->context)] = i;
	sp->seen = 0;
	sp->log_seen = __atomic_load_n(&s->log_head, __ATOMIC_ACQUIRE);
	name = sync_timeline_name(tl);
	memset(s->name, 0, sizeof(s->name));
	memcpy(s->name, name, strnlen(name, sizeof(s->name) - 1));
	__atomic_store_n(&s->base, sync_timeline_value(tl), __ATOMIC_RELAXED);
	__atomic_store_n(&s->count, 0, __ATOMIC_RELAXED);
	/* Where its life here starts: the time of points signaled before is
	 * not ours to tell. */
	applied_locked(s, 0, 0);
	__atomic_store_n(&s->state, fast ? TLPAGE_FAST : TLPAGE_SLOW, __ATOMIC_RELAXED);
	gen = __atomic_load_n(&s->gen, __ATOMIC_RELAXED);
	__atomic_store_n(&s->gen, (gen + 1) | 1u, __ATOMIC_RELEASE);	/* odd: live */
	pthread_mutex_unlock(&lock);
}

/* lock held: unlink slot @i from its hash chain. */
static void unlink_locked(int i)
{
	int *pp = &bucket[hash(priv[i].context)];

	while (*pp >= 0 && *pp != i)
		pp = &priv[*pp].next;
	if (*pp == i)
		*pp = priv[i].next;
	priv[i].next = -1;
}

void broker_tlpage_release(struct sync_timeline *tl)
{
	struct sync_timeline *put = NULL;
	struct tlpage_slot *s;
	int i;

	pthread_mutex_lock(&lock);
	i = page ? find_locked(sync_timeline_context(tl)) : -1;
	if (i < 0) {
		pthread_mutex_unlock(&lock);
		return;
	}
	s = tlpage_slot(page, (uint32_t)i);
	/* What clients added before they closed it signals with success. */
	__atomic_store_n(&s->state, TLPAGE_SLOW, __ATOMIC_SEQ_CST);
	apply_locked((uint32_t)i);
	__atomic_store_n(&s->gen, __atomic_load_n(&s->gen, __ATOMIC_RELAXED) + 1, __ATOMIC_RELEASE);
	__atomic_store_n(&s->state, TLPAGE_FREE, __ATOMIC_RELEASE);
	unlink_locked(i);
	put = priv[i].tl;
	priv[i].tl = NULL;
	if (priv[i].doorbell >= 0) {
		/* Out of the loop's set first: clients' copies keep the file. */
		if (watch_epfd >= 0)
			epoll_ctl(watch_epfd, EPOLL_CTL_DEL, priv[i].doorbell, NULL);
		close(priv[i].doorbell);
		priv[i].doorbell = -1;
	}
	priv[i].next_free = free_head;
	free_head = i;
	pthread_mutex_unlock(&lock);
	sync_timeline_put(put);
}

void broker_tlpage_slow(struct sync_timeline *tl)
{
	int i;

	pthread_mutex_lock(&lock);
	i = page ? find_locked(sync_timeline_context(tl)) : -1;
	if (i >= 0) {
		/* Clients stop signaling here; what they added is applied as
		 * it was made, before the faults begin. */
		__atomic_store_n(&tlpage_slot(page, (uint32_t)i)->state, TLPAGE_SLOW,
				 __ATOMIC_SEQ_CST);
		apply_locked((uint32_t)i);
	}
	pthread_mutex_unlock(&lock);
}

bool broker_tlpage_lookup(uint64_t context, uint32_t *slot1, uint32_t *gen)
{
	bool ok = false;
	int i;

	pthread_mutex_lock(&lock);
	i = page ? find_locked(context) : -1;
	if (i >= 0) {
		struct tlpage_slot *s = tlpage_slot(page, (uint32_t)i);

		ok = __atomic_load_n(&s->state, __ATOMIC_RELAXED) == TLPAGE_FAST;
		*slot1 = (uint32_t)i + 1;
		*gen = __atomic_load_n(&s->gen, __ATOMIC_RELAXED);
	}
	pthread_mutex_unlock(&lock);
	return ok;
}

uint64_t broker_tlpage_mark(const struct dma_fence *pt)
{
	uint64_t mark = 0;
	int i;

	pthread_mutex_lock(&lock);
	i = page ? find_locked(pt->context) : -1;
	/* Under the lock nothing applies the page: the timeline's value is
	 * the one @seen stands for, and a point pending now is ahead of it by
	 * 1..INT_MAX (the core signals every point within reach). */
	if (i >= 0 && !test_bit(DMA_FENCE_FLAG_SIGNALED_BIT, &pt->flags)) {
		int32_t d = (int32_t)((uint32_t)pt->seqno - sync_timeline_value(priv[i].tl));

		if (d > 0)
			mark = priv[i].seen + (uint64_t)d;
	}
	pthread_mutex_unlock(&lock);
	return mark;
}

bool broker_tlpage_inc(struct sync_timeline *tl, uint32_t inc)
{
	struct tlpage_slot *s;
	bool ring = false;
	int i, door = -1;

	pthread_mutex_lock(&lock);
	i = page ? find_locked(sync_timeline_context(tl)) : -1;
	s = i >= 0 ? tlpage_slot(page, (uint32_t)i) : NULL;
	if (!s || __atomic_load_n(&s->state, __ATOMIC_ACQUIRE) != TLPAGE_FAST) {
		pthread_mutex_unlock(&lock);
		return false;
	}
	ring = tlpage_add(page, (uint32_t)i, inc, ktime_get(), NULL);
	drain_locked();
	if (ring && priv[i].doorbell >= 0)
		door = priv[i].doorbell;
	if (door >= 0) {
		uint64_t one = 1;

		/* Non-blocking: a full counter already wakes everyone. */
		if (write(door, &one, sizeof(one)) < 0) {
			/* EAGAIN: it is readable already */
		}
	}
	pthread_mutex_unlock(&lock);
	return true;
}

void broker_tlpage_watch(int epfd, void *tag)
{
	pthread_mutex_lock(&lock);
	watch_epfd = epfd;
	watch_tag = tag;
	pthread_mutex_unlock(&lock);
}

/* lock held: a new doorbell, in the loop's set (a client that rings it
 * wakes the loop, and sends no nudge: IPC_DOORBELL), or -1 and errno.
 * Unwatched, a ring would not wake us: no doorbell at all then. */
static int bell_make(void)
{
	struct epoll_event ev = { .events = EPOLLIN | EPOLLET, .data.ptr = watch_tag };
	int fd;

	if (watch_epfd < 0) {
		errno = ENXIO;
		return -1;
	}
	fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (fd >= 0 && epoll_ctl(watch_epfd, EPOLL_CTL_ADD, fd, &ev)) {
		int e = errno;

		close(fd);
		errno = e;
		fd = -1;
	}
	return fd;
}

int broker_tlpage_doorbell(uint32_t slot1, uint32_t gen)
{
	struct tlpage_slot *s;
	int fd;

	if (!slot1 || slot1 > TLPAGE_SLOTS)
		return -EINVAL;
	pthread_mutex_lock(&lock);
	s = page ? tlpage_slot(page, slot1 - 1) : NULL;
	if (!s || !priv[slot1 - 1].tl || __atomic_load_n(&s->gen, __ATOMIC_RELAXED) != gen) {
		pthread_mutex_unlock(&lock);
		return -ESTALE;
	}
	if (priv[slot1 - 1].doorbell < 0)
		priv[slot1 - 1].doorbell = bell_make();
	fd = priv[slot1 - 1].doorbell >= 0 ? fcntl(priv[slot1 - 1].doorbell, F_DUPFD_CLOEXEC, 3)
					   : -1;
	if (fd < 0)
		fd = -errno;
	pthread_mutex_unlock(&lock);
	return fd;
}
