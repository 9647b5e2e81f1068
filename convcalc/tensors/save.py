"""Arrays written to ``.npy`` or ``.npz`` atomically (a temporary file, then one rename),
refusing to overwrite without ``force``.

Pure: nothing here prints; failures raise FileError.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Mapping

import numpy as np

from ..errors import FileError


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
