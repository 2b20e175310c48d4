#!/usr/bin/python3
"""Op and loss goldens: every op of the "Ops" and "Losses" sections of nabla.h.

For every case: the inputs x0, x1, ... in the order of the nabla call, a random
upstream gradient G shaped like the output, the output y and, for each input that
requires grad, the gradient gK of sum(y * G) with respect to xK (torch autograd).
Class weights and pos_weight are stored as "weight" and "pos_weight" (no grad).

Each file's __metadata__ has "cases" = the count and "caseK" = the configuration as
space-separated key=value pairs that tests/test_ops_golden.c parses:
  op=NAME (add sub mul div adds muls neg exp log sqrt square abs pow sum mean sum_dim
  mean_dim matmul linear reshape flatten transpose narrow sigmoid tanh relu
  leaky_relu elu prelu softmax log_softmax mse sse ce bce bcel l1 l2 elastic)
  n=inputs, s=scalar (adds/muls/pow/leaky_relu/elu slope or alpha, l1/l2 λ), s2=λ2 of
  elastic, dim, keepdim, d0/d1 (transpose), start/end (flatten), start/len (narrow),
  shape=4,-1 (reshape), red=mean|sum|none, eps (label smoothing), ignore=K
  (ignore_index given), bias=0|1 (linear), grad=1,0 (which inputs require grad),
  tol (a looser tolerance where PyTorch's own float32 rounding is that large).
Tensors of case K are named "K.x0", "K.x1", "K.G", "K.y", "K.g0", "K.g1",
"K.weight", "K.pos_weight".

Run: /usr/bin/python3 tools/goldens/gen_ops.py   (about 10 seconds, PyTorch 1.13)
"""
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(__file__))
import stio  # noqa: E402

OUT = os.path.join(os.path.dirname(__file__), "..", "..", "tests", "goldens")
torch.manual_seed(20240607)
torch.set_num_threads(1)


class Writer:
    def __init__(self, name):
        self.name, self.t, self.meta, self.n = name, {}, {}, 0

    def case(self, cfg, fn, inputs, grad=None, extra=None):
        """fn(*inputs) -> output; grad[i] says whether input i requires grad
        (default: every float input)."""
        if grad is None:
            grad = [x.is_floating_point() for x in inputs]
        xs = [x.detach().clone().requires_grad_(bool(g)) for x, g in zip(inputs, grad)]
        y = fn(*xs)
        G = torch.randn(y.shape)
        if any(grad):
            (y * G).sum().backward()
        k = self.n
        self.n += 1
        cfg = dict(cfg, n=len(xs), grad=",".join(str(int(bool(g))) for g in grad))
        self.meta["case%d" % k] = " ".join("%s=%s" % kv for kv in cfg.items())
        t = {"G": G, "y": y}
        for i, x in enumerate(xs):
            t["x%d" % i] = x
            if grad[i]:
                t["g%d" % i] = x.grad if x.grad is not None else torch.zeros_like(x)
        for name, v in (extra or {}).items():
            if v is not None:
                t[name] = v
        for name, v in t.items():
            self.t["%d.%s" % (k, name)] = v.detach().clone().contiguous()

    def save(self):
        self.meta["cases"] = str(self.n)
        path = os.path.join(OUT, "ops_%s.safetensors" % self.name)
        stio.save(path, self.t, self.meta)
        size = os.path.getsize(path)
        assert size < 1 << 20, path
        print(path, self.n, "cases", size, "bytes")


def rn(*shape):
    return torch.randn(tuple(shape))


def ru(*shape):
    return torch.rand(tuple(shape))


def away_from_zero(*shape, margin=0.05):
    """randn with |x| >= margin, so kinks (relu, abs) are not straddled."""
    x = rn(*shape)
    return torch.where(x.abs() < margin, torch.sign(x + 1e-9) * margin + x, x)


def positive(*shape):
    return ru(*shape) * 2 + 0.2


def dims(s):
    return ",".join(str(d) for d in s)


def elementwise():
    w = Writer("elementwise")
    pairs = [((3, 4), (3, 4)), ((3, 4), (4,)), ((3, 4), (3, 1)), ((2, 3, 4), (3, 1)), ((2, 1, 4), (3, 1)),
             ((3, 4), ()), ((), (2, 3)), ((4,), (2, 3, 4)), ((5,), (5,)), ((2, 3, 4, 5), (1, 3, 1, 5)),
             ((1, 3, 1), (2, 1, 4)), ((6, 7), (1, 1))]
    fns = {"add": torch.add, "sub": torch.sub, "mul": torch.mul, "div": torch.div}
    for op, fn in fns.items():
        for sa, sb in pairs:
            a = rn(*sa)
            b = away_from_zero(*sb, margin=0.5) if op == "div" else rn(*sb)
            w.case({"op": op}, fn, [a, b])
        # only one side requires grad
        w.case({"op": op}, fn, [torch.randn(3, 4), away_from_zero(4, margin=0.5)], grad=[1, 0])
        w.case({"op": op}, fn, [torch.randn(3, 4), away_from_zero(3, 1, margin=0.5)], grad=[0, 1])
    shapes = [(7,), (3, 4), (2, 3, 4), ()]
    unary = [("adds", 1.5, lambda x: x + 1.5, rn), ("muls", -2.5, lambda x: x * -2.5, rn),
             ("neg", None, torch.neg, rn), ("exp", None, torch.exp, rn),
             ("log", None, torch.log, positive), ("sqrt", None, torch.sqrt, positive),
             ("square", None, torch.square, rn), ("abs", None, torch.abs, away_from_zero)]
    for op, s, fn, gen in unary:
        for shape in shapes:
            cfg = {"op": op} if s is None else {"op": op, "s": s}
            w.case(cfg, fn, [gen(*shape)])
    for p, gen in ((2.0, rn), (3.0, rn), (0.5, positive), (-1.5, positive), (1.0, rn),
                   (0.0, rn), (2.5, positive)):
        for shape in ((7,), (3, 4)):
            w.case({"op": "pow", "s": p}, lambda x, p=p: torch.pow(x, p), [gen(*shape)])
    w.save()


def reduce():
    w = Writer("reduce")
    for op, fn in (("sum", torch.sum), ("mean", torch.mean)):
        for shape in ((5,), (3, 4), (2, 3, 4), (), (2, 3, 4, 5), (1000,)):
            w.case({"op": op}, fn, [rn(*shape)])
    for op, fn in (("sum_dim", torch.sum), ("mean_dim", torch.mean)):
        for shape in ((5,), (3, 4), (2, 3, 4), (2, 3, 4, 5)):
            for dim in sorted({0, 1 % len(shape), -1, len(shape) - 1}):
                for keepdim in (0, 1):
                    w.case({"op": op, "dim": dim, "keepdim": keepdim},
                           lambda x, d=dim, k=keepdim: fn(x, d, keepdim=bool(k)), [rn(*shape)])
    w.save()


def linalg():
    w = Writer("linalg")
    for sa, sb in (((3, 4), (4, 5)), ((1, 7), (7, 1)), ((6, 1), (1, 3)), ((2, 3, 4), (2, 4, 5)),
                   ((4, 1, 3), (4, 3, 2)), ((17, 33), (33, 9))):
        w.case({"op": "matmul"}, torch.matmul, [rn(*sa), rn(*sb)])
    w.case({"op": "matmul"}, torch.matmul, [torch.randn(3, 4), torch.randn(4, 5)], grad=[0, 1])
    w.case({"op": "matmul"}, torch.matmul, [torch.randn(2, 3, 4), torch.randn(2, 4, 5)], grad=[1, 0])
    for xs, nin, nout in (((5, 4), 4, 3), ((2, 5, 4), 4, 3), ((1, 4), 4, 3), ((4,), 4, 3), ((2, 3, 2, 6), 6, 5),
                          ((9, 1), 1, 2), ((7, 33), 33, 17)):
        for bias in (1, 0):
            x, wt, b = rn(*xs), torch.randn(nout, nin), torch.randn(nout)
            if bias:
                w.case({"op": "linear", "bias": 1}, F.linear, [x, wt, b])
            else:
                w.case({"op": "linear", "bias": 0}, F.linear, [x, wt])
    # frozen weights, input gradient only (transfer learning), and the reverse
    w.case({"op": "linear", "bias": 1}, F.linear, [torch.randn(5, 4), torch.randn(3, 4), torch.randn(3)],
           grad=[1, 0, 0])
    w.case({"op": "linear", "bias": 1}, F.linear, [torch.randn(5, 4), torch.randn(3, 4), torch.randn(3)],
           grad=[0, 1, 1])
    w.save()


def shape():
    w = Writer("shape")
    for xs, new in (((2, 3, 4), (4, -1)), ((6, 4), (24,)), ((24,), (2, 3, 4)), ((2, 3, 4), (-1,)),
                    ((3, 4), (1, 12, 1)), ((1,), ())):
        w.case({"op": "reshape", "shape": dims(new) if new else "-"}, lambda x, s=new: x.reshape(s),
               [rn(*xs)])
    for xs, s, e in (((2, 3, 4, 5), 1, -1), ((2, 3, 4, 5), 0, 1), ((2, 3, 4), 1, 1), ((2, 3, 4), 0, -1),
                     ((7,), 0, 0), ((2, 3, 4, 5), -3, -2)):
        w.case({"op": "flatten", "start": s, "end": e}, lambda x, s=s, e=e: torch.flatten(x, s, e),
               [rn(*xs)])
    for xs, d0, d1 in (((3, 4), 0, 1), ((2, 3, 4), 0, 2), ((2, 3, 4), -1, 1), ((2, 3, 4, 5), 1, 3),
                       ((2, 3, 4, 5), 0, 0), ((1, 5, 1), 0, 2)):
        w.case({"op": "transpose", "d0": d0, "d1": d1}, lambda x, a=d0, b=d1: torch.transpose(x, a, b),
               [rn(*xs)])
    for xs, d, st, ln in (((5, 4), 0, 1, 3), ((2, 6, 3), 1, 2, 3), ((2, 6, 3), -1, -2, 2), ((4, 5), 1, 0, 5),
                          ((3, 2, 4, 2), 2, 3, 1), ((7,), 0, 6, 1)):
        w.case({"op": "narrow", "dim": d, "start": st, "len": ln},
               lambda x, d=d, s=st, n=ln: torch.narrow(x, d, s, n), [rn(*xs)])
    w.save()


def activation():
    w = Writer("activation")
    shapes = ((7,), (3, 4), (2, 3, 4, 5))
    for op, s, fn in (("sigmoid", None, torch.sigmoid), ("tanh", None, torch.tanh), ("relu", None, torch.relu),
                      ("leaky_relu", 0.01, lambda x: F.leaky_relu(x, 0.01)),
                      ("leaky_relu", 0.2, lambda x: F.leaky_relu(x, 0.2)),
                      ("elu", 1.0, lambda x: F.elu(x, 1.0)), ("elu", 0.5, lambda x: F.elu(x, 0.5))):
        for shape in shapes:
            cfg = {"op": op} if s is None else {"op": op, "s": s}
            w.case(cfg, fn, [away_from_zero(*shape) * 3])
    # large magnitudes: saturation without overflow
    for op, fn in (("sigmoid", torch.sigmoid), ("tanh", torch.tanh), ("elu", lambda x: F.elu(x, 1.0))):
        x = torch.tensor([-100.0, -30.0, -5.0, -0.5, 0.5, 5.0, 30.0, 100.0])
        w.case({"op": op, "s": 1.0} if op == "elu" else {"op": op}, fn, [x])
    for xs, nparam in (((4, 3), 1), ((4, 3), 3), ((2, 3, 4, 5), 1), ((2, 3, 4, 5), 3), ((2, 3, 5), 3), ((6,), 1)):
        x = away_from_zero(*xs) * 2
        wt = torch.rand(nparam) * 0.5 + 0.05
        w.case({"op": "prelu"}, F.prelu, [x, wt])
    w.case({"op": "prelu"}, F.prelu, [away_from_zero(4, 3), torch.rand(3)], grad=[0, 1])
    w.save()


def softmax():
    w = Writer("softmax")
    for op, fn in (("softmax", torch.softmax), ("log_softmax", torch.log_softmax)):
        for xs in ((3, 5), (2, 3, 4), (2, 3, 4, 5), (1, 7), (4,)):
            for d in sorted({0, min(1, len(xs) - 1), -1}):
                w.case({"op": op, "dim": d}, lambda x, d=d: fn(x, d), [rn(*xs) * 3])
        # large logits: the max subtraction
        x = torch.tensor([[1000.0, 999.0, -1000.0], [-50.0, 0.0, 50.0]])
        w.case({"op": op, "dim": 1}, lambda x: fn(x, 1), [x])
    w.save()


RED = ("mean", "sum", "none")


def losses_regression():
    w = Writer("loss_mse")
    for xs in ((4, 3), (2, 3, 4), (7,), ()):
        for red in RED:
            w.case({"op": "mse", "red": red}, lambda x, t, r=red: F.mse_loss(x, t, reduction=r),
                   [rn(*xs), rn(*xs)])
        w.case({"op": "sse"}, lambda x, t: 0.5 * F.mse_loss(x, t, reduction="sum"),
               [rn(*xs), rn(*xs)])
    w.case({"op": "mse", "red": "mean"}, F.mse_loss, [torch.randn(5, 2), torch.randn(5, 2)], grad=[1, 0])
    for op, s, s2, fn in (("l1", 0.01, None, lambda ps: 0.01 * sum(p.abs().sum() for p in ps)),
                          ("l2", 0.005, None, lambda ps: 0.005 * sum((p * p).sum() for p in ps)),
                          ("elastic", 0.01, 0.02,
                           lambda ps: 0.01 * sum(p.abs().sum() for p in ps) + 0.02 * sum((p * p).sum() for p in ps))):
        for shapes in (((3, 4),), ((3, 4), (3,), (2, 2, 3)), ((5,), ())):
            cfg = {"op": op, "s": s} if s2 is None else {"op": op, "s": s, "s2": s2}
            ps = [away_from_zero(*sh) for sh in shapes]
            if op != "l2" and len(ps) > 1:
                ps[1].view(-1)[0] = 0.0  # sign(0) = 0
            w.case(cfg, lambda *p, f=fn: f(p), ps)
        ps = [away_from_zero(3, 4), away_from_zero(3)]
        cfg = {"op": op, "s": s} if s2 is None else {"op": op, "s": s, "s2": s2}
        w.case(cfg, lambda *p, f=fn: f(p), ps, grad=[1, 0])  # a frozen parameter
    w.save()


def ce_targets(shape_t, C, ignore=None, frac=0.3):
    t = torch.randint(0, C, shape_t)
    if ignore is not None:
        mask = torch.rand(shape_t) < frac
        flat = mask.reshape(-1)
        flat[0] = False  # never all ignored
        t[mask] = ignore
    return t


def losses_ce():
    w = Writer("loss_ce")
    # index targets
    grid = [((5, 4), "full"), ((3, 4, 5), "full"), ((2, 3, 4, 2), "some"), ((6,), "some"), ((1, 10), "some"),
            ((8, 10), "some")]
    for xs, cover in grid:
        C = xs[0] if len(xs) == 1 else xs[1]
        ts = () if len(xs) == 1 else (xs[0],) + xs[2:]
        for red in RED:
            for weighted in (0, 1):
                for ig in ("default", "-100", "custom") if cover == "full" else ("default", "custom"):
                    for eps in (0.0, 0.1) if cover == "full" or ig == "custom" or red == "mean" else (0.0,):
                        if len(xs) == 1 and ig != "default":
                            continue  # one sample: ignoring it would leave nothing
                        cfg = {"op": "ce", "red": red}
                        if ig == "default":
                            t, ignore = ce_targets(ts, C), -100
                        elif ig == "-100":
                            t, ignore = ce_targets(ts, C, -100), -100
                        else:
                            ignore = 2 if C > 2 else 0
                            t = ce_targets(ts, C)
                            t[torch.rand(ts) < 0.3] = ignore
                            cfg["ignore"] = ignore
                        if eps:
                            cfg["eps"] = eps
                        wt = torch.rand(C) + 0.5 if weighted else None
                        fn = (lambda x, y, r=red, wt=wt, ig=ignore, e=eps:
                              F.cross_entropy(x, y, weight=wt, ignore_index=ig, reduction=r, label_smoothing=e))
                        w.case(cfg, fn, [rn(*xs) * 2, t], extra={"weight": wt})
    # ignore_index = 0 given literally (has_ignore_index)
    t = torch.tensor([0, 1, 3, 0, 2])
    w.case({"op": "ce", "red": "mean", "ignore": 0}, lambda x, y: F.cross_entropy(x, y, ignore_index=0),
           [torch.randn(5, 4), t])
    # label smoothing 1 and a large-logit row
    w.case({"op": "ce", "red": "mean", "eps": 1.0}, lambda x, y: F.cross_entropy(x, y, label_smoothing=1.0),
           [torch.randn(4, 3), torch.tensor([0, 2, 1, 1])])
    w.case({"op": "ce", "red": "sum"}, lambda x, y: F.cross_entropy(x, y, reduction="sum"),
           [torch.tensor([[1000.0, -1000.0, 0.0], [-80.0, 80.0, 79.0]]), torch.tensor([1, 2])])
    # probability targets (Mixup/CutMix)
    for xs in ((5, 4), (3, 4, 5), (2, 3, 2, 2), (4,)):
        cd = 0 if len(xs) == 1 else 1
        for red in RED:
            for weighted in (0, 1):
                for eps in (0.0, 0.2):
                    if len(xs) != 2 and (weighted and eps == 0.0):
                        continue
                    cfg = {"op": "ce", "red": red}
                    if eps:
                        cfg["eps"] = eps
                    C = xs[cd]
                    wt = torch.rand(C) + 0.5 if weighted else None
                    p = torch.softmax(rn(*xs) * 2, cd)
                    fn = (lambda x, y, r=red, wt=wt, e=eps:
                          F.cross_entropy(x, y, weight=wt, reduction=r, label_smoothing=e))
                    w.case(cfg, fn, [rn(*xs) * 2, p], extra={"weight": wt})
    w.case({"op": "ce", "red": "mean"}, F.cross_entropy,
           [torch.randn(5, 4), torch.softmax(torch.randn(5, 4), 1)], grad=[1, 0])
    w.save()


def losses_bce():
    w = Writer("loss_bce")
    for xs in ((6,), (4, 3), (2, 3, 4)):
        C = xs[-1]
        for red in RED:
            for wname, ws in (("none", None), ("full", xs), ("last", (C,)), ("one", (1,))):
                wt = ru(*ws) + 0.5 if ws is not None else None
                x = ru(*xs) * 0.9 + 0.05
                t = ru(*xs)
                w.case({"op": "bce", "red": red}, lambda x, t, r=red, wt=wt: F.binary_cross_entropy(x, t, wt, reduction=r),
                       [x, t], extra={"weight": wt})
            for wname, pname in (("none", "none"), ("none", "last"), ("last", "last"), ("full", "none"),
                                 ("one", "one")):
                shp = {"none": None, "full": xs, "last": (C,), "one": (1,)}
                wt = ru(*shp[wname]) + 0.5 if shp[wname] is not None else None
                pw = ru(*shp[pname]) * 3 + 0.2 if shp[pname] is not None else None
                x = rn(*xs) * 3
                t = ru(*xs)
                w.case({"op": "bcel", "red": red},
                       lambda x, t, r=red, wt=wt, pw=pw: F.binary_cross_entropy_with_logits(x, t, wt, reduction=r,
                                                                                            pos_weight=pw),
                       [x, t], extra={"weight": wt, "pos_weight": pw})
    # hard 0/1 targets
    x = torch.rand(4, 3) * 0.9 + 0.05
    w.case({"op": "bce", "red": "mean"}, F.binary_cross_entropy, [x, (torch.rand(4, 3) > 0.5).float()])
    # the -100 clamp: inputs exactly 0 and 1 (target gradient would be infinite: not asked)
    x = torch.tensor([0.0, 1.0, 0.0, 1.0, 0.5, 1e-30])
    t = torch.tensor([0.0, 1.0, 1.0, 0.0, 0.3, 0.5])
    w.case({"op": "bce", "red": "none"}, lambda x, t: F.binary_cross_entropy(x, t, reduction="none"), [x, t],
           grad=[1, 0])
    w.case({"op": "bce", "red": "sum"}, lambda x, t: F.binary_cross_entropy(x, t, reduction="sum"), [x, t],
           grad=[1, 0])
    # large logits: the stable form
    x = torch.tensor([[-100.0, -30.0, -5.0, 0.0], [5.0, 30.0, 100.0, -0.5]])
    t = torch.tensor([[1.0, 0.0, 0.3, 1.0], [0.0, 1.0, 0.0, 0.5]])
    pw = torch.tensor([2.0, 0.5, 1.0, 3.0])
    w.case({"op": "bcel", "red": "none"}, lambda x, t: F.binary_cross_entropy_with_logits(x, t, reduction="none"),
           [x, t])
    w.case({"op": "bcel", "red": "sum"},
           lambda x, t: F.binary_cross_entropy_with_logits(x, t, reduction="sum", pos_weight=pw), [x, t],
           extra={"pos_weight": pw})
    w.save()


if __name__ == "__main__":
    os.makedirs(OUT, exist_ok=True)
    elementwise()
    reduce()
    linalg()
    shape()
    activation()
    softmax()
    losses_regression()
    losses_ce()
    losses_bce()
