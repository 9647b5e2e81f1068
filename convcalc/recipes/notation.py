"""The recipe notation: what a module class's ``forward`` does, written as the class itself in a
small, checked subset of Python, and read with :mod:`ast` (never executed).

A recipe file holds classes::

    class SqueezeExcitation:
        def forward(self, input):
            scale = self.avgpool(input)
            scale = self.fc1(scale)
            scale = self.activation(scale)
            scale = self.fc2(scale)
            scale = self.scale_activation(scale)
            return scale * input

    class Conv3DSimple(nn.Conv3d):
        "A Conv3d subclass: its printed arguments are nn.Conv3d's."

    class CNBlock:
        def __init__(self):
            self.layer_scale = Parameter(self.block[0].out_channels, 1, 1)
            self.block[1] = lambda x: x.permute(0, 2, 3, 1)
            self.block[6] = lambda x: x.permute(0, 3, 1, 2)
        def forward(self, input):
            return self.stochastic_depth(self.layer_scale * self.block(input)) + input

- ``forward(self, ...)`` is the computation, over the printed children (``self.name``,
  ``self.block[0]``), tensor methods and ``torch``/``F`` functions (see
  :mod:`convcalc.network.interpret` for the list).
- ``__init__(self)`` declares what ``print(model)`` does not show: parameters the class holds
  itself (``Parameter(dims...)``, ``Buffer(dims...)``) and the forward of children that print no
  arguments (``self.block[1] = lambda x: ...``).
- A base ``nn.Layer`` says the class prints that torch.nn layer's arguments and holds its
  parameters; without a ``forward`` it runs as that layer. ``buffers = ("weight", "bias")``
  moves the named parameters to buffers (torchvision's FrozenBatchNorm2d).
- ``refuse = "why"`` marks a class convcalc knows it cannot run; asking for its shapes is an
  error that gives the reason (its parameters still count). ``hidden_parameters = "why"`` says
  the class holds parameters the text cannot size (the totals say they leave them out), and
  ``unused = ("aux1",)`` names children its forward does not run in eval mode (any other child
  with parameters that a forward leaves unused is an error: the class is not the one the
  recipe is for).
- ``children = "numbered"`` (an nn.Sequential subclass built from a list) or ``children =
  ("norm", "conv")`` (the names it gives them) says which children the class has: a printed
  module of that class name with other children is someone else's class, not this recipe's.
- ``model = True`` marks a whole model's class (torchvision's ``ResNet``): inside a printed model
  of such a class, the blocks of its library are taken to be that library's; outside one, a block
  class of the built-in recipes is read as the library's by its name and children alone, which is
  named as an assumption (a ``BasicBlock`` of one's own may have no residual add).
- A base that is another recipe's class inherits what this class does not define.
"""

from __future__ import annotations

import ast
import functools
import warnings
from dataclasses import dataclass, field

from ..errors import ParseError

# The statement and expression kinds a recipe may use; anything else is refused when read.
_ALLOWED = (
    ast.Module, ast.ClassDef, ast.FunctionDef, ast.arguments, ast.arg, ast.Return, ast.Assign,
    ast.AugAssign, ast.If, ast.For, ast.Expr, ast.Pass, ast.Raise, ast.Name, ast.Constant,
    ast.Attribute, ast.Subscript, ast.Slice, ast.Call, ast.keyword, ast.BinOp, ast.UnaryOp,
    ast.Compare, ast.BoolOp, ast.IfExp, ast.Tuple, ast.List, ast.Dict, ast.Lambda, ast.Load,
    ast.Store, ast.operator, ast.unaryop, ast.cmpop, ast.boolop, ast.Starred, ast.ListComp, ast.GeneratorExp,
    ast.comprehension,
)


MAX_RECIPE_LINES = 20_000
MAX_RECIPE_CHARACTERS = 1_000_000


@dataclass
class Recipe:
    """One class's recipe: its torch.nn base, declarations and forward, and where it was read."""

    name: str
    origin: str  # "built-in <file>" or the user's file
    line: int
    base: str | None = None  # a torch.nn layer name: the class prints that layer's arguments
    init: list[ast.stmt] = field(default_factory=list)
    forward: ast.FunctionDef | None = None
    methods: dict[str, ast.FunctionDef] = field(default_factory=dict)  # others its forward calls (self.encode)
    buffers: tuple[str, ...] = ()
    unused: tuple[str, ...] = ()  # children its forward never runs in eval mode (auxiliary heads)
    refuse: str | None = None
    hidden_parameters: str | None = None  # why the text cannot give all its parameters
    children: str | tuple[str, ...] | None = None  # "numbered", or the names its children may have
    model: bool = False  # a whole model's class (torchvision's ResNet): the blocks inside it are its library's
    doc: str = ""
    builtin: bool = False  # one of convcalc's own files, not the user's (whatever their file is called)

    def where(self) -> str:
        return f"{self.origin}, line {self.line}"

    def fits(self, names: list[str]) -> bool:
        """Whether children of these names can be this class's (``children``: "numbered" as
        nn.Sequential numbers them, or the names the class gives them; None: any). A built-in
        recipe that names its children in its code (``self.conv1``) fits only children of
        those names: ultralytics' ``Bottleneck(cv1, cv2)`` is not torchvision's.

        A module printed without children is not the class of a recipe that reads children of
        its own (timm's Attention is not ``Attention(dim=64, heads=8)``).

        >>> Recipe("MLP", "demo", 1, children="numbered").fits(["w1", "w2"])
        False
        """
        allowed = self.children if self.children is not None else self.names_read
        if allowed is None:
            return True
        if allowed == "numbered":
            return names == [str(i) for i in range(len(names))]
        if not names and self.base is None and set(allowed) - {"", *self.unused}:
            return False
        return set(names) <= set(allowed)

    @functools.cached_property
    def names_read(self) -> tuple[str, ...] | None:
        """The attributes a built-in recipe's code reads or declares (``self.<name>``) and its
        ``unused`` children; None for one that runs its children without naming them (``for
        layer in self``), has no forward, or is a user's (whose class is theirs to describe).

        >>> recipe = read_recipes("class B:\\n    def forward(self, x):\\n        return self.b(self.a(x))", "demo")["B"]
        >>> recipe.builtin = True
        >>> sorted(recipe.names_read)
        ['', 'a', 'b']
        """
        if self.forward is None or not self.builtin:
            return None
        names = {*self.unused, ""}  # "": a layer subclass's own layer, its super()
        for node in ast.walk(ast.Module(body=[*self.init, self.forward, *self.methods.values()], type_ignores=[])):
            if isinstance(node, ast.For) and isinstance(node.iter, ast.Name) and node.iter.id == "self":
                return None
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "self":
                names.add(node.attr)
        return tuple(names)


def read_recipes(text: str, origin: str) -> dict[str, Recipe]:
    """Parse a recipe file into {class name: recipe}; a ParseError names the line.

    >>> recipes = read_recipes("class Fire:\\n    def forward(self, x):\\n        return x\\n", "demo")
    >>> recipes["Fire"].forward.args.args[1].arg
    'x'
    """
    if len(text) > MAX_RECIPE_CHARACTERS or text.count("\n") > MAX_RECIPE_LINES:
        raise ParseError(
            f"{origin}: recipes are limited to {MAX_RECIPE_LINES:,} lines and {MAX_RECIPE_CHARACTERS:,} characters"
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tree = ast.parse(text)
    except SyntaxError as exc:
        raise ParseError(f"{origin}: recipe is not valid: {exc.msg}", line=exc.lineno, column=exc.offset) from None
    except (ValueError, RecursionError, MemoryError) as exc:
        raise ParseError(f"{origin}: recipe cannot be read: {exc}") from None
    for node in ast.walk(tree):
        if not isinstance(node, _ALLOWED):
            line = getattr(node, "lineno", None)
            raise ParseError(
                f"{origin}: {type(node).__name__} is not part of the recipe notation "
                "(classes with __init__ declarations and a forward of assignments, if, for, return)",
                line=line,
            )
    recipes: dict[str, Recipe] = {}
    for statement in tree.body:
        if isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Constant):
            continue  # the file's docstring
        if not isinstance(statement, ast.ClassDef):
            raise ParseError(f"{origin}: a recipe file holds only classes", line=statement.lineno)
        recipe = _recipe(statement, origin)
        recipes[recipe.name] = recipe
    return recipes


def _recipe(node: ast.ClassDef, origin: str) -> Recipe:
    recipe = Recipe(node.name, origin, node.lineno)
    if len(node.bases) > 1:
        raise ParseError(f"{origin}: class {node.name} has more than one base", line=node.lineno)
    if node.bases:
        base = _dotted(node.bases[0])
        short = base.rsplit(".", 1)[-1] if base else None
        if short is None:
            raise ParseError(f"{origin}: class {node.name}'s base is not a name", line=node.lineno)
        if short not in ("Module", "Sequential", "ModuleList", "ModuleDict"):
            recipe.base = short
    for statement in node.body:
        if isinstance(statement, ast.FunctionDef) and statement.decorator_list:
            raise ParseError(f"{origin}: class {node.name}: a decorated method ({statement.name}) is not part of the "
                             "recipe notation; write it as a plain method", line=statement.lineno)
        if isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Constant):
            recipe.doc = str(statement.value.value)
        elif isinstance(statement, ast.Pass):
            continue
        elif isinstance(statement, ast.FunctionDef) and statement.name == "forward":
            recipe.forward = statement
        elif isinstance(statement, ast.FunctionDef) and statement.name == "__init__":
            recipe.init = statement.body
        elif isinstance(statement, ast.FunctionDef) and not statement.name.startswith("__"):
            recipe.methods[statement.name] = statement  # a helper its forward calls: self.encode(x)
        elif isinstance(statement, ast.Assign) and len(statement.targets) == 1 and isinstance(statement.targets[0], ast.Name):
            _class_setting(recipe, statement.targets[0].id, statement.value, origin)
        else:
            raise ParseError(
                f"{origin}: class {node.name} may hold a docstring, __init__, forward and other methods it "
                "calls, and the settings buffers, unused, refuse, hidden_parameters, children and model",
                line=statement.lineno,
            )
    return recipe


def _class_setting(recipe: Recipe, name: str, value: ast.expr, origin: str) -> None:
    try:
        literal = ast.literal_eval(value)
    except ValueError:
        literal = None
    if name in ("buffers", "unused") and isinstance(literal, (tuple, list)) and all(isinstance(v, str) for v in literal):
        setattr(recipe, name, tuple(literal))
    elif name in ("refuse", "hidden_parameters") and isinstance(literal, str):
        setattr(recipe, name, literal)
    elif name == "model" and isinstance(literal, bool):
        recipe.model = literal
    elif name == "children" and (literal == "numbered" or (
            isinstance(literal, (tuple, list)) and all(isinstance(v, str) for v in literal))):
        recipe.children = literal if isinstance(literal, str) else tuple(literal)
    else:
        raise ParseError(
            f"{origin}: class {recipe.name}: unknown setting {name} (buffers = ('weight', ...), "
            "unused = ('aux1', ...), refuse = 'why', hidden_parameters = 'why', children = 'numbered' "
            "or ('name', ...), or model = True)",
            line=value.lineno,
        )


def _dotted(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        inner = _dotted(node.value)
        return None if inner is None else f"{inner}.{node.attr}"
    return None
