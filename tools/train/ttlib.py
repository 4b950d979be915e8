"""Shared pieces of the trainers: token files, safetensors export, GGUF weights as a starting point, timing, logging.

Token files come from `ut models tokenize` (llama.cpp's own tokenizer): PREFIX.FIELD.u16 holds uint16 ids,
PREFIX.FIELD.off int64 row offsets (n + 1). Exports use the GGUF tensor names, so `ut models import` maps
them one to one; matrices go out in F16 (as the GGUF stores them), norms and biases in F32.
"""
import json
import os
import struct
import time

import numpy as np
import torch


def load_rows(prefix, field):
    ids = np.fromfile(f"{prefix}.{field}.u16", dtype=np.uint16)
    off = np.fromfile(f"{prefix}.{field}.off", dtype=np.int64)
    assert off[-1] == len(ids), f"{prefix}.{field}: offsets do not match the ids"
    return ids, off


# GGUF metadata value types (ggml's gguf.h): fixed-size scalars by struct format, 8 = string, 9 = array.
_GGUF_SCALARS = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q", 12: "d"}


def read_gguf_tensors(path):
    """{name: float32 numpy array} of a GGUF file's F32/F16 tensors, shaped as PyTorch holds them ([rows, cols]:
    GGUF lists dimensions innermost first). The format is small enough to read here (header, metadata, tensor
    infos, aligned data), which keeps the trainers free of ggml's Python package."""
    with open(path, "rb") as f:
        data = f.read()
    pos = 0

    def take(fmt):
        nonlocal pos
        v = struct.unpack_from("<" + fmt, data, pos)
        pos += struct.calcsize("<" + fmt)
        return v[0]

    def string():
        nonlocal pos
        n = take("Q")
        pos += n
        return data[pos - n:pos].decode("utf-8", errors="replace")

    def value(t):
        if t in _GGUF_SCALARS:
            return take(_GGUF_SCALARS[t])
        if t == 8:
            return string()
        if t == 9:
            et, n = take("I"), take("Q")
            return [value(et) for _ in range(n)]
        raise ValueError(f"{path}: unknown GGUF value type {t}")

    if data[:4] != b"GGUF":
        raise ValueError(f"{path}: not a GGUF file")
    pos = 4
    version, n_tensors, n_kv = take("I"), take("Q"), take("Q")
    if version < 2:
        raise ValueError(f"{path}: GGUF version {version} is too old")
    meta = {}
    for _ in range(n_kv):
        key = string()
        meta[key] = value(take("I"))
    infos = []
    for _ in range(n_tensors):
        name, nd = string(), take("I")
        dims = [take("Q") for _ in range(nd)]
        infos.append((name, dims, take("I"), take("Q")))
    align = int(meta.get("general.alignment", 32))
    start = (pos + align - 1) // align * align
    out = {}
    for name, dims, ggml_type, offset in infos:
        if ggml_type not in (0, 1):
            raise ValueError(f"{path}: tensor {name} is not F32 or F16 (ggml type {ggml_type})")
        dtype = np.float32 if ggml_type == 0 else np.float16
        count = int(np.prod(dims))
        a = np.frombuffer(data, dtype=dtype, count=count, offset=start + offset)
        out[name] = a.reshape(list(reversed(dims))).astype(np.float32)
    return out


def pad_batch(ids, off, rows, max_len, device):
    """Rows as a right-padded [B, T] int64 tensor (pad 0) and a bool mask of real tokens."""
    lens = np.minimum(off[rows + 1] - off[rows], max_len)
    T = int(lens.max())
    out = np.zeros((len(rows), T), dtype=np.int64)
    for i, (r, n) in enumerate(zip(rows, lens)):
        out[i, :n] = ids[off[r]:off[r] + n]
    x = torch.from_numpy(out).to(device, non_blocking=True)
    mask = torch.arange(T, device=device)[None, :] < torch.from_numpy(lens).to(device)[:, None]
    return x, mask


def save_safetensors(tensors, path_prefix, metadata, shard_bytes=15 * 1024 * 1024):
    """Writes {gguf_name: tensor} as one or more safetensors files (each under shard_bytes); returns the paths."""
    items = []
    for name, t in tensors.items():
        t = t.detach().float().cpu()
        t = t.half() if t.dim() >= 2 else t
        items.append((name, t.contiguous()))
    shards, cur, size = [], [], 0
    for name, t in items:
        nbytes = t.numel() * t.element_size()
        if cur and size + nbytes > shard_bytes:
            shards.append(cur)
            cur, size = [], 0
        cur.append((name, t))
        size += nbytes
    if cur:
        shards.append(cur)
    paths = []
    os.makedirs(os.path.dirname(path_prefix) or ".", exist_ok=True)
    for k, shard in enumerate(shards):
        header, offset = {"__metadata__": {k2: str(v) for k2, v in metadata.items()}}, 0
        for name, t in shard:
            n = t.numel() * t.element_size()
            header[name] = {"dtype": "F16" if t.dtype == torch.float16 else "F32", "shape": list(t.shape),
                            "data_offsets": [offset, offset + n]}
            offset += n
        blob = json.dumps(header).encode()
        blob += b" " * ((8 - len(blob) % 8) % 8)
        path = f"{path_prefix}-{k + 1:02d}.safetensors"
        with open(path, "wb") as f:
            f.write(struct.pack("<Q", len(blob)))
            f.write(blob)
            for _, t in shard:
                f.write(t.numpy().tobytes())
        paths.append(path)
    return paths


class Log:
    """Prints progress lines and keeps them, with the metrics, for the model card's JSON."""

    def __init__(self, path):
        self.path, self.t0, self.lines, self.data = path, time.time(), [], {}

    def __call__(self, msg):
        line = f"[{time.time() - self.t0:7.1f}s] {msg}"
        print(line, flush=True)
        self.lines.append(line)

    def save(self):
        os.makedirs(os.path.dirname(self.path) or ".", exist_ok=True)
        with open(self.path, "w") as f:
            json.dump({**self.data, "log": self.lines}, f, indent=1)


def start(args, arch):
    """Seeds, picks the device, opens the log with the settings: the first lines of every trainer."""
    torch.manual_seed(args.seed)
    dev = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    torch.backends.cuda.matmul.allow_tf32 = True
    log = Log(os.path.join(args.out, "train-log.json"))
    log.data["settings"] = {**vars(args), "arch": arch, **device_info()}
    return np.random.default_rng(args.seed), dev, log


def cosine_lr(step, total, warmup, peak):
    if step < warmup:
        return peak * (step + 1) / warmup
    p = min(1.0, (step - warmup) / max(1, total - warmup))
    return peak * (0.1 + 0.9 * 0.5 * (1 + np.cos(np.pi * p)))


def device_info():
    if torch.cuda.is_available():
        return {"device": torch.cuda.get_device_name(0), "torch": torch.__version__, "cuda": torch.version.cuda}
    return {"device": "cpu", "torch": torch.__version__}


def sdpa(q, k, v, mask=None, causal=False):
    """Attention on [B, H, T, D]; flash/efficient kernels where PyTorch has them (2.x), plain math otherwise."""
    if hasattr(torch.nn.functional, "scaled_dot_product_attention"):
        return torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=causal)
    s = q @ k.transpose(-1, -2) / q.shape[-1] ** 0.5
    if causal:
        T = q.shape[-2]
        s = s.masked_fill(torch.ones(T, T, dtype=torch.bool, device=q.device).triu(1), float("-inf"))
    if mask is not None:
        s = s.masked_fill(~mask, float("-inf"))
    return s.softmax(-1) @ v
