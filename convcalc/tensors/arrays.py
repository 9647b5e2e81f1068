"""Arrays as the forward pass sees them: the float dtypes it computes in (``float_dtype``),
summaries of an array's values (``array_stats``) and arrays as JSON numbers
(``tensor_to_json``).

Pure: nothing here prints. NumPy is imported at module level because only forward-pass
paths import this module.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np

from ..errors import ConvcalcError, FileError, ParseError, ShapeError

FLOAT_DTYPES = ("float32", "float64", "float16")


def float_dtype(dtype: Any) -> np.dtype:
    """The NumPy float dtype for a name (``float32``, ``float64``, ``float16``).

    >>> float_dtype("float32")
    dtype('float32')
    """
    try:
        resolved = np.dtype(dtype)
    except TypeError:
        resolved = None
    if resolved is None or resolved.kind != "f" or resolved.name not in FLOAT_DTYPES:
        raise ParseError(
            f"dtype {dtype!r} is not usable for the forward pass; use one of: {', '.join(FLOAT_DTYPES)}"
        )
    return resolved


# NumPy's limit on an array's dims (numpy.MAXDIMS; 32 before NumPy 2).
MAX_DIMS = 64 if np.lib.NumpyVersion(np.__version__) >= "2.0.0" else 32


def check_dims(shape: tuple[int, ...], what: str = "the input") -> None:
    """ShapeError for a tensor NumPy cannot make, ``what`` having more dims than it allows.

    >>> check_dims((1,) * 65)
    Traceback (most recent call last):
    ...
    convcalc.errors.ShapeError: the input has 65 dims; NumPy arrays have at most 64, so the forward pass cannot run (shapes and counts without --run still work)
    """
    if len(shape) > MAX_DIMS:
        raise ShapeError(
            f"{what} has {len(shape)} dims; NumPy arrays have at most {MAX_DIMS}, so the forward pass "
            "cannot run (shapes and counts without --run still work)"
        )


def real_array(value: Any, where: str) -> np.ndarray:
    """``value`` as a NumPy array of real numbers (float, int or bool), as ``forward`` takes
    its input and parameters; ConvcalcError for anything else, never a silent cast (a complex
    number would lose its imaginary part) or NumPy's own TypeError.

    >>> real_array([1, 2], "the input").dtype.kind
    'i'
    >>> real_array(np.array([1 + 2j]), "the input")
    Traceback (most recent call last):
    ...
    convcalc.errors.ConvcalcError: the input holds complex numbers (complex128); convcalc computes with real floats
    """
    try:
        array = np.asarray(value)
    except (ValueError, TypeError) as exc:  # ragged nested lists
        raise ConvcalcError(f"{where} is not an array of numbers: {str(exc).splitlines()[0]}") from None
    kind = array.dtype.kind
    if kind == "c":
        raise ConvcalcError(f"{where} holds complex numbers ({array.dtype}); convcalc computes with real floats")
    if kind not in "fiub":
        shown = {"O": "Python object", "U": "text", "S": "bytes"}.get(kind, str(array.dtype))
        raise ConvcalcError(f"{where} holds {shown} values ({array.dtype}), not numbers; give a float array")
    return array


def overflow_notes(output: Any, inputs: list[Any], where: str = "the output") -> list[str]:
    """A note when ``output`` holds infinities or NaN that no array of ``inputs`` held: the
    arithmetic overflowed (torch gives the same inf, silently).

    >>> overflow_notes(np.array([np.inf, 1.0], dtype=np.float32), [np.ones(2)])
    ['the output has 1 infinite value (of 2): float32 overflowed; --dtype float64 reaches 1.8e308']
    """
    outputs = output if isinstance(output, tuple) else (output,)
    values = np.asarray(outputs[0])
    if values.dtype.kind != "f" or bool(np.isfinite(values).all()):
        return []
    if any(np.asarray(a).dtype.kind == "f" and not bool(np.isfinite(a).all()) for a in inputs):
        return []  # they carried through; the reader was told where they came from
    nan = int(np.isnan(values).sum())
    inf = int(np.isinf(values).sum())
    found = " and ".join(part for part in (f"{inf} infinite" if inf else "", f"{nan} NaN" if nan else "") if part)
    plural = "s" if nan + inf > 1 else ""
    wider = values.dtype.itemsize < 8
    if not inf:  # a NaN alone is as often an undefined operation as an overflow on the way
        hint = "; if it overflowed, --dtype float64 reaches 1.8e308" if wider else ""
        return [f"{where} has {found} value{plural} (of {values.size}), as torch gives: an operation undefined for "
                f"its input (0/0, inf − inf, a fractional power of a negative number) or {values.dtype} "
                f"overflowing on the way{hint}"]
    hint = "; --dtype float64 reaches 1.8e308" if wider else ""
    return [f"{where} has {found} value{plural} (of {values.size}): {values.dtype} overflowed{hint}"]


class ArrayStats(NamedTuple):
    """Summary of an array; min/max/mean/std over its finite values (None if there are none)."""

    min: float | None
    max: float | None
    mean: float | None
    std: float | None
    nan: int
    inf: int
    size: int


STATS_CHUNK = 1 << 20


def array_stats(array: np.ndarray) -> ArrayStats:
    """Min, max, mean, std (of the finite values), NaN and Inf counts. An array of more than
    STATS_CHUNK values is read a chunk at a time (its float64 copy would take twice a float32
    tensor's memory), the chunks' means and variances combined exactly as one pass would.

    >>> array_stats(np.array([1.0, 3.0, np.nan]))
    ArrayStats(min=1.0, max=3.0, mean=2.0, std=1.0, nan=1, inf=0, size=3)
    """
    values = np.asarray(array)
    if values.size <= STATS_CHUNK:
        return _stats_of(values.ravel(), int(values.size))
    flat = np.ascontiguousarray(values).reshape(-1)
    parts = [_chunk_stats(flat[start : start + STATS_CHUNK]) for start in range(0, flat.size, STATS_CHUNK)]
    nan, inf = sum(p[5] for p in parts), sum(p[6] for p in parts)
    parts = [p for p in parts if p[0]]
    if not parts:
        return ArrayStats(None, None, None, None, nan, inf, int(values.size))
    count, mean, squares = parts[0][0], parts[0][1], parts[0][2]
    for n, m, m2, _, _, _, _ in parts[1:]:  # Chan et al.'s pairwise combination of mean and M2
        delta = m - mean
        total = count + n
        mean += delta * n / total
        squares += m2 + delta * delta * count * n / total
        count = total
    low, high = min(p[3] for p in parts), max(p[4] for p in parts)
    return ArrayStats(low, high, mean, math.sqrt(squares / count), nan, inf, int(values.size))


def _finite_values(flat: np.ndarray) -> tuple[np.ndarray, int, int]:
    if flat.dtype.kind in "iub":
        return flat.astype(np.float64), 0, 0
    wide = flat.astype(np.float64, copy=False)
    finite = wide[np.isfinite(wide)]
    nan = int(np.isnan(wide).sum())
    return finite, nan, int(wide.size - finite.size - nan)


def _stats_of(flat: np.ndarray, size: int) -> ArrayStats:
    finite, nan, inf = _finite_values(flat)
    if finite.size == 0:
        return ArrayStats(None, None, None, None, nan, inf, size)
    with np.errstate(over="ignore", invalid="ignore"):
        stats = (finite.min(), finite.max(), finite.mean(), finite.std())
    return ArrayStats(*(float(s) for s in stats), nan, inf, size)


def _chunk_stats(flat: np.ndarray) -> tuple[int, float, float, float, float, int, int]:
    """(count, mean, sum of squared deviations, min, max, NaN, Inf) of one chunk's finite values;
    a chunk without NaN or Inf (the usual case) is read in its own dtype, without copies."""
    if flat.dtype.kind == "f" and not bool(np.isfinite(flat).all()):
        finite, nan, inf = _finite_values(flat)
    else:
        finite, nan, inf = flat, 0, 0
    if finite.size == 0:
        return 0, 0.0, 0.0, math.inf, -math.inf, nan, inf
    with np.errstate(over="ignore", invalid="ignore"):
        mean = float(finite.mean(dtype=np.float64))
        squares = float(finite.var(dtype=np.float64)) * finite.size
        return int(finite.size), mean, squares, float(finite.min()), float(finite.max()), nan, inf


# JSON has no NaN or Infinity; these strings are what JavaScript and Python's float() read back.
JSON_NONFINITE = {"nan": "NaN", "inf": "Infinity", "-inf": "-Infinity"}


def tensor_to_json(array: Any) -> Any:
    """Nested lists of plain numbers, for ``--json``; a 0-d array gives a number.

    Floats are written with the fewest digits that read back to the same value at the
    array's precision (a float32 0.1 is ``0.1``). NaN and ±Inf, which JSON lacks, become the
    strings ``"NaN"``, ``"Infinity"`` and ``"-Infinity"`` (``float()`` reads them back).

    >>> tensor_to_json(np.array([[0.1, np.nan], [np.inf, -2.0]], dtype=np.float32))
    [[0.1, 'NaN'], ['Infinity', -2.0]]
    """
    values = np.asarray(array)
    if values.dtype.kind in "iub":
        return values.tolist()
    if values.dtype.kind != "f":
        raise FileError(f"cannot write {values.dtype} values as JSON numbers")
    if values.dtype.itemsize < 8:
        # The shortest decimal of each float32 value, not the long float64 expansion.
        values = values.astype(str).astype(np.float64)
    nested = values.astype(np.float64, copy=False).tolist()
    if bool(np.isfinite(values).all()):
        return nested
    return _replace_nonfinite(nested)


def _replace_nonfinite(value: Any) -> Any:
    if isinstance(value, list):
        return [_replace_nonfinite(item) for item in value]
    if math.isfinite(value):
        return value
    return JSON_NONFINITE[repr(value)]
# --json writes at most this many numbers in all; a larger tensor is summarised (its shape and
# statistics, "data": null): a 600 MB output took over 30 s and 32 times its size to write.
JSON_ELEMENTS = 1 << 20


def tensors_json(named: list[tuple[str, Any]], limit: int = JSON_ELEMENTS) -> tuple[dict[str, Any], list[str]]:
    """``{name: {"shape", "data"}}`` for ``--json``, with the data of the smallest tensors while
    they total at most ``limit`` numbers; the others get ``"data": null`` and their ``"stats"``
    (min, max, mean, std, nan, inf, size). Also the warning naming what was left out.

    >>> data, notes = tensors_json([("input", np.ones(3)), ("output", np.zeros((2, 4)))], limit=5)
    >>> data["input"], data["output"]["data"], data["output"]["stats"]["size"]
    ({'shape': [3], 'data': [1.0, 1.0, 1.0]}, None, 8)
    >>> notes
    ['--json leaves out the numbers of output (8 numbers; --json writes 5 in all): its shape and statistics are given; --save FILE writes it whole']
    """
    budget = limit
    written: set[str] = set()
    for name, array in sorted(named, key=lambda item: np.asarray(item[1]).size):
        size = np.asarray(array).size
        if size <= budget:
            written.add(name)
            budget -= size
    data: dict[str, Any] = {}
    left_out = []
    for name, array in named:
        entry: dict[str, Any] = {"shape": list(np.shape(array))}
        if name in written:
            entry["data"] = tensor_to_json(array)
        else:
            entry["data"] = None
            entry["stats"] = array_stats(array)._asdict()
            left_out.append(f"{name} ({np.asarray(array).size:,} numbers")
        data[name] = entry
    if not left_out:
        return data, []
    what = ", ".join(part + ")" for part in left_out[:-1]) + (" and " if len(left_out) > 1 else "") + left_out[-1]
    return data, [
        f"--json leaves out the numbers of {what}; --json writes {limit:,} in all): "
        f"{'their' if len(left_out) > 1 else 'its'} shape and statistics are given; --save FILE writes "
        f"{'the output' if len(left_out) > 1 else 'it'} whole"
    ]
