"""The GPT training step of jobs/shakespeare-char.yaml written in PyTorch, for bench/gpt.ts to run
beside Ringmaster's in the same run. By hand only, with the machine's local torch wheel:
    python3 -m venv /tmp/torch && /tmp/torch/bin/pip install torch==2.13.0+cpu numpy
    npm run bench:gpt -- --torch /tmp/torch/bin/python

Prints one JSON line: {"precision", "threads", "msPerStep" (the median step), "tokensPerSec"} for
    gpt_torch.py <fp32|bf16> <threads> <seconds>
The model is test/golden/make_gpt_fixture.py's (the same definition the golden fixtures use);
the step is forward, cross-entropy, backward, clip_grad_norm_(1.0) and AdamW with nanoGPT's
decay groups; bf16 runs the forward under torch.autocast("cpu", torch.bfloat16).
"""
import json
import os
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "test", "golden"))
from make_gpt_fixture import Gpt  # noqa: E402

CONFIG = dict(vocab=65, block=64, layers=4, heads=4, channels=128, bias=True)
BATCH = 12


def main():
    precision, threads, seconds = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = Gpt(CONFIG)
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=1e-3, betas=(0.9, 0.99))
    x = torch.randint(0, CONFIG["vocab"], (BATCH, CONFIG["block"]))
    y = torch.randint(0, CONFIG["vocab"], (BATCH, CONFIG["block"]))

    def step():
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16"):
            logits = model(x)
        loss = F.cross_entropy(logits.float().view(-1, CONFIG["vocab"]), y.view(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()

    for _ in range(5):
        step()
    # the median step, as bench/gpt.ts takes ours: interference slows some steps, never speeds one up
    times, start = [], time.perf_counter()
    while len(times) < 5 or time.perf_counter() - start < seconds:
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    ms = 1000 * sorted(times)[len(times) // 2]
    print(json.dumps({"precision": precision, "threads": threads, "msPerStep": ms,
                      "tokensPerSec": BATCH * CONFIG["block"] * 1000 / ms, "torch": torch.__version__}))


if __name__ == "__main__":
    main()
