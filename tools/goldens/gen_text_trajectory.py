#!/usr/bin/python3
"""Trajectories: 50 SGD steps of fine-tuning the tiny BERT classifier and of GPT-2 language
modelling (the models of gen_text_models.py, from tests/goldens/bert_tiny and gpt2_tiny),
in float64, so nabla's float32 losses can be held to PyTorch's exact ones.

SGD(lr=0.05, momentum=0.9), eval mode (no dropout), batches of 4 sequences of 8 tokens
cycling over 5 fixed batches with padding; BERT: cross-entropy on 3 labels; GPT-2:
next-token cross-entropy, padding ignored (-100).
tests/goldens/text_trajectory.safetensors: bert.ids, bert.mask, bert.labels (5, 4, 8),
bert.losses (50, F64); gpt2.ids, gpt2.mask, gpt2.labels, gpt2.losses.

Run: /usr/bin/python3 tools/goldens/gen_text_trajectory.py (after gen_text_models.py)
"""
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(__file__))
import gen_text_models as tm  # noqa: E402
import stio  # noqa: E402

OUT = os.path.join(tm.ROOT, "text_trajectory.safetensors")
STEPS, NB, B, T = 50, 5, 4, 8


def load(model, d, strip=""):
    st = stio.load(os.path.join(tm.ROOT, d, "model.safetensors"))
    sd = {}
    for k, v in st.items():
        sd[strip + k] = torch.from_numpy(v.copy())
    missing, unexpected = model.load_state_dict(sd, strict=False)
    assert not [m for m in missing if not m.endswith("lm_head.weight")], missing
    return model


def batches(vocab, pad, shift):
    ids = torch.randint(1, vocab - 1, (NB, B, T))
    mask = torch.ones(NB, B, T, dtype=torch.int64)
    for b in range(NB):
        for r in range(B):
            n = int(torch.randint(3, T + 1, ()))
            if shift and r % 2:
                mask[b, r, :T - n] = 0  # left padding
            else:
                mask[b, r, n:] = 0
    ids[mask == 0] = pad
    return ids, mask


def main():
    torch.manual_seed(777)
    out = {}
    bert = load(tm.BertForSequenceClassification(tm.Cfg(tm.BERT)), "bert_tiny").double().eval()
    ids, mask = batches(tm.BERT["vocab_size"], 0, False)
    tt = torch.zeros_like(ids)
    labels = torch.randint(0, 3, (NB, B))
    opt = torch.optim.SGD(bert.parameters(), lr=0.05, momentum=0.9)
    losses = []
    for s in range(STEPS):
        k = s % NB
        opt.zero_grad()
        loss = F.cross_entropy(bert(ids[k], mask[k], tt[k])[2], labels[k])
        loss.backward()
        opt.step()
        losses.append(loss.item())
    out.update({"bert.ids": ids, "bert.mask": mask, "bert.labels": labels,
                "bert.losses": torch.tensor(losses, dtype=torch.float64)})

    gpt = load(tm.GPT2LMHeadModel(tm.Cfg(tm.GPT2)), "gpt2_tiny", "transformer.").double().eval()
    ids, mask = batches(tm.GPT2["vocab_size"], 100, True)
    labels = ids[:, :, 1:].clone()
    labels[mask[:, :, 1:] == 0] = -100
    opt = torch.optim.SGD(gpt.parameters(), lr=0.05, momentum=0.9)
    losses = []
    V = tm.GPT2["vocab_size"]
    for s in range(STEPS):
        k = s % NB
        opt.zero_grad()
        logits = gpt(ids[k], mask[k])[1]
        loss = F.cross_entropy(logits[:, :-1].reshape(-1, V), labels[k].reshape(-1))
        loss.backward()
        opt.step()
        losses.append(loss.item())
    out.update({"gpt2.ids": ids, "gpt2.mask": mask, "gpt2.labels": labels,
                "gpt2.losses": torch.tensor(losses, dtype=torch.float64)})
    stio.save(OUT, out)
    print("wrote", OUT, os.path.getsize(OUT), "bytes")
    print("bert", out["bert.losses"][[0, 9, 49]].tolist(), "gpt2", out["gpt2.losses"][[0, 9, 49]].tolist())


if __name__ == "__main__":
    main()
