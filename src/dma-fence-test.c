/* SPDX-License-Identifier: MIT */
#include <string.h>
#include <dmasync/dma-fence.h>
#include "test-harness.h"
TEST(smoke)
{
	struct dma_fence *f = dma_fence_get_stub();
	CHECK(dma_fence_is_signaled(f));
	dma_fence_put(f);
}
