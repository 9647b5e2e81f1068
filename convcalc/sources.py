"""Bytes from a file that is not a regular file (a pipe, a FIFO, a device such as /dev/zero),
read once and bounded: in size, since such a file has no size to check first and may never end,
and in waiting, since a FIFO without a writer would block a plain read forever.

Pure: nothing here prints; every refusal is a :class:`~convcalc.errors.FileError`.
"""

from __future__ import annotations

import os
import select
import stat
import time

from .errors import FileError
from .shapes import format_bytes

# Seconds a read waits for the next bytes of a pipe or FIFO before giving up; a writer such as
# <(python make_model.py) may take a while to start. CONVCALC_READ_TIMEOUT overrides it.
READ_TIMEOUT = 30.0
_CHUNK = 1 << 20


def read_timeout() -> float:
    """READ_TIMEOUT, or the seconds in ``CONVCALC_READ_TIMEOUT`` when that is a positive number."""
    text = os.environ.get("CONVCALC_READ_TIMEOUT", "")
    try:
        seconds = float(text[:32])
    except ValueError:
        return READ_TIMEOUT
    return seconds if 0 < seconds < 1e6 else READ_TIMEOUT


def is_regular(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a regular file (its size is known before reading); False for a pipe,
    FIFO or device, and for a path that cannot be examined (the read then says why)."""
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except (OSError, ValueError):
        return False


def read_special(path: str | os.PathLike, limit: int, *, what: str = "", fd: int | None = None) -> bytes:
    """The whole content of the non-regular file ``path`` (or of the open descriptor ``fd``,
    standard input), at most ``limit`` bytes.

    The file is opened without blocking and each read waits at most :func:`read_timeout`
    seconds for bytes (or the end): a FIFO nobody writes to, or a writer that stalls, is
    refused instead of waited on forever. More than ``limit`` bytes is refused, so /dev/zero
    costs twice ``limit`` bytes (the chunks, then their join) and no more. ``what`` names the
    limit in the message (``--max-memory``).

    >>> read_special("/dev/null", 10)
    b''
    >>> read_special("/dev/zero", 10, what="--max-memory")
    Traceback (most recent call last):
    ...
    convcalc.errors.FileError: /dev/zero is not a regular file and gives more than 10 B, the most --max-memory allows (its bytes are held twice while they are read); save it to a regular file first, or raise the limit
    """
    own = fd is None
    if own:
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
        except OSError as exc:
            raise FileError(f"cannot read {path}: {exc.strerror or exc}") from None
    assert fd is not None
    try:
        return _read_all(fd, path, limit, what)
    finally:
        if own:
            os.close(fd)


def _read_all(fd: int, path: str | os.PathLike, limit: int, what: str) -> bytes:
    wait = read_timeout()
    poller = select.poll()
    poller.register(fd, select.POLLIN | select.POLLPRI)
    chunks: list[bytes] = []
    total = 0
    while True:
        started = time.monotonic()
        if not poller.poll(int(wait * 1000)):
            raise FileError(
                f"{path} gave no {'more ' if total else ''}bytes for {wait:g} s (a FIFO that nobody writes "
                f"to?); write to it from another process, or give a regular file"
            )
        try:
            chunk = os.read(fd, min(_CHUNK, limit + 1 - total))
        except BlockingIOError:  # woken without bytes: wait again, for what is left of the wait
            wait = max(0.001, wait - (time.monotonic() - started))
            continue
        except OSError as exc:
            raise FileError(f"cannot read {path}: {exc.strerror or exc}") from None
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
        total += len(chunk)
        wait = read_timeout()
        if total > limit:
            allowed = f"the most {what} allows" if what else "the most convcalc reads from one"
            fix = ", or raise the limit" if what else ""
            raise FileError(
                f"{path} is not a regular file and gives more than {format_bytes(limit)}, {allowed} "
                f"(its bytes are held twice while they are read); save it to a regular file first{fix}"
            )
