"""What reading a tensor file will take, known before its data is read: .npy and .npz headers
(shape and dtype), an image's size (Pillow reads it without decoding) and a text file's length,
turned into an upper bound of the bytes the load allocates, so that ``--max-memory`` refuses a
3.5 MB .npz of a gigabyte of zeros, or a 78 KB PNG of 9000×9000 pixels, before reading it.

Pure: nothing here prints. The estimates return None when the file cannot be judged (a corrupt
header, an unknown key): the reader that follows then says what is wrong with it.
"""

from __future__ import annotations

import io
import math
import os
import warnings
import zipfile
from pathlib import Path
from typing import Any, BinaryIO, Sequence

import numpy as np

from ..errors import FileError

# A text file of S bytes holds at most S/2 numbers; reading them keeps the bytes, the decoded
# text, its lines, a Python float (24 B) and a list slot (8 B) per number, then a float64 array
# and the cast: about 26 bytes of memory per byte of text, rounded up.
TEXT_BYTES_PER_BYTE = 30
# Per pixel, an image load holds Pillow's decoded pixels (4 B) and their RGB/L conversion (4 B),
# then per channel two float64 planes (the scaled pixels and their contiguous copy): 16 B.
_IMAGE_PIXEL_BYTES = 8
_IMAGE_CHANNEL_BYTES = 16


def npy_header(handle: BinaryIO) -> tuple[tuple[int, ...], np.dtype, int] | None:
    """(shape, dtype, bytes of data it promises) of the .npy at ``handle``'s position, or None
    when NumPy could not read the header either.

    >>> buffer = io.BytesIO(); np.save(buffer, np.zeros((2, 3), np.float32)); _ = buffer.seek(0)
    >>> npy_header(buffer)
    ((2, 3), dtype('float32'), 24)
    """
    fmt = np.lib.format
    try:
        version = fmt.read_magic(handle)
        if version == (1, 0):
            shape, _, dtype = fmt.read_array_header_1_0(handle)
        elif version == (2, 0):
            shape, _, dtype = fmt.read_array_header_2_0(handle)
        else:
            shape, _, dtype = fmt._read_array_header(handle, version)  # 3.0: 2.0 with UTF-8 names
    except (ValueError, EOFError, OSError, SyntaxError, TypeError, OverflowError, RecursionError):
        return None
    if dtype.hasobject or any(not isinstance(n, int) or n < 0 for n in shape):
        return None
    return tuple(shape), dtype, math.prod(shape) * dtype.itemsize


def _load_bytes(shape: Sequence[int], dtype: np.dtype, target: np.dtype) -> int:
    """A numeric array read and made ready: its bytes, its cast to ``target`` (when the dtype
    differs), and the boolean mask of the NaN/Inf count."""
    count = math.prod(shape)
    cast = 0 if dtype == target else count * target.itemsize
    return count * dtype.itemsize + cast + count


def _opened(source: Path, data: bytes | None) -> Any:
    return open(source, "rb") if data is None else io.BytesIO(data)


def _size(source: Path, data: bytes | None) -> int:
    return len(data) if data is not None else os.stat(source).st_size


def npy_load_bytes(source: Path, data: bytes | None, target: np.dtype) -> int | None:
    """Bytes a .npy load takes; FileError when its data is shorter than its header promises."""
    with _opened(source, data) as handle:
        header = npy_header(handle)
        if header is None:
            return None
        shape, dtype, promised = header
        held = _size(source, data) - handle.tell()
    if promised > held:
        raise FileError(
            f"{source} is truncated: its header promises {promised:,} bytes of data (shape "
            f"{tuple(shape)}, {dtype}), and it holds {held:,}"
        )
    return _load_bytes(shape, dtype, target) + (len(data) if data is not None else 0)


def _member_header(archive: zipfile.ZipFile, info: zipfile.ZipInfo, where: str) -> tuple | None:
    """The header of one .npz member, read from the first bytes its decompression gives."""
    try:
        with archive.open(info) as member:
            header = npy_header(member)
            if header is None:
                return None
            held = info.file_size - member.tell()
    except (OSError, RuntimeError, NotImplementedError, EOFError, ValueError, zipfile.BadZipFile):
        return None
    promised = header[2]
    if promised > held:
        raise FileError(
            f"{where} is truncated: its header promises {promised:,} bytes of data (shape "
            f"{header[0]}, {header[1]}), and it holds {held:,}"
        )
    return header


def _members(source: Path, data: bytes | None) -> tuple[zipfile.ZipFile, dict[str, zipfile.ZipInfo]] | None:
    """The archive and its members by the name NumPy gives them (``x.npy`` is ``x``)."""
    try:
        archive = zipfile.ZipFile(_opened(source, data))
    except (OSError, zipfile.BadZipFile, ValueError, EOFError, NotImplementedError):
        return None
    names = {}
    for info in archive.infolist():
        names[info.filename[:-4] if info.filename.endswith(".npy") else info.filename] = info
    return archive, names


def npz_load_bytes(source: Path, data: bytes | None, target: np.dtype, key: str | None) -> int | None:
    """Bytes reading one array of an .npz takes (``key``, or its only array)."""
    found = _members(source, data)
    if found is None:
        return None
    archive, names = found
    with archive:
        if key is None and len(names) == 1:
            key = next(iter(names))
        if key not in names:
            return None
        header = _member_header(archive, names[key], f"{source}[{key!r}]")
    if header is None:
        return None
    return _load_bytes(header[0], header[1], target) + (len(data) if data is not None else 0)


def weights_load_bytes(source: Path, data: bytes | None, target: np.dtype) -> int | None:
    """Bytes reading every array of a weights .npz takes: each array and its cast are kept."""
    found = _members(source, data)
    if found is None:
        return None
    archive, names = found
    total = largest = 0
    with archive:
        for name, info in names.items():
            header = _member_header(archive, info, f"{source}[{name!r}]")
            if header is None:
                continue
            shape, dtype, _ = header
            count = math.prod(shape)
            total += count * dtype.itemsize + (0 if dtype == target else count * target.itemsize)
            largest = max(largest, count)
    return total + largest + (len(data) if data is not None else 0)


def image_load_bytes(source: Path, data: bytes | None, target: np.dtype, gray: bool) -> int | None:
    """Bytes decoding an image takes, from the size in its header (nothing is decoded)."""
    try:
        from PIL import Image
    except ImportError:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a decompression-bomb warning: the reader reports it
        try:
            with _opened(source, data) as handle, Image.open(handle) as image:
                width, height = image.size
        except Exception:  # any file Pillow cannot open: its reader says why
            return None
    channels = 1 if gray else 3
    per_pixel = _IMAGE_PIXEL_BYTES + channels * (_IMAGE_CHANNEL_BYTES + target.itemsize)
    # the PNG completeness check reads the whole file once more
    return width * height * per_pixel + 2 * _size(source, data)


def text_load_bytes(source: Path, data: bytes | None) -> int:
    """Bytes reading a text file of numbers takes, from its length."""
    return TEXT_BYTES_PER_BYTE * _size(source, data)
