// Trains a character-level GPT with the engine library alone (no Node): what a GPU machine
// without Node runs to exercise the engine. Reads a UTF-8 text file (bytes as tokens, the
// vocabulary being the bytes it holds), draws random windows of `block` tokens from a seeded
// RNG, and prints the loss every `log` steps and, at the end, the step time's median and
// fastest (a machine's interference slows some steps, never speeds one up).
//
//   train-gpt --text FILE [--steps 200] [--layers 2] [--heads 2] [--channels 64] [--block 32]
//             [--batch 8] [--lr 1e-3] [--threads 0] [--precision fp32|bf16|fp16] [--seed 1]
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "../src/core/parallel.h"
#include "../src/core/rng.h"
#include "../src/train/trainer.h"

using namespace rm;

static int usage(const char* why) {
  std::fprintf(stderr, "train-gpt: %s\nusage: train-gpt --text FILE [--steps N] [--layers N] [--heads N] [--channels N] "
                       "[--block N] [--batch N] [--lr X] [--threads N] [--precision fp32|bf16|fp16] [--seed N]\n", why);
  return 2;
}

int main(int argc, char** argv) {
  std::map<std::string, std::string> opt = {{"steps", "200"}, {"layers", "2"},  {"heads", "2"},   {"channels", "64"},
                                            {"block", "32"},  {"batch", "8"},   {"lr", "1e-3"},  {"threads", "0"},
                                            {"precision", "fp32"}, {"seed", "1"}, {"log", "20"}, {"text", ""}};
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::strncmp(argv[i], "--", 2) != 0 || !opt.count(argv[i] + 2)) return usage((std::string("unknown option ") + argv[i]).c_str());
    opt[argv[i] + 2] = argv[i + 1];
  }
  if (opt["text"].empty()) return usage("--text is required");
  std::ifstream file(opt["text"], std::ios::binary);
  if (!file) return usage(("cannot read " + opt["text"]).c_str());
  std::stringstream buffer;
  buffer << file.rdbuf();
  std::string text = buffer.str();

  std::vector<int32_t> id(256, -1);
  int32_t vocab = 0;
  for (unsigned char ch : text)
    if (id[ch] < 0) id[ch] = vocab++;
  std::vector<int32_t> tokens(text.size());
  for (size_t i = 0; i < text.size(); ++i) tokens[i] = id[static_cast<unsigned char>(text[i])];

  try {
    TrainerConfig c;
    c.gpt = GptConfig{size_t(vocab), std::stoul(opt["block"]), std::stoul(opt["layers"]), std::stoul(opt["heads"]),
                      std::stoul(opt["channels"]), true};
    c.max_batch = std::stoul(opt["batch"]);
    c.precision = parse_precision(opt["precision"]);
    c.optimizer.beta2 = 0.99f;
    c.optimizer.weight_decay = 0.1f;
    c.seed = std::stoull(opt["seed"]);
    size_t threads = std::stoul(opt["threads"]);
    enter_compute_threads(threads == 0 ? omp_get_num_procs() : int(threads));
    size_t T = c.gpt.block, B = c.max_batch;
    if (tokens.size() <= T + 1) return usage("the text is shorter than one block");
    Trainer trainer(c);
    Rng rng(c.seed);
    auto* x = static_cast<int32_t*>(trainer.inputs());
    int32_t* y = trainer.labels();
    size_t steps = std::stoul(opt["steps"]), log = std::stoul(opt["log"]);
    float lr = std::stof(opt["lr"]);
    std::printf("train-gpt: %zu parameters, vocabulary %d, %zu tokens\n", trainer.model().parameters().count(), vocab, tokens.size());
    auto start = std::chrono::steady_clock::now();
    std::vector<double> step_ms;
    for (size_t step = 1; step <= steps; ++step) {
      for (size_t b = 0; b < B; ++b) {
        size_t at = size_t(rng.next_u64() % (tokens.size() - T - 1));
        std::memcpy(x + b * T, tokens.data() + at, T * sizeof(int32_t));
        std::memcpy(y + b * T, tokens.data() + at + 1, T * sizeof(int32_t));
      }
      auto step_start = std::chrono::steady_clock::now();
      StepResult r = trainer.train_step(B, 1, lr, 1.0f);
      step_ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - step_start).count());
      if (step % log == 0 || step == steps) {
        double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        std::printf("step %zu loss %.4f %.0f tokens/s\n", step, r.loss, double(step * B * T) / s);
      }
    }
    std::sort(step_ms.begin(), step_ms.end());
    std::printf("step ms: median %.3f fastest %.3f over %zu steps\n", step_ms[step_ms.size() / 2], step_ms[0], step_ms.size());
  } catch (const NativeError& e) {
    std::fprintf(stderr, "train-gpt: %s (%s)\n", e.what(), e.code().c_str());
    return 1;
  }
  return 0;
}
