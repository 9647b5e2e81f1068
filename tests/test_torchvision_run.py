"""``--run`` on torchvision's models: the NumPy forward pass of every model convcalc runs, read
from its print(model) text, with the real model's weights, against torch's output.

Needs torch and torchvision (skipped without them). The torchvision wheel that pins torch 2.13
is a CUDA build whose compiled extension does not load beside the CPU torch: importing it then
fails while registering the detection operators' meta kernels. None of that is needed here (no
detection operator runs), so that one module is replaced by an empty one before the import.
"""

from __future__ import annotations

import json
import sys
import types
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
sys.modules.setdefault("torchvision._meta_registrations", types.ModuleType("torchvision._meta_registrations"))
torchvision = pytest.importorskip("torchvision")

import convcalc  # noqa: E402

DATA = Path(__file__).parent / "data" / "torchvision"
REFERENCE = json.loads((DATA / "reference.json").read_text())
SKIP_FAMILIES = ("swin", "maxvit", "mvit")
# Kept out to bound CI's time and memory: over 100 M parameters (regnet_y_128gf has 645 M).
MAX_PARAMS = 150_000_000


def _small_input(name: str) -> tuple[int, ...]:
    """A small input the model accepts: its figures are checked at full size elsewhere."""
    entry = REFERENCE[name]
    if entry["task"] == "video":
        return (1, 3, 16, 224, 224) if name == "s3d" else (1, 3, 4, 32, 32)
    if name == "inception_v3":
        return (1, 3, 96, 96)
    if name.startswith("vit_"):  # its position embedding is for 224x224
        return (1, 3, 224, 224)
    return (1, 3, 64, 64)


MODELS = sorted(
    name for name, entry in REFERENCE.items()
    if "input" in entry and not name.startswith(SKIP_FAMILIES) and entry["params"] <= MAX_PARAMS
)


def _model(name: str):
    torch.manual_seed(0)
    kwargs = {"weights_backbone": None} if REFERENCE[name]["task"] == "segmentation" else {}
    model = torchvision.models.get_model(name, weights=None, **kwargs).eval()
    generator = torch.Generator().manual_seed(1)
    for module in model.modules():  # statistics a trained model would have, not 0 and 1
        if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
            module.running_mean.copy_(torch.randn(module.running_mean.shape, generator=generator) * 0.1)
            module.running_var.copy_(torch.rand(module.running_var.shape, generator=generator) + 0.5)
    return model


def _output(value):
    return value["out"] if isinstance(value, dict) else value


@pytest.mark.oracle
@pytest.mark.parametrize("name", MODELS)
def test_forward_matches_torch(name):
    model = _model(name)
    shape = _small_input(name)
    x = torch.randn(shape, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        expected = _output(model(x)).numpy()
    params = {key: value.detach().numpy() for key, value in model.state_dict().items()}
    network = convcalc.parse_network(str(model))
    got = network.forward(x.numpy(), params)
    assert got.shape == expected.shape
    scale = float(np.abs(expected).max())
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4 * max(scale, 1e-6))


@pytest.mark.oracle
def test_net_run_with_an_npz_state_dict(tmp_path, cli):
    model = _model("mobilenet_v3_small")
    x = torch.randn((1, 3, 64, 64), generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        expected = model(x).numpy()
    np.savez(tmp_path / "weights.npz", **{k: v.numpy() for k, v in model.state_dict().items()})
    np.save(tmp_path / "x.npy", x.numpy())
    (tmp_path / "model.txt").write_text(str(model))
    result = cli("net", str(tmp_path / "model.txt"), "--run", "--input-file", str(tmp_path / "x.npy"),
                 "--weights", str(tmp_path / "weights.npz"), "--save", str(tmp_path / "out.npy"))
    assert result.code == 0, result.err
    got = np.load(tmp_path / "out.npy")
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4 * float(np.abs(expected).max()))


@pytest.mark.oracle
@pytest.mark.parametrize("name,module,shape", [("inception_v3", "AuxLogits", (2, 768, 17, 17)),
                                               ("googlenet", "aux1", (2, 512, 14, 14))])
def test_an_auxiliary_classifier_asked_for_alone_runs_its_own_forward(name, module, shape):
    """Reproducer: --module AuxLogits / aux1 was refused: InceptionAux had no recipe."""
    torch.manual_seed(0)
    aux = getattr(torchvision.models.get_model(name, weights=None, init_weights=False), module).eval()
    x = np.random.default_rng(2).standard_normal(shape).astype(np.float32)
    params = {key: value.detach().numpy() for key, value in aux.state_dict().items()}
    network = convcalc.parse_network((DATA / f"{name}.txt").read_text()).module(module)
    assert network.summary(shape).totals.params == sum(p.numel() for p in aux.parameters())
    with torch.inference_mode():
        expected = aux(torch.from_numpy(x)).numpy()
    got = network.forward(x, params)
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4 * np.abs(expected).max())
