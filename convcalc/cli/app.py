"""The ``convcalc`` command: parse options, call the core, render, map errors to exit codes.

Layer commands are generated from the registry and built only when invoked: Typer would
otherwise build ~150 commands on every start (measured: a 100-command app starts 1.36× slower
than a one-command app). ``convcalc --help`` and completion list names without building them.
"""

from __future__ import annotations

import errno
import os
import sys
import warnings
from typing import Annotated, Any, Optional

import typer
from typer.core import TyperGroup

from .. import __version__
from ..errors import ConvcalcError
from ..registry import layer_classes, lookup, suggestion
from .help import ReadableCommand, ReadableHelp
from .layer import DrawingCommand, LayerOptionsCommand, layer_command
from .net import net_command
from .options import PASS_THROUGH
from .output import bound_widths, emit_json, emit_rich, error, one_line, plain_streams, warn

_built: dict[str, Any] = {}

EXIT_OK, EXIT_FAILURE, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130

# Commands whose modules load only when invoked: (module, function, command class).
_LAZY_COMMANDS = {
    "explain": ("convcalc.cli.explain", "explain_command", LayerOptionsCommand),
    "solve": ("convcalc.cli.teach", "solve_command", ReadableCommand),
    "show": ("convcalc.cli.teach", "show_command", DrawingCommand),
    "diff": ("convcalc.cli.diff", "diff_command", ReadableCommand),
}


class LayerGroup(ReadableHelp, TyperGroup):
    """The top-level group: static commands plus one lazily built command per layer."""

    def list_commands(self, ctx: Any) -> list[str]:
        return [*self.commands, *_LAZY_COMMANDS, *layer_classes()]

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        if cmd_name in self.commands:
            return self.commands[cmd_name]
        if cmd_name in _LAZY_COMMANDS:
            return _lazy_command(cmd_name)
        try:  # conv2d, an alias, or torch's class name in any case: Conv2d, nn.Conv2d
            return layer_command(lookup(cmd_name).cli_name())
        except ConvcalcError:
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


@app.command("layers", cls=ReadableCommand)
def layers_command(
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """List every layer command, its torch.nn class and family."""
    rows = [
        (name, list(cls.aliases), f"nn.{cls.__name__}", cls.family, cls.summary())
        for name, cls in layer_classes().items()
    ]
    if as_json:  # the aliases a list, as any consumer would split them
        emit_json([dict(zip(("command", "aliases", "class", "family", "summary"), row)) for row in rows])
        return
    from ..render.report import render_layer_list
    from .layer import FAMILY_PANELS

    emit_rich(render_layer_list([(row[0], ", ".join(row[1]), row[2], FAMILY_PANELS.get(row[3], row[3]), row[4])
                                 for row in rows]))


app.command("net", cls=ReadableCommand)(net_command)


def _lazy_command(name: str) -> Any:
    if name not in _built:
        import importlib

        module, function, command_class = _LAZY_COMMANDS[name]
        builder = typer.Typer(add_completion=False)
        context = PASS_THROUGH if issubclass(command_class, LayerOptionsCommand) else None
        builder.command(name=name, context_settings=context, cls=command_class)(
            getattr(importlib.import_module(module), function)
        )
        _built[name] = typer.main.get_command(builder)
        _built[name].name = name
    return _built[name]


def main(argv: list[str] | None = None) -> int:
    """Console-script entry point; returns the exit code."""
    bound_widths()
    if sys.stdout is None:  # started with stdout closed (>&-): the answer could go nowhere
        error("standard output is closed, so the answer would be lost; send it to a file or to /dev/null")
        return EXIT_USAGE
    try:
        with warnings.catch_warnings():  # a warning from a library is one clean line, not source code
            warnings.showwarning = _one_line_warning
            result = app(args=argv, prog_name="convcalc", standalone_mode=False)
        sys.stdout.flush()  # a full disk or a lost reader shows here, not at interpreter exit
    except ConvcalcError as exc:
        error(one_line(str(exc)))
        return EXIT_USAGE
    except Stopped as exc:  # SIGINT or SIGTERM (run() turns them into Stopped); a save cleaned up
        error(exc.word)
        return exc.code
    except typer.Abort:
        error("interrupted")
        return EXIT_INTERRUPTED
    except typer.TyperException as exc:  # Click's usage errors: unknown option, bad value, ...
        error(one_line(_usage_message(exc)))
        return getattr(exc, "exit_code", EXIT_USAGE)
    except OSError as exc:
        if exc.filename is not None:  # a file the core should have reported as a FileError: ours
            return _internal_error(exc)
        _drop_unwritten_output()
        if exc.errno == errno.EPIPE:  # the reader went away (| head): not an error of ours
            return EXIT_OK
        # Writing the answer failed (a full disk, a closed descriptor): the environment's doing.
        error(f"cannot write the output: {exc.strerror or exc}")
        return EXIT_USAGE
    except Exception as exc:  # a bug of ours, not bad input: say so in one line
        return _internal_error(exc)
    if os.environ.get("_CONVCALC_COMPLETE"):
        return EXIT_OK
    if result == EXIT_INTERRUPTED:  # Typer's answer to a KeyboardInterrupt, which it swallows silently
        error("interrupted")
    return result if isinstance(result, int) else EXIT_OK


def _usage_message(exc: Any) -> str:
    """Click's usage error in the words convcalc's own option errors use (a layer command's
    ``conv2d has no option --jsno; did you mean --json?``), naming the command."""
    ctx = getattr(exc, "ctx", None)
    nested = ctx is not None and ctx.parent is not None  # a command's, not convcalc's own
    command = ctx.info_name if nested else "convcalc"
    help_line = f"`convcalc {command} --help`" if nested else "`convcalc --help`"
    option, close = getattr(exc, "option_name", None), getattr(exc, "possibilities", None)
    if option is not None and close is not None:  # an option the command does not have
        suggestion = "; did you mean " + " or ".join(close) + "?" if close else f"; {help_line} lists them"
        return f"{command} has no option {option}{suggestion}"
    message = exc.format_message()
    for start in ("Got unexpected extra arguments (", "Got unexpected extra argument (",
                  "Got unexpected extra argument(s) ("):
        if message.startswith(start) and message.endswith(")"):
            extra = message[len(start):-1]
            return f"{command} takes no more arguments, got {extra}: its settings are options ({help_line})"
    return message


def _one_line_warning(message: Any, category: Any, *args: Any, **kwargs: Any) -> None:
    warn(f"{message}")


def _internal_error(exc: Exception) -> int:
    if os.environ.get("CONVCALC_DEBUG"):
        raise exc
    error(f"internal error ({type(exc).__name__}: {exc}); please report it. "
          "CONVCALC_DEBUG=1 shows the traceback")
    return EXIT_FAILURE


def _drop_unwritten_output() -> None:
    """Point stdout at /dev/null once writing to it failed, so that the interpreter's last flush
    of what is still buffered does not fail again and print its own message."""
    try:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass


class Stopped(BaseException):
    """SIGINT (Ctrl-C) or SIGTERM arrived: unwinds like KeyboardInterrupt, which Typer would
    swallow, so that a save in progress removes its temporary file on the way out."""

    def __init__(self, signum: int) -> None:
        import signal

        super().__init__(signum)
        self.word = "interrupted" if signum == signal.SIGINT else "terminated"
        self.code = 128 + signum


def _stop(signum: int, frame: Any) -> None:
    import signal

    for number in (signal.SIGINT, signal.SIGTERM):  # a second signal must not cut the cleanup short
        signal.signal(number, signal.SIG_IGN)
    raise Stopped(signum)


def _plug_standard_descriptors() -> None:
    """Put /dev/null on a closed stdin, stdout or stderr descriptor, so that no file convcalc
    opens (a save's temporary file) can land on 0, 1 or 2 and take writes meant for them.
    Python has already set the matching sys.stdin/stdout/stderr to None, which main() reads."""
    for descriptor in (0, 1, 2):
        try:
            os.fstat(descriptor)
        except OSError:
            try:
                os.open(os.devnull, os.O_RDWR)  # the lowest free descriptor: this one
            except OSError:
                return


def run() -> None:  # pragma: no cover - exercised through the console script
    import gc
    import signal

    # A short-lived process that builds many small objects: the cyclic collector only costs time.
    gc.disable()
    if hasattr(signal, "SIGPIPE"):  # `convcalc ... | head`: end quietly when the reader leaves, as Unix tools do
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    for number in (signal.SIGINT, signal.SIGTERM):
        if signal.getsignal(number) is not signal.SIG_IGN:  # nohup and `cmd &` ignore them: keep that
            signal.signal(number, _stop)
    _plug_standard_descriptors()
    plain_streams()
    sys.exit(main())
