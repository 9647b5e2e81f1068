"""``convcalc solve``: which (kernel, stride, padding, dilation) map an input size to an output size.

Candidates are enumerated within bounds; each is sized by the rule of :mod:`convcalc.arith` (the
one formula the rest of convcalc uses), and those that give the wanted size (and the nearest
sizes, when none does) are confirmed by building the real layer (``Conv1d``, ``ConvTranspose1d``
or ``MaxPool1d``) and asking its ``output_shape``, so PyTorch's validity rules (pool padding at
most half the kernel, output_padding smaller than stride or dilation, ...) decide what is allowed.

Bounds, per spatial dim (a value fixed with ``-k/-s/-p/-d`` replaces its range):

- kernel 1..11, stride 1..8;
- dilation 1 only, unless fixed, or widened to 1..4 when dilation 1 gives no solution
  (dilated answers are rarely what one wants when an undilated one exists);
- padding 0..``dilation·(kernel−1)`` (the kernel's reach: more padding only adds all-padding
  windows), and for convolutions ``padding='same'`` when the input and output sizes are equal,
  stride is 1 and no symmetric padding does it (an even kernel reach);
- transposed convs: output_padding 0..max(stride, dilation)−1;
- pooling: ``ceil_mode`` False, and True where it gives a size floor mode does not.

A range is never walked past a few dozen values: the size is monotone in the padding, so the
paddings that give the wanted size form an interval known in closed form (the first
``PADDINGS_LISTED`` of it are listed), and whatever the fixed values (``-d 1000000000``), the
search tries a bounded number of candidates.

Solutions come simplest first: dilation, kernel, stride, then floor before ceil mode, padding,
output_padding.
"""

from __future__ import annotations

import math
from itertools import product
from typing import Any, NamedTuple, Sequence

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
    capped: bool = False  # some padding range held more than PADDINGS_LISTED solutions: the first are listed


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
    found, others, rejections, capped = _search(in_size, out_size, fixed, mode, dilations)
    widened = False
    if not found and fixed.dilation is None:
        widened = True
        found, more, more_rejections, capped = _search(in_size, out_size, fixed, mode, list(WIDE_DILATIONS)[1:])
        others += more
        rejections += more_rejections
    nearest: tuple[int, ...] = ()
    if not found:
        nearest = _nearest(others, in_size, out_size, mode, rejections)
        if not nearest:
            reason = rejections[0] if rejections else "no candidate within the bounds"
            raise ConfigError(f"the fixed values contradict each other: every candidate is rejected ({reason})")
    found.sort(key=_simplicity)
    return DimSolution(in_size, out_size, tuple(found), nearest, widened, capped)


def _nearest(
    others: list[tuple[int, Solution]], in_size: int, out_size: int, mode: str, rejections: list[str]
) -> tuple[int, ...]:
    """The largest size below ``out_size`` and the smallest above it that a valid candidate
    reaches: candidates are confirmed by their layer closest first, so few layers are built."""
    nearest = []
    below = sorted((item for item in others if item[0] < out_size), key=lambda item: -item[0])
    above = sorted((item for item in others if item[0] > out_size), key=lambda item: item[0])
    for side in (below, above):
        for size, candidate in side:
            try:
                _checked_size(candidate, in_size, mode)
            except ConvcalcError as exc:
                rejections.append(str(exc))
                continue
            nearest.append(size)
            break
    return tuple(nearest)


def _simplicity(solution: Solution) -> tuple:
    padding = -1 if solution.padding == "same" else solution.padding
    return (solution.dilation, solution.kernel_size, solution.stride, solution.ceil_mode, padding,
            solution.output_padding)


def _search(
    in_size: int, out_size: int, fixed: Fixed, mode: str, dilations: list[int]
) -> tuple[list[Solution], list[tuple[int, Solution]], list[str], bool]:
    """(solutions, (size, candidate) of the other candidates, rejection messages, whether a
    padding range was cut at PADDINGS_LISTED).

    Every candidate is sized by its arith rule; those that give ``out_size`` are confirmed by
    building their layer (the others only when they are the nearest sizes). The candidates are
    bounded (see :func:`_candidates`), so a fixed dilation of 10**9 costs what dilation 1 does.
    """
    found: list[Solution] = []
    others: list[tuple[int, Solution]] = []
    rejections: list[str] = []
    capped = False
    kernels = [fixed.kernel_size] if fixed.kernel_size is not None else KERNELS
    strides = [fixed.stride] if fixed.stride is not None else STRIDES
    for kernel, stride, dilation in product(kernels, strides, dilations):
        candidates, cut = _candidates(in_size, out_size, kernel, stride, dilation, fixed.padding, mode)
        capped |= cut
        for candidate in candidates:
            size = rule_for(candidate, mode).out(in_size)
            if size != out_size:
                others.append((size, candidate))
                continue
            try:
                _checked_size(candidate, in_size, mode)
            except ConvcalcError as exc:
                rejections.append(str(exc))
                continue
            if mode == "pool" and candidate.ceil_mode:
                if _floor_mode_also_gives(candidate, in_size, out_size):
                    continue  # ceil_mode is beside the point there
            reach = dilation * (kernel - 1)
            same = mode == "conv" and (candidate.padding == "same" or (
                stride == 1 and 2 * int(candidate.padding) == reach))
            found.append(candidate._replace(same=same))
    return found, others, rejections, capped


def _floor_mode_also_gives(candidate: Solution, in_size: int, out_size: int) -> bool:
    try:
        return _checked_size(candidate._replace(ceil_mode=False), in_size, "pool") == out_size
    except ConvcalcError:
        return False


# Every padding (and output_padding) up to this is tried; past it, only those the closed form
# says reach the wanted size (the first PADDINGS_LISTED of them) and the ones either side.
SMALL_RANGE = 48
PADDINGS_LISTED = 64


def _candidates(
    in_size: int, out_size: int, kernel: int, stride: int, dilation: int, padding: int | None, mode: str
) -> tuple[list[Solution], bool]:
    """The candidates for one (kernel, stride, dilation), and whether a range was cut.

    Paddings run over 0..dilation·(kernel−1), but a range that long (a fixed dilation of 10**9)
    is not walked: the output size is monotone in the padding, so the paddings that give
    ``out_size`` form an interval known in closed form (for transposed convs, one padding per
    output_padding). The candidates are every padding up to SMALL_RANGE, the first
    PADDINGS_LISTED of that interval, its neighbours (for the nearest sizes) and the range's ends.
    """
    n, m, k, s, d = in_size, out_size, kernel, stride, dilation
    reach = d * (k - 1)
    if mode == "transposed":
        return _transposed_candidates(n, m, k, s, d, padding)
    cut = False
    if padding is not None:
        paddings: list[int | str] = [padding]
    else:
        # floor mode gives m for x = n + 2p − reach − 1 in [(m−1)s, ms); ceil mode for x in
        # ((m−2)s, ms] (its last window may be dropped): two intervals of paddings
        floor_lo, floor_hi = -(((n - reach - 1) - (m - 1) * s) // 2), (m * s - n + reach) // 2
        ceil_lo, ceil_hi = ((m - 2) * s - n + reach + 1) // 2 + 1, (m * s - n + reach + 1) // 2
        intervals = [(floor_lo, floor_hi)] + ([(ceil_lo, ceil_hi)] if mode == "pool" else [])
        chosen = {*range(min(reach, SMALL_RANGE) + 1), reach, k // 2, k // 2 + 1, (reach + 1) // 2}
        unlisted = []
        for lo, hi in intervals:
            lo, hi = max(lo, 0), min(hi, reach)
            chosen.update(range(lo, min(hi, lo + PADDINGS_LISTED - 1) + 1), (lo - 1, hi + 1))
            unlisted.append((lo + PADDINGS_LISTED, hi))
            cut = cut or hi - lo + 1 > PADDINGS_LISTED
        paddings = sorted(p for p in chosen if 0 <= p <= reach and not any(a <= p <= b for a, b in unlisted))
        if mode == "conv" and s == 1 and reach % 2:
            paddings.append("same")
    if mode == "pool":
        return [Solution(k, s, p, d, ceil_mode=ceil) for p in paddings for ceil in (False, True)], cut
    return [Solution(k, s, p, d) for p in paddings], cut


def _transposed_candidates(
    n: int, m: int, k: int, s: int, d: int, padding: int | None
) -> tuple[list[Solution], bool]:
    """A transposed conv's size is ``base − 2·padding + output_padding``: the pairs that give
    ``m`` lie on one line, walked from its first padding; small ranges are tried whole."""
    reach = d * (k - 1)
    limit = max(s, d)  # output_padding < max(stride, dilation)
    base = (n - 1) * s + reach + 1
    target = base - m  # 2·padding − output_padding
    paddings = [padding] if padding is not None else None
    pairs: set[tuple[int, int]] = set()
    if limit <= 8:  # the usual strides and dilations: every pair is tried; past them the line's will do
        small_pads = paddings if paddings is not None else range(min(reach, SMALL_RANGE) + 1)
        pairs.update(product(small_pads, range(limit)))
    first = max(0, -(-target // 2))
    last = min(reach, (target + limit - 1) // 2)
    if paddings is not None:
        first, last = max(first, padding), min(last, padding)  # type: ignore[type-var]
    cut = last - first + 1 > PADDINGS_LISTED
    pairs.update((p, 2 * p - target) for p in range(first, min(last, first + PADDINGS_LISTED - 1) + 1))
    near = max(0, min(reach, target // 2))
    around = [near - 1, near, near + 1, 0, reach] if paddings is None else list(paddings)
    pairs.update((p, op) for p in around for op in (0, 1, limit - 1, 2 * p - target - 1, 2 * p - target + 1))
    valid = sorted(
        (p, op) for p, op in pairs
        if (paddings is not None or 0 <= p <= reach) and 0 <= op < limit
        and not (2 * p - op == target and p >= first + PADDINGS_LISTED)  # on the line, past those listed
    )
    return [Solution(k, s, p, d, output_padding=op) for p, op in valid], cut


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
    grows = result.mode == "conv" and any(not dim.solutions and dim.out_size > dim.in_size for dim in result.dims)
    upsample = ", or --transposed to upsample" if grows else ""  # a conv's output grows only by its padding
    return "; ".join(parts) + f" (free -k/-s/-p/-d values{upsample}, or change the sizes)"


COMBINATIONS_LISTED = 1000


def combined(result: SolveResult, limit: int = COMBINATIONS_LISTED) -> list[tuple[Solution, ...]]:
    """Whole-layer solutions: one per-dim solution per dim, simplest first, the first ``limit``.

    Dims with the same sizes and fixed values share one answer (a square layer for a square
    input); otherwise combinations are ordered by how simple their parts are (the worst rank,
    then the rank sum). Only the first ``r`` solutions of each dim are combined, the least ``r``
    whose combinations number ``limit``: every combination ranked lower has a part past ``r``,
    so the list is the true first ``limit`` without building the whole product.
    """
    dims = result.dims
    if not result.solved:
        return []
    if all(dim == dims[0] for dim in dims):
        return [(solution,) * len(dims) for solution in dims[0].solutions[:limit]]
    longest = max(len(dim.solutions) for dim in dims)
    ranks = next((r for r in range(1, longest + 1)
                  if math.prod(min(r, len(dim.solutions)) for dim in dims) >= limit), longest)
    ranked = [list(enumerate(dim.solutions[:ranks])) for dim in dims]
    combos = sorted(product(*ranked), key=lambda combo: (max(r for r, _ in combo), sum(r for r, _ in combo)))
    return [tuple(solution for _, solution in combo) for combo in combos[:limit]]


def combinations(result: SolveResult) -> int:
    """How many whole-layer solutions there are (``combined`` lists the first ones)."""
    dims = result.dims
    if not result.solved:
        return 0
    if all(dim == dims[0] for dim in dims):
        return len(dims[0].solutions)
    return math.prod(len(dim.solutions) for dim in dims)


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
