"""Whole networks against torch: print(model) parsed back, every leaf's output shape (forward
hooks), parameter counts and state_dict names; the same networks in the line form and JSON."""

from __future__ import annotations

import json
from fractions import Fraction

import numpy as np
import pytest

from oracle import torch

import convcalc
from convcalc.network.trace import call_key

nn = torch.nn
pytestmark = pytest.mark.oracle


# -- models, written here the way torchvision writes them -----------------------------------------


class LeNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 6, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2)
        )
        self.classifier = nn.Sequential(
            nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10)
        )

    def forward(self, x):
        return self.classifier(torch.flatten(self.features(x), 1))


class AlexNet(nn.Module):
    def __init__(self, num_classes: int = 1000) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 64, kernel_size=11, stride=4, padding=2),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),
            nn.Conv2d(64, 192, kernel_size=5, padding=2),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),
            nn.Conv2d(192, 384, kernel_size=3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(384, 256, kernel_size=3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(256, 256, kernel_size=3, padding=1),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),
        )
        self.avgpool = nn.AdaptiveAvgPool2d((6, 6))
        self.classifier = nn.Sequential(
            nn.Dropout(p=0.5),
            nn.Linear(256 * 6 * 6, 4096),
            nn.ReLU(inplace=True),
            nn.Dropout(p=0.5),
            nn.Linear(4096, 4096),
            nn.ReLU(inplace=True),
            nn.Linear(4096, num_classes),
        )

    def forward(self, x):
        x = self.avgpool(self.features(x))
        return self.classifier(torch.flatten(x, 1))


class VGG11ish(nn.Module):
    """VGG-11's feature extractor with batch norm, and a small classifier."""

    def __init__(self) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        channels = 3
        for width in (64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"):
            if width == "M":
                layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
            else:
                layers += [nn.Conv2d(channels, width, kernel_size=3, padding=1), nn.BatchNorm2d(width), nn.ReLU(inplace=True)]
                channels = width
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d((7, 7))
        self.classifier = nn.Sequential(
            nn.Linear(512 * 7 * 7, 256), nn.ReLU(True), nn.Dropout(), nn.Linear(256, 256), nn.ReLU(True), nn.Linear(256, 10)
        )

    def forward(self, x):
        return self.classifier(torch.flatten(self.avgpool(self.features(x)), 1))


def conv3x3(inp: int, out: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(inp, out, kernel_size=3, stride=stride, padding=1, bias=False)


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None) -> None:
        super().__init__()
        self.conv1 = conv3x3(inplanes, planes, stride)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = conv3x3(planes, planes)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample

    def forward(self, x):
        identity = x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.downsample is not None:
            identity = self.downsample(x)
        out += identity
        return self.relu(out)


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = conv3x3(planes, planes, stride)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * 4)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x):
        identity = x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        if self.downsample is not None:
            identity = self.downsample(x)
        out += identity
        return self.relu(out)


class ResNet(nn.Module):
    def __init__(self, block: type, layers: list[int], num_classes: int = 1000) -> None:
        super().__init__()
        self.inplanes = 64
        self.conv1 = nn.Conv2d(3, 64, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._make_layer(block, 64, layers[0])
        self.layer2 = self._make_layer(block, 128, layers[1], stride=2)
        self.layer3 = self._make_layer(block, 256, layers[2], stride=2)
        self.layer4 = self._make_layer(block, 512, layers[3], stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(512 * block.expansion, num_classes)

    def _make_layer(self, block: type, planes: int, blocks: int, stride: int = 1) -> nn.Sequential:
        downsample = None
        if stride != 1 or self.inplanes != planes * block.expansion:
            downsample = nn.Sequential(
                nn.Conv2d(self.inplanes, planes * block.expansion, 1, stride=stride, bias=False),
                nn.BatchNorm2d(planes * block.expansion),
            )
        layers = [block(self.inplanes, planes, stride, downsample)]
        self.inplanes = planes * block.expansion
        layers += [block(self.inplanes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


class ConvBNReLU(nn.Sequential):
    def __init__(self, inp: int, out: int, kernel: int = 3, stride: int = 1, groups: int = 1) -> None:
        super().__init__(
            nn.Conv2d(inp, out, kernel, stride, (kernel - 1) // 2, groups=groups, bias=False),
            nn.BatchNorm2d(out),
            nn.ReLU6(inplace=True),
        )


class InvertedResidual(nn.Module):
    def __init__(self, inp: int, out: int, stride: int, expand: int) -> None:
        super().__init__()
        hidden = inp * expand
        self.use_res_connect = stride == 1 and inp == out
        self.conv = nn.Sequential(
            ConvBNReLU(inp, hidden, kernel=1),
            ConvBNReLU(hidden, hidden, stride=stride, groups=hidden),  # depthwise
            nn.Conv2d(hidden, out, 1, bias=False),
            nn.BatchNorm2d(out),
        )

    def forward(self, x):
        return x + self.conv(x) if self.use_res_connect else self.conv(x)


class MobileNetStage(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            ConvBNReLU(3, 16, stride=2),
            InvertedResidual(16, 24, 2, 6),
            InvertedResidual(24, 24, 1, 6),
            InvertedResidual(24, 32, 2, 6),
            InvertedResidual(32, 32, 1, 6),
        )

    def forward(self, x):
        return self.features(x)


def decoder() -> nn.Module:
    return nn.Sequential(
        nn.ConvTranspose2d(64, 32, 4, stride=2, padding=1, bias=False),
        nn.BatchNorm2d(32),
        nn.ReLU(True),
        nn.ConvTranspose2d(32, 16, 3, stride=2, padding=1, output_padding=1),
        nn.ReLU(True),
        nn.Upsample(scale_factor=2),
        nn.ConvTranspose2d(16, 3, 4, stride=2, padding=1),
        nn.Tanh(),
    )


def text_cnn() -> nn.Module:
    return nn.Sequential(
        nn.Conv1d(64, 128, 5, padding=2),
        nn.ReLU(),
        nn.MaxPool1d(2),
        nn.Conv1d(128, 128, 3, padding="same", padding_mode="circular"),
        nn.ReLU(),
        nn.AdaptiveMaxPool1d(1),
        nn.Flatten(),
        nn.Dropout(0.2),
        nn.Linear(128, 4),
        nn.Softmax(dim=1),
    )


def video_net() -> nn.Module:
    return nn.Sequential(
        nn.Conv3d(3, 16, (3, 3, 3), padding=1),
        nn.BatchNorm3d(16),
        nn.ReLU(),
        nn.MaxPool3d(2),
        nn.Conv3d(16, 32, 3, stride=(1, 2, 2)),
        nn.ReLU(),
        nn.AdaptiveAvgPool3d(1),
        nn.Flatten(),
        nn.Linear(32, 5),
    )


MODELS = {
    "lenet": (LeNet, (1, 1, 32, 32)),
    "alexnet": (AlexNet, (1, 3, 224, 224)),
    "vgg11ish": (VGG11ish, (1, 3, 64, 64)),
    "resnet18": (lambda: ResNet(BasicBlock, [2, 2, 2, 2]), (1, 3, 224, 224)),
    "resnet-bottleneck": (lambda: ResNet(Bottleneck, [1, 2, 1, 1], num_classes=10), (1, 3, 64, 64)),
    "mobilenet-stage": (MobileNetStage, (1, 3, 64, 64)),
    "decoder": (decoder, (1, 64, 8, 8)),
    "text-cnn": (text_cnn, (2, 64, 100)),
    "video": (video_net, (1, 3, 8, 32, 32)),
}


def run_hooked(model: nn.Module, x: torch.Tensor, on_call) -> torch.Tensor:
    """Run ``model`` in eval mode on ``x``, calling ``on_call(name, module, inputs, output)`` at
    every leaf-module call, in execution order."""
    handles = [
        module.register_forward_hook(lambda mod, inputs, output, name=name: on_call(name, mod, inputs, output))
        for name, module in model.named_modules()
        if not list(module.children()) and name
    ]
    with torch.no_grad():
        out = model.eval()(x)
    for handle in handles:
        handle.remove()
    return out


def torch_calls(model: nn.Module, input_shape: tuple) -> tuple[list[tuple[str, str, tuple, tuple]], tuple]:
    """(name, type, input shape, output shape) of every leaf-module call, in execution order."""
    calls = []
    out = run_hooked(model, torch.zeros(input_shape), lambda name, mod, inputs, output: calls.append(
        (name, type(mod).__name__, tuple(inputs[0].shape), tuple(output.shape))))
    return calls, tuple(out.shape)


@pytest.fixture(scope="module", params=sorted(MODELS))
def model_case(request):
    factory, shape = MODELS[request.param]
    torch.manual_seed(0)
    model = factory()
    calls, out = torch_calls(model, shape)
    return request.param, model, shape, calls, out


def test_print_model_agrees_with_torch(model_case):
    name, model, shape, calls, out = model_case
    summary = convcalc.parse_network(str(model)).summary(shape)
    layers = [(r.name, r.type, r.input_shape, r.output_shape) for r in summary.rows if r.kind == "layer"]
    expected = [(n, t, i, o) for n, t, i, o in calls]
    assert [row[:2] for row in layers] == [row[:2] for row in expected]
    assert [row[3] for row in layers] == [row[3] for row in expected]
    assert summary.output_shape == out
    assert summary.totals.params == sum(p.numel() for p in model.parameters())
    assert summary.totals.buffers == sum(b.numel() for b in model.buffers())


def test_state_dict_names(model_case):
    name, model, shape, calls, out = model_case
    summary = convcalc.parse_network(str(model)).summary(shape)
    params, buffers = {}, {}
    for row in summary.rows:
        params.update({f"{row.name}.{k}": v for k, v in row.param_shapes.items()})
        buffers.update({f"{row.name}.{k}": v for k, v in row.buffer_shapes.items()})
    assert params == {k: tuple(v.shape) for k, v in model.named_parameters()}
    assert buffers == {k: tuple(v.shape) for k, v in model.named_buffers()}


def test_folding_keeps_totals(model_case):
    name, model, shape, calls, out = model_case
    net = convcalc.parse_network(str(model))
    full = net.summary(shape)
    for depth in (1, 2, 3):
        folded = net.summary(shape, depth=depth)
        assert folded.totals == full.totals
        assert sum(r.params for r in folded.rows) == full.totals.params
        assert sum(r.macs for r in folded.rows) == full.totals.macs
        assert sum(r.flops for r in folded.rows) == full.totals.flops
        assert all(r.depth <= depth for r in folded.rows)
        assert folded.rows[-1].output_shape == out


def test_resnet18_numbers():
    model = ResNet(BasicBlock, [2, 2, 2, 2])
    summary = convcalc.parse_network(str(model)).summary((1, 3, 224, 224))
    assert summary.output_shape == (1, 1000)
    assert summary.totals.params == 11_689_512
    adds = [row.name for row in summary.rows if row.kind == "add"]
    assert adds == [f"layer{i}.{j}.add" for i in range(1, 5) for j in range(2)]
    assert [row.name for row in summary.rows if row.kind == "flatten"] == ["flatten"]
    # The block's relu runs twice: after bn1 and after the add.
    block = [row.name for row in summary.rows if row.name.startswith("layer2.0.")]
    assert block == [
        "layer2.0.conv1", "layer2.0.bn1", "layer2.0.relu", "layer2.0.conv2", "layer2.0.bn2",
        "layer2.0.downsample.0", "layer2.0.downsample.1", "layer2.0.add", "layer2.0.relu",
    ]
    # fvcore-style MACs of ResNet-18 at 224: 1.814 G (convs and the fc).
    assert summary.totals.macs == sum(
        row.macs for row in summary.rows if row.type in ("Conv2d", "Linear")
    )
    assert 1_810_000_000 < summary.totals.macs < 1_820_000_000
    folded = convcalc.parse_network(str(model)).summary((1, 3, 224, 224), depth=1)
    assert [row.name for row in folded.rows] == [
        "conv1", "bn1", "relu", "maxpool", "layer1", "layer2", "layer3", "layer4", "avgpool", "flatten", "fc",
    ]
    assert folded.rows[5].params == sum(p.numel() for p in model.layer2.parameters())


def test_mobilenet_residual_rule():
    summary = convcalc.parse_network(str(MobileNetStage())).summary((1, 3, 64, 64))
    # torchvision's InvertedResidual recipe: only the stride-1, same-width blocks add their input.
    assert [row.name for row in summary.rows if row.kind == "add"] == ["features.2.add", "features.4.add"]
    # The test's own model is not torchvision's: taking its InvertedResidual for torchvision's is named.
    assert any("InvertedResidual read as torchvision's" in str(a) for a in summary.assumptions)
    # The test's own ConvBNReLU has no recipe: run as its children, and named as an assumption.
    assert any("ConvBNReLU has no recipe" in str(a) for a in summary.assumptions)


def test_decoder_receptive_field_is_fractional():
    summary = convcalc.parse_network(str(decoder())).summary((1, 64, 8, 8))
    first = summary.rows[0].receptive_field
    assert first is not None and str(first[0].jump) == "1/2"
    assert summary.rows[-1].receptive_field[0].jump == Fraction(1, 16)


# -- the same networks in the line form and in JSON -----------------------------------------------

RESNET18_LINES = """\
input 1x3x224x224
conv2d --out 64 -k 7 -s 2 -p 3 --no-bias; batchnorm2d; relu
maxpool2d -k 3 -s 2 -p 1
repeat 2 {
  residual { conv2d --out 64 -k 3 -p 1 --no-bias; batchnorm2d; relu; conv2d --out 64 -k 3 -p 1 --no-bias; batchnorm2d }
  relu
}
residual {
  conv2d --out 128 -k 3 -s 2 -p 1 --no-bias; batchnorm2d; relu; conv2d --out 128 -k 3 -p 1 --no-bias; batchnorm2d
} shortcut downsample { conv2d --out 128 -k 1 -s 2 --no-bias; batchnorm2d }
relu
residual { conv2d --out 128 -k 3 -p 1 --no-bias; batchnorm2d; relu; conv2d --out 128 -k 3 -p 1 --no-bias; batchnorm2d }
relu
residual {
  conv2d --out 256 -k 3 -s 2 -p 1 --no-bias; batchnorm2d; relu; conv2d --out 256 -k 3 -p 1 --no-bias; batchnorm2d
} shortcut downsample { conv2d --out 256 -k 1 -s 2 --no-bias; batchnorm2d }
relu
residual { conv2d --out 256 -k 3 -p 1 --no-bias; batchnorm2d; relu; conv2d --out 256 -k 3 -p 1 --no-bias; batchnorm2d }
relu
residual {
  conv2d --out 512 -k 3 -s 2 -p 1 --no-bias; batchnorm2d; relu; conv2d --out 512 -k 3 -p 1 --no-bias; batchnorm2d
} shortcut downsample { conv2d --out 512 -k 1 -s 2 --no-bias; batchnorm2d }
relu
residual { conv2d --out 512 -k 3 -p 1 --no-bias; batchnorm2d; relu; conv2d --out 512 -k 3 -p 1 --no-bias; batchnorm2d }
relu
adaptiveavgpool2d --output-size 1
flatten
linear --out 1000
"""


def _comparable(summary: convcalc.Summary) -> list[tuple]:
    return [
        (r.type, r.input_shape, r.output_shape, r.params, r.buffers, r.macs, r.flops, r.receptive_field)
        for r in summary.rows
        if r.kind in ("layer", "add")
    ]


def _without_flatten(rows: list[tuple]) -> list[tuple]:
    # print(model) has an inserted flatten row; the line form writes a Flatten layer instead.
    return [row for row in rows if row[0] not in ("Flatten", "flatten")]


def test_resnet18_line_form_matches_print_model():
    assert len(RESNET18_LINES.splitlines()) < 40
    from_lines = convcalc.parse_network(RESNET18_LINES).summary()
    printed = convcalc.parse_network(str(ResNet(BasicBlock, [2, 2, 2, 2]))).summary((1, 3, 224, 224))
    assert _without_flatten(_comparable(from_lines)) == _without_flatten(_comparable(printed))
    assert from_lines.totals.params == 11_689_512
    assert from_lines.totals.macs == printed.totals.macs
    assert from_lines.totals.peak_memory_bytes == printed.totals.peak_memory_bytes
    names = [row.name for row in from_lines.rows if row.kind == "layer"]
    assert "5.downsample.0" in names and "4.1.0.3" in names


def test_lenet_three_ways():
    model = LeNet()
    printed = convcalc.parse_network(str(model)).summary((1, 1, 32, 32))
    lines = convcalc.parse_network(
        """
        input 1x1x32x32     # LeNet-5
        conv2d --out 6 -k 5;  relu; maxpool2d -k 2
        conv2d --out 16 -k 5; relu; maxpool2d -k 2
        flatten
        linear --out 120; relu; linear --out 84; relu; linear --out 10
        """
    ).summary()
    document = {
        "input": [1, 1, 32, 32],
        "layers": [
            {"type": "sequential", "name": "features", "layers": [
                {"type": "Conv2d", "args": [1, 6, 5]}, {"type": "relu"}, {"type": "maxpool2d", "kernel_size": 2},
                {"type": "conv2d", "in_channels": 6, "out_channels": 16, "kernel_size": [5, 5]}, "ReLU()",
                "nn.MaxPool2d(2)",
            ]},
            {"type": "flatten"},
            {"type": "sequential", "name": "classifier", "layers": [
                "linear --out 120", {"type": "relu"}, "Linear(120, 84)", "relu", {"type": "linear", "args": [84, 10]},
            ]},
        ],
    }
    from_json = convcalc.parse_network(json.dumps(document, indent=2)).summary()
    assert _without_flatten(_comparable(lines)) == _without_flatten(_comparable(printed))
    assert _comparable(from_json) == _comparable(lines)
    assert [r.name for r in from_json.rows][:3] == ["features.0", "features.1", "features.2"]
    assert from_json.totals == lines.totals


def test_decoder_and_text_models_in_json_match_print_model():
    for factory, shape in ((decoder, (1, 64, 8, 8)), (text_cnn, (2, 64, 100)), (video_net, (1, 3, 8, 32, 32))):
        model = factory()
        layers = [f"{type(m).__name__}({m.extra_repr()})" for m in model]
        document = {"input": list(shape), "layers": layers}
        from_json = convcalc.parse_network(json.dumps(document)).summary()
        printed = convcalc.parse_network(str(model)).summary(shape)
        assert _comparable(from_json) == _comparable(printed)
        assert [r.name for r in from_json.rows] == [r.name for r in printed.rows]


def test_to_json_contract_keys():
    data = convcalc.parse_network(str(LeNet())).to_json((1, 1, 32, 32))
    json.dumps(data)
    assert {"input_shape", "output_shape", "layers", "totals"} <= set(data)
    assert {"params", "trainable_params", "macs", "flops"} <= set(data["totals"])
    row = data["layers"][0]
    assert row["name"] == "features.0" and row["type"] == "Conv2d"
    assert {"input_shape", "output_shape", "param_shapes", "params", "macs", "flops"} <= set(row)
    assert row["param_shapes"] == {"weight": [6, 1, 5, 5], "bias": [6]} and row["params"] == 156


def torch_activations(model: nn.Module, x: torch.Tensor) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Every leaf module's output per call, keyed as convcalc keys them (``name``, ``name#2``, …)."""
    seen: dict[str, int] = {}
    outputs: dict[str, np.ndarray] = {}

    def record(name, mod, inputs, output):
        seen[name] = seen.get(name, 0) + 1
        outputs[call_key(name, seen[name])] = output.detach().numpy().copy()

    return outputs, run_hooked(model, x, record).numpy()


def test_forward_with_the_models_own_weights(model_case):
    """The NumPy forward pass of every test network, on its torch weights (state_dict) and
    buffers, matches torch layer by layer, each call of a module that runs twice on its own."""
    name, model, shape, calls, out = model_case
    torch.manual_seed(1)
    for module in model.modules():  # non-trivial running statistics, so BatchNorm does something
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 2.0)
    x = torch.randn(shape)
    want_layers, want = torch_activations(model, x)
    params = {key: value.numpy() for key, value in model.state_dict().items()}
    got, got_layers = convcalc.parse_network(str(model)).forward(x.numpy(), params, record=True)
    scale = max(float(np.abs(want).max()), 1.0)
    assert got.shape == want.shape
    assert float(np.abs(got - want).max()) <= 1e-4 * scale
    assert set(want_layers) <= set(got_layers)
    for key, value in want_layers.items():
        layer_scale = max(float(np.abs(value).max()), 1.0)
        assert float(np.abs(got_layers[key] - value).max()) <= 1e-4 * layer_scale, key


@pytest.mark.parametrize("threads", [1, 2])
def test_forward_with_and_without_the_plan(model_case, threads):
    """The output on torch's weights within 1e-5 of torch's largest, through the prepared plan
    with its folds (BatchNorm into the conv before it), the plan without them and the
    step-by-step path; at one thread and on the thread pool."""
    from convcalc.kernels.threads import use_threads

    name, model, shape, calls, out = model_case
    torch.manual_seed(1)
    for module in model.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 2.0)
    x = torch.randn(shape)
    with torch.no_grad():
        want = model.eval()(x).numpy()
    params = {key: value.numpy() for key, value in model.state_dict().items()}
    network = convcalc.parse_network(str(model))
    with use_threads(threads, least_chunk_bytes=0 if threads > 1 else None):  # small inputs split too
        for prepared, fold in ((True, True), (True, False), (False, False)):
            for call in ("first", "again"):  # the second call runs the plan the first prepared
                got = network.forward(x.numpy(), params, prepared=prepared, fold=fold)
                error = float(np.abs(got - want).max())
                assert error <= 1e-5 * float(np.abs(want).max()), (prepared, fold, call, error)


def test_two_inserted_flattens_keep_their_own_activations():
    """Two flattens convcalc inserts under one parent are two steps, keyed flatten and flatten#2."""
    net = convcalc.parse_network("input 1x3x4x4\nLinear(48, 48)\nUnflatten(1, (3, 4, 4))\nReLU()\nLinear(48, 10)")
    x = np.random.default_rng(0).standard_normal((1, 3, 4, 4)).astype(np.float32)
    params = {"0.weight": np.eye(48, dtype=np.float32), "0.bias": np.zeros(48, np.float32),
              "3.weight": np.ones((10, 48), np.float32), "3.bias": np.zeros(10, np.float32)}
    _, activations = net.forward(x, params, record=True)
    np.testing.assert_array_equal(activations["flatten"], x.reshape(1, 48))
    np.testing.assert_array_equal(activations["flatten#2"], np.maximum(x, 0).reshape(1, 48))
