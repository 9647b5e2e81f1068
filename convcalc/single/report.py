"""What the single-layer commands show, as plain data (the CLI renders it, --json dumps it)."""

from __future__ import annotations

from typing import Any, NamedTuple

from ..errors import ParseError
from ..layers.base import Layer, Shape, prod

# Bytes per element of the dtypes a user may ask memory figures for.
DTYPE_BYTES = {
    "float16": 2,
    "bfloat16": 2,
    "float32": 4,
    "float64": 8,
    "int8": 1,
    "uint8": 1,
    "int16": 2,
    "int32": 4,
    "int64": 8,
}


def dtype_bytes(dtype: str) -> int:
    """Bytes per element; unknown names are a ParseError listing the known ones.

    >>> dtype_bytes("float16")
    2
    """
    try:
        return DTYPE_BYTES[dtype]
    except KeyError:
        raise ParseError(f"--dtype {dtype!r} is not one of: {', '.join(DTYPE_BYTES)}") from None


class FormulaLine(NamedTuple):
    """One output dim's size rule: symbolic, simplified, and filled in when the input is known."""

    symbol: str
    general: str
    simplified: str
    filled: str | None = None
    value: int | None = None

    @property
    def name(self) -> str:
        return f"{self.symbol}_out"

    def right_side(self) -> str:
        """``⌊(H + 2·0 − 1·(5−1) − 1)/1⌋ + 1 = H − 4``, or ``… = 28`` with numbers filled in."""
        if self.filled is None:
            tail = "" if self.simplified == self.general else f" = {self.simplified}"
            return f"{self.general}{tail}"
        return self.filled if self.filled == str(self.value) else f"{self.filled} = {self.value}"

    def text(self) -> str:
        return f"{self.name} = {self.right_side()}"


class LayerReport(NamedTuple):
    layer: Layer
    input_shape: Shape | None
    output_shape: Shape | None
    dtype: str
    macs: int | None
    flops: int | None
    formulas: tuple[FormulaLine, ...] = ()
    forward_kwargs: dict[str, Any] | None = None
    input_layout: str | None = None  # "(C, H, W)" or "(N, C, H, W)" where the batch dim may be left out

    @property
    def unbatched(self) -> bool | None:
        """Whether the input was read as one sample without its batch dim (None: no such reading)."""
        return None if self.input_layout is None else not self.input_layout.startswith("(N,")

    @property
    def param_shapes(self) -> dict[str, Shape]:
        return self.layer.param_shapes()

    @property
    def buffer_shapes(self) -> dict[str, Shape]:
        return self.layer.buffer_shapes()

    @property
    def output_bytes(self) -> int | None:
        if self.output_shape is None:
            return None
        return prod(self.output_shape) * dtype_bytes(self.dtype)

    def to_json(self) -> dict[str, Any]:
        """type, layer, input and output shapes, parameter shapes and counts, MACs and FLOPs, and more."""
        layer = self.layer
        return {
            "type": type(layer).__name__,
            "layer": repr(layer),
            "input_shape": _listed(self.input_shape),
            "output_shape": _listed(self.output_shape),
            "param_shapes": {k: list(v) for k, v in self.param_shapes.items()},
            "params": layer.num_params(),
            "buffer_shapes": {k: list(v) for k, v in self.buffer_shapes.items()},
            "buffers": layer.num_buffers(),
            "macs": self.macs,
            "flops": self.flops,
            "dtype": self.dtype,
            "output_bytes": self.output_bytes,
            "formulas": [line.text() for line in self.formulas],
            "notes": layer.notes(),
            "unbatched": self.unbatched,
            "input_layout": self.input_layout,
        }


def _listed(shape: Shape | None) -> list[int] | None:
    return None if shape is None else list(shape)


def layer_report(
    layer: Layer,
    input_shape: Shape | None = None,
    dtype: str = "float32",
    forward_kwargs: dict[str, Any] | None = None,
) -> LayerReport:
    """Everything the single-layer view shows; raises ConvcalcError for an input that doesn't fit.

    >>> from convcalc import Conv2d
    >>> report = layer_report(Conv2d(3, 8, 5), (1, 3, 32, 32))
    >>> report.output_shape, report.macs, report.formulas[0].text()
    ((1, 8, 28, 28), 470400, 'H_out = ⌊(32 + 2·0 − 1·(5−1) − 1)/1⌋ + 1 = 28')
    """
    dtype_bytes(dtype)
    forward_kwargs = forward_kwargs or {}
    rules = layer.size_rules(input_shape, **forward_kwargs)
    if input_shape is None:
        formulas = tuple(
            FormulaLine(symbol, rule.formula(symbol), rule.simplified(symbol)) for symbol, rule in rules
        )
        return LayerReport(layer, None, None, dtype, None, None, formulas, forward_kwargs)
    output_shape = layer.output_shape(input_shape, **forward_kwargs)
    spatial_in = input_shape[len(input_shape) - len(rules) :] if rules else ()
    spatial_out = output_shape[len(output_shape) - len(rules) :] if rules else ()
    formulas = tuple(
        FormulaLine(symbol, rule.formula(symbol), rule.simplified(symbol), rule.formula(str(size)), out)
        for (symbol, rule), size, out in zip(rules, spatial_in, spatial_out)
    )
    return LayerReport(
        layer,
        tuple(input_shape),
        output_shape,
        dtype,
        layer.macs(input_shape, **forward_kwargs),
        layer.flops(input_shape, **forward_kwargs),
        formulas,
        forward_kwargs,
        input_layout(layer, input_shape, tuple(symbol for symbol, _ in rules)),
    )


def input_layout(layer: Layer, input_shape: Shape, symbols: tuple[str, ...]) -> str | None:
    """``(C, H, W)`` when a layer that takes an unbatched sample gets one, ``(N, C, H, W)`` when
    batched; None for a layer without that choice. ``symbols`` name the spatial dims.

    >>> from convcalc import Conv2d
    >>> input_layout(Conv2d(3, 8, 3), (3, 32, 32), ("H", "W")), input_layout(Conv2d(3, 8, 3), (1, 3, 8, 8), ("H", "W"))
    ('(C, H, W)', '(N, C, H, W)')
    """
    if not layer.batch_optional or len(symbols) != layer.nd or len(input_shape) not in (layer.nd + 1, layer.nd + 2):
        return None
    dims = ("N", "C", *symbols) if len(input_shape) == layer.nd + 2 else ("C", *symbols)
    return "(" + ", ".join(dims) + ")"
