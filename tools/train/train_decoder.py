#!/usr/bin/env python3
"""Trains the Debian decoder: a small Llama (llama.cpp's `llama` graph, llama-spm vocabulary, tied output) on
chats whose answers are Debian package descriptions, half of them with retrieved context (make_examples.py).

    python3 tools/train/train_decoder.py --tokens data/tokens --out out/decoder [--minutes 4] [--seed 1]
    # fine-tuning the committed decoder (works on a CPU: a few minutes teach it new kinds of chats)
    python3 tools/train/train_decoder.py --init models/debian/debian-llama-spm-f16.gguf --lr 2e-4 --warmup 10 \
        --batch 8 --minutes 20 --val-tokens 200000 --tokens data/tokens --out out/decoder-ft

Input: data/tokens/lm_{train,val}.text.{u16,off} from `ut models tokenize --append-eos` (BOS ... EOS a chat).
Output: OUT/weights-NN.safetensors (GGUF tensor names; `ut models import --spec debian-decoder`),
OUT/train-log.json (settings, loss curve, validation perplexity, time, device) and OUT/reference.json (the
fp32 PyTorch log-likelihood of a few validation chats, for the llama.cpp cross-check test).

The architecture is what llama.cpp runs for `llama`: pre-RMSNorm, RoPE on adjacent pairs (rope type NORM, so
no weight permutation), grouped-query attention, SwiGLU, output = token embedding (tied). Shapes must match
SynthSpec::debian_decoder() in workloads/ml/synth.cpp. Training packs the chats into 1024-token blocks;
the validation perplexity is over the validation chats packed the same way.
"""
import argparse
import json
import math
import os
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from ttlib import cosine_lr, load_rows, read_gguf_tensors, save_safetensors, sdpa, start

VOCAB, E, L, H, HKV, FF, CTX, EPS, ROPE_BASE = 32000, 256, 6, 8, 4, 768, 1024, 1e-5, 10000.0
D = E // H


class RMSNorm(nn.Module):
    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(E))

    def forward(self, x):
        return x * torch.rsqrt(x.float().pow(2).mean(-1, keepdim=True) + EPS).to(x.dtype) * self.weight


def rope(x, cos, sin):
    """x: [B, h, T, D]; rotates adjacent pairs (x0, x1), (x2, x3), ... as ggml's NORM rope does."""
    x1, x2 = x[..., 0::2], x[..., 1::2]
    return torch.stack((x1 * cos - x2 * sin, x1 * sin + x2 * cos), dim=-1).flatten(-2)


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.attn_norm, self.ffn_norm = RMSNorm(), RMSNorm()
        self.q, self.k = nn.Linear(E, E, bias=False), nn.Linear(E, D * HKV, bias=False)
        self.v, self.o = nn.Linear(E, D * HKV, bias=False), nn.Linear(E, E, bias=False)
        self.gate, self.up, self.down = nn.Linear(E, FF, bias=False), nn.Linear(E, FF, bias=False), nn.Linear(FF, E, bias=False)

    def forward(self, x, cos, sin):
        B, T, _ = x.shape
        h = self.attn_norm(x)
        q = rope(self.q(h).view(B, T, H, D).transpose(1, 2), cos, sin)
        k = rope(self.k(h).view(B, T, HKV, D).transpose(1, 2), cos, sin)
        v = self.v(h).view(B, T, HKV, D).transpose(1, 2)
        k, v = k.repeat_interleave(H // HKV, dim=1), v.repeat_interleave(H // HKV, dim=1)  # head h -> kv h // 2
        x = x + self.o(sdpa(q, k, v, causal=True).transpose(1, 2).reshape(B, T, E))
        h = self.ffn_norm(x)
        return x + self.down(F.silu(self.gate(h)) * self.up(h))


class Llama(nn.Module):
    def __init__(self):
        super().__init__()
        self.tok = nn.Embedding(VOCAB, E)
        self.blocks = nn.ModuleList(Block() for _ in range(L))
        self.norm = RMSNorm()
        for m in self.modules():
            if isinstance(m, (nn.Linear, nn.Embedding)):
                nn.init.normal_(m.weight, std=0.02)
        for b in self.blocks:  # scaled residual projections (GPT-2)
            nn.init.normal_(b.o.weight, std=0.02 / math.sqrt(2 * L))
            nn.init.normal_(b.down.weight, std=0.02 / math.sqrt(2 * L))
        inv = ROPE_BASE ** (-torch.arange(0, D, 2).float() / D)
        ang = torch.arange(CTX).float()[:, None] * inv[None]
        self.register_buffer("cos", ang.cos(), persistent=False)
        self.register_buffer("sin", ang.sin(), persistent=False)

    def forward(self, ids):
        T = ids.shape[1]
        x = self.tok(ids)
        cos, sin = self.cos[:T].to(x.dtype), self.sin[:T].to(x.dtype)
        for b in self.blocks:
            x = b(x, cos, sin)
        return self.norm(x) @ self.tok.weight.T  # tied output

    def gguf_tensors(self):
        t = {"token_embd.weight": self.tok.weight, "output_norm.weight": self.norm.weight}
        for i, b in enumerate(self.blocks):
            for name, w in (("attn_norm", b.attn_norm.weight), ("attn_q", b.q.weight), ("attn_k", b.k.weight),
                            ("attn_v", b.v.weight), ("attn_output", b.o.weight), ("ffn_norm", b.ffn_norm.weight),
                            ("ffn_gate", b.gate.weight), ("ffn_up", b.up.weight), ("ffn_down", b.down.weight)):
                t[f"blk.{i}.{name}.weight"] = w
        return t


def load_gguf(model, path):
    """Copies a GGUF's weights (gguf_tensors() names) into the model; every tensor must be there, shaped alike."""
    w = read_gguf_tensors(path)
    with torch.no_grad():
        for name, p in model.gguf_tensors().items():
            if name not in w:
                raise SystemExit(f"{path}: no tensor {name}")
            if tuple(w[name].shape) != tuple(p.shape):
                raise SystemExit(f"{path}: {name} is {w[name].shape}, this model has {tuple(p.shape)}")
            p.copy_(torch.from_numpy(w[name]))


def blocks(stream, T, offset):
    n = (len(stream) - offset - 1) // T
    s = stream[offset:offset + n * T + 1]
    x = np.lib.stride_tricks.as_strided(s, shape=(n, T + 1), strides=(T * s.itemsize, s.itemsize))
    return np.ascontiguousarray(x)


@torch.no_grad()
def val_loss(model, stream, dev, batch=64):
    model.eval()
    x = blocks(stream, CTX, 0)
    total, n = 0.0, 0
    for s in range(0, len(x), batch):
        b = torch.from_numpy(x[s:s + batch].astype(np.int64)).to(dev)
        with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=dev.type == "cuda"):
            logits = model(b[:, :-1])
        total += F.cross_entropy(logits.float().reshape(-1, VOCAB), b[:, 1:].reshape(-1), reduction="sum").item()
        n += b[:, 1:].numel()
    model.train()
    return total / n


@torch.no_grad()
def reference(model, ids, off, rows, dev):
    """fp32 mean negative log-likelihood of whole chats (BOS excluded as a target) for the llama.cpp check."""
    model.eval().float()
    out = []
    for r in rows:
        t = torch.from_numpy(ids[off[r]:off[r + 1]].astype(np.int64)).to(dev)[None]
        logits = model(t[:, :-1]).float()
        nll = F.cross_entropy(logits[0], t[0, 1:]).item()
        out.append({"row": int(r), "tokens": t[0].tolist(), "mean_nll": nll,
                    "greedy_next": int(logits[0, -1].argmax())})
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tokens", default="data/tokens")
    ap.add_argument("--out", default="out/decoder")
    ap.add_argument("--minutes", type=float, default=4.0, help="training time budget (default %(default)s)")
    ap.add_argument("--max-steps", type=int, default=0, help="stop after N steps (smoke tests)")
    ap.add_argument("--batch", type=int, default=64, help="1024-token blocks a step")
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--eval-every", type=int, default=200)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--val-tokens", type=int, default=0,
                    help="validate on N tokens only, in 1,024-token windows spread over the split (CPU runs, smoke tests)")
    ap.add_argument("--init", default="", help="start from this GGUF's weights (F16/F32, this architecture)")
    ap.add_argument("--warmup", type=int, default=200, help="steps of linear learning-rate warm-up")
    ap.add_argument("--threads", type=int, default=0, help="CPU threads for PyTorch (0: its default)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    rng, dev, log = start(args, dict(vocab=VOCAB, n_embd=E, n_layer=L, n_head=H, n_head_kv=HKV, n_ff=FF,
                                     context=CTX, rope_base=ROPE_BASE, tied_output=True))
    train, _ = load_rows(f"{args.tokens}/lm_train", "text")
    val, val_off = load_rows(f"{args.tokens}/lm_val", "text")
    train, val_stream = train.astype(np.int32), val.astype(np.int32)
    if args.val_tokens:  # evenly spread windows: a split that ends with another kind of chat is sampled too
        k = max(1, args.val_tokens // CTX)
        starts = np.linspace(0, max(0, len(val_stream) - CTX), k).astype(np.int64)
        val_stream = np.concatenate([val_stream[s:s + CTX] for s in starts])
    log(f"{len(train) / 1e6:.2f} M training tokens, {len(val_stream) / 1e6:.2f} M validation tokens; device {dev}")

    model = Llama()
    if args.init:
        load_gguf(model, args.init)
        log(f"weights from {args.init}")
    model = model.to(dev)
    log(f"{sum(p.numel() for p in model.parameters()) / 1e6:.2f} M parameters")
    if args.init:  # where fine-tuning starts: the validation loss of the weights as they came
        vl = val_loss(model, val_stream, dev)
        log(f"step     0 val loss {vl:.3f} ppl {math.exp(vl):.2f}")
        log.data["init_val_loss"] = vl
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=args.lr, betas=(0.9, 0.95))
    budget, t0 = args.minutes * 60, time.time()
    est_total, step, best, best_state, curve = None, 0, float("inf"), None, []
    probe_from, probe_to = (5, 20) if dev.type == "cpu" else (50, 150)  # a CPU step takes seconds
    done = False
    while not done:
        x = blocks(train, CTX, int(rng.integers(0, CTX)))
        x = x[rng.permutation(len(x))]
        for s in range(0, len(x) - args.batch + 1, args.batch):
            b = torch.from_numpy(x[s:s + args.batch].astype(np.int64)).to(dev, non_blocking=True)
            for g in opt.param_groups:
                g["lr"] = cosine_lr(step, est_total or 4000, args.warmup, args.lr)
            with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=dev.type == "cuda"):
                logits = model(b[:, :-1])
            loss = F.cross_entropy(logits.float().reshape(-1, VOCAB), b[:, 1:].reshape(-1))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            step += 1
            if step == probe_from:
                t_probe = time.time()
            if step == probe_to and est_total is None:  # the schedule's length from the measured step time
                per_step = (time.time() - t_probe) / (probe_to - probe_from)
                est_total = int(step + (budget - (time.time() - t0)) / per_step)
                log(f"{per_step * 1000:.0f} ms a step: planning {est_total} steps for the budget")
            last = (args.max_steps and step >= args.max_steps) or (est_total and step >= est_total) \
                or time.time() - t0 > budget
            if step % args.eval_every == 0 or last:
                vl = val_loss(model, val_stream, dev)
                curve.append({"step": step, "tokens": step * args.batch * CTX, "train_loss": loss.item(),
                              "val_loss": vl, "val_ppl": math.exp(vl)})
                log(f"step {step:5d} train loss {loss.item():.3f} val loss {vl:.3f} ppl {math.exp(vl):.2f}")
                if vl < best:
                    best, best_state = vl, {k: v.detach().clone() for k, v in model.state_dict().items()}
                    log.data["best"] = curve[-1]
            if last:
                done = True
                break
    model.load_state_dict(best_state)
    log.data["curve"] = curve
    log.data["train_seconds"] = time.time() - t0
    log.data["epochs"] = step * args.batch * CTX / len(train)
    paths = save_safetensors(model.gguf_tensors(), os.path.join(args.out, "weights"),
                             {"trainer": "tools/train/train_decoder.py", "seed": args.seed, "steps": step})
    with open(os.path.join(args.out, "reference.json"), "w") as f:
        json.dump(reference(model, val, val_off, [0, 1, 2, 3], dev), f)
    log(f"exported {', '.join(paths)}; best validation perplexity {math.exp(best):.2f}")
    log.save()


if __name__ == "__main__":
    main()
