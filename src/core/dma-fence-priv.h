/* SPDX-License-Identifier: MIT */
/* Private: what the layers above see of fences beyond the API. */
#ifndef DMASYNC_CORE_DMA_FENCE_PRIV_H
#define DMASYNC_CORE_DMA_FENCE_PRIV_H

#include <stdbool.h>
#include <dmasync/dma-fence.h>

/*
 * core_dma_fence_is_stub - whether @fence is the stub dma_fence_get_stub()
 * returns.  Unlike a comparison with dma_fence_get_stub(), it does not
 * make the stub (which takes its timestamp when first got, as on Linux),
 * so describing a fence is not the stub's first use.  No lock.
 */
bool core_dma_fence_is_stub(const struct dma_fence *fence);

#endif
