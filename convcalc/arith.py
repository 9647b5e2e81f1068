"""Output-size rules of torch.nn layers, one class per rule.

Each rule computes a size (``out``) and writes its own formula, symbolically and with numbers
filled in, so shapes, FLOP counts, the forward pass and the explanations all read the one
definition. Sizes are per spatial dim; layers build one rule per dim. Rules are NamedTuples:
immutable values that are cheap to define, which keeps the CLI's start-up fast.

Each rule also carries a receptive field across its dim (``receptive_step``): from ``(size,
jump)`` of the input (how many input-of-the-network positions one position sees, and how far
apart neighbouring positions are) to those of the output, both exact (ints, or Fractions once
an upsampling makes the jump fractional). For rules without a window of their own (a size set
or scaled) the layer says how many neighbours an output reads: ``taps(size_in, size_out)``.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Callable, NamedTuple, Optional, Tuple, Union

if TYPE_CHECKING:
    from fractions import Fraction

Rational = Union[int, "Fraction"]
FieldStep = Optional[Tuple[Rational, Rational]]  # (size, jump) of the output; None: no field to speak of
Taps = Callable[[int, int], int]


def _signed(c: int) -> str:
    """`` + 3`` / `` − 3`` / ``""`` for a constant added to a symbol."""
    if c == 0:
        return ""
    return f" + {c}" if c > 0 else f" − {-c}"


def _floor_div(a: int, b: int) -> int:
    return a // b


def _ceil_div(a: int, b: int) -> int:
    return -((-a) // b)


def _exact(value: Rational) -> Rational:
    """Fractions that are whole become ints (cheaper to compute with, plainer to show)."""
    if type(value) is not int and value.denominator == 1:
        return int(value)
    return value


def _divide(value: Rational, by: Rational) -> Rational:
    from fractions import Fraction  # only receptive fields need it, and only networks ask for them

    return _exact(Fraction(value) / by)


def _grown(size: Rational, taps: int, jump: Rational) -> Rational:
    """The field of an output that reads ``taps`` more input positions, ``jump`` apart."""
    return _exact(size + taps * jump)


class ConvRule(NamedTuple):
    """Convolution and pooling windows: ``⌊(L + pads − d·(k−1) − 1)/s⌋ + 1``.

    ``ceil_mode`` rounds up instead, and then drops a last window that would start past the
    input and the left padding, as PyTorch's pooling does.

    >>> ConvRule(kernel=5).out(32)
    28
    >>> ConvRule(kernel=3, stride=3, pad_left=1, pad_right=1, ceil_mode=True).out(5)
    2
    >>> ConvRule(kernel=5).simplified("H")
    'H − 4'
    """

    kernel: int
    stride: int = 1
    pad_left: int = 0
    pad_right: int = 0
    dilation: int = 1
    ceil_mode: bool = False

    @property
    def effective_kernel(self) -> int:
        return self.dilation * (self.kernel - 1) + 1

    def numerator(self, size: int) -> int:
        return size + self.pad_left + self.pad_right - self.effective_kernel

    def out(self, size: int) -> int:
        num = self.numerator(size)
        if not self.ceil_mode:
            return _floor_div(num, self.stride) + 1
        out = _ceil_div(num, self.stride) + 1
        if (out - 1) * self.stride >= size + self.pad_left:
            out -= 1
        return out

    def _pads(self) -> str:
        if self.pad_left == self.pad_right:
            return f"2·{self.pad_left}"
        return f"{self.pad_left}+{self.pad_right}"

    def formula(self, symbol: str) -> str:
        bracket = "⌈⌉" if self.ceil_mode else "⌊⌋"
        return (
            f"{bracket[0]}({symbol} + {self._pads()} − {self.dilation}·({self.kernel}−1) − 1)"
            f"/{self.stride}{bracket[1]} + 1"
        )

    def receptive_step(self, size: Rational, jump: Rational, size_in: int, size_out: int, taps: Taps) -> FieldStep:
        """``size + (k_eff − 1)·jump``, and the jump times the stride.

        >>> ConvRule(kernel=3, stride=2, dilation=2).receptive_step(3, 1, 9, 3, None)
        (7, 2)
        """
        return _grown(size, self.effective_kernel - 1, jump), _exact(jump * self.stride)

    def simplified(self, symbol: str) -> str:
        const = self.pad_left + self.pad_right - self.effective_kernel
        if self.stride == 1:
            return f"{symbol}{_signed(const + 1)}"
        bracket = "⌈⌉" if self.ceil_mode else "⌊⌋"
        return f"{bracket[0]}({symbol}{_signed(const)})/{self.stride}{bracket[1]} + 1"


class TransposedRule(NamedTuple):
    """Transposed convolution: ``(L−1)·s − 2p + d·(k−1) + op + 1``.

    >>> TransposedRule(kernel=4, stride=2, padding=1).out(16)
    32
    >>> TransposedRule(kernel=4, stride=2, padding=1).simplified("H")
    '2·H'
    """

    kernel: int
    stride: int = 1
    padding: int = 0
    dilation: int = 1
    output_padding: int = 0

    def out(self, size: int) -> int:
        return (
            (size - 1) * self.stride
            - 2 * self.padding
            + self.dilation * (self.kernel - 1)
            + self.output_padding
            + 1
        )

    def formula(self, symbol: str) -> str:
        return (
            f"({symbol} − 1)·{self.stride} − 2·{self.padding} + {self.dilation}·({self.kernel}−1)"
            f" + {self.output_padding} + 1"
        )

    def receptive_step(self, size: Rational, jump: Rational, size_in: int, size_out: int, taps: Taps) -> FieldStep:
        """The grid is refined first, ``jump/s``; the field then grows by ``d·(k−1)`` of those.

        >>> TransposedRule(kernel=4, stride=2).receptive_step(1, 1, 4, 10, None)
        (Fraction(5, 2), Fraction(1, 2))
        """
        refined = _divide(jump, self.stride)
        return _grown(size, self.dilation * (self.kernel - 1), refined), refined

    def simplified(self, symbol: str) -> str:
        const = self.out(0)  # the rule is affine in L: out(L) = s·L + out(0)
        scaled = symbol if self.stride == 1 else f"{self.stride}·{symbol}"
        return f"{scaled}{_signed(const)}"


class UnpoolRule(NamedTuple):
    """Max-unpooling's default size: ``(L−1)·s − 2p + k``.

    >>> UnpoolRule(kernel=2, stride=2).out(14)
    28
    """

    kernel: int
    stride: int
    padding: int = 0

    def out(self, size: int) -> int:
        return (size - 1) * self.stride - 2 * self.padding + self.kernel

    def formula(self, symbol: str) -> str:
        return f"({symbol} − 1)·{self.stride} − 2·{self.padding} + {self.kernel}"

    def receptive_step(self, size: Rational, jump: Rational, size_in: int, size_out: int, taps: Taps) -> FieldStep:
        """As a transposed conv's; none for stride 0, which torch allows a 1-d or 2-d unpool
        (every input lands on one window).

        >>> UnpoolRule(kernel=2, stride=2).receptive_step(3, 2, 7, 14, None)
        (4, 1)
        """
        if self.stride < 1:
            return None
        refined = _divide(jump, self.stride)
        return _grown(size, self.kernel - 1, refined), refined

    def simplified(self, symbol: str) -> str:
        const = self.out(0)
        scaled = symbol if self.stride == 1 else f"{self.stride}·{symbol}"
        return f"{scaled}{_signed(const)}"


class PadRule(NamedTuple):
    """Explicit padding (``nn.ZeroPad2d`` and kin): ``L + left + right``; negative values crop.

    >>> PadRule(1, 2).out(5), PadRule(1, 2).formula("W"), PadRule(-1, 0).simplified("W")
    (8, 'W + 1 + 2', 'W − 1')
    """

    left: int
    right: int

    def out(self, size: int) -> int:
        return size + self.left + self.right

    def formula(self, symbol: str) -> str:
        terms = "".join(f" + {v}" if v >= 0 else f" − {-v}" for v in (self.left, self.right))
        return symbol + terms

    def simplified(self, symbol: str) -> str:
        return f"{symbol}{_signed(self.left + self.right)}"

    def receptive_step(self, size: Rational, jump: Rational, size_in: int, size_out: int, taps: Taps) -> FieldStep:
        """Unchanged: explicit padding moves the grid, it does not widen the field.

        >>> PadRule(1, 2).receptive_step(5, 2, 8, 11, None)
        (5, 2)
        """
        return size, jump


class FixedRule(NamedTuple):
    """A size set outright (adaptive pooling, ``Upsample(size=...)``); ``None`` keeps the input's.

    >>> FixedRule(7).out(13), FixedRule(None).out(13)
    (7, 13)
    """

    size: int | None

    def out(self, size: int) -> int:
        return size if self.size is None else self.size

    def formula(self, symbol: str) -> str:
        return symbol if self.size is None else str(self.size)

    simplified = formula

    def receptive_step(self, size: Rational, jump: Rational, size_in: int, size_out: int, taps: Taps) -> FieldStep:
        """The jump scales by ``size_in/size_out``; the field grows by the layer's ``taps``.

        >>> FixedRule(4).receptive_step(1, 1, 10, 4, lambda size_in, size_out: 3)
        (4, Fraction(5, 2))
        """
        from fractions import Fraction

        if size_out < 1:
            return None
        return _grown(size, taps(size_in, size_out), jump), _exact(jump * Fraction(size_in, size_out))


class ScaleRule(NamedTuple):
    """``Upsample(scale_factor=s)``: ``⌊L·s⌋``, computed in double precision as PyTorch does.

    >>> ScaleRule(2.0).out(7), ScaleRule(1.5).out(7)
    (14, 10)
    """

    scale: float

    def out(self, size: int) -> int:
        product = float(size) * float(self.scale)
        # An overflowing product is "too large" for the layer to report, not a crash here.
        return int(product // 1) if math.isfinite(product) else 2**64

    def formula(self, symbol: str) -> str:
        return f"⌊{symbol}·{self.scale:g}⌋"

    def simplified(self, symbol: str) -> str:
        if float(self.scale).is_integer():
            return f"{int(self.scale)}·{symbol}"
        return self.formula(symbol)

    def receptive_step(self, size: Rational, jump: Rational, size_in: int, size_out: int, taps: Taps) -> FieldStep:
        """The jump divides by the scale (as an exact fraction); the field grows by the layer's ``taps``.

        >>> ScaleRule(2.0).receptive_step(1, 1, 4, 8, lambda size_in, size_out: 1)
        (2, Fraction(1, 2))
        """
        from fractions import Fraction

        scale = Fraction(float(self.scale)).limit_denominator(1_000_000)
        if scale <= 0:
            return None
        return _grown(size, taps(size_in, size_out), jump), _divide(jump, scale)


def avg_pool_cells(start: Any, kernel: int, size: int, pad_right: int, count_include_pad: bool,
                   minimum: Callable = min, maximum: Callable = max) -> Any:
    """What avg_pool divides a window's sum by, along one dim: the window ``[start, start + k)``
    cut at the right padding's end, counting the padding with ``count_include_pad``, else only
    the input's cells. The one rule for the layer (ints, builtin min/max) and the kernel
    (arrays of starts, ``np.minimum``/``np.maximum``).

    >>> avg_pool_cells(5, 3, 6, 1, True), avg_pool_cells(-1, 3, 6, 1, False)  # ceil-mode overhang, left pad
    (2, 2)
    """
    end = minimum(start + kernel, size + pad_right)
    if count_include_pad:
        return end - start
    return minimum(end, size) - maximum(start, 0)


def adaptive_window(index: int, size: int, out: int) -> tuple[int, int]:
    """Start (inclusive) and end (exclusive) of adaptive pooling's window ``index``.

    >>> [adaptive_window(i, 10, 4) for i in range(4)]
    [(0, 3), (2, 5), (5, 8), (7, 10)]
    """
    return (index * size) // out, _ceil_div((index + 1) * size, out)


def widest_adaptive_window(size: int, out: int) -> int:
    """The largest window of adaptive pooling from ``size`` to ``out`` (past 4096 outputs, a bound
    that is never below it: one more than the ceiling of ``size/out``).

    >>> widest_adaptive_window(10, 4), widest_adaptive_window(12, 4)
    (3, 3)
    """
    if size % out == 0:
        return size // out
    if out > 4096:
        return -(-size // out) + 1
    return max(-(-((i + 1) * size) // out) - (i * size) // out for i in range(out))


def floor_sum(count: int, a: int, b: int, m: int) -> int:
    """``Σ_{i=0}^{count-1} ⌊(a·i + b)/m⌋`` for integers (any signs, ``m > 0``), in O(log) steps:
    the closed form behind window counts whose one-by-one loop would run over every output.

    >>> floor_sum(5, 3, -2, 4) == sum((3 * i - 2) // 4 for i in range(5))
    True
    """
    if count <= 0:
        return 0
    total = 0
    if a < 0 or a >= m:  # take out the whole part of a/m (floor division keeps any sign exact)
        total += (a // m) * (count * (count - 1) // 2)
        a %= m
    if b < 0 or b >= m:
        total += (b // m) * count
        b %= m
    while True:  # now 0 <= a, b < m: the classic Euclid-like reduction
        if a >= m:
            total += (count - 1) * count // 2 * (a // m)
            a %= m
        if b >= m:
            total += count * (b // m)
            b %= m
        top = a * count + b
        if top < m:
            return total
        count, b, m, a = top // m, top % m, a, m


def spatial_symbols(nd: int) -> tuple[str, ...]:
    """Names of the spatial dims as torch's docs write them.

    >>> spatial_symbols(2)
    ('H', 'W')
    """
    return {1: ("L",), 2: ("H", "W"), 3: ("D", "H", "W")}[nd]
