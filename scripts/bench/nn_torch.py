#!/usr/bin/python3
"""bench/nn_torch.py — PyTorch timings for the passes of bench/nn.lua (same
architectures, batch and thread counts), to compute sanity/PyTorch ratios.
    /usr/bin/python3 scripts/bench/nn_torch.py [--reps 20] [--batch 256]
Prints min and median milliseconds per pass."""
import argparse
import os
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "fixtures"))
from make_nn_fixtures import LeNet, MLP, ResNet8  # noqa: E402


def timed(fn, reps):
    fn()
    ms = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        ms.append((time.perf_counter() - t0) * 1e3)
    ms.sort()
    return ms[0], ms[(len(ms) - 1) // 2]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=20)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--threads", default="1,2")
    args = ap.parse_args()
    print(f"{'model':8s} {'threads':>7s}  {'pass':28s} {'min ms':>9s} {'median ms':>9s}")
    for name, cls in (("lenet", LeNet), ("resnet8", ResNet8), ("mlp", MLP)):
        m = cls().eval()
        x = torch.randn(args.batch, 1, 28, 28)
        g = torch.randn(args.batch, 10)
        for th in (int(t) for t in args.threads.split(",")):
            torch.set_num_threads(th)

            def fwd():
                with torch.no_grad():
                    m(x)

            def fwd_input():
                xi = x.clone().requires_grad_(True)
                for p in m.parameters():
                    p.requires_grad_(False)
                m(xi).backward(g)

            def fwd_all():
                for p in m.parameters():
                    p.requires_grad_(True)
                m.zero_grad()
                m(x).backward(g)

            for label, fn in (("forward", fwd), ("forward + input gradient", fwd_input),
                              ("forward + all gradients", fwd_all)):
                lo, med = timed(fn, args.reps)
                print(f"{name:8s} {th:7d}  {label:28s} {lo:9.2f} {med:9.2f}")


if __name__ == "__main__":
    main()
