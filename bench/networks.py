"""Whole networks for bench/forward.py: each built in torch and read by convcalc from its
``print(model)`` text, with torch's weights (state_dict → NumPy) and the same input.

Imported by bench/forward.py after it has pinned the thread counts (numpy and torch must not be
imported before). Inputs are sized so the whole table takes a few minutes on 2 cores: 224×224,
batch 1 for AlexNet, ResNet-18 and the MobileNetV2 stage; VGG-16-BN at 112×112 (at 224×224 one
call takes over a second on one core, and the table's rounds would take minutes on it alone).
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

import convcalc
from convcalc.network.plan import prepare_plan


@dataclass
class NetworkCase:
    """A network as bench/forward.py times it: both engines' forward on one input."""

    name: str
    shape: tuple[int, ...]
    run_torch: Callable[[], Any]
    run_convcalc: Callable[[], Any]
    folded: int  # steps the prepared plan folded into the one before
    in_place: int  # steps it runs over their input


class LeNet(nn.Module):
    """LeNet-5 as usually written: its forward flattens before the classifier."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 6, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2)
        )
        self.classifier = nn.Sequential(
            nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.features(x), 1))


class AlexNet(nn.Module):
    """torchvision's AlexNet (convcalc's built-in recipe gives its forward)."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 64, 11, stride=4, padding=2), nn.ReLU(inplace=True), nn.MaxPool2d(3, 2),
            nn.Conv2d(64, 192, 5, padding=2), nn.ReLU(inplace=True), nn.MaxPool2d(3, 2),
            nn.Conv2d(192, 384, 3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(384, 256, 3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(256, 256, 3, padding=1), nn.ReLU(inplace=True), nn.MaxPool2d(3, 2),
        )
        self.avgpool = nn.AdaptiveAvgPool2d((6, 6))
        self.classifier = nn.Sequential(
            nn.Dropout(), nn.Linear(256 * 6 * 6, 4096), nn.ReLU(inplace=True),
            nn.Dropout(), nn.Linear(4096, 4096), nn.ReLU(inplace=True), nn.Linear(4096, 1000),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.avgpool(self.features(x)), 1))


class VGG(nn.Module):
    """torchvision's VGG-16 with batch norm (configuration "D")."""

    def __init__(self) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        channels = 3
        for width in (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"):
            if width == "M":
                layers.append(nn.MaxPool2d(2, 2))
            else:
                layers += [nn.Conv2d(channels, int(width), 3, padding=1), nn.BatchNorm2d(int(width)), nn.ReLU(True)]
                channels = int(width)
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d((7, 7))
        self.classifier = nn.Sequential(
            nn.Linear(512 * 7 * 7, 4096), nn.ReLU(True), nn.Dropout(),
            nn.Linear(4096, 4096), nn.ReLU(True), nn.Dropout(), nn.Linear(4096, 1000),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.avgpool(self.features(x)), 1))


class BasicBlock(nn.Module):
    """torchvision's ResNet basic block."""

    def __init__(self, inplanes: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = None
        if stride != 1 or inplanes != planes:
            self.downsample = nn.Sequential(nn.Conv2d(inplanes, planes, 1, stride, bias=False), nn.BatchNorm2d(planes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        out += x if self.downsample is None else self.downsample(x)
        return self.relu(out)


class ResNet(nn.Module):
    """torchvision's ResNet-18."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        widths = [(64, 64, 1), (64, 128, 2), (128, 256, 2), (256, 512, 2)]
        for index, (inplanes, planes, stride) in enumerate(widths, 1):
            setattr(self, f"layer{index}", nn.Sequential(BasicBlock(inplanes, planes, stride), BasicBlock(planes, planes)))
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(512, 1000)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))  # type: ignore[operator]
        return self.fc(torch.flatten(self.avgpool(x), 1))


def conv_bn_relu6(inp: int, out: int, kernel: int = 3, stride: int = 1, groups: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(inp, out, kernel, stride, (kernel - 1) // 2, groups=groups, bias=False),
        nn.BatchNorm2d(out), nn.ReLU6(inplace=True),
    )


class InvertedResidual(nn.Module):
    """torchvision's MobileNetV2 block: expand 1×1, depthwise 3×3, project 1×1."""

    def __init__(self, inp: int, out: int, stride: int, expand: int) -> None:
        super().__init__()
        hidden = inp * expand
        layers = [conv_bn_relu6(inp, hidden, kernel=1)] if expand != 1 else []
        layers += [conv_bn_relu6(hidden, hidden, stride=stride, groups=hidden),
                   nn.Conv2d(hidden, out, 1, bias=False), nn.BatchNorm2d(out)]
        self.conv = nn.Sequential(*layers)
        self.use_res_connect = stride == 1 and inp == out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv(x) if self.use_res_connect else self.conv(x)


def mobilenet_stage() -> nn.Module:
    """MobileNetV2's stem and its first six blocks (to 32 channels at 1/8 resolution)."""
    return nn.Sequential(
        conv_bn_relu6(3, 32, stride=2),
        InvertedResidual(32, 16, 1, 1),
        InvertedResidual(16, 24, 2, 6), InvertedResidual(24, 24, 1, 6),
        InvertedResidual(24, 32, 2, 6), InvertedResidual(32, 32, 1, 6), InvertedResidual(32, 32, 1, 6),
    )


def decoder() -> nn.Module:
    """An image decoder: 14×14 features to a 224×224 image through transposed convs and a
    bilinear upsampling."""
    return nn.Sequential(
        nn.ConvTranspose2d(256, 128, 4, 2, 1, bias=False), nn.BatchNorm2d(128), nn.ReLU(True),
        nn.ConvTranspose2d(128, 64, 4, 2, 1, bias=False), nn.BatchNorm2d(64), nn.ReLU(True),
        nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False),
        nn.Conv2d(64, 32, 3, padding=1), nn.ReLU(True),
        nn.ConvTranspose2d(32, 3, 4, 2, 1), nn.Tanh(),
    )


def text_cnn() -> nn.Module:
    """A text CNN over 300-d word embeddings of 128 tokens (the embeddings are the input)."""
    return nn.Sequential(
        nn.Conv1d(300, 256, 5, padding=2), nn.ReLU(), nn.MaxPool1d(2),
        nn.Conv1d(256, 256, 3, padding=1), nn.ReLU(), nn.AdaptiveMaxPool1d(1),
        nn.Flatten(), nn.Dropout(0.5), nn.Linear(256, 4),
    )


def c3d_small() -> nn.Module:
    """A small C3D: three 3×3×3 conv blocks over a 16-frame clip, then a classifier."""
    return nn.Sequential(
        nn.Conv3d(3, 32, 3, padding=1), nn.ReLU(True), nn.MaxPool3d((1, 2, 2)),
        nn.Conv3d(32, 64, 3, padding=1), nn.ReLU(True), nn.MaxPool3d(2),
        nn.Conv3d(64, 128, 3, padding=1), nn.ReLU(True), nn.MaxPool3d(2),
        nn.AdaptiveAvgPool3d(1), nn.Flatten(), nn.Linear(128, 101),
    )


NETWORKS: dict[str, tuple[Callable[[], nn.Module], tuple[int, ...]]] = {
    "LeNet-5": (LeNet, (1, 1, 32, 32)),
    "AlexNet": (AlexNet, (1, 3, 224, 224)),
    "VGG-16-BN @112": (VGG, (1, 3, 112, 112)),
    "ResNet-18": (ResNet, (1, 3, 224, 224)),
    "MobileNetV2 stage": (mobilenet_stage, (1, 3, 224, 224)),
    "decoder (transposed, upsample)": (decoder, (1, 256, 14, 14)),
    "text CNN (Conv1d)": (text_cnn, (8, 300, 128)),
    "C3D small": (c3d_small, (1, 3, 16, 64, 64)),
}


def network_case(name: str, seed: int = 0) -> NetworkCase:
    """The network ``name`` of NETWORKS in both engines, with the same weights and input.

    BatchNorm gets running statistics a trained model would have (not 0 and 1), so that it
    changes something.
    """
    factory, shape = NETWORKS[name]
    torch.manual_seed(seed)
    model = factory().eval()
    generator = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.modules.batchnorm._BatchNorm):
                module.running_mean.copy_(torch.randn(module.running_mean.shape, generator=generator) * 0.1)
                module.running_var.copy_(torch.rand(module.running_var.shape, generator=generator) + 0.5)
                module.weight.copy_(torch.rand(module.weight.shape, generator=generator) + 0.5)
                module.bias.copy_(torch.randn(module.bias.shape, generator=generator) * 0.1)
    x = np.random.default_rng(seed).standard_normal(shape, dtype=np.float32)
    tx = torch.from_numpy(x)
    params = {key: value.detach().numpy() for key, value in model.state_dict().items()}
    network = convcalc.parse_network(str(model))
    network.forward(x, params)  # prepares the plan the timed calls reuse
    plan, _ = prepare_plan(network.trace(shape), x, params)  # the same plan, to count its folds
    return NetworkCase(name, shape, lambda: model(tx), lambda: network.forward(x, params), len(plan.folded),
                       len(plan.in_place))


def network_cases(only: str | None = None) -> list[NetworkCase]:
    """Every network of NETWORKS whose name contains ``only`` (case-insensitive; None: all)."""
    return [network_case(name) for name in NETWORKS if not only or only.lower() in name.lower()]


# Bars on convcalc / torch at the same thread count: (median, worst) of the networks' ratios.
BARS = {"one thread": (1.3, 2.0), "more threads": (1.5, 2.5)}


def network_table(
    measure: Callable[[Any, int, float], tuple[float, float, list[float]]],
    check: Callable[[Any], str],
    rounds: int,
    budget: float,
    threads: int,
    only: str | None = None,
    required: bool = True,
) -> list[str]:
    """Time every network with bench/forward.py's ``measure`` (alternating rounds, median of
    the round ratios), check its output with ``check``, print the table; the failures. Where
    ``only`` picks no network, a failure when ``required``, else a line saying so."""
    median_bar, worst_bar = BARS["one thread" if threads == 1 else "more threads"]
    cases = network_cases(only)
    if not cases:
        if required:
            return [f"no network's name contains {only!r}"]
        print(f"\nno network's name contains {only!r}: no network timed")
        return []
    # "folded": BatchNorms folded into the conv or Linear before them; "in place": activations
    # written over the fresh output before them (see convcalc.network.plan).
    header = f"{'network':32} {'input':>18} {'torch ms':>9} {'convcalc ms':>11} {'ratio':>6} {'rounds':>11} {'folded':>6} {'in place':>8}"
    print(f"\nwhole networks, {threads} thread{'s' if threads > 1 else ''} in both engines")
    print(header)
    print("-" * len(header))
    ratios: list[float] = []
    failures: list[str] = []
    for case in cases:
        problem = check(case)
        torch_time, convcalc_time, round_ratios = measure(case, rounds, budget)
        ratio = statistics.median(round_ratios)
        ratios.append(ratio)
        if problem:
            failures.append(f"{case.name}: {problem}")
        shape = "x".join(map(str, case.shape))
        spread = f"{min(round_ratios):.2f}-{max(round_ratios):.2f}"
        print(f"{case.name:32} {shape:>18} {torch_time * 1e3:9.3f} {convcalc_time * 1e3:11.3f} {ratio:6.2f} "
              f"{spread:>11} {case.folded:6} {case.in_place:8}" + (f"  MISMATCH: {problem}" if problem else ""), flush=True)
    median, worst = statistics.median(ratios), max(ratios)
    print("-" * len(header))
    print(f"networks: median ratio {median:.2f} (bar {median_bar}), max ratio {worst:.2f} (bar {worst_bar}), "
          f"{len(ratios)} networks timed")
    if median > median_bar and not only:
        failures.append(f"networks: median ratio {median:.2f} > {median_bar}")
    if worst > worst_bar:
        failures.append(f"networks: max ratio {worst:.2f} > {worst_bar}")
    return failures
