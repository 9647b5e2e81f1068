"""Memory for the forward pass: sizes such as ``4GiB`` (``--max-memory``), estimates of the
bytes tensors take, and the check that refuses a run over the limit before it allocates.

Pure: nothing here prints; a run over the limit raises :class:`MemoryLimitError`.
"""

from __future__ import annotations

import math
import re
from typing import Any, Iterable, Sequence

from ..errors import ConvcalcError, ParseError
from ..shapes import format_bytes, shown
from .arrays import float_dtype


class MemoryLimitError(ConvcalcError):
    """A run whose memory estimate exceeds the limit (``--max-memory``)."""


_MEMORY = re.compile(r"(\d+(?:\.\d*)?|\.\d+)\s*([kmgt]?)(i?)(b?)", re.IGNORECASE)
_POWERS = {"": 0, "k": 1, "m": 2, "g": 3, "t": 4}


def parse_memory(text: str) -> int | None:
    """Bytes in ``4GiB``, ``512 MiB``, ``4G`` (binary), ``4GB`` (decimal), ``1000``;
    ``none``/``unlimited`` give None, meaning no limit.

    >>> parse_memory("4GiB"), parse_memory("4G"), parse_memory("1.5 GB"), parse_memory("none")
    (4294967296, 4294967296, 1500000000, None)
    """
    cleaned = text.strip()
    if cleaned.lower() in ("none", "unlimited", "off", "inf"):
        return None
    match = _MEMORY.fullmatch(cleaned)
    if not match or (match.group(3) and not match.group(2)):
        raise ParseError(
            f"memory size {text!r} is not understood; write it like 4GiB, 512MiB, 2G or 'none'"
        )
    number, prefix, binary, byte = match.groups()
    power = _POWERS[prefix.lower()]
    base = 1024 if binary or not byte or not prefix else 1000
    value = float(number) * base**power
    if not math.isfinite(value) or value > 2**63:  # 5000 digits read as a float are inf
        raise ParseError(f"memory size {shown(text)} is beyond any memory; write it like 4GiB, or 'none'")
    size = int(value)
    if size <= 0:
        raise ParseError(f"memory size {text!r} must be positive, or 'none' for no limit")
    return size


def estimate_bytes(shapes: Iterable[Sequence[int]], dtype: Any = "float32") -> int:
    """Bytes to hold one tensor of each shape at ``dtype``.

    >>> estimate_bytes([(1, 3, 224, 224), (64, 3, 7, 7)])
    639744
    """
    itemsize = float_dtype(dtype).itemsize
    return sum(math.prod(int(n) for n in shape) for shape in shapes) * itemsize


def check_memory(nbytes: int, limit: int | None, what: str = "this run") -> None:
    """Refuse, before anything is allocated, a run estimated to need more than ``limit`` bytes.

    >>> check_memory(10 * 2**30, 4 * 2**30)
    Traceback (most recent call last):
    ...
    convcalc.tensors.memory.MemoryLimitError: this run needs about 10.0 GiB, more than --max-memory 4.0 GiB; ...
    """
    if limit is not None and nbytes > limit:
        raise MemoryLimitError(
            f"{what} needs about {format_bytes(nbytes)}, more than --max-memory {format_bytes(limit)}; "
            "use a smaller input (batch or spatial size) or raise --max-memory"
        )
