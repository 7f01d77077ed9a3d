#!/usr/bin/python3
"""bench/lrp_torch.py — PyTorch LRP-epsilon on the models, weights, batch and
targets of bench/lrp.lua (run that first: it writes /tmp/sanity_lrp_bench.h5),
for 1 and 2 threads. Also checks the PyTorch maps against sanity's.

LRP-epsilon as gradient x input with a modified backward (the usual fast
PyTorch implementation): every linear, conv2d, batch-norm, pooling and add
output z gets its incoming gradient scaled by z / stab(z), activations keep
their gradient, max pooling its argmax routing. For relu networks this
equals the layer-by-layer epsilon rule (the relevance at every node output
is the activation times the gradient there).
    /usr/bin/python3 scripts/bench/lrp_torch.py [--reps 10] [--threads 1,2]
Prints min and median wall milliseconds per call and the min process CPU
milliseconds (all threads)."""
import argparse
import os
import sys
import time

import h5py
import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "fixtures"))
import make_lrp_fixtures as fx  # noqa: E402


class Scale(torch.autograd.Function):
    """Identity forward; backward multiplies the gradient by z / stab(z)."""

    @staticmethod
    def forward(ctx, z, eps):
        ctx.save_for_backward(z)
        ctx.eps = eps
        return z.view_as(z)

    @staticmethod
    def backward(ctx, g):
        (z,) = ctx.saved_tensors
        den = z + ctx.eps * torch.where(z >= 0, 1.0, -1.0)
        return g * z / den, None


def lrp_epsilon(graph, P, x, targets, eps=1e-6, stab=1e-6):
    xi = x.clone().requires_grad_(True)
    act = {"input": xi}
    for n in graph:
        y = fx.apply(n, P, [act[i] for i in n["inputs"]])
        k = n["kind"]
        if k in ("conv2d", "linear"):
            y = Scale.apply(y, eps)
        elif k in ("batchnorm2d", "add", "adaptive_avgpool2d"):
            y = Scale.apply(y, stab)
        act[n["name"]] = y
    out = act[graph[-1]["name"]]
    score = out.gather(1, targets[:, None]).sum()
    (g,) = torch.autograd.grad(score, xi)
    return xi.detach() * g


def timed(fn, reps):
    fn()
    ms, cpu = [], float("inf")
    for _ in range(reps):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        ms.append((time.perf_counter() - t0) * 1e3)
        cpu = min(cpu, (time.process_time() - c0) * 1e3)
    ms.sort()
    return ms[0], ms[(len(ms) - 1) // 2], cpu


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=10)
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--data", default="/tmp/sanity_lrp_bench.h5")
    args = ap.parse_args()
    h5 = h5py.File(args.data, "r")
    x = torch.from_numpy(np.asarray(h5["x"], dtype=np.float32))
    print(f"{'model':8s} {'threads':>7s}  {'method':22s} {'min ms':>9s} {'median ms':>9s} {'cpu ms':>9s}"
          "  rel L2 vs sanity (max)")
    for name, build, seed in (("lenet", fx.lenet, 11), ("resnet8", fx.resnet8, 13)):
        graph = build()
        P = {k: v.float() for k, v in fx.load_params(graph, seed).items()}
        t = torch.from_numpy(np.asarray(h5[name + "/targets"])).long()
        want = torch.from_numpy(np.asarray(h5[name + "/lrp_epsilon"]))
        for th in (int(v) for v in args.threads.split(",")):
            torch.set_num_threads(th)
            r = lrp_epsilon(graph, P, x, t)
            err = ((r - want).flatten(1).norm(dim=1) / want.flatten(1).norm(dim=1)).max().item()
            lo, med, cpu = timed(lambda: lrp_epsilon(graph, P, x, t), args.reps)
            print(f"{name:8s} {th:7d}  {'lrp epsilon':22s} {lo:9.2f} {med:9.2f} {cpu:9.2f}  {err:.2e}")

            def grad():
                xi = x.clone().requires_grad_(True)
                act = {"input": xi}
                for n in graph:
                    act[n["name"]] = fx.apply(n, P, [act[i] for i in n["inputs"]])
                torch.autograd.grad(act[graph[-1]["name"]].gather(1, t[:, None]).sum(), xi)

            lo, med, cpu = timed(grad, args.reps)
            print(f"{name:8s} {th:7d}  {'gradient':22s} {lo:9.2f} {med:9.2f} {cpu:9.2f}")


if __name__ == "__main__":
    main()
