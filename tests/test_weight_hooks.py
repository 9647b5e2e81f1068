"""The old hook-based weight_norm and spectral_norm: a layer prints as itself while its state_dict
holds other tensors; --weights computes its weight from them as torch's forward does."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import convcalc
from convcalc.tensors.files import load_weights
from convcalc.tensors.reparam import fold_weight_hooks

torch = pytest.importorskip("torch")
nn = torch.nn


def _models():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch deprecates the hooks in favour of parametrizations
        weight_norm, spectral_norm = nn.utils.weight_norm, nn.utils.spectral_norm
        return {
            "weight_norm": (nn.Sequential(
                weight_norm(nn.Conv1d(8, 16, 7)), nn.LeakyReLU(0.2), weight_norm(nn.ConvTranspose1d(16, 8, 4, 2, 1)),
                weight_norm(nn.Conv1d(8, 1, 7, padding=3), dim=None), nn.Tanh()), (1, 8, 20)),
            "spectral_norm": (nn.Sequential(
                spectral_norm(nn.Conv2d(3, 8, 3)), nn.LeakyReLU(0.2), spectral_norm(nn.ConvTranspose2d(8, 4, 4, 2, 1)),
                nn.Flatten(), spectral_norm(nn.Linear(4 * 8 * 8, 1))), (2, 3, 6, 6)),
        }


@pytest.mark.parametrize("kind", ["weight_norm", "spectral_norm"])
def test_weights_are_computed_from_the_hooks_tensors_as_torch_does(kind, tmp_path):
    torch.manual_seed(0)
    model, shape = _models()[kind]
    model.eval()
    x = torch.randn(*shape)
    with torch.no_grad():
        want = model(x).numpy()
    np.savez(tmp_path / "w.npz", **{k: v.numpy() for k, v in model.state_dict().items()})
    loaded = load_weights(tmp_path / "w.npz")
    assert len([note for note in loaded.warnings if f"from {kind}'s" in note]) == 3
    got = convcalc.parse_network(repr(model)).forward(x.numpy(), loaded.arrays)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5 * np.abs(want).max())


def test_a_state_dict_with_weight_itself_is_left_alone():
    arrays = {"weight": np.ones((2, 2)), "weight_g": np.ones((2, 1)), "weight_v": np.ones((2, 2))}
    assert fold_weight_hooks(arrays) == (arrays, [])
