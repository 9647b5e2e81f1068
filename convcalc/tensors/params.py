"""State_dict arrays checked against the shapes a layer or network expects, and the messages
that list what is missing, unexpected or the wrong shape.

Pure: nothing here prints; notes a user should see come back as a list. It needs no NumPy
(anything with a ``.shape``, or a shape tuple, is checked), so importing it costs little.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from ..errors import FileError, ShapeError
from ..shapes import format_shape

# How many keys a message lists before it says "and N more".
LISTED_KEYS = 12


def check_params(
    expected: Mapping[str, Sequence[int]],
    given: Mapping[str, Any],
    where: str,
    strict: bool = True,
) -> list[str]:
    """Check ``given`` arrays (or shapes) against the ``expected`` state_dict shapes.

    Missing keys, unexpected keys and wrong shapes are all listed in one message: a
    FileError when keys are missing or extra, else a ShapeError. Missing
    ``num_batches_tracked`` counters are fine (inference never reads them). With
    ``strict=False`` extra keys are only reported in the returned warnings.

    >>> check_params({"weight": (8, 3, 5, 5), "bias": (8,)}, {"weight": (8, 3, 3, 3)}, "w.npz")
    Traceback (most recent call last):
    ...
    convcalc.errors.FileError: w.npz: missing 1 key: bias [8]; wrong shape: weight expected ...
    """
    given_shapes = {k: _shape_of(v) for k, v in given.items()}
    missing = [k for k in expected if k not in given_shapes and not k.endswith("num_batches_tracked")]
    extra = [k for k in given_shapes if k not in expected]
    wrong = [
        f"{k} expected {format_shape(tuple(expected[k]))}, got {format_shape(given_shapes[k])}"
        for k in expected
        if k in given_shapes and given_shapes[k] != tuple(expected[k])
    ]
    notes = []
    if extra and not strict:
        notes.append(
            f"{where}: ignored {len(extra)} key{_s(extra)} the network doesn't have: {listing(extra)}"
        )
        extra = []
    if not (missing or extra or wrong):
        return notes
    parts = []
    if missing:
        parts.append(
            f"missing {len(missing)} key{_s(missing)}: "
            + listing([f"{k} {format_shape(tuple(expected[k]))}" for k in missing])
        )
    if extra:
        parts.append(f"unexpected {len(extra)} key{_s(extra)}: {listing(extra)}")
    if wrong:
        parts.append(f"wrong shape{_s(wrong)}: {listing(wrong)}")
    message = f"{where}: " + "; ".join(parts)
    if missing:
        message += _prefix_hint(list(expected), list(given_shapes))
    if missing or extra:
        raise FileError(message)
    raise ShapeError(message)


def _shape_of(value: Any) -> tuple[int, ...]:
    shape = getattr(value, "shape", None)
    return tuple(int(n) for n in (shape if shape is not None else value))


def _s(items: Sequence[Any]) -> str:
    return "" if len(items) == 1 else "s"


def listing(items: Sequence[str]) -> str:
    """The first ``LISTED_KEYS`` items joined by commas, then "and N more" for the rest.

    >>> listing([f"k{i}" for i in range(14)])
    'k0, k1, k2, k3, k4, k5, k6, k7, k8, k9, k10, k11 and 2 more'
    """
    shown = ", ".join(items[:LISTED_KEYS])
    more = len(items) - LISTED_KEYS
    return shown + (f" and {more} more" if more > 0 else "")


def _prefix_hint(expected: list[str], given: list[str]) -> str:
    """Say so when the two key sets differ only by a prefix (``module.`` from DataParallel)."""
    wanted = [k for k in expected if not k.endswith("num_batches_tracked")]
    if not wanted or not given:
        return ""
    given_set = set(given)
    first = wanted[0]
    for key in given:
        if key.endswith("." + first):
            prefix = key[: -len(first)]
            if all(prefix + k in given_set for k in wanted):
                return (
                    f"; the file's keys carry an extra prefix {prefix!r} ({prefix + first} for {first}): "
                    f"save them without it, e.g. {{k.removeprefix({prefix!r}): v ...}}"
                )
    for key in given:
        if first.endswith("." + key):
            prefix = first[: -len(key)]
            if all(k.startswith(prefix) and k[len(prefix) :] in given_set for k in wanted):
                return f"; the file's keys lack the prefix {prefix!r} ({key} for {first})"
    return ""
