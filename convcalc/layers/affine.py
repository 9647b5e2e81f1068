"""Folding a per-channel ``x·scale + shift`` into the affine layer before it (a convolution or
Linear): what :meth:`convcalc.layers.base.Layer.absorb_channel_affine` returns."""

from __future__ import annotations

from typing import Any

from .base import Layer, Shape


def scaled_channels(
    layer: Layer, params: dict[str, Any], grouped: Shape, factor: Shape, scale: Any, shift: Any
) -> tuple[Layer, dict[str, Any]]:
    """An affine ``layer`` (weight and optional bias) followed by ``y·scale + shift`` per output
    channel, as ``layer`` with a bias and new parameters: the weight viewed as ``grouped`` is
    multiplied by ``scale`` viewed as ``factor``, and the bias becomes ``bias·scale + shift``;
    computed in float64, kept in the weight's dtype (see :meth:`Layer.absorb_channel_affine`).

    >>> import numpy as np
    >>> from convcalc import Linear
    >>> layer, params = scaled_channels(Linear(1, 2, bias=False), {"weight": np.ones((2, 1))},
    ...                                 (2, -1), (2, 1), np.array([2.0, 3.0]), np.array([1.0, 0.0]))
    >>> layer.bias, params["weight"].ravel().tolist(), params["bias"].tolist()
    (True, [2.0, 3.0], [1.0, 0.0])
    """
    import copy

    import numpy as np

    weight = np.asarray(params["weight"])
    multiplied = weight.reshape(grouped).astype(np.float64) * np.asarray(scale).reshape(factor)
    bias = params.get("bias")
    shifted = shift if bias is None else np.asarray(bias, dtype=np.float64) * scale + shift
    folded = copy.copy(layer)
    folded.bias = True  # type: ignore[attr-defined]  # an affine layer's flag: it now has one
    return folded, {"weight": multiplied.reshape(weight.shape).astype(weight.dtype),
                    "bias": np.asarray(shifted).astype(weight.dtype)}
