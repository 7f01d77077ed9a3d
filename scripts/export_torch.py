#!/usr/bin/python3
"""export_torch.py — a PyTorch model -> sanity model file (HDF5), so a user's
own trained model can be checked with sanity (model.load(path)).

The model is traced with torch.fx, so nn.Sequential chains and modules with
a forward() written in plain PyTorch (residual blocks such as ResNet basic
blocks, F.relu, torch.flatten, x + y, x.view(x.size(0), -1)) both work.
Supported: Conv2d (zero padding), Linear, MaxPool2d, AvgPool2d,
AdaptiveAvgPool2d, BatchNorm1d/2d, ReLU, LeakyReLU, Tanh, Sigmoid,
Softmax/LogSoftmax over dim 1, Flatten, Dropout, Identity, addition of two
tensors, and their functional forms. Anything else stops the export with a
message naming the node.

Layer names are the modules' qualified names ("stage1.conv1", "0" in a
Sequential), so sanity's parameter names equal the state_dict keys; layers
written as functions are named after their torch.fx node ("relu_1", "add").

File format (README "Model files"): root attributes format="sanity.model",
format_version=1, architecture=<JSON>; one group per layer with weight,
bias, running_mean, running_var (float32, PyTorch layout) and
num_batches_tracked (int64).

Use as a library:
    from export_torch import export
    export(model, "mine.h5", input_shape=(1, 28, 28))
or from the command line (the factory is called without arguments):
    /usr/bin/python3 scripts/export_torch.py pkg.module:LeNet out.h5 \\
        [--state-dict weights.pt] [--input-shape 1,28,28]
    /usr/bin/python3 scripts/export_torch.py path/to/file.py:make_model out.h5
    /usr/bin/python3 scripts/export_torch.py --pickled model.pt out.h5
"""
import argparse
import importlib
import importlib.util
import json
import operator
import os
import sys

import h5py
import numpy as np
import torch
import torch.fx
import torch.nn as nn
import torch.nn.functional as F

FORMAT, VERSION = "sanity.model", 1


class ExportError(Exception):
    pass


def _pair(v):
    if isinstance(v, (tuple, list)):
        if len(v) != 2:
            raise ExportError(f"expected a pair, got {v!r}")
        return [int(v[0]), int(v[1])]
    return [int(v), int(v)]


def _conv_padding(m):
    if m.padding_mode != "zeros":
        raise ExportError(f"padding_mode '{m.padding_mode}' (sanity pads with zeros)")
    p = m.padding
    if p == "valid":
        return [0, 0]
    if p == "same":
        out = []
        for k, d, s in zip(m.kernel_size, m.dilation, m.stride):
            total = d * (k - 1)
            if s != 1 or total % 2:
                raise ExportError("padding='same' with an asymmetric padding")
            out.append(total // 2)
        return out
    return _pair(p)


def _pool_checks(m, what):
    if getattr(m, "ceil_mode", False):
        raise ExportError(f"{what} with ceil_mode=True")
    if getattr(m, "return_indices", False):
        raise ExportError(f"{what} with return_indices=True")
    if _pair(getattr(m, "dilation", 1)) != [1, 1]:
        raise ExportError(f"{what} with dilation")
    if getattr(m, "divisor_override", None) is not None:
        raise ExportError(f"{what} with divisor_override")


def _module_layer(m):
    """(type, config) of a leaf module, or raise ExportError."""
    if isinstance(m, nn.Conv2d):
        return "conv2d", {"in_channels": m.in_channels, "out_channels": m.out_channels,
                          "kernel_size": _pair(m.kernel_size), "stride": _pair(m.stride),
                          "padding": _conv_padding(m), "dilation": _pair(m.dilation),
                          "groups": m.groups, "bias": m.bias is not None}
    if isinstance(m, nn.Linear):
        return "linear", {"in_features": m.in_features, "out_features": m.out_features,
                          "bias": m.bias is not None}
    if isinstance(m, nn.MaxPool2d):
        _pool_checks(m, "MaxPool2d")
        return "maxpool2d", {"kernel_size": _pair(m.kernel_size),
                             "stride": _pair(m.stride if m.stride is not None else m.kernel_size),
                             "padding": _pair(m.padding)}
    if isinstance(m, nn.AvgPool2d):
        _pool_checks(m, "AvgPool2d")
        return "avgpool2d", {"kernel_size": _pair(m.kernel_size),
                             "stride": _pair(m.stride if m.stride is not None else m.kernel_size),
                             "padding": _pair(m.padding), "count_include_pad": bool(m.count_include_pad)}
    if isinstance(m, nn.AdaptiveAvgPool2d):
        if m.output_size is None or (isinstance(m.output_size, tuple) and None in m.output_size):
            raise ExportError("AdaptiveAvgPool2d with a None output size")
        return "adaptive_avgpool2d", {"output_size": _pair(m.output_size)}
    if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
        if not m.track_running_stats or m.running_mean is None:
            raise ExportError("batch norm without running statistics (track_running_stats=False)")
        if m.momentum is None:
            raise ExportError("batch norm with momentum=None (cumulative average)")
        kind = "batchnorm2d" if isinstance(m, nn.BatchNorm2d) else "batchnorm1d"
        return kind, {"num_features": m.num_features, "eps": float(m.eps), "momentum": float(m.momentum)}
    if isinstance(m, nn.ReLU):
        return "relu", {}
    if isinstance(m, nn.LeakyReLU):
        return "leaky_relu", {"negative_slope": float(m.negative_slope)}
    if isinstance(m, nn.Tanh):
        return "tanh", {}
    if isinstance(m, nn.Sigmoid):
        return "sigmoid", {}
    if isinstance(m, (nn.Softmax, nn.LogSoftmax)):
        if m.dim not in (1, -1):
            raise ExportError(f"{type(m).__name__} over dim {m.dim} (sanity: over dim 1 of [N, classes])")
        return ("softmax" if isinstance(m, nn.Softmax) else "log_softmax"), {}
    if isinstance(m, nn.Flatten):
        if m.start_dim != 1 or m.end_dim != -1:
            raise ExportError("Flatten other than start_dim=1, end_dim=-1")
        return "flatten", {}
    if isinstance(m, nn.Dropout):
        return "dropout", {"p": float(m.p)}
    if isinstance(m, nn.Identity):
        return "identity", {}
    raise ExportError(f"module type {type(m).__name__} is not supported")


def _arg(node, i, name, default):
    if len(node.args) > i:
        return node.args[i]
    return node.kwargs.get(name, default)


def _function_layer(node):
    """(type, config, tensor inputs) of a call_function / call_method node."""
    t, a = node.target, node.args
    if node.op == "call_method":
        if t in ("relu", "tanh", "sigmoid"):
            return t, {}, [a[0]]
        if t == "flatten":
            if _arg(node, 1, "start_dim", 0) != 1 or _arg(node, 2, "end_dim", -1) != -1:
                raise ExportError("x.flatten() other than flatten(1)")
            return "flatten", {}, [a[0]]
        if t in ("view", "reshape") and len(a) == 3 and a[2] == -1 and isinstance(a[1], torch.fx.Node) \
                and a[1].op == "call_method" and a[1].target == "size" and a[1].args[0] is a[0] \
                and _arg(a[1], 1, "dim", None) == 0:
            return "flatten", {}, [a[0]]
        if t == "add" and isinstance(a[1], torch.fx.Node):
            return "add", {}, [a[0], a[1]]
        raise ExportError(f"tensor method '{t}' with arguments {a!r} is not supported")
    if t in (F.relu, torch.relu):
        return "relu", {}, [a[0]]
    if t is F.leaky_relu:
        return "leaky_relu", {"negative_slope": float(_arg(node, 1, "negative_slope", 0.01))}, [a[0]]
    if t in (torch.tanh, F.tanh):
        return "tanh", {}, [a[0]]
    if t in (torch.sigmoid, F.sigmoid):
        return "sigmoid", {}, [a[0]]
    if t in (F.softmax, F.log_softmax, torch.softmax, torch.log_softmax):
        if _arg(node, 1, "dim", None) not in (1, -1):
            raise ExportError("softmax/log_softmax must be over dim 1")
        return ("softmax" if t in (F.softmax, torch.softmax) else "log_softmax"), {}, [a[0]]
    if t is torch.flatten:
        if _arg(node, 1, "start_dim", 0) != 1 or _arg(node, 2, "end_dim", -1) != -1:
            raise ExportError("torch.flatten other than torch.flatten(x, 1)")
        return "flatten", {}, [a[0]]
    if t in (F.max_pool2d, F.avg_pool2d):
        k = _arg(node, 1, "kernel_size", None)
        s = _arg(node, 2, "stride", None) or k
        p = _arg(node, 3, "padding", 0)
        if _arg(node, 5 if t is F.max_pool2d else 4, "ceil_mode", False):
            raise ExportError("pooling with ceil_mode=True")
        if t is F.max_pool2d:
            if _pair(_arg(node, 4, "dilation", 1)) != [1, 1]:
                raise ExportError("max_pool2d with dilation")
            return "maxpool2d", {"kernel_size": _pair(k), "stride": _pair(s), "padding": _pair(p)}, [a[0]]
        if _arg(node, 6, "divisor_override", None) is not None:
            raise ExportError("avg_pool2d with divisor_override")
        return "avgpool2d", {"kernel_size": _pair(k), "stride": _pair(s), "padding": _pair(p),
                             "count_include_pad": bool(_arg(node, 5, "count_include_pad", True))}, [a[0]]
    if t is F.adaptive_avg_pool2d:
        return "adaptive_avgpool2d", {"output_size": _pair(_arg(node, 1, "output_size", None))}, [a[0]]
    if t is F.dropout:
        return "dropout", {"p": float(_arg(node, 1, "p", 0.5))}, [a[0]]
    if t in (operator.add, torch.add, operator.iadd):
        if len(a) != 2 or not all(isinstance(v, torch.fx.Node) for v in a) or node.kwargs:
            raise ExportError("addition other than tensor + tensor")
        return "add", {}, [a[0], a[1]]
    name = getattr(t, "__name__", repr(t))
    raise ExportError(f"function '{name}' is not supported")


class _ScopeTracer(torch.fx.Tracer):
    """Records in node.meta["scope"] the qualified name of the module whose
    forward() made each node, so functional layers can be named after it
    ("stage1.relu" rather than "relu_3")."""

    def __init__(self):
        super().__init__()
        self.scope = []

    def call_module(self, m, forward, args, kwargs):
        self.scope.append(self.path_of_module(m))
        try:
            return super().call_module(m, forward, args, kwargs)
        finally:
            self.scope.pop()

    def create_node(self, *args, **kwargs):
        node = super().create_node(*args, **kwargs)
        node.meta["scope"] = self.scope[-1] if self.scope else ""
        return node


def _function_name(node):
    base = node.name
    head, _, tail = base.rpartition("_")
    if head and tail.isdigit():  # fx numbers repeated names: relu_3
        base = head
    scope = node.meta.get("scope", "")
    return f"{scope}.{base}" if scope else base


def to_sanity(model, input_shape=None, seed=0):
    """(architecture dict, {layer: {tensor name: numpy array}}) for a module."""
    was_training = model.training
    model.eval()  # trace the inference graph (F.dropout(training=self.training))
    try:
        tracer = _ScopeTracer()
        traced = tracer.trace(model)
        graph = torch.fx.GraphModule(tracer.root, traced).graph
    except Exception as e:  # data-dependent control flow etc.
        raise ExportError(f"torch.fx cannot trace the model: {e}") from e
    finally:
        model.train(was_training)
    graph.eliminate_dead_code()
    modules = dict(model.named_modules())
    names = {}  # fx node -> sanity layer name
    taken = set()
    used_param_modules = set()
    nodes, weights = [], {}
    out_node = None

    def unique(base):
        base = "".join(c if c.isalnum() or c in "_.-" else "_" for c in base)[:63] or "layer"
        n, i = base, 1
        while n in taken or n == "input":
            n = f"{base}_{i}"
            i += 1
        taken.add(n)
        return n

    def input_name(v):
        if not isinstance(v, torch.fx.Node) or v not in names:
            raise ExportError(f"layer input {v!r} is not a tensor computed by the model")
        return names[v]

    placeholders = [n for n in graph.nodes if n.op == "placeholder"]
    if len(placeholders) != 1:
        raise ExportError(f"the model must take exactly one input, it takes {len(placeholders)}")
    for node in graph.nodes:
        try:
            if node.op == "placeholder":
                names[node] = "input"
                continue
            if node.op == "output":
                out_node = node.args[0]
                continue
            if node.op == "call_method" and node.target == "size":
                continue  # consumed by a view(x.size(0), -1)
            if node.op == "call_module":
                m = modules[node.target]
                kind, cfg = _module_layer(m)
                ins = [node.args[0]]
                has_state = any(True for _ in m.parameters(recurse=False)) or \
                    any(b is not None for b in m.buffers(recurse=False))
                if has_state:
                    if node.target in used_param_modules:
                        raise ExportError("a module with parameters is called twice (shared weights)")
                    used_param_modules.add(node.target)
                name = unique(node.target)
                if has_state:
                    sd = {k: v.detach().cpu() for k, v in m.state_dict().items()}
                    if kind.startswith("batchnorm") and "weight" not in sd:  # affine=False
                        sd["weight"] = torch.ones(m.num_features)
                        sd["bias"] = torch.zeros(m.num_features)
                    weights[name] = {k: (v.numpy().astype(np.int64) if k == "num_batches_tracked"
                                         else v.numpy().astype(np.float32)) for k, v in sd.items()}
            elif node.op in ("call_function", "call_method"):
                kind, cfg, ins = _function_layer(node)
                name = unique(_function_name(node))
            else:
                raise ExportError(f"graph node kind '{node.op}' is not supported (parameters used directly?)")
            nodes.append({"name": name, "type": kind, "inputs": [input_name(v) for v in ins], "config": cfg})
            names[node] = name
        except ExportError as e:
            raise ExportError(f"node '{node.name}' ({node.op} {node.target}): {e}") from None
    if not isinstance(out_node, torch.fx.Node) or out_node not in names or names[out_node] == "input":
        raise ExportError("the model must return one tensor computed by a layer")
    if nodes[-1]["name"] != names[out_node]:
        nodes.append({"name": unique("output"), "type": "identity", "inputs": [names[out_node]], "config": {}})
    arch = {"format": FORMAT, "version": 1, "seed": seed, "nodes": nodes}
    if input_shape is not None:
        arch["input_shape"] = [int(v) for v in input_shape]
    return arch, weights


def export(model, path, input_shape=None, attrs=None, seed=0):
    """Writes model (an nn.Module) to path as a sanity model file."""
    arch, weights = to_sanity(model, input_shape, seed)
    tmp = path + ".partial"
    with h5py.File(tmp, "w") as f:
        f.attrs["format"] = FORMAT
        f.attrs["format_version"] = np.int64(VERSION)
        f.attrs["architecture"] = json.dumps(arch, indent=1)
        f.attrs["exported_by"] = "scripts/export_torch.py (torch %s)" % torch.__version__
        for k, v in (attrs or {}).items():
            f.attrs[k] = v
        for layer, tensors in weights.items():
            g = f.create_group(layer)
            for k, v in tensors.items():
                g.create_dataset(k, data=v)
    os.replace(tmp, path)
    return arch


def _load_factory(spec):
    mod, _, attr = spec.rpartition(":")
    if not mod or not attr:
        raise SystemExit(f"expected MODULE:FACTORY or FILE.py:FACTORY, got '{spec}'")
    if mod.endswith(".py"):
        s = importlib.util.spec_from_file_location(os.path.splitext(os.path.basename(mod))[0], mod)
        m = importlib.util.module_from_spec(s)
        sys.path.insert(0, os.path.dirname(os.path.abspath(mod)))
        s.loader.exec_module(m)
    else:
        sys.path.insert(0, os.getcwd())
        m = importlib.import_module(mod)
    return getattr(m, attr)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("model", nargs="?", help="MODULE:FACTORY or FILE.py:FACTORY (called without arguments)")
    ap.add_argument("out", help="output .h5 file")
    ap.add_argument("--pickled", help="a whole model saved with torch.save(model, path)")
    ap.add_argument("--state-dict", help="weights saved with torch.save(model.state_dict(), path)")
    ap.add_argument("--input-shape", help="per-sample input shape, e.g. 1,28,28 (recorded; lets sanity "
                                          "check shapes when the model is built)")
    a = ap.parse_args()
    if bool(a.model) == bool(a.pickled):
        ap.error("give either MODULE:FACTORY or --pickled FILE")
    model = torch.load(a.pickled, map_location="cpu") if a.pickled else _load_factory(a.model)()
    if a.state_dict:
        model.load_state_dict(torch.load(a.state_dict, map_location="cpu"))
    shape = tuple(int(v) for v in a.input_shape.split(",")) if a.input_shape else None
    try:
        arch = export(model, a.out, shape)
    except ExportError as e:
        raise SystemExit(f"export_torch.py: {e}")
    n = sum(p.numel() for p in model.parameters())
    print(f"{a.out}: {len(arch['nodes'])} layers, {n} parameters")


if __name__ == "__main__":
    main()
