"""The ``convcalc`` command: parse options, call the core, render, map errors to exit codes.

Layer commands are generated from the registry and built only when invoked: Typer would
otherwise build ~150 commands on every start (measured: a 100-command app starts 1.36× slower
than a one-command app). ``convcalc --help`` and completion list names without building them.
"""

from __future__ import annotations

import errno
import inspect
import json
import os
import sys
from typing import Annotated, Any, Callable, Optional

import typer
from typer.core import TyperCommand, TyperGroup

from .. import __version__
from ..errors import ConvcalcError, ShapeError
from ..layers.base import ArgSpec, IntTuple, Layer, OptionalSize, PaddingArg, Size
from ..registry import aliases, layer_classes, suggestion

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2

FAMILY_PANELS = {
    "conv": "Convolutions",
    "pooling": "Pooling and unpooling",
    "linear": "Linear and embedding",
    "norm": "Normalisation",
    "activation": "Activations",
    "dropout": "Dropout",
    "reshape": "Reshaping and padding",
    "resample": "Resampling",
}

METAVARS = {
    int: "INT",
    float: "FLOAT",
    Size: "N[xN..]",
    OptionalSize: "N[xN..]",
    PaddingArg: "N[xN..]|same|valid",
    IntTuple: "N[xN..]",
}


# Commands whose modules load only when invoked: (module, function, context settings).
# PASS_THROUGH: the layer's own options reach the command unparsed, in ctx.args (explain, show);
# they still complete (_LayerOptionsCommand).
PASS_THROUGH = {"allow_extra_args": True, "ignore_unknown_options": True}
_LAZY_COMMANDS = {
    "explain": ("convcalc.cli.explain", "explain_command", PASS_THROUGH),
    "solve": ("convcalc.cli.teach", "solve_command", {}),
    "show": ("convcalc.cli.teach", "show_command", PASS_THROUGH),
}


class LayerGroup(TyperGroup):
    """The top-level group: static commands plus one lazily built command per layer."""

    def list_commands(self, ctx: Any) -> list[str]:
        return [*self.commands, *_LAZY_COMMANDS, *layer_classes()]

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        if cmd_name in self.commands:
            return self.commands[cmd_name]
        if cmd_name in _LAZY_COMMANDS:
            return _lazy_command(cmd_name)
        name = aliases().get(cmd_name, cmd_name)
        if name in layer_classes():
            return _layer_command(name)
        return None

    def resolve_command(self, ctx: Any, args: list[str]) -> Any:
        command = self.get_command(ctx, args[0])
        if command is None and not ctx.resilient_parsing and not args[0].startswith("-"):
            raise ConvcalcError(f"unknown layer or command {args[0]!r}{suggestion(args[0])}")
        return super().resolve_command(ctx, args)


app = typer.Typer(
    cls=LayerGroup,
    name="convcalc",
    help="Shapes, parameters, MACs and FLOPs of torch.nn layers and networks, without PyTorch.\n\n"
    "Each layer is a command named like its torch.nn class, lowercased: "
    "convcalc conv2d --in 3 --out 8 -k 5 --input 1x3x32x32",
    invoke_without_command=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        print(f"convcalc {__version__}")
        raise typer.Exit()


@app.callback()
def _main_options(
    ctx: typer.Context,
    version: Annotated[
        Optional[bool],
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit."),
    ] = None,
) -> None:
    """Shapes, parameters, MACs and FLOPs of torch.nn layers and networks, without PyTorch."""
    if ctx.invoked_subcommand is None and not ctx.resilient_parsing:
        sys.stdout.write(ctx.get_help() + "\n")


@app.command("layers")
def layers_command(
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """List every layer command, its torch.nn class and family."""
    rows = [
        (name, ", ".join(cls.aliases), f"nn.{cls.__name__}", cls.family, cls.summary())
        for name, cls in layer_classes().items()
    ]
    if as_json:
        emit_json([dict(zip(("command", "aliases", "class", "family", "summary"), row)) for row in rows])
        return
    from ..render.report import render_layer_list

    emit_rich(render_layer_list(rows))


_RUN = "Forward pass"


def _text_option(*flags: str, metavar: str, help: str, complete: Any = None) -> Any:
    return Annotated[
        Optional[str], typer.Option(*flags, metavar=metavar, help=help, rich_help_panel=_RUN, autocompletion=complete)
    ]


def complete_fill(incomplete: str) -> list[str]:
    """The fill kinds, for <TAB> after --fill / --fill-weights (imports NumPy only then)."""
    from ..tensors import fill_kinds

    return [kind for kind in fill_kinds() if kind.startswith(incomplete)]


def layer_completer(accepts: Callable[[type[Layer]], bool]) -> Callable[[str], list[str]]:
    """<TAB> for a command's LAYER argument: the layer commands whose class ``accepts``."""

    def complete(incomplete: str) -> list[str]:
        return [name for name, cls in layer_classes().items() if name.startswith(incomplete) and accepts(cls)]

    return complete


def _flag_option(flag: str, help: str) -> Any:
    return Annotated[bool, typer.Option(flag, help=help, rich_help_panel=_RUN)]


# Options for running the layer on numbers (issue: the forward pass), after the common ones.
_RUN_OPTIONS = {
    "run": _flag_option("--run", "Run the forward pass and show input, weights and output (implied by the options below)."),
    "input_file": _text_option("--input-file", metavar="FILE",
                               help="Input tensor: .npy, .npz, .csv/.txt (reshaped to --input) or an image; implies --run."),
    "key": _text_option("--key", metavar="NAME", help="The array to read from an .npz input file."),
    "gray": _flag_option("--gray", "Read an image input as one luma channel."),
    "weights": _text_option("--weights", metavar="FILE", help="Parameters from an .npz with keys weight, bias, ..."),
    "fill": _text_option("--fill", metavar="SPEC", complete=complete_fill,
                         help="Random input: normal, uniform, ones, zeros, arange, randint:LOW,HIGH, full:V  [default: normal]"),
    "fill_weights": _text_option("--fill-weights", metavar="SPEC", complete=complete_fill,
                                 help="Random parameters, same choices; normal/uniform mimic torch's init  [default: normal]"),
    "seed": _text_option("--seed", metavar="INT", help="Seed of the random tensors  [default: 0]"),
    "precision": _text_option("--precision", metavar="INT", help="Digits after the point  [default: 4]"),
    "heatmap": _flag_option("--heatmap", "Draw feature maps as pictures (half-block characters)."),
    "save": _text_option("--save", metavar="FILE", help="Write the output to .npy (or .npz), atomically."),
    "force": _flag_option("--force", "Overwrite an existing --save file."),
    "max_memory": _text_option("--max-memory", metavar="SIZE", help="Refuse runs estimated above this  [default: 4GiB]"),
}
_RUN_DEFAULTS = {name: False if name in ("run", "gray", "heatmap", "force") else None for name in _RUN_OPTIONS}

@app.command("net")
def net_command(
    spec_file: Annotated[
        Optional[str],
        typer.Argument(metavar="[FILE]", help="Network spec; '-' or nothing reads standard input."),
    ] = None,
    input_shape: Annotated[
        Optional[str],
        typer.Option("--input", "-i", metavar="SHAPE", help="Input shape; overrides the spec's input line."),
    ] = None,
    depth: Annotated[
        Optional[str], typer.Option("--depth", metavar="N", help="Fold modules deeper than N into one row.")
    ] = None,
    dtype: Annotated[str, typer.Option("--dtype", metavar="DTYPE", help="Element type for memory figures.")] = "float32",
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
    as_csv: Annotated[bool, typer.Option("--csv", help="CSV rows with exact numbers.")] = False,
    as_markdown: Annotated[bool, typer.Option("--markdown", help="A Markdown table and totals.")] = False,
    run: _RUN_OPTIONS["run"] = False,
    input_file: _RUN_OPTIONS["input_file"] = None,
    key: _RUN_OPTIONS["key"] = None,
    gray: _RUN_OPTIONS["gray"] = False,
    weights: Annotated[Optional[str], typer.Option(
        "--weights", metavar="FILE", rich_help_panel=_RUN,
        help="state_dict arrays in an .npz (np.savez(f, **{k: v.numpy() for k, v in model.state_dict().items()})).")] = None,
    fill: _RUN_OPTIONS["fill"] = None,
    fill_weights: _RUN_OPTIONS["fill_weights"] = None,
    seed: _RUN_OPTIONS["seed"] = None,
    save: Annotated[Optional[str], typer.Option(
        "--save", metavar="FILE", rich_help_panel=_RUN,
        help="Write the output to .npy, or every layer's output to .npz keyed by name; atomically.")] = None,
    force: _RUN_OPTIONS["force"] = False,
    max_memory: _RUN_OPTIONS["max_memory"] = None,
) -> None:
    """Summarise a whole network: per-layer shapes, parameters, MACs, memory, receptive field.

    The spec may mix the command-line form (conv2d --out 64 -k 3), the PyTorch form
    (nn.Conv2d(3, 64, 3)), the text print(model) prints, and JSON; see docs/network-spec.md.
    """
    from ..network.model import parse_network

    if as_json + as_csv + as_markdown > 1:
        raise ConvcalcError("choose one of --json, --csv and --markdown")
    from ..shapes import parse_int

    levels = None if depth is None else parse_int(depth, "--depth", minimum=1)
    network = parse_network(_read_spec(spec_file))
    stats = None
    if _wants_run(locals()):
        summary, stats, output_data = _run_network(network, input_shape, levels, dtype, locals())
    else:
        summary = network.summary(input_shape, dtype, levels)
    if as_json:
        data = summary.to_json()
        if stats is not None:
            for row, row_data in zip(summary.rows, data["layers"]):
                found = stats.get(row.key)
                row_data["stats"] = None if found is None else found._asdict()
            data["output"] = output_data
        emit_json(data)
    elif as_csv or as_markdown:
        from ..render.tables import csv_text, markdown_text

        sys.stdout.write(csv_text(summary, stats) if as_csv else markdown_text(summary, stats))
    elif sys.stdout.isatty():
        from ..render.report import render_network

        emit_rich(render_network(summary, stats))
    else:  # a pipe gets plain text, formatted without Rich: fast even for thousands of layers
        from ..render.tables import plain_text

        sys.stdout.write(plain_text(summary, stats))


def _run_network(network: Any, input_shape: Any, depth: Any, dtype: str, options: dict[str, Any]) -> tuple:
    """``net --run``: run the forward pass (a progress bar on a terminal's stderr), save what was
    asked, and return the summary, per-layer statistics and the output as JSON data."""
    from ..network.execute import run_spec
    from ..single.run import InputSource
    from ..shapes import parse_int, parse_shape
    from ..tensors import array_stats, parse_memory, save_array, tensor_to_json

    shape = parse_shape(input_shape) if input_shape is not None else None
    source = InputSource(shape, options["input_file"], options["key"], options["gray"], options["fill"] or "normal")
    seed = 0 if options["seed"] is None else parse_int(options["seed"], "--seed", minimum=0)
    kwargs = dict(weights=options["weights"], fill_weights=options["fill_weights"] or "normal", seed=seed,
                  dtype=dtype, max_memory=parse_memory(options["max_memory"] or "4GiB"), depth=depth)
    if sys.stderr.isatty():
        from rich.console import Console
        from rich.progress import Progress

        with Progress(console=Console(stderr=True), transient=True) as bar:
            task = bar.add_task("forward pass", total=None)
            summary, result, warnings = run_spec(
                network, source, progress=lambda done, total: bar.update(task, completed=done, total=total), **kwargs)
    else:
        summary, result, warnings = run_spec(network, source, **kwargs)
    for message in warnings:
        warn(message)
    if options["save"] is not None:
        to_npz = options["save"].endswith(".npz")
        save_array(options["save"], result.activations if to_npz else result.output, force=options["force"])
    stats = {name: array_stats(array) for name, array in result.activations.items()}
    output_data = None
    if options.get("as_json"):
        output_data = {"shape": list(result.output.shape), "data": tensor_to_json(result.output)}
    return summary, stats, output_data


# Read at most this much: the parser refuses specs over its own limit with a clear message.
_SPEC_READ_LIMIT = 4 * 10_000_000 + 1


def _read_spec(path: str | None) -> bytes:
    from ..errors import FileError

    if path in (None, "-"):
        if path is None and sys.stdin.isatty():
            raise ConvcalcError("no network spec: give a FILE, or pipe one in (convcalc net < model.txt)")
        return sys.stdin.buffer.read(_SPEC_READ_LIMIT)
    try:
        with open(path, "rb") as handle:
            return handle.read(_SPEC_READ_LIMIT)
    except OSError as exc:
        raise FileError(f"cannot read {path}: {exc.strerror or exc}") from None


# -- layer commands ---------------------------------------------------------------------------

_built: dict[str, Any] = {}


class _LayerOptionsCommand(TyperCommand):
    """``explain`` and ``show``: the layer's own options follow its name and reach the command
    unparsed (``ctx.args``), so Click cannot complete them; this offers them, and their
    choices, from the layer's argument specs, as the layer's own command does."""

    def shell_complete(self, ctx: Any, incomplete: str) -> list[Any]:
        from typer.core import CompletionItem  # Typer's (vendored Click's) completion value

        items = super().shell_complete(ctx, incomplete)
        name = ctx.params.get("layer") or ""
        cls = layer_classes().get(aliases().get(name, name))
        if cls is None:
            return items
        specs = (*cls.arg_specs(), *cls.forward_arg_specs())
        previous = ctx.args[-1] if ctx.args else None
        for spec in specs:
            if previous in spec.flags and not spec.is_flag:  # the option's value
                return [CompletionItem(choice) for choice in spec.choices if choice.startswith(incomplete)]
        if not incomplete.startswith("-"):
            return items
        spellings = [flag for spec in specs for flag in spec.spellings]
        return items + [CompletionItem(flag) for flag in spellings if flag.startswith(incomplete)]


def _lazy_command(name: str) -> Any:
    if name not in _built:
        import importlib

        module, function, context = _LAZY_COMMANDS[name]
        builder = typer.Typer(add_completion=False)
        builder.command(
            name=name, context_settings=context or None, cls=_LayerOptionsCommand if context else TyperCommand
        )(getattr(importlib.import_module(module), function))
        _built[name] = typer.main.get_command(builder)
        _built[name].name = name
    return _built[name]


def _layer_command(name: str) -> Any:
    if name not in _built:
        cls = layer_classes()[name]
        builder = typer.Typer(add_completion=False)
        builder.command(
            name=name,
            help=_markup_safe(_layer_help(cls)),
            short_help=_markup_safe(cls.summary()),
            rich_help_panel=FAMILY_PANELS.get(cls.family, "Layers"),
        )(_layer_function(cls))
        command = typer.main.get_command(builder)
        command.name = name
        _built[name] = command
    return _built[name]


def _markup_safe(text: str) -> str:
    """Typer renders help as Rich markup: ``[min_val, max_val]`` must not read as a style tag."""
    return text.replace("[", "\\[")


def _layer_help(cls: type[Layer]) -> str:
    return f"{cls.summary()}\n\n{cls.signature_text()}"


def _choices_completer(choices: tuple[str, ...]) -> Callable[[str], list[str]]:
    def complete(incomplete: str) -> list[str]:
        return [choice for choice in choices if choice.startswith(incomplete)]

    return complete


def _option(spec: ArgSpec, flags: tuple[str, ...], panel: str) -> Any:
    help_text = spec.help or spec.name.replace("_", " ")
    if not spec.required:
        help_text += f"  [default: {spec.default}]"
    help_text = _markup_safe(help_text)
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
            metavar="[" + "|".join(choices) + "]" if choices else METAVARS.get(spec.annotation, "VALUE"),
            autocompletion=_choices_completer(choices) if choices else None,
            rich_help_panel=panel,
            show_default=False,
        ),
    ]


# Options every layer command has, after the layer's own.
_COMMON_OPTIONS = {
    "input_shape": Annotated[
        Optional[str],
        typer.Option(
            "--input", "-i", metavar="SHAPE", rich_help_panel="Input and output",
            help="Input shape: 1x3x32x32, 1,3,32,32 or [1, 3, 32, 32] (batch dim optional).",
        ),
    ],
    "dtype": Annotated[
        str,
        typer.Option(
            "--dtype", metavar="DTYPE", rich_help_panel="Input and output",
            help="Element type for memory figures: float32, float16, bfloat16, float64, int8, ...",
            autocompletion=_choices_completer(
                ("float16", "bfloat16", "float32", "float64", "int8", "uint8", "int16", "int32", "int64")
            ),
        ),
    ],
    "as_json": Annotated[
        bool, typer.Option("--json", rich_help_panel="Input and output", help="Machine-readable output.")
    ],
}
_COMMON_DEFAULTS = {"input_shape": None, "dtype": "float32", "as_json": False}


def _layer_function(cls: type[Layer]) -> Callable[..., None]:
    """A function whose signature Typer turns into the layer's command."""
    params = []
    for spec in cls.arg_specs():
        annotation = _option(spec, spec.flags, "Layer")
        params.append(inspect.Parameter(spec.name, inspect.Parameter.KEYWORD_ONLY, default=None, annotation=annotation))
    forward_specs = cls.forward_arg_specs()
    for spec in forward_specs:
        annotation = _option(spec, spec.flags, "Forward")
        params.append(
            inspect.Parameter(f"forward_{spec.name}", inspect.Parameter.KEYWORD_ONLY, default=None, annotation=annotation)
        )
    for options, defaults in ((_COMMON_OPTIONS, _COMMON_DEFAULTS), (_RUN_OPTIONS, _RUN_DEFAULTS)):
        for name, annotation in options.items():
            params.append(
                inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=defaults[name], annotation=annotation)
            )

    def run(**values: Any) -> None:
        from ..single.report import layer_report
        from ..shapes import parse_shape

        input_text = values.pop("input_shape")
        as_json = values.pop("as_json")
        dtype = values.pop("dtype")
        forward_kwargs = {
            spec.name: spec.parse(text)
            for spec in forward_specs
            if (text := values.pop(f"forward_{spec.name}")) is not None
        }
        run_options = {name: values.pop(name) for name in _RUN_OPTIONS}
        input_shape = parse_shape(input_text) if input_text is not None else None
        if forward_kwargs and input_shape is None and not run_options["input_file"]:
            raise ConvcalcError(f"{', '.join('--' + k.replace('_', '-') for k in forward_kwargs)} needs --input SHAPE")
        known_shape = input_shape
        if input_shape is None and run_options["input_file"] and _wants_run(run_options):
            known_shape, preloaded = _read_input_file(run_options, dtype)  # channel counts come from it
            try:
                layer = cls.from_options(values, known_shape)
                _run_layer(layer, input_shape, dtype, forward_kwargs, as_json, run_options, preloaded)
            except ShapeError as exc:  # the input does not fit the layer
                raise _table_hint(exc, run_options["input_file"], known_shape) from None
            return
        layer = cls.from_options(values, known_shape)
        if _wants_run(run_options):
            _run_layer(layer, input_shape, dtype, forward_kwargs, as_json, run_options)
            return
        report = layer_report(layer, input_shape, dtype, forward_kwargs)
        if as_json:
            emit_json(report.to_json())
            return
        from ..render.report import render_layer

        emit_rich(render_layer(report))

    run.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    run.__annotations__ = {p.name: p.annotation for p in params}
    run.__name__ = cls.cli_name()
    return run


# Options that only mean something for a forward pass, so giving one asks for the run.
_IMPLY_RUN = ("input_file", "weights", "fill", "fill_weights", "seed", "save", "heatmap", "precision", "gray", "key")


def _wants_run(options: dict[str, Any]) -> bool:
    return bool(options.get("run")) or any(options.get(name) not in (None, False) for name in _IMPLY_RUN)


def _table_hint(exc: ShapeError, path: str, shape: tuple[int, ...]) -> ShapeError:
    """``exc``, saying how a CSV/text file was read when no --input reshaped it."""
    if not path.lower().endswith((".csv", ".txt")):
        return exc
    table = "×".join(map(str, shape))
    return type(exc)(f"{exc} ({path} was read as a {table} table: give --input SHAPE to reshape it)")


def _read_input_file(options: dict[str, Any], dtype: str) -> tuple[tuple[int, ...], tuple[Any, list[str]]]:
    """``--input-file``'s shape, and the array with its warnings for the run to reuse."""
    from ..single.run import InputSource
    from ..tensors import float_dtype

    source = InputSource(None, options["input_file"], options["key"], options["gray"], "normal")
    shape, array, warnings = source.shape_and_file(float_dtype(dtype))
    return shape, (array, warnings)


def _run_layer(
    layer: Layer, input_shape: Any, dtype: str, forward_kwargs: dict[str, Any], as_json: bool,
    options: dict[str, Any], preloaded: tuple[Any, list[str]] | None = None,
) -> None:
    """``--run``: the forward pass on random or file input, shown with the layer's panel."""
    from ..single.report import layer_report
    from ..single.run import run_layer
    from ..shapes import parse_int
    from ..tensors import parse_memory, save_array, tensor_to_json

    def whole(name: str, default: int) -> int:
        text = options[name]
        return default if text is None else parse_int(text, f"--{name.replace('_', '-')}", minimum=0)

    result = run_layer(
        layer, input_shape, input_file=options["input_file"], key=options["key"], gray=options["gray"],
        weights=options["weights"], fill=options["fill"] or "normal",
        fill_weights=options["fill_weights"] or "normal", seed=whole("seed", 0), dtype=dtype,
        max_memory=parse_memory(options["max_memory"] or "4GiB"), forward_kwargs=forward_kwargs,
        preloaded=preloaded,
    )
    for message in result.warnings:
        warn(message)
    if options["save"] is not None:
        output = result.output[0] if isinstance(result.output, tuple) else result.output
        save_array(options["save"], output, force=options["force"])
    report = layer_report(layer, tuple(result.input.shape), dtype, forward_kwargs)
    if as_json:
        tensors = {name: {"shape": list(array.shape), "data": tensor_to_json(array)}
                   for name, array in result.named_tensors()}
        emit_json({**report.to_json(), "tensors": tensors})
        return
    from rich.console import Group

    from ..render.report import render_layer
    from ..render.tensor import render_tensors

    views = render_tensors(result.named_tensors(), precision=whole("precision", 4),
                           mode="heatmap" if options["heatmap"] else "grid")
    emit_rich(Group(render_layer(report), views))


# -- output -----------------------------------------------------------------------------------


def emit_json(data: Any) -> None:
    # Compact separators: a 3000-layer summary is over a megabyte of JSON.
    sys.stdout.write(json.dumps(data, ensure_ascii=False, separators=(",", ":"), check_circular=False) + "\n")


def emit_rich(renderable: Any, fit: bool = False) -> None:
    """Print on stdout: colour on a terminal; plain text when piped or NO_COLOR is set.

    ``fit``: when piped without COLUMNS, print at the width the output needs rather than at
    PIPED_WIDTH, for tables whose cells must never be cut short (explain's numbers). Layouts
    that spread to the width they are given (tensor grids) keep PIPED_WIDTH.
    """
    import shutil

    from rich.console import Console

    # Piped output goes to a file or another program, not a screen: give it room (COLUMNS still
    # rules), so that wide tables and numbers are not wrapped or cut to fit 80 columns.
    width = shutil.get_terminal_size((PIPED_WIDTH, 24)).columns
    if os.environ.get("NO_COLOR"):  # no escape codes at all, not only no colour
        console = Console(force_terminal=False, width=width, highlight=False)
    else:
        console = Console(highlight=False, soft_wrap=False, width=None if sys.stdout.isatty() else width)
    if fit and not sys.stdout.isatty() and "COLUMNS" not in os.environ:
        from rich.measure import Measurement

        console.width = PIPED_WIDTH_MAX
        console.width = max(80, min(Measurement.get(console, console.options, renderable).maximum, PIPED_WIDTH_MAX))
    console.print(renderable)


PIPED_WIDTH = 160
PIPED_WIDTH_MAX = 4000


def warn(message: str) -> None:
    sys.stderr.write(f"convcalc: warning: {message}\n")


def error(message: str) -> None:
    sys.stderr.write(f"convcalc: error: {message}\n")


def main(argv: list[str] | None = None) -> int:
    """Console-script entry point; returns the exit code."""
    try:
        result = app(args=argv, prog_name="convcalc", standalone_mode=False)
    except ConvcalcError as exc:
        error(_one_line(str(exc)))
        return EXIT_USAGE
    except (typer.Abort, KeyboardInterrupt):
        error("interrupted")
        return 130
    except typer.TyperException as exc:  # Click's usage errors: unknown option, bad value, ...
        error(_one_line(exc.format_message()))  # type: ignore[attr-defined]
        return getattr(exc, "exit_code", EXIT_USAGE)
    except (KeyboardInterrupt,):
        error("interrupted")
        return 130
    except OSError as exc:
        if exc.errno == errno.EPIPE:  # the reader went away (| head): not an error of ours
            return EXIT_OK
        error(f"{exc.strerror or exc}")
        return EXIT_FAILURE
    except Exception as exc:  # a bug of ours, not bad input: say so in one line
        if os.environ.get("CONVCALC_DEBUG"):
            raise
        error(f"internal error ({type(exc).__name__}: {exc}); please report it. "
              "CONVCALC_DEBUG=1 shows the traceback")
        return EXIT_FAILURE
    if os.environ.get("_CONVCALC_COMPLETE"):
        return EXIT_OK
    return result if isinstance(result, int) else EXIT_OK


def _one_line(message: str) -> str:
    return " ".join(part.strip() for part in message.strip().splitlines() if part.strip())


def run() -> None:  # pragma: no cover - exercised through the console script
    import gc
    import signal

    # A short-lived process that builds many small objects: the cyclic collector only costs time.
    gc.disable()
    if hasattr(signal, "SIGPIPE"):  # `convcalc ... | head`: end quietly when the reader leaves, as Unix tools do
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    sys.exit(main())
