"""Upsampling: ``nn.Upsample`` and its fixed-mode forms ``nn.UpsamplingNearest2d`` and
``nn.UpsamplingBilinear2d``, with ``F.interpolate``'s rules (what ``forward`` calls)."""

from __future__ import annotations

import math
from typing import Any, ClassVar, Literal, Optional, Sequence, Union, get_args

from ..arith import FixedRule, ScaleRule, spatial_symbols
from .base import Layer, OptionalFloats, OptionalSize, Shape, prod

UPSAMPLE_MODES = Literal[
    "nearest", "linear", "bilinear", "bicubic", "trilinear", "area", "nearest-exact"
]
_MODES: tuple[str, ...] = get_args(UPSAMPLE_MODES)

# Interpolating modes and the spatial dims each one needs; the others take 1 to 3.
_INTERPOLATING = {"linear": 1, "bilinear": 2, "bicubic": 2, "trilinear": 3}

# FLOPs per output element. One linear interpolation a + t·(b − a) is 3 FLOPs and n
# interpolated dims take 2^n − 1 of them; bicubic is five 4-tap weighted sums (4 multiplies
# and 3 adds each): four along W, then one along H.
_FLOPS_PER_OUTPUT = {"linear": 3, "bilinear": 9, "trilinear": 21, "bicubic": 35}

# Input positions beyond one that an output reads along each dim: a linear interpolation reads
# two neighbours, a cubic one four; nearest and area count none (the receptive field's taps).
_EXTRA_TAPS = {"linear": 1, "bilinear": 1, "trilinear": 1, "bicubic": 3}

_INT64_LIMIT = 2**63

SizeRule = Union[FixedRule, ScaleRule]


def area_window_total(size: int, out: int) -> int:
    """Sum of the window lengths of adaptive average pooling from ``size`` to ``out`` cells.

    Window i spans ``⌊i·L/O⌋`` to ``⌈(i+1)·L/O⌉`` (``arith.adaptive_window``); the ends telescope
    and each ceiling adds 1 unless ``(i+1)·L`` is a multiple of ``O``, which happens gcd(L, O)
    times, so the total is ``L + O − gcd(L, O)``.

    >>> area_window_total(10, 4), area_window_total(4, 8), area_window_total(6, 3)
    (12, 8, 6)
    """
    return size + out - math.gcd(size, out)


class Upsample(Layer):
    """Upsample to a size or by a scale factor: nearest, (bi/tri)linear, bicubic or area.

    >>> Upsample(scale_factor=2).output_shape((1, 3, 16, 16))
    (1, 3, 32, 32)
    >>> Upsample(size=(5, 7), mode="bilinear").output_shape((1, 3, 2, 2))
    (1, 3, 5, 7)
    >>> Upsample(scale_factor=1.5, mode="linear").output_shape((2, 4, 7))
    (2, 4, 10)
    """

    family = "resample"
    saved_for_backward: ClassVar[tuple[str, ...]] = ()  # the backward needs the sizes only
    flops_rule: ClassVar[str] = (
        "per output element: 0 for nearest and nearest-exact; for area its averaging window's "
        "size (window−1 adds and a divide); 3 per linear interpolation a + t·(b−a), "
        "2^n − 1 of them over n dims (linear 3, bilinear 9, trilinear 21); bicubic 35 "
        "(five 4-tap weighted sums of 7)"
    )
    # Spatial dims to show formulas for when neither the arguments nor an input tell.
    default_dims: ClassVar[Optional[int]] = None
    unprinted = ("align_corners", "recompute_scale_factor")

    def unstated(self, names: tuple[str, ...], input_shape: Shape) -> list[tuple[str, bool]]:
        """align_corners in the interpolating modes; recompute_scale_factor where a scale
        does not give whole sizes (both change values only, never shapes).

        >>> Upsample(scale_factor=2, mode="bilinear").unstated(("align_corners",), (1, 1, 4, 4))[0][0][:40]
        "Upsample's print does not show align_cor"
        """
        said = []
        name = type(self).__name__
        if "align_corners" in names and self.align_corners is None and self.mode in _INTERPOLATING:
            said.append((f"{name}'s print does not show align_corners: assumed False (True maps the corner "
                         "pixels of input and output onto each other, other values)", False))
        scales = self.scale_factor if isinstance(self.scale_factor, (tuple, list)) else [self.scale_factor] * 3
        sizes = input_shape[2:]
        fractional = self.scale_factor is not None and any(n * f != int(n * f) for n, f in zip(sizes, scales))
        if "recompute_scale_factor" in names and not self.recompute_scale_factor and fractional:
            said.append((f"{name}'s print does not show recompute_scale_factor: assumed None, interpolating "
                         "with the scale factor itself (True uses the scale the rounded size implies, other values)",
                         False))
        return said

    def traced_op(self, input_shape: Shape) -> str | None:
        """F.interpolate's operator: ``upsample_<mode><n>d``; area is adaptive average pooling.

        >>> Upsample(scale_factor=2, mode="bilinear").traced_op((1, 3, 4, 4))
        'upsample_bilinear2d'
        """
        dims = len(input_shape) - 2
        if self.mode == "area":
            return f"adaptive_avg_pool{dims}d"
        return f"upsample_{self.mode.replace('-', '_')}{dims}d"

    def __init__(
        self,
        size: OptionalSize = None,
        scale_factor: OptionalFloats = None,
        mode: UPSAMPLE_MODES = "nearest",
        align_corners: Optional[bool] = None,
        recompute_scale_factor: Optional[bool] = None,
    ) -> None:
        if mode == "lanczos":
            raise self._config_error(
                "mode='lanczos' needs antialias=True, which Upsample cannot pass; "
                f"use one of {', '.join(map(repr, _MODES))}"
            )
        self.mode = self._choice("mode", mode, _MODES)
        self.size = self._check_size(size)
        self.scale_factor = self._check_scale(scale_factor)
        self.align_corners = align_corners
        self.recompute_scale_factor = recompute_scale_factor
        if align_corners is not None and mode not in _INTERPOLATING:
            raise self._config_error(
                f"align_corners={align_corners} only applies to the interpolating modes "
                f"(linear, bilinear, bicubic, trilinear), not mode={mode!r}; leave it unset"
            )
        if self.size is not None and self.scale_factor is not None:
            raise self._config_error(
                f"give size or scale_factor, not both: got size={self.size!r}, "
                f"scale_factor={self.scale_factor!r}"
            )
        if self.size is None and self.scale_factor is None:
            raise self._config_error("give size (the output size) or scale_factor (a multiplier)")
        if recompute_scale_factor and self.size is not None:
            raise self._config_error(
                "recompute_scale_factor=True only applies to scale_factor, not to an explicit "
                "size; leave it unset"
            )
        given = self.size if self.size is not None else self.scale_factor
        needed = _INTERPOLATING.get(self.mode)
        if isinstance(given, (tuple, list)) and needed is not None and len(given) != needed:
            name = "size" if self.size is not None else "scale_factor"
            raise self._config_error(
                f"mode={self.mode!r} works on {needed} spatial dim{'s' if needed > 1 else ''}, "
                f"but {name}={given!r} has {len(given)} entries"
            )

    @classmethod
    def _arg_help(cls) -> dict[str, str]:
        return {
            "size": "output spatial size: 32 or 32x48 (give size or scale_factor)",
            "scale_factor": "multiplier of each spatial size: 2 or 2x1.5 (output is rounded down)",
            "mode": "nearest, nearest-exact, area (any dims); linear 3-D, bilinear/bicubic "
            "4-D, trilinear 5-D input",
            "align_corners": "align the corner pixels of input and output (interpolating "
            "modes only)",
            "recompute_scale_factor": "interpolate with the scale the rounded output size "
            "implies (scale_factor only; shapes are unchanged)",
        }

    def _check_size(self, size: Any) -> Any:
        if size is None:
            return None
        values = tuple(size) if isinstance(size, (tuple, list)) else (size,)
        if not all(isinstance(n, int) and not isinstance(n, bool) for n in values):
            raise self._config_error(
                f"size must be a whole number or a tuple of them: got size={size!r}"
            )
        if isinstance(size, (tuple, list)) and not 1 <= len(values) <= 3:
            raise self._config_error(
                f"size needs 1 to 3 entries, one per spatial dim: got size={size!r}"
            )
        if min(values) < 1:
            raise self._config_error(f"every output size must be at least 1: got size={size!r}")
        return size

    def _check_scale(self, scale_factor: Any) -> Any:
        # As torch: a tuple stays a tuple of floats; a zero scalar counts as not given.
        if scale_factor is None:
            return None
        if isinstance(scale_factor, tuple):
            if not 1 <= len(scale_factor) <= 3:
                raise self._config_error(
                    "scale_factor needs 1 to 3 entries, one per spatial dim: "
                    f"got scale_factor={scale_factor!r}"
                )
            scales: Any = tuple(self._number("scale_factor", s) for s in scale_factor)
            values = scales
        else:
            scale = self._number("scale_factor", scale_factor)
            if not scale:
                return None
            scales = scale
            values = (scale,)
        for value in values:
            if not math.isfinite(value) or value <= 0:
                raise self._config_error(
                    f"scale_factor must be a positive finite number: got "
                    f"scale_factor={scale_factor!r}"
                )
        return scales

    def extra_repr(self) -> str:
        if self.scale_factor is not None:
            return f"scale_factor={self.scale_factor!r}, mode={self.mode!r}"
        return f"size={self.size!r}, mode={self.mode!r}"

    def rules(self, spatial_dims: int) -> list[SizeRule]:
        """One size rule per spatial dim of an input with ``spatial_dims`` of them."""
        if self.size is not None:
            if isinstance(self.size, (tuple, list)):
                return [FixedRule(n) for n in self.size]
            return [FixedRule(self.size)] * spatial_dims
        if isinstance(self.scale_factor, tuple):
            return [ScaleRule(s) for s in self.scale_factor]
        return [ScaleRule(self.scale_factor)] * spatial_dims

    def receptive_taps(self, size_in: int, size_out: int) -> int:
        """The neighbours an interpolated output reads beyond the nearest one.

        >>> Upsample(scale_factor=2, mode="bicubic").receptive_taps(4, 8)
        3
        """
        return _EXTRA_TAPS.get(self.mode, 0)

    def _known_dims(self, input_shape: Shape | None) -> int | None:
        for given in (self.size, self.scale_factor):
            if isinstance(given, (tuple, list)):
                return len(given)
        if input_shape is not None and len(input_shape) in (3, 4, 5):
            return len(input_shape) - 2
        return _INTERPOLATING.get(self.mode, self.default_dims)

    def size_rules(self, input_shape: Shape | None = None, **forward_kwargs: Any) -> list[tuple[str, Any]]:
        dims = self._known_dims(input_shape)
        if dims is None:
            # Any of 1 to 3 spatial dims; one rule speaks for each of them.
            return [("L", self.rules(1)[0])]
        return list(zip(spatial_symbols(dims), self.rules(dims)))

    def output_shape(self, input_shape: Sequence[int], **forward_kwargs: Any) -> Shape:
        self._no_forward_options(forward_kwargs)
        shape = self._as_shape(input_shape)
        self._check_dims(
            shape, (3, 4, 5), " (N×C×L, N×C×H×W or N×C×D×H×W; Upsample has no unbatched form)"
        )
        dims = len(shape) - 2
        needed = _INTERPOLATING.get(self.mode)
        if needed is not None and needed != dims:
            raise self._shape_error(
                shape,
                f"mode={self.mode!r} needs a {needed + 2}-D input (N, C, "
                f"{', '.join(spatial_symbols(needed))}), got {len(shape)}-D",
            )
        rules = self.rules(dims)
        if len(rules) != dims:
            name = "size" if self.size is not None else "scale_factor"
            raise self._shape_error(
                shape,
                f"{name}={getattr(self, name)!r} has {len(rules)} entries but the input has "
                f"{dims} spatial dims",
            )
        out = []
        for axis, (size, rule) in enumerate(zip(shape[2:], rules)):
            value = rule.out(size)
            if value < 1:
                raise self._shape_error(
                    shape,
                    f"the output size in spatial dim {axis} would be {rule.formula(str(size))} = "
                    f"{value}; it must be at least 1, so use a larger scale_factor or input",
                )
            if value >= _INT64_LIMIT:
                raise self._shape_error(
                    shape,
                    f"the output size in spatial dim {axis} would be {rule.formula(str(size))}, "
                    "which does not fit in 64 bits",
                )
            out.append(value)
        return (*shape[:2], *out)

    def flops(self, input_shape: Sequence[int], **forward_kwargs: Any) -> int:
        out = self.output_shape(input_shape, **forward_kwargs)
        if self.mode == "area":
            shape = tuple(input_shape)
            windows = prod(area_window_total(size, o) for size, o in zip(shape[2:], out[2:]))
            return shape[0] * shape[1] * windows
        return prod(out) * _FLOPS_PER_OUTPUT.get(self.mode, 0)

    def _forward(self, x: Any, params: dict[str, Any], **forward_kwargs: Any) -> Any:
        from ..kernels.resample import interpolate

        out = self.output_shape(x.shape)
        # torch maps coordinates with the given scale_factor, not in/out, unless asked to
        # recompute it from the rounded size; an explicit size always maps by in/out.
        scales = self.scale_factor if not self.recompute_scale_factor else None
        return interpolate(x, out[2:], self.mode, self.align_corners, scales)


class UpsamplingNearest2d(Upsample):
    """Nearest-neighbour upsampling (deprecated torch alias of Upsample(mode='nearest')).

    >>> UpsamplingNearest2d(scale_factor=2).output_shape((1, 1, 2, 2))
    (1, 1, 4, 4)
    """

    default_dims = 2
    unprinted = ()  # its mode and align_corners are fixed by the class

    def __init__(self, size: OptionalSize = None, scale_factor: OptionalFloats = None) -> None:
        super().__init__(size, scale_factor, mode="nearest")


class UpsamplingBilinear2d(Upsample):
    """Bilinear upsampling with align_corners=True (deprecated torch alias of Upsample).

    >>> UpsamplingBilinear2d(scale_factor=2).output_shape((1, 1, 2, 2))
    (1, 1, 4, 4)
    >>> UpsamplingBilinear2d(scale_factor=2).flops((1, 1, 2, 2))
    144
    """

    default_dims = 2
    unprinted = ()  # its mode and align_corners are fixed by the class

    def __init__(self, size: OptionalSize = None, scale_factor: OptionalFloats = None) -> None:
        super().__init__(size, scale_factor, mode="bilinear", align_corners=True)


LAYERS = (Upsample, UpsamplingNearest2d, UpsamplingBilinear2d)
