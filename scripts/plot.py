#!/usr/bin/python3
"""plot.py — figures from sanity's results files (h5py + matplotlib, Agg).

    plot.py cascade FILE.h5 [-o out.png] [--group mprt] [--measure M] [--select key=value ...]
    plot.py maps    FILE.h5 [-o out.png] [--group mprt] [--examples N] [--methods a,b] [--select ...]
    plot.py sweep   MERGED.h5 [-o out.png] [--group mprt] [--method M] [--measure M] [--x KEY --y KEY] [--step S]
    plot.py bars    FILE.h5 [-o out.png] [--group mprt] [--measure M] [--step S] [--select ...]
    plot.py all     FILE.h5 [-o DIR] [...]   cascade, maps and bars (and sweep for a merged
                                            file) as DIR/<name>_<cmd>.png, in one process

What it reads (the layout the protocols write):
    /<group>/scores            [method, step, measure, sample]   similarity of original vs randomized explanation
    /<group>/maps/original     [method, example, channel, y, x]
    /<group>/maps/randomized   [method, step, example, channel, y, x]
    /<group>/maps/input        [example, channel, y, x]
and, in a file made by `sanity merge`, the same arrays with a leading `run`
dimension plus /config/<key> [run]. On a merged file, --select key=value
(repeatable; values compared as numbers when they look like numbers, e.g.
--select noise=0.1) keeps matching runs; cascade and bars pool the samples
of the runs left, maps shows the first of them. Missing entries (NaN, from
`sanity merge --pad`) are ignored in means and deviations.

Exit status 0, or 1 with a one-line message for a missing group/array or a
selection that matches no run. Debian: apt install python3-h5py python3-matplotlib.
"""
import argparse
import os
import sys

import matplotlib

matplotlib.use("Agg")
import h5py  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


class PlotError(Exception):
    pass


def strings(ds):
    """A dataset of strings as a list of str (h5py 2 and 3)."""
    values = ds.asstr()[()] if hasattr(ds, "asstr") else ds[()]
    values = np.atleast_1d(values)
    return [v.decode() if isinstance(v, bytes) else str(v) for v in values]


def coords(ds, dim):
    """Coordinates of dimension `dim` of ds as strings (index numbers when none)."""
    d = ds.dims[dim]
    if len(d) == 0:
        return [str(i) for i in range(ds.shape[dim])]
    scale = d[0]
    if scale.dtype.kind in "OSU":
        return strings(scale)
    vals = scale[()]
    return [("%g" % v) if np.issubdtype(vals.dtype, np.floating) else str(v) for v in vals]


def dim_names(ds):
    return [ds.dims[i].label or "" for i in range(ds.ndim)]


def get(f, name):
    if name not in f:
        where = name.rsplit("/", 1)[0] or "/"
        have = ", ".join(sorted(f[where].keys())) if where in f else "no such group"
        raise PlotError("%s has no '%s' (%s holds: %s)" % (f.filename, name, where, have))
    return f[name]


def config_values(f, key):
    ds = get(f, "config/" + key)
    if ds.dtype.kind in "OSU":
        return strings(ds)
    return list(ds[()])


def select_runs(f, ds, selects):
    """Indices of the runs kept by --select (all runs of a merged file, or
    [None] for a single run's file)."""
    names = dim_names(ds)
    if not names or names[0] != "run":
        if selects:
            raise PlotError("--select needs a merged file (sanity merge); %s has no 'run' dimension" % f.filename)
        return [None]
    keep = list(range(ds.shape[0]))
    for sel in selects or []:
        if "=" not in sel:
            raise PlotError("--select needs key=value, got '%s'" % sel)
        key, want = sel.split("=", 1)
        vals = config_values(f, key)
        def match(v):
            try:
                return float(v) == float(want)
            except (TypeError, ValueError):
                return str(v) == want
        keep = [r for r in keep if match(vals[r])]
    if not keep:
        raise PlotError("no run matches %s" % " ".join(selects))
    return keep


def take_runs(ds, runs):
    """The array with the kept runs stacked on axis 0 (a single run: axis of 1)."""
    if runs == [None]:
        return ds[()][np.newaxis]
    return np.stack([ds[r] for r in runs])


def last_step(scores):
    """Index of the last step holding a finite value, per leading entry.
    scores: [..., step, measure, sample] -> int array of the leading shape."""
    finite = np.isfinite(scores).any(axis=(-1, -2))  # [..., step]
    idx = np.where(finite, np.arange(finite.shape[-1]), -1).max(axis=-1)
    return idx


def save(fig, out):
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    fig.savefig(out, dpi=110, bbox_inches="tight")
    plt.close(fig)
    print(out)


def measure_list(ds_measures, wanted):
    if wanted is None:
        return list(range(len(ds_measures)))
    if wanted not in ds_measures:
        raise PlotError("no measure '%s' (the file has: %s)" % (wanted, ", ".join(ds_measures)))
    return [ds_measures.index(wanted)]


def cmd_cascade(f, a):
    ds = get(f, a.group + "/scores")
    runs = select_runs(f, ds, a.select)
    off = 0 if runs == [None] else 1
    methods, steps, measures = coords(ds, off), coords(ds, off + 1), coords(ds, off + 2)
    data = take_runs(ds, runs)  # [run, method, step, measure, sample]
    data = np.moveaxis(data, 0, -2).reshape(data.shape[1:-1] + (-1,))  # pool runs with samples
    which = measure_list(measures, a.measure)
    fig, axes = plt.subplots(1, len(which), figsize=(4.2 * len(which), 3.4), squeeze=False)
    # The protocols record step "original" (a second explanation of the
    # trained model: 1, or the noise floor of a stochastic method); files
    # without it get the ideal point 1 prepended.
    has_original = bool(steps) and steps[0] == "original"
    labels = steps if has_original else ["original"] + steps
    x = np.arange(len(labels))
    for ax, k in zip(axes[0], which):
        for m, name in enumerate(methods):
            vals = data[m, :, k, :]  # [step, pooled samples]
            with np.errstate(all="ignore"):
                mean, std = np.nanmean(vals, axis=-1), np.nanstd(vals, axis=-1)
            if not has_original:
                mean, std = np.concatenate([[1.0], mean]), np.concatenate([[0.0], std])
            # 10 colours repeat from the 11th method on: give those a dashed line
            line, = ax.plot(x, mean, marker="o", ms=3, label=name, ls="-" if m < 10 else "--")
            ax.fill_between(x, mean - std, mean + std, color=line.get_color(), alpha=0.2, lw=0)
        ax.set_xticks(x)
        ax.set_xticklabels(labels, rotation=45, ha="right")
        ax.set_title(measures[k])
        ax.set_xlabel("randomized up to layer (%s)" % f[a.group].attrs.get("order", "cascade"))
        ax.set_ylabel("similarity to the original explanation")
        ax.axhline(0, color="0.8", lw=0.8, zorder=0)
        ax.grid(alpha=0.3)
    axes[0][-1].legend(fontsize=8, frameon=False, loc="upper left", bbox_to_anchor=(1.02, 1))
    fig.suptitle(title(f, a, "cascading randomization"), y=1.03)
    save(fig, a.out)


def title(f, a, what):
    g = f[a.group]
    model = g.attrs.get("model", "")
    if isinstance(model, bytes):
        model = model.decode()
    parts = [str(g.attrs.get("protocol", a.group)), what]
    if model:
        parts.append("model " + str(model))
    if a.select:
        parts.append(", ".join(a.select))
    return " — ".join(str(p) for p in parts)


def heat(ax, m):
    """An attribution map [channel, y, x] as a heat map of |value| summed
    over channels, scaled to its own maximum."""
    h = np.nansum(np.abs(m), axis=0)
    top = np.nanmax(h) if np.isfinite(h).any() else 0
    ax.imshow(h / top if top > 0 else h, cmap="hot", vmin=0, vmax=1)


def image(ax, x):
    x = np.asarray(x, dtype=float)
    if x.shape[0] == 1:
        ax.imshow(x[0], cmap="gray")
    else:
        img = np.moveaxis(x[:3], 0, -1)
        lo, hi = np.nanmin(img), np.nanmax(img)
        ax.imshow((img - lo) / (hi - lo) if hi > lo else img * 0)


def cmd_maps(f, a):
    orig = get(f, a.group + "/maps/original")
    rand = get(f, a.group + "/maps/randomized")
    runs = select_runs(f, orig, a.select)
    r = runs[0]
    off = 0 if r is None else 1
    methods, steps = coords(orig, off), coords(rand, off + 1)
    # maps/original is the reference; a randomized step "original" (the
    # trained model explained again) would repeat it, so it is not shown
    first = 1 if steps and steps[0] == "original" else 0
    steps = steps[first:]
    O = orig[()] if r is None else orig[r]  # [method, example, c, y, x]
    R = rand[()] if r is None else rand[r]  # [method, step, example, c, y, x]
    inp = None
    if a.group + "/maps/input" in f:
        ds = f[a.group + "/maps/input"]
        inp = ds[()] if r is None else ds[r]
    keep = list(range(len(methods)))
    if a.methods:
        want = a.methods.split(",")
        missing = [m for m in want if m not in methods]
        if missing:
            raise PlotError("no method %s (the file has: %s)" % (", ".join(missing), ", ".join(methods)))
        keep = [methods.index(m) for m in want]
    nex = min(a.examples, O.shape[1])
    ncols = (1 if inp is not None else 0) + 1 + len(steps)
    rows = [(m, e) for e in range(nex) for m in keep]
    fig, axes = plt.subplots(len(rows), ncols, figsize=(1.3 * ncols + 1, 1.3 * len(rows) + 0.6), squeeze=False)
    for i, (m, e) in enumerate(rows):
        c = 0
        if inp is not None:
            image(axes[i][c], inp[e])
            c += 1
        heat(axes[i][c], O[m, e])
        for s in range(len(steps)):
            heat(axes[i][c + 1 + s], R[m, s + first, e])
        axes[i][0].set_ylabel("%s\nexample %d" % (methods[m], e), fontsize=8)
    heads = (["input"] if inp is not None else []) + ["original"] + steps
    for c, h in enumerate(heads):
        axes[0][c].set_title(h, fontsize=8)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(title(f, a, "explanations as layers are randomized"), fontsize=10)
    save(fig, a.out)


def cmd_sweep(f, a):
    ds = get(f, a.group + "/scores")
    if dim_names(ds)[:1] != ["run"]:
        raise PlotError("%s is not a merged file (sanity merge DIR -o FILE.h5): %s has no 'run' dimension"
                        % (f.filename, ds.name))
    methods, steps, measures = coords(ds, 1), coords(ds, 2), coords(ds, 3)
    m = methods.index(a.method) if a.method else 0
    if a.method and a.method not in methods:
        raise PlotError("no method '%s' (the file has: %s)" % (a.method, ", ".join(methods)))
    k = measure_list(measures, a.measure)[0]
    keys = [k2 for k2 in get(f, "config").keys() if k2 not in ("id", "index", "run")]
    varied = [key for key in keys if len(set(map(str, config_values(f, key)))) > 1]
    x, y = a.x, a.y
    if not x or not y:
        if len(varied) < 2:
            raise PlotError("a sweep heatmap needs two swept keys; %s varies %s (give --x and --y)"
                            % (f.filename, ", ".join(varied) or "none"))
        x, y = x or varied[0], y or [v for v in varied if v != (x or varied[0])][0]
    data = ds[()]  # [run, method, step, measure, sample]
    if a.step:
        if a.step not in steps:
            raise PlotError("no step '%s' (the file has: %s)" % (a.step, ", ".join(steps)))
        per_run = data[:, m, steps.index(a.step), k, :]
        what = "step " + a.step
    else:
        last = last_step(data[:, m])  # per run
        per_run = np.stack([data[r, m, max(last[r], 0), k, :] for r in range(data.shape[0])])
        what = "last step"
    with np.errstate(all="ignore"):
        value = np.nanmean(per_run, axis=-1)
    xv, yv = config_values(f, x), config_values(f, y)
    xs = sorted(set(xv), key=lambda v: (isinstance(v, str), v))
    ys = sorted(set(yv), key=lambda v: (isinstance(v, str), v))
    grid = np.full((len(ys), len(xs)), np.nan)
    count = np.zeros_like(grid)
    for r in range(len(value)):
        i, j = ys.index(yv[r]), xs.index(xv[r])
        if np.isfinite(value[r]):
            grid[i, j] = value[r] if count[i, j] == 0 else grid[i, j] + value[r]
            count[i, j] += 1
    with np.errstate(all="ignore"):
        grid = grid / np.where(count > 0, count, np.nan)
    fig, ax = plt.subplots(figsize=(1.0 + 0.9 * len(xs), 1.0 + 0.7 * len(ys)))
    im = ax.imshow(grid, cmap="viridis", origin="lower", aspect="auto")
    for i in range(len(ys)):
        for j in range(len(xs)):
            if np.isfinite(grid[i, j]):
                ax.text(j, i, "%.2f" % grid[i, j], ha="center", va="center", fontsize=8,
                        color="white" if grid[i, j] < np.nanmean(grid) else "black")
    ax.set_xticks(range(len(xs)))
    ax.set_xticklabels([str(v) for v in xs])
    ax.set_yticks(range(len(ys)))
    ax.set_yticklabels([str(v) for v in ys])
    ax.set_xlabel(x)
    ax.set_ylabel(y)
    fig.colorbar(im, ax=ax, label="mean %s at the %s" % (measures[k], what))
    others = [v for v in varied if v not in (x, y)]
    ax.set_title("%s, %s%s" % (methods[m], measures[k], " (mean over %s)" % ", ".join(others) if others else ""),
                 fontsize=9)
    save(fig, a.out)


def cmd_bars(f, a):
    ds = get(f, a.group + "/scores")
    runs = select_runs(f, ds, a.select)
    off = 0 if runs == [None] else 1
    methods, steps, measures = coords(ds, off), coords(ds, off + 1), coords(ds, off + 2)
    data = take_runs(ds, runs)  # [run, method, step, measure, sample]
    which = measure_list(measures, a.measure)
    if a.step:
        if a.step not in steps:
            raise PlotError("no step '%s' (the file has: %s)" % (a.step, ", ".join(steps)))
        at = np.full(data.shape[:2], steps.index(a.step))
        what = "step " + a.step
    else:
        at = last_step(data)  # [run, method]
        what = "last step"
    fig, ax = plt.subplots(figsize=(1.2 + 1.1 * len(methods) * max(1, len(which)) / 2, 3.4))
    width = 0.8 / len(which)
    for j, k in enumerate(which):
        means, stds = [], []
        for m in range(len(methods)):
            vals = np.concatenate([data[r, m, max(at[r, m], 0), k, :] for r in range(data.shape[0])])
            with np.errstate(all="ignore"):
                means.append(np.nanmean(vals))
                stds.append(np.nanstd(vals))
        pos = np.arange(len(methods)) + (j - (len(which) - 1) / 2) * width
        ax.bar(pos, means, width, yerr=stds, capsize=3, label=measures[k])
    ax.set_xticks(np.arange(len(methods)))
    ax.set_xticklabels(methods)
    ax.set_ylabel("similarity at the %s (mean ± std)" % what)
    ax.axhline(0, color="0.5", lw=0.8)
    ax.legend(fontsize=8, frameon=False, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    ax.grid(axis="y", alpha=0.3)
    ax.set_title(title(f, a, "per method"), fontsize=9)
    save(fig, a.out)


def cmd_all(f, a):
    stem = os.path.splitext(os.path.basename(a.file))[0]
    outdir = a.out or os.path.dirname(os.path.abspath(a.file))
    merged = dim_names(get(f, a.group + "/scores"))[:1] == ["run"]
    todo = [("cascade", cmd_cascade), ("bars", cmd_bars)]
    if a.group + "/maps/original" in f:
        todo.insert(1, ("maps", cmd_maps))
    if merged:
        todo.append(("sweep", cmd_sweep))
    for name, fn in todo:
        b = argparse.Namespace(**vars(a))
        b.out = os.path.join(outdir, "%s_%s.png" % (stem, name))
        if name == "sweep":
            b.x = b.y = b.method = b.step = None
        fn(f, b)


COMMANDS = {"cascade": cmd_cascade, "maps": cmd_maps, "sweep": cmd_sweep, "bars": cmd_bars, "all": cmd_all}


def main(argv=None):
    p = argparse.ArgumentParser(prog="plot.py", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    for name in COMMANDS:
        s = sub.add_parser(name)
        s.add_argument("file")
        s.add_argument("-o", "--out", help="PNG to write (default: FILE_<cmd>.png beside FILE); "
                       "for 'all': the directory (default: FILE's)")
        s.add_argument("--group", default="mprt", help="group of the protocol's results (default mprt)")
        s.add_argument("--measure", help="one measure (default: all for cascade/bars, the first for sweep)")
        if name in ("cascade", "maps", "bars", "all"):
            s.add_argument("--select", action="append", metavar="KEY=VALUE", help="runs of a merged file")
        if name in ("maps", "all"):
            s.add_argument("--examples", type=int, default=2, help="examples shown per method (default 2)")
            s.add_argument("--methods", help="comma list of methods (default all)")
        if name in ("sweep", "bars", "all"):
            s.add_argument("--step", help="randomization step (default: each run's last)")
        if name == "sweep":
            s.add_argument("--method", help="method (default: the first)")
            s.add_argument("--x", help="config key on the x axis")
            s.add_argument("--y", help="config key on the y axis")
    a = p.parse_args(argv)
    if not a.out and a.cmd != "all":
        a.out = os.path.splitext(a.file)[0] + "_" + a.cmd + ".png"
    try:
        with h5py.File(a.file, "r") as f:
            if a.group not in f:
                raise PlotError("%s has no group '%s' (it has: %s)" % (a.file, a.group, ", ".join(sorted(f.keys()))))
            COMMANDS[a.cmd](f, a)
    except (OSError, PlotError) as e:
        print("plot.py %s: %s" % (a.cmd, e), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
