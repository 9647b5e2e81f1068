"""Tensors read from files: an input (``--input-file``) from .npy, .npz, text/CSV or an
image, and state_dict weights (``--weights``) from an .npz; each format's reader and the magic
numbers that tell them apart.

Pure: nothing here prints. Warnings a user should see (integers converted, NaN found) are
returned with the result for the caller to show. NumPy is imported at module level because
only forward-pass paths import this module.
"""

from __future__ import annotations

import io
import math
import os
import re
import warnings
import zipfile
import zlib
from pathlib import Path
from typing import Any, NamedTuple, Sequence

import numpy as np

from ..errors import ConvcalcError, FileError, ShapeError
from ..shapes import format_shape
from ..sources import is_regular, read_special
from . import headers
from .arrays import float_dtype
from .memory import check_memory
from .params import listing
from .png import missing_rows
from .reparam import fold_weight_hooks

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp"})

_NPY_MAGIC = b"\x93NUMPY"
_ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06")
_IMAGE_MAGICS = (b"\x89PNG", b"\xff\xd8\xff", b"GIF8", b"BM", b"II*\x00", b"MM\x00*")


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
    max_bytes: int | None = None,
    indices: bool | None = False,
) -> LoadedTensor:
    """Read an input tensor from ``.npy``, ``.npz`` (one array, or ``key``), text/CSV or an image.

    - ``shape`` (``--input``): text is read as a flat list of numbers and reshaped to it; an
      array or image must have the same number of elements (size-1 dims may differ freely;
      any other reshape is done with a warning). Without it, text gives rows × columns.
    - Images (Pillow, the ``image`` extra) give 1×C×H×W floats in [0, 1]: RGB, or one
      luma channel with ``gray``.
    - The values are finished by ``finish_input``: converted to ``dtype`` (integers and bools
      with a warning, NaN and Inf reported), or with ``indices`` (an embedding's input) read
      as int64 row numbers; ``indices=None`` leaves them as stored (text as float64), for the
      caller to finish once it knows which.
    - ``max_bytes`` (``--max-memory``): a load whose estimate (from the header, the image size
      or the text's length) exceeds it is refused before any data is read; a pipe or device is
      read up to it and no further.
    """
    target = float_dtype(dtype)
    source = Path(path)
    data = _read_once(source, max_bytes)
    kind = _file_kind(source, data)
    if key is not None and kind != "npz":
        raise FileError(f"--key {key!r} only applies to .npz files, and {source} is not one")
    _check_load(source, kind, data, target, max_bytes, key=key, gray=gray)
    notes: list[str] = []
    where = file_name(source, key)
    if kind == "image":
        array, notes = _read_image(source, gray, data)
    elif gray:
        raise FileError(f"--gray only applies to images, and {source} is not one")
    elif kind == "text":
        array = _read_text_array(source, shape, data)
    else:
        array = _read_npy_or_npz(source, kind, key, data)
        _reject_non_numeric(array, where)
    if shape is not None and kind != "text":  # text was read into the shape
        array, reshaped = _fit_shape(array, tuple(shape), where, image=kind == "image")
        notes += reshaped
    if indices is None:
        return LoadedTensor(array, notes)
    array, finished = finish_input(array, where, target, indices)
    return LoadedTensor(array, notes + finished)


def finish_input(array: np.ndarray, where: str, dtype: Any, indices: bool) -> tuple[np.ndarray, list[str]]:
    """An input read as stored (``load_input(..., indices=None)``), made what the network takes:
    ``dtype`` floats, with warnings for converted integers and for NaN and Inf; or, with
    ``indices``, an embedding's int64 row numbers (``as_indices``).

    >>> finish_input(np.array([1, 2]), "x.npy", "float32", False)
    (array([1., 2.], dtype=float32), ['x.npy holds int64 values; converted to float32'])
    """
    if indices:
        return as_indices(array, where), []
    floats, notes = _as_float(array, where, float_dtype(dtype))
    return floats, notes + _nonfinite_notes(floats, where)


def load_weights(path: str | os.PathLike, dtype: Any = "float32", max_bytes: int | None = None) -> LoadedWeights:
    """Read state_dict arrays from an ``.npz`` written by
    ``np.savez(f, **{k: v.numpy() for k, v in model.state_dict().items()})``.

    Float arrays are cast to ``dtype``; integer and bool arrays are converted with a warning,
    except ``num_batches_tracked`` counters, which stay int64. ``max_bytes`` bounds the load as
    :func:`load_input`'s does.
    """
    target = float_dtype(dtype)
    source = Path(path)
    _check_readable(source)
    if source.suffix.lower() in (".pt", ".pth", ".ckpt", ".bin"):
        raise FileError(_torch_checkpoint_message(source))
    data = _read_once(source, max_bytes)
    kind = _file_kind(source, data)
    if kind != "npz":
        raise FileError(
            f"{source} is not an .npz file; weights are an .npz of state_dict arrays, written by "
            "np.savez(f, **{k: v.numpy() for k, v in model.state_dict().items()})"
        )
    _check_load(source, "weights", data, target, max_bytes)
    archive = _open_npz(source, data)
    with archive:
        names = list(archive.files)
        if any(name.endswith("data.pkl") or "/data/" in name for name in names):
            raise FileError(_torch_checkpoint_message(source))
        # none: the state_dict of a module without parameters (a ReLU's), checked against the network's
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
        notes.insert(0, f"{source}: converted {listing(converted)} to {target}")
    arrays, computed = fold_weight_hooks(arrays)  # the old weight_norm / spectral_norm hooks' tensors
    notes += [f"{source}: {note}" for note in computed[:3]] + (
        [f"{source}: and {len(computed) - 3} more weights so"] if len(computed) > 3 else [])
    return LoadedWeights(arrays, notes)


def _torch_checkpoint_message(source: Path) -> str:
    return (
        f"{source} looks like a PyTorch checkpoint; convcalc reads .npz files. Convert it once with: "
        "python -c \"import torch, numpy as np; sd = torch.load('" + str(source) + "', map_location='cpu'); "
        "np.savez('weights.npz', **{k: v.numpy() for k, v in sd.items()})\""
    )


def file_name(source: str | os.PathLike, key: str | None) -> str:
    """How messages name an input: the file, and the .npz member with ``--key``.

    >>> file_name("x.npz", "a")
    "x.npz['a']"
    """
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


# A pipe or other non-regular file (--input-file <(cat x.npy)) is read once, whole, up to this
# (or --max-memory, if less); a regular file is read where it lies.
SPECIAL_FILE_LIMIT = 1 << 30


def _read_once(source: Path, max_bytes: int | None = None) -> bytes | None:
    """The whole content of ``source`` when it is not a regular file (a pipe, a FIFO, a device),
    which can be read only once; None for a regular file. A FIFO nobody writes to is refused
    after a wait (:func:`convcalc.sources.read_special`), /dev/zero at the limit."""
    _check_readable(source)
    if is_regular(source):
        return None
    if max_bytes is not None and max_bytes // 2 < SPECIAL_FILE_LIMIT:  # held twice while read
        return read_special(source, max_bytes // 2, what="--max-memory")
    return read_special(source, SPECIAL_FILE_LIMIT)


def _check_load(
    source: Path, kind: str, data: bytes | None, target: np.dtype, max_bytes: int | None,
    key: str | None = None, gray: bool = False,
) -> None:
    """Refuse a load whose estimate exceeds ``max_bytes``, before its data is read."""
    if max_bytes is None:
        return
    try:
        if kind == "npy":
            needed = headers.npy_load_bytes(source, data, target)
        elif kind == "npz":
            needed = headers.npz_load_bytes(source, data, target, key)
        elif kind == "weights":
            needed = headers.weights_load_bytes(source, data, target)
        elif kind == "image":
            needed = headers.image_load_bytes(source, data, target, gray)
        else:
            needed = headers.text_load_bytes(source, data)
    except OSError as exc:
        raise _os_error(source, exc) from None
    if needed is not None:
        check_memory(needed, max_bytes, f"reading {source}")


def _opened(source: Path, data: bytes | None) -> Any:
    """What the readers open: the path, or the bytes read once."""
    return source if data is None else io.BytesIO(data)


def _file_kind(source: Path, data: bytes | None = None) -> str:
    """``npy``, ``npz``, ``image`` or ``text``: by the first bytes, else by the suffix."""
    _check_readable(source)
    if data is not None:
        head = data[:8]
    else:
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


def _read_npy_or_npz(source: Path, kind: str, key: str | None, data: bytes | None = None) -> np.ndarray:
    if kind == "npy":
        try:
            return np.load(_opened(source, data), allow_pickle=False)
        except OSError as exc:
            raise _os_error(source, exc) from None
        except (ValueError, EOFError) as exc:
            raise FileError(f"{source} is truncated or corrupt: {_first_line(exc)}") from None
        except OverflowError as exc:  # a header's shape such as (2**64,)
            raise FileError(f"{source} has a corrupt header: its shape is too large ({_first_line(exc)})") from None
    archive = _open_npz(source, data)
    with archive:
        names = list(archive.files)
        if not names:
            raise FileError(f"{source} holds no arrays")
        if key is None:
            if len(names) > 1:
                raise FileError(
                    f"{source} holds {len(names)} arrays ({listing(names)}); choose one with --key NAME"
                )
            key = names[0]
        elif key not in names:
            raise FileError(f"{source} has no array {key!r}; it holds: {listing(names)}")
        return _read_member(archive, key, source)


def _open_npz(source: Path, data: bytes | None = None) -> Any:
    try:
        return np.load(_opened(source, data), allow_pickle=False)
    except OSError as exc:
        raise _os_error(source, exc) from None
    except (ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise FileError(
            f"{source} is not a readable .npz archive (truncated or corrupt?): {_first_line(exc)}"
        ) from None


def _read_member(archive: Any, name: str, source: Path) -> np.ndarray:
    try:
        member = archive[name]
    except ValueError as exc:
        if "allow_pickle" in str(exc) or "pickle" in str(exc):
            raise FileError(
                f"{source}[{name!r}] holds Python objects; convcalc reads numeric arrays only"
            ) from None
        raise FileError(f"{source}[{name!r}] is truncated or corrupt: {_first_line(exc)}") from None
    except (EOFError, OSError, zipfile.BadZipFile, zlib.error, KeyError) as exc:
        raise FileError(f"{source}[{name!r}] is truncated or corrupt: {_first_line(exc)}") from None
    except OverflowError as exc:  # a member's header claims a shape such as (2**64,)
        raise FileError(f"{source}[{name!r}] has a corrupt header: its shape is too large ({_first_line(exc)})") from None
    except (RuntimeError, NotImplementedError) as exc:  # zipfile: encrypted, or a compression it lacks
        raise FileError(
            f"{source}[{name!r}] cannot be read: {_first_line(exc)}; write the archive with np.savez or "
            "np.savez_compressed"
        ) from None
    if not isinstance(member, np.ndarray):  # NpzFile hands back a member that is not .npy as bytes
        raise FileError(
            f"{source}[{name!r}] is not a NumPy array but a {len(member)}-byte file; an .npz holds the "
            ".npy files np.savez writes"
        )
    return member


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


def as_indices(x: np.ndarray, where: str) -> np.ndarray:
    """``x`` as int64 row numbers for an embedding: whole numbers only, else a ConvcalcError
    naming ``where``.

    >>> as_indices(np.array([1.0, 2.0]), "x.npy")
    array([1, 2])
    """
    if x.dtype.kind == "f" and (not np.all(np.isfinite(x)) or not np.all(x == np.round(x))):
        raise ConvcalcError(f"{where}: an embedding takes whole-number indices")
    if x.size and (x.dtype.kind == "f" or (x.dtype.kind == "u" and x.dtype.itemsize >= 8)):
        wide = x.astype(np.float64, copy=False) if x.dtype.kind == "f" else x
        low, high = wide.min(), wide.max()
        if low < -(2**63) or high >= 2**63:  # else the cast would wrap them
            raise ConvcalcError(f"{where}: indices from {low:g} to {high:g} do not fit in int64, as an "
                                "embedding's row numbers must")
    return x.astype(np.int64, copy=False)


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


def _read_text_array(source: Path, shape: Sequence[int] | None, data: bytes | None = None) -> np.ndarray:
    """The numbers of a text file as float64: reshaped to ``shape``, else rows × columns."""
    values, row_lengths = _read_text_numbers(source, data)
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
    return array


_WHITESPACE = re.compile(r"\s+")


def _read_text_numbers(source: Path, data: bytes | None = None) -> tuple[list[float], list[int]]:
    """All numbers of a text/CSV file, and how many each non-empty line holds.

    Fields are split on commas, semicolons or tabs if a line has them, else on whitespace;
    ``#`` starts a comment (np.savetxt's header).
    """
    try:
        raw = source.read_bytes() if data is None else data
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


def _read_image(source: Path, gray: bool, data: bytes | None = None) -> tuple[np.ndarray, list[str]]:
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
            with Image.open(_opened(source, data)) as image:
                image.load()
                _check_complete(source, image, data)
                array = _image_array(image, gray)
        except OSError as exc:
            if isinstance(exc, (FileNotFoundError, PermissionError)):
                raise _os_error(source, exc) from None
            raise FileError(f"{source} is not a readable image: {_first_line(exc)}") from None
        except FileError:
            raise
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


def _check_complete(source: Path, image: Any, data: bytes | None) -> None:
    """FileError for a PNG whose image data ends before its last row: Pillow fills those with
    zeros without a word."""
    if image.format != "PNG":
        return
    problem = missing_rows(source.read_bytes() if data is None else data)
    if problem is not None:
        raise FileError(f"{source} is a truncated PNG: {problem}")


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


def _cast(values: np.ndarray, dtype: np.dtype) -> np.ndarray:
    with np.errstate(over="ignore", invalid="ignore"):
        return values.astype(dtype, copy=False)
