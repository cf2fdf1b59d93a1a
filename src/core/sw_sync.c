/* SPDX-License-Identifier: MIT */
/*
 * Software timelines (the kernel's sw_sync driver as an in-process object).
 *
 * Data structure.  Pending points are kept twice, under the timeline lock:
 * in a list sorted by seqno (signaling pops its head, so it costs only what
 * it signals) and in a red-black tree over the same order (so a point
 * created out of order, or at a value that already has a pending point,
 * is found in O(log n)).  A point created later than every pending point
 * -- the usual case -- is appended without a tree search: it becomes the
 * right child of the current maximum, and red-black insertion rebalancing
 * is amortised O(1), so creating N points in order costs O(N).
 *
 * Ordering.  The kernel orders points by (s32)(a - b), which stops being a
 * consistent order once pending seqnos span more than 2^31.  Here points
 * are ordered by their distance ahead of the timeline value,
 * (u32)(seqno - value).  Every pending point is strictly later than the
 * value (distance in [1, INT_MAX]); advancing the value by at most INT_MAX
 * lowers every distance by the same amount and signals exactly the points
 * whose distance it reaches, which are a prefix of the list.  So the order
 * of the survivors never changes and is always a total order.
 *
 * Publication of the value.  sync_timeline_signal() stores the new value
 * only after it signaled every point it passed.  A lock-free reader that
 * sees the new value therefore sees those points signaled, and a callback
 * running inside the signaling loop that asks dma_fence_is_signaled() about
 * another point of the same timeline gets "not yet" from ops->signaled
 * instead of recursing into the lock it already holds.
 *
 * Unlinking.  A point leaves the list/tree when it is signaled (by the
 * timeline) or released.  SW_SYNC_LINKED_BIT (set and cleared under the
 * lock) tells the release path whether it must take the lock at all, so
 * dropping the last reference to an already signaled point never touches
 * the timeline lock (it may be called from a callback running under it).
 */
#include <stdlib.h>
#include <string.h>

#include <dmasync/sw_sync.h>
#include "debug.h"
#include "sw_sync-priv.h"
#include "ktime.h"
#include "rcu.h"

/* Kernel: SW_SYNC_HAS_DEADLINE_BIT is the first free fence flag. */
#define SW_SYNC_HAS_DEADLINE_BIT DMA_FENCE_FLAG_USER_BITS
/* The point is in its timeline's list and tree. */
#define SW_SYNC_LINKED_BIT (DMA_FENCE_FLAG_USER_BITS + 1)

struct pt_node {
	struct pt_node *parent, *left, *right;
	bool red;
};

struct sync_timeline {
	struct kref kref;
	spinlock_t lock;		/* the lock of every point */
	u64 context;
	u32 value;			/* written under @lock, read lock-free */
	struct pt_node *root;		/* pending points, by distance (@lock) */
	struct list_head pt_list;	/* pending points, in order (@lock) */
	struct list_head all_link;	/* in all_timelines (all_timelines_lock) */
	struct core_rcu_head rcu;
	char name[SYNC_TIMELINE_NAME_LEN];
};

struct sync_pt {
	struct dma_fence base;		/* first: freed as a dma_fence */
	struct sync_timeline *tl;	/* holds a reference */
	struct list_head link;		/* in tl->pt_list while linked */
	struct pt_node node;		/* in tl->root while linked */
	ktime_t deadline;		/* valid with SW_SYNC_HAS_DEADLINE_BIT */
	ktime_t created;		/* when made (listings, the watchdog) */
};

/* Internal hooks for tests/unit/sw_sync-test.c (not part of the public API). */
long core_sw_sync_live_points(void);
long core_sw_sync_live_timelines(void);
int core_sw_sync_validate(struct sync_timeline *tl);

static long live_points, live_timelines;

static DEFINE_SPINLOCK(all_timelines_lock);
static LIST_HEAD(all_timelines);

static const struct dma_fence_ops sw_sync_fence_ops;

static inline struct sync_pt *to_sync_pt(struct dma_fence *fence)
{
	if (!fence || fence->ops != &sw_sync_fence_ops)
		return NULL;
	return container_of(fence, struct sync_pt, base);
}

static inline u32 tl_value(struct sync_timeline *tl)
{
	return __atomic_load_n(&tl->value, __ATOMIC_ACQUIRE);
}

/* Whether a point at @seqno has been reached by timeline value @value. */
static inline bool seqno_passed(u32 seqno, u32 value)
{
	return (s32)(seqno - value) <= 0;
}

/* ---- red-black tree over pending points --------------------------------- */

/* Sort key of a pending point; timeline lock held. */
static inline u32 pt_key(struct sync_timeline *tl, struct sync_pt *pt)
{
	return (u32)pt->base.seqno - tl->value;
}

static inline struct sync_pt *node_pt(struct pt_node *n)
{
	return container_of(n, struct sync_pt, node);
}

/* Make @parent (or the root) point at @repl instead of @old. */
static void rb_set_child(struct pt_node **root, struct pt_node *parent, struct pt_node *old,
			 struct pt_node *repl)
{
	if (!parent)
		*root = repl;
	else if (parent->left == old)
		parent->left = repl;
	else
		parent->right = repl;
	if (repl)
		repl->parent = parent;
}

static void rb_rotate_left(struct pt_node **root, struct pt_node *x)
{
	struct pt_node *y = x->right;

	x->right = y->left;
	if (y->left)
		y->left->parent = x;
	rb_set_child(root, x->parent, x, y);
	y->left = x;
	x->parent = y;
}

static void rb_rotate_right(struct pt_node **root, struct pt_node *x)
{
	struct pt_node *y = x->left;

	x->left = y->right;
	if (y->right)
		y->right->parent = x;
	rb_set_child(root, x->parent, x, y);
	y->right = x;
	x->parent = y;
}

static inline bool rb_is_red(const struct pt_node *n)
{
	return n && n->red;
}

/* Restore the red-black rules after @n was linked as a red leaf. */
static void rb_insert_fixup(struct pt_node **root, struct pt_node *n)
{
	struct pt_node *p, *g, *uncle;

	while ((p = n->parent) && p->red) {
		g = p->parent; /* exists: a red node is never the root */
		if (p == g->left) {
			uncle = g->right;
			if (rb_is_red(uncle)) {
				p->red = false;
				uncle->red = false;
				g->red = true;
				n = g;
				continue;
			}
			if (n == p->right) {
				rb_rotate_left(root, p);
				n = p;
				p = n->parent;
			}
			p->red = false;
			g->red = true;
			rb_rotate_right(root, g);
		} else {
			uncle = g->left;
			if (rb_is_red(uncle)) {
				p->red = false;
				uncle->red = false;
				g->red = true;
				n = g;
				continue;
			}
			if (n == p->left) {
				rb_rotate_right(root, p);
				n = p;
				p = n->parent;
			}
			p->red = false;
			g->red = true;
			rb_rotate_left(root, g);
		}
	}
	(*root)->red = false;
}

/* Link @n below @parent (NULL: as the root) on the given side and rebalance. */
static void rb_link(struct pt_node **root, struct pt_node *parent, bool right,
		    struct pt_node *n)
{
	n->parent = parent;
	n->left = n->right = NULL;
	n->red = true;
	if (!parent)
		*root = n;
	else if (right)
		parent->right = n;
	else
		parent->left = n;
	rb_insert_fixup(root, n);
}

/*
 * One black node is missing on the path through @x (possibly NULL), a
 * child of @parent.  Push the deficit up or fix it with rotations.
 */
static void rb_erase_fixup(struct pt_node **root, struct pt_node *x, struct pt_node *parent)
{
	struct pt_node *w;

	while (x != *root && !rb_is_red(x)) {
		/*
		 * When @x is NULL and @parent has no left child either, @x is
		 * the left child: the sibling side still has black height >= 1,
		 * so it cannot be empty.
		 */
		if (x == parent->left) {
			w = parent->right;
			if (w->red) {
				w->red = false;
				parent->red = true;
				rb_rotate_left(root, parent);
				w = parent->right;
			}
			if (!rb_is_red(w->left) && !rb_is_red(w->right)) {
				w->red = true;
				x = parent;
				parent = x->parent;
				continue;
			}
			if (!rb_is_red(w->right)) {
				w->left->red = false;
				w->red = true;
				rb_rotate_right(root, w);
				w = parent->right;
			}
			w->red = parent->red;
			parent->red = false;
			w->right->red = false;
			rb_rotate_left(root, parent);
			x = *root;
			break;
		} else {
			w = parent->left;
			if (w->red) {
				w->red = false;
				parent->red = true;
				rb_rotate_right(root, parent);
				w = parent->left;
			}
			if (!rb_is_red(w->left) && !rb_is_red(w->right)) {
				w->red = true;
				x = parent;
				parent = x->parent;
				continue;
			}
			if (!rb_is_red(w->left)) {
				w->right->red = false;
				w->red = true;
				rb_rotate_left(root, w);
				w = parent->left;
			}
			w->red = parent->red;
			parent->red = false;
			w->left->red = false;
			rb_rotate_right(root, parent);
			x = *root;
			break;
		}
	}
	if (x)
		x->red = false;
}

static void rb_erase(struct pt_node **root, struct pt_node *z)
{
	struct pt_node *x, *x_parent;
	bool removed_red;

	if (!z->left || !z->right) {
		/* At most one child: splice @z out. */
		x = z->left ? z->left : z->right;
		x_parent = z->parent;
		removed_red = z->red;
		rb_set_child(root, z->parent, z, x);
	} else {
		/* Two children: the in-order successor @y takes @z's place. */
		struct pt_node *y = z->right;

		while (y->left)
			y = y->left;
		removed_red = y->red;
		x = y->right;
		if (y->parent == z) {
			x_parent = y;
		} else {
			x_parent = y->parent;
			rb_set_child(root, y->parent, y, x);
			y->right = z->right;
			y->right->parent = y;
		}
		rb_set_child(root, z->parent, z, y);
		y->left = z->left;
		y->left->parent = y;
		y->red = z->red;
	}
	if (!removed_red)
		rb_erase_fixup(root, x, x_parent);
}

/* ---- timeline membership ------------------------------------------------ */

/*
 * Link @pt (unsignaled, strictly later than the value) into @tl, or find a
 * live unsignaled point at the same value.  Timeline lock held.
 *
 * Return: NULL when @pt was linked, else the existing point, on which a new
 * reference was taken.
 */
static struct sync_pt *pt_insert(struct sync_timeline *tl, struct sync_pt *pt)
{
	u32 key = pt_key(tl, pt);
	struct pt_node *parent = NULL, *cur;
	struct sync_pt *succ = NULL;
	bool right = false;

	lockdep_assert_held(&tl->lock);
	if (!list_empty(&tl->pt_list)) {
		struct sync_pt *last = list_last_entry(&tl->pt_list, struct sync_pt, link);

		if (key > pt_key(tl, last)) {
			/* Fast path: the new maximum hangs right of the old one. */
			DMASYNC_ASSERT(!last->node.right, "sw_sync tree: maximum has a right child");
			parent = &last->node;
			right = true;
			goto link;
		}
	}

	for (cur = tl->root; cur;) {
		struct sync_pt *other = node_pt(cur);
		u32 okey = pt_key(tl, other);

		parent = cur;
		if (key > okey) {
			right = true;
			cur = cur->right;
			continue;
		}
		if (key == okey &&
		    !test_bit(DMA_FENCE_FLAG_SIGNALED_BIT, &other->base.flags) &&
		    dma_fence_get_rcu(&other->base))
			return other;
		/*
		 * Smaller, or the same value held by a point whose last
		 * reference is gone (its release waits for our lock): go left.
		 */
		right = false;
		succ = other;
		cur = cur->left;
	}

link:
	rb_link(&tl->root, parent, right, &pt->node);
	list_add_tail(&pt->link, succ ? &succ->link : &tl->pt_list);
	set_bit(SW_SYNC_LINKED_BIT, &pt->base.flags);
	return NULL;
}

/* Take @pt out of @tl's list and tree.  Timeline lock held. */
static void pt_unlink(struct sync_timeline *tl, struct sync_pt *pt)
{
	lockdep_assert_held(&tl->lock);
	rb_erase(&tl->root, &pt->node);
	list_del_init(&pt->link);
	clear_bit(SW_SYNC_LINKED_BIT, &pt->base.flags);
}

/*
 * Unlink and signal the pending points up to @value (all of them when
 * @all), setting @error first if it is non-zero.  Points that are still
 * referenced are collected on @hold with an extra reference, so that no
 * callback can drop their last reference (whose release would take the
 * lock we hold); the caller puts them after unlocking.  Points whose last
 * reference is already gone (their release waits for our lock) are only
 * unlinked.  Timeline lock held.
 *
 * Return: the number of points signaled.
 */
static int signal_points_locked(struct sync_timeline *tl, u32 value, bool all, int error,
				const struct core_sync_fault *fault, struct list_head *hold)
{
	int n = 0;

	lockdep_assert_held(&tl->lock);
	/* Re-read the head every time: nothing is cached across callbacks. */
	while (!list_empty(&tl->pt_list)) {
		struct sync_pt *pt = list_first_entry(&tl->pt_list, struct sync_pt, link);

		if (!all && !seqno_passed((u32)pt->base.seqno, value))
			break;
		pt_unlink(tl, pt);
		if (dma_fence_get_rcu(&pt->base))
			list_add_tail(&pt->link, hold);
		if (!test_bit(DMA_FENCE_FLAG_SIGNALED_BIT, &pt->base.flags)) {
			int e = error;

			if (!e && fault && fault->error_of)
				e = fault->error_of(&pt->base, fault->arg);
			if (e)
				dma_fence_set_error(&pt->base, e);
			if (fault && fault->timestamp)
				dma_fence_signal_timestamp_locked(&pt->base, fault->timestamp);
			else
				dma_fence_signal_locked(&pt->base);
			n++;
		}
	}
	return n;
}

static void put_held_points(struct list_head *hold)
{
	struct sync_pt *pt, *tmp;

	list_for_each_entry_safe(pt, tmp, hold, link) {
		list_del_init(&pt->link);
		dma_fence_put(&pt->base);
	}
}

/* ---- fence operations --------------------------------------------------- */

static const char *sw_sync_get_driver_name(struct dma_fence *fence)
{
	return "sw_sync";
}

static const char *sw_sync_get_timeline_name(struct dma_fence *fence)
{
	return container_of(fence, struct sync_pt, base)->tl->name;
}

static bool sw_sync_signaled(struct dma_fence *fence)
{
	struct sync_pt *pt = container_of(fence, struct sync_pt, base);

	return seqno_passed((u32)fence->seqno, tl_value(pt->tl));
}

static void sync_pt_free_rcu(struct core_rcu_head *head)
{
	free(container_of((void *)head, struct dma_fence, rcu));
	__atomic_fetch_sub(&live_points, 1, __ATOMIC_RELAXED);
}

static void sw_sync_release(struct dma_fence *fence)
{
	struct sync_pt *pt = container_of(fence, struct sync_pt, base);
	struct sync_timeline *tl = pt->tl;

	/* Once unlinked, a point is never linked again: no lock needed then. */
	if (test_bit(SW_SYNC_LINKED_BIT, &fence->flags)) {
		spin_lock(&tl->lock);
		if (test_bit(SW_SYNC_LINKED_BIT, &fence->flags))
			pt_unlink(tl, pt);
		spin_unlock(&tl->lock);
	}
	sync_timeline_put(tl);
	core_call_rcu((struct core_rcu_head *)(void *)&fence->rcu, sync_pt_free_rcu);
}

static void sw_sync_fence_value_str(struct dma_fence *fence, char *str, int size)
{
	if (size > 0)
		snprintf(str, (size_t)size, "%u", (u32)fence->seqno);
}

static void sw_sync_timeline_value_str(struct dma_fence *fence, char *str, int size)
{
	struct sync_pt *pt = container_of(fence, struct sync_pt, base);

	if (size > 0)
		snprintf(str, (size_t)size, "%u", tl_value(pt->tl));
}

static void sw_sync_set_deadline(struct dma_fence *fence, ktime_t deadline)
{
	struct sync_pt *pt = container_of(fence, struct sync_pt, base);

	spin_lock(fence->lock);
	if (!test_bit(SW_SYNC_HAS_DEADLINE_BIT, &fence->flags) ||
	    ktime_before(deadline, pt->deadline)) {
		pt->deadline = deadline;
		set_bit(SW_SYNC_HAS_DEADLINE_BIT, &fence->flags);
	}
	spin_unlock(fence->lock);
}

static const struct dma_fence_ops sw_sync_fence_ops = {
	.get_driver_name = sw_sync_get_driver_name,
	.get_timeline_name = sw_sync_get_timeline_name,
	.signaled = sw_sync_signaled,
	.release = sw_sync_release,
	.fence_value_str = sw_sync_fence_value_str,
	.timeline_value_str = sw_sync_timeline_value_str,
	.set_deadline = sw_sync_set_deadline,
};

/* ---- timelines ---------------------------------------------------------- */

struct sync_timeline *sync_timeline_create(const char *name)
{
	struct sync_timeline *tl = calloc(1, sizeof(*tl));

	if (!tl)
		return NULL;
	kref_init(&tl->kref);
	spin_lock_init(&tl->lock);
	tl->context = dma_fence_context_alloc(1);
	INIT_LIST_HEAD(&tl->pt_list);
	if (name)
		memcpy(tl->name, name, strnlen(name, sizeof(tl->name) - 1));
	__atomic_fetch_add(&live_timelines, 1, __ATOMIC_RELAXED);

	spin_lock(&all_timelines_lock);
	list_add_tail(&tl->all_link, &all_timelines);
	spin_unlock(&all_timelines_lock);
	return tl;
}

static void sync_timeline_free_rcu(struct core_rcu_head *head)
{
	struct sync_timeline *tl = container_of(head, struct sync_timeline, rcu);

	pthread_mutex_destroy(&tl->lock.mutex);
	free(tl);
	__atomic_fetch_sub(&live_timelines, 1, __ATOMIC_RELAXED);
}

static void sync_timeline_release(struct kref *kref)
{
	struct sync_timeline *tl = container_of(kref, struct sync_timeline, kref);

	/* Every point holds a reference: none can be left. */
	DMASYNC_ASSERT(list_empty(&tl->pt_list) && !tl->root,
		       "sw_sync timeline released with points linked");
	spin_lock(&all_timelines_lock);
	list_del(&tl->all_link);
	spin_unlock(&all_timelines_lock);
	core_call_rcu(&tl->rcu, sync_timeline_free_rcu);
}

struct sync_timeline *sync_timeline_get(struct sync_timeline *tl)
{
	kref_get(&tl->kref);
	return tl;
}

void sync_timeline_put(struct sync_timeline *tl)
{
	if (tl)
		kref_put(&tl->kref, sync_timeline_release);
}

void sync_timeline_destroy(struct sync_timeline *tl)
{
	LIST_HEAD(hold);

	if (WARN_ON(!tl))
		return;
	spin_lock(&tl->lock);
	signal_points_locked(tl, tl->value, true, -ENOENT, NULL, &hold);
	spin_unlock(&tl->lock);
	put_held_points(&hold);
	sync_timeline_put(tl);
}

/* Advance by @inc <= INT_MAX.  Return: points signaled. */
static int timeline_advance(struct sync_timeline *tl, u32 inc, const struct core_sync_fault *fault)
{
	LIST_HEAD(hold);
	u32 value;
	int n;

	spin_lock(&tl->lock);
	value = tl->value + inc;
	n = signal_points_locked(tl, value, false, 0, fault, &hold);
	/* Published after the signals: see the comment at the top. */
	__atomic_store_n(&tl->value, value, __ATOMIC_RELEASE);
	spin_unlock(&tl->lock);
	put_held_points(&hold);
	return n;
}

int core_sync_timeline_signal_faulty(struct sync_timeline *tl, u32 inc,
				     const struct core_sync_fault *fault)
{
	int n = 0;

	if (WARN_ON(!tl))
		return -EINVAL;
	while (inc > (u32)INT_MAX) {
		n += timeline_advance(tl, INT_MAX, fault);
		inc -= INT_MAX;
	}
	return n + timeline_advance(tl, inc, fault);
}

int sync_timeline_signal(struct sync_timeline *tl, u32 inc)
{
	return core_sync_timeline_signal_faulty(tl, inc, NULL);
}

u32 sync_timeline_value(struct sync_timeline *tl)
{
	return tl_value(tl);
}

const char *sync_timeline_name(struct sync_timeline *tl)
{
	return tl->name;
}

u64 sync_timeline_context(struct sync_timeline *tl)
{
	return tl->context;
}

/* ---- points ------------------------------------------------------------- */

struct dma_fence *sync_pt_create(struct sync_timeline *tl, u32 value)
{
	struct sync_pt *pt, *other = NULL;

	if (WARN_ON(!tl))
		return NULL;
	pt = malloc(sizeof(*pt));
	if (!pt)
		return NULL;
	__atomic_fetch_add(&live_points, 1, __ATOMIC_RELAXED);

	sync_timeline_get(tl);
	pt->tl = tl;
	INIT_LIST_HEAD(&pt->link);
	memset(&pt->node, 0, sizeof(pt->node));
	pt->deadline = 0;
	pt->created = ktime_get();
	dma_fence_init(&pt->base, &sw_sync_fence_ops, &tl->lock, tl->context, value);

	spin_lock(&tl->lock);
	/* Born signaled when the value was already reached. */
	if (!dma_fence_is_signaled_locked(&pt->base))
		other = pt_insert(tl, pt);
	spin_unlock(&tl->lock);

	if (other) {
		/* Never published: no grace period needed. */
		sync_timeline_put(tl);
		free(pt);
		__atomic_fetch_sub(&live_points, 1, __ATOMIC_RELAXED);
		return &other->base;
	}
	return &pt->base;
}

bool dma_fence_is_sw_sync(struct dma_fence *fence)
{
	return to_sync_pt(fence) != NULL;
}

struct sync_timeline *sync_pt_timeline(struct dma_fence *fence)
{
	struct sync_pt *pt = to_sync_pt(fence);

	return pt ? pt->tl : NULL;
}

int sync_pt_get_deadline(struct dma_fence *fence, ktime_t *deadline)
{
	struct sync_pt *pt = to_sync_pt(fence);
	int ret = 0;

	if (!pt)
		return -EINVAL;
	spin_lock(fence->lock);
	if (test_bit(SW_SYNC_HAS_DEADLINE_BIT, &fence->flags))
		*deadline = pt->deadline;
	else
		ret = -ENOENT;
	spin_unlock(fence->lock);
	return ret;
}

/* ---- debug output ------------------------------------------------------- */

static const char *status_str(int status)
{
	if (status > 0)
		return "signaled";
	if (status < 0)
		return "error";
	return "active";
}

static void describe_point(struct dma_fence *fence, FILE *f)
{
	char value[64];

	fprintf(f, "  fence %s", status_str(dma_fence_get_status_locked(fence)));
	if (test_bit(DMA_FENCE_FLAG_TIMESTAMP_BIT, &fence->flags))
		fprintf(f, "@%lld.%09lld", (long long)(fence->timestamp / NSEC_PER_SEC),
			(long long)(fence->timestamp % NSEC_PER_SEC));
	fence->ops->fence_value_str(fence, value, sizeof(value));
	fprintf(f, ": %s", value);
	fence->ops->timeline_value_str(fence, value, sizeof(value));
	fprintf(f, " / %s\n", value);
}

void sync_timeline_describe(struct sync_timeline *tl, FILE *f)
{
	struct sync_pt *pt;

	spin_lock(&tl->lock);
	fprintf(f, "%s: %u\n", tl->name, tl->value);
	list_for_each_entry(pt, &tl->pt_list, link)
		describe_point(&pt->base, f);
	spin_unlock(&tl->lock);
}

void core_sync_timeline_for_each_pending(struct sync_timeline *tl,
					 void (*fn)(struct dma_fence *pt, void *arg), void *arg)
{
	struct sync_pt *pt;

	spin_lock(&tl->lock);
	list_for_each_entry(pt, &tl->pt_list, link)
		fn(&pt->base, arg);
	spin_unlock(&tl->lock);
}

ktime_t core_sync_pt_created(struct dma_fence *fence)
{
	return dma_fence_is_sw_sync(fence) ? to_sync_pt(fence)->created : 0;
}

void sync_timeline_describe_all(FILE *f)
{
	struct sync_timeline **tls = NULL, *tl;
	size_t n = 0, cap = 0, i;

	/*
	 * Collect references first so that the global lock never nests with
	 * a timeline lock.  Retry with a bigger array if timelines appeared.
	 */
	for (;;) {
		size_t count = 0;

		spin_lock(&all_timelines_lock);
		list_for_each_entry(tl, &all_timelines, all_link)
			count++;
		if (count <= cap) {
			list_for_each_entry(tl, &all_timelines, all_link) {
				if (kref_get_unless_zero(&tl->kref))
					tls[n++] = tl;
			}
			spin_unlock(&all_timelines_lock);
			break;
		}
		spin_unlock(&all_timelines_lock);
		free(tls);
		cap = count + 8;
		tls = malloc(cap * sizeof(*tls));
		if (!tls) {
			fprintf(f, "(out of memory)\n");
			return;
		}
	}
	for (i = 0; i < n; i++) {
		sync_timeline_describe(tls[i], f);
		sync_timeline_put(tls[i]);
	}
	free(tls);
}

/* ---- internal hooks for the unit test ----------------------------------- */

long core_sw_sync_live_points(void)
{
	return __atomic_load_n(&live_points, __ATOMIC_RELAXED);
}

long core_sw_sync_live_timelines(void)
{
	return __atomic_load_n(&live_timelines, __ATOMIC_RELAXED);
}

/*
 * Check a subtree: parent links, ordering within (lo, hi], no red node
 * with a red child, equal black heights.  Walks the in-order sequence
 * against the list cursor *@next.  Return: black height, or -1 if broken.
 */
static int validate_subtree(struct sync_timeline *tl, struct pt_node *n, struct pt_node *parent,
			    struct list_head **next, size_t *count)
{
	int lh, rh;

	if (!n)
		return 1;
	if (n->parent != parent)
		return -1;
	if (n->red && (rb_is_red(n->left) || rb_is_red(n->right)))
		return -1;
	lh = validate_subtree(tl, n->left, n, next, count);
	if (lh < 0)
		return -1;
	/* In-order position must match the list. */
	if (*next == &tl->pt_list || *next != &node_pt(n)->link)
		return -1;
	*next = (*next)->next;
	(*count)++;
	rh = validate_subtree(tl, n->right, n, next, count);
	if (rh < 0 || rh != lh)
		return -1;
	return lh + (n->red ? 0 : 1);
}

/*
 * Return: 0 if @tl's structures are consistent: a valid red-black tree
 * whose in-order walk is the list, sorted by distance (non-decreasing;
 * equal only for a point being released), every distance in [1, INT_MAX],
 * every linked point flagged as linked.  A negative code otherwise.
 */
int core_sw_sync_validate(struct sync_timeline *tl)
{
	struct list_head *next;
	struct sync_pt *pt;
	size_t count = 0, listed = 0;
	u32 prev = 0;
	int ret = 0;

	spin_lock(&tl->lock);
	next = tl->pt_list.next;
	if (rb_is_red(tl->root))
		ret = -1;
	else if (validate_subtree(tl, tl->root, NULL, &next, &count) < 0)
		ret = -2;
	else if (next != &tl->pt_list)
		ret = -3;
	list_for_each_entry(pt, &tl->pt_list, link) {
		u32 key = pt_key(tl, pt);

		listed++;
		if (!ret && (key == 0 || key > (u32)INT_MAX))
			ret = -4;
		if (!ret && key < prev)
			ret = -5;
		if (!ret && !test_bit(SW_SYNC_LINKED_BIT, &pt->base.flags))
			ret = -6;
		prev = key;
	}
	if (!ret && listed != count)
		ret = -7;
	spin_unlock(&tl->lock);
	return ret;
}
