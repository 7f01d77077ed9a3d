#!/usr/bin/python3
"""export_parity.py OUTDIR — exports PyTorch models with scripts/export_torch.py
(random weights, batch-norm statistics made non-trivial) and writes, per
model, OUTDIR/<name>.h5 (the sanity model file) and OUTDIR/<name>_ref.h5
(x and PyTorch's eval-mode logits). Used by tests/lua/test_weights.lua."""
import os
import sys

import h5py
import torch
import torch.nn as nn
import torch.nn.functional as F

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..")
sys.path.insert(0, os.path.join(ROOT, "scripts"))
sys.path.insert(0, os.path.join(ROOT, "scripts", "fixtures"))
from export_torch import export  # noqa: E402
from make_nn_fixtures import LeNet, ResNet8  # noqa: E402


class Functional(nn.Module):
    """forward() with functional calls, a view flatten and a residual add."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3, padding=1, stride=1, dilation=1)
        self.conv2 = nn.Conv2d(4, 4, 3, padding=2, dilation=2, groups=2, bias=False)
        self.bn = nn.BatchNorm2d(4)
        self.fc = nn.Linear(4 * 7 * 7, 10)
        self.act = nn.LeakyReLU(0.2)

    def forward(self, x):
        h = F.relu(self.conv(x))
        h = self.act(self.bn(self.conv2(h)) + h)
        h = F.avg_pool2d(h, 2)
        h = F.max_pool2d(h, kernel_size=3, stride=2, padding=1)
        h = h.view(h.size(0), -1)
        return self.fc(h)


def sequential():
    return nn.Sequential(
        nn.Conv2d(1, 6, 5, padding=2), nn.BatchNorm2d(6), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(6, 8, 3, stride=2, padding="valid"), nn.Sigmoid(), nn.AvgPool2d(2, stride=1, padding=1,
                                                                               count_include_pad=False),
        nn.AdaptiveAvgPool2d(2), nn.Flatten(), nn.Dropout(0.3), nn.Linear(32, 16), nn.BatchNorm1d(16), nn.Tanh(),
        nn.Linear(16, 10), nn.LogSoftmax(dim=1))


def main(out):
    torch.manual_seed(0)
    models = {"lenet": LeNet(), "resnet8": ResNet8(), "sequential": sequential(), "functional": Functional()}
    x = torch.rand(16, 1, 28, 28)
    for name, m in models.items():
        for mod in m.modules():  # non-trivial running statistics
            if isinstance(mod, nn.modules.batchnorm._BatchNorm):
                mod.running_mean.uniform_(-0.5, 0.5)
                mod.running_var.uniform_(0.5, 2.0)
                mod.weight.data.uniform_(0.5, 1.5)
                mod.bias.data.uniform_(-0.5, 0.5)
                mod.num_batches_tracked.fill_(7)
        m.eval()
        export(m, os.path.join(out, name + ".h5"), input_shape=(1, 28, 28))
        with torch.no_grad():
            y = m(x)
        with h5py.File(os.path.join(out, name + "_ref.h5"), "w") as f:
            f["x"] = x.numpy()
            f["logits"] = y.numpy()


if __name__ == "__main__":
    main(sys.argv[1])
