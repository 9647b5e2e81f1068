"""The layer commands (``convcalc conv2d ...``), one per registered layer, built when invoked.

Each command's options come from the layer's constructor signature (its argument specs); the
values are parsed by those specs and the layer is built by the one builder,
:func:`convcalc.layers.build.build_layer`.
"""

from __future__ import annotations

import inspect
from typing import Any, Callable, NamedTuple

import typer

from ..errors import ConvcalcError, ShapeError
from ..layers.base import INFERABLE, Layer
from ..layers.build import given_twice, no_option, option_word
from ..registry import aliases, layer_classes
from .help import HelpPanel, ReadableCommand
from .words import Spelling, flag_spelling, spellings
from .options import (
    COMMON_DEFAULTS, COMMON_OPTIONS, RUN_DEFAULTS, RUN_OPTIONS, markup_safe, option_for, refuse_lone_options, run_settings,
    wants_run,
)
from .output import emit_json, emit_rich, warn


FAMILY_PANELS = {
    "conv": "Convolutions",
    "pooling": "Pooling and unpooling",
    "linear": "Linear and embedding",
    "norm": "Normalisation",
    "activation": "Activations",
    "dropout": "Dropout",
    "reshape": "Reshaping and padding",
    "resample": "Resampling",
    "attention": "Attention",
}


LAYER_PANEL, FORWARD_PANEL = "Layer", "Forward"

_built: dict[str, Any] = {}


class _LayerCommand(ReadableCommand):
    """A layer's command, reading its option words as a spec line, ``explain`` and ``show`` do:
    every spelling the line form takes (``-k3``, ``--kernel_size 3``, ``--bias=false``), an
    argument given twice refused rather than the last one winning, and the same message for an
    unknown option. Click parses the rest."""

    layer: type[Layer]

    def required_names(self, ctx: Any) -> frozenset[str]:
        """The layer's required arguments but those inferred from --input (their text says so)."""
        return frozenset(spec.name for spec in self.layer.arg_specs() if spec.required) - INFERABLE

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        if ctx.resilient_parsing:  # shell completion: whatever is typed so far, unchecked
            return super().parse_args(ctx, args)
        words = self._read_layer_words(args)
        try:
            return super().parse_args(ctx, words)
        except typer.TyperException as exc:
            if not hasattr(exc, "possibilities"):  # Click's NoSuchOption, found by what it carries
                raise
            name = getattr(exc, "option_name", "")
            known = [*ctx.help_option_names,
                     *(spelling for param in self.params for spelling in (*param.opts, *param.secondary_opts))]
            raise ConvcalcError(no_option(self.layer, name, known)) from None

    def _read_layer_words(self, args: list[str]) -> list[str]:
        """The words with the layer's options in their own spelling; an argument or option value
        given twice is refused. The values of the command's other options pass through unread."""
        others = {
            spelling: (param.name, not getattr(param, "is_flag", True))
            for param in self.params
            for spelling in (*getattr(param, "opts", ()), *getattr(param, "secondary_opts", ()))
        }
        given: set[str] = set()
        words = []
        value_next = False
        for word in args:
            if value_next:
                words.append(word)
                value_next = False
                continue
            found = option_word(self.layer, word)
            flag, eq, _ = word.partition("=")
            if found is None:
                name, takes_value = others.get(flag, (None, False))
                if takes_value:  # a repeated flag (--json --json) changes nothing; a value would
                    _once(name, flag, given)
                    value_next = not eq
                words.append(word)
                continue
            spec, attached = found.spec, found.attached
            _once(spec.name, spec.name, given)
            if spec.is_flag:  # --bias, --no-bias, --bias=false
                words.append(spec.spellings[0] if attached is None or spec.parse(attached) else spec.spellings[-1])
            else:  # -k3, --kernel_size 3, --kernel-size=3: the option's own spelling, for Click
                words.append(spec.flags[0] if attached is None else f"{spec.flags[0]}={attached}")
                value_next = attached is None
        return words


def _once(name: str, said: str, given: set[str]) -> None:
    if name in given:
        raise ConvcalcError(given_twice(said))
    given.add(name)


class LayerOptionsCommand(ReadableCommand):
    """``explain`` and ``show``: the layer's own options follow its name and reach the command
    unparsed (``ctx.args``). Their help (``explain conv2d --help``) lists them after the
    command's own; <TAB> offers them, and their choices, from the layer's argument specs, as
    the layer's own command does; a layer's flag followed by a separate true/false is refused
    as the command's own flags are."""

    # Arguments the command fills in itself, so not marked required in the layer's help.
    layer_defaults: frozenset[str] = frozenset()

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        layer = self._named_layer(args)
        if layer is not None:
            ctx.meta[_HELP_LAYER] = layer
        return super().parse_args(ctx, args)

    def _named_layer(self, args: list[str]) -> type[Layer] | None:
        """The layer the words name: the first word that is not an option or an option's value."""
        from ..registry import lookup

        own = spellings(self.params)
        value_next = False
        for word in args:
            if value_next or word.startswith("-"):
                spelling = own.get(word) or own.get(word.replace("_", "-"))
                value_next = not value_next and spelling is not None and spelling.takes_value
                continue
            try:
                return lookup(word)
            except ConvcalcError:
                return None
        return None

    def spelling_table(self, args: list[str]) -> dict[str, Spelling]:
        table = super().spelling_table(args)
        layer = self._named_layer(args)
        for spec in layer.arg_specs() if layer is not None else ():
            if spec.is_flag:
                table = {**flag_spelling(spec.flags[0], spec.spellings[-1]), **table}
        return table

    def help_panels(self, ctx: Any) -> list[HelpPanel]:
        panels = super().help_panels(ctx)
        layer = ctx.meta.get(_HELP_LAYER)
        if layer is None:
            return panels
        command = layer_command(layer.cli_name())
        required = command.required_names(ctx) - self.layer_defaults
        titles = {LAYER_PANEL: f"{layer.__name__} options, after the layer name",
                  FORWARD_PANEL: f"{layer.__name__} forward options"}
        return panels + [
            HelpPanel(titles[title], params, required)
            for title in (LAYER_PANEL, FORWARD_PANEL)
            if (params := [param for param in command.params if getattr(param, "rich_help_panel", None) == title])
        ]

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
        words = [flag for spec in specs for flag in spec.spellings]
        return items + [CompletionItem(flag) for flag in words if flag.startswith(incomplete)]


class DrawingCommand(LayerOptionsCommand):
    """``show``, which draws one output channel unless told otherwise."""

    layer_defaults = frozenset({"out_channels"})


_HELP_LAYER = "convcalc.help_layer"  # ctx.meta key: the layer named before --help


def layer_command(name: str) -> Any:
    """The command of the layer registered as ``name``."""
    if name not in _built:
        cls = layer_classes()[name]
        builder = typer.Typer(add_completion=False)
        builder.command(
            name=name,
            help=markup_safe(_layer_help(cls)),
            short_help=markup_safe(cls.summary()),
            rich_help_panel=FAMILY_PANELS.get(cls.family, "Layers"),
            cls=type("LayerCommand", (_LayerCommand,), {"layer": cls}),
        )(_layer_function(cls))
        command = typer.main.get_command(builder)
        command.name = name
        _built[name] = command
    return _built[name]


def _layer_help(cls: type[Layer]) -> str:
    return f"{cls.summary()}\n\n{cls.signature_text()}"


def _layer_function(cls: type[Layer]) -> Callable[..., None]:
    """A function whose signature Typer turns into the layer's command."""
    params = []
    for spec in cls.arg_specs():
        annotation = option_for(spec, spec.flags, LAYER_PANEL)
        params.append(inspect.Parameter(spec.name, inspect.Parameter.KEYWORD_ONLY, default=None, annotation=annotation))
    forward_specs = cls.forward_arg_specs()
    for spec in forward_specs:
        annotation = option_for(spec, spec.flags, FORWARD_PANEL)
        params.append(inspect.Parameter(f"forward_{spec.name}", inspect.Parameter.KEYWORD_ONLY, annotation=annotation,
                                        default=None))
    for options, defaults in ((COMMON_OPTIONS, COMMON_DEFAULTS), (RUN_OPTIONS, RUN_DEFAULTS)):
        for name, annotation in options.items():
            params.append(
                inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=defaults[name], annotation=annotation)
            )

    def run(**values: Any) -> None:
        from ..layers.build import build_layer
        from ..shapes import parse_shape
        from ..single.report import layer_report

        input_text, as_json, dtype = values.pop("input_shape"), values.pop("as_json"), values.pop("dtype")
        numbers = _Numbers.read(values, input_text)
        forward_kwargs = {spec.name: spec.parse(text) for spec in forward_specs
                          if (text := values.pop(f"forward_{spec.name}")) is not None}
        run_options = {name: values.pop(name) for name in RUN_OPTIONS}
        refuse_lone_options(run_options, wants_run(run_options))
        input_shape = parse_shape(input_text) if input_text is not None else None
        if forward_kwargs and input_shape is None and not run_options["input_file"]:
            raise ConvcalcError(f"{', '.join('--' + k.replace('_', '-') for k in forward_kwargs)} needs --input SHAPE")
        known_shape = input_shape
        if input_shape is None and run_options["input_file"] and wants_run(run_options):
            known_shape, preloaded = _read_input_file(run_options, dtype, cls.integer_input)  # channel counts come from it
            try:
                layer = build_layer(cls, cls.parse_options(values), known_shape)
                _run_layer(layer, input_shape, dtype, forward_kwargs, as_json, run_options, preloaded, numbers)
            except ShapeError as exc:  # the input does not fit the layer
                raise _table_hint(exc, run_options["input_file"], known_shape) from None
            return
        layer = build_layer(cls, cls.parse_options(values), known_shape)
        input_shape = numbers.batched(layer, input_shape)
        if wants_run(run_options):
            _run_layer(layer, input_shape, dtype, forward_kwargs, as_json, run_options, numbers=numbers)
            return
        report = numbers.counted(layer_report(layer, input_shape, dtype, forward_kwargs))
        if as_json:
            emit_json({**report.to_json(), "count": numbers.count})
            return
        from ..render.report import render_layer

        emit_rich(render_layer(report, numbers.units, numbers.count))

    run.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    run.__annotations__ = {p.name: p.annotation for p in params}
    run.__name__ = cls.cli_name()
    return run


class _Numbers(NamedTuple):
    """``--batch``, ``--units`` and ``--count``, read and checked."""

    batch: int | None
    units: str
    count: str

    @classmethod
    def read(cls, values: dict[str, Any], input_text: str | None) -> "_Numbers":
        from ..batch import parse_batch
        from ..network.counting import COUNTS
        from ..shapes import parse_choice
        from ..units import UNITS

        batch_text = values.pop("batch")
        if batch_text is not None and input_text is None:
            raise ConvcalcError("--batch sets the batch dim of --input; give --input SHAPE too")
        batch = None if batch_text is None else parse_batch(batch_text)
        return cls(batch, parse_choice(values.pop("units"), "--units", UNITS),
                   parse_choice(values.pop("count"), "--count", COUNTS))

    def batched(self, layer: Layer, shape: tuple[int, ...] | None) -> tuple[int, ...] | None:
        """``shape`` with the batch dim set to ``--batch``, as ``layer`` reads its input."""
        from ..batch import with_batch

        if self.batch is None or shape is None:
            return shape
        return with_batch(shape, self.batch, layer.batch_dim(shape), type(layer).__name__)

    def counted(self, report: Any) -> Any:
        """``report`` with its MACs in the ``--count`` convention."""
        from ..network.counting import layer_macs

        if self.count == "convcalc" or report.macs is None:
            return report
        return report._replace(macs=layer_macs(report.layer, report.input_shape, report.output_shape, report.macs,
                                               self.count, report.forward_kwargs))


def _table_hint(exc: ShapeError, path: str, shape: tuple[int, ...]) -> ShapeError:
    """``exc``, saying how a CSV/text file was read when no --input reshaped it."""
    if not path.lower().endswith((".csv", ".txt")):
        return exc
    table = "×".join(map(str, shape))
    return type(exc)(f"{exc} ({path} was read as a table of shape {table}: give --input SHAPE to reshape it)")


def _read_input_file(options: dict[str, Any], dtype: str, indices: bool) -> tuple[tuple[int, ...], tuple[Any, list[str]]]:
    """``--input-file``'s shape, and the array with its warnings for the run to reuse (int64
    row numbers where the layer takes ``indices``)."""
    from ..single.run import InputSource
    from ..tensors.arrays import float_dtype

    limit = run_settings(options).max_memory
    source = InputSource(None, options["input_file"], options["key"], options["gray"], "normal", limit)
    shape, array, warnings = source.shape_and_file(float_dtype(dtype), indices)
    return shape, (array, warnings)


def _run_layer(
    layer: Layer, input_shape: Any, dtype: str, forward_kwargs: dict[str, Any], as_json: bool,
    options: dict[str, Any], preloaded: tuple[Any, list[str]] | None = None, numbers: _Numbers | None = None,
) -> None:
    """``--run``: the forward pass on random or file input, shown with the layer's panel."""
    from ..single.report import layer_report
    from ..single.run import run_layer
    from ..tensors.arrays import tensors_json
    from ..tensors.save import save_array

    from ..kernels.threads import use_threads

    settings = run_settings(options)
    with use_threads(settings.threads):
        result = run_layer(
            layer, input_shape, input_file=options["input_file"], key=options["key"], gray=options["gray"],
            weights=options["weights"], fill=settings.fill, fill_weights=settings.fill_weights,
            seed=settings.seed, dtype=dtype, max_memory=settings.max_memory, forward_kwargs=forward_kwargs,
            preloaded=preloaded, show="json" if as_json else "render",
        )
    for message in result.warnings:
        warn(message)
    if options["save"] is not None:
        output = result.output[0] if isinstance(result.output, tuple) else result.output
        save_array(options["save"], output, force=options["force"])
    numbers = numbers or _Numbers(None, "both", "convcalc")
    report = numbers.counted(layer_report(layer, tuple(result.input.shape), dtype, forward_kwargs))
    if as_json:
        tensors, notes = tensors_json(result.named_tensors())
        for message in notes:
            warn(message)
        emit_json({**report.to_json(), "count": numbers.count, "tensors": tensors})
        return
    from rich.console import Group

    from ..render.report import render_layer
    from ..render.tensor import render_tensors

    views = render_tensors(result.named_tensors(), precision=settings.precision,
                           mode="heatmap" if options["heatmap"] else "grid")
    emit_rich(Group(render_layer(report, numbers.units, numbers.count), views))
