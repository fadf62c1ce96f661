#!/usr/bin/env python3
"""Real PyTorch exports for the importer's corpus (models/corpus/, merged into corpus.json).

The other corpus graphs are written node by node in the patterns exporters use
(scripts/train_models.py); these come from PyTorch itself, through both of its exporters:
`torch.onnx.export(..., dynamo=True)` (the default since PyTorch 2.9, opset 18) and the
TorchScript one (`dynamo=False`). Each model is trained here on sklearn's 8x8 digits (or, for
the series models, a seeded random walk), so a classifier's logits have the margins a user's
model has, and saved with onnxruntime's labels or outputs on held-back rows, which
`the_corpus_imports_and_agrees_with_onnxruntime_or_is_refused_by_name` checks.

Needs PyTorch and onnxscript, which the rest of the project does not:
  python3 -m venv /tmp/torch && /tmp/torch/bin/pip install torch onnxscript onnx onnxruntime scikit-learn
  /tmp/torch/bin/python scripts/torch_exports.py
Written with PyTorch 2.15.0 and onnxscript 0.7.2. CI reads the committed files only.
"""
import os
import sys
import warnings

import numpy as np
import onnx
import torch
import torch.nn as nn
import torch.nn.functional as F

from framework_corpus import HELD_BACK, OUT, data, merge, record

warnings.filterwarnings("ignore")


class Block(nn.Module):
    """A ResNet basic block, with a strided 1x1 projection when it downsamples."""

    def __init__(self, c, down=False):
        super().__init__()
        o = 2 * c if down else c
        self.c1, self.b1 = nn.Conv2d(c, o, 3, 2 if down else 1, 1, bias=False), nn.BatchNorm2d(o)
        self.c2, self.b2 = nn.Conv2d(o, o, 3, 1, 1, bias=False), nn.BatchNorm2d(o)
        self.sc = nn.Sequential(nn.Conv2d(c, o, 1, 2, bias=False), nn.BatchNorm2d(o)) if down else nn.Identity()

    def forward(self, x):
        return F.relu(self.b2(self.c2(F.relu(self.b1(self.c1(x))))) + self.sc(x))


class ResNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(1, 4, 3, 1, 1, bias=False), nn.BatchNorm2d(4), nn.ReLU())
        self.blocks = nn.Sequential(Block(4), Block(4, down=True))
        self.fc = nn.Linear(8, 10)

    def forward(self, x):
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(self.blocks(self.stem(x)), 1), 1))


class LeNet(nn.Module):
    """LeNet's layout on 8x8 digits, flattened the way older code does: x.view(x.size(0), -1)."""

    def __init__(self):
        super().__init__()
        self.c1, self.c2 = nn.Conv2d(1, 6, 5, padding=2), nn.Conv2d(6, 12, 3)
        self.f1, self.f2 = nn.Linear(12 * 2 * 2, 32), nn.Linear(32, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.c1(x)), 2)
        x = F.relu(self.c2(x))
        x = F.max_pool2d(x, 1)
        x = x.view(x.size(0), -1)
        return self.f2(F.relu(self.f1(x)))


class Upsampler(nn.Module):
    """Downsample, upsample back (nearest, or bilinear), then classify: a segmentation net's shape."""

    def __init__(self, mode):
        super().__init__()
        self.mode = mode
        self.down, self.conv = nn.Conv2d(1, 6, 3, 2, 1), nn.Conv2d(6, 8, 3, 1, 1)
        self.fc = nn.Linear(8 * 4 * 4, 10)

    def forward(self, x):
        x = F.relu(self.down(x))
        if self.mode == "nearest":
            x = F.interpolate(x, scale_factor=2, mode="nearest")
        else:
            x = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
        x = F.max_pool2d(F.relu(self.conv(x)), 2)
        return self.fc(torch.flatten(x, 1))


class Decoder(nn.Module):
    """An encoder-decoder: a strided Conv, a ConvTranspose back up (with BatchNorm), a classifier."""

    def __init__(self):
        super().__init__()
        self.enc = nn.Conv2d(1, 8, 3, 2, 1)
        self.dec, self.bn = nn.ConvTranspose2d(8, 4, 3, 2, 1, output_padding=1), nn.BatchNorm2d(4)
        self.fc = nn.Linear(4 * 8 * 8, 10)

    def forward(self, x):
        return self.fc(torch.flatten(F.relu(self.bn(self.dec(F.relu(self.enc(x))))), 1))


class UNet(nn.Module):
    """A U-Net's skip connection: the encoder's features concatenated with the decoder's
    upsampled ones (ConvTranspose) over channels."""

    def __init__(self):
        super().__init__()
        self.e1, self.e2 = nn.Conv2d(1, 4, 3, 1, 1), nn.Conv2d(4, 8, 3, 2, 1)
        self.up, self.d = nn.ConvTranspose2d(8, 4, 2, 2), nn.Conv2d(8, 4, 3, 1, 1)
        self.fc = nn.Linear(4 * 4 * 4, 10)

    def forward(self, x):
        x1 = F.relu(self.e1(x))
        u = F.relu(self.up(F.relu(self.e2(x1))))
        y = F.relu(self.d(torch.cat([x1, u], 1)))
        return self.fc(torch.flatten(F.avg_pool2d(y, 2), 1))


class Inception(nn.Module):
    """An Inception block: a 1x1 tower and a 1x1-then-3x3 tower of the same input, concatenated
    over channels."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(1, 4, 3, padding=1)
        self.one, self.reduce, self.three = nn.Conv2d(4, 4, 1), nn.Conv2d(4, 3, 1), nn.Conv2d(3, 4, 3, padding=1)
        self.fc = nn.Linear(8 * 4 * 4, 10)

    def forward(self, x):
        x = F.relu(self.stem(x))
        y = torch.cat([F.relu(self.one(x)), F.relu(self.three(F.relu(self.reduce(x))))], 1)
        return self.fc(torch.flatten(F.avg_pool2d(y, 2), 1))


class TwoTower(nn.Module):
    """Two towers of different depths over the same features, added."""

    def __init__(self):
        super().__init__()
        self.deep = nn.Sequential(nn.Linear(64, 48), nn.ReLU(), nn.Linear(48, 32), nn.ReLU())
        self.shallow = nn.Sequential(nn.Linear(64, 32), nn.ReLU())
        self.head = nn.Linear(32, 10)

    def forward(self, x):
        return self.head(self.deep(x) + self.shallow(x))


class SeriesNet(nn.Module):
    """A temporal ConvNet over two series of 16 steps (dilated Conv1d, ConvTranspose1d), predicting one value."""

    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv1d(2, 8, 3, stride=2, padding=1)
        self.c2 = nn.Conv1d(8, 8, 3, padding=2, dilation=2)
        self.up = nn.ConvTranspose1d(8, 4, 2, stride=2)
        self.fc = nn.Linear(4 * 16, 1)

    def forward(self, x):
        x = x.reshape(x.shape[0], 2, 16)
        x = F.relu(self.up(F.relu(self.c2(F.relu(self.c1(x))))))
        return self.fc(torch.flatten(x, 1))


class Recurrent(nn.Module):
    def __init__(self, kind):
        super().__init__()
        self.rnn = (nn.LSTM if kind == "lstm" else nn.GRU)(1, 8, batch_first=True)
        self.fc = nn.Linear(8, 1)

    def forward(self, x):
        y, _ = self.rnn(x.unsqueeze(-1))
        return self.fc(y[:, -1])


class TwoInputs(nn.Module):
    """`forward(window, recent)`: two inputs that the model concatenates first (the importer's
    input is their concatenation, in that order)."""

    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(32, 24), nn.ReLU(), nn.Linear(24, 1))

    def forward(self, window, recent):
        return self.net(torch.cat([window, recent], 1))


def volatility():
    """A positive output, as a volatility or fee model has: Softplus last, which the dynamo exporter
    writes with its threshold (`Where(x > 20, x, Softplus(x))`)."""
    return nn.Sequential(nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, 16), nn.SiLU(), nn.Linear(16, 1), nn.Softplus())


def mlp_bn():
    return nn.Sequential(nn.Linear(64, 64), nn.BatchNorm1d(64), nn.ReLU(), nn.Dropout(0.2),
                         nn.Linear(64, 32), nn.BatchNorm1d(32), nn.ReLU(), nn.Dropout(0.2), nn.Linear(32, 10))


def mobilenet():
    return nn.Sequential(nn.Conv2d(1, 8, 3, 2, 1), nn.BatchNorm2d(8), nn.ReLU6(),
                         nn.Conv2d(8, 8, 3, 1, 1, groups=8), nn.BatchNorm2d(8), nn.ReLU6(),
                         nn.Conv2d(8, 16, 1), nn.BatchNorm2d(16), nn.ReLU6(),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, 10))


def layernorm_mlp():
    return nn.Sequential(nn.Linear(64, 32), nn.LayerNorm(32), nn.ReLU(), nn.Linear(32, 10))


# name: (model, input shape (a list: the widths of several flat inputs), data, exporter, refused op or None)
MODELS = {
    "torch_mlp_bn_dropout": (mlp_bn, (64,), "digits", "dynamo", None),
    "torch_lenet_view": (LeNet, (1, 8, 8), "digits", "script", None),
    "torch_resnet": (ResNet, (1, 8, 8), "digits", "dynamo", None),
    "torch_mobilenet_relu6": (mobilenet, (1, 8, 8), "digits", "dynamo", None),
    "torch_upsample_nearest": (lambda: Upsampler("nearest"), (1, 8, 8), "digits", "dynamo", None),
    "torch_upsample_bilinear": (lambda: Upsampler("bilinear"), (1, 8, 8), "digits", "script", None),
    "torch_conv_transpose": (Decoder, (1, 8, 8), "digits", "dynamo", None),
    "torch_unet": (UNet, (1, 8, 8), "digits", "dynamo", None),
    "torch_inception": (Inception, (1, 8, 8), "digits", "dynamo", None),
    "torch_two_tower": (TwoTower, (64,), "digits", "script", None),
    "torch_series_tcn": (SeriesNet, (32,), "series", "dynamo", None),
    "torch_volatility_softplus": (volatility, (32,), "volatility", "dynamo", None),
    "torch_two_inputs": (TwoInputs, [24, 8], "series", "dynamo", None),
    "torch_lstm": (lambda: Recurrent("lstm"), (16,), "series", "script", "LSTM"),
    "torch_gru": (lambda: Recurrent("gru"), (16,), "series", "dynamo", "GRU"),
    "torch_layernorm": (layernorm_mlp, (64,), "digits", "dynamo", "LayerNormalization"),
}


def main():
    added = []
    for name, (make, shape, kind, exporter, refused) in MODELS.items():
        if len(sys.argv) > 1 and name not in sys.argv[1:]:
            continue
        torch.manual_seed(0)
        several = isinstance(shape, list)
        x, y = data(kind, sum(shape) if several else int(np.prod(shape)), np.random.default_rng(5))
        model = make()
        xt = torch.from_numpy(x) if several else torch.from_numpy(x).reshape(len(x), *shape)
        call = (lambda m, rows: m(*torch.split(rows, list(shape), 1))) if several else (lambda m, rows: m(rows))
        opt = torch.optim.Adam(model.parameters(), lr=0.01)
        train = slice(0, HELD_BACK)
        for _ in range(150):
            model.train()
            opt.zero_grad()
            out = call(model, xt[train])
            loss = (F.cross_entropy(out, torch.from_numpy(y[train]).long()) if kind == "digits"
                    else F.mse_loss(out[:, 0], torch.from_numpy(y[train])))
            loss.backward()
            opt.step()
        model.eval()
        path = os.path.join(OUT, f"{name}.onnx")
        args = tuple(torch.split(xt[:1], list(shape), 1)) if several else (xt[:1],)
        names = [f"input{k}" for k in range(len(args))] if several else ["input"]
        torch.onnx.export(model, args, path, dynamo=exporter == "dynamo", input_names=names, output_names=["output"])
        # The dynamo exporter may write the weights beside the graph: one self-contained file.
        onnx.save(onnx.load(path, load_external_data=True), path, save_as_external_data=False)
        if os.path.exists(path + ".data"):
            os.remove(path + ".data")
        print(f"{name} ({exporter} exporter)")
        added.append(record(name, kind, path, x, y, (sum(shape),) if several else shape, refused))
    merge(added)


if __name__ == "__main__":
    main()
