"""Network specs: text in any of four forms, read into a tree of modules.

The forms, which may be mixed line by line:

- the command-line form, one layer per statement: ``conv2d --out 64 -k 7 -s 2 -p 3 --no-bias``
  (options as the single-layer commands take them, ``name=value`` and positional values too;
  channel and feature counts are inferred from the incoming shape);
- the PyTorch form: ``Conv2d(3, 64, kernel_size=7, stride=2, padding=3, bias=False)``, with or
  without ``nn.``/``torch.nn.``; read with :mod:`ast`, literal values only, never evaluated;
- the text ``print(model)`` prints: ``Name(`` opens a module whose children follow as
  ``(name): Layer(...)`` lines up to the matching ``)``; ``(0-2): 3 x Linear(...)`` (torch's way
  of printing repeated modules) is expanded; a module of a class that is not a torch.nn layer
  keeps what it prints besides its children (``ModuleNode.args``) for the network to read;
  keywords torch prints that are not constructor arguments
  (``UpsamplingNearest2d(..., mode='nearest')``) are accepted (a value other than the printed
  one is ignored with a note), and any other unknown keyword is an error, as in torch;
- JSON (see :func:`convcalc.spec.json_form.parse_json_spec` for the schema).

Recipe classes (``class Block:`` with a ``def forward(self, x):``, see :mod:`convcalc.recipes`)
may open a text spec; they are kept in ``ParsedSpec.recipes``.

Statements are separated by newlines or ``;``. ``#`` starts a comment. ``input 1x3x224x224``
sets the input shape. Any statement may be named with a ``(name):`` prefix, as print(model)
names them; unnamed ones are numbered by position, as in ``nn.Sequential``.

Blocks, for the command-line form::

    sequential { ... }                  # a nested nn.Sequential
    repeat 3 { ... }                    # nn.Sequential of 3 copies of the body
    residual { ... }                    # x + body(x)
    residual { ... } shortcut { ... }   # body(x) + shortcut(x)
    residual { ... } shortcut downsample { ... }   # the same, its branch named "downsample"

The result is a tree of :class:`ModuleNode` (containers) and :class:`LayerNode` (layers, their
arguments parsed and, when nothing needs inferring, the layer already built); how a container
runs (sequentially, as a residual block) is decided by :mod:`convcalc.network`.

Every problem is a :class:`~convcalc.errors.ConvcalcError`, located by line and column. Sizes
and depths are bounded (``MAX_*`` in :mod:`convcalc.spec.limits`) so that no input can exhaust memory, the stack or time.

One module per concern: ``limits`` (what text is accepted), ``lexer`` (statements and
brackets), ``line_form`` and ``call_form`` (one statement each way), ``statement`` (either form,
the public :func:`parse_statement`), ``structure`` (blocks and print(model) nesting),
``json_form`` and ``nodes`` (the tree).
"""

from __future__ import annotations

from ..errors import ParseError
from ..recipes import read_recipes, split_recipes
from .json_form import parse_json_spec
from .lexer import first_content
from .limits import as_text
from .nodes import LayerNode, ModuleNode, ParsedSpec, Source, check_size
from .statement import parse_statement
from .structure import TextReader

__all__ = ["LayerNode", "ModuleNode", "ParsedSpec", "Source", "parse_spec", "parse_statement"]


def parse_spec(text: str | bytes) -> ParsedSpec:
    """Read a network spec in any of the forms; raise ParseError (with line/column) otherwise.

    >>> spec = parse_spec("input 1x3x32x32\\nconv2d --out 8 -k 3\\nnn.Identity()")
    >>> spec.input_shape, [name for name, _ in spec.root.children]
    ((1, 3, 32, 32), ['0', '1'])
    """
    text = as_text(text)
    start = first_content(text)
    if start is None:
        raise ParseError(
            "the spec is empty: write one layer per line, e.g. `conv2d --out 16 -k 3`, "
            "`Conv2d(3, 16, 3)` or the text print(model) prints"
        )
    if text[start] in "[{":
        spec = parse_json_spec(text)
    else:
        text, recipes = split_recipes(text)
        if first_content(text) is None:
            raise ParseError("the spec holds recipes but no network: add the network's text after them")
        spec = TextReader(text).parse()
        if recipes:
            spec.recipes = read_recipes(recipes, "the spec")  # refuses a recipe that is not valid, at its line
    check_size(spec.root)
    return spec
