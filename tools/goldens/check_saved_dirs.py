#!/usr/bin/python3
"""Check that model directories nabla saved (nb_text_model_save_dir, `nabla train --save`)
load into the PyTorch module trees of gen_text_models.py / gen_text_mlm.py (written after
Hugging Face's modelling code) with no missing and no unexpected tensor (buffers and the
tied lm_head.weight aside), using their config.json. Not run by CI (it needs PyTorch).
  /usr/bin/python3 tools/goldens/check_saved_dirs.py DIR...
"""
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(__file__))
import gen_text_mlm as gm  # noqa: E402
import gen_text_models as tm  # noqa: E402
import stio  # noqa: E402

CLASSES = {"BertForSequenceClassification": tm.BertForSequenceClassification, "BertModel": tm.BertModel,
           "GPT2LMHeadModel": tm.GPT2LMHeadModel, "GPT2Model": tm.GPT2Model, "BertForMaskedLM": gm.BertForMaskedLM}
bad = 0
for d in sys.argv[1:]:
    cfg = json.load(open(os.path.join(d, "config.json")))
    if cfg["model_type"] == "bert":
        cfg.setdefault("id2label", {str(i): str(i) for i in range(cfg.get("num_labels", 2))})
    cfg.setdefault("n_inner", None)
    m = CLASSES[cfg["architectures"][0]](tm.Cfg(cfg))
    st = {k: torch.from_numpy(v.copy()) for k, v in stio.load(os.path.join(d, "model.safetensors")).items()}
    missing, unexpected = m.load_state_dict(st, strict=False)
    missing = [k for k in missing if not k.endswith(("position_ids", "attn.bias", "masked_bias", "lm_head.weight"))]
    print(d, cfg["architectures"][0], "missing:", missing, "unexpected:", unexpected)
    bad += bool(missing or unexpected)
sys.exit(1 if bad else 0)
