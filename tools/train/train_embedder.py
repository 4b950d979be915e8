#!/usr/bin/env python3
"""Trains the Debian embedder: a small BERT (llama.cpp's `bert` graph, bge WordPiece vocabulary) that maps a
package's short description near its document (name + long description), with in-batch negatives.

    python3 tools/train/train_embedder.py --tokens data/tokens --out out/embedder [--minutes 3] [--seed 1]

Input: data/tokens/embed_{train,val,test}.{q,d}.{u16,off} from `ut models tokenize` (see scripts/train-models.sh).
Output: OUT/weights-NN.safetensors (GGUF tensor names; `ut models import --spec debian-embedder`) and
OUT/train-log.json (settings, loss curve, validation recall, time, device).

The architecture is exactly what llama.cpp runs for `bert` (post-norm layers, tanh-GELU, token type 0 added,
learned positions, mean pooling over all tokens including [CLS] and [SEP]); the shapes must match
SynthSpec::debian_embedder() in workloads/ml/synth.cpp. Validation: recall@10 of the validation packages'
short descriptions against every package's document; the best checkpoint by that number is exported.
"""
import argparse
import json
import os
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from ttlib import cosine_lr, load_rows, pad_batch, save_safetensors, sdpa, start

VOCAB, E, L, H, FF, POS, EPS = 30522, 160, 4, 4, 640, 256, 1e-12


class Layer(nn.Module):
    def __init__(self, p_drop):
        super().__init__()
        self.q, self.k, self.v, self.o = (nn.Linear(E, E) for _ in range(4))
        self.n1, self.n2 = nn.LayerNorm(E, eps=EPS), nn.LayerNorm(E, eps=EPS)
        self.up, self.down = nn.Linear(E, FF), nn.Linear(FF, E)
        self.drop = nn.Dropout(p_drop)

    def forward(self, x, mask):
        B, T, _ = x.shape
        split = lambda t: t.view(B, T, H, E // H).transpose(1, 2)
        a = sdpa(split(self.q(x)), split(self.k(x)), split(self.v(x)), mask=mask[:, None, None, :])
        x = self.n1(x + self.drop(self.o(a.transpose(1, 2).reshape(B, T, E))))
        return self.n2(x + self.drop(self.down(F.gelu(self.up(x), approximate="tanh"))))


class Bert(nn.Module):
    def __init__(self, p_drop=0.1):
        super().__init__()
        self.tok, self.typ, self.pos = nn.Embedding(VOCAB, E), nn.Embedding(2, E), nn.Embedding(POS, E)
        self.norm = nn.LayerNorm(E, eps=EPS)
        self.layers = nn.ModuleList(Layer(p_drop) for _ in range(L))
        self.drop = nn.Dropout(p_drop)
        for m in self.modules():
            if isinstance(m, (nn.Linear, nn.Embedding)):
                nn.init.normal_(m.weight, std=0.02)
            if isinstance(m, nn.Linear):
                nn.init.zeros_(m.bias)

    def forward(self, ids, mask):
        T = ids.shape[1]
        x = self.tok(ids) + self.typ.weight[0] + self.pos(torch.arange(T, device=ids.device))[None]
        x = self.drop(self.norm(x))
        for layer in self.layers:
            x = layer(x, mask)
        m = mask.unsqueeze(-1).to(x.dtype)
        return F.normalize((x * m).sum(1) / m.sum(1), dim=-1)  # mean pooling, as llama.cpp; then L2

    def gguf_tensors(self):
        t = {"token_embd.weight": self.tok.weight, "token_types.weight": self.typ.weight,
             "position_embd.weight": self.pos.weight, "token_embd_norm.weight": self.norm.weight,
             "token_embd_norm.bias": self.norm.bias}
        for i, ly in enumerate(self.layers):
            for name, mod in (("attn_q", ly.q), ("attn_k", ly.k), ("attn_v", ly.v), ("attn_output", ly.o),
                              ("attn_output_norm", ly.n1), ("ffn_up", ly.up), ("ffn_down", ly.down),
                              ("layer_output_norm", ly.n2)):
                t[f"blk.{i}.{name}.weight"], t[f"blk.{i}.{name}.bias"] = mod.weight, mod.bias
        return t


@torch.no_grad()
def embed_all(model, ids, off, dev, batch=2048):
    model.eval()
    order = np.argsort(off[1:] - off[:-1])  # similar lengths together: less padding
    out = torch.empty(len(off) - 1, E, device=dev)
    for s in range(0, len(order), batch):
        rows = order[s:s + batch]
        x, mask = pad_batch(ids, off, rows, POS, dev)
        with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=dev.type == "cuda"):
            out[torch.from_numpy(rows).to(dev)] = model(x, mask).float()
    model.train()
    return out


@torch.no_grad()
def reference(model, ids, off, dev, first=0, n=4):
    """fp32 embeddings of a few validation queries and documents, for the llama.cpp cross-check test."""
    model.eval().float()
    out = []
    for r in range(first, first + n):
        x, mask = pad_batch(ids, off, np.array([r]), POS, dev)
        out.append({"tokens": x[0].tolist(), "embedding": model(x, mask)[0].tolist()})
    model.train()
    return out


def recall(q, d, truth, ks=(1, 5, 10)):
    hits = {k: 0 for k in ks}
    for s in range(0, len(q), 1024):
        top = (q[s:s + 1024] @ d.T).topk(max(ks), dim=1).indices
        t = truth[s:s + 1024, None]
        for k in ks:
            hits[k] += (top[:, :k] == t).any(1).sum().item()
    return {f"recall@{k}": hits[k] / len(q) for k in ks}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tokens", default="data/tokens")
    ap.add_argument("--out", default="out/embedder")
    ap.add_argument("--minutes", type=float, default=3.0, help="training time budget (default %(default)s)")
    ap.add_argument("--max-steps", type=int, default=0, help="stop after N steps (smoke tests)")
    ap.add_argument("--epochs", type=int, default=0, help="train N epochs (the schedule's length; --minutes still caps)")
    ap.add_argument("--batch", type=int, default=1024)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--temperature", type=float, default=0.05)
    ap.add_argument("--doc-dropout", type=float, default=0.0,
                    help="drop this fraction of document tokens (not [CLS]/[SEP]) each step: a regulariser")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--eval-docs", type=int, default=0, help="validate against the first N documents only (smoke tests)")
    args = ap.parse_args()
    rng, dev, log = start(args, dict(vocab=VOCAB, n_embd=E, n_layer=L, n_head=H, n_ff=FF, positions=POS,
                                     pooling="mean"))

    tq, oq = load_rows(f"{args.tokens}/embed_train", "q")
    td, od = load_rows(f"{args.tokens}/embed_train", "d")
    vq, ovq = load_rows(f"{args.tokens}/embed_val", "q")
    # The index holds every package's document (train, val and test), as the retrieval benchmark does.
    docs = [load_rows(f"{args.tokens}/embed_{s}", "d") for s in ("train", "val", "test")]
    all_d = np.concatenate([d[0] for d in docs])
    all_o = np.concatenate([docs[0][1]] + [d[1][1:] + sum(len(x[0]) for x in docs[:i]) for i, d in enumerate(docs) if i])
    if args.eval_docs:  # smoke tests: a small index and as many queries
        all_o, ovq = all_o[:args.eval_docs + 1], ovq[:args.eval_docs + 1]
    n_train = len(oq) - 1
    val_truth = torch.arange(n_train, n_train + len(ovq) - 1, device=dev)
    log(f"{n_train} training pairs, {len(ovq) - 1} validation queries, {len(all_o) - 1} documents; device {dev}")

    model = Bert().to(dev)
    log(f"{sum(p.numel() for p in model.parameters()) / 1e6:.2f} M parameters")
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.01, betas=(0.9, 0.98))
    steps_per_epoch = n_train // args.batch
    budget = args.minutes * 60
    t0 = time.time()
    est_total = args.epochs * steps_per_epoch if args.epochs else None  # else estimated after the first epoch
    step, best, best_state, curve = 0, -1.0, None, []
    while True:
        perm = rng.permutation(n_train)
        ep_loss = 0.0
        for b in range(steps_per_epoch):
            rows = perm[b * args.batch:(b + 1) * args.batch]
            xq, mq = pad_batch(tq, oq, rows, POS, dev)
            xd, md = pad_batch(td, od, rows, POS, dev)
            if args.doc_dropout > 0:  # hide tokens from attention and pooling; keep [CLS] and the last token
                keep = torch.rand(md.shape, device=dev) >= args.doc_dropout
                keep[:, 0] = True
                keep[torch.arange(len(rows), device=dev), md.sum(1) - 1] = True
                md = md & keep
            for g in opt.param_groups:
                g["lr"] = cosine_lr(step, est_total or 10 * steps_per_epoch, 100, args.lr)
            with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=dev.type == "cuda"):
                eq, ed = model(xq, mq).float(), model(xd, md).float()
            logits = eq @ ed.T / args.temperature
            labels = torch.arange(len(rows), device=dev)
            loss = (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels)) / 2
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            ep_loss += loss.item()
            step += 1
            if args.max_steps and step >= args.max_steps:
                break
        epoch = step / steps_per_epoch
        if est_total is None:  # the first epoch includes warm-up, so this plan errs short
            est_total = max(steps_per_epoch, int(budget / (time.time() - t0) * step))
            log(f"first epoch took {time.time() - t0:.1f}s: planning {est_total} steps for the {budget:.0f}s budget")
        r = recall(embed_all(model, vq, ovq, dev), embed_all(model, all_d, all_o, dev), val_truth)
        curve.append({"step": step, "epoch": round(epoch, 2), "loss": ep_loss / max(1, b + 1), **r})
        log(f"epoch {epoch:5.1f} step {step:5d} loss {ep_loss / max(1, b + 1):.4f} val " +
            " ".join(f"{k} {v:.3f}" for k, v in r.items()))
        if r["recall@10"] > best:
            best, best_state = r["recall@10"], {k: v.detach().clone() for k, v in model.state_dict().items()}
            log.data["best"] = curve[-1]
        if (args.max_steps and step >= args.max_steps) or step >= est_total or time.time() - t0 > budget:
            break
    model.load_state_dict(best_state)
    log.data["curve"] = curve
    log.data["train_seconds"] = time.time() - t0
    paths = save_safetensors(model.gguf_tensors(), os.path.join(args.out, "weights"),
                             {"trainer": "tools/train/train_embedder.py", "seed": args.seed, "steps": step})
    with open(os.path.join(args.out, "reference.json"), "w") as f:
        json.dump(reference(model, vq, ovq, dev) + reference(model, *docs[1], dev), f)
    log(f"exported {', '.join(paths)}; best validation recall@10 {best:.3f}")
    log.save()


if __name__ == "__main__":
    main()
