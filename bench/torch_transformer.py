#!/usr/bin/python3
"""PyTorch's side of the transformer speed comparison (issue 16): the models of
tools/goldens/gen_text_models.py (written after Hugging Face's modelling code) at the
sizes and steps of bench/transformer.c: BERT-Tiny classifier (2 x 128, 2 heads, 512,
vocab 30522), batches of 32 x 128, AdamW; GPT-2 6 x 256 (4 heads, 1024, vocab 50257),
batches of 8 x 128; batch-1 latency of 128 tokens; GPT-2 greedy generation of 64 tokens
after 16: the whole context each step, and with a key/value cache as Hugging Face's
generate() keeps one (past_key_values: each step's keys and values concatenated to the
past ones); both give the same tokens. Best of the timed steps, in wall time and in the process's
CPU time (*_cpu_*: on 1 thread, what a quiet machine's wall time would be).
  /usr/bin/python3 bench/torch_transformer.py [THREADS] [STEPS]
"""
import math
import os
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tools", "goldens"))
import gen_text_models as tm  # noqa: E402


def best_of(fn, steps):
    """Best wall time and best process CPU time (all threads) of the timed repetitions."""
    best = cbest = 1e30
    for s in range(steps + 2):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        dt, dc = time.perf_counter() - t0, time.process_time() - c0
        if s >= 2:
            best, cbest = min(best, dt), min(cbest, dc)
    return best, cbest


def generate_cached(model, seq, n):
    """Greedy generation with GPT2Attention's layer_past logic (torch.cat of past keys/values)."""
    tr = model.transformer
    past = [None] * len(tr.h)
    ids, pos0, out = seq, 0, []
    for _ in range(n):
        T = ids.shape[1]
        h = tr.wte(ids) + tr.wpe(torch.arange(pos0, pos0 + T).unsqueeze(0))
        for i, blk in enumerate(tr.h):
            a = blk.attn
            q, k, v = a.c_attn(blk.ln_1(h)).split(a.embed_dim, dim=2)
            q, k, v = a._split_heads(q), a._split_heads(k), a._split_heads(v)
            if past[i] is not None:
                k, v = torch.cat([past[i][0], k], -2), torch.cat([past[i][1], v], -2)
            past[i] = (k, v)
            w = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(v.size(-1))
            ql, kl = q.size(-2), k.size(-2)
            w = torch.where(a.bias[:, :, kl - ql:kl, :kl], w, torch.full([], torch.finfo(w.dtype).min))
            o = torch.matmul(F.softmax(w, dim=-1), v).permute(0, 2, 1, 3).reshape(1, T, a.embed_dim)
            h = h + a.c_proj(o)
            h = h + blk.mlp(blk.ln_2(h))
        logits = model.lm_head(tr.ln_f(h[:, -1:]))
        ids = logits[:, -1].argmax(-1, keepdim=True)
        out.append(ids)
        pos0 += T
    return torch.cat([seq] + out, 1)


def run(name, model, B, T, V, steps, lm):
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    ids = torch.randint(0, V, (B, T))
    mask = torch.ones(B, T, dtype=torch.int64)
    labels = torch.randint(0, V if lm else 2, (B, T) if lm else (B,))
    model.train()

    def step():
        opt.zero_grad()
        if lm:
            loss = F.cross_entropy(model(ids, mask)[1].reshape(-1, V), labels.reshape(-1))
        else:
            loss = F.cross_entropy(model(ids, mask, torch.zeros_like(ids))[2], labels)
        loss.backward()
        opt.step()

    t, c = best_of(step, steps)
    line = "torch %s threads=%d train_tokens_per_s=%.0f train_tokens_per_cpu_s=%.0f" % (
        name, torch.get_num_threads(), B * T / t, B * T / c)
    model.eval()
    one = torch.randint(0, V, (1, 128))
    m1 = torch.ones(1, 128, dtype=torch.int64)
    with torch.no_grad():
        t, c = best_of(lambda: model(one, m1) if lm else model(one, m1, torch.zeros_like(one)), steps)
        line += " latency_128_ms=%.2f latency_128_cpu_ms=%.2f" % (t * 1e3, c * 1e3)
        if lm:
            prompt = torch.randint(0, V, (1, 16))
            seq = prompt
            t0 = time.perf_counter()
            for _ in range(64):
                logits = model(seq, torch.ones_like(seq))[1]
                seq = torch.cat([seq, logits[:, -1].argmax(-1, keepdim=True)], 1)
            line += " generate_tokens_per_s=%.1f" % (64 / (time.perf_counter() - t0))
            t0, c0 = time.perf_counter(), time.process_time()
            cached = generate_cached(model, prompt, 64)
            line += " generate_cached_tokens_per_s=%.1f generate_cached_tokens_per_cpu_s=%.1f" % (
                64 / (time.perf_counter() - t0), 64 / (time.process_time() - c0))
            if not torch.equal(cached, seq):
                line += " (cached tokens differ!)"
    print(line, flush=True)


def main():
    threads = int(sys.argv[1]) if len(sys.argv) > 1 else 1
    steps = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    torch.set_num_threads(threads)
    torch.manual_seed(1)
    bert = dict(tm.BERT, vocab_size=30522, hidden_size=128, num_hidden_layers=2, num_attention_heads=2,
                intermediate_size=512, max_position_embeddings=512, id2label={"0": "a", "1": "b"})
    run("bert_tiny", tm.BertForSequenceClassification(tm.Cfg(bert)), 32, 128, 30522, steps, False)
    gpt = dict(tm.GPT2, vocab_size=50257, n_embd=256, n_layer=6, n_head=4, n_positions=1024)
    run("gpt2_6x256", tm.GPT2LMHeadModel(tm.Cfg(gpt)), 8, 128, 50257, steps, True)


if __name__ == "__main__":
    main()
