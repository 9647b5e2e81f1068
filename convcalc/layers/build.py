"""The one way from given argument values to a :class:`~convcalc.layers.base.Layer`.

Every caller builds layers here: the layer commands, ``explain`` and ``show``, the spec's
line, call and JSON forms, and the network tracer. Arguments a layer can take from its input
(``in_channels``, ``num_features``, ...) are inferred from the input shape when one is known;
what is still missing, and anything the constructor refuses, becomes one
:class:`~convcalc.errors.ConvcalcError` with the same wording for every caller.

>>> from convcalc import Conv2d
>>> build_layer(Conv2d, {"out_channels": 8, "kernel_size": 5}, (1, 3, 32, 32))
Conv2d(3, 8, kernel_size=(5, 5), stride=(1, 1))
>>> build_layer(Conv2d, {"out_channels": 8})
Traceback (most recent call last):
...
convcalc.errors.ParseError: Conv2d needs kernel_size (--kernel-size/-k), and in_channels (--in-channels/--in), which is inferred from the input shape: give one (--input SHAPE, or an `input` line in a spec)
"""

from __future__ import annotations

import inspect
import re
from functools import lru_cache
from typing import Any, Mapping, NamedTuple, Sequence

from ..errors import ConvcalcError, ParseError, ShapeError, did_you_mean
from ..shapes import format_shape
from .base import INFERABLE, PLACEMENT_ARGS, ArgSpec, Layer


def missing_args(cls: type[Layer], given: Mapping[str, Any]) -> list[ArgSpec]:
    """The required constructor arguments not in ``given``, in signature order."""
    return [spec for spec in cls.arg_specs() if spec.required and spec.name not in given]


def build_layer(
    cls: type[Layer],
    given: Mapping[str, Any],
    input_shape: Sequence[int] | None = None,
    *,
    unknown: Sequence[str] = (),
) -> Layer:
    """``cls`` built from ``given`` (argument name -> value), inferring what the input implies.

    ``unknown`` names keywords the caller found that are not arguments of ``cls``: a missing
    argument's message then suggests the spelling that was probably meant.
    """
    kwargs = dict(given)
    missing = missing_args(cls, kwargs)
    if missing and input_shape is not None:
        inferred = cls.infer_args(tuple(input_shape))
        kwargs = {**inferred, **kwargs}
        still = missing_args(cls, kwargs)
        if still:
            names = ", ".join(spec.name for spec in still)
            if all(spec.name in INFERABLE for spec in still):
                raise ShapeError(
                    f"{cls.__name__} cannot infer {names} from an input of shape "
                    f"{format_shape(tuple(input_shape))}; give {names} explicitly"
                )
        missing = still
    if missing:
        raise ParseError(missing_message(cls, missing, input_shape is None, unknown))
    return construct(cls, kwargs)


def missing_message(
    cls: type[Layer], missing: Sequence[ArgSpec], shape_unknown: bool, unknown: Sequence[str] = ()
) -> str:
    """``"Conv2d needs kernel_size (--kernel-size/-k)"``, naming what an input shape would give."""
    needed = [spec for spec in missing if not (shape_unknown and spec.name in INFERABLE)]
    inferable = [spec for spec in missing if shape_unknown and spec.name in INFERABLE]
    parts = []
    if needed:
        parts.append(", ".join(_described(spec) for spec in needed))
    if inferable:
        parts.append(
            ", ".join(_described(spec) for spec in inferable)
            + ", which is inferred from the input shape: give one (--input SHAPE, or an `input` line in a spec)"
        )
    names = [spec.name for spec in cls.arg_specs()]
    misspelt = "".join(
        f"; {extra} is not an argument of {cls.__name__}{did_you_mean(extra, names)}" for extra in unknown
    )
    return f"{cls.__name__} needs {', and '.join(parts)}{misspelt}"


def _described(spec: ArgSpec) -> str:
    return f"{spec.name} ({'/'.join(spec.flags)})"


def construct(cls: type[Layer], kwargs: Mapping[str, Any]) -> Layer:
    """``cls(**kwargs)``, a value of a type the layer does not check becoming a ParseError."""
    try:
        return cls(**kwargs)
    except ConvcalcError:
        raise
    except (TypeError, ValueError, ArithmeticError, IndexError, KeyError, AttributeError) as exc:
        raise ParseError(f"{cls.__name__}: invalid arguments {dict(kwargs)}: {exc}") from None


@lru_cache(maxsize=None)
def positional_names(cls: type[Layer]) -> tuple[str, ...]:
    """The constructor arguments that may be given by position, as torch's signature allows.

    >>> from convcalc import Conv2d
    >>> positional_names(Conv2d)[:3]
    ('in_channels', 'out_channels', 'kernel_size')
    """
    names = []
    for param in list(inspect.signature(cls.__init__).parameters.values())[1:]:
        if param.kind is not param.POSITIONAL_OR_KEYWORD or param.name in PLACEMENT_ARGS:
            break
        names.append(param.name)
    return tuple(names)


# A word that starts with "-" but is a value: a negative number (-1, -0.5, -1e-3, -inf).
NEGATIVE_NUMBER = re.compile(r"-\d+(\.\d*)?([eE][-+]?\d+)?|-\.\d+|-inf", re.IGNORECASE)


class OptionWord(NamedTuple):
    """What one option word names: the argument, whether ``forward`` takes it, and the value
    written in the word itself (``--kernel-size=3``, ``-k3``; ``"false"`` for ``--no-bias``)."""

    spec: ArgSpec
    is_forward: bool
    attached: str | None


@lru_cache(maxsize=None)
def option_table(cls: type[Layer]) -> dict[str, tuple[bool, ArgSpec]]:
    """Option spelling -> (is a forward argument, spec): kebab-case, snake_case and short flags."""
    table: dict[str, tuple[bool, ArgSpec]] = {}
    for is_forward, specs in ((True, cls.forward_arg_specs()), (False, cls.arg_specs())):
        for spec in specs:
            for flag in spec.flags:
                table[flag] = (is_forward, spec)
            table["--" + spec.name] = (is_forward, spec)
    return table


def given_twice(name: str) -> str:
    """The message for an argument or option given twice, wherever words are read."""
    return f"{name} is given twice"


def no_argument(cls: type[Layer], key: str) -> str:
    """The message for an argument name ``cls`` does not take; a command-line short form (``out``
    for ``--out``) is pointed at the argument it stands for.

    >>> from convcalc import Conv2d
    >>> no_argument(Conv2d, "out"), no_argument(Conv2d, "strid")
    ("Conv2d has no argument 'out'; did you mean out_channels (--out on the command line)?", "Conv2d has no argument 'strid'; did you mean stride?")
    """
    specs = [spec.name for spec in cls.arg_specs()]
    meant = [spec.name for spec in cls.arg_specs() if f"--{key}" in spec.flags or f"-{key}" in spec.flags]
    hint = f"; did you mean {meant[0]} (-{'-' * (len(key) > 1)}{key} on the command line)?" if meant else did_you_mean(key, specs)
    return f"{cls.__name__} has no argument {key!r}{hint}"


def no_option(cls: type[Layer], flag: str, known: Sequence[str]) -> str:
    """The message for an option ``cls`` does not take, with the spellings close to it."""
    return f"{cls.cli_name()} has no option {flag}{did_you_mean(flag, known)}"


def option_word(cls: type[Layer], word: str) -> OptionWord | None:
    """The argument of ``cls`` an option word names, or None when it names none.

    >>> from convcalc import Conv2d
    >>> [option_word(Conv2d, w).attached for w in ("-k3", "--kernel-size=3", "--no-bias", "--bias")]
    ['3', '3', 'false', None]
    >>> option_word(Conv2d, "--frob") is None and option_word(Conv2d, "-1") is None
    True
    """
    if not word.startswith("-") or len(word) == 1 or NEGATIVE_NUMBER.fullmatch(word):
        return None
    options = option_table(cls)
    flag, eq, attached = word.partition("=")
    negated = "--" + flag[5:] if flag.startswith("--no-") else None
    if flag in options:
        is_forward, spec = options[flag]
        return OptionWord(spec, is_forward, attached if eq else None)
    if negated in options and options[negated][1].is_flag:
        if eq:
            raise ParseError(f"{flag} takes no value")
        is_forward, spec = options[negated]
        return OptionWord(spec, is_forward, "false")
    if not flag.startswith("--") and flag[:2] in options and not options[flag[:2]][1].is_flag:
        is_forward, spec = options[flag[:2]]
        return OptionWord(spec, is_forward, word[2:])
    return None
