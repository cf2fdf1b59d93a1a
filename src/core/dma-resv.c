/* SPDX-License-Identifier: MIT */
/*
 * dma_resv: reservation objects — a ww_mutex for writers and an
 * RCU-published list of (fence, usage) entries for lock-free readers.
 *
 * The list is an array of tagged pointers: the low two bits of each entry
 * hold the usage (fences are at least 4-byte aligned).  Writers change
 * entries in place (replacement) and append into reserved slots, publishing
 * an entry before the count that makes it visible.  Only growing the array
 * replaces the list pointer, which is what makes unlocked walks restart.
 */
#include <stdlib.h>
#include <string.h>

#include <dmasync/dma-resv.h>
#include <dmasync/dma-fence-array.h>
#include <dmasync/dma-fence-unwrap.h>
#include "debug.h"
#include "dma-resv-priv.h"
#include "rcu.h"
#include "spinlock-priv.h"

#define USAGE_MASK 0x3ul

#define NO_ENTRY (-1)
#define HASH_EMPTY 0u
#define HASH_TOMB 0xffffffffu

struct dma_resv_list {
	struct core_rcu_head rcu;
	unsigned int num_fences; /* published entries (atomic) */
	unsigned int max_fences;
	/* Writer-only index, see above. */
	u32 hash_mask;		/* hash size - 1 */
	u32 hash_used;		/* live heads + tombstones */
	unsigned int prune;	/* next entry to test for reuse */
	s32 *next;		/* [max_fences]: next entry of the same context */
	u32 *hash;		/* [hash_mask + 1]: head entry + 1, or EMPTY/TOMB */
	uintptr_t table[];
};

DEFINE_WD_CLASS(reservation_ww_class);

static inline struct dma_resv_list *resv_list(struct dma_resv *obj)
{
	return __atomic_load_n(&obj->fences, __ATOMIC_ACQUIRE);
}

static inline void entry_get(struct dma_resv_list *list, unsigned int i, struct dma_fence **fence,
			     enum dma_resv_usage *usage)
{
	uintptr_t e = __atomic_load_n(&list->table[i], __ATOMIC_ACQUIRE);

	*fence = (struct dma_fence *)(e & ~USAGE_MASK);
	if (usage)
		*usage = (enum dma_resv_usage)(e & USAGE_MASK);
}

static inline void entry_set(struct dma_resv_list *list, unsigned int i, struct dma_fence *fence,
			     enum dma_resv_usage usage)
{
	__atomic_store_n(&list->table[i], (uintptr_t)fence | (uintptr_t)usage, __ATOMIC_RELEASE);
}

static inline unsigned int list_count(struct dma_resv_list *list)
{
	return list ? __atomic_load_n(&list->num_fences, __ATOMIC_ACQUIRE) : 0;
}

static struct dma_resv_list *list_alloc(unsigned int max)
{
	struct dma_resv_list *list;
	u32 hsize = 8;

	while (hsize < 2 * max)
		hsize *= 2;
	list = malloc(sizeof(*list) + max * sizeof(uintptr_t) + max * sizeof(s32) +
		      hsize * sizeof(u32));
	if (!list)
		return NULL;
	list->num_fences = 0;
	list->max_fences = max;
	list->hash_mask = hsize - 1;
	list->hash_used = 0;
	list->prune = 0;
	list->next = (s32 *)(void *)&list->table[max];
	list->hash = (u32 *)(void *)&list->next[max];
	memset(list->hash, 0, hsize * sizeof(u32));
	return list;
}

/* ---- the writer's context index -------------------------------------------- */

static inline u64 entry_context(struct dma_resv_list *list, unsigned int i)
{
	return ((struct dma_fence *)(list->table[i] & ~USAGE_MASK))->context;
}

/* The hash slot for @ctx: its live head, or the first free/tombstone slot. */
static u32 *index_slot(struct dma_resv_list *list, u64 ctx, bool for_insert)
{
	u32 pos = (u32)((ctx * 0x9E3779B97F4A7C15ull) >> 32) & list->hash_mask;
	u32 *tomb = NULL;

	for (;;) {
		u32 *slot = &list->hash[pos];

		if (*slot == HASH_EMPTY)
			return for_insert && tomb ? tomb : slot;
		if (*slot == HASH_TOMB) {
			if (!tomb)
				tomb = slot;
		} else if (entry_context(list, *slot - 1) == ctx) {
			return slot;
		}
		pos = (pos + 1) & list->hash_mask;
	}
}

static s32 index_head(struct dma_resv_list *list, u64 ctx)
{
	u32 v = *index_slot(list, ctx, false);

	return v == HASH_EMPTY || v == HASH_TOMB ? NO_ENTRY : (s32)(v - 1);
}

static void index_rebuild(struct dma_resv_list *list);

/* Entry @i now holds a fence of context @ctx: link it, in entry order. */
static void index_link(struct dma_resv_list *list, unsigned int i, u64 ctx)
{
	u32 *slot = index_slot(list, ctx, true);
	s32 p;

	if (*slot == HASH_EMPTY || *slot == HASH_TOMB) {
		if (*slot == HASH_EMPTY)
			list->hash_used++;
		*slot = i + 1;
		list->next[i] = NO_ENTRY;
	} else if ((s32)i < (s32)(*slot - 1)) {
		list->next[i] = (s32)(*slot - 1);
		*slot = i + 1;
	} else {
		for (p = (s32)(*slot - 1); list->next[p] != NO_ENTRY && list->next[p] < (s32)i;
		     p = list->next[p])
			;
		list->next[i] = list->next[p];
		list->next[p] = (s32)i;
	}
	/* Too many tombstones make probing slow: start afresh. */
	if (list->hash_used > (list->hash_mask + 1) * 3 / 4)
		index_rebuild(list);
}

/* Entry @i (of context @ctx) is about to hold another context: unlink it. */
static void index_unlink(struct dma_resv_list *list, unsigned int i, u64 ctx)
{
	u32 *slot = index_slot(list, ctx, false);
	s32 p = (s32)(*slot - 1);

	if (p == (s32)i) {
		*slot = list->next[i] == NO_ENTRY ? HASH_TOMB : (u32)list->next[i] + 1;
		return;
	}
	while (list->next[p] != (s32)i)
		p = list->next[p];
	list->next[p] = list->next[i];
}

static void index_rebuild(struct dma_resv_list *list)
{
	memset(list->hash, 0, (list->hash_mask + 1) * sizeof(u32));
	list->hash_used = 0;
	for (unsigned int i = 0; i < list->num_fences; i++)
		index_link(list, i, entry_context(list, i));
}

/* Drop the references of @list's published entries. */
static void list_put_fences(struct dma_resv_list *list)
{
	for (unsigned int i = 0; i < list->num_fences; i++) {
		struct dma_fence *fence;

		entry_get(list, i, &fence, NULL);
		dma_fence_put(fence);
	}
}

static void list_free_rcu(struct core_rcu_head *head)
{
	free(container_of((void *)head, struct dma_resv_list, rcu));
}

static void list_free_deferred(struct dma_resv_list *list)
{
	if (list)
		core_call_rcu(&list->rcu, list_free_rcu);
}

/* ---- init, locking --------------------------------------------------------- */

void dma_resv_init(struct dma_resv *obj)
{
	ww_mutex_init(&obj->lock, &reservation_ww_class);
	obj->fences = NULL;
	obj->reserved = 0;
	obj->changed = false;
	spin_lock_init(&obj->hooks_lock);
	INIT_LIST_HEAD(&obj->hooks);
	obj->num_hooks = 0;
	obj->remote = NULL;
}

void dma_resv_fini(struct dma_resv *obj)
{
	struct dma_resv_list *list = resv_list(obj);

	DMASYNC_ASSERT(!ww_mutex_is_locked(&obj->lock), "dma_resv_fini on a locked object");
	DMASYNC_ASSERT(list_empty(&obj->hooks), "dma_resv_fini with change hooks");
	if (list) {
		list_put_fences(list);
		free(list);
	}
	obj->fences = NULL;
	ww_mutex_destroy(&obj->lock);
}

/* Just locked by this thread: bring a remote view up to date. */
static inline void remote_pull(struct dma_resv *obj)
{
	struct core_resv_remote *remote = obj->remote;

	if (__builtin_expect(remote != NULL, 0) && remote->ops->stale(remote))
		remote->ops->pull(remote, obj);
}

/* Locked if @r is 0: pull; pass @r on. */
static inline int locked(struct dma_resv *obj, int r)
{
	if (!r)
		remote_pull(obj);
	return r;
}

int dma_resv_lock(struct dma_resv *obj, struct ww_acquire_ctx *ctx)
{
	return locked(obj, ww_mutex_lock(&obj->lock, ctx));
}

int dma_resv_lock_interruptible(struct dma_resv *obj, struct ww_acquire_ctx *ctx)
{
	return locked(obj, ww_mutex_lock_interruptible(&obj->lock, ctx));
}

void dma_resv_lock_slow(struct dma_resv *obj, struct ww_acquire_ctx *ctx)
{
	ww_mutex_lock_slow(&obj->lock, ctx);
	remote_pull(obj);
}

int dma_resv_lock_slow_interruptible(struct dma_resv *obj, struct ww_acquire_ctx *ctx)
{
	return locked(obj, ww_mutex_lock_slow_interruptible(&obj->lock, ctx));
}

bool dma_resv_trylock(struct dma_resv *obj)
{
	if (ww_mutex_trylock(&obj->lock, NULL) != 1)
		return false;
	remote_pull(obj);
	return true;
}

void core_resv_set_remote(struct dma_resv *obj, struct core_resv_remote *remote)
{
	bool held = ww_mutex_is_held(&obj->lock);

	if (!held)
		ww_mutex_lock(&obj->lock, NULL);
	__atomic_store_n(&obj->remote, remote, __ATOMIC_RELAXED);
	/* What it holds already goes over too. */
	if (remote)
		remote->ops->push(remote, obj);
	if (!held)
		ww_mutex_unlock(&obj->lock);
}

/* An unlocked reader is about to walk @obj, which mirrors a remote view.
 * A pull may block: not for a thread that holds a spinlock (it walks what
 * is there, as a reader racing the change would). */
static void remote_refresh(struct dma_resv *obj)
{
	if (core_spinlocks_held())
		return;
	if (ww_mutex_is_held(&obj->lock)) {
		remote_pull(obj);
	} else if (dma_resv_trylock(obj)) {
		/* Pulled; a holder that has it now pulled when it took it. */
		dma_resv_unlock(obj);
	}
}

/* Fences changed: tell the hooks (dma-resv-priv.h). */
static void hooks_call(struct dma_resv *obj)
{
	struct core_resv_hook *hook;

	if (!__atomic_load_n(&obj->num_hooks, __ATOMIC_ACQUIRE))
		return;
	spin_lock(&obj->hooks_lock);
	list_for_each_entry(hook, &obj->hooks, link)
		hook->changed(hook, obj);
	spin_unlock(&obj->hooks_lock);
}

void dma_resv_unlock(struct dma_resv *obj)
{
	struct core_resv_remote *remote = obj->remote;
	bool changed = obj->changed;

	if (__builtin_expect(remote != NULL, 0) && changed)
		remote->ops->push(remote, obj);

	/* Reservations last until unlock: forget the unused ones. */
	obj->reserved = 0;
	obj->changed = false;
	ww_mutex_unlock(&obj->lock);
	if (changed)
		hooks_call(obj);
}

void core_resv_hook_add(struct dma_resv *obj, struct core_resv_hook *hook)
{
	spin_lock(&obj->hooks_lock);
	list_add_tail(&hook->link, &obj->hooks);
	__atomic_store_n(&obj->num_hooks, obj->num_hooks + 1, __ATOMIC_RELEASE);
	spin_unlock(&obj->hooks_lock);
}

void core_resv_hook_del(struct dma_resv *obj, struct core_resv_hook *hook)
{
	spin_lock(&obj->hooks_lock);
	list_del(&hook->link);
	__atomic_store_n(&obj->num_hooks, obj->num_hooks - 1, __ATOMIC_RELEASE);
	spin_unlock(&obj->hooks_lock);
}

bool dma_resv_is_locked(struct dma_resv *obj)
{
	return ww_mutex_is_locked(&obj->lock);
}

struct ww_acquire_ctx *dma_resv_locking_ctx(struct dma_resv *obj)
{
	return ww_mutex_locking_ctx(&obj->lock);
}

/* ---- writers ------------------------------------------------------------------ */

int dma_resv_reserve_fences(struct dma_resv *obj, unsigned int num_fences)
{
	struct dma_resv_list *old, *list;
	unsigned int max, count, j = 0, k;

	dma_resv_assert_held(obj);
	if (WARN_ON(!num_fences))
		return -EINVAL;

	old = resv_list(obj);
	if (old && old->max_fences - old->num_fences >= num_fences) {
		if (obj->reserved < num_fences)
			obj->reserved = num_fences;
		return 0;
	}

	count = old ? old->num_fences : 0;
	max = count + num_fences;
	if (old && old->max_fences * 2 > max)
		max = old->max_fences * 2;
	if (max < 4)
		max = 4;
	list = list_alloc(max);
	if (!list)
		return -ENOMEM;

	/* Keep the unsignaled fences, in order; signaled ones go to the tail
	 * (beyond the published count) to be dropped once the list is live. */
	k = max;
	for (unsigned int i = 0; i < count; i++) {
		struct dma_fence *fence;
		enum dma_resv_usage usage;

		entry_get(old, i, &fence, &usage);
		if (dma_fence_is_signaled(fence))
			entry_set(list, --k, fence, usage);
		else
			entry_set(list, j++, fence, usage);
	}
	list->num_fences = j;
	index_rebuild(list);
	__atomic_store_n(&obj->fences, list, __ATOMIC_RELEASE);

	for (unsigned int i = k; i < max; i++) {
		struct dma_fence *fence;

		entry_get(list, i, &fence, NULL);
		dma_fence_put(fence);
	}
	list_free_deferred(old);
	if (obj->reserved < num_fences)
		obj->reserved = num_fences;
	return 0;
}

static void set_and_put(struct dma_resv_list *list, unsigned int i, struct dma_fence *fence,
			enum dma_resv_usage usage, struct dma_fence *old)
{
	if (old->context != fence->context) {
		index_unlink(list, i, old->context);
		entry_set(list, i, fence, usage);
		index_link(list, i, fence->context);
	} else {
		entry_set(list, i, fence, usage);
	}
	dma_fence_put(old);
}

static void add_one(struct dma_resv *obj, struct dma_fence *fence, enum dma_resv_usage usage)
{
	struct dma_resv_list *list = resv_list(obj);
	unsigned int count = list_count(list);

	dma_fence_get(fence);
	obj->changed = true;
	if (list) {
		/* An entry of the same context, not weaker, not later: replace. */
		for (s32 i = index_head(list, fence->context); i != NO_ENTRY; i = list->next[i]) {
			struct dma_fence *old;
			enum dma_resv_usage old_usage;

			entry_get(list, (unsigned int)i, &old, &old_usage);
			if (old_usage >= usage && dma_fence_is_later_or_same(fence, old)) {
				set_and_put(list, (unsigned int)i, fence, usage, old);
				return;
			}
		}
		/* Reuse a signaled entry, looking at two per add. */
		for (int k = 0; k < 2 && count; k++) {
			unsigned int i = list->prune++ % count;
			struct dma_fence *old;

			entry_get(list, i, &old, NULL);
			if (dma_fence_is_signaled(old)) {
				set_and_put(list, i, fence, usage, old);
				return;
			}
		}
	}

	if (!obj->reserved || !list || count >= list->max_fences)
		core_bug(__FILE__, __LINE__, __func__,
			 "dma_resv_add_fence without a slot reserved by dma_resv_reserve_fences");
	obj->reserved--;
	entry_set(list, count, fence, usage);
	/* The entry must be visible before the count that covers it. */
	__atomic_store_n(&list->num_fences, count + 1, __ATOMIC_RELEASE);
	index_link(list, count, fence->context);
}

void dma_resv_add_fence(struct dma_resv *obj, struct dma_fence *fence, enum dma_resv_usage usage)
{
	dma_resv_assert_held(obj);
	BUG_ON(!fence);

	if (WARN(dma_fence_is_container(fence),
		 "dma_resv_add_fence with a container fence: adding its components instead")) {
		struct dma_fence_unwrap cursor;
		struct dma_fence *leaf;

		dma_fence_unwrap_for_each(leaf, &cursor, fence)
			add_one(obj, leaf, usage);
		return;
	}
	add_one(obj, fence, usage);
}

void dma_resv_replace_fences(struct dma_resv *obj, u64 context, struct dma_fence *replacement,
			     enum dma_resv_usage usage)
{
	struct dma_resv_list *list;
	unsigned int count;

	dma_resv_assert_held(obj);
	list = resv_list(obj);
	count = list_count(list);
	for (unsigned int i = 0; i < count; i++) {
		struct dma_fence *old;

		entry_get(list, i, &old, NULL);
		if (old->context != context)
			continue;
		entry_set(list, i, dma_fence_get(replacement), usage);
		dma_fence_put(old);
		obj->changed = true;
	}
	if (list)
		index_rebuild(list);
}

/* ---- iteration ---------------------------------------------------------------- */

static void iter_restart_unlocked(struct dma_resv_iter *cursor)
{
	cursor->index = 0;
	cursor->is_restarted = true;
	cursor->fences = resv_list(cursor->obj);
	cursor->num_fences = list_count(cursor->fences);
}

/* Advance to the next unsignaled fence with a wanted usage; RCU read lock held. */
static void iter_walk_unlocked(struct dma_resv_iter *cursor)
{
	for (;;) {
		struct dma_fence *fence;

		dma_fence_put(cursor->fence);
		cursor->fence = NULL;
		if (cursor->index >= cursor->num_fences)
			return;
		entry_get(cursor->fences, cursor->index++, &fence, &cursor->fence_usage);
		if (!dma_fence_get_rcu(fence)) {
			/* Dying: the entry was replaced under us.  Start over. */
			iter_restart_unlocked(cursor);
			continue;
		}
		cursor->fence = fence;
		if (cursor->fence_usage <= cursor->usage && !dma_fence_is_signaled(fence))
			return;
	}
}

void core_resv_refresh(struct dma_resv *obj)
{
	if (__builtin_expect(__atomic_load_n(&obj->remote, __ATOMIC_RELAXED) != NULL, 0))
		remote_refresh(obj);
}

struct dma_fence *dma_resv_iter_first_unlocked(struct dma_resv_iter *cursor)
{
	if (__builtin_expect(__atomic_load_n(&cursor->obj->remote, __ATOMIC_RELAXED) != NULL, 0))
		remote_refresh(cursor->obj);
	rcu_read_lock();
	do {
		iter_restart_unlocked(cursor);
		iter_walk_unlocked(cursor);
	} while (resv_list(cursor->obj) != cursor->fences);
	rcu_read_unlock();
	return cursor->fence;
}

struct dma_fence *dma_resv_iter_next_unlocked(struct dma_resv_iter *cursor)
{
	bool restart;

	rcu_read_lock();
	cursor->is_restarted = false;
	restart = resv_list(cursor->obj) != cursor->fences;
	do {
		if (restart)
			iter_restart_unlocked(cursor);
		iter_walk_unlocked(cursor);
		restart = true;
	} while (resv_list(cursor->obj) != cursor->fences);
	rcu_read_unlock();
	return cursor->fence;
}

static struct dma_fence *iter_walk_locked(struct dma_resv_iter *cursor)
{
	while (cursor->index < cursor->num_fences) {
		struct dma_fence *fence;

		entry_get(cursor->fences, cursor->index++, &fence, &cursor->fence_usage);
		if (cursor->fence_usage <= cursor->usage)
			return fence;
	}
	return NULL;
}

struct dma_fence *dma_resv_iter_first(struct dma_resv_iter *cursor)
{
	dma_resv_assert_held(cursor->obj);
	cursor->index = 0;
	cursor->fences = resv_list(cursor->obj);
	cursor->num_fences = list_count(cursor->fences);
	cursor->is_restarted = true;
	return iter_walk_locked(cursor);
}

struct dma_fence *dma_resv_iter_next(struct dma_resv_iter *cursor)
{
	dma_resv_assert_held(cursor->obj);
	cursor->is_restarted = false;
	return iter_walk_locked(cursor);
}

/* ---- unlocked readers --------------------------------------------------------- */

static void put_all(struct dma_fence **fences, unsigned int n)
{
	for (unsigned int i = 0; i < n; i++)
		dma_fence_put(fences[i]);
}

/*
 * Snapshot the unsignaled fences with usage <= @usage, leaving @extra free
 * slots at the end of the array.
 */
static int snapshot(struct dma_resv *obj, enum dma_resv_usage usage, unsigned int extra,
		    unsigned int *num_fences, struct dma_fence ***fences,
		    enum dma_resv_usage **usages)
{
	struct dma_resv_iter cursor;
	struct dma_fence *fence, **arr = NULL;
	enum dma_resv_usage *use = NULL;
	unsigned int count = 0, cap = 0;

	dma_resv_iter_begin(&cursor, obj, usage);
	dma_resv_for_each_fence_unlocked(&cursor, fence) {
		if (dma_resv_iter_is_restarted(&cursor)) {
			struct dma_fence **grown;

			put_all(arr, count);
			count = 0;
			cap = cursor.num_fences + extra;
			grown = realloc(arr, (cap ? cap : 1) * sizeof(*arr));
			if (!grown)
				goto err_put_snapshot;
			arr = grown;
			if (usages) {
				enum dma_resv_usage *ug = realloc(use, (cap ? cap : 1) * sizeof(*use));

				if (!ug)
					goto err_put_snapshot;
				use = ug;
			}
		}
		if (usages)
			use[count] = dma_resv_iter_usage(&cursor);
		arr[count++] = dma_fence_get(fence);
	}
	dma_resv_iter_end(&cursor);

	if (!count && extra) {
		if (!arr)
			arr = malloc(extra * sizeof(*arr));
		free(use);
		use = NULL;
		if (!arr)
			return -ENOMEM;
	} else if (!count) {
		free(arr);
		free(use);
		arr = NULL;
		use = NULL;
	}
	*num_fences = count;
	*fences = arr;
	if (usages)
		*usages = use;
	return 0;

err_put_snapshot:
	dma_resv_iter_end(&cursor);
	put_all(arr, count);
	free(arr);
	free(use);
	return -ENOMEM;
}

int dma_resv_get_fences(struct dma_resv *obj, enum dma_resv_usage usage,
			unsigned int *num_fences, struct dma_fence ***fences)
{
	*num_fences = 0;
	*fences = NULL;
	return snapshot(obj, usage, 0, num_fences, fences, NULL);
}

int dma_resv_get_singleton(struct dma_resv *obj, enum dma_resv_usage usage,
			   struct dma_fence **fence)
{
	struct dma_fence_array *array;
	struct dma_fence **fences;
	unsigned int count;
	int r;

	*fence = NULL;
	r = dma_resv_get_fences(obj, usage, &count, &fences);
	if (r)
		return r;
	if (count == 0)
		return 0;
	if (count == 1) {
		*fence = fences[0];
		free(fences);
		return 0;
	}
	array = dma_fence_array_create((int)count, fences, dma_fence_context_alloc(1), 1, false);
	if (!array) {
		put_all(fences, count);
		free(fences);
		return -ENOMEM;
	}
	*fence = &array->base;
	return 0;
}

int dma_resv_get_singleton_extra(struct dma_resv *obj, enum dma_resv_usage usage,
				 struct dma_fence *extra, struct dma_fence **fence)
{
	struct dma_fence **fences, *merged;
	unsigned int count;
	int r;

	*fence = NULL;
	r = snapshot(obj, usage, 1, &count, &fences, NULL);
	if (r)
		return r;
	if (extra)
		fences[count++] = dma_fence_get(extra);
	if (!count) {
		free(fences);
		return 0;
	}
	/* Flattens arrays and chains (nested too), drops what has signaled,
	 * keeps the later fence per context; the inputs' references stay ours. */
	merged = __dma_fence_unwrap_merge(count, fences, NULL);
	put_all(fences, count);
	free(fences);
	if (!merged)
		return -ENOMEM;
	if (dma_fence_is_signaled(merged)) {
		/* Nothing pending: the merge returned a signaled stub or leaf. */
		dma_fence_put(merged);
		return 0;
	}
	*fence = merged;
	return 0;
}

int dma_resv_copy_fences(struct dma_resv *dst, struct dma_resv *src)
{
	struct dma_resv_list *list, *old;
	enum dma_resv_usage *usages = NULL;
	struct dma_fence **fences;
	unsigned int count;
	int r;

	dma_resv_assert_held(dst);
	r = snapshot(src, DMA_RESV_USAGE_BOOKKEEP, 0, &count, &fences, &usages);
	if (r)
		return r;

	list = NULL;
	if (count) {
		list = list_alloc(count);
		if (!list) {
			put_all(fences, count);
			free(fences);
			free(usages);
			return -ENOMEM;
		}
		for (unsigned int i = 0; i < count; i++)
			entry_set(list, i, fences[i], usages[i]); /* references move */
		list->num_fences = count;
		index_rebuild(list);
	}
	free(fences);
	free(usages);

	old = resv_list(dst);
	__atomic_store_n(&dst->fences, list, __ATOMIC_RELEASE);
	dst->reserved = 0;
	dst->changed = true;
	if (old) {
		list_put_fences(old);
		list_free_deferred(old);
	}
	return 0;
}

long dma_resv_wait_timeout(struct dma_resv *obj, enum dma_resv_usage usage, bool intr,
			   unsigned long timeout)
{
	long ret = timeout ? (long)(timeout > (unsigned long)MAX_SCHEDULE_TIMEOUT ?
				    (unsigned long)MAX_SCHEDULE_TIMEOUT : timeout) : 1;
	struct dma_resv_iter cursor;
	struct dma_fence *fence;

	DMASYNC_ASSERT(!ww_mutex_is_held(&obj->lock),
		       "dma_resv_wait_timeout with the object locked by the caller");
	dma_resv_iter_begin(&cursor, obj, usage);
	dma_resv_for_each_fence_unlocked(&cursor, fence) {
		ret = dma_fence_wait_timeout(fence, intr, ret);
		if (ret <= 0)
			break;
	}
	dma_resv_iter_end(&cursor);
	return ret;
}

bool dma_resv_test_signaled(struct dma_resv *obj, enum dma_resv_usage usage)
{
	struct dma_resv_iter cursor;
	struct dma_fence *fence;

	dma_resv_iter_begin(&cursor, obj, usage);
	fence = dma_resv_iter_first_unlocked(&cursor);
	dma_resv_iter_end(&cursor);
	return fence == NULL;
}

void dma_resv_set_deadline(struct dma_resv *obj, enum dma_resv_usage usage, ktime_t deadline)
{
	struct dma_resv_iter cursor;
	struct dma_fence *fence;

	dma_resv_iter_begin(&cursor, obj, usage);
	dma_resv_for_each_fence_unlocked(&cursor, fence)
		dma_fence_set_deadline(fence, deadline);
	dma_resv_iter_end(&cursor);
}

void dma_resv_describe(struct dma_resv *obj, FILE *seq)
{
	static const char *const names[] = { "kernel", "write", "read", "bookkeep" };
	struct dma_resv_iter cursor;
	struct dma_fence *fence;

	dma_resv_for_each_fence(&cursor, obj, DMA_RESV_USAGE_BOOKKEEP, fence) {
		fprintf(seq, "\t%s fence:", names[dma_resv_iter_usage(&cursor)]);
		fputc(' ', seq);
		dma_fence_describe(fence, seq);
	}
}
