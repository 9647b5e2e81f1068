"""Help screens that read at any terminal width, built on Typer's Rich help.

Typer lays an option panel out as one table whose columns size themselves: at 80 columns two
long spellings joined by a comma (``--out-channels,--out``) were cut with an ellipsis and a type
folded mid-word (``vali`` / ``d``). :class:`ReadableHelp` is the ``format_help`` hook of every
convcalc command: Typer's usage line, command text, option texts (defaults, ``[required]``) and
command panels, with option tables whose names and types never wrap (only the description
does), the short spelling in a column of its own, a flag's negation under it, no ``<bool>``
placeholder for a flag, and a ``*`` on the options a command needs. Usage lines read ``[FILE]``
and ``LAYER`` rather than ``[[FILE]]`` and ``{LAYER}``. :class:`ReadableCommand` adds the one
reading of option words every command shares (:mod:`convcalc.cli.words`).
"""

from __future__ import annotations

import inspect
from collections import defaultdict
from types import SimpleNamespace
from typing import Any, NamedTuple

from typer.core import TyperArgument, TyperCommand, TyperGroup

from .words import Spelling, read_words, spellings

MARKUP = "rich"  # the markup mode of every convcalc command's help


class HelpPanel(NamedTuple):
    """One titled table of options; ``required`` names the parameters marked with ``*``."""

    title: str
    params: list[Any]
    required: frozenset[str]


class ReadableHelp:
    """Mixin for Typer's command and group classes: the help as the module docstring says."""

    def format_help(self, ctx: Any, formatter: Any) -> None:
        print_help(self, ctx)

    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        natural = {
            piece: usage_name(param)
            for param in self.get_params(ctx)  # type: ignore[attr-defined]
            if isinstance(param, TyperArgument)
            for piece in param.get_usage_pieces(ctx)
        }
        return [natural.get(piece, piece) for piece in super().collect_usage_pieces(ctx)]  # type: ignore[misc]

    def required_names(self, ctx: Any) -> frozenset[str]:
        """The parameters a user must give, marked ``*`` (Click's required ones by default)."""
        return frozenset(param.name for param in self.get_params(ctx) if param.required)  # type: ignore[attr-defined]

    def help_panels(self, ctx: Any) -> list[HelpPanel]:
        """The option panels, in the order the parameters come (Arguments and Options first)."""
        required = self.required_names(ctx)
        grouped: dict[str, list[Any]] = defaultdict(list)
        for title in ("Arguments", "Options"):
            grouped[title] = []
        for param in self.get_params(ctx):  # type: ignore[attr-defined]
            if not getattr(param, "hidden", False):
                default = "Arguments" if isinstance(param, TyperArgument) else "Options"
                grouped[getattr(param, "rich_help_panel", None) or default].append(param)
        return [HelpPanel(title, params, required) for title, params in grouped.items() if params]


class ReadableCommand(ReadableHelp, TyperCommand):
    """A convcalc command: readable help, and its option words read as :mod:`.words` says."""

    def spelling_table(self, args: list[str]) -> dict[str, Spelling]:
        """The option spellings :func:`~convcalc.cli.words.read_words` reads ``args`` with."""
        return spellings(self.params)

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        if not ctx.resilient_parsing:  # shell completion reads whatever is typed so far, unchecked
            args = read_words(args, self.spelling_table(args))
        return super().parse_args(ctx, args)


def usage_name(param: Any) -> str:
    """``FILE`` for a required argument, ``[FILE]`` for an optional one, ``...`` when repeated.

    >>> from types import SimpleNamespace as Param
    >>> usage_name(Param(metavar="[FILE]", name="spec", nargs=1, required=False)), usage_name(
    ...     Param(metavar=None, name="layer", nargs=1, required=True))
    ('[FILE]', 'LAYER')
    """
    name = (param.metavar or param.name.upper()).strip("[]{}")
    if param.nargs != 1:
        name += "..."
    return name if param.required else f"[{name}]"


def print_help(command: Any, ctx: Any) -> None:
    """The help of ``command``: usage, text, option panels, command panels, epilogue."""
    from rich.align import Align
    from rich.padding import Padding
    from typer import rich_utils as typer_rich

    console = typer_rich._get_rich_console()
    console.print(Padding(typer_rich.highlighter(command.get_usage(ctx)), 1), style=typer_rich.STYLE_USAGE_COMMAND)
    if command.help:
        prose = SimpleNamespace(help=joined_lines(command.help), deprecated=command.deprecated)
        text = typer_rich._get_help_text(obj=prose, markup_mode=MARKUP)
        console.print(Padding(Align(text, pad=False), (0, 1, 1, 1)))
    panels = command.help_panels(ctx)
    names = [_names(param) for panel in panels for param in panel.params]
    widths = Widths(
        any(param.name in panel.required for panel in panels for param in panel.params),
        max((cell_width(long) for long, _ in names), default=0),
        max((len(short) for _, short in names), default=0),
    )
    for panel in panels:
        console.print(options_panel(panel, ctx, widths))
    if isinstance(command, TyperGroup):
        _print_command_panels(command, ctx, console)
    if command.epilog:
        console.print(Padding(Align(typer_rich._make_rich_text(text=command.epilog, markup_mode=MARKUP), pad=False), 1))


class Widths(NamedTuple):
    """What every panel of one help screen shares, so that their columns line up."""

    marks: bool  # a column for the ``*`` of required options
    names: int
    short: int


def joined_lines(text: str) -> str:
    """Docstring paragraphs as one line each, so that the terminal wraps them rather than the
    source's line breaks (Typer's Rich mode keeps those after the first paragraph).

    >>> joined_lines("Summarise.\\n\\n    The spec may mix\\n    forms.")
    'Summarise.\\n\\nThe spec may mix forms.'
    """
    paragraphs = inspect.cleandoc(text).split("\n\n")
    return "\n\n".join(part if part.startswith("\b") else " ".join(part.split("\n")) for part in paragraphs)


def cell_width(text: str) -> int:
    """The widest line of ``text``.

    >>> cell_width("--bias\\n--no-bias")
    9
    """
    return max((len(line) for line in text.split("\n")), default=0)


def _names(param: Any) -> tuple[str, str]:
    """(long spellings, one per line, a flag's negation last; the short spelling or ``""``).

    The shortest spelling of an option with several (``-k``, ``--in``) gets the short column.
    """
    if isinstance(param, TyperArgument):
        return (param.metavar or param.name.upper()).strip("[]{}"), ""
    spellings = sorted(param.opts, key=len, reverse=True)
    short = spellings.pop() if len(spellings) > 1 else ""
    return "\n".join([*spellings, *param.secondary_opts]), short


def _value_name(param: Any, ctx: Any) -> str:
    """The value an option takes (``INT``, ``SHAPE``); nothing for a flag or an argument."""
    if isinstance(param, TyperArgument) or getattr(param, "is_flag", False):
        return ""
    shown = param.display_type_rich(ctx) or ""
    return shown[1:-1].upper() if shown.startswith("<") and shown.endswith(">") else shown


def options_panel(panel: HelpPanel, ctx: Any, widths: Widths) -> Any:
    """A panel of options whose names and value types never wrap; descriptions fill the rest."""
    from rich.panel import Panel
    from rich.table import Table
    from rich.text import Text
    from typer import rich_utils as typer_rich

    table = Table(show_header=False, expand=True, box=None, pad_edge=False, padding=(0, 1))
    if widths.marks:
        table.add_column(no_wrap=True, style=typer_rich.STYLE_REQUIRED_SHORT, min_width=1)
    table.add_column(no_wrap=True, min_width=widths.names)
    table.add_column(no_wrap=True, min_width=widths.short)
    table.add_column(no_wrap=True, style=typer_rich.STYLE_TYPES)
    table.add_column(ratio=1, overflow="fold")
    for param in panel.params:
        long, short = _names(param)
        required = param.name in panel.required
        names = typer_rich.highlighter(Text(long))
        if "\n" in long:  # a flag's negation on the second line, in Typer's colour for it
            names.stylize(typer_rich.STYLE_NEGATIVE_OPTION, len(long) - len(long.split("\n")[-1]))
        row = [names, typer_rich.highlighter(Text(short)), Text(_value_name(param, ctx)),
               _description(param, ctx, required)]
        table.add_row(*([typer_rich.REQUIRED_SHORT_STRING if required else ""] if widths.marks else []), *row)
    return Panel(table, border_style=typer_rich.STYLE_OPTIONS_PANEL_BORDER, title=panel.title,
                 title_align=typer_rich.ALIGN_OPTIONS_PANEL)


def _description(param: Any, ctx: Any, required: bool) -> Any:
    """Typer's text of an option (its help, default and ``[required]``), with a default written
    at the end of the help kept whole beside it rather than wrapped with the words."""
    from rich.text import Text
    from typer import rich_utils as typer_rich

    description = typer_rich._get_parameter_help(param=param, ctx=ctx, markup_mode=MARKUP)
    first = description.renderables[0] if description.renderables else None
    if isinstance(first, Text) and first.plain.endswith("]") and (at := first.plain.rfind("  [default: ")) > 0:
        description.renderables[0:1] = [first[:at], Text(first.plain[at + 2:], style=typer_rich.STYLE_OPTION_DEFAULT)]
    if required and not param.required:  # marked, but Click leaves the check to convcalc: say it here too
        description.renderables.append(Text(typer_rich.REQUIRED_LONG_STRING, style=typer_rich.STYLE_REQUIRED_LONG))
    return description


def _print_command_panels(group: Any, ctx: Any, console: Any) -> None:
    """A group's commands by panel, as Typer prints them."""
    from typer import rich_utils as typer_rich

    panels: dict[str, list[Any]] = defaultdict(list)
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        if command is not None and not command.hidden:
            panels[getattr(command, "rich_help_panel", None) or typer_rich.COMMANDS_PANEL_TITLE].append(command)
    longest = max((len(command.name or "") for commands in panels.values() for command in commands), default=0)
    for title, commands in panels.items():
        typer_rich._print_commands_panel(
            name=title, commands=commands, markup_mode=MARKUP, console=console, cmd_len=longest
        )
