"""Attention: ``nn.MultiheadAttention`` as a layer like any other, run as self-attention.

A network calls it the way ViT's encoder does, ``attn(x, x, x, need_weights=False)[0]``: query,
key and value are the one input, and the layer's output is ``attn_output`` (the attention
weights are not returned). Eval mode: dropout on the attention weights is off.

Counting, per batch item, with L queries, S = L (+1 with ``add_bias_kv``, +1 with
``add_zero_attn``) keys and E = embed_dim:

- MACs: the q, k and v projections 3·L·E·E, the scores q·kᵀ L·S·E, the weighted sum of the
  values L·S·E, the output projection L·E·E (the scores and the weighted sum are computed per
  head, heads·L·S·head_dim = L·S·E together);
- FLOPs: 2·MACs, plus 4·L·E bias adds (the in and out projections), L·E for scaling q by
  1/√head_dim, and softmax's 3 per score (exp, add, divide: see ``Softmax``) over heads·L·S.
"""

from __future__ import annotations

from typing import Any, ClassVar, Optional, Sequence

from .base import Kept, Layer, Shape, divisors_text

SOFTMAX_FLOPS = 3  # per score, as convcalc.layers.softmax.Softmax counts: exp, add, divide


class MultiheadAttention(Layer):
    """Multi-head self-attention over (L, N, E): query = key = value = the input.

    The input is (L, N, E), (N, L, E) with batch_first, or unbatched (L, E); the output is
    attn_output, of the same shape.

    >>> attn = MultiheadAttention(768, 12, batch_first=True)
    >>> attn.output_shape((1, 197, 768)), attn.num_params()
    ((1, 197, 768), 2362368)
    >>> attn.macs((1, 197, 768))
    524391936
    >>> MultiheadAttention(10, 3)
    Traceback (most recent call last):
    ...
    convcalc.errors.ConfigError: MultiheadAttention: embed_dim=10 must be divisible by num_heads=3 (each head takes embed_dim/num_heads features); use num_heads in {1, 2, 5, 10}
    >>> import numpy as np
    >>> x = np.ones((3, 4))
    >>> params = {"in_proj_weight": np.zeros((12, 4)), "out_proj.weight": np.eye(4)}
    >>> MultiheadAttention(4, 2, bias=False).forward(x, params).shape
    (3, 4)
    """

    family = "attention"
    # print(model) shows it as a module holding its out_proj, not as a call with its arguments.
    prints_children: ClassVar[bool] = True
    # Called in a forward, torch returns (attn_output, attn_weights); the weights are not computed.
    returns_weights: ClassVar[bool] = True
    flops_rule: ClassVar[str] = (
        "per batch item with L queries, S keys (L, +1 with add_bias_kv, +1 with add_zero_attn) "
        "and E = embed_dim: MACs are 3·L·E² (q, k, v projections) + L·S·E (q·kᵀ) + L·S·E "
        "(weights·v) + L·E² (output projection); FLOPs are 2·MACs + 4·L·E bias adds (with bias) "
        "+ L·E for scaling q by 1/√head_dim + 3 per score, heads·L·S, for the softmax (as Softmax)"
    )
    # torch's init: the biases 0; out_proj.weight Linear's (±1/√E); the projection weights
    # xavier-uniform (±√(6/(fan_in+fan_out)): ±1.22/√E for in_proj_weight) and bias_k/bias_v
    # xavier-normal (std 1/√E), which "fan_in" of their own shape comes close to.
    param_roles = {
        "in_proj_weight": "fan_in",
        "q_proj_weight": "fan_in",
        "k_proj_weight": "fan_in",
        "v_proj_weight": "fan_in",
        "in_proj_bias": "zeros",
        "bias_k": "fan_in",
        "bias_v": "fan_in",
        "out_proj.weight": "fan_in",
        "out_proj.bias": "zeros",
    }

    def __init__(
        self,
        embed_dim: int,
        num_heads: int,
        dropout: float = 0.0,
        bias: bool = True,
        add_bias_kv: bool = False,
        add_zero_attn: bool = False,
        kdim: Optional[int] = None,
        vdim: Optional[int] = None,
        batch_first: bool = False,
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        self.embed_dim = self._positive_int("embed_dim", embed_dim)
        self.num_heads = self._positive_int("num_heads", num_heads)
        if self.embed_dim % self.num_heads:
            raise self._config_error(
                f"embed_dim={self.embed_dim} must be divisible by num_heads={self.num_heads} "
                "(each head takes embed_dim/num_heads features); use num_heads in "
                f"{divisors_text(self.embed_dim)}"
            )
        self.head_dim = self.embed_dim // self.num_heads
        # torch does not check dropout: eval mode never applies it. Kept as given for the repr.
        self._number("dropout", dropout)
        self.dropout = dropout
        self.bias = bool(bias)
        self.add_bias_kv = bool(add_bias_kv)
        self.add_zero_attn = bool(add_zero_attn)
        self.kdim = self.embed_dim if kdim is None else self._positive_int("kdim", kdim)
        self.vdim = self.embed_dim if vdim is None else self._positive_int("vdim", vdim)
        self.same_embed_dim = self.kdim == self.embed_dim and self.vdim == self.embed_dim
        self.batch_first = bool(batch_first)

    @classmethod
    def _arg_help(cls) -> dict[str, str]:
        return {
            "embed_dim": "features E of each position: the input's last dim (inferred from --input "
            "when left out)",
            "num_heads": "parallel attention heads; each takes embed_dim/num_heads features",
            "dropout": "dropout on the attention weights (training only: off in inference)",
            "bias": "biases in the input and output projections",
            "add_bias_kv": "append a learned key and value (bias_k, bias_v) to every sequence",
            "add_zero_attn": "append an all-zero key and value to every sequence",
            "kdim": "features of the keys (None: embed_dim; self-attention needs embed_dim)",
            "vdim": "features of the values (None: embed_dim; self-attention needs embed_dim)",
            "batch_first": "input and output are (N, L, E) instead of (L, N, E)",
        }

    @classmethod
    def infer_args(cls, input_shape: Shape) -> dict[str, Any]:
        return {"embed_dim": input_shape[-1]} if input_shape else {}

    def extra_repr(self) -> str:
        text = f"embed_dim={self.embed_dim}, num_heads={self.num_heads}"
        defaults = {"dropout": 0.0, "bias": True, "add_bias_kv": False, "add_zero_attn": False}
        for name, default in defaults.items():
            if getattr(self, name) != default:
                text += f", {name}={getattr(self, name)}"
        for name in ("kdim", "vdim"):
            if getattr(self, name) != self.embed_dim:
                text += f", {name}={getattr(self, name)}"
        return text + (", batch_first=True" if self.batch_first else "")

    # -- parameters ----------------------------------------------------------------------

    def param_shapes(self) -> dict[str, Shape]:
        """The state_dict keys and shapes, in torch's order.

        >>> MultiheadAttention(8, 2, kdim=4, vdim=6, bias=False).param_shapes()
        {'q_proj_weight': (8, 8), 'k_proj_weight': (8, 4), 'v_proj_weight': (8, 6), 'out_proj.weight': (8, 8)}
        """
        e = self.embed_dim
        if self.same_embed_dim:
            shapes: dict[str, Shape] = {"in_proj_weight": (3 * e, e)}
        else:
            shapes = {"q_proj_weight": (e, e), "k_proj_weight": (e, self.kdim), "v_proj_weight": (e, self.vdim)}
        if self.bias:
            shapes["in_proj_bias"] = (3 * e,)
        if self.add_bias_kv:
            shapes["bias_k"] = shapes["bias_v"] = (1, 1, e)
        shapes["out_proj.weight"] = (e, e)
        if self.bias:
            shapes["out_proj.bias"] = (e,)
        return shapes

    def param_dim_names(self) -> dict[str, tuple[str, ...]]:
        return {
            "in_proj_weight": ("3·embed (q, k, v)", "embed"),
            "q_proj_weight": ("embed", "embed"),
            "k_proj_weight": ("embed", "kdim"),
            "v_proj_weight": ("embed", "vdim"),
            "in_proj_bias": ("3·embed (q, k, v)",),
            "bias_k": ("1", "1", "embed"),
            "bias_v": ("1", "1", "embed"),
            "out_proj.weight": ("embed", "embed"),
            "out_proj.bias": ("embed",),
        }

    def notes(self) -> list[str]:
        lines = [
            f"self-attention (query = key = value = the input): {self.num_heads} head"
            f"{'s' if self.num_heads > 1 else ''} of {self.head_dim} features, scores scaled by "
            f"1/√{self.head_dim}; the output is attn_output"
        ]
        if not self.same_embed_dim:
            lines.append(self._separate_dims_message())
        return lines

    # -- shapes and counts ---------------------------------------------------------------

    def _separate_dims_message(self) -> str:
        return (
            f"kdim={self.kdim} and vdim={self.vdim} with embed_dim={self.embed_dim} take keys and "
            "values from separate (L, N, kdim) and (L, N, vdim) inputs, but convcalc runs "
            "MultiheadAttention as self-attention (query = key = value = the one input), where "
            "kdim and vdim must equal embed_dim: leave them out"
        )

    def _dims(self, input_shape: Sequence[int]) -> tuple[int, int, int]:
        """``(L, N, E)`` of a valid input (N = 1 unbatched)."""
        shape = self._as_shape(input_shape)
        self._check_dims(shape, (2, 3), " (unbatched (L, E), or batched " + (
            "(N, L, E) with batch_first)" if self.batch_first else "(L, N, E); (N, L, E) with batch_first)"
        ))
        if not self.same_embed_dim:
            raise self._config_error(self._separate_dims_message())
        if shape[-1] != self.embed_dim:
            raise self._shape_error(
                shape,
                f"expects embed_dim={self.embed_dim} features in the last dim but has {shape[-1]}; "
                f"set embed_dim={shape[-1]} (with num_heads dividing it)",
            )
        if len(shape) == 2:
            return shape[0], 1, shape[1]
        length, batch = (shape[1], shape[0]) if self.batch_first else (shape[0], shape[1])
        return length, batch, shape[2]

    def output_shape(self, input_shape: Sequence[int], **forward_kwargs: Any) -> Shape:
        self._no_forward_options(forward_kwargs)
        self._dims(input_shape)
        return tuple(input_shape)

    def kept_for_backward(self, input_shape: Shape, output_shape: Shape) -> tuple[Kept, ...]:
        """What torch's MultiheadAttention keeps called with ``need_weights=True`` (the
        module's default): the input (a transposed copy with batch_first), the in-projection's q,
        k and v, q scaled, the attention weights (and their dropout mask) and the heads' output
        before the out-projection.

        >>> [kept.elements for kept in MultiheadAttention(16, 2, batch_first=True).kept_for_backward((2, 5, 16), (2, 5, 16))]
        [160, 800, 100]
        """
        length, batch, e = self._dims(input_shape)
        tokens = length * batch * e
        weights = batch * self.num_heads * length * self.keys(length) * (2 if self.dropout > 0 else 1)
        first = Kept("own" if self.batch_first and len(input_shape) == 3 else "input", tokens)
        return first, Kept("own", 5 * tokens), Kept("own", weights)

    def keys(self, length: int) -> int:
        """S: the keys each query attends to, for a sequence of ``length``.

        >>> MultiheadAttention(8, 2, add_bias_kv=True, add_zero_attn=True).keys(5)
        7
        """
        return length + int(self.add_bias_kv) + int(self.add_zero_attn)

    def macs(self, input_shape: Sequence[int], **forward_kwargs: Any) -> int:
        self._no_forward_options(forward_kwargs)
        length, batch, e = self._dims(input_shape)
        return batch * 4 * length * e * e + self.product_macs(input_shape)

    def product_macs(self, input_shape: Sequence[int], **forward_kwargs: Any) -> int:
        """The MACs of q·kᵀ and of the weights times v, without the four projections.

        >>> MultiheadAttention(8, 2).product_macs((5, 1, 8))
        400
        """
        self._no_forward_options(forward_kwargs)
        length, batch, e = self._dims(input_shape)
        return batch * 2 * length * self.keys(length) * e

    def traced_op(self, input_shape: Shape) -> str | None:
        return "multi_head_attention"

    def batch_dim(self, input_shape: Shape) -> int | None:
        """(L, N, E) has its batch second; (N, L, E) with batch_first, first; (L, E) none."""
        if len(input_shape) != 3:
            return None
        return 0 if self.batch_first else 1

    def flops(self, input_shape: Sequence[int], **forward_kwargs: Any) -> int:
        """2·MACs, bias adds, the scaling of q, and the softmax over every score.

        >>> MultiheadAttention(8, 2).flops((5, 1, 8)), MultiheadAttention(8, 2).macs((5, 1, 8))
        (3710, 1680)
        """
        self._no_forward_options(forward_kwargs)
        length, batch, e = self._dims(input_shape)
        bias_adds = 4 * length * e if self.bias else 0
        scale = length * e
        softmax = SOFTMAX_FLOPS * self.num_heads * length * self.keys(length)
        return 2 * self.macs(input_shape) + batch * (bias_adds + scale + softmax)

    # -- forward pass --------------------------------------------------------------------

    def _forward(self, x: Any, params: dict[str, Any], **forward_kwargs: Any) -> Any:
        from ..kernels.attention import self_attention

        self._no_forward_options(forward_kwargs)
        unbatched = x.ndim == 2
        seq_first = x[:, None] if unbatched else (x.swapaxes(0, 1) if self.batch_first else x)
        out = self_attention(
            seq_first,
            self.num_heads,
            params["in_proj_weight"],
            params.get("in_proj_bias"),
            params["out_proj.weight"],
            params.get("out_proj.bias"),
            bias_k=params.get("bias_k"),
            bias_v=params.get("bias_v"),
            add_zero_attn=self.add_zero_attn,
        )
        if unbatched:
            return out[:, 0]
        return out.swapaxes(0, 1) if self.batch_first else out


LAYERS = (MultiheadAttention,)
