"""Writes test/golden/gpt-tiny.json: a tiny GPT's parameters, a batch, and what PyTorch computes
from them (logits, loss, every parameter gradient, the losses of 10 AdamW steps with clipping),
for test/golden/gpt.test.ts to compare the engine against (llm.c's test_gpt2 approach).

Run by hand, never in CI, with PyTorch from the machine's local wheel:
    python3 -m venv /tmp/torch && /tmp/torch/bin/pip install torch==2.13.0+cpu numpy
    /tmp/torch/bin/python test/golden/make_gpt_fixture.py

The model is written here from the definition in DESIGN.md (pre-LayerNorm blocks, causal
attention through F.scaled_dot_product_attention, GELU tanh, tied head), with nanoGPT's
parameter names, initialisation and weight-decay groups; everything runs in float64 and is
stored as float32 parameters, so the fixture is the float32 model's exact values computed
without float32 rounding.
"""
import json
import math
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

CONFIG = dict(vocab=11, block=8, layers=2, heads=2, channels=16, bias=True)
BATCH = 3
STEPS = 10
ADAMW = dict(lr=1e-2, betas=(0.9, 0.99), eps=1e-8, weight_decay=0.1)
CLIP = 1.0
SEED = 1234


class Attention(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.heads = c["heads"]
        self.c_attn = nn.Linear(c["channels"], 3 * c["channels"], bias=c["bias"])
        self.c_proj = nn.Linear(c["channels"], c["channels"], bias=c["bias"])

    def forward(self, x):
        B, T, C = x.shape
        q, k, v = self.c_attn(x).split(C, dim=2)
        shape = (B, T, self.heads, C // self.heads)
        q, k, v = (t.view(shape).transpose(1, 2) for t in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self.c_proj(y.transpose(1, 2).contiguous().view(B, T, C))


class Mlp(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.c_fc = nn.Linear(c["channels"], 4 * c["channels"], bias=c["bias"])
        self.c_proj = nn.Linear(4 * c["channels"], c["channels"], bias=c["bias"])

    def forward(self, x):
        return self.c_proj(F.gelu(self.c_fc(x), approximate="tanh"))


class Block(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.ln_1 = nn.LayerNorm(c["channels"], bias=c["bias"])
        self.attn = Attention(c)
        self.ln_2 = nn.LayerNorm(c["channels"], bias=c["bias"])
        self.mlp = Mlp(c)

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class Gpt(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.transformer = nn.ModuleDict(dict(
            wte=nn.Embedding(c["vocab"], c["channels"]),
            wpe=nn.Embedding(c["block"], c["channels"]),
            h=nn.ModuleList([Block(c) for _ in range(c["layers"])]),
            ln_f=nn.LayerNorm(c["channels"], bias=c["bias"]),
        ))
        self.lm_head = nn.Linear(c["channels"], c["vocab"], bias=False)
        self.lm_head.weight = self.transformer.wte.weight  # tied
        for name, p in self.named_parameters():
            if p.dim() == 2:
                std = 0.02 / math.sqrt(2 * c["layers"]) if name.endswith("c_proj.weight") else 0.02
                nn.init.normal_(p, 0.0, std)
            elif name.endswith(".bias"):
                nn.init.zeros_(p)
            # Random gains and biases so their gradients are tested away from the trivial point.
            if "ln_" in name:
                with torch.no_grad():
                    p.add_(torch.randn_like(p) * 0.1)

    def forward(self, idx):
        B, T = idx.shape
        x = self.transformer.wte(idx) + self.transformer.wpe(torch.arange(T))
        for block in self.transformer.h:
            x = block(x)
        return self.lm_head(self.transformer.ln_f(x))


def flat(t):
    return [float(v) for v in t.detach().to(torch.float32).flatten().tolist()]


def main():
    torch.manual_seed(SEED)
    model = Gpt(CONFIG)
    model = model.double()  # float32 parameters widened exactly: the math below runs in float64
    x = torch.randint(0, CONFIG["vocab"], (BATCH, CONFIG["block"]))
    y = torch.randint(0, CONFIG["vocab"], (BATCH, CONFIG["block"]))
    params = {n: flat(p) for n, p in model.named_parameters()}
    shapes = {n: list(p.shape) for n, p in model.named_parameters()}
    logits = model(x)
    loss = F.cross_entropy(logits.view(-1, CONFIG["vocab"]), y.view(-1))
    loss.backward()
    grads = {n: flat(p.grad) for n, p in model.named_parameters()}

    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([
        {"params": decay, "weight_decay": ADAMW["weight_decay"]},
        {"params": no_decay, "weight_decay": 0.0},
    ], lr=ADAMW["lr"], betas=ADAMW["betas"], eps=ADAMW["eps"])
    model.zero_grad()
    losses = []
    for _ in range(STEPS):
        opt.zero_grad()
        step_loss = F.cross_entropy(model(x).view(-1, CONFIG["vocab"]), y.view(-1))
        step_loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), CLIP)
        opt.step()
        losses.append(float(step_loss.detach()))

    fixture = {
        "made_by": f"test/golden/make_gpt_fixture.py with torch {torch.__version__} (float64 math on float32 parameters)",
        "config": CONFIG, "batch": BATCH,
        "adamw": {**ADAMW, "betas": list(ADAMW["betas"])}, "clip": CLIP,
        "tokens": x.flatten().tolist(), "targets": y.flatten().tolist(),
        "shapes": shapes, "params": params,
        "logits": flat(logits), "loss": float(loss), "grads": grads, "step_losses": losses,
    }
    out = sys.argv[1] if len(sys.argv) > 1 else "test/golden/gpt-tiny.json"
    with open(out, "w") as f:
        json.dump(fixture, f)
    print(f"wrote {out}: loss {float(loss):.6f}, step losses {losses[0]:.6f} .. {losses[-1]:.6f}")


if __name__ == "__main__":
    main()
