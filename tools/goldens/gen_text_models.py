#!/usr/bin/python3
"""Tiny BERT and GPT-2 written after Hugging Face's modeling_bert.py / modeling_gpt2.py
(transformers 4.x, the same module tree, names and arithmetic), random weights, saved as
Hugging Face model directories, with inputs, outputs and gradients for nabla's tests.

tests/goldens/bert_tiny/: config.json (BertForSequenceClassification, 3 labels) and
  model.safetensors with the "bert." prefix and the embeddings.position_ids buffer.
tests/goldens/gpt2_tiny/: config.json (GPT2LMHeadModel) and model.safetensors with
  GPT2Model's names (no "transformer." prefix), the h.N.attn.bias / masked_bias buffers
  and no lm_head.weight (tied to wte).
tests/goldens/text_models.safetensors:
  bert.ids, bert.mask, bert.tt (3, 9); bert.hidden (last_hidden_state), bert.pooled,
  bert.logits; bert.labels, bert.loss (cross-entropy) and "bert.grad.<name>.f64" for every
  parameter; gpt2.ids, gpt2.mask (row 1 left-padded, row 2 right-padded), gpt2.hidden,
  gpt2.logits, gpt2.labels (next tokens, -100 where padded), gpt2.loss, "gpt2.grad.<name>.f64".
Every output, loss and gradient also as "<key>.f64": the same model run in float64 (the
truth both float32 implementations are measured against), stored rounded to float32;
gradients only so; metadata "<key>.torch_err" is
PyTorch float32's own error against it (max |a-b| / max(|b|, 1% of max|b|), as the tests
measure). Eval mode (no dropout). Run: /usr/bin/python3 tools/goldens/gen_text_models.py
"""
import copy
import json
import math
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(__file__))
import stio  # noqa: E402

ROOT = os.path.join(os.path.dirname(__file__), "..", "..", "tests", "goldens")
torch.manual_seed(20160)

# ---------------- BERT ----------------
BERT = dict(architectures=["BertForSequenceClassification"], model_type="bert", vocab_size=99, hidden_size=32,
            num_hidden_layers=2, num_attention_heads=4, intermediate_size=64, max_position_embeddings=16,
            type_vocab_size=2, layer_norm_eps=1e-12, hidden_act="gelu", hidden_dropout_prob=0.1,
            attention_probs_dropout_prob=0.1, pad_token_id=0, initializer_range=0.02,
            position_embedding_type="absolute", id2label={"0": "a", "1": "b", "2": "c"},
            label2id={"a": 0, "b": 1, "c": 2}, use_cache=True, transformers_version="4.30.2")


class Cfg:
    def __init__(self, d):
        self.__dict__.update(d)


class BertEmbeddings(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.word_embeddings = nn.Embedding(c.vocab_size, c.hidden_size, padding_idx=c.pad_token_id)
        self.position_embeddings = nn.Embedding(c.max_position_embeddings, c.hidden_size)
        self.token_type_embeddings = nn.Embedding(c.type_vocab_size, c.hidden_size)
        self.LayerNorm = nn.LayerNorm(c.hidden_size, eps=c.layer_norm_eps)
        self.dropout = nn.Dropout(c.hidden_dropout_prob)
        self.register_buffer("position_ids", torch.arange(c.max_position_embeddings).expand((1, -1)))

    def forward(self, input_ids, token_type_ids):
        T = input_ids.shape[1]
        position_ids = self.position_ids[:, :T]
        embeddings = self.word_embeddings(input_ids) + self.token_type_embeddings(token_type_ids)
        embeddings += self.position_embeddings(position_ids)
        return self.dropout(self.LayerNorm(embeddings))


class BertSelfAttention(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.num_attention_heads = c.num_attention_heads
        self.attention_head_size = c.hidden_size // c.num_attention_heads
        self.all_head_size = c.hidden_size
        self.query = nn.Linear(c.hidden_size, c.hidden_size)
        self.key = nn.Linear(c.hidden_size, c.hidden_size)
        self.value = nn.Linear(c.hidden_size, c.hidden_size)
        self.dropout = nn.Dropout(c.attention_probs_dropout_prob)

    def transpose_for_scores(self, x):
        x = x.view(x.size()[:-1] + (self.num_attention_heads, self.attention_head_size))
        return x.permute(0, 2, 1, 3)

    def forward(self, hidden_states, attention_mask):
        q = self.transpose_for_scores(self.query(hidden_states))
        k = self.transpose_for_scores(self.key(hidden_states))
        v = self.transpose_for_scores(self.value(hidden_states))
        scores = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(self.attention_head_size)
        scores = scores + attention_mask
        probs = self.dropout(F.softmax(scores, dim=-1))
        ctx = torch.matmul(probs, v).permute(0, 2, 1, 3).contiguous()
        return ctx.view(ctx.size()[:-2] + (self.all_head_size,))


class BertSelfOutput(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.dense = nn.Linear(c.hidden_size, c.hidden_size)
        self.LayerNorm = nn.LayerNorm(c.hidden_size, eps=c.layer_norm_eps)
        self.dropout = nn.Dropout(c.hidden_dropout_prob)

    def forward(self, h, input_tensor):
        return self.LayerNorm(self.dropout(self.dense(h)) + input_tensor)


class BertAttention(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.self = BertSelfAttention(c)
        self.output = BertSelfOutput(c)

    def forward(self, h, mask):
        return self.output(self.self(h, mask), h)


class BertIntermediate(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.dense = nn.Linear(c.hidden_size, c.intermediate_size)

    def forward(self, h):
        return F.gelu(self.dense(h))


class BertOutput(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.dense = nn.Linear(c.intermediate_size, c.hidden_size)
        self.LayerNorm = nn.LayerNorm(c.hidden_size, eps=c.layer_norm_eps)
        self.dropout = nn.Dropout(c.hidden_dropout_prob)

    def forward(self, h, input_tensor):
        return self.LayerNorm(self.dropout(self.dense(h)) + input_tensor)


class BertLayer(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.attention = BertAttention(c)
        self.intermediate = BertIntermediate(c)
        self.output = BertOutput(c)

    def forward(self, h, mask):
        a = self.attention(h, mask)
        return self.output(self.intermediate(a), a)


class BertEncoder(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.layer = nn.ModuleList([BertLayer(c) for _ in range(c.num_hidden_layers)])

    def forward(self, h, mask):
        for layer in self.layer:
            h = layer(h, mask)
        return h


class BertPooler(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.dense = nn.Linear(c.hidden_size, c.hidden_size)

    def forward(self, h):
        return torch.tanh(self.dense(h[:, 0]))


class BertModel(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.embeddings = BertEmbeddings(c)
        self.encoder = BertEncoder(c)
        self.pooler = BertPooler(c)

    def forward(self, input_ids, attention_mask, token_type_ids):
        dt = self.embeddings.word_embeddings.weight.dtype
        ext = attention_mask[:, None, None, :].to(dt)
        ext = (1.0 - ext) * torch.finfo(dt).min
        h = self.encoder(self.embeddings(input_ids, token_type_ids), ext)
        return h, self.pooler(h)


class BertForSequenceClassification(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.bert = BertModel(c)
        self.dropout = nn.Dropout(c.hidden_dropout_prob)
        self.classifier = nn.Linear(c.hidden_size, len(c.id2label))

    def forward(self, input_ids, attention_mask, token_type_ids):
        h, pooled = self.bert(input_ids, attention_mask, token_type_ids)
        return h, pooled, self.classifier(self.dropout(pooled))


# ---------------- GPT-2 ----------------
GPT2 = dict(architectures=["GPT2LMHeadModel"], model_type="gpt2", vocab_size=101, n_embd=32, n_layer=2, n_head=4,
            n_inner=None, n_positions=16, n_ctx=16, layer_norm_epsilon=1e-5, activation_function="gelu_new",
            resid_pdrop=0.1, embd_pdrop=0.1, attn_pdrop=0.1, scale_attn_weights=True, initializer_range=0.02,
            bos_token_id=100, eos_token_id=100, use_cache=True, transformers_version="4.30.2")


class Conv1D(nn.Module):
    def __init__(self, nf, nx):
        super().__init__()
        self.nf = nf
        self.weight = nn.Parameter(torch.empty(nx, nf).normal_(std=0.02))
        self.bias = nn.Parameter(torch.zeros(nf))

    def forward(self, x):
        size_out = x.size()[:-1] + (self.nf,)
        return torch.addmm(self.bias, x.view(-1, x.size(-1)), self.weight).view(size_out)


def gelu_new(x):  # NewGELUActivation
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * torch.pow(x, 3.0))))


class GPT2Attention(nn.Module):
    def __init__(self, c, layer_idx=0):
        super().__init__()
        self.layer_idx = layer_idx
        self.scale_by_layer = getattr(c, "scale_attn_by_inverse_layer_idx", False)
        n = c.n_positions
        self.register_buffer("bias", torch.tril(torch.ones((n, n), dtype=torch.bool)).view(1, 1, n, n))
        self.register_buffer("masked_bias", torch.tensor(-1e4))
        self.embed_dim, self.num_heads = c.n_embd, c.n_head
        self.head_dim = c.n_embd // c.n_head
        self.c_attn = Conv1D(3 * c.n_embd, c.n_embd)
        self.c_proj = Conv1D(c.n_embd, c.n_embd)
        self.attn_dropout = nn.Dropout(c.attn_pdrop)
        self.resid_dropout = nn.Dropout(c.resid_pdrop)

    def _split_heads(self, t):
        return t.view(t.size()[:-1] + (self.num_heads, self.head_dim)).permute(0, 2, 1, 3)

    def forward(self, h, attention_mask):
        q, k, v = self.c_attn(h).split(self.embed_dim, dim=2)
        q, k, v = self._split_heads(q), self._split_heads(k), self._split_heads(v)
        w = torch.matmul(q, k.transpose(-1, -2))
        w = w / torch.full([], v.size(-1) ** 0.5, dtype=w.dtype)
        if self.scale_by_layer:
            w = w / float(self.layer_idx + 1)
        ql, kl = q.size(-2), k.size(-2)
        causal = self.bias[:, :, kl - ql:kl, :kl]
        w = torch.where(causal, w.to(w.dtype), torch.full([], torch.finfo(w.dtype).min, dtype=w.dtype))
        w = w + attention_mask
        w = self.attn_dropout(F.softmax(w, dim=-1))
        a = torch.matmul(w, v).permute(0, 2, 1, 3).contiguous()
        a = a.view(a.size()[:-2] + (self.embed_dim,))
        return self.resid_dropout(self.c_proj(a))


class GPT2MLP(nn.Module):
    def __init__(self, inner, c):
        super().__init__()
        self.c_fc = Conv1D(inner, c.n_embd)
        self.c_proj = Conv1D(c.n_embd, inner)
        self.dropout = nn.Dropout(c.resid_pdrop)

    def forward(self, h):
        return self.dropout(self.c_proj(gelu_new(self.c_fc(h))))


class GPT2Block(nn.Module):
    def __init__(self, c, layer_idx=0):
        super().__init__()
        inner = c.n_inner if c.n_inner is not None else 4 * c.n_embd
        self.ln_1 = nn.LayerNorm(c.n_embd, eps=c.layer_norm_epsilon)
        self.attn = GPT2Attention(c, layer_idx)
        self.ln_2 = nn.LayerNorm(c.n_embd, eps=c.layer_norm_epsilon)
        self.mlp = GPT2MLP(inner, c)

    def forward(self, h, mask):
        h = self.attn(self.ln_1(h), mask) + h
        return h + self.mlp(self.ln_2(h))


class GPT2Model(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.wte = nn.Embedding(c.vocab_size, c.n_embd)
        self.wpe = nn.Embedding(c.n_positions, c.n_embd)
        self.drop = nn.Dropout(c.embd_pdrop)
        self.h = nn.ModuleList([GPT2Block(c, i) for i in range(c.n_layer)])
        self.ln_f = nn.LayerNorm(c.n_embd, eps=c.layer_norm_epsilon)

    def forward(self, input_ids, attention_mask):
        T = input_ids.shape[1]
        pos = torch.arange(0, T, dtype=torch.long).unsqueeze(0)
        dt = self.wte.weight.dtype
        mask = attention_mask[:, None, None, :].to(dt)
        mask = (1.0 - mask) * torch.finfo(dt).min
        h = self.drop(self.wte(input_ids) + self.wpe(pos))
        for block in self.h:
            h = block(h, mask)
        return self.ln_f(h)


class GPT2LMHeadModel(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.transformer = GPT2Model(c)
        self.lm_head = nn.Linear(c.n_embd, c.vocab_size, bias=False)
        self.lm_head.weight = self.transformer.wte.weight  # tied

    def forward(self, input_ids, attention_mask):
        h = self.transformer(input_ids, attention_mask)
        return h, self.lm_head(h)


def randomize(model):
    """Weights large enough that every layer matters (HF's 0.02 would make the blocks near-identities)."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "LayerNorm.weight" in name or name.endswith(("ln_1.weight", "ln_2.weight", "ln_f.weight")):
                p.copy_(1 + 0.1 * torch.randn_like(p))
            elif "embeddings" in name or name.endswith(("wte.weight", "wpe.weight")):
                p.normal_(0, 1)
            else:
                p.normal_(0, 0.25)


def save_dir(name, config, state):
    d = os.path.join(ROOT, name)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
        f.write("\n")
    stio.save(os.path.join(d, "model.safetensors"), state)


out, meta = {}, {}


def scaled_err(a, b):
    a, b = a.detach().double(), b.detach().double()
    m = b.abs().max().item()
    return ((a - b).abs() / b.abs().clamp(min=0.01 * m if m > 0 else 1e-30)).max().item()


def with64(f64):
    for k, v in f64.items():
        out[k + ".f64"] = v.detach().float()  # stored rounded to float32
        meta[k + ".torch_err"] = "%.3g" % scaled_err(out[k], v)
        if ".grad." in k:  # gradients are compared with the float64 run only (keeps the file small)
            del out[k]

def gpt2_layer_idx():
    """gpt2_layer_idx/: a 3-layer GPT-2 with scale_attn_by_inverse_layer_idx (layer l's
    scores also divided by l + 1), its own seed; gpt2li.* in text_models.safetensors."""
    torch.manual_seed(20161)
    cfg = dict(GPT2, n_layer=3, scale_attn_by_inverse_layer_idx=True)
    gpt = GPT2LMHeadModel(Cfg(cfg))
    randomize(gpt)
    gpt.eval()
    B, T = 2, 9
    ids = torch.randint(0, cfg["vocab_size"], (B, T))
    mask = torch.ones(B, T, dtype=torch.int64)
    mask[1, 6:] = 0  # right padding
    ids[mask == 0] = 100
    h, logits = gpt(ids, mask)
    out.update({"gpt2li.ids": ids, "gpt2li.mask": mask, "gpt2li.logits": logits})
    h, logits = copy.deepcopy(gpt).double()(ids, mask)
    with64({"gpt2li.logits": logits})
    state = {k[len("transformer."):]: v for k, v in gpt.state_dict().items() if k.startswith("transformer.")}
    save_dir("gpt2_layer_idx", cfg, state)


def main():
    torch.manual_seed(20160)
    bert = BertForSequenceClassification(Cfg(BERT))
    randomize(bert)
    bert.eval()
    B, T = 3, 9
    ids = torch.randint(1, BERT["vocab_size"], (B, T))
    mask = torch.ones(B, T, dtype=torch.int64)
    mask[1, 5:] = 0
    mask[2, 2:] = 0
    ids[mask == 0] = 0
    tt = torch.zeros(B, T, dtype=torch.int64)
    tt[0, 4:] = 1
    tt[1, 3:5] = 1
    h, pooled, logits = bert(ids, mask, tt)
    labels = torch.tensor([2, 0, 1])
    loss = F.cross_entropy(logits, labels)
    loss.backward()
    out.update({"bert.ids": ids, "bert.mask": mask, "bert.tt": tt, "bert.hidden": h, "bert.pooled": pooled,
                "bert.logits": logits, "bert.labels": labels, "bert.loss": loss.reshape(1)})
    for n, p in bert.named_parameters():
        out["bert.grad." + n] = p.grad
    b64 = copy.deepcopy(bert).double()
    h, pooled, logits = b64(ids, mask, tt)
    loss = F.cross_entropy(logits, labels)
    loss.backward()
    f64 = {"bert.hidden": h, "bert.pooled": pooled, "bert.logits": logits, "bert.loss": loss.reshape(1)}
    f64.update({"bert.grad." + n: p.grad for n, p in b64.named_parameters()})
    with64(f64)
    save_dir("bert_tiny", BERT, dict(bert.state_dict()))

    gpt = GPT2LMHeadModel(Cfg(GPT2))
    randomize(gpt)
    gpt.eval()
    ids = torch.randint(0, GPT2["vocab_size"], (B, T))
    mask = torch.ones(B, T, dtype=torch.int64)
    mask[1, :3] = 0  # left padding
    mask[2, 6:] = 0  # right padding
    ids[mask == 0] = 100
    h, logits = gpt(ids, mask)
    labels = ids[:, 1:].clone()
    labels[mask[:, 1:] == 0] = -100
    loss = F.cross_entropy(logits[:, :-1].reshape(-1, GPT2["vocab_size"]), labels.reshape(-1))
    loss.backward()
    out.update({"gpt2.ids": ids, "gpt2.mask": mask, "gpt2.hidden": h, "gpt2.logits": logits, "gpt2.labels": labels,
                "gpt2.loss": loss.reshape(1)})
    for n, p in gpt.transformer.named_parameters():
        out["gpt2.grad." + n] = p.grad
    g64 = copy.deepcopy(gpt).double()
    h, logits = g64(ids, mask)
    loss = F.cross_entropy(logits[:, :-1].reshape(-1, GPT2["vocab_size"]), labels.reshape(-1))
    loss.backward()
    f64 = {"gpt2.hidden": h, "gpt2.logits": logits, "gpt2.loss": loss.reshape(1)}
    f64.update({"gpt2.grad." + n: p.grad for n, p in g64.transformer.named_parameters()})
    with64(f64)
    state = {k[len("transformer."):]: v for k, v in gpt.state_dict().items() if k.startswith("transformer.")}
    save_dir("gpt2_tiny", GPT2, state)

    gpt2_layer_idx()
    stio.save(os.path.join(ROOT, "text_models.safetensors"), {k: v.detach() for k, v in out.items()}, meta)
    for k in sorted(meta):
        print(k, meta[k])
    for f in ("bert_tiny/model.safetensors", "gpt2_tiny/model.safetensors", "text_models.safetensors"):
        print("wrote", f, os.path.getsize(os.path.join(ROOT, f)), "bytes")


if __name__ == "__main__":
    main()
