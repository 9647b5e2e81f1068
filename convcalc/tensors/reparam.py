"""Weights that torch's old hook-based ``weight_norm`` and ``spectral_norm`` keep in other tensors.

A layer they wrap prints as itself, but its state_dict holds ``weight_g`` and ``weight_v``
(weight_norm) or ``weight_orig`` and the buffers ``weight_u`` and ``weight_v`` (spectral_norm)
instead of ``weight``. Their forward computes the weight from those, as here, in eval mode.
"""

from __future__ import annotations

import numpy as np


def fold_weight_hooks(arrays: dict[str, np.ndarray]) -> tuple[dict[str, np.ndarray], list[str]]:
    """``arrays`` with each hook's tensors replaced by the ``weight`` its forward computes, and
    a note of what was computed.

    >>> folded, notes = fold_weight_hooks({"0.weight_g": np.array([[2.0]]), "0.weight_v": np.array([[3.0, 4.0]])})
    >>> folded["0.weight"].tolist(), notes[0][:30]
    ([[1.2, 1.6]], 'computed 0.weight from weight_')
    """
    folded = dict(arrays)
    notes = []
    for key in arrays:
        prefix, _, name = key.rpartition(".")
        stem = f"{prefix}." if prefix else ""
        if stem + "weight" in arrays:
            continue
        if name == "weight_g" and stem + "weight_v" in arrays:
            folded[stem + "weight"] = _weight_norm(arrays[key], arrays[stem + "weight_v"])
            del folded[key], folded[stem + "weight_v"]
            notes.append(f"computed {stem}weight from weight_norm's weight_g and weight_v (g·v/‖v‖)")
        elif name == "weight_orig" and stem + "weight_u" in arrays and stem + "weight_v" in arrays:
            folded[stem + "weight"] = _spectral_norm(arrays[key], arrays[stem + "weight_u"], arrays[stem + "weight_v"])
            del folded[key], folded[stem + "weight_u"], folded[stem + "weight_v"]
            notes.append(f"computed {stem}weight from spectral_norm's weight_orig, weight_u and weight_v (W/σ)")
    return folded, notes


def _weight_norm(g: np.ndarray, v: np.ndarray) -> np.ndarray:
    """g·v/‖v‖, the norm over the dims where g has size 1 (all of them for a scalar g: dim=None)."""
    axes = tuple(d for d in range(v.ndim) if g.ndim != v.ndim or g.shape[d] == 1)
    norm = np.sqrt(np.sum(np.square(v, dtype=np.float64), axis=axes, keepdims=True))
    return (g * (v / norm)).astype(v.dtype)


def _spectral_norm(weight: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """W/σ with σ = uᵀ·W·v, W seen as a matrix of u's length rows (dim 0; dim 1 for a
    transposed conv, whose first two dims swap)."""
    dim = 0 if weight.shape[0] == u.size else 1
    matrix = np.moveaxis(weight, dim, 0).reshape(u.size, -1).astype(np.float64)
    sigma = float(u.astype(np.float64) @ (matrix @ v.astype(np.float64)))
    return (weight / sigma).astype(weight.dtype)
