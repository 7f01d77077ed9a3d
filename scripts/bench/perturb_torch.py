#!/usr/bin/python3
"""bench/perturb_torch.py — a PyTorch-batched equivalent of bench/perturb.lua:
LIME and KernelSHAP with 1000 samples on the same 64 Fashion-MNIST images
and the same LeNet weights (the file bench/perturb.lua writes with
export=PATH), a 4 x 4 grid (49 segments), baseline 0, explaining the labels.

The algorithms are sanity's (runtime/attr/surrogate.c), written the way a
PyTorch user would: masks drawn with numpy (LIME: Bernoulli(1/2), the first
sample all ones; KernelSHAP: the shap package's scheme, sizes enumerated while
the budget allows, the rest sampled with complements and repeats merged),
perturbed inputs built and scored in batches of --batch rows under no_grad,
the weighted least squares solved for all images at once with
torch.linalg.solve (float64). Timings include mask generation, forward
passes and regressions.
    /usr/bin/python3 scripts/bench/perturb_torch.py --weights /tmp/perturb_bench.h5 [--threads 1,2] [--reps 3] [--batch 256,1000]
"""
import argparse
import math
import os
import sys
import time
from itertools import combinations

import h5py
import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "fixtures"))
from make_nn_fixtures import LeNet  # noqa: E402


def load(path):
    with h5py.File(path, "r") as f:
        x = torch.from_numpy(f["x"][()].astype(np.float32))
        y = torch.from_numpy(f["y"][()].astype(np.int64))
        state = {k: torch.from_numpy(f[k][()].astype(np.float32)) for k in f.keys() if "." in k}
    m = LeNet().eval()
    m.load_state_dict(state)
    return m, x, y


def grid_segments(h, w, cell):
    ys, xs = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
    return torch.from_numpy((ys // cell) * ((w + cell - 1) // cell) + xs // cell).reshape(-1)


def scores(m, x, y, seg, z, batch):
    """f(x_i on z, 0 elsewhere) for masks z [N, S, M], batched over all rows."""
    n, s, _ = z.shape
    zt = torch.from_numpy(z)
    out = torch.empty(n * s)
    flat_x = x.reshape(n, -1)
    rows_i = torch.arange(n).repeat_interleave(s)
    rows_z = zt.reshape(n * s, -1)
    with torch.no_grad():
        for a in range(0, n * s, batch):
            b = min(a + batch, n * s)
            i = rows_i[a:b]
            pix = rows_z[a:b][:, seg].float()          # [rows, 784]
            inp = (flat_x[i] * pix).reshape(-1, *x.shape[1:])
            out[a:b] = m(inp).gather(1, y[i][:, None])[:, 0]
    return out.reshape(n, s).double()


def lime(m, x, y, seg, nseg, samples, batch, rng, kernel_width=0.25, alpha=1.0):
    n = x.shape[0]
    z = (rng.random((n, samples, nseg)) < 0.5).astype(np.uint8)
    z[:, 0] = 1
    f = scores(m, x, y, seg, z, batch)
    zt = torch.from_numpy(z).double()
    on = zt.sum(2)
    d = torch.where(on > 0, 1 - torch.sqrt(on / nseg), torch.ones_like(on))
    w = torch.exp(-d * d / (2 * kernel_width ** 2))
    a = torch.cat([zt, torch.ones(n, samples, 1, dtype=torch.float64)], 2)
    aw = a * w[..., None]
    g = aw.transpose(1, 2) @ a
    pen = torch.full((nseg + 1,), alpha, dtype=torch.float64)
    pen[-1] = 0
    g = g + torch.diag(pen)
    beta = torch.linalg.solve(g, (aw.transpose(1, 2) @ f[..., None]))[..., 0]
    return beta[:, :nseg]


def shap_masks(m, S, rng):
    """One sample's coalitions and weights (the shap KernelExplainer scheme)."""
    nss, npss = m // 2, (m - 1) // 2
    wv = np.array([(m - 1) / (k * (m - k)) for k in range(1, nss + 1)])
    wv[:npss] *= 2
    wv /= wv.sum()
    rem = wv.copy()
    left, nfull, zs, ws = S, 0, [], []
    for k in range(1, nss + 1):
        nsub = math.comb(m, k) * (2 if k <= npss else 1)
        if not (left * rem[k - 1] / nsub >= 1 - 1e-8) or nsub > left:
            break
        nfull += 1
        left -= nsub
        if rem[k - 1] < 1:
            rem /= 1 - rem[k - 1]
        wk = wv[k - 1] / math.comb(m, k) / (2 if k <= npss else 1)
        for c in combinations(range(m), k):
            v = np.zeros(m, np.uint8)
            v[list(c)] = 1
            zs.append(v)
            ws.append(wk)
            if k <= npss:
                zs.append(1 - v)
                ws.append(wk)
    nfixed = len(zs)
    if nfull < nss and left > 0:
        rw = wv[nfull:].copy()
        rw[:max(0, npss - nfull)] /= 2
        rw /= rw.sum()
        wleft = wv[nfull:].sum()
        seen = {}
        sizes = rng.choice(len(rw), 4 * S + 64, p=rw) + nfull + 1
        for k in sizes:
            if left <= 0:
                break
            v = np.zeros(m, np.uint8)
            v[rng.permutation(m)[:k]] = 1
            for u in ((v, 1 - v) if k <= npss else (v,)):
                if left <= 0:
                    break
                key = u.tobytes()
                if key in seen:
                    ws[seen[key]] += 1.0
                else:
                    seen[key] = len(zs)
                    zs.append(u)
                    ws.append(1.0)
                    left -= 1
        tail = np.array(ws[nfixed:])
        ws[nfixed:] = list(tail * wleft / tail.sum())
    return np.array(zs), np.array(ws)


def kernel_shap(m, x, y, seg, nseg, samples, batch, rng):
    n = x.shape[0]
    zw = [shap_masks(nseg, samples, rng) for _ in range(n)]
    z = np.stack([a for a, _ in zw])                     # every image gets the same count here
    w = torch.from_numpy(np.stack([b for _, b in zw]))
    f = scores(m, x, y, seg, z, batch)
    with torch.no_grad():
        fx = m(x).gather(1, y[:, None])[:, 0].double()
        f0 = m(torch.zeros_like(x)).gather(1, y[:, None])[:, 0].double()
    delta = fx - f0
    zt = torch.from_numpy(z).double()
    a = zt[..., :-1] - zt[..., -1:]                      # eliminate the last variable
    yy = f - f0[:, None] - zt[..., -1] * delta[:, None]
    aw = a * w[..., None]
    phi = torch.linalg.solve(aw.transpose(1, 2) @ a, aw.transpose(1, 2) @ yy[..., None])[..., 0]
    return torch.cat([phi, (delta - phi.sum(1))[:, None]], 1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--weights", default="/tmp/perturb_bench.h5")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--samples", type=int, default=1000)
    ap.add_argument("--batch", default="256,1000")
    args = ap.parse_args()
    m, x, y = load(args.weights)
    seg = grid_segments(28, 28, 4)
    nseg = int(seg.max()) + 1
    print(f"{'method':12s} {'threads':>7s} {'batch':>6s} {'min s':>10s} {'median s':>10s} {'images/s':>10s}")
    for th in (int(t) for t in args.threads.split(",")):
        torch.set_num_threads(th)
        for batch in (int(b) for b in args.batch.split(",")):
            for name, fn in (("lime", lime), ("kernel_shap", kernel_shap)):
                ts = []
                for r in range(args.reps):
                    rng = np.random.default_rng(r)
                    t0 = time.perf_counter()
                    fn(m, x, y, seg, nseg, args.samples, batch, rng)
                    ts.append(time.perf_counter() - t0)
                ts.sort()
                print(f"{name:12s} {th:7d} {batch:6d} {ts[0]:10.3f} {ts[(len(ts) - 1) // 2]:10.3f} "
                      f"{x.shape[0] / ts[0]:10.1f}", flush=True)


if __name__ == "__main__":
    main()
