"""Regenerate tests/data/counting.json: MACs as torchinfo and fvcore report them, for
``convcalc net --count torchinfo|fvcore`` to be checked against (tests/test_counting.py).

What it writes, one object per case, keys sorted, indent=1:

* ``torchvision.<name>`` for a few torchvision models (built as scripts/torchvision_fixtures.py
  builds them: ``get_model(name, weights=None)`` after ``torch.manual_seed(0)``, ``eval()``; their
  text is tests/data/torchvision/<name>.txt): ``input`` (the shape), ``torchinfo``
  (``torchinfo.summary(model, input_size=input, verbose=0).total_mult_adds``) and ``fvcore``
  (``FlopCountAnalysis(model, x).total()`` with fvcore's default handles, under autograd as
  its users call it).
* ``layers.<name>`` for small ``nn.Sequential`` networks that reach the cases where the
  conventions part (bias, norms with and without affine or running statistics, resampling
  modes, 1-d and 2-d adaptive pooling, transposed and 'same'-padded convs, Linear on a
  sequence, Embedding, PReLU): the same figures plus ``text`` (what ``print(model)`` prints)
  and ``integer_input`` (Embedding's indices).

How to run it (torch 2.13.0 CPU and torchvision 0.28.0, as the torchvision fixtures, plus
torchinfo 1.8.0 and fvcore 0.1.5.post20221221):

    python3 -m venv cvenv
    cvenv/bin/pip install torch==2.13.0 torchinfo==1.8.0 fvcore==0.1.5.post20221221
    cvenv/bin/pip download --no-deps torchvision==0.28.0 -d cvwheel
    cvenv/bin/pip install --no-deps cvwheel/*.whl
    cvenv/bin/python scripts/counting_fixtures.py

The stub below is scripts/torchvision_fixtures.py's: it lets a torchvision wheel without its
matching C extension import (only its detection ops, not used here, would fail).
"""

import sys
import types

sys.modules.setdefault(
    "torchvision._meta_registrations",
    types.ModuleType("torchvision._meta_registrations"),
)

import json  # noqa: E402
from pathlib import Path  # noqa: E402

import torch  # noqa: E402
import torchinfo  # noqa: E402
from fvcore.nn import FlopCountAnalysis  # noqa: E402
from torch import nn  # noqa: E402
from torchvision import models as tvm  # noqa: E402

OUT = Path(__file__).resolve().parent.parent / "tests" / "data" / "counting.json"

TORCHVISION = {
    "resnet18": (1, 3, 224, 224),
    "resnet50": (1, 3, 224, 224),
    "mobilenet_v3_small": (1, 3, 224, 224),
    "vgg11_bn": (1, 3, 224, 224),
    "densenet121": (1, 3, 224, 224),
    "convnext_tiny": (1, 3, 224, 224),
    "vit_b_32": (1, 3, 224, 224),
    "r3d_18": (1, 3, 16, 112, 112),
}


def _layer_cases() -> dict:
    return {
        "convs": (nn.Sequential(
            nn.Conv2d(3, 8, 3, padding="same"),
            nn.ConvTranspose2d(8, 4, 4, stride=2, padding=1),
            nn.Conv2d(4, 6, 3, stride=2, groups=2, bias=False),
        ), (2, 3, 16, 16)),
        "norms": (nn.Sequential(
            nn.Conv2d(3, 8, 3),
            nn.BatchNorm2d(8),
            nn.BatchNorm2d(8, affine=False),
            nn.BatchNorm2d(8, track_running_stats=False),
            nn.GroupNorm(2, 8),
            nn.GroupNorm(4, 8, affine=False),
            nn.InstanceNorm2d(8, affine=True),
            nn.InstanceNorm2d(8),
            nn.LayerNorm([8, 14, 14]),
        ), (2, 3, 16, 16)),
        "resample2d": (nn.Sequential(
            nn.Upsample(scale_factor=2),
            nn.Upsample(scale_factor=2, mode="bilinear"),
            nn.Upsample(scale_factor=0.5, mode="bicubic"),
            nn.AdaptiveAvgPool2d(3),
            nn.MaxPool2d(2, ceil_mode=True),
            nn.AvgPool2d(2),
            nn.ReLU(),
        ), (1, 4, 8, 8)),
        "resample1d": (nn.Sequential(
            nn.Conv1d(4, 4, 3),
            nn.Upsample(scale_factor=2, mode="linear"),
            nn.Upsample(scale_factor=2),
            nn.AdaptiveAvgPool1d(5),
            nn.BatchNorm1d(4),
        ), (2, 4, 10)),
        "sequence": (nn.Sequential(
            nn.Embedding(100, 16),
            nn.LayerNorm(16),
            nn.Linear(16, 32),
            nn.PReLU(),
            nn.Linear(32, 8, bias=False),
            nn.GELU(),
        ), (2, 7)),
    }


def _torchinfo(model: nn.Module, x: torch.Tensor) -> int:
    return int(torchinfo.summary(model, input_data=x, verbose=0).total_mult_adds)


def _fvcore(model: nn.Module, x: torch.Tensor) -> int:
    analysis = FlopCountAnalysis(model, x)
    analysis.unsupported_ops_warnings(False)
    analysis.uncalled_modules_warnings(False)
    return int(analysis.total())


def _input(shape: tuple, integer: bool) -> torch.Tensor:
    return torch.randint(0, 100, shape) if integer else torch.randn(shape)


def main() -> None:
    torch.set_num_threads(2)
    data = {}
    for name, (model, shape) in _layer_cases().items():
        model.eval()
        integer = isinstance(model[0], nn.Embedding)
        x = _input(shape, integer)
        data[f"layers.{name}"] = {"text": str(model) + "\n", "input": list(shape), "integer_input": integer,
                                  "torchinfo": _torchinfo(model, x), "fvcore": _fvcore(model, x)}
        print(name, data[f"layers.{name}"]["torchinfo"], data[f"layers.{name}"]["fvcore"], flush=True)
    for name, shape in TORCHVISION.items():
        torch.manual_seed(0)
        model = tvm.get_model(name, weights=None).eval()
        x = torch.randn(shape)
        data[f"torchvision.{name}"] = {"input": list(shape), "torchinfo": _torchinfo(model, x),
                                       "fvcore": _fvcore(model, x)}
        print(name, data[f"torchvision.{name}"], flush=True)
    OUT.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
