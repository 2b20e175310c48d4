#!/usr/bin/python3
"""Goldens for initialization, optimizers, gradient clipping and lr schedules.

Run: /usr/bin/python3 tools/goldens/gen_optim.py   (Debian's PyTorch 1.13)

tests/goldens/optim_steps.safetensors - optimizer trajectories
  Shared: "p.J" the initial value of parameter J (J = 0..3, shapes below) and
  "g.S.J" its gradient at step S (S = 0..STEPS-1); a step where parameter J has no
  gradient (p.grad = None) has no "g.S.J". Parameter 3 never has a gradient.
  Case K: __metadata__ "caseK" = space-separated key=value pairs:
    opt=sgd|adam|adamw lr momentum dampening nesterov weight_decay maximize
    beta1 beta2 eps amsgrad (Adam/AdamW; betas always written),
    group1=J,J,... lr1=... wd1=...  (a second parameter group; others in group 0)
    sched=step step_size gamma | sched=onecycle total_steps three_phase linear
    (a scheduler stepped after every optimizer step, lr applied before each step)
  Tensors "K.traj.J" (STEPS, *shape): parameter J after each step, and
  "K.state.I.NAME" torch's optimizer.state_dict()['state'] after the last step
  (I numbered as torch does, NAME momentum_buffer / exp_avg / exp_avg_sq /
  max_exp_avg_sq / step).
  Values of hyperparameters are written with repr(), so C's strtod gives the same
  double as Python.

tests/goldens/optim_clip.safetensors - clip_grad_norm_ / clip_grad_value_
  "clip.g.J" gradients of 3 parameters (parameter 1 has none); case K metadata
  "clipK" = "fn=norm max_norm=... norm_type=2|inf|1|3" or "fn=value clip_value=...";
  "K.total" (F32 []) the returned norm, "K.g.J" the gradients after.

tests/goldens/optim_sched.safetensors - lr schedules
  case K metadata "schedK" = "kind=... <options> warmup=W start_factor=f"; "K.lr"
  (F64, T x 2): the lr of two groups (base 0.1 and 0.02) before each of T = 30
  scheduler steps; "K.momentum" (F64, T) for OneCycleLR.

tests/goldens/optim_init.safetensors - torch.nn.init constants
  "gain" (F64, N): calculate_gain for metadata "gainK" = "nl=... param=..."
  (param=None means no argument); "init" (F64, M): the bound (uniform) or std
  (normal) torch passes to uniform_/normal_, for metadata
  "initK" = "fn=kaiming_uniform shape=a,b,... a=... mode=fan_in nl=leaky_relu gain=..."
  captured by wrapping Tensor.uniform_ / Tensor.normal_ while torch.nn.init runs.
"""
import math
import os
import sys
import warnings

import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(__file__))
import stio  # noqa: E402

OUT = os.path.join(os.path.dirname(__file__), "..", "..", "tests", "goldens")
torch.manual_seed(20240613)
torch.set_num_threads(1)
warnings.filterwarnings("ignore")

STEPS = 10
SHAPES = [(5, 7), (13,), (2, 3, 4), (3,)]
NO_GRAD = {(3, 2), (6, 2)}  # (step, param) with p.grad = None; param 3 never has one


def kv(d):
    return " ".join("%s=%s" % (k, repr(v) if isinstance(v, float) else v) for k, v in d.items())


def save_cases(name, tensors, meta, cases, steps=None):
    """tests/goldens/NAME.safetensors, the case count (and steps) in its metadata."""
    meta["cases"] = str(len(cases))
    if steps is not None:
        meta["steps"] = str(steps)
    path = os.path.join(OUT, name + ".safetensors")
    stio.save(path, tensors, meta)
    print(path, len(cases), "cases", os.path.getsize(path), "bytes")


# ---------------------------------------------------------------- optimizer steps
def optim_steps():
    init = [torch.randn(*s) for s in SHAPES]
    grads = []
    for s in range(STEPS):
        row = []
        for j, shape in enumerate(SHAPES):
            if j == 3 or (s, j) in NO_GRAD:
                row.append(None)
            elif (s, j) == (4, 1):
                row.append(torch.zeros(*shape))  # zeroed, not None: still a step
            else:
                row.append(torch.randn(*shape) * (0.5 + s * 0.1))
        grads.append(row)
    tensors = {"p.%d" % j: init[j] for j in range(len(SHAPES))}
    for s in range(STEPS):
        for j in range(len(SHAPES)):
            if grads[s][j] is not None:
                tensors["g.%d.%d" % (s, j)] = grads[s][j]
    meta = {}

    cases = [
        dict(opt="sgd", lr=0.1),
        dict(opt="sgd", lr=0.05, momentum=0.9),
        dict(opt="sgd", lr=0.05, momentum=0.9, dampening=0.3),
        dict(opt="sgd", lr=0.05, momentum=0.9, nesterov=1),
        dict(opt="sgd", lr=0.05, weight_decay=0.01),
        dict(opt="sgd", lr=0.05, momentum=0.9, weight_decay=5e-4, nesterov=1),
        dict(opt="sgd", lr=0.02, momentum=0.8, maximize=1),
        dict(opt="adam", lr=0.01),
        dict(opt="adam", lr=0.01, weight_decay=0.1),
        dict(opt="adam", lr=0.01, amsgrad=1),
        dict(opt="adam", lr=0.003, beta1=0.5, beta2=0.99, eps=1e-6),
        dict(opt="adam", lr=0.01, beta1=0.0, beta2=0.99),
        dict(opt="adam", lr=0.01, maximize=1, amsgrad=1, weight_decay=0.01),
        dict(opt="adamw", lr=0.01),
        dict(opt="adamw", lr=0.01, weight_decay=0.1, amsgrad=1),
        dict(opt="adam", lr=1e-3),
        dict(opt="sgd", lr=0.1, momentum=0.9, weight_decay=0.01, group1="1,2", lr1=0.01, wd1=0.0),
        dict(opt="adam", lr=0.01, group1="0", lr1=0.003, wd1=0.05),
        dict(opt="adamw", lr=0.01, weight_decay=0.05, group1="1", wd1=0.0),
        dict(opt="sgd", lr=0.1, momentum=0.9, sched="step", step_size=3, gamma=0.5),
        dict(opt="sgd", lr=0.1, momentum=0.9, sched="onecycle", total_steps=STEPS, three_phase=0, linear=0),
        dict(opt="adam", lr=0.01, sched="onecycle", total_steps=STEPS, three_phase=1, linear=1),
    ]
    for k, c in enumerate(cases):
        params = [p.clone().requires_grad_(True) for p in init]
        g1 = [int(x) for x in c["group1"].split(",")] if "group1" in c else []
        groups = [{"params": [params[j] for j in range(len(params)) if j not in g1]}]
        if g1:
            g = {"params": [params[j] for j in g1]}
            if "lr1" in c:
                g["lr"] = c["lr1"]
            if "wd1" in c:
                g["weight_decay"] = c["wd1"]
            groups.append(g)
        if c["opt"] == "sgd":
            opt = torch.optim.SGD(groups, lr=c["lr"], momentum=c.get("momentum", 0.0),
                                  dampening=c.get("dampening", 0.0), weight_decay=c.get("weight_decay", 0.0),
                                  nesterov=bool(c.get("nesterov", 0)), maximize=bool(c.get("maximize", 0)),
                                  foreach=False)
        else:
            cls = torch.optim.Adam if c["opt"] == "adam" else torch.optim.AdamW
            c.setdefault("beta1", 0.9)
            c.setdefault("beta2", 0.999)
            wd = c.get("weight_decay", 0.0 if c["opt"] == "adam" else 1e-2)
            opt = cls(groups, lr=c["lr"], betas=(c["beta1"], c["beta2"]), eps=c.get("eps", 1e-8),
                      weight_decay=wd, amsgrad=bool(c.get("amsgrad", 0)), maximize=bool(c.get("maximize", 0)),
                      foreach=False)
        sched = None
        if c.get("sched") == "step":
            sched = torch.optim.lr_scheduler.StepLR(opt, step_size=c["step_size"], gamma=c["gamma"])
        elif c.get("sched") == "onecycle":
            sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=c["lr"], total_steps=c["total_steps"],
                                                        three_phase=bool(c["three_phase"]),
                                                        anneal_strategy="linear" if c["linear"] else "cos")
        traj = [[] for _ in params]
        for s in range(STEPS):
            for j, p in enumerate(params):
                p.grad = None if grads[s][j] is None else grads[s][j].clone()
            opt.step()
            if sched:
                sched.step()
            for j, p in enumerate(params):
                traj[j].append(p.detach().clone())
        for j in range(len(params)):
            tensors["%d.traj.%d" % (k, j)] = torch.stack(traj[j])
        for i, st in opt.state_dict()["state"].items():
            for name, v in st.items():
                if v is not None:
                    tensors["%d.state.%d.%s" % (k, i, name)] = v if torch.is_tensor(v) else torch.tensor(float(v))
        meta["case%d" % k] = kv(c)
    save_cases("optim_steps", tensors, meta, cases, STEPS)


# ---------------------------------------------------------------- clipping
def optim_clip():
    shapes = [(6, 5), (4,), (3, 3, 2)]
    base = [torch.randn(*s) * 0.7 for s in shapes]
    base[2][1, 1, 0] = -4.5  # the inf-norm picks this one
    tensors = {"clip.g.%d" % j: base[j] for j in (0, 2)}
    meta = {}
    cases = [dict(fn="norm", max_norm=1.0, norm_type=2.0), dict(fn="norm", max_norm=100.0, norm_type=2.0),
             dict(fn="norm", max_norm=0.5, norm_type="inf"), dict(fn="norm", max_norm=10.0, norm_type="inf"),
             dict(fn="norm", max_norm=2.0, norm_type=1.0), dict(fn="norm", max_norm=1.5, norm_type=3.0),
             dict(fn="norm", max_norm=0.0, norm_type=2.0),
             dict(fn="value", clip_value=0.3), dict(fn="value", clip_value=10.0)]
    for k, c in enumerate(cases):
        ps = [torch.zeros(*s, requires_grad=True) for s in shapes]
        for j in (0, 2):
            ps[j].grad = base[j].clone()
        if c["fn"] == "norm":
            nt = math.inf if c["norm_type"] == "inf" else c["norm_type"]
            total = torch.nn.utils.clip_grad_norm_(ps, c["max_norm"], nt)
            tensors["%d.total" % k] = total.reshape(())
        else:
            torch.nn.utils.clip_grad_value_(ps, c["clip_value"])
        for j in (0, 2):
            tensors["%d.g.%d" % (k, j)] = ps[j].grad
        meta["clip%d" % k] = kv(c)
    save_cases("optim_clip", tensors, meta, cases)


# ---------------------------------------------------------------- schedules
T = 30
LS = torch.optim.lr_scheduler


def make_sched(opt, c):
    kind = c["kind"]
    if kind == "step":
        s = LS.StepLR(opt, step_size=c["step_size"], gamma=c["gamma"])
    elif kind == "multistep":
        s = LS.MultiStepLR(opt, milestones=[int(x) for x in c["milestones"].split(",")], gamma=c["gamma"])
    elif kind == "cosine":
        s = LS.CosineAnnealingLR(opt, T_max=c["t_max"], eta_min=c["eta_min"])
    elif kind == "onecycle":
        s = LS.OneCycleLR(opt, max_lr=[g["lr"] for g in opt.param_groups], total_steps=c["total_steps"],
                          pct_start=c["pct_start"], anneal_strategy="linear" if c["linear"] else "cos",
                          three_phase=bool(c["three_phase"]), div_factor=c["div_factor"],
                          final_div_factor=c["final_div_factor"])
    else:
        s = None
    w = c.get("warmup", 0)
    if w:
        warm = LS.LinearLR(opt, start_factor=c["start_factor"], end_factor=1.0, total_iters=w)
        s = warm if s is None else LS.SequentialLR(opt, [warm, s], milestones=[w])
    return s


def optim_sched():
    cases = [
        dict(kind="step", step_size=7, gamma=0.5),
        dict(kind="step", step_size=1, gamma=0.9),
        dict(kind="multistep", milestones="5,12,12,20", gamma=0.3),
        dict(kind="cosine", t_max=10, eta_min=0.001),
        dict(kind="cosine", t_max=30, eta_min=0.0),
        dict(kind="cosine", t_max=25, eta_min=0.0, warmup=5, start_factor=1.0 / 3),
        dict(kind="step", step_size=10, gamma=0.1, warmup=3, start_factor=0.1),
        dict(kind="multistep", milestones="4,9", gamma=0.5, warmup=6, start_factor=0.25),
        dict(kind="none", warmup=8, start_factor=1.0 / 3),
        dict(kind="onecycle", total_steps=30, pct_start=0.3, linear=0, three_phase=0, div_factor=25.0,
             final_div_factor=1e4),
        dict(kind="onecycle", total_steps=30, pct_start=0.25, linear=1, three_phase=1, div_factor=10.0,
             final_div_factor=100.0),
    ]
    tensors, meta = {}, {}
    for k, c in enumerate(cases):
        p0, p1 = torch.zeros(2, requires_grad=True), torch.zeros(3, requires_grad=True)
        opt = torch.optim.SGD([{"params": [p0], "lr": 0.1}, {"params": [p1], "lr": 0.02}], lr=0.1, momentum=0.9)
        s = make_sched(opt, c)
        lrs, moms = [], []
        for _ in range(T):
            lrs.append([g["lr"] for g in opt.param_groups])
            moms.append(opt.param_groups[0]["momentum"])
            opt.step()
            if s:
                s.step()
        tensors["%d.lr" % k] = torch.tensor(lrs, dtype=torch.float64)
        if c["kind"] == "onecycle":
            tensors["%d.momentum" % k] = torch.tensor(moms, dtype=torch.float64)
        meta["sched%d" % k] = kv(c)
    save_cases("optim_sched", tensors, meta, cases, T)


# ---------------------------------------------------------------- init constants
def optim_init():
    gains, gmeta = [], {}
    for nl, param in [("linear", None), ("conv2d", None), ("sigmoid", None), ("tanh", None), ("relu", None),
                      ("leaky_relu", None), ("leaky_relu", 0.0), ("leaky_relu", 0.2), ("leaky_relu", math.sqrt(5)),
                      ("selu", None)]:
        g = nn.init.calculate_gain(nl, param) if param is not None else nn.init.calculate_gain(nl)
        gmeta["gain%d" % len(gains)] = "nl=%s param=%s" % (nl, "None" if param is None else repr(param))
        gains.append(g)

    captured = []
    orig_u, orig_n = torch.Tensor.uniform_, torch.Tensor.normal_

    def cap_u(self, a=0.0, b=1.0, **kw):
        captured.append(b)
        return orig_u(self, a, b, **kw)

    def cap_n(self, mean=0.0, std=1.0, **kw):
        captured.append(std)
        return orig_n(self, mean, std, **kw)

    values, imeta = [], {}
    shapes = [(10, 20), (64, 3, 7, 7), (1, 5), (300, 1), (16, 8, 3, 3), (7, 6, 5, 4, 3)]
    torch.Tensor.uniform_, torch.Tensor.normal_ = cap_u, cap_n
    try:
        for shape in shapes:
            sh = ",".join(str(d) for d in shape)
            calls = []
            for gain in (1.0, 5.0 / 3):
                calls.append((dict(fn="xavier_uniform", gain=gain), lambda t, g=gain: nn.init.xavier_uniform_(t, g)))
                calls.append((dict(fn="xavier_normal", gain=gain), lambda t, g=gain: nn.init.xavier_normal_(t, g)))
            for fn in ("kaiming_uniform", "kaiming_normal"):
                f = getattr(nn.init, fn + "_")
                for a, mode, nl in ((0.0, "fan_in", "leaky_relu"), (math.sqrt(5), "fan_in", "leaky_relu"),
                                    (0.0, "fan_out", "relu"), (0.1, "fan_out", "leaky_relu"),
                                    (0.0, "fan_in", "tanh"), (0.0, "fan_in", "selu"), (0.0, "fan_out", "linear")):
                    calls.append((dict(fn=fn, a=a, mode=mode, nl=nl),
                                  lambda t, f=f, a=a, mode=mode, nl=nl: f(t, a=a, mode=mode, nonlinearity=nl)))
            for cfg, call in calls:
                captured.clear()
                call(torch.empty(*shape))
                assert len(captured) == 1, (cfg, captured)
                imeta["init%d" % len(values)] = "shape=%s %s" % (sh, kv(cfg))
                values.append(captured[0])
    finally:
        torch.Tensor.uniform_, torch.Tensor.normal_ = orig_u, orig_n
    # the module defaults the lead's Linear relies on: weight bound 1/sqrt(fan_in)
    lin = nn.Linear(37, 11)
    assert lin.weight.abs().max().item() <= 1 / math.sqrt(37)
    meta = dict(gmeta, **imeta)
    meta["gains"] = str(len(gains))
    meta["inits"] = str(len(values))
    path = os.path.join(OUT, "optim_init.safetensors")
    stio.save(path, {"gain": torch.tensor(gains, dtype=torch.float64),
                     "init": torch.tensor(values, dtype=torch.float64)}, meta)
    print(path, len(gains), "gains", len(values), "bounds/stds", os.path.getsize(path), "bytes")


if __name__ == "__main__":
    optim_steps()
    optim_clip()
    optim_sched()
    optim_init()
