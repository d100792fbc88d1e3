#include "engine_config.h"

#include <algorithm>

#include "binding_util.h"

namespace rm {

static Impl parse_impl(const Napi::Object& o) {
  std::string impl = o.Get("impl").As<Napi::String>().Utf8Value();
  RM_CHECK(impl == "fast" || impl == "reference", "INVALID_ARGUMENT", "impl must be \"fast\" or \"reference\"");
  return impl == "fast" ? Impl::Fast : Impl::Reference;
}

static OptimizerConfig parse_optimizer(const Napi::Object& o) {
  OptimizerConfig c;
  c.kind = o.Get("kind").As<Napi::String>().Utf8Value();
  c.beta1 = float(require_number(o.Get("beta1"), "optimizer.beta1"));
  c.beta2 = float(require_number(o.Get("beta2"), "optimizer.beta2"));
  c.eps = float(require_number(o.Get("eps"), "optimizer.eps"));
  c.weight_decay = float(require_number(o.Get("weightDecay"), "optimizer.weightDecay"));
  c.momentum = float(require_number(o.Get("momentum"), "optimizer.momentum"));
  c.nesterov = o.Get("nesterov").ToBoolean();
  return c;
}

static void parse_precision_options(const Napi::Object& o, TrainerConfig& c);

// pipeline: { stages, stage, chunks: [{ firstLayer, endLayer }, …] }: this rank's stage, and the
// layers of each of its chunks (a GPT's blocks; a sequential network's config layers, one chunk).
static std::vector<GptPart::Chunk> parse_pipeline(const Napi::Object& p, TrainerConfig& c) {
  c.pipeline_stages = require_count(p.Get("stages"), "pipeline.stages");
  c.pipeline_stage = require_count(p.Get("stage"), "pipeline.stage");
  RM_CHECK(c.pipeline_stages >= 1 && c.pipeline_stage < c.pipeline_stages, "INVALID_ARGUMENT",
           "pipeline.stage " + std::to_string(c.pipeline_stage) + " is not one of " + std::to_string(c.pipeline_stages) + " stages");
  RM_CHECK(p.Get("chunks").IsArray(), "INVALID_ARGUMENT", "pipeline.chunks must be an array of { firstLayer, endLayer }");
  auto list = p.Get("chunks").As<Napi::Array>();
  RM_CHECK(list.Length() >= 1, "INVALID_ARGUMENT", "a pipeline stage holds at least one chunk of layers");
  std::vector<GptPart::Chunk> chunks;
  for (uint32_t i = 0; i < list.Length(); ++i) {
    auto ch = require_object(list.Get(i), "pipeline.chunks[i]");
    chunks.push_back({require_count(ch.Get("firstLayer"), "pipeline.chunks[i].firstLayer"), require_count(ch.Get("endLayer"), "pipeline.chunks[i].endLayer")});
  }
  return chunks;
}

static GptConfig parse_gpt(const Napi::Object& g) {
  GptConfig c;
  c.vocab = require_count(g.Get("vocab"), "gpt.vocab");
  c.block = require_count(g.Get("block"), "gpt.block");
  c.layers = require_count(g.Get("layers"), "gpt.layers");
  c.heads = require_count(g.Get("heads"), "gpt.heads");
  c.channels = require_count(g.Get("channels"), "gpt.channels");
  c.bias = g.Get("bias").ToBoolean();
  RM_CHECK(c.layers > 0, "INVALID_ARGUMENT", "gpt.layers must be > 0");
  return c;
}

TrainerConfig parse_engine_config(const Napi::Object& o) {
  TrainerConfig c;
  c.max_batch = require_count(o.Get("maxBatch"), "maxBatch");
  if (o.Has("maxAccumulate")) c.max_accumulate = std::max<size_t>(1, require_count(o.Get("maxAccumulate"), "maxAccumulate"));
  c.impl = parse_impl(o);
  if (o.Has("device") && !o.Get("device").IsUndefined()) {
    RM_CHECK(o.Get("device").IsString(), "INVALID_ARGUMENT", "device must be \"cpu\" or \"cuda:N\"");
    c.device = o.Get("device").As<Napi::String>().Utf8Value();
  }
  c.optimizer = parse_optimizer(require_object(o.Get("optimizer"), "optimizer"));
  c.seed = uint64_t(require_count(o.Get("seed"), "seed"));
  parse_precision_options(o, c);
  if (o.Has("gpt") && o.Get("gpt").IsObject()) {
    c.gpt = parse_gpt(o.Get("gpt").As<Napi::Object>());
    if (o.Has("pipeline") && o.Get("pipeline").IsObject()) {
      c.gpt_part.chunks = parse_pipeline(o.Get("pipeline").As<Napi::Object>(), c);
      c.gpt_part.embedding = c.pipeline_stage == 0;
      c.gpt_part.head = c.pipeline_stage + 1 == c.pipeline_stages;
    }
    return c;
  }
  auto input = o.Get("input").As<Napi::Array>();
  RM_CHECK(input.Length() == 3, "INVALID_ARGUMENT", "input must be [channels, height, width]");
  c.input = {require_count(input.Get(0u), "input[0]"), require_count(input.Get(1u), "input[1]"),
             require_count(input.Get(2u), "input[2]")};
  auto layers = o.Get("layers").As<Napi::Array>();
  for (uint32_t i = 0; i < layers.Length(); ++i) {
    auto l = require_object(layers.Get(i), "layers[i]");
    LayerConfig lc{l.Get("kind").As<Napi::String>().Utf8Value(), 0};
    if (l.Has("out")) lc.out = require_count(l.Get("out"), "layers[i].out");
    c.layers.push_back(lc);
  }
  if (o.Has("pipeline") && o.Get("pipeline").IsObject()) {
    auto chunks = parse_pipeline(o.Get("pipeline").As<Napi::Object>(), c);
    RM_CHECK(chunks.size() == 1, "INVALID_ARGUMENT", "an mlp or cnn stage holds one run of layers (interleaved stages split a gpt)");
    c.sequential_part = {chunks[0].first_layer, chunks[0].end_layer};
  }
  return c;
}

// Precision, loss scaling and data-parallel options, the same for every model.
static void parse_precision_options(const Napi::Object& o, TrainerConfig& c) {
  if (o.Has("precision")) c.precision = parse_precision(o.Get("precision").ToString().Utf8Value());
  if (o.Has("bf16Kernels") && !o.Get("bf16Kernels").IsUndefined()) {
    std::string k = o.Get("bf16Kernels").ToString().Utf8Value();
    RM_CHECK(k == "auto" || k == "on" || k == "off", "INVALID_ARGUMENT", "bf16Kernels must be \"auto\", \"on\" or \"off\"");
    using K = Bf16Kernels;
    c.bf16_kernels = k == "on" ? K::On : k == "off" ? K::Off : K::Auto;
  }
  if (o.Has("gradientWire")) c.gradient_wire = parse_precision(o.Get("gradientWire").ToString().Utf8Value());
  if (o.Has("lossScale") && o.Get("lossScale").IsObject()) {
    auto l = o.Get("lossScale").As<Napi::Object>();
    c.loss_scale.enabled = true;
    c.loss_scale.dynamic = l.Get("dynamic").ToBoolean();
    c.loss_scale.init = float(require_number(l.Get("init"), "lossScale.init"));
    c.loss_scale.growth_interval = require_count(l.Get("growthInterval"), "lossScale.growthInterval");
    c.loss_scale.min_scale = float(require_number(l.Get("minScale"), "lossScale.minScale"));
  }
  if (o.Has("sufficientFactors")) c.sufficient_factors = o.Get("sufficientFactors").ToBoolean();
  if (o.Has("bucketBytes")) c.bucket_floats = std::max<size_t>(1, require_count(o.Get("bucketBytes"), "bucketBytes") / sizeof(float));
}

}  // namespace rm
