#!/usr/bin/python3
"""bench/attr_torch.py — PyTorch timings of the calls in bench/attr.lua on the
same weights, images and targets (read from the files attr.lua wrote, one per
thread count), and the sanity/PyTorch comparison.

    for t in 1 2; do bin/sanity run scripts/bench/attr.lua --threads $t --out /tmp/bench_attr_t$t.h5; done
    /usr/bin/python3 scripts/bench/attr_torch.py /tmp/bench_attr_t1.h5 /tmp/bench_attr_t2.h5 [--reps 3]

The PyTorch side is a straightforward batched implementation written from the
definitions (no attribution library): rows (samples x steps or draws) in
chunks of 256 rows, one forward and one autograd input-gradient per chunk,
parameters frozen, torch.set_num_threads(threads of the file), eval mode.
  gradient       d logit_target / d x
  ig32           Gauss-Legendre, 32 steps, zero baseline, and the
                 completeness gap (two extra forwards), as sanity returns it
  smoothgrad50   50 draws, noise sd = 0.15 (max - min) per sample
Prints min and median seconds per call and speed-up = PyTorch / sanity (min)."""
import argparse
import os
import sys
import time

import h5py
import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "fixtures"))
from make_nn_fixtures import LeNet, ResNet8  # noqa: E402

CHUNK = 256


def load(cls, f, name):
    m = cls()
    sd = m.state_dict()
    for k in sd:
        sd[k] = torch.from_numpy(np.asarray(f[f"weights/{name}/{k}"])).to(sd[k].dtype).reshape(sd[k].shape)
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
    for r0 in range(0, n * steps, CHUNK):
        r = rows[r0:r0 + CHUNK]
        s, k = r // steps, r % steps
        shape = (-1,) + (1,) * (x.dim() - 1)
        inp = base[s] + alpha[k].view(shape) * (x[s] - base[s])
        g = row_grads(model, inp, y[s])
        acc.index_add_(0, s, g * weight[k].view(shape))
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


def timed(fn, reps):
    fn()
    ts = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    ts.sort()
    return ts[0], ts[(len(ts) - 1) // 2]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("files", nargs="+")
    ap.add_argument("--reps", type=int, default=3)
    args = ap.parse_args()
    print(f"{'model':8s} {'threads':>7s}  {'method':14s} {'torch min':>9s} {'median':>8s} "
          f"{'sanity min':>10s} {'median':>8s} {'speed-up':>8s}")
    for path in args.files:
        with h5py.File(path, "r") as f:
            th = int(f.attrs["threads"])  # provenance: sanity's --threads
            torch.set_num_threads(th)
            x = torch.from_numpy(np.asarray(f["x"]))
            y = torch.from_numpy(np.asarray(f["target"])).long()
            for name, cls in (("lenet", LeNet), ("resnet8", ResNet8)):
                if f"time/{name}" not in f:
                    continue
                m = load(cls, f, name)
                for meth in f[f"time/{name}"]:
                    fn = {"gradient": gradient, "ig32": ig32, "smoothgrad50": smoothgrad50}[meth]
                    lo, med = timed(lambda: fn(m, x, y), args.reps)
                    s_lo, s_med = np.asarray(f[f"time/{name}/{meth}"])
                    print(f"{name:8s} {th:7d}  {meth:14s} {lo:9.3f} {med:8.3f} {s_lo:10.3f} {s_med:8.3f} "
                          f"{lo / s_lo:7.2f}x", flush=True)


if __name__ == "__main__":
    main()
