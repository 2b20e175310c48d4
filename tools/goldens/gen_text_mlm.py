#!/usr/bin/python3
"""BertForMaskedLM golden: the tiny BERT of tests/goldens/bert_tiny with a masked-LM head
written after Hugging Face's BertOnlyMLMHead (transform: dense, GELU, LayerNorm; decoder
tied to the word embeddings, with its own bias), random head weights.

tests/goldens/text_mlm.safetensors: the head ("cls.predictions.bias",
"cls.predictions.transform.dense.weight", ...), the inputs of text_models.safetensors
(bert.ids, bert.mask, bert.tt), "mlm.labels" (-100 but at 5 masked positions),
"mlm.logits" and "mlm.loss" (float32 run), and "mlm.grad.<name>.f64" for every parameter
from the float64 run. Eval mode.
Run: /usr/bin/python3 tools/goldens/gen_text_mlm.py (after gen_text_models.py)
"""
import copy
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(__file__))
import gen_text_models as tm  # noqa: E402
import stio  # noqa: E402


class BertForMaskedLM(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.bert = tm.BertModel(c)
        self.cls = nn.Module()
        self.cls.predictions = nn.Module()
        p = self.cls.predictions
        p.transform = nn.Module()
        p.transform.dense = nn.Linear(c.hidden_size, c.hidden_size)
        p.transform.LayerNorm = nn.LayerNorm(c.hidden_size, eps=c.layer_norm_eps)
        p.bias = nn.Parameter(torch.zeros(c.vocab_size))

    def forward(self, ids, mask, tt):
        h, _ = self.bert(ids, mask, tt)
        t = self.cls.predictions.transform
        x = t.LayerNorm(F.gelu(t.dense(h)))
        return F.linear(x, self.bert.embeddings.word_embeddings.weight) + self.cls.predictions.bias


def main():
    torch.manual_seed(4242)
    m = BertForMaskedLM(tm.Cfg(tm.BERT))
    st = stio.load(os.path.join(tm.ROOT, "bert_tiny", "model.safetensors"))
    sd = {k: torch.from_numpy(v.copy()) for k, v in st.items() if k.startswith("bert.")}
    missing, _ = m.load_state_dict(sd, strict=False)
    assert all(k.startswith("cls.") or k.startswith("bert.pooler") for k in missing), missing
    with torch.no_grad():
        for n, p in m.named_parameters():
            if n.startswith("cls."):
                p.copy_(1 + 0.1 * torch.randn_like(p) if n.endswith("LayerNorm.weight") else 0.25 * torch.randn_like(p))
    m.eval()
    g = stio.load(os.path.join(tm.ROOT, "text_models.safetensors"))
    ids, mask, tt = (torch.from_numpy(g[k].copy()) for k in ("bert.ids", "bert.mask", "bert.tt"))
    labels = torch.full_like(ids, -100)
    for b, t in ((0, 1), (0, 6), (1, 2), (1, 4), (2, 1)):
        labels[b, t] = ids[b, t]
    out = {n: p.detach() for n, p in m.named_parameters() if n.startswith("cls.")}
    logits = m(ids, mask, tt)
    V = tm.BERT["vocab_size"]
    loss = F.cross_entropy(logits.reshape(-1, V), labels.reshape(-1))
    out.update({"mlm.labels": labels, "mlm.logits": logits.detach(), "mlm.loss": loss.detach().reshape(1)})
    m64 = copy.deepcopy(m).double()
    loss64 = F.cross_entropy(m64(ids, mask, tt).reshape(-1, V), labels.reshape(-1))
    loss64.backward()
    for n, p in m64.named_parameters():
        if p.grad is not None:
            out["mlm.grad." + n + ".f64"] = p.grad.float()
    path = os.path.join(tm.ROOT, "text_mlm.safetensors")
    stio.save(path, out)
    print("wrote", path, os.path.getsize(path), "bytes; loss", loss.item())


if __name__ == "__main__":
    main()
