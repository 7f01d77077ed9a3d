#!/usr/bin/python3
"""mprt_torch.py — the same cascading MPRT as scripts/bench/mprt.lua, written
the straightforward PyTorch way (deepcopy the model, re-initialize layers
top-down with reset_parameters, re-explain in batches of 256, scipy Spearman
per sample), on the same LeNet weights (read from data/lenet_fmnist.h5).

    /usr/bin/python3 scripts/bench/mprt_torch.py [--threads 1] [--n 1000] [--reps 3]
"""
import argparse
import copy
import gzip
import os
import sys
import time
from collections import OrderedDict


def _threads_from_argv():
    for i, a in enumerate(sys.argv):
        if a == "--threads" and i + 1 < len(sys.argv):
            return sys.argv[i + 1]
        if a.startswith("--threads="):
            return a.split("=", 1)[1]
    return "1"


# The thread count holds for NumPy/SciPy's BLAS and OpenMP too, set before
# they load: unset, their idle pools spin on the other core (measured: a
# "1-thread" run used 83 CPU-seconds in 47 s of wall time, and was slower).
for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, _threads_from_argv())

import h5py
import numpy as np
import scipy.stats
import torch
import torch.nn as nn

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")


def lenet():
    return nn.Sequential(OrderedDict([
        ("conv1", nn.Conv2d(1, 6, 5, padding=2)), ("relu1", nn.ReLU()), ("pool1", nn.MaxPool2d(2)),
        ("conv2", nn.Conv2d(6, 16, 5)), ("relu2", nn.ReLU()), ("pool2", nn.MaxPool2d(2)),
        ("flatten", nn.Flatten()), ("fc1", nn.Linear(400, 120)), ("relu3", nn.ReLU()),
        ("fc2", nn.Linear(120, 84)), ("relu4", nn.ReLU()), ("fc3", nn.Linear(84, 10))]))


def load(path):
    net = lenet().eval()
    with h5py.File(path, "r") as f:
        state = {k: torch.from_numpy(f[k.replace(".", "/", 1)][()]) for k in net.state_dict()}
    net.load_state_dict(state)
    return net


def fashion_mnist(n):
    d = os.environ.get("SANITY_DATA", "/usr/share/datasets/fashion-mnist")
    with gzip.open(os.path.join(d, "t10k-images-idx3-ubyte.gz")) as f:
        x = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 1, 28, 28)[:n]
    with gzip.open(os.path.join(d, "t10k-labels-idx1-ubyte.gz")) as f:
        y = np.frombuffer(f.read(), np.uint8, offset=8)[:n]
    return torch.from_numpy(x.astype(np.float32) / 255.0), torch.from_numpy(y.astype(np.int64))


def gradient(model, x, y):
    x = x.clone().requires_grad_(True)
    out = model(x)
    g, = torch.autograd.grad(out.gather(1, y[:, None]).sum(), x)
    return g


NODES, WEIGHTS = np.polynomial.legendre.leggauss(32)
ALPHAS, COEFS = (NODES + 1) / 2, WEIGHTS / 2


def integrated_gradients(model, x, y, chunk=256):
    """All steps of a batch of samples in one pass (zero baseline)."""
    out = torch.zeros_like(x)
    per = max(1, chunk // len(ALPHAS))
    for s in range(0, len(x), per):
        xs, ys = x[s:s + per], y[s:s + per]
        a = torch.tensor(ALPHAS, dtype=torch.float32).view(1, -1, 1, 1, 1)
        path = (xs[:, None] * a).reshape(-1, *x.shape[1:])
        g = gradient(model, path, ys.repeat_interleave(len(ALPHAS)))
        w = torch.tensor(COEFS, dtype=torch.float32).view(1, -1, 1, 1, 1)
        out[s:s + per] = xs * (g.view(len(xs), len(ALPHAS), *x.shape[1:]) * w).sum(1)
    return out


def explain(method, model, x, y, batch=256):
    if method == "gradient":
        return torch.cat([gradient(model, x[i:i + batch], y[i:i + batch]) for i in range(0, len(x), batch)])
    return integrated_gradients(model, x, y)


def spearman_abs(a, b):
    a, b = a.reshape(len(a), -1).abs().numpy(), b.reshape(len(b), -1).abs().numpy()
    return np.array([scipy.stats.spearmanr(a[i], b[i])[0] for i in range(len(a))])


def mprt(model, x, y):
    layers = ["fc3", "fc2", "fc1", "conv2", "conv1"]
    scores = {}
    for method in ("gradient", "integrated_gradients"):
        ref = explain(method, model, x, y)
        rand = copy.deepcopy(model)
        scores[method] = []
        for k, name in enumerate(layers):
            torch.manual_seed(k)
            getattr(rand, name).reset_parameters()
            scores[method].append(spearman_abs(ref, explain(method, rand, x, y)).mean())
    return scores


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--reps", type=int, default=3)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    model = load(os.path.join(ROOT, "data", "lenet_fmnist.h5"))
    x, y = fashion_mnist(a.n)
    best, scores = float("inf"), None
    for _ in range(a.reps):
        t0 = time.perf_counter()
        s = mprt(model, x, y)
        t = time.perf_counter() - t0
        if t < best:
            best, scores = t, s
    print("PyTorch MPRT: %d images, %d threads, gradient + IG-32, 5 steps: %.2f s (best of %d)"
          % (a.n, a.threads, best, a.reps))
    print("  last-step Spearman |.|: gradient %.3f, integrated_gradients %.3f"
          % (scores["gradient"][-1], scores["integrated_gradients"][-1]))


if __name__ == "__main__":
    main()
