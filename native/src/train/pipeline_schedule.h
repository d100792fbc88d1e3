// The order in which one pipeline rank runs a step's forwards and backwards.
//
// 1F1B (PipeDream-Flush, one model chunk per rank): min(P − r − 1, m) warm-up forwards, then one
// forward and one backward in turn, then the remaining backwards; backwards in micro-batch order;
// at most P − r micro-batches between their forward and their backward.
//
// Interleaved 1F1B (Megatron's, v > 1 chunks per rank, chunk c of rank r being virtual stage
// c·P + r of P·v): micro-batches go in groups of P; a rank runs a group's forwards through chunk
// 0, then through chunk 1, …, and its backwards through the chunks in reverse; (P − r − 1)·2 +
// (v − 1)·P warm-up forwards, then one forward and one backward in turn. Each chunk is 1/v of a
// stage, so the bubble shrinks v-fold, for v times the transfers; m must be a multiple of P.
#pragma once

#include <cstddef>
#include <vector>

namespace rm {

struct PipelineAction {
  bool forward;  // else backward
  size_t micro_batch;
  size_t chunk;
};

std::vector<PipelineAction> pipeline_schedule(size_t stages, size_t stage, size_t chunks, size_t micro_batches);

// What one link into rank r carries in a step, in the order its sender sends it: the activations
// rank r receives from rank r − 1 (forward), or the gradients it receives from rank r + 1, each
// named by the micro-batch and the chunk of rank r it is for. A link matches its transfers by
// their order (NCCL's rule), so rank r posts its receives in this order.
std::vector<PipelineAction> pipeline_arrivals(size_t stages, size_t stage, size_t chunks, size_t micro_batches, bool forward);

// The most micro-batches any one chunk of this rank holds between forward and backward over a
// step of up to `micro_batches` (the activation sets each chunk needs).
size_t pipeline_slots(size_t stages, size_t stage, size_t chunks, size_t micro_batches);

}  // namespace rm
