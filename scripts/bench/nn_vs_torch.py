#!/usr/bin/python3
"""bench/nn_vs_torch.py — sanity vs PyTorch on LeNet and ResNet-8 (and the
MLP with --models mlp,lenet,resnet8) with the same weights (exported with
scripts/export_torch.py), batch 256 and thread
counts (torch.set_num_threads / sanity --threads): forward, forward + input
gradient (eval mode), and one training epoch (train mode, SGD momentum 0.9,
lr 0.01, batch 256, shuffled, over `--epoch-samples` Fashion-MNIST training
images; 60000 = a full epoch). Prints min and median milliseconds of each
side and the ratio sanity/PyTorch of the medians (< 1: sanity is faster).

    /usr/bin/python3 scripts/bench/nn_vs_torch.py [--threads 1,2] [--reps 10]
        [--epoch-samples 60000] [--epoch-reps 1] [--models lenet,resnet8]
        [--sanity bin/sanity]

The machine this runs on may be shared: run it when it is idle, compare
medians, and repeat to see the spread."""
import argparse
import gzip
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..", "..")
sys.path.insert(0, os.path.join(ROOT, "scripts"))
sys.path.insert(0, os.path.join(ROOT, "scripts", "fixtures"))
from export_torch import export  # noqa: E402
from make_nn_fixtures import MLP, LeNet, ResNet8  # noqa: E402

DATA = os.environ.get("SANITY_DATA", "/usr/share/datasets/fashion-mnist")


def idx(path):
    with gzip.open(path, "rb") as f:
        raw = f.read()
    ndim = raw[3]
    shape = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


def timed(fn, reps):
    fn()
    ms = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        ms.append((time.perf_counter() - t0) * 1e3)
    ms.sort()
    return ms[0], ms[(len(ms) - 1) // 2]


def torch_side(models, threads, args, x, g, xtr, ytr):
    res = {}
    for name, m in models.items():
        for th in threads:
            torch.set_num_threads(th)
            m.eval()

            def fwd():
                with torch.no_grad():
                    m(x)

            def fwd_input():
                xi = x.clone().requires_grad_(True)
                for p in m.parameters():
                    p.requires_grad_(False)
                m(xi).backward(g)

            res[(name, th, "forward")] = timed(fwd, args.reps)
            res[(name, th, "forward + input gradient")] = timed(fwd_input, args.reps)
            if args.epoch_samples > 0:
                r = type(m)()
                r.load_state_dict(m.state_dict())
                r.train()
                opt = torch.optim.SGD(r.parameters(), lr=0.01, momentum=0.9)
                n = xtr.shape[0]
                ts = []
                for rep in range(args.epoch_reps):
                    torch.manual_seed(rep)
                    t0 = time.perf_counter()
                    perm = torch.randperm(n)
                    for i in range(0, n, 256):
                        b = perm[i:i + 256]
                        opt.zero_grad()
                        F.cross_entropy(r(xtr[b]), ytr[b]).backward()
                        opt.step()
                    ts.append((time.perf_counter() - t0) * 1e3)
                ts.sort()
                res[(name, th, "training epoch")] = (ts[0], ts[(len(ts) - 1) // 2])
            print(f"torch {name} threads={th} done", file=sys.stderr)
    return res


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--reps", type=int, default=10)
    ap.add_argument("--epoch-samples", type=int, default=60000)
    ap.add_argument("--epoch-reps", type=int, default=1)
    ap.add_argument("--models", default="lenet,resnet8")
    ap.add_argument("--sanity", default=os.path.join(ROOT, "bin", "sanity"))
    args = ap.parse_args()
    threads = [int(t) for t in args.threads.split(",")]
    names = args.models.split(",")
    torch.manual_seed(0)
    ctors = {"lenet": LeNet, "mlp": MLP, "resnet8": ResNet8}
    models = {n: ctors[n]() for n in names}
    x = torch.from_numpy(idx(f"{DATA}/t10k-images-idx3-ubyte.gz")[:256].astype(np.float32) / 255).unsqueeze(1)
    g = torch.randn(256, 10)
    xtr = ytr = None
    if args.epoch_samples > 0:
        xtr = torch.from_numpy(idx(f"{DATA}/train-images-idx3-ubyte.gz")[:args.epoch_samples].astype(np.float32)
                               / 255).unsqueeze(1)
        ytr = torch.from_numpy(idx(f"{DATA}/train-labels-idx1-ubyte.gz")[:args.epoch_samples].astype(np.int64))
    with tempfile.TemporaryDirectory() as d:
        for n, m in models.items():
            export(m, os.path.join(d, n + ".h5"), input_shape=(1, 28, 28))
        cmd = [args.sanity, "run", os.path.join(HERE, "nn_vs_torch.lua"), f"dir={d}", f"models={args.models}",
               f"threads_list={args.threads}", f"reps={args.reps}", f"epoch_samples={args.epoch_samples}",
               f"epoch_reps={args.epoch_reps}", "--quiet"]
        out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
        print("sanity done", file=sys.stderr)
    san = {}
    for line in out.splitlines():
        if line.startswith("RESULT\t"):
            _, n, th, p, lo, med = line.split("\t")
            san[(n, int(th), p)] = (float(lo), float(med))
    tor = torch_side(models, threads, args, x, g, xtr, ytr)
    ep = f" ({args.epoch_samples} images)" if args.epoch_samples != 60000 else ""
    print(f"torch {torch.__version__}; batch 256; times in ms (min / median); ratio = sanity / PyTorch medians")
    print(f"{'model':8s} {'thr':>3s}  {'pass':26s} {'sanity':>19s} {'PyTorch':>19s} {'ratio':>6s}")
    for key in sorted(san, key=lambda k: (names.index(k[0]), k[1])):
        s, t = san[key], tor[key]
        label = key[2] + (ep if key[2] == "training epoch" else "")
        print(f"{key[0]:8s} {key[1]:3d}  {label:26s} {s[0]:9.1f} / {s[1]:7.1f} {t[0]:9.1f} / {t[1]:7.1f} "
              f"{s[1] / t[1]:6.2f}")


if __name__ == "__main__":
    main()
