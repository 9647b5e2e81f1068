"""What a spec may be at all: UTF-8 text without control characters, and bounded in size,
nesting and repeats, so that no input can exhaust memory, the stack or time.
"""

from __future__ import annotations

import re

from ..errors import ParseError


MAX_SPEC_CHARS = 10_000_000
MAX_STATEMENT_CHARS = 100_000
MAX_BRACKET_DEPTH = 32  # brackets inside one statement, and JSON nesting below
MAX_JSON_DEPTH = 64
MAX_NESTING = 64  # modules inside modules
MAX_REPEAT = 10_000
# A summary costs about 0.1 ms a layer: these keep the largest accepted spec to about two seconds.
MAX_SPEC_LINES = 20_000  # print(model) of torchvision's largest model is about 1,000 lines
MAX_LAYERS = 20_000  # leaf layers once repeats are expanded


def as_text(text: str | bytes) -> str:
    if isinstance(text, (bytes, bytearray)):
        if len(text) > MAX_SPEC_CHARS:
            raise too_big(len(text))
        _check_lines(text.count(b"\n"))  # before decoding: a 9 MB spec of relu lines took 11 s and 1.5 GB
        try:
            text = bytes(text).decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise ParseError(
                f"the spec is not UTF-8 text (byte 0x{text[exc.start]:02x} at offset {exc.start}); "
                "is it a binary file?"
            ) from None
    if not isinstance(text, str):
        raise ParseError(f"a spec is text, got {type(text).__name__}")
    if len(text) > MAX_SPEC_CHARS:
        raise too_big(len(text))
    _check_lines(text.count("\n"))
    text = text.removeprefix("\ufeff")
    _reject_binary(text)
    return text


def too_big(size: int) -> ParseError:
    return ParseError(
        f"the spec is {size / 1e6:.1f} MB; specs are limited to {MAX_SPEC_CHARS / 1e6:.0f} MB "
        "(a network spec is text, one layer per line)"
    )


def _check_lines(newlines: int) -> None:
    if newlines > MAX_SPEC_LINES:
        raise ParseError(
            f"the spec has {newlines:,} lines; specs are limited to {MAX_SPEC_LINES:,} lines "
            "(print(model) of a large torchvision model is about 1,000); use repeat N { ... } for "
            "repeated blocks"
        )


_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1f\x7f-\x9f]")  # C0 but whitespace, DEL, C1 (CSI is \x9b)


def _reject_binary(text: str) -> None:
    bad = _CONTROL.search(text)
    if bad is None:
        return
    line = text.count("\n", 0, bad.start()) + 1
    column = bad.start() - (text.rfind("\n", 0, bad.start()) + 1) + 1
    raise ParseError(
        f"control character {bad.group()!r} in the spec; is it a binary file?",
        line=line,
        column=column,
    )
