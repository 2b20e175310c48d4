#!/usr/bin/python3
"""Goldens for data-parallel training (issue 13, tests/dist.sh).

Two small CNNs with smooth activations (so float rounding cannot flip a branch), the
nn.Sequential twins of tests/dist/smooth.nbm and tests/dist/smooth_bn.nbm, initialised
by PyTorch (seed 0), trained with SGD(lr=0.05, momentum=0.9, weight_decay=5e-4) (nabla
train's defaults) on the Fashion-MNIST training set in file order (inputs /255):

  ddp2_smooth       smooth.nbm, DistributedDataParallel over 2 processes (gloo backend,
                    torch.multiprocessing), DistributedSampler(shuffle=False), batch 64
                    per process; the loss logged is the mean of the two ranks' losses
  single_smooth     smooth.nbm, one process, batch 128 (the same samples per step)
  single_smooth_bn  smooth_bn.nbm, one process, batch 128 (what 2 ranks with SyncBatchNorm
                    must give; PyTorch 1.13's SyncBatchNorm runs on CUDA only)

50 steps each. Writes tests/goldens/ddp_smooth_init.safetensors and
ddp_smooth_bn_init.safetensors (the initial state_dicts, for `nabla train --init`) and
tests/goldens/ddp_losses.txt (one line per step: step and the three losses).
Run: /usr/bin/python3 tools/goldens/gen_ddp.py
"""
import gzip
import os
import sys
import tempfile

import numpy as np
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn as nn

sys.path.insert(0, os.path.dirname(__file__))
import stio  # noqa: E402

DATA = os.environ.get("NABLA_DATA", "/usr/share/datasets/fashion-mnist")
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "goldens")
STEPS = 50


def idx(name):
    raw = gzip.open(os.path.join(DATA, name + ".gz")).read()
    nd = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(nd)]
    return np.frombuffer(raw, np.uint8, offset=4 + 4 * nd).reshape(dims)


def data():
    x = torch.tensor(idx("train-images-idx3-ubyte")[:STEPS * 128], dtype=torch.float32).div_(255).unsqueeze(1)
    y = torch.tensor(idx("train-labels-idx1-ubyte")[:STEPS * 128], dtype=torch.long)
    return x, y


def smooth(bn):
    if not bn:
        return nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.Tanh(), nn.AvgPool2d(2), nn.Conv2d(8, 16, 3, padding=1),
                             nn.ELU(), nn.AvgPool2d(2), nn.Flatten(), nn.Linear(784, 32), nn.Tanh(), nn.Linear(32, 10))
    return nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8), nn.Tanh(), nn.AvgPool2d(2),
                         nn.Conv2d(8, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ELU(), nn.AvgPool2d(2), nn.Flatten(),
                         nn.Linear(784, 32), nn.BatchNorm1d(32), nn.Tanh(), nn.Linear(32, 10))


def sgd(m):
    return torch.optim.SGD(m.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4)


def single(state, bn):
    torch.set_num_threads(1)
    m = smooth(bn)
    m.load_state_dict(state)
    m.train()
    opt = sgd(m)
    x, y = data()
    losses = []
    for s in range(STEPS):
        opt.zero_grad()
        loss = nn.functional.cross_entropy(m(x[s * 128:(s + 1) * 128]), y[s * 128:(s + 1) * 128])
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses


def ddp_worker(rank, world, state, init_file, out_file):
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method="file://" + init_file, rank=rank, world_size=world)
    m = smooth(False)
    m.load_state_dict(state)
    model = nn.parallel.DistributedDataParallel(m)
    opt = sgd(model)
    x, y = data()
    sampler = torch.utils.data.distributed.DistributedSampler(range(len(x)), num_replicas=world, rank=rank,
                                                              shuffle=False)
    order = list(iter(sampler))
    losses = []
    for s in range(STEPS):
        ids = torch.tensor(order[s * 64:(s + 1) * 64])
        opt.zero_grad()
        loss = nn.functional.cross_entropy(model(x[ids]), y[ids])
        loss.backward()
        opt.step()
        mean = loss.detach().clone()
        dist.all_reduce(mean)
        losses.append(mean.item() / world)
    if rank == 0:
        np.savetxt(out_file, np.array(losses, dtype=np.float64))
    dist.destroy_process_group()


def main():
    torch.manual_seed(0)
    plain, withbn = smooth(False), smooth(True)
    s_plain = {k: v.clone() for k, v in plain.state_dict().items()}
    s_bn = {k: v.clone() for k, v in withbn.state_dict().items()}
    stio.save(os.path.join(OUT, "ddp_smooth_init.safetensors"), s_plain)
    stio.save(os.path.join(OUT, "ddp_smooth_bn_init.safetensors"), s_bn)
    with tempfile.TemporaryDirectory() as tmp:
        out_file = os.path.join(tmp, "losses.txt")
        mp.spawn(ddp_worker, args=(2, s_plain, os.path.join(tmp, "init"), out_file), nprocs=2, join=True)
        ddp = np.loadtxt(out_file)
    a, b = single(s_plain, False), single(s_bn, True)
    with open(os.path.join(OUT, "ddp_losses.txt"), "w") as f:
        f.write("# tools/goldens/gen_ddp.py (PyTorch %s): step ddp2_smooth single_smooth single_smooth_bn\n"
                % torch.__version__)
        for s in range(STEPS):
            f.write("%d %.9g %.9g %.9g\n" % (s + 1, ddp[s], a[s], b[s]))


if __name__ == "__main__":
    main()
