"""Arrays written to ``.npy`` or ``.npz`` atomically, refusing to overwrite without ``force``.

The data goes to a temporary file beside the target, which then becomes the target in one
step: a hard link (or, where links are not supported, an exclusive create and a rename) that
fails if the name exists by then, so of two runs saving to the same new path exactly one wins,
and a dangling symlink is not replaced either. With ``force`` a rename replaces what is there.

An interrupted save (an exception, or a signal the caller turns into one) removes its temporary
file on the way out. One killed outright (SIGKILL, a power cut) leaves it, named
``.TARGET.convcalc-PID-XXXXXXXX.tmp``; the next save to the same directory removes those whose
process is gone.

Pure: nothing here prints; failures raise FileError.
"""

from __future__ import annotations

import errno
import os
import re
import tempfile
from pathlib import Path
from typing import Mapping

import numpy as np

from ..errors import FileError

_TEMP_TAG = ".convcalc-"
_TEMP_NAME = re.compile(r"\..*\.convcalc-(\d+)-[a-z0-9_]+\.tmp", re.DOTALL)


def save_array(
    path: str | os.PathLike,
    data: np.ndarray | Mapping[str, np.ndarray],
    force: bool = False,
) -> Path:
    """Write an array to ``.npy``, or arrays by name to ``.npz``, atomically.

    A reader never sees half a file, and an existing file (or symlink, dangling or not) is
    replaced only with ``force``. A lone array written to ``.npz`` is stored as ``arr_0``, as
    np.savez does.
    """
    target = Path(path)
    suffix = check_target(target, force)
    if suffix == ".npy" and isinstance(data, Mapping):
        raise FileError(f"cannot write {len(data)} named arrays to {target}: use an .npz file")
    directory = target.parent
    remove_stale_temporaries(directory)
    try:
        descriptor, temporary = tempfile.mkstemp(
            dir=directory, prefix=f".{target.name[:120]}{_TEMP_TAG}{os.getpid()}-", suffix=".tmp"
        )
    except OSError as exc:
        raise FileError(f"cannot write {target}: {exc.strerror or exc}") from None
    try:
        with os.fdopen(descriptor, "wb") as handle:
            _write(handle, suffix, data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, _new_file_mode(target))
        _publish(temporary, target, force)
    except BaseException as exc:  # SIGTERM and Ctrl-C too: never leave the temporary behind
        _remove(temporary)
        if isinstance(exc, OSError):
            raise FileError(f"cannot write {target}: {exc.strerror or exc}") from None
        raise
    _remove(temporary)  # after a link, the temporary is a second name for the target
    return target


def check_target(target: Path, force: bool = False) -> str:
    """The suffix ``target`` is written with (``.npy`` or ``.npz``, any case), or FileError if it
    cannot be written: another suffix, a directory, a missing directory, an existing name
    without ``force``. A caller may check before a long run; the save itself checks again,
    atomically.
    """
    suffix = target.suffix.lower()
    if suffix not in (".npy", ".npz"):
        raise FileError(f"cannot write {target}: convcalc writes .npy (one array) or .npz (named arrays)")
    if target.is_dir():
        raise FileError(f"cannot write {target}: it is a directory")
    if os.path.lexists(target) and not force:
        raise FileError(_exists_message(target))
    directory = target.parent
    if not directory.is_dir():
        raise FileError(f"cannot write {target}: no such directory {directory}")
    return suffix


def remove_stale_temporaries(directory: Path) -> list[Path]:
    """Remove the temporary files of saves to ``directory`` that were killed before they could
    clean up: named by :func:`save_array`, with a process id that no longer runs. Returns them."""
    removed = []
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return removed
    for entry in entries:
        match = _TEMP_NAME.fullmatch(entry.name)
        if match is None or not entry.is_file(follow_symlinks=False) or _running(int(match.group(1))):
            continue
        if _remove(entry.path):
            removed.append(Path(entry.path))
    return removed


def _write(handle: object, suffix: str, data: np.ndarray | Mapping[str, np.ndarray]) -> None:
    if suffix == ".npy":
        np.save(handle, np.asarray(data), allow_pickle=False)
    elif isinstance(data, Mapping):
        np.savez(handle, **{name: np.asarray(value) for name, value in data.items()})
    else:
        np.savez(handle, np.asarray(data))


def _publish(temporary: str, target: Path, force: bool) -> None:
    """Give the finished temporary file the target's name: unconditionally with ``force``, else
    only if the name is still free, in one step."""
    if force:
        os.replace(temporary, target)
        return
    try:
        os.link(temporary, target)
        return
    except FileExistsError:
        raise FileError(_exists_message(target)) from None
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV, errno.EMLINK):
            raise
    # No hard links here (FAT, some network file systems): claim the name, then fill it.
    try:
        os.close(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        raise FileError(_exists_message(target)) from None
    os.replace(temporary, target)


def _exists_message(target: Path) -> str:
    if target.is_symlink() and not target.exists():
        return f"{target} is a symlink to a missing file; pass --force to replace the link"
    return f"{target} exists; pass --force to overwrite it"


def _running(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, OSError):
        return True  # someone else's process, or unknowable: keep its file
    return True


def _remove(path: str) -> bool:
    try:
        os.unlink(path)
        return True
    except OSError:
        return False


def _new_file_mode(target: Path) -> int:
    # mkstemp creates 0600; give the file the mode open() would have (or the old file's).
    try:
        return target.stat().st_mode & 0o777
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask
