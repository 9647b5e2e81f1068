"""``convcalc net [FILE]``: a whole network's summary, and its forward pass with ``--run``."""

from __future__ import annotations

import os
import stat
import sys
from typing import Annotated, Any, NamedTuple, Optional

import typer

from ..errors import ConvcalcError
from .options import (
    RUN_PANEL, Fill, FillWeights, Force, Gray, InputFile, Key, MaxMemory, NetRun, Seed, Threads, batch_option,
    MemoryDtype, count_option, refuse_idle_pairs, refuse_lone_options, run_settings, units_option, wants_run,
)
from .output import emit_json, emit_rich, emit_text, warn


Recipes = Annotated[Optional[list[str]], typer.Option(
    "--recipes", metavar="FILE",
    help="Recipes for your own classes' forwards (Python-like `class Block:` with `def forward(self, x):`); "
    "repeat it for more files (a later file's class wins).")]
Strict = Annotated[bool, typer.Option(
    "--strict", help="Refuse to assume a forward the text does not give (exit 2) instead of warning.")]
Wide = Annotated[bool, typer.Option(
    "--wide", help="On a terminal, every column in full however narrow it is (a pipe always gets them all).")]
ModulePath = Annotated[Optional[str], typer.Option(
    "--module", metavar="PATH", help="Take one submodule as the network, e.g. backbone.body.")]
Train = Annotated[bool, typer.Option(
    "--train", help="Estimate one training step's peak memory: weights, gradients, optimizer state and "
    "the activations kept for backward (a column per layer); see docs/training-memory.md.")]
def _optimizers(incomplete: str) -> list[str]:
    from ..network.training import OPTIMIZER_STATES

    return [name for name in OPTIMIZER_STATES if name.startswith(incomplete)]


Optimizer = Annotated[Optional[str], typer.Option(
    "--optimizer", metavar="NAME", help="With --train: sgd, momentum, adam or adamw (default adam).",
    autocompletion=_optimizers)]


_WIDE = "--wide widens the per-layer table on a terminal"
# Options that do nothing beside another: (option, other, why).
_IDLE_PAIRS = (
    ("--totals", "--run", "--totals prints the totals alone, so the forward pass --run (or --input-file, --weights, "
     "--fill, --save, ...) asks for would be thrown away"),
    ("--wide", "--totals", f"{_WIDE}, and --totals prints none"),
    *(("--wide", form, f"{_WIDE}, and {form} writes none") for form in ("--json", "--csv", "--markdown")),
    ("--wide", "several --input", f"{_WIDE}, and several --input sizes are fitted to the terminal together"),
)


def net_command(
    spec_file: Annotated[
        Optional[str],
        typer.Argument(metavar="[FILE]", help="Network spec; '-' or nothing reads standard input."),
    ] = None,
    input_shape: Annotated[
        Optional[list[str]],
        typer.Option("--input", "-i", metavar="SHAPE",
                     help="Input shape; overrides the spec's input line. Give it again for more sizes (a column set each)."),
    ] = None,
    batch: batch_option() = None,
    units: units_option() = "both",
    count: count_option() = "convcalc",
    totals_only: Annotated[bool, typer.Option("--totals", help="Only the totals, no per-layer table.")] = False,
    depth: Annotated[
        Optional[str], typer.Option("--depth", metavar="N", help="Fold modules deeper than N into one row.")
    ] = None,
    dtype: MemoryDtype = "float32",
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
    as_csv: Annotated[bool, typer.Option("--csv", help="CSV rows with exact numbers.")] = False,
    as_markdown: Annotated[bool, typer.Option("--markdown", help="A Markdown table and totals.")] = False,
    wide: Wide = False,
    run: NetRun = False,
    input_file: InputFile = None,
    key: Key = None,
    gray: Gray = False,
    weights: Annotated[Optional[str], typer.Option(
        "--weights", metavar="FILE", rich_help_panel=RUN_PANEL,
        help="state_dict arrays in an .npz (np.savez(f, **{k: v.numpy() for k, v in model.state_dict().items()})).")] = None,
    fill: Fill = None,
    fill_weights: FillWeights = None,
    seed: Seed = None,
    save: Annotated[Optional[str], typer.Option(
        "--save", metavar="FILE", rich_help_panel=RUN_PANEL,
        help="Write the output to .npy, or every layer's output to .npz keyed by name; atomically.")] = None,
    force: Force = False,
    max_memory: MaxMemory = None, threads: Threads = None,
    recipes: Recipes = None,
    strict: Strict = False,
    module: ModulePath = None,
    train: Train = False, optimizer: Optimizer = None,
) -> None:
    """Summarise a whole network: per-layer shapes, parameters, MACs, memory, receptive field.

    The spec may mix the command-line form (conv2d --out 64 -k 3), the PyTorch form
    (nn.Conv2d(3, 64, 3)), the text print(model) prints, and JSON; see docs/network-spec.md.
    """
    if as_json + as_csv + as_markdown > 1:
        raise ConvcalcError("choose one of --json, --csv and --markdown")
    from ..shapes import parse_int

    levels = None if depth is None else parse_int(depth, "--depth", minimum=1)
    runs = wants_run(locals())
    refuse_lone_options(locals(), runs)
    refuse_idle_pairs({"--totals": totals_only, "--run": runs, "--wide": wide, "--json": as_json, "--csv": as_csv,
                       "--markdown": as_markdown, "several --input": len(input_shape or ()) > 1}, _IDLE_PAIRS)
    form = _form(as_json, as_csv, as_markdown)
    sizes = _Sizes.read(input_shape, batch, units, count, "--run" if runs else "--train" if train else None, form, wide)
    network = load_network(spec_file, recipes, strict, module)
    _answer(network, sizes, dtype, levels, form, totals_only, (train, optimizer), locals() if runs else None)


def _answer(network: Any, sizes: "_Sizes", dtype: str, levels: int | None, form: str | None, totals_only: bool,
            training_options: tuple[bool, str | None], run_options: dict[str, Any] | None) -> None:
    """Summarise the network (and run it with ``run_options``; estimate training memory with
    --train) at each input size, and print it."""
    summary, training = _training(network, sizes.shape(network, 0), dtype, levels, *training_options)
    if len(sizes.texts) > 1:
        _emit_sizes(network, sizes, dtype, levels, totals_only, form == "json")
        return
    stats = output_data = None
    if run_options is not None:
        summary, stats, output_data = _run_network(network, sizes.shape(network, 0), levels, dtype, run_options)
    elif summary is None:
        summary = network.summary(sizes.shape(network, 0), dtype, levels)
    summary = _recounted(network, summary, sizes.count)
    if run_options is None:
        shapes_only(summary)
    warn_assumptions(summary.assumptions)
    if totals_only:
        _emit_totals(summary, sizes.units, form, training)
    else:
        _emit_summary(summary, stats, output_data, form, training, sizes.wide, sizes.units)


class _Sizes(NamedTuple):
    """The input sizes (--input, any number), --batch, --units and --count, read and checked."""

    texts: list[str | None]
    batch: int | None
    units: str
    count: str
    wide: bool

    @classmethod
    def read(cls, inputs: list[str] | None, batch: str | None, units: str, count: str, one_input: str | None,
             form: str | None, wide: bool) -> "_Sizes":
        """``one_input`` names the option that takes a single input (--run, --train), if given."""
        from ..batch import parse_batch
        from ..network.counting import COUNTS
        from ..shapes import parse_choice
        from ..units import UNITS

        texts: list[str | None] = list(inputs) if inputs else [None]
        if len(texts) > 1 and one_input:
            raise ConvcalcError(f"{one_input} takes one input, and {len(texts)} --input sizes were given; "
                                "ask for each size on its own")
        if len(texts) > 1 and form in ("csv", "markdown"):
            raise ConvcalcError(f"--{form} takes one input size, and {len(texts)} were given; "
                                "use --json for several, or one call per size")
        return cls(texts, None if batch is None else parse_batch(batch), parse_choice(units, "--units", UNITS),
                   parse_choice(count, "--count", COUNTS), wide)

    def shape(self, network: Any, index: int) -> Any:
        """The index-th input shape (None: the spec's input line), with --batch applied."""
        from ..batch import trace_batch_dim, with_batch
        from ..shapes import parse_shape

        text = self.texts[index]
        shape = parse_shape(text) if text is not None else None
        if self.batch is None:
            return shape
        shape = shape or network.input_shape
        if shape is None:
            raise ConvcalcError("--batch sets the input's batch dim, and no input shape is known: "
                                "give --input SHAPE or an input line in the spec")
        dim, reader = trace_batch_dim(network.trace(shape))
        return with_batch(shape, self.batch, dim, reader)


def _recounted(network: Any, summary: Any, count: str) -> Any:
    """``summary`` with its MACs in the --count convention (a run's and --train's count convcalc's)."""
    if count == summary.count:
        return summary
    recounted = network.summary(summary.input_shape, summary.dtype, summary.depth, count)
    summary.rows, summary.totals, summary.count = recounted.rows, recounted.totals, count
    return summary


def _emit_totals(summary: Any, units: str, form: str | None, training: Any) -> None:
    """``--totals``: the totals object as JSON, or the totals block (Rich on a terminal)."""
    from ..render.totals import render_totals, totals_json, totals_text

    if form not in (None, "json"):
        raise ConvcalcError(f"--totals prints the totals as text or --json, not as --{form}; drop one of them")
    if training is not None:
        raise ConvcalcError("--totals shows the inference totals; drop it for --train's training totals")
    if form == "json":
        emit_json(totals_json(summary))
    elif sys.stdout.isatty():
        emit_rich(render_totals([summary], units))
    else:
        emit_text(totals_text([summary], units))


def _emit_sizes(network: Any, sizes: _Sizes, dtype: str, levels: int | None, totals_only: bool, as_json: bool) -> None:
    """Several input sizes: JSON ``{"inputs": [one size's JSON, ...]}``, or one table."""
    from ..render.sizes import render_sizes, sizes_text
    from ..render.totals import totals_json

    summaries = [network.summary(sizes.shape(network, i), dtype, levels, sizes.count) for i in range(len(sizes.texts))]
    for summary in summaries:
        shapes_only(summary)
    warn_assumptions(summaries[0].assumptions)
    if as_json:
        emit_json({"inputs": [totals_json(s) if totals_only else s.to_json() for s in summaries]})
    elif sys.stdout.isatty():
        emit_rich(render_sizes(summaries, sizes.units, totals_only))
    else:
        emit_text(sizes_text(summaries, sizes.units, totals_only))


def shapes_only(summary: Any) -> Any:
    """``summary`` for a shape answer: only the assumptions that can change a shape (one that can
    change only values, an unprinted ``align_corners``, does not bear on it)."""
    summary.assumptions = [a for a in summary.assumptions if a.shapes]
    return summary


def warn_assumptions(assumptions: list[Any]) -> None:
    """One stderr line for what a run assumed, however many (--json lists them one by one): the
    modules of one assumption together, the first three assumptions, then the classes the
    others are about, so that none goes unseen."""
    from ..network.graph import shown_names

    if assumptions:
        by_message: dict[str, list[str]] = {}
        classes: dict[str, str] = {}
        for assumption in assumptions:
            by_message.setdefault(assumption.message, []).append(assumption.module or "the network")
            classes.setdefault(assumption.message, assumption.type_name)
        groups = list(by_message.items())
        shown = "; ".join(f"{shown_names(modules, 3)}: {message}" for message, modules in groups[:3])
        rest = list(dict.fromkeys(classes[message] for message, _ in groups[3:]))  # each class the others are about
        more = f"; and {len(groups) - 3} more, about {shown_names(rest, 6)} (--json lists them)" if rest else ""
        warn(f"assumed what the text does not show: {shown}{more} (--strict refuses this)")


def _form(as_json: bool, as_csv: bool, as_markdown: bool) -> str | None:
    return "json" if as_json else "csv" if as_csv else "markdown" if as_markdown else None


def _training(network: Any, input_shape: Any, dtype: str, depth: int | None, train: bool,
              optimizer: str | None) -> tuple[Any, Any]:
    """``--train``: the summary and the memory of one training step (needs an input shape);
    ``(None, None)`` without it."""
    from ..network.training import OPTIMIZER_STATES
    from ..shapes import parse_choice

    if not train:
        if optimizer is not None:
            raise ConvcalcError(f"--optimizer {optimizer} needs --train (the training-memory estimate)")
        return None, None

    name = parse_choice(optimizer or "adam", "--optimizer", tuple(OPTIMIZER_STATES))
    summary, memory = network.training_memory(input_shape, dtype, depth, name)
    if memory.peak_bytes is None:
        raise ConvcalcError("--train needs an input shape: give --input SHAPE or an input line in the spec")
    return summary, memory


def load_network(spec_file: str | None, recipes: list[str] | None, strict: bool, module: str | None) -> Any:
    """The network of the spec, with the user's recipes (each file's, in order), strictness and
    submodule applied."""
    from ..network.model import parse_network

    network = parse_network(_read_spec(spec_file))
    for path in recipes or ():
        network.with_recipes(_read_text(path, "--recipes"), path)
    network.strict = strict
    return network.module(module) if module is not None else network


def _emit_summary(summary: Any, stats: dict[str, Any] | None, output_data: Any, form: str | None,
                  training: Any = None, wide: bool = False, units: str = "both") -> None:
    """The summary on stdout as JSON, CSV, Markdown, a Rich table (terminal: fitted to its width
    unless ``wide``) or plain text (pipe); with ``training`` (--train), its column and totals too."""
    if form == "json":
        data = summary.to_json()
        if stats is not None:
            for row, row_data in zip(summary.rows, data["layers"]):
                found = stats.get(row.key)
                row_data["stats"] = None if found is None else found._asdict()
            data["output"] = output_data
        if training is not None:
            for kept, row_data in zip(training.kept, data["layers"]):
                row_data["kept_bytes"] = kept
            data["training"] = training.to_json()
        emit_json(data)
        return
    from ..render.tables import NO_EXTRAS, csv_text, markdown_text, plain_text

    extras = NO_EXTRAS
    if training is not None:
        from ..render.training import training_extras

        extras = training_extras(summary, training, units)
    if form in ("csv", "markdown"):
        emit_text(csv_text(summary, stats, extras) if form == "csv" else markdown_text(summary, stats, extras, units))
    elif sys.stdout.isatty():
        from ..render.report import render_network
        from .output import output_width

        emit_rich(render_network(summary, stats, extras, None if wide else output_width(), units), wide=wide,
                  whole=True)
    else:  # a pipe gets plain text, formatted without Rich: fast even for thousands of layers
        emit_text(plain_text(summary, stats, extras, units))


def _run_network(network: Any, input_shape: Any, depth: Any, dtype: str, options: dict[str, Any]) -> tuple:
    """``net --run``: run the forward pass (a progress bar on a terminal's stderr), save what was
    asked, and return the summary, per-layer statistics and the output as JSON data."""
    from ..kernels._common import allocation_limit
    from ..kernels.threads import use_threads
    from ..network.execute import run_spec
    from ..single.run import InputSource
    from ..tensors.arrays import array_stats, tensors_json
    from ..tensors.save import save_array

    settings = run_settings(options)
    shape = input_shape  # parsed, with --batch applied
    source = InputSource(shape, options["input_file"], options["key"], options["gray"], settings.fill,
                         settings.max_memory)
    kwargs = dict(weights=options["weights"], fill_weights=settings.fill_weights, seed=settings.seed,
                  dtype=dtype, max_memory=settings.max_memory, depth=depth)
    if sys.stderr.isatty():
        from rich.console import Console
        from rich.progress import Progress

        with Progress(console=Console(stderr=True), transient=True) as bar, allocation_limit(settings.max_memory), \
                use_threads(settings.threads):
            task = bar.add_task("forward pass", total=None)
            summary, result, warnings = run_spec(
                network, source, progress=lambda done, total: bar.update(task, completed=done, total=total), **kwargs)
    else:
        # the limit: the kernels' buffers that the estimate cannot see
        with allocation_limit(settings.max_memory), use_threads(settings.threads):
            summary, result, warnings = run_spec(network, source, **kwargs)
    for message in warnings:
        warn(message)
    if options["save"] is not None:
        to_npz = options["save"].lower().endswith(".npz")  # acts.NPZ too, as save_array reads it
        save_array(options["save"], result.activations if to_npz else result.output, force=options["force"])
    stats = {name: array_stats(array) for name, array in result.activations.items()}
    output_data = None
    if options.get("as_json"):
        tensors, notes = tensors_json([("output", result.output)])
        for message in notes:
            warn(message)
        output_data = tensors["output"]
    return summary, stats, output_data


def _read_text(path: str, what: str) -> str:
    from ..errors import FileError

    try:
        data = _read_file(path)
    except OSError as exc:
        raise FileError(f"{what} {path}: cannot read it: {exc.strerror or exc}") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise FileError(f"{what} {path}: not UTF-8 text") from None


# Read at most this much: the parser refuses specs over its own limit with a clear message.
_SPEC_READ_LIMIT = 4 * 10_000_000 + 1


def _read_spec(path: str | None) -> bytes:
    from ..errors import FileError

    if path in (None, "-"):
        if sys.stdin is None:  # started with stdin closed (<&-)
            raise ConvcalcError("standard input is closed, so there is no network spec to read; give a FILE")
        if path is None and sys.stdin.isatty():
            raise ConvcalcError("no network spec: give a FILE, or pipe one in (convcalc net < model.txt)")
        return _read_stdin()
    try:
        return _read_file(path)
    except OSError as exc:
        raise FileError(f"cannot read {path}: {exc.strerror or exc}") from None


def _read_file(path: str) -> bytes:
    """At most _SPEC_READ_LIMIT bytes of ``path``; a FIFO or pipe without bytes for a while, or
    a device without end, is refused rather than waited on (convcalc.sources)."""
    from ..sources import is_regular, read_special

    if not is_regular(path) and os.path.exists(path) and not os.path.isdir(path):
        return read_special(path, _SPEC_READ_LIMIT)
    with open(path, "rb") as handle:
        return handle.read(_SPEC_READ_LIMIT)


def _read_stdin() -> bytes:
    from ..sources import read_special

    try:
        descriptor = sys.stdin.fileno()
        regular = stat.S_ISREG(os.fstat(descriptor).st_mode)
    except (OSError, ValueError, AttributeError):  # a stand-in stream (tests): read it as it is
        return sys.stdin.buffer.read(_SPEC_READ_LIMIT)
    if regular:  # < model.txt
        return sys.stdin.buffer.read(_SPEC_READ_LIMIT)
    return read_special("standard input", _SPEC_READ_LIMIT, fd=descriptor)
