#!/usr/bin/python3
"""bench/attr_torch.py — sanity vs PyTorch for gradient, integrated gradients
(32 steps) and SmoothGrad (50 draws) on LeNet and ResNet8, same weights,
images, targets and thread count.

    /usr/bin/python3 scripts/bench/attr_torch.py [--sanity bin/sanity] [--threads 1,2] [--reps 3]
        [--models lenet,resnet8] [--methods gradient,ig32,smoothgrad50]

For each (threads, model, method) it alternates `reps` times: one run of
scripts/bench/attr.lua (warm-up + one timed call; it writes the weights, the
256 Fashion-MNIST test images, the targets and its timings to a temporary
file), then one timed PyTorch call on that file's weights and data. Both
sides thus see the same load on a shared machine; the table gives the
minimum over reps of wall time and of process CPU time (the steadier number
on a busy machine for 1 thread; with 2 threads PyTorch's OpenMP workers
spin while waiting, so compare wall times there).

The PyTorch side is a straightforward batched implementation written from
the definitions (no attribution library): rows (samples x steps or draws)
in chunks of 256, one forward and one autograd input gradient per chunk,
parameters frozen, eval mode, torch.set_num_threads(threads).
  gradient       d logit_target / d x
  ig32           Gauss-Legendre, 32 steps, zero baseline, and the
                 completeness gap (two extra forwards), as sanity returns it
  smoothgrad50   50 draws, noise sd = 0.15 (max - min) per sample"""
import argparse
import os
import subprocess
import sys
import tempfile
import time

import h5py
import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..", "..")
sys.path.insert(0, os.path.join(HERE, "..", "fixtures"))
from make_nn_fixtures import LeNet, ResNet8  # noqa: E402

CHUNK = 256
CLASSES = {"lenet": LeNet, "resnet8": ResNet8}


def load(cls, weights):
    """The PyTorch model with sanity's weights (state_dict keys = sanity's names)."""
    m = cls()
    sd = m.state_dict()
    for k in sd:
        sd[k] = torch.from_numpy(weights[k]).to(sd[k].dtype).reshape(sd[k].shape)
    m.load_state_dict(sd)
    for p in m.parameters():
        p.requires_grad_(False)
    return m.eval()


def row_grads(model, inp, t):
    inp.requires_grad_(True)
    out = model(inp)
    (g,) = torch.autograd.grad(out.gather(1, t.view(-1, 1)).sum(), inp)
    return g


def gradient(model, x, y):
    return row_grads(model, x.clone(), y)


def ig32(model, x, y, steps=32):
    a, w = np.polynomial.legendre.leggauss(steps)
    alpha = torch.tensor(0.5 * (a + 1), dtype=torch.float32)
    weight = torch.tensor(0.5 * w, dtype=torch.float32)
    n = x.shape[0]
    base = torch.zeros_like(x)
    acc = torch.zeros_like(x)
    rows = torch.arange(n * steps)
    shape = (-1,) + (1,) * (x.dim() - 1)
    for r0 in range(0, n * steps, CHUNK):
        r = rows[r0:r0 + CHUNK]
        s, k = r // steps, r % steps
        inp = base[s] + alpha[k].view(shape) * (x[s] - base[s])
        acc.index_add_(0, s, row_grads(model, inp, y[s]) * weight[k].view(shape))
    attr = (x - base) * acc
    with torch.no_grad():
        fx = model(x).gather(1, y.view(-1, 1)).squeeze(1)
        fb = model(base).gather(1, y.view(-1, 1)).squeeze(1)
        gap = attr.flatten(1).sum(1) - (fx - fb)
    return attr, gap


def smoothgrad50(model, x, y, n=50, sigma=0.15):
    flat = x.flatten(1)
    sd = (sigma * (flat.max(1).values - flat.min(1).values)).view((-1,) + (1,) * (x.dim() - 1))
    acc = torch.zeros_like(x)
    rows = torch.arange(x.shape[0] * n)
    for r0 in range(0, x.shape[0] * n, CHUNK):
        s = rows[r0:r0 + CHUNK] // n
        inp = x[s] + sd[s] * torch.randn((len(s),) + x.shape[1:])
        acc.index_add_(0, s, row_grads(model, inp, y[s]))
    return acc / n


METHODS = {"gradient": gradient, "ig32": ig32, "smoothgrad50": smoothgrad50}


def run_sanity(binary, th, model, meth, out):
    cmd = [binary, "run", os.path.join(HERE, "attr.lua"), "--threads", str(th), "--out", out, "reps=1",
           f"models={model}", f"methods={meth}", "--quiet"]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    with h5py.File(out, "r") as f:
        wall, _, cpu = np.asarray(f[f"time/{model}/{meth}"])
        data = {k: np.asarray(f[k]) for k in ("x", "target")}
        weights = {k: np.asarray(v) for k, v in f[f"weights/{model}"].items()}
    os.remove(out)
    return wall, cpu, data, weights


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sanity", default=os.path.join(ROOT, "bin", "sanity"))
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--models", default="lenet,resnet8")
    ap.add_argument("--methods", default="gradient,ig32,smoothgrad50")
    args = ap.parse_args()
    print(f"{'model':8s} {'threads':>7s}  {'method':13s} {'torch s':>8s} {'sanity s':>8s} {'speed-up':>8s}"
          f"   {'torch cpu':>9s} {'sanity cpu':>10s} {'speed-up':>8s}", flush=True)
    tmp = os.path.join(tempfile.gettempdir(), f"bench_attr_{os.getpid()}.h5")
    for th in (int(t) for t in args.threads.split(",")):
        torch.set_num_threads(th)
        for model in args.models.split(","):
            for meth in args.methods.split(","):
                sw, sc, tw, tc = [], [], [], []
                m = None
                for _ in range(args.reps):
                    wall, cpu, data, weights = run_sanity(args.sanity, th, model, meth, tmp)
                    sw.append(wall)
                    sc.append(cpu)
                    if m is None:
                        m = load(CLASSES[model], weights)
                        x = torch.from_numpy(data["x"])
                        y = torch.from_numpy(data["target"]).long()
                        METHODS[meth](m, x, y)  # warm-up
                    t0, c0 = time.perf_counter(), time.process_time()
                    METHODS[meth](m, x, y)
                    tw.append(time.perf_counter() - t0)
                    tc.append(time.process_time() - c0)
                print(f"{model:8s} {th:7d}  {meth:13s} {min(tw):8.3f} {min(sw):8.3f} {min(tw) / min(sw):7.2f}x"
                      f"   {min(tc):9.3f} {min(sc):10.3f} {min(tc) / min(sc):7.2f}x", flush=True)


if __name__ == "__main__":
    main()
