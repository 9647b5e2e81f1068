"""Options declared once and shared: the layer options derived from argument specs, the
common ``--input``/``--dtype``/``--json``, the forward-pass options with one reader
(:func:`run_settings`), and the completers.
"""

from __future__ import annotations

from typing import Annotated, Any, Callable, Mapping, NamedTuple, Optional

import typer

from ..layers.base import (
    ArgSpec, Floats, IntTuple, Layer, OptionalFloats, OptionalSize, OptionalSizes, PaddingArg, Size,
)
from ..registry import layer_classes


METAVARS = {
    int: "INT",
    Optional[int]: "INT",
    float: "FLOAT",
    Optional[float]: "FLOAT",
    Size: "N[xN..]",
    OptionalSize: "N[xN..]",
    OptionalSizes: "N[xN..]",
    PaddingArg: "N[xN..]|same|valid",
    IntTuple: "N[xN..]",
    Floats: "X[xX..]",
    OptionalFloats: "X[xX..]",
}


# The layer's own options reach the command unparsed, in ctx.args (explain, show); they still
# complete (LayerOptionsCommand).
PASS_THROUGH = {"allow_extra_args": True, "ignore_unknown_options": True}


def check_passed_options(ctx: Any, layer: str) -> None:
    """An option word among the passed-through ones that is neither the layer's nor the
    command's (Click let it through as the layer's) is refused naming both, with the spellings
    close to it from either: a typo of --json is not reported as a layer spec's error."""
    from ..errors import ConvcalcError, ParseError, did_you_mean
    from ..layers.build import NEGATIVE_NUMBER, option_table, option_word
    from ..registry import lookup

    try:
        cls = lookup(layer)
    except ConvcalcError:
        return  # an unknown layer: the layer's own parse says so
    for word in ctx.args:
        if word.startswith("-") and not NEGATIVE_NUMBER.fullmatch(word) and option_word(cls, word) is None:
            flag = word.partition("=")[0]
            own = [opt for param in ctx.command.params for opt in (*param.opts, *param.secondary_opts)]
            known = [*own, *(opt for opt in option_table(cls) if opt.startswith("-"))]
            raise ParseError(f"{ctx.info_name} {layer}: no option {flag}, neither {ctx.info_name}'s nor "
                             f"{cls.cli_name()}'s{did_you_mean(flag, known)}")


RUN_PANEL = "Forward pass"


def markup_safe(text: str) -> str:
    """Typer renders help as Rich markup: ``[min_val, max_val]`` must not read as a style tag."""
    return text.replace("[", "\\[")


def _text_option(*flags: str, metavar: str, help: str, complete: Any = None) -> Any:
    return Annotated[Optional[str], typer.Option(
        *flags, metavar=metavar, help=markup_safe(help), rich_help_panel=RUN_PANEL, autocompletion=complete
    )]


def complete_fill(incomplete: str) -> list[str]:
    """The fill kinds, for <TAB> after --fill / --fill-weights (imports NumPy only then)."""
    from ..tensors.fill import fill_kinds

    return [kind for kind in fill_kinds() if kind.startswith(incomplete)]


def layer_completer(accepts: Callable[[type[Layer]], bool]) -> Callable[[str], list[str]]:
    """<TAB> for a command's LAYER argument: the layer commands whose class ``accepts``."""

    def complete(incomplete: str) -> list[str]:
        return [name for name, cls in layer_classes().items() if name.startswith(incomplete) and accepts(cls)]

    return complete


def _flag_option(flag: str, help: str) -> Any:
    return Annotated[bool, typer.Option(flag, help=help, rich_help_panel=RUN_PANEL)]


# The forward-pass options, declared once: the layer commands take them all, `net` and
# `explain` the ones that mean something for them.
Run = _flag_option("--run", "Run the forward pass and show the input, weights and output tensors "
                   "(implied by the options below).")
NetRun = _flag_option("--run", "Run the forward pass and add each layer's output min, max, mean and std as columns "
                      "(implied by the options below).")
InputFile = _text_option("--input-file", metavar="FILE",
                         help="Input tensor: .npy, .npz, .csv/.txt (reshaped to --input) or an image.")
Key = _text_option("--key", metavar="NAME", help="The array to read from an .npz input file.")
Gray = _flag_option("--gray", "Read an image input as one luma channel.")
Weights = _text_option("--weights", metavar="FILE", help="Parameters from an .npz with keys weight, bias, ...")
Fill = _text_option("--fill", metavar="SPEC", complete=complete_fill,
                    help="Random input: normal, uniform, ones, zeros, arange, randint:LOW,HIGH, full:V  [default: normal]")
FillWeights = _text_option("--fill-weights", metavar="SPEC", complete=complete_fill,
                           help="Random parameters, same choices; normal/uniform mimic torch's init  [default: normal]")
Seed = _text_option("--seed", metavar="INT", help="Seed of the random tensors  [default: 0]")
Precision = _text_option(
    "--precision", metavar="INT",
    help="Digits after the decimal point of each value shown (not significant digits)  [default: 4]")
Heatmap = _flag_option("--heatmap", "Draw feature maps as pictures (half-block characters).")
Save = _text_option("--save", metavar="FILE", help="Write the output to .npy (or .npz), atomically.")
Force = _flag_option("--force", "Overwrite an existing --save file.")
MaxMemory = _text_option("--max-memory", metavar="SIZE", help="Refuse runs estimated above this  [default: 4GiB]")
Threads = _text_option("--threads", metavar="N",
                       help="Threads of the forward pass's kernels  [default: $CONVCALC_THREADS, else the CPUs this process may use]")

# The layer commands' run options, after the common ones.
RUN_OPTIONS = {
    "run": Run, "input_file": InputFile, "key": Key, "gray": Gray, "weights": Weights, "fill": Fill,
    "fill_weights": FillWeights, "seed": Seed, "precision": Precision, "heatmap": Heatmap, "save": Save,
    "force": Force, "max_memory": MaxMemory, "threads": Threads,
}
RUN_DEFAULTS = {name: False if name in ("run", "gray", "heatmap", "force") else None for name in RUN_OPTIONS}


class RunSettings(NamedTuple):
    """The run options' values as the core takes them."""

    fill: str
    fill_weights: str
    seed: int
    max_memory: int | None
    precision: int
    threads: int | None  # None: the environment's CONVCALC_THREADS, else every CPU


def run_settings(options: Mapping[str, Any]) -> RunSettings:
    """Read the run options the same way for every command (absent ones take their defaults).

    >>> run_settings({"seed": "3"}).seed
    3
    >>> run_settings({"seed": "3x5"})
    Traceback (most recent call last):
    ...
    convcalc.errors.ParseError: --seed '3x5' must be a single whole number
    """
    from ..kernels.threads import parse_threads
    from ..shapes import parse_int
    from ..tensors.memory import parse_memory

    refuse_lone_options(options)

    def whole(name: str, default: int) -> int:
        text = options.get(name)
        return default if text is None else parse_int(text, f"--{name.replace('_', '-')}", minimum=0)

    return RunSettings(
        fill=options.get("fill") or "normal",
        fill_weights=options.get("fill_weights") or "normal",
        seed=whole("seed", 0),
        max_memory=parse_memory(options.get("max_memory") or "4GiB"),
        precision=_precision(whole("precision", 4)),
        threads=None if options.get("threads") is None else parse_threads(options["threads"], "--threads"),
    )


MAX_PRECISION = 17  # a float64 needs no more digits after the point to read back


def _precision(digits: int) -> int:
    """--precision up to MAX_PRECISION (Python's formatting refused 999999999999: exit 1)."""
    from ..errors import ParseError

    if digits > MAX_PRECISION:
        raise ParseError(f"--precision {digits} is more digits than a float64 holds; use at most {MAX_PRECISION}")
    return digits


def choices_completer(choices: tuple[str, ...]) -> Callable[[str], list[str]]:
    def complete(incomplete: str) -> list[str]:
        return [choice for choice in choices if choice.startswith(incomplete)]

    return complete


def option_for(spec: ArgSpec, flags: tuple[str, ...], panel: str) -> Any:
    """The Typer option of a layer's argument; its choices are listed in its text, where they
    wrap, rather than as its value's name (``MODE``), which does not."""
    help_text = spec.help or spec.name.replace("_", " ")
    if len(spec.choices) > 1 and not all(choice in help_text for choice in spec.choices):
        help_text += ": " + ", ".join(spec.choices[:-1]) + " or " + spec.choices[-1]
    if spec.is_flag and isinstance(spec.default, bool):  # the spelling in effect, as Typer shows a flag pair's
        help_text += f"  [default: {(spec.spellings[0] if spec.default else spec.spellings[-1]).lstrip('-')}]"
    elif not spec.required:
        help_text += f"  [default: {spec.default}]"
    help_text = markup_safe(help_text)
    if spec.is_flag:
        return Annotated[
            Optional[bool],
            typer.Option(f"{flags[0]}/{spec.spellings[-1]}", help=help_text, rich_help_panel=panel),  # --x/--no-x
        ]
    choices = spec.choices
    return Annotated[
        Optional[str],
        typer.Option(
            *flags,
            help=help_text,
            metavar=spec.name.rsplit("_", 1)[-1].upper() if choices else METAVARS.get(spec.annotation, "VALUE"),
            autocompletion=choices_completer(choices) if choices else None,
            rich_help_panel=panel,
            show_default=False,
        ),
    ]


# Element types for memory figures, as <TAB> offers them; a forward pass computes in the floats.
MEMORY_DTYPES = ("float16", "bfloat16", "float32", "float64", "int8", "uint8", "int16", "int32", "int64")
FLOAT_DTYPES = ("float16", "float32", "float64")


def dtype_option(help: str, panel: str | None = None, choices: tuple[str, ...] = MEMORY_DTYPES) -> Any:
    """``--dtype``, every command's, completing to ``choices``."""
    return Annotated[str, typer.Option("--dtype", metavar="DTYPE", rich_help_panel=panel, help=help,
                                       autocompletion=choices_completer(choices))]


MemoryDtype = dtype_option("Element type for memory figures.")
FloatDtype = dtype_option("Element type of the tensors.", choices=FLOAT_DTYPES)


# How numbers read, shared by `net` and the layer commands (each puts them in its own help panel).
def units_option(panel: str | None = None) -> Any:
    return Annotated[str, typer.Option(
        "--units", metavar="FORM", rich_help_panel=panel,
        autocompletion=choices_completer(("both", "exact", "human")),
        help="Counts and sizes: exact, human (three digits and a prefix) or both.")]


def count_option(panel: str | None = None) -> Any:
    return Annotated[str, typer.Option(
        "--count", metavar="TOOL", rich_help_panel=panel,
        autocompletion=choices_completer(("convcalc", "torchinfo", "fvcore")),
        help="MACs as convcalc, torchinfo or fvcore count them (FLOPs stay convcalc's).")]


def batch_option(panel: str | None = None) -> Any:
    return Annotated[Optional[str], typer.Option(
        "--batch", metavar="N", rich_help_panel=panel, help="Set the input's batch dim to N (the input needs one).")]


# Options every layer command has, after the layer's own.
COMMON_OPTIONS = {
    "input_shape": Annotated[
        Optional[str],
        typer.Option(
            "--input", "-i", metavar="SHAPE", rich_help_panel="Input and output",
            help="Input shape, batch dim optional: 1x3x32x32, [1,3,32,32] or torch.Size([1,3,32,32]) as torch prints it.",
        ),
    ],
    "dtype": dtype_option("Element type for memory figures: float32, float16, bfloat16, float64, int8, ...",
                          "Input and output"),
    "as_json": Annotated[
        bool, typer.Option("--json", rich_help_panel="Input and output", help="Machine-readable output.")
    ],
    "batch": batch_option("Input and output"),
    "units": units_option("Input and output"),
    "count": count_option("Input and output"),
}
COMMON_DEFAULTS = {"input_shape": None, "dtype": "float32", "as_json": False, "batch": None, "units": "both",
                   "count": "convcalc"}


# Options that only mean something for a forward pass, so giving one asks for the run.
_IMPLY_RUN = ("input_file", "weights", "fill", "fill_weights", "seed", "save", "heatmap", "precision", "gray", "key")


def wants_run(options: dict[str, Any]) -> bool:
    return bool(options.get("run")) or any(options.get(name) not in (None, False) for name in _IMPLY_RUN)


# Options that change what another option does, and nothing without it: (option, needs, why).
_NEEDS = (
    ("key", "input_file", "--key picks an array of an .npz --input-file"),
    ("gray", "input_file", "--gray reads an image --input-file as one channel"),
    ("force", "save", "--force lets --save overwrite a file"),
)


def refuse_lone_options(options: Mapping[str, Any], runs: bool = True) -> None:
    """Refuse an option given without the one it works with (``--key`` without
    ``--input-file``, ``--force`` without ``--save``), and ``--max-memory`` or ``--threads``
    when nothing runs:
    silently ignoring them would hide a mistake.

    >>> refuse_lone_options({"force": True, "save": None})
    Traceback (most recent call last):
    ...
    convcalc.errors.ConvcalcError: --force lets --save overwrite a file, but no --save was given; add --save FILE or drop --force
    """
    from ..errors import ConvcalcError

    for name, needs, what in _NEEDS:
        if options.get(name) not in (None, False) and options.get(needs) is None:
            flag, needed = "--" + name.replace("_", "-"), "--" + needs.replace("_", "-")
            raise ConvcalcError(f"{what}, but no {needed} was given; add {needed} FILE or drop {flag}")
    for name, what in (("max_memory", "bounds"), ("threads", "sets the threads of")):
        if not runs and options.get(name) is not None:
            flag = "--" + name.replace("_", "-")
            raise ConvcalcError(
                f"{flag} {what} a forward pass, and none runs here; add --run (or an option that implies "
                f"it: --input-file, --weights, --fill, --save, ...) or drop {flag}"
            )


def refuse_idle_pairs(given: Mapping[str, Any], pairs: tuple[tuple[str, str, str], ...]) -> None:
    """Refuse two options given together where one does nothing beside the other (``pairs``:
    option, other option, why): silently ignoring one would hide a mistake.

    >>> refuse_idle_pairs({"--wide": True, "--json": True}, (("--wide", "--json", "--wide widens the table"),))
    Traceback (most recent call last):
    ...
    convcalc.errors.ConvcalcError: --wide widens the table; drop --wide or --json
    """
    from ..errors import ConvcalcError

    for option, other, why in pairs:
        if given.get(option) and given.get(other):
            raise ConvcalcError(f"{why}; drop {option} or {other}")
