/* SPDX-License-Identifier: MIT */
/*
 * Links against the installed-style shared library with only the public
 * headers: every inline helper must resolve against exported symbols, and
 * nothing private may be exported.
 */
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <dmasync/dmasync.h>

static int failures;
#define EXPECT(c) do { if (!(c)) { printf("# failed: %s (line %d)\n", #c, __LINE__); failures++; } } while (0)

static void *incrementer(void *arg)
{
	sync_timeline_signal(arg, 2);
	return NULL;
}

int main(int argc, char **argv)
{
	struct sync_timeline *tl = sync_timeline_create("public");
	struct dma_fence *a = sync_pt_create(tl, 1), *b = sync_pt_create(tl, 2), *m;
	struct dma_resv obj;
	pthread_t th;
	void *lib;
	int n = 0;

	/* fences, merge, resv, wait across threads */
	m = dma_fence_unwrap_merge(a, b);
	EXPECT(m == b); /* same timeline: the later one */
	dma_resv_init(&obj);
	EXPECT(dma_resv_lock(&obj, NULL) == 0);
	EXPECT(dma_resv_reserve_fences(&obj, 1) == 0);
	dma_resv_add_fence(&obj, m, DMA_RESV_USAGE_WRITE);
	dma_resv_unlock(&obj);
	EXPECT(!dma_resv_test_signaled(&obj, DMA_RESV_USAGE_READ));
	pthread_create(&th, NULL, incrementer, tl);
	EXPECT(dma_resv_wait_timeout(&obj, DMA_RESV_USAGE_READ, true, MAX_SCHEDULE_TIMEOUT) > 0);
	pthread_join(th, NULL);
	EXPECT(dma_fence_get_status(a) == 1);
	dma_resv_fini(&obj);
	dma_fence_put(m);
	dma_fence_put(a);
	dma_fence_put(b);
	sync_timeline_destroy(tl);
	printf("%s %d - public_api_round_trip\n", failures ? "not ok" : "ok", ++n);

	/* Two buffers locked in one transaction of the reservation class, as
	 * the kernel's drivers do: the class is exported data (it was not:
	 * a program using it did not link). */
	{
		struct dma_resv r1, r2;
		struct ww_acquire_ctx ctx;
		int before = failures;

		dma_resv_init(&r1);
		dma_resv_init(&r2);
		ww_acquire_init(&ctx, &reservation_ww_class);
		EXPECT(dma_resv_lock(&r1, &ctx) == 0);
		EXPECT(dma_resv_lock(&r2, &ctx) == 0);
		ww_acquire_done(&ctx);
		dma_resv_unlock(&r2);
		dma_resv_unlock(&r1);
		ww_acquire_fini(&ctx);
		dma_resv_fini(&r2);
		dma_resv_fini(&r1);
		printf("%s %d - reservation_ww_class\n", failures > before ? "not ok" : "ok", ++n);
	}

	/* the export list: public names present, private ones hidden */
	lib = dlopen(argc > 1 ? argv[1] : "libdmasync.so", RTLD_NOW | RTLD_NOLOAD);
	if (!lib)
		lib = dlopen(argc > 1 ? argv[1] : "libdmasync.so", RTLD_NOW);
	{
		int before = failures;

		EXPECT(lib != NULL);
		if (lib) {
			EXPECT(dlsym(lib, "dma_fence_signal") != NULL);
			EXPECT(dlsym(lib, "dma_resv_get_singleton") != NULL);
			EXPECT(dlsym(lib, "ww_mutex_lock") != NULL);
			EXPECT(dlsym(lib, "reservation_ww_class") != NULL);
			EXPECT(dlsym(lib, "dmasync_ioctl") != NULL);
			EXPECT(dlsym(lib, "core_call_rcu") == NULL);
			EXPECT(dlsym(lib, "core_warn") == NULL);
			EXPECT(dlsym(lib, "irq_work_queue") == NULL);
			EXPECT(dlsym(lib, "uapi_file_lookup") == NULL);
			/* removed: dma_resv_unlock() tells the buffer itself */
			EXPECT(dlsym(lib, "dmasync_dma_buf_resv_changed") == NULL);
		}
		printf("%s %d - exported_symbols\n", failures > before ? "not ok" : "ok", ++n);
	}
	printf("1..%d\n", n);
	dmasync_rcu_barrier();
	return failures ? 1 : 0;
}
