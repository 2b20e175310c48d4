#!/usr/bin/python3
"""PyTorch DistributedDataParallel (gloo) on the CPU: the data-parallel counterpart of
bench/torch_bench.py's training measurement, for bench/dist.sh.

    /usr/bin/python3 bench/torch_ddp.py --procs 2 --threads 1 --steps 100

Spawns --procs processes (torch.multiprocessing, gloo, a file rendezvous), each training
the cnn of torch_baseline.py (same recipe) on its DistributedSampler shard with batch
--batch per process, 10 warm-up steps then --steps timed. Prints one line (rank 0's):
ranks, train_img_per_s over all processes (slowest rank's time), comm_wait_ms (the time per
step a rank spends after its backward's local work waiting for DDP's all-reduce is not
separable in PyTorch, so this is the step time minus the same process's step time with
DDP's communication skipped via no_sync; the mean over ranks) and comm_share.
"""
import argparse, os, tempfile, time

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn as nn

import fmnist

p = argparse.ArgumentParser()
p.add_argument("--procs", type=int, default=2)
p.add_argument("--threads", type=int, default=1)
p.add_argument("--steps", type=int, default=100)
p.add_argument("--batch", type=int, default=128)
p.add_argument("--data", default=fmnist.DATA)
a = p.parse_args()


def worker(rank, world, rdv, q):
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    dist.init_process_group("gloo", init_method="file://" + rdv, rank=rank, world_size=world)
    X, Y = fmnist.split(a.data, "train")
    X, Y = X[rank::world].contiguous(), Y[rank::world].contiguous()  # DistributedSampler(shuffle=False)
    m = nn.parallel.DistributedDataParallel(fmnist.cnn())
    opt = torch.optim.SGD(m.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4)
    lossf = nn.CrossEntropyLoss()
    B = a.batch

    def run(steps, comm):
        t0 = time.perf_counter()
        for i in range(steps):
            j = (i * B) % (len(X) - B)
            opt.zero_grad(set_to_none=True)
            if comm:
                lossf(m(X[j:j + B]), Y[j:j + B]).backward()
            else:
                with m.no_sync():
                    lossf(m(X[j:j + B]), Y[j:j + B]).backward()
            opt.step()
        return time.perf_counter() - t0

    m.train()
    run(10, True)
    dist.barrier()
    t = run(a.steps, True)
    dist.barrier()
    t_local = run(a.steps, False)
    v = torch.tensor([t, max(t - t_local, 0.0) / world], dtype=torch.float64)
    mx = v[:1].clone()
    dist.all_reduce(mx, op=dist.ReduceOp.MAX)
    dist.all_reduce(v[1:])
    if rank == 0:
        q.put("torch=%s model=cnn ranks=%d threads=%d batch=%d train_img_per_s=%.0f comm_wait_ms=%.2f comm_share=%.3f"
              % (torch.__version__, world, a.threads, B, a.steps * B * world / mx.item(), v[1].item() / a.steps * 1e3,
                 v[1].item() / t))
    dist.destroy_process_group()


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as tmp:
        q = mp.get_context("spawn").SimpleQueue()
        mp.spawn(worker, args=(a.procs, os.path.join(tmp, "rdv"), q), nprocs=a.procs, join=True)
        print(q.get())
