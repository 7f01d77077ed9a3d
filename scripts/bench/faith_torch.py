#!/usr/bin/python3
"""bench/faith_torch.py — a PyTorch-batched equivalent of bench/faith.lua:
infidelity with 100 gaussian perturbations (sigma 0.1) and max-sensitivity
with 20 points (L-inf radius 0.02) of gradient maps, for the LeNet weights
and images bench/faith.lua exported. Perturbed inputs go through the model
in chunks of --chunk rows under no_grad (Captum's infidelity does the same
with max_examples_per_batch); the 20 re-explanations are batched over the
images.
    /usr/bin/python3 scripts/bench/faith_torch.py [--weights /tmp/faith_bench.h5] [--threads 1,2] [--reps 5]
Prints min and median seconds and samples/s per metric."""
import argparse
import os
import sys
import time

import h5py
import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "fixtures"))
from make_nn_fixtures import LeNet  # noqa: E402


def logit(m, x, y):
    return m(x).gather(1, y[:, None])[:, 0]


def gradient(m, x, y):
    x = x.clone().requires_grad_(True)
    logit(m, x, y).sum().backward()
    return x.grad


def infidelity(m, x, y, g, n_perturb=100, sigma=0.1, chunk=1024):
    n = x.shape[0]
    with torch.no_grad():
        f0 = logit(m, x, y)
        xr = x.repeat_interleave(n_perturb, 0)
        yr = y.repeat_interleave(n_perturb, 0)
        noise = torch.randn_like(xr) * sigma
        s = (noise * g.repeat_interleave(n_perturb, 0)).flatten(1).sum(1)
        fp = torch.cat([logit(m, xr[k:k + chunk] - noise[k:k + chunk], yr[k:k + chunk])
                        for k in range(0, xr.shape[0], chunk)])
        df = f0.repeat_interleave(n_perturb, 0) - fp
        return ((s - df) ** 2).view(n, n_perturb).mean(1)


def sensitivity_max(m, x, y, n=20, radius=0.02):
    g0 = gradient(m, x, y).flatten(1)
    norm = g0.norm(dim=1)
    best = torch.zeros(x.shape[0])
    for _ in range(n):
        xd = x + (torch.rand_like(x) * 2 - 1) * radius
        gd = gradient(m, xd, y).flatten(1)
        best = torch.maximum(best, (gd - g0).norm(dim=1) / norm)
    return best


def timed(fn, reps):
    out = fn()
    s = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        s.append(time.perf_counter() - t0)
    s.sort()
    return s[0], s[(len(s) - 1) // 2], out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--weights", default="/tmp/faith_bench.h5")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--chunk", type=int, default=1024)
    args = ap.parse_args()
    m = LeNet().eval()
    with h5py.File(args.weights, "r") as f:
        m.load_state_dict({k: torch.from_numpy(f["params"][k][()]) for k in f["params"]})
        x = torch.from_numpy(f["x"][()])
        y = torch.from_numpy(f["y"][()]).long()
    for p in m.parameters():
        p.requires_grad_(False)
    n = x.shape[0]
    torch.manual_seed(0)
    for th in (int(t) for t in args.threads.split(",")):
        torch.set_num_threads(th)
        g = gradient(m, x, y)
        lo_i, med_i, inf = timed(lambda: infidelity(m, x, y, g, chunk=args.chunk), args.reps)
        lo_s, med_s, sens = timed(lambda: sensitivity_max(m, x, y), args.reps)
        print(f"torch {torch.__version__}, threads {th}, {n} images, chunk {args.chunk}")
        print(f"{'metric':34s} {'min s':>8s} {'median s':>8s} {'samples/s':>10s}  mean value")
        print(f"{'infidelity (gaussian 0.1, 100)':34s} {lo_i:8.3f} {med_i:8.3f} {n / lo_i:10.1f}  {inf.mean():.5g}")
        print(f"{'max-sensitivity (gradient, 20)':34s} {lo_s:8.3f} {med_s:8.3f} {n / lo_s:10.1f}  {sens.mean():.5g}")
        print(f"{'both':34s} {lo_i + lo_s:8.3f} {med_i + med_s:8.3f} {n / (lo_i + lo_s):10.1f}")


if __name__ == "__main__":
    main()
