"""Tensors for the forward pass: made by a fill rule, read from files, checked, saved.

Pure: nothing here prints. Warnings a user should see (integers converted, NaN found) are
returned with the result for the caller to show. NumPy is imported at module level because
only forward-pass paths import this module.

Fills (``--fill``), written ``NAME`` or ``NAME:ARG,ARG``:

- ``normal`` standard normal, like ``torch.randn``; ``normal:MEAN,STD``.
- ``uniform`` on [0, 1), like ``torch.rand``; ``uniform:LOW,HIGH`` on [LOW, HIGH).
- ``ones``, ``zeros``, ``full:VALUE``.
- ``arange``: 0, 1, 2, ... in row-major order, like ``torch.arange(n).reshape(shape)``.
- ``randint:LOW,HIGH``: whole numbers from LOW to HIGH, BOTH ends included (as Python's
  ``random.randint``; ``torch.randint(-1, 2)`` is ``randint:-1,1``), so a tutorial's
  arithmetic can be checked by hand.

For parameters (``make_params``) a bare ``normal`` or ``uniform`` means "what torch would
initialise": see :func:`make_params`.
"""

from __future__ import annotations

import math
import os
import re
import tempfile
import warnings
import zipfile
import zlib
from pathlib import Path
from typing import Any, Iterable, Mapping, NamedTuple, Sequence

import numpy as np

from .errors import ConvcalcError, FileError, ParseError, ShapeError
from .shapes import format_bytes, format_shape

FILL_HELP = (
    "normal[:MEAN,STD], uniform[:LOW,HIGH], ones, zeros, full:VALUE, arange, "
    "randint:LOW,HIGH (both ends included)"
)

FLOAT_DTYPES = ("float32", "float64", "float16")

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp"})
TEXT_SUFFIXES = frozenset({".csv", ".txt", ".tsv", ".dat"})

# How many keys a message lists before it says "and N more".
LISTED_KEYS = 12

_NPY_MAGIC = b"\x93NUMPY"
_ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06")
_IMAGE_MAGICS = (b"\x89PNG", b"\xff\xd8\xff", b"GIF8", b"BM", b"II*\x00", b"MM\x00*")


class MemoryLimitError(ConvcalcError):
    """A run whose memory estimate exceeds the limit (``--max-memory``)."""


# -- fills ------------------------------------------------------------------------------


class Fill(NamedTuple):
    """A parsed ``--fill``: its kind and the numbers after the colon (empty for defaults)."""

    kind: str
    args: tuple[float, ...] = ()

    @property
    def torch_default(self) -> bool:
        """A bare ``normal``/``uniform``: parameters get torch-like initial values."""
        return self.kind in ("normal", "uniform") and not self.args

    def __str__(self) -> str:
        if not self.args:
            return self.kind
        return self.kind + ":" + ",".join(_number_text(a) for a in self.args)


# kind -> (allowed argument counts, how they are written)
_FILL_ARITY: dict[str, tuple[tuple[int, ...], str]] = {
    "normal": ((0, 2), "normal or normal:MEAN,STD"),
    "uniform": ((0, 2), "uniform or uniform:LOW,HIGH"),
    "ones": ((0,), "ones"),
    "zeros": ((0,), "zeros"),
    "full": ((1,), "full:VALUE"),
    "arange": ((0,), "arange"),
    "randint": ((2,), "randint:LOW,HIGH, e.g. randint:-1,1 (both ends included)"),
}


def fill_kinds() -> list[str]:
    """The fill kinds, as written before any ``:`` arguments.

    >>> fill_kinds()[:3]
    ['normal', 'uniform', 'ones']
    """
    return list(_FILL_ARITY)


def parse_fill(text: str | Fill, what: str = "fill") -> Fill:
    """Read a fill spec such as ``randint:-1,1`` or ``normal:0,0.1``; ``what`` names it in
    messages (the option it came from).

    >>> parse_fill("randint:-1,1")
    Fill(kind='randint', args=(-1.0, 1.0))
    >>> str(parse_fill(" Normal "))
    'normal'
    """
    if isinstance(text, Fill):
        return text
    name, colon, rest = text.strip().partition(":")
    kind = name.strip().lower()
    if kind not in _FILL_ARITY:
        raise ParseError(f"{what} {text!r} is not one of: {FILL_HELP}")
    counts, written = _FILL_ARITY[kind]
    args: tuple[float, ...] = ()
    if colon:
        parts = [p.strip() for p in rest.split(",")]
        try:
            args = tuple(float(p) for p in parts)
        except ValueError:
            raise ParseError(f"{what} {text!r}: arguments must be numbers; write {written}") from None
        if not all(math.isfinite(a) for a in args):
            raise ParseError(f"{what} {text!r}: arguments must be finite numbers; write {written}")
    if len(args) not in counts:
        if counts == (0,):
            raise ParseError(f"{what} {text!r}: {kind} takes no arguments; write {written}")
        raise ParseError(f"{what} {text!r}: write {written}")
    if kind == "randint":
        low, high = args
        if low != int(low) or high != int(high):
            raise ParseError(f"{what} {text!r}: randint bounds must be whole numbers, e.g. randint:-1,1")
        if low > high:
            raise ParseError(
                f"{what} {text!r}: LOW must not exceed HIGH; write randint:{int(high)},{int(low)}"
            )
    if kind == "uniform" and args and args[0] > args[1]:
        raise ParseError(f"{what} {text!r}: LOW must not exceed HIGH")
    if kind == "normal" and args and args[1] < 0:
        raise ParseError(f"{what} {text!r}: STD must be >= 0")
    return Fill(kind, args)


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


def make_rng(seed: int | None = None) -> np.random.Generator:
    """NumPy's default generator; the same seed gives the same tensors on every machine."""
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or seed < 0):
        raise ParseError(f"--seed must be a whole number >= 0: got {seed!r}")
    return np.random.default_rng(seed)


def make_tensor(
    shape: Sequence[int],
    fill: str | Fill = "normal",
    rng: np.random.Generator | None = None,
    dtype: Any = "float32",
) -> np.ndarray:
    """A tensor of ``shape`` made by ``fill`` (see the module docstring).

    Random values are drawn in float64 and then cast, so a seed gives the same numbers
    (up to rounding) whatever the dtype; they are drawn in chunks, so the peak memory is
    the tensor's own size plus a little.

    >>> make_tensor((2, 3), "arange")
    array([[0., 1., 2.],
           [3., 4., 5.]], dtype=float32)
    >>> rng = make_rng(0)
    >>> sorted(set(make_tensor((100,), "randint:-1,1", rng).tolist()))
    [-1.0, 0.0, 1.0]
    """
    return _generate(parse_fill(fill), _checked_shape(shape), rng, float_dtype(dtype))


# Random numbers are drawn this many at a time in float64 and cast into the result, so
# making a tensor takes little more memory than the tensor itself.
_CHUNK = 1 << 18


def _generate(
    spec: Fill, dims: tuple[int, ...], rng: np.random.Generator | None, target: np.dtype
) -> np.ndarray:
    kind, args = spec
    with np.errstate(over="ignore", invalid="ignore"):
        if kind in ("ones", "zeros", "full"):
            value = args[0] if kind == "full" else float(kind == "ones")
            return np.full(dims, value, dtype=target)
        if kind != "arange" and rng is None:
            rng = np.random.default_rng()
        result = np.empty(dims, dtype=target)
        flat = result.reshape(-1)
        for start in range(0, flat.size, _CHUNK):
            stop = min(start + _CHUNK, flat.size)
            flat[start:stop] = _draw(spec, start, stop, rng)
    return result


def _draw(spec: Fill, start: int, stop: int, rng: Any) -> np.ndarray:
    kind, args = spec
    if kind == "arange":
        return np.arange(start, stop, dtype=np.float64)
    count = stop - start
    if kind == "normal":
        mean, std = args or (0.0, 1.0)
        return mean + std * rng.standard_normal(count)
    if kind == "uniform":
        low, high = args or (0.0, 1.0)
        return rng.uniform(low, high, count)
    low, high = (int(a) for a in args)
    return rng.integers(low, high, size=count, endpoint=True)


def _checked_shape(shape: Sequence[int]) -> tuple[int, ...]:
    dims = tuple(shape)
    if not all(isinstance(n, (int, np.integer)) and not isinstance(n, bool) and n >= 1 for n in dims):
        raise ShapeError(f"tensor shape {format_shape(dims)} must be whole numbers >= 1")
    return tuple(int(n) for n in dims)


def _cast(values: np.ndarray, dtype: np.dtype) -> np.ndarray:
    with np.errstate(over="ignore", invalid="ignore"):
        return values.astype(dtype, copy=False)


# -- parameters -------------------------------------------------------------------------

# What a state_dict entry is for, which decides its torch-like initial values.
_TORCH_INIT = {
    "scale": 1.0,  # weight of a normalisation layer
    "shift": 0.0,  # bias of a normalisation layer
    "mean": 0.0,  # running_mean
    "var": 1.0,  # running_var
    "prelu": 0.25,  # PReLU's slope
}


def make_params(
    shapes: Mapping[str, Sequence[int]],
    fill: str | Fill = "normal",
    rng: np.random.Generator | None = None,
    dtype: Any = "float32",
    kinds: Mapping[str, str] | None = None,
) -> dict[str, np.ndarray]:
    """Parameters and buffers for state_dict ``shapes``, drawn in key order.

    ``kinds`` maps a module path (``features.1``; ``""`` for a lone layer) to its torch class
    name (``BatchNorm2d``); without it a key's role is guessed from its name and shape.

    A bare ``normal``/``uniform`` gives what torch initialises, so the numbers look like a
    fresh torch model's: conv and linear weights and biases uniform on ±1/√fan_in (torch's
    kaiming-uniform bound; ``normal`` draws with the same variance instead), norm weights 1
    and biases 0, running_mean 0, running_var 1, PReLU slopes 0.25. Any other fill applies
    to every tensor as written, except that running_var takes absolute values (a variance
    is never negative) and ``num_batches_tracked`` is always 0 (int64; inference ignores it).

    >>> p = make_params({"weight": (8, 3, 5, 5), "bias": (8,)}, "uniform", make_rng(0))
    >>> bool(abs(p["weight"]).max() <= 1 / 75 ** 0.5)
    True
    >>> make_params({"0.weight": (2,), "0.running_var": (2,)}, "normal", make_rng(0),
    ...             kinds={"0": "BatchNorm2d"})["0.running_var"]
    array([1., 1.], dtype=float32)
    """
    spec = parse_fill(fill)
    target = float_dtype(dtype)
    params: dict[str, np.ndarray] = {}
    for key, shape in shapes.items():
        role = _param_role(key, shapes, kinds or {})
        dims = tuple(int(n) for n in shape)
        if role == "count":
            params[key] = np.zeros(dims, dtype=np.int64)
            continue
        if dims:
            _checked_shape(dims)
        if spec.torch_default and role in _TORCH_INIT:
            effective = Fill("full", (_TORCH_INIT[role],))
        elif spec.torch_default and role == "fan_in":
            module = key.rpartition(".")[0]
            bound = _fan_in_bound(tuple(shapes[_sibling(module, "weight")]))
            if spec.kind == "uniform":
                effective = Fill("uniform", (-bound, bound))
            else:
                effective = Fill("normal", (0.0, bound / math.sqrt(3)))
        else:
            effective = spec
        values = _generate(effective, dims, rng, target)
        if role == "var" and not spec.torch_default:
            np.abs(values, out=values)
        params[key] = values
    return params


def _sibling(module: str, leaf: str) -> str:
    return f"{module}.{leaf}" if module else leaf


def _fan_in_bound(weight_shape: tuple[int, ...]) -> float:
    # torch's fan_in: dim 1 times the receptive field, for conv, transposed conv and linear alike.
    fan_in = weight_shape[1] * math.prod(weight_shape[2:])
    return 1 / math.sqrt(fan_in) if fan_in else 0.0


def _param_role(key: str, shapes: Mapping[str, Sequence[int]], kinds: Mapping[str, str]) -> str:
    module, _, leaf = key.rpartition(".")
    if leaf == "num_batches_tracked":
        return "count"
    if leaf == "running_mean":
        return "mean"
    if leaf == "running_var":
        return "var"
    if leaf not in ("weight", "bias"):
        return "other"
    layer_type = kinds.get(module, "").lower()
    if "norm" in layer_type:
        return "scale" if leaf == "weight" else "shift"
    if "prelu" in layer_type:
        return "prelu"
    weight = shapes.get(_sibling(module, "weight"))
    if layer_type or weight is None:
        return "fan_in" if weight is not None and len(weight) >= 2 else "other"
    if len(weight) >= 2:
        return "fan_in"
    # A 1-d weight: a norm layer's scale when it has a bias or running statistics beside it,
    # otherwise PReLU's slopes (the one torch layer with a lone 1-d weight).
    if _sibling(module, "bias") in shapes or _sibling(module, "running_mean") in shapes:
        return "scale" if leaf == "weight" else "shift"
    return "prelu"


# -- reading files ----------------------------------------------------------------------


class LoadedTensor(NamedTuple):
    """An input tensor read from a file, with the warnings a user should see."""

    array: np.ndarray
    warnings: list[str]


class LoadedWeights(NamedTuple):
    """State_dict arrays read from an ``.npz``, with the warnings a user should see."""

    arrays: dict[str, np.ndarray]
    warnings: list[str]


def load_input(
    path: str | os.PathLike,
    shape: Sequence[int] | None = None,
    key: str | None = None,
    gray: bool = False,
    dtype: Any = "float32",
) -> LoadedTensor:
    """Read an input tensor from ``.npy``, ``.npz`` (one array, or ``key``), text/CSV or an image.

    - ``shape`` (``--input``): text is read as a flat list of numbers and reshaped to it; an
      array or image must have the same number of elements (size-1 dims may differ freely;
      any other reshape is done with a warning). Without it, text gives rows × columns.
    - Images (Pillow, the ``image`` extra) give 1×C×H×W floats in [0, 1]: RGB, or one
      luma channel with ``gray``.
    - Integer and bool arrays are converted to ``dtype``; NaN and Inf are kept; both are
      reported in ``warnings``.
    """
    target = float_dtype(dtype)
    source = Path(path)
    kind = _file_kind(source)
    if key is not None and kind != "npz":
        raise FileError(f"--key {key!r} only applies to .npz files, and {source} is not one")
    notes: list[str] = []
    if kind == "image":
        array, notes = _read_image(source, gray)
    elif gray:
        raise FileError(f"--gray only applies to images, and {source} is not one")
    elif kind == "text":
        return _finish_text(source, shape, target)
    else:
        array = _read_npy_or_npz(source, kind, key)
    where = _describe(source, key)
    array, converted = _as_float(array, where, target)
    notes += converted
    if shape is not None:
        array, reshaped = _fit_shape(array, tuple(shape), where, image=kind == "image")
        notes += reshaped
    return LoadedTensor(array, notes + _nonfinite_notes(array, where))


def load_weights(path: str | os.PathLike, dtype: Any = "float32") -> LoadedWeights:
    """Read state_dict arrays from an ``.npz`` written by
    ``np.savez(f, **{k: v.numpy() for k, v in model.state_dict().items()})``.

    Float arrays are cast to ``dtype``; integer and bool arrays are converted with a warning,
    except ``num_batches_tracked`` counters, which stay int64.
    """
    target = float_dtype(dtype)
    source = Path(path)
    _check_readable(source)
    if source.suffix.lower() in (".pt", ".pth", ".ckpt", ".bin"):
        raise FileError(_torch_checkpoint_message(source))
    kind = _file_kind(source)
    if kind != "npz":
        raise FileError(
            f"{source} is not an .npz file; weights are an .npz of state_dict arrays, written by "
            "np.savez(f, **{k: v.numpy() for k, v in model.state_dict().items()})"
        )
    archive = _open_npz(source)
    with archive:
        names = list(archive.files)
        if any(name.endswith("data.pkl") or "/data/" in name for name in names):
            raise FileError(_torch_checkpoint_message(source))
        if not names:
            raise FileError(f"{source} holds no arrays")
        arrays: dict[str, np.ndarray] = {}
        converted: list[str] = []
        notes: list[str] = []
        for name in names:
            array = _read_member(archive, name, source)
            where = f"{source}[{name!r}]"
            if name.rpartition(".")[2] == "num_batches_tracked" and array.dtype.kind in "iu":
                arrays[name] = array.astype(np.int64, copy=False)
                continue
            _reject_non_numeric(array, where)
            if array.dtype.kind in "iub":
                converted.append(f"{name} ({array.dtype})")
            arrays[name] = _cast(array, target)
            notes += _nonfinite_notes(arrays[name], where)
    if converted:
        notes.insert(0, f"{source}: converted {_listing(converted)} to {target}")
    return LoadedWeights(arrays, notes)


def _torch_checkpoint_message(source: Path) -> str:
    return (
        f"{source} looks like a PyTorch checkpoint; convcalc reads .npz files. Convert it once with: "
        "python -c \"import torch, numpy as np; sd = torch.load('" + str(source) + "', map_location='cpu'); "
        "np.savez('weights.npz', **{k: v.numpy() for k, v in sd.items()})\""
    )


def _describe(source: Path, key: str | None) -> str:
    return f"{source}[{key!r}]" if key is not None else str(source)


def _check_readable(source: Path) -> None:
    if source.is_dir():
        raise FileError(f"{source} is a directory, not a file")
    if not source.exists():
        raise FileError(f"no such file: {source}")


def _os_error(source: Path, exc: OSError) -> FileError:
    if isinstance(exc, PermissionError):
        return FileError(f"cannot read {source}: permission denied")
    return FileError(f"cannot read {source}: {exc.strerror or exc}")


def _file_kind(source: Path) -> str:
    """``npy``, ``npz``, ``image`` or ``text``: by the first bytes, else by the suffix."""
    _check_readable(source)
    try:
        with open(source, "rb") as handle:
            head = handle.read(8)
    except OSError as exc:
        raise _os_error(source, exc) from None
    if head.startswith(_NPY_MAGIC):
        return "npy"
    if head.startswith(_ZIP_MAGICS):
        return "npz"
    suffix = source.suffix.lower()
    if suffix in IMAGE_SUFFIXES or head.startswith(_IMAGE_MAGICS):
        return "image"
    if suffix == ".npy":
        raise FileError(f"{source} is not a NumPy .npy file: it does not start with the .npy header")
    if suffix == ".npz":
        raise FileError(f"{source} is not a NumPy .npz file: it is not a zip archive")
    return "text"


def _read_npy_or_npz(source: Path, kind: str, key: str | None) -> np.ndarray:
    if kind == "npy":
        try:
            return np.load(source, allow_pickle=False)
        except OSError as exc:
            raise _os_error(source, exc) from None
        except (ValueError, EOFError) as exc:
            raise FileError(f"{source} is truncated or corrupt: {_first_line(exc)}") from None
    archive = _open_npz(source)
    with archive:
        names = list(archive.files)
        if not names:
            raise FileError(f"{source} holds no arrays")
        if key is None:
            if len(names) > 1:
                raise FileError(
                    f"{source} holds {len(names)} arrays ({_listing(names)}); choose one with --key NAME"
                )
            key = names[0]
        elif key not in names:
            raise FileError(f"{source} has no array {key!r}; it holds: {_listing(names)}")
        return _read_member(archive, key, source)


def _open_npz(source: Path) -> Any:
    try:
        return np.load(source, allow_pickle=False)
    except OSError as exc:
        raise _os_error(source, exc) from None
    except (ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise FileError(
            f"{source} is not a readable .npz archive (truncated or corrupt?): {_first_line(exc)}"
        ) from None


def _read_member(archive: Any, name: str, source: Path) -> np.ndarray:
    try:
        return archive[name]
    except ValueError as exc:
        if "allow_pickle" in str(exc) or "pickle" in str(exc):
            raise FileError(
                f"{source}[{name!r}] holds Python objects; convcalc reads numeric arrays only"
            ) from None
        raise FileError(f"{source}[{name!r}] is truncated or corrupt: {_first_line(exc)}") from None
    except (EOFError, OSError, zipfile.BadZipFile, zlib.error, KeyError) as exc:
        raise FileError(f"{source}[{name!r}] is truncated or corrupt: {_first_line(exc)}") from None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]


def _reject_non_numeric(array: np.ndarray, where: str) -> None:
    kind = array.dtype.kind
    if kind == "c":
        raise FileError(f"{where} holds complex numbers ({array.dtype}); convcalc computes with real floats")
    if kind not in "fiub":
        raise FileError(f"{where} holds {array.dtype} values, not numbers")
    if array.size == 0:
        raise FileError(f"{where} is empty (shape {format_shape(array.shape)})")


def _as_float(array: np.ndarray, where: str, target: np.dtype) -> tuple[np.ndarray, list[str]]:
    _reject_non_numeric(array, where)
    notes = []
    if array.dtype.kind in "iub":
        notes.append(f"{where} holds {array.dtype} values; converted to {target}")
    return _cast(array, target), notes


def _nonfinite_notes(array: np.ndarray, where: str) -> list[str]:
    if array.dtype.kind != "f":
        return []
    nan = int(np.isnan(array).sum())
    inf = int(np.isinf(array).sum())
    if not nan and not inf:
        return []
    found = " and ".join(part for part in (f"{nan} NaN" if nan else "", f"{inf} infinite" if inf else "") if part)
    plural = "s" if nan + inf > 1 else ""
    return [f"{where} has {found} value{plural} (of {array.size}); they carry through the forward pass"]


def _fit_shape(
    array: np.ndarray, shape: tuple[int, ...], where: str, image: bool = False
) -> tuple[np.ndarray, list[str]]:
    if array.shape == shape:
        return array, []
    same_but_ones = tuple(n for n in array.shape if n != 1) == tuple(n for n in shape if n != 1)
    if image and not same_but_ones:
        raise ShapeError(
            f"{where} is an image of shape {format_shape(array.shape)}, but --input is "
            f"{format_shape(shape)}; resize the image first (convcalc does not resize)"
        )
    if array.size != math.prod(shape):
        raise ShapeError(
            f"{where} holds {array.size} numbers in shape {format_shape(array.shape)}, "
            f"but --input {format_shape(shape)} needs {math.prod(shape)}"
        )
    notes = []
    if not same_but_ones:
        notes.append(
            f"{where} has shape {format_shape(array.shape)}; reshaped to {format_shape(shape)} "
            "in row-major order (a channels-last array needs transposing, not reshaping)"
        )
    return array.reshape(shape), notes


def _finish_text(source: Path, shape: Sequence[int] | None, target: np.dtype) -> LoadedTensor:
    values, row_lengths = _read_text_numbers(source)
    where = str(source)
    if shape is not None:
        dims = tuple(shape)
        if len(values) != math.prod(dims):
            raise ShapeError(
                f"{source} holds {len(values)} numbers, but --input {format_shape(dims)} "
                f"needs {math.prod(dims)}"
            )
        array = np.array(values, dtype=np.float64).reshape(dims)
    else:
        if len(set(row_lengths)) > 1:
            first = row_lengths[0]
            bad = next(i for i, n in enumerate(row_lengths) if n != first)
            raise FileError(
                f"{source}: rows differ in length (row 1 has {first} numbers, row {bad + 1} has "
                f"{row_lengths[bad]}); give --input SHAPE to read them as one flat list"
            )
        rows, cols = len(row_lengths), row_lengths[0]
        dims = (rows, cols) if rows > 1 and cols > 1 else (len(values),)
        array = np.array(values, dtype=np.float64).reshape(dims)
    array = _cast(array, target)
    return LoadedTensor(array, _nonfinite_notes(array, where))


_WHITESPACE = re.compile(r"\s+")


def _read_text_numbers(source: Path) -> tuple[list[float], list[int]]:
    """All numbers of a text/CSV file, and how many each non-empty line holds.

    Fields are split on commas, semicolons or tabs if a line has them, else on whitespace;
    ``#`` starts a comment (np.savetxt's header).
    """
    try:
        raw = source.read_bytes()
    except OSError as exc:
        raise _os_error(source, exc) from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise FileError(f"{source} is neither a text file of numbers nor a .npy/.npz/image file") from None
    if "\x00" in text:
        raise FileError(f"{source} is neither a text file of numbers nor a .npy/.npz/image file")
    values: list[float] = []
    row_lengths: list[int] = []
    for number, line in enumerate(text.splitlines(), 1):
        content = line.split("#", 1)[0].strip()
        if not content:
            continue
        delimiter = next((d for d in (",", ";", "\t") if d in content), None)
        fields = content.split(delimiter) if delimiter else _WHITESPACE.split(content)
        for column, field in enumerate(fields, 1):
            token = field.strip().strip("\"'")
            if not token:
                raise FileError(f"{source}, line {number}: field {column} is empty")
            try:
                values.append(float(token))
            except ValueError:
                hint = " (a header line? remove it or start it with #)" if not values else ""
                raise FileError(
                    f"{source}, line {number}, field {column}: {token[:40]!r} is not a number{hint}"
                ) from None
        row_lengths.append(len(fields))
    if not values:
        raise FileError(f"{source} holds no numbers")
    return values, row_lengths


def _read_image(source: Path, gray: bool) -> tuple[np.ndarray, list[str]]:
    try:
        from PIL import Image
    except ImportError:
        raise FileError(
            f"reading images such as {source} needs Pillow: pip install 'convcalc[image]'"
        ) from None
    # Pillow reports through the warnings module, which would print; collect them instead.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            with Image.open(source) as image:
                image.load()
                array = _image_array(image, gray)
        except OSError as exc:
            if isinstance(exc, (FileNotFoundError, PermissionError)):
                raise _os_error(source, exc) from None
            raise FileError(f"{source} is not a readable image: {_first_line(exc)}") from None
        except Image.DecompressionBombError as exc:
            raise FileError(f"{source} is too large an image to read safely: {_first_line(exc)}") from None
        except (ValueError, SyntaxError, EOFError) as exc:
            raise FileError(f"{source} is not a readable image: {_first_line(exc)}") from None
    notes = []
    for record in caught:
        if issubclass(record.category, Image.DecompressionBombWarning):
            raise FileError(f"{source} is too large an image to read safely: {record.message}")
        notes.append(f"{source}: {record.message}")
    return array, notes


def _image_array(image: Any, gray: bool) -> np.ndarray:
    """1×C×H×W float64 in [0, 1]; 16-bit images keep their depth."""
    if image.mode.startswith("I;16") or image.mode == "I":
        luma = np.asarray(image, dtype=np.float64) / 65535.0
        planes = luma[None] if gray else np.repeat(luma[None], 3, axis=0)
    elif image.mode == "F":
        luma = np.asarray(image, dtype=np.float64)
        planes = luma[None] if gray else np.repeat(luma[None], 3, axis=0)
    else:
        pixels = np.asarray(image.convert("L" if gray else "RGB"), dtype=np.float64) / 255.0
        planes = pixels[None] if gray else pixels.transpose(2, 0, 1)
    return np.ascontiguousarray(planes[None])


# -- checking ---------------------------------------------------------------------------


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
            f"{where}: ignored {len(extra)} key{_s(extra)} the network doesn't have: {_listing(extra)}"
        )
        extra = []
    if not (missing or extra or wrong):
        return notes
    parts = []
    if missing:
        parts.append(
            f"missing {len(missing)} key{_s(missing)}: "
            + _listing([f"{k} {format_shape(tuple(expected[k]))}" for k in missing])
        )
    if extra:
        parts.append(f"unexpected {len(extra)} key{_s(extra)}: {_listing(extra)}")
    if wrong:
        parts.append(f"wrong shape{_s(wrong)}: {_listing(wrong)}")
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


def _listing(items: Sequence[str]) -> str:
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


# -- memory -----------------------------------------------------------------------------

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
    size = int(float(number) * base**power)
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
    convcalc.tensors.MemoryLimitError: this run needs about 10.0 GiB, more than --max-memory 4.0 GiB; ...
    """
    if limit is not None and nbytes > limit:
        raise MemoryLimitError(
            f"{what} needs about {format_bytes(nbytes)}, more than --max-memory {format_bytes(limit)}; "
            "use a smaller input (batch or spatial size) or raise --max-memory"
        )


# -- writing ----------------------------------------------------------------------------


def save_array(
    path: str | os.PathLike,
    data: np.ndarray | Mapping[str, np.ndarray],
    force: bool = False,
) -> Path:
    """Write an array to ``.npy``, or arrays by name to ``.npz``, atomically.

    The data goes to a temporary file in the same directory, which then replaces ``path``
    in one step, so a reader never sees half a file. An existing file is overwritten only
    with ``force``. A lone array written to ``.npz`` is stored as ``arr_0``, as np.savez does.
    """
    target = Path(path)
    suffix = target.suffix.lower()
    if suffix not in (".npy", ".npz"):
        raise FileError(f"cannot write {target}: convcalc writes .npy (one array) or .npz (named arrays)")
    if suffix == ".npy" and isinstance(data, Mapping):
        raise FileError(f"cannot write {len(data)} named arrays to {target}: use an .npz file")
    if target.is_dir():
        raise FileError(f"cannot write {target}: it is a directory")
    if target.exists() and not force:
        raise FileError(f"{target} exists; pass --force to overwrite it")
    directory = target.parent
    if not directory.is_dir():
        raise FileError(f"cannot write {target}: no such directory {directory}")
    try:
        descriptor, temporary = tempfile.mkstemp(dir=directory, prefix=f".{target.name}.", suffix=".tmp")
    except OSError as exc:
        raise FileError(f"cannot write {target}: {exc.strerror or exc}") from None
    try:
        with os.fdopen(descriptor, "wb") as handle:
            if suffix == ".npy":
                np.save(handle, np.asarray(data), allow_pickle=False)
            elif isinstance(data, Mapping):
                np.savez(handle, **{name: np.asarray(value) for name, value in data.items()})
            else:
                np.savez(handle, np.asarray(data))
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, _new_file_mode(target))
        os.replace(temporary, target)
    except BaseException as exc:
        try:
            os.unlink(temporary)
        except OSError:
            pass
        if isinstance(exc, OSError):
            raise FileError(f"cannot write {target}: {exc.strerror or exc}") from None
        raise
    return target


def _new_file_mode(target: Path) -> int:
    # mkstemp creates 0600; give the file the mode open() would have (or the old file's).
    try:
        return target.stat().st_mode & 0o777
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


# -- summaries --------------------------------------------------------------------------


class ArrayStats(NamedTuple):
    """Summary of an array; min/max/mean/std over its finite values (None if there are none)."""

    min: float | None
    max: float | None
    mean: float | None
    std: float | None
    nan: int
    inf: int
    size: int


def array_stats(array: np.ndarray) -> ArrayStats:
    """Min, max, mean, std (of the finite values), NaN and Inf counts.

    >>> array_stats(np.array([1.0, 3.0, np.nan]))
    ArrayStats(min=1.0, max=3.0, mean=2.0, std=1.0, nan=1, inf=0, size=3)
    """
    values = np.asarray(array)
    if values.dtype.kind in "iub":
        finite = values.astype(np.float64).ravel()
        nan = inf = 0
    else:
        flat = values.astype(np.float64, copy=False).ravel()
        mask = np.isfinite(flat)
        finite = flat[mask]
        nan = int(np.isnan(flat).sum())
        inf = int(flat.size - finite.size - nan)
    if finite.size == 0:
        return ArrayStats(None, None, None, None, nan, inf, int(values.size))
    with np.errstate(over="ignore", invalid="ignore"):
        stats = (finite.min(), finite.max(), finite.mean(), finite.std())
    return ArrayStats(*(float(s) for s in stats), nan, inf, int(values.size))


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


def _number_text(value: float) -> str:
    return str(int(value)) if value == int(value) else repr(value)
