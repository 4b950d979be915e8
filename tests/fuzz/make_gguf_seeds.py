#!/usr/bin/env python3
"""Writes the GGUF fuzz target's seed corpus (tests/fuzz/corpus/gguf/): a few kilobytes each, so that libFuzzer's
mutations reach every part of the file (header, metadata, tensor table, data). Plain struct packing, GGUF v3.
  python3 tests/fuzz/make_gguf_seeds.py tests/fuzz/corpus/gguf
Seeds: a 1-layer llama decoder (F32 matrices with a chat template, F16 without), and a vocabulary alone.
regression-spm-no-byte-tokens.gguf (committed beside them) is the first crash: an SPM vocabulary without byte tokens."""
import random
import struct
import sys
from pathlib import Path

T_U32, T_F32, T_BOOL, T_STRING, T_ARRAY, T_I32 = 4, 6, 7, 8, 9, 5
GGML_F32, GGML_F16 = 0, 1
ALIGN = 32


def s(x: str) -> bytes:
    b = x.encode()
    return struct.pack("<Q", len(b)) + b


def kv(key, typ, val) -> bytes:
    out = s(key) + struct.pack("<I", typ)
    if typ == T_STRING:
        return out + s(val)
    if typ == T_U32:
        return out + struct.pack("<I", val)
    if typ == T_I32:
        return out + struct.pack("<i", val)
    if typ == T_F32:
        return out + struct.pack("<f", val)
    if typ == T_BOOL:
        return out + struct.pack("<?", val)
    elem, items = val
    out += struct.pack("<IQ", elem, len(items))
    for it in items:
        out += s(it) if elem == T_STRING else struct.pack({T_F32: "<f", T_I32: "<i"}[elem], it)
    return out


def vocab():
    # SentencePiece as llama.cpp needs it: the byte tokens <0x00>..<0xFF> (type 6) spell what has no token.
    tokens = ["<unk>", "<s>", "</s>"] + [f"<0x{b:02X}>" for b in range(256)] + \
             ["\u2581the", "\u2581quick", "\u2581brown", "\u2581fox", "\u2581a", "e", "s", ":", "1", "2", ".", "\u2581"]
    types = [2, 3, 3] + [6] * 256 + [1] * (len(tokens) - 259)
    return [kv("tokenizer.ggml.model", T_STRING, "llama"),
            kv("tokenizer.ggml.tokens", T_ARRAY, (T_STRING, tokens)),
            kv("tokenizer.ggml.scores", T_ARRAY, (T_F32, [-float(i) for i in range(len(tokens))])),
            kv("tokenizer.ggml.token_type", T_ARRAY, (T_I32, types)),
            kv("tokenizer.ggml.bos_token_id", T_U32, 1),
            kv("tokenizer.ggml.eos_token_id", T_U32, 2),
            kv("tokenizer.ggml.unknown_token_id", T_U32, 0)], len(tokens)


def gguf(kvs, tensors) -> bytes:
    """tensors: (name, dims (ne0 first), ggml type, values)"""
    head = b"GGUF" + struct.pack("<IQQ", 3, len(tensors), len(kvs)) + b"".join(kvs)
    infos, data = b"", b""
    for name, dims, typ, vals in tensors:
        infos += s(name) + struct.pack("<I", len(dims)) + b"".join(struct.pack("<Q", d) for d in dims)
        infos += struct.pack("<IQ", typ, len(data))
        blob = struct.pack(f"<{len(vals)}{'f' if typ == GGML_F32 else 'e'}", *vals)
        data += blob + b"\0" * (-len(blob) % ALIGN)
    out = head + infos
    return out + b"\0" * (-len(out) % ALIGN) + data


def decoder(f16: bool, template: bool) -> bytes:
    rng = random.Random(7)
    vkvs, n_vocab = vocab()
    n_embd, n_ff, n_head = 8, 16, 2
    kvs = [kv("general.architecture", T_STRING, "llama"), kv("general.name", T_STRING, "fuzz-seed-llama"),
           kv("llama.context_length", T_U32, 32), kv("llama.embedding_length", T_U32, n_embd),
           kv("llama.block_count", T_U32, 1), kv("llama.feed_forward_length", T_U32, n_ff),
           kv("llama.attention.head_count", T_U32, n_head), kv("llama.attention.head_count_kv", T_U32, n_head),
           kv("llama.rope.dimension_count", T_U32, n_embd // n_head),
           kv("llama.attention.layer_norm_rms_epsilon", T_F32, 1e-5)] + vkvs
    if template:
        kvs.append(kv("tokenizer.chat_template", T_STRING,
                      "{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}"))
    mat = GGML_F16 if f16 else GGML_F32
    w = lambda n: [round(rng.uniform(-0.1, 0.1), 3) for _ in range(n)]
    ones = lambda n: [1.0] * n
    tensors = [("token_embd.weight", [n_embd, n_vocab], mat, w(n_embd * n_vocab)),
               ("output_norm.weight", [n_embd], GGML_F32, ones(n_embd)),
               ("blk.0.attn_norm.weight", [n_embd], GGML_F32, ones(n_embd))]
    for t in ("attn_q", "attn_k", "attn_v", "attn_output"):
        tensors.append((f"blk.0.{t}.weight", [n_embd, n_embd], mat, w(n_embd * n_embd)))
    tensors += [("blk.0.ffn_norm.weight", [n_embd], GGML_F32, ones(n_embd)),
                ("blk.0.ffn_gate.weight", [n_embd, n_ff], mat, w(n_embd * n_ff)),
                ("blk.0.ffn_up.weight", [n_embd, n_ff], mat, w(n_embd * n_ff)),
                ("blk.0.ffn_down.weight", [n_ff, n_embd], mat, w(n_ff * n_embd))]
    return gguf(kvs, tensors)


def vocab_only() -> bytes:
    vkvs, _ = vocab()
    return gguf([kv("general.architecture", T_STRING, "llama"), kv("general.name", T_STRING, "fuzz-seed-vocab")] + vkvs, [])


if __name__ == "__main__":
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "tests/fuzz/corpus/gguf")
    out.mkdir(parents=True, exist_ok=True)
    (out / "llama-f32.gguf").write_bytes(decoder(f16=False, template=True))
    (out / "llama-f16.gguf").write_bytes(decoder(f16=True, template=False))
    (out / "vocab-only.gguf").write_bytes(vocab_only())
