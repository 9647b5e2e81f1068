"""``convcalc solve``: which (kernel, stride, padding, dilation) map an input size to an output size.

Candidates are enumerated within bounds and each is checked twice: by the size rule of
:mod:`convcalc.arith` (the one formula the rest of convcalc uses) and by building the real layer
(``Conv1d``, ``ConvTranspose1d`` or ``MaxPool1d``) and asking its ``output_shape``, so PyTorch's
validity rules (pool padding at most half the kernel, output_padding smaller than stride or
dilation, ...) decide what is allowed. No formula is solved backwards.

Bounds, per spatial dim (a value fixed with ``-k/-s/-p/-d`` replaces its range):

- kernel 1..11, stride 1..8;
- dilation 1 only, unless fixed, or widened to 1..4 when dilation 1 gives no solution
  (dilated answers are rarely what one wants when an undilated one exists);
- padding 0..``dilation·(kernel−1)`` (the kernel's reach: more padding only adds all-padding
  windows), and for convolutions ``padding='same'`` when the input and output sizes are equal,
  stride is 1 and no symmetric padding does it (an even kernel reach);
- transposed convs: output_padding 0..max(stride, dilation)−1;
- pooling: ``ceil_mode`` False, and True where it gives a size floor mode does not.

Solutions come simplest first: dilation, kernel, stride, then floor before ceil mode, padding,\noutput_padding.
"""

from __future__ import annotations

from itertools import product
from typing import Any, Iterator, NamedTuple, Sequence

from ..arith import ConvRule, TransposedRule
from ..errors import ConfigError, ConvcalcError, ShapeError

KERNELS = range(1, 12)
STRIDES = range(1, 9)
WIDE_DILATIONS = range(1, 5)
MODES = ("conv", "transposed", "pool")


class Solution(NamedTuple):
    """One configuration of one spatial dim mapping ``in_size`` to ``out_size``."""

    kernel_size: int
    stride: int
    padding: int | str  # an int, or "same"
    dilation: int
    output_padding: int = 0  # transposed convs only
    ceil_mode: bool = False  # pooling only
    same: bool = False  # the padding is what padding='same' pads

    def to_json(self, mode: str) -> dict[str, Any]:
        data: dict[str, Any] = {
            "kernel_size": self.kernel_size,
            "stride": self.stride,
            "padding": self.padding,
            "dilation": self.dilation,
        }
        if mode == "transposed":
            data["output_padding"] = self.output_padding
        if mode == "pool":
            data["ceil_mode"] = self.ceil_mode
        data["same"] = self.same
        return data


class DimSolution(NamedTuple):
    """The answer for one spatial dim: its solutions, or the nearest sizes it can reach."""

    in_size: int
    out_size: int
    solutions: tuple[Solution, ...]
    nearest: tuple[int, ...]  # reachable sizes closest to out_size (below/above), when no solution
    dilation_widened: bool  # dilation 1 gave nothing, so 1..4 was searched


class Fixed(NamedTuple):
    """Values the user fixed for one dim (``None``: search the range)."""

    kernel_size: int | None = None
    stride: int | None = None
    padding: int | None = None
    dilation: int | None = None


class SolveResult(NamedTuple):
    mode: str
    dims: tuple[DimSolution, ...]

    @property
    def solved(self) -> bool:
        return all(dim.solutions for dim in self.dims)


def solve(
    in_sizes: Sequence[int],
    out_sizes: Sequence[int],
    *,
    kernel_size: Sequence[int] | None = None,
    stride: Sequence[int] | None = None,
    padding: Sequence[int] | None = None,
    dilation: Sequence[int] | None = None,
    mode: str = "conv",
) -> SolveResult:
    """Every bounded configuration mapping ``in_sizes`` to ``out_sizes``, per spatial dim.

    Fixed values are given per dim (one value applies to every dim).

    >>> best = solve([32], [16], kernel_size=[3]).dims[0].solutions[0]
    >>> best.kernel_size, best.stride, best.padding
    (3, 2, 1)
    >>> solve([16], [32], kernel_size=[4], mode="transposed").dims[0].solutions[0][:3]
    (4, 2, 1)
    """
    if mode not in MODES:
        raise ConvcalcError(f"mode {mode!r} is not one of {', '.join(MODES)}")
    nd = len(in_sizes)
    if nd == 0 or len(out_sizes) != nd:
        raise ConvcalcError(
            f"--in-size has {nd} dims but --out-size has {len(out_sizes)}; give both like 32 or 32x32"
        )
    for what, sizes in (("--in-size", in_sizes), ("--out-size", out_sizes)):
        for size in sizes:
            if size <= 0:
                raise ConvcalcError(f"{what} must be at least 1 in every dim, got {size}")
    fixed = {"kernel_size": kernel_size, "stride": stride, "padding": padding, "dilation": dilation}
    per_dim: dict[str, list[int | None]] = {}
    for name, values in fixed.items():
        flag = {"kernel_size": "-k", "stride": "-s", "padding": "-p", "dilation": "-d"}[name]
        if values is None:
            per_dim[name] = [None] * nd
            continue
        values = list(values)
        if len(values) == 1:
            values = values * nd
        if len(values) != nd:
            raise ConvcalcError(f"{flag} has {len(values)} values for {nd} spatial dims; give 1 or {nd}")
        minimum = 0 if name == "padding" else 1
        for value in values:
            if value < minimum:
                raise ConvcalcError(f"{flag} must be at least {minimum}, got {value}")
        per_dim[name] = values
    dims = []
    for axis in range(nd):
        one = Fixed(*(per_dim[name][axis] for name in fixed))
        dims.append(solve_dim(in_sizes[axis], out_sizes[axis], one, mode))
    return SolveResult(mode, tuple(dims))


def solve_dim(in_size: int, out_size: int, fixed: Fixed, mode: str) -> DimSolution:
    """Solutions for one spatial dim; dilation widens to 1..4 only when 1 gives none."""
    dilations = [fixed.dilation] if fixed.dilation is not None else [1]
    found, reached, rejections = _search(in_size, out_size, fixed, mode, dilations)
    widened = False
    if not found and fixed.dilation is None:
        widened = True
        found, more, more_rejections = _search(in_size, out_size, fixed, mode, list(WIDE_DILATIONS)[1:])
        reached |= more
        rejections += more_rejections
    if not found and not reached:
        reason = rejections[0] if rejections else "no candidate within the bounds"
        raise ConfigError(f"the fixed values contradict each other: every candidate is rejected ({reason})")
    nearest: tuple[int, ...] = ()
    if not found:
        below = [size for size in reached if size < out_size]
        above = [size for size in reached if size > out_size]
        nearest = tuple(([max(below)] if below else []) + ([min(above)] if above else []))
    found.sort(key=_simplicity)
    return DimSolution(in_size, out_size, tuple(found), nearest, widened)


def _simplicity(solution: Solution) -> tuple:
    padding = -1 if solution.padding == "same" else solution.padding
    return (solution.dilation, solution.kernel_size, solution.stride, solution.ceil_mode, padding,
            solution.output_padding)


def _search(
    in_size: int, out_size: int, fixed: Fixed, mode: str, dilations: list[int]
) -> tuple[list[Solution], set[int], list[str]]:
    """(solutions, every size a valid candidate reaches, rejection messages)."""
    found: list[Solution] = []
    reached: set[int] = set()
    rejections: list[str] = []
    kernels = [fixed.kernel_size] if fixed.kernel_size is not None else KERNELS
    strides = [fixed.stride] if fixed.stride is not None else STRIDES
    for kernel, stride, dilation in product(kernels, strides, dilations):
        reach = dilation * (kernel - 1)
        paddings: list[int | str] = [fixed.padding] if fixed.padding is not None else list(range(reach + 1))
        if mode == "conv" and fixed.padding is None and stride == 1 and reach % 2:
            paddings.append("same")
        for candidate in _candidates(kernel, stride, paddings, dilation, mode):
            try:
                size = _checked_size(candidate, in_size, mode)
            except ConvcalcError as exc:
                rejections.append(str(exc))
                continue
            reached.add(size)
            if size != out_size:
                continue
            if mode == "pool" and candidate.ceil_mode:
                if _floor_mode_also_gives(candidate, in_size, out_size):
                    continue  # ceil_mode is beside the point there
            same = mode == "conv" and (candidate.padding == "same" or (
                stride == 1 and 2 * int(candidate.padding) == reach))
            found.append(candidate._replace(same=same))
    return found, reached, rejections


def _floor_mode_also_gives(candidate: Solution, in_size: int, out_size: int) -> bool:
    try:
        return _checked_size(candidate._replace(ceil_mode=False), in_size, "pool") == out_size
    except ConvcalcError:
        return False


def _candidates(
    kernel: int, stride: int, paddings: list[int | str], dilation: int, mode: str
) -> Iterator[Solution]:
    for padding in paddings:
        if mode == "transposed":
            for output_padding in range(max(stride, dilation)):
                yield Solution(kernel, stride, padding, dilation, output_padding=output_padding)
        elif mode == "pool":
            for ceil_mode in (False, True):
                yield Solution(kernel, stride, padding, dilation, ceil_mode=ceil_mode)
        else:
            yield Solution(kernel, stride, padding, dilation)


def rule_for(solution: Solution, mode: str) -> ConvRule | TransposedRule:
    """The :mod:`convcalc.arith` rule of one solution."""
    k, s, p, d = solution.kernel_size, solution.stride, solution.padding, solution.dilation
    if mode == "transposed":
        return TransposedRule(k, s, int(p), d, solution.output_padding)
    if p == "same":
        total = d * (k - 1)
        return ConvRule(k, s, total // 2, total - total // 2, d)
    return ConvRule(k, s, int(p), int(p), d, solution.ceil_mode)


def build_layer(solution: Solution, mode: str) -> Any:
    """The real 1-d layer of a solution (its constructor applies PyTorch's validity rules)."""
    from ..layers.conv import Conv1d, ConvTranspose1d
    from ..layers.pooling import MaxPool1d

    k, s, p, d = solution.kernel_size, solution.stride, solution.padding, solution.dilation
    if mode == "transposed":
        return ConvTranspose1d(1, 1, k, s, p, solution.output_padding, dilation=d)
    if mode == "pool":
        return MaxPool1d(k, s, p, d, ceil_mode=solution.ceil_mode)
    return Conv1d(1, 1, k, s, p, d)


def _checked_size(solution: Solution, in_size: int, mode: str) -> int:
    """The output size by the arith rule, confirmed by the real layer; ConvcalcError if invalid."""
    layer = build_layer(solution, mode)
    by_layer = layer.output_shape((1, in_size))[-1]
    by_rule = rule_for(solution, mode).out(in_size)
    if by_rule != by_layer:  # pragma: no cover - the layers use the same rules
        raise AssertionError(f"{solution}: rule gives {by_rule}, layer gives {by_layer}")
    if by_rule < 1:
        raise ShapeError(f"{solution} gives output size {by_rule}")
    return by_rule


def no_solution_message(result: SolveResult) -> str:
    """Why a solve failed: per unsolved dim, the nearest sizes reachable within the bounds."""
    kind = {"conv": "convolution", "transposed": "transposed convolution", "pool": "pooling"}[result.mode]
    parts = []
    for axis, dim in enumerate(result.dims):
        if dim.solutions:
            continue
        where = f" in spatial dim {axis}" if len(result.dims) > 1 else ""
        nearest = " or ".join(str(size) for size in dim.nearest)
        parts.append(
            f"no {kind} within the bounds maps {dim.in_size} to {dim.out_size}{where}; "
            f"nearest reachable sizes: {nearest}"
        )
    return "; ".join(parts) + " (free -k/-s/-p/-d values, or change the sizes)"


def combined(result: SolveResult) -> list[tuple[Solution, ...]]:
    """Whole-layer solutions: one per-dim solution per dim, simplest first.

    Dims with the same sizes and fixed values share one answer (a square layer for a square
    input); otherwise every combination is listed, ordered by how simple its parts are.
    """
    dims = result.dims
    if not result.solved:
        return []
    if all(dim == dims[0] for dim in dims):
        return [(solution,) * len(dims) for solution in dims[0].solutions]
    ranked = [list(enumerate(dim.solutions)) for dim in dims]
    combos = sorted(product(*ranked), key=lambda combo: (max(r for r, _ in combo), sum(r for r, _ in combo)))
    return [tuple(solution for _, solution in combo) for combo in combos]


def combined_json(result: SolveResult) -> list[dict[str, Any]]:
    """``combined`` as JSON objects: ints for one spatial dim, lists (one per dim) otherwise."""
    rows = []
    for combo in combined(result):
        parts = [solution.to_json(result.mode) for solution in combo]
        if len(parts) == 1:
            rows.append(parts[0])
            continue
        row = {key: [part[key] for part in parts] for key in parts[0] if key != "same"}
        row["same"] = all(part["same"] for part in parts)
        rows.append(row)
    return rows
