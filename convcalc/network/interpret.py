"""Running a recipe (:mod:`convcalc.recipes.notation`) while tracing: the forward's statements are
interpreted over trace tensors, so every child call, tensor operation and functional call
becomes a step of the graph. Nothing is executed as Python: each name, attribute and call is
looked up in the small vocabulary below (a layer's attributes are its constructor arguments),
and anything else is an error naming the recipe line. Loops, numbers, sequences, nesting and the
statements of a whole trace are bounded.

The vocabulary:

- children: ``self.name``, ``self.block[0]``, ``self[i]``, ``for layer in self.layers``,
  ``len(self.convs)``, ``self.downsample is not None``, and calling them (a layer torch returns
  with its attention weights gives ``(output, None)``);
- tensors: ``+ - * / @``, ``x.shape``, ``x.size(d)``, ``x.dim()``, ``x[:, 0]``, ``permute``,
  ``transpose``, ``reshape``/``view``, ``flatten``, ``mean``, ``chunk``, ``split``, ``narrow``,
  ``expand``, ``contiguous``, ``unsqueeze``;
- functions: ``torch.cat``, ``torch.flatten``, ``torch.matmul``, ``torch.mean``,
  ``torch.sigmoid``, ``channel_shuffle(x, groups)``, and ``F.<name>`` for every functional form
  of a convcalc layer (``F.adaptive_avg_pool2d``, ``F.max_pool2d``, ``F.relu``,
  ``F.interpolate``, ...); plain ``len``, ``range``, ``list``, ``tuple``, ``dict``, ``str``,
  ``int``, ``min``, ``max``, ``zip``, ``enumerate``, ``isinstance(x, Tensor)``; and
  ``assume("...")``, which names an assumption the recipe makes, and ``note("...")``, a fact for
  the summary's notes (how the module's parameters were counted).
"""

from __future__ import annotations

import ast
import operator
from dataclasses import dataclass, field
from typing import Any, Callable

from ..errors import ConvcalcError, ParseError
from ..recipes.notation import Recipe
from .graph import Tensor
from .ops import index as tensor_index


_MAX_ITEMS = 10_000  # the longest list, tuple, string or range a recipe may build or loop over
# What a recipe's own mistakes raise in Python: each becomes a RecipeError naming the line.
_UNEXPECTED = (TypeError, ValueError, LookupError, ArithmeticError, AttributeError, RecursionError, MemoryError)


class RecipeError(ParseError):
    """A recipe that cannot be followed: names the recipe, its line and what went wrong."""


@dataclass
class ModuleRef:
    """A module as a recipe sees it: a child to call, index, iterate, or read attributes of.
    ``depth`` and ``scopes`` are those it runs at; for the module whose recipe runs (``self``),
    ``scopes`` are those its children run in."""

    node: Any
    path: str
    depth: int
    scopes: tuple


@dataclass
class Declared:
    """What recipes' ``__init__`` declared for one module: its own parameters and buffers, and
    settings (``self.num_heads = 12``). Forwards of children are the tracer's overrides."""

    params: dict[str, tuple[int, ...]] = field(default_factory=dict)
    buffers: dict[str, tuple[int, ...]] = field(default_factory=dict)
    attributes: dict[str, Any] = field(default_factory=dict)  # self.num_heads = 12


@dataclass
class Absent:
    """``self.<name>`` for a child the module does not have: ``is None`` (``self.downsample is
    not None``), and an error naming the module's children when called."""

    path: str
    type_name: str
    name: str
    children: list[str]
    selected: bool = False  # the module asked for with --module: its parent may declare the name

    def message(self) -> str:
        listed = ", ".join(self.children[:12]) or "none"
        if self.selected:
            return (f"{self.type_name} reads {self.name!r}, neither one of its children ({listed}) nor a parameter of its "
                    "own recipe: a parameter its parent's recipe declares (print(model) shows no parameters), which "
                    "it lacks when asked for on its own; ask for the module that holds it")
        return (f"no child {self.name!r} nor a printed argument of that name (its children: {listed}); a {self.type_name} "
                f"printed with other children is not the class this recipe is for: declare its forward in a recipe "
                "of your own, which replaces the built-in one")


class _Return(Exception):
    def __init__(self, value: Any) -> None:
        self.value = value


_BINARY: dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod, ast.MatMult: operator.matmul,
    ast.Pow: operator.pow, ast.BitOr: operator.or_,
}
_COMPARE: dict[type, Callable[[Any, Any], bool]] = {
    ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.Lt: operator.lt, ast.LtE: operator.le,
    ast.Gt: operator.gt, ast.GtE: operator.ge, ast.Is: operator.is_, ast.IsNot: operator.is_not,
    ast.In: lambda a, b: a in b, ast.NotIn: lambda a, b: a not in b,
}


class Interpreter:
    """One run of one recipe function over the tracer's tensors."""

    def __init__(self, tracer: Any, recipe: Recipe, module: ModuleRef | None, env: dict[str, Any]) -> None:
        self.tracer = tracer
        self.recipe = recipe
        self.module = module
        self.env = env

    # -- errors --

    def error(self, node: ast.AST, message: str) -> RecipeError:
        line = getattr(node, "lineno", None)
        where = f"{self.recipe.origin}, line {line}" if line else self.recipe.origin
        if "'Tensor'" in message and self.module is not None and not self.module.path and self.tracer.selected:
            # the module asked for (--module) is given the one tensor --input makes
            message = (f"its forward does not take the one tensor --input gives ({message}): it takes what its "
                       "parent's forward passes it; ask for the module that holds it")
        return RecipeError(f"recipe {self.recipe.name} ({where}): {message}")

    # -- statements --

    def run_body(self, body: list[ast.stmt]) -> None:
        for statement in body:
            self.tracer.statements_left -= 1
            if self.tracer.statements_left < 0:
                raise self.error(statement, "recipes ran a million statements (a loop that does not end?)")
            try:
                self.statement(statement)
            except ConvcalcError as exc:
                raise self.located(exc, statement) from None
            except _UNEXPECTED as exc:
                raise self.error(statement, f"{type(exc).__name__}: {exc}") from None

    def located(self, exc: ConvcalcError, node: ast.AST) -> ConvcalcError:
        """An operation's error (which no spec line locates) with the module and recipe line."""
        if isinstance(exc, RecipeError) or getattr(exc, "line", None) is not None or getattr(exc, "in_recipe", False):
            return exc
        module = self.module
        who = f"{module.path or 'the network'} ({module.node.type_name})" if module is not None else self.recipe.name
        located = type(exc)(f"{who}: {exc} (its recipe: {self.recipe.origin}, line {self.line(node)})")
        located.in_recipe = True  # type: ignore[attr-defined]
        return located

    def statement(self, node: ast.stmt) -> None:
        if isinstance(node, ast.Return):
            raise _Return(None if node.value is None else self.eval(node.value))
        if isinstance(node, ast.Assign):
            value = self.eval(node.value)
            for target in node.targets:
                self.assign(target, value)
        elif isinstance(node, ast.AugAssign):  # on a tensor, torch's in-place form: written over it
            value = self.binary(node, node.op, self.eval(node.target), self.eval(node.value), in_place=True)
            self.assign(node.target, value)
        elif isinstance(node, ast.If):
            self.run_body(node.body if self.truth(node.test) else node.orelse)
        elif isinstance(node, ast.For):
            for item in self.iterate(node.iter, self.eval(node.iter)):
                self.assign(node.target, item)
                self.run_body(node.body)
        elif isinstance(node, ast.Expr):
            self.eval(node.value)
        elif isinstance(node, ast.Raise):
            message = self.eval(node.exc.args[0]) if isinstance(node.exc, ast.Call) and node.exc.args else "unsupported"
            raise self.error(node, str(message))
        elif not isinstance(node, ast.Pass):
            raise self.error(node, f"{type(node).__name__} is not supported here")

    def truth(self, node: ast.expr) -> bool:
        value = self.eval(node)
        if isinstance(value, Tensor):
            raise self.error(node, "a tensor's values are not known while tracing; test shapes or children instead")
        return False if isinstance(value, Absent) else bool(value)

    def iterate(self, node: ast.AST, value: Any) -> list[Any]:
        if isinstance(value, ModuleRef):
            return [self.tracer.child_ref(value, name) for name, _ in getattr(value.node, "children", [])]
        if isinstance(value, (list, tuple, range)):
            if len(value) > _MAX_ITEMS:
                raise self.error(node, f"loops over {len(value)} items; a recipe may loop over at most {_MAX_ITEMS}")
            return list(value)
        if isinstance(value, dict):
            return list(value)
        if isinstance(value, (enumerate, zip)):  # over lists the recipe holds: bounded as they are
            return self.iterate(node, list(value))
        raise self.error(node, f"cannot loop over {_kind(value)}")

    def assign(self, target: ast.expr, value: Any) -> None:
        if isinstance(target, ast.Name):
            self.env[target.id] = value
        elif isinstance(target, (ast.Tuple, ast.List)):
            values = list(self.iterate(target, value))
            if len(values) != len(target.elts):
                raise self.error(target, f"unpacks {len(values)} values into {len(target.elts)} names")
            for element, item in zip(target.elts, values):
                self.assign(element, item)
        else:
            raise self.error(target, "only names can be assigned in a forward")

    # -- expressions --

    def eval(self, node: ast.expr) -> Any:
        method = getattr(self, f"eval_{type(node).__name__}", None)
        if method is None:
            raise self.error(node, f"{type(node).__name__} is not supported in an expression")
        try:
            return method(node)
        except (ConvcalcError, _Return):
            raise
        except _UNEXPECTED as exc:
            raise self.error(node, f"{type(exc).__name__}: {exc}") from None

    def line(self, node: ast.AST) -> int | None:
        return getattr(node, "lineno", None)

    def eval_Constant(self, node: ast.Constant) -> Any:
        return node.value

    def eval_Name(self, node: ast.Name) -> Any:
        if node.id in self.env:
            return self.env[node.id]
        if node.id == "super" and "self" in self.env:
            return lambda: self.tracer.child_ref(self.env["self"], "")
        value = self.tracer.vocabulary.get(node.id)
        if value is None:
            raise self.error(node, f"unknown name {node.id!r}")
        return value

    def eval_Tuple(self, node: ast.Tuple) -> tuple:
        return tuple(self.eval_elements(node.elts))

    def eval_List(self, node: ast.List) -> list:
        return self.eval_elements(node.elts)

    def eval_elements(self, elements: list[ast.expr]) -> list:
        values: list[Any] = []
        for element in elements:
            if isinstance(element, ast.Starred):
                values.extend(self.iterate(element, self.eval(element.value)))
            else:
                values.append(self.eval(element))
        return values

    def eval_ListComp(self, node: ast.ListComp) -> list:
        """``[conv(x) for conv in self.convs if ...]``: its names are its own, as in Python 3."""
        saved = dict(self.env)
        items: list[Any] = []
        try:
            self.comprehend(node.generators, lambda: items.append(self.eval(node.elt)))
        finally:  # the same dict, which a lambda made before may hold
            self.env.clear()
            self.env.update(saved)
        return items

    eval_GeneratorExp = eval_ListComp  # torch.cat(tuple(f(x) for f in ...)): a list serves as well

    def comprehend(self, generators: list[ast.comprehension], each: Callable[[], None]) -> None:
        first, rest = generators[0], generators[1:]
        for item in self.iterate(first.iter, self.eval(first.iter)):
            self.tracer.statements_left -= 1
            if self.tracer.statements_left < 0:
                raise self.error(first.iter, "recipes ran a million statements (a loop that does not end?)")
            self.assign(first.target, item)
            if all(self.truth(test) for test in first.ifs):
                self.comprehend(rest, each) if rest else each()

    def eval_Dict(self, node: ast.Dict) -> dict:
        return {self.eval(k): self.eval(v) for k, v in zip(node.keys, node.values) if k is not None}

    def eval_IfExp(self, node: ast.IfExp) -> Any:
        return self.eval(node.body) if self.truth(node.test) else self.eval(node.orelse)

    def eval_BoolOp(self, node: ast.BoolOp) -> Any:
        if isinstance(node.op, ast.And):
            return all(self.truth(value) for value in node.values)
        return any(self.truth(value) for value in node.values)

    def eval_UnaryOp(self, node: ast.UnaryOp) -> Any:
        value = self.eval(node.operand)
        if isinstance(node.op, ast.Not):
            return not self.truth(node.operand)
        if isinstance(node.op, ast.USub):
            return self.tracer.binary_op("mul", value, -1) if isinstance(value, Tensor) else -value
        if isinstance(node.op, ast.UAdd):
            return value
        raise self.error(node, "unsupported unary operator")

    def eval_Compare(self, node: ast.Compare) -> bool:
        left = self.eval(node.left)
        for op, right_node in zip(node.ops, node.comparators):
            right = self.eval(right_node)
            absent = left if isinstance(left, Absent) else right if isinstance(right, Absent) else None
            other = right if absent is left else left
            if absent is not None and not (isinstance(op, (ast.Is, ast.IsNot, ast.Eq, ast.NotEq))
                                           and _none_if_absent(other) is None):
                raise ParseError(absent.message())  # self.pool_type == "avg" is no test of a missing child
            left, right = _none_if_absent(left), _none_if_absent(right)
            if isinstance(left, Tensor) or isinstance(right, Tensor):
                if not isinstance(op, (ast.Is, ast.IsNot)):
                    raise self.error(node, "tensors' values are not known while tracing; compare shapes")
            if not _COMPARE[type(op)](left, right):
                return False
            left = right
        return True

    def eval_BinOp(self, node: ast.BinOp) -> Any:
        return self.binary(node, node.op, self.eval(node.left), self.eval(node.right))

    def binary(self, node: ast.AST, op: ast.operator, left: Any, right: Any, in_place: bool = False) -> Any:
        if isinstance(left, Tensor) or isinstance(right, Tensor):
            name = {ast.Add: "add", ast.Sub: "sub", ast.Mult: "mul", ast.Div: "div", ast.MatMult: "matmul"}.get(type(op))
            if name is None:
                raise self.error(node, f"{type(op).__name__} of tensors is not supported")
            # `a @= b` makes a new tensor in torch too (no in-place matmul)
            return self.tracer.binary_op(name, left, right, in_place=in_place and isinstance(left, Tensor) and name != "matmul")
        if isinstance(op, ast.Pow) and (not isinstance(right, (int, float)) or abs(right) > 64 or abs(left) > 2**64):
            raise self.error(node, "a power in a recipe takes a base under 2**64 and an exponent up to 64")
        if isinstance(op, ast.Mult) and (isinstance(left, (list, tuple, str)) or isinstance(right, (list, tuple, str))):
            count = right if isinstance(right, int) else left
            if isinstance(count, int) and count > _MAX_ITEMS:
                raise self.error(node, f"builds a sequence of over {_MAX_ITEMS} items")
        if type(op) not in _BINARY:
            raise self.error(node, f"the operator {type(op).__name__} is not supported in a recipe")
        result = _BINARY[type(op)](left, right)
        if isinstance(result, int) and result.bit_length() > 64:
            raise self.error(node, "computes a number beyond 64 bits")
        if isinstance(result, (list, tuple, str, dict)) and len(result) > _MAX_ITEMS:
            raise self.error(node, f"builds a sequence of over {_MAX_ITEMS} items")
        return result

    def eval_Slice(self, node: ast.Slice) -> slice:
        part = [None if p is None else self.eval(p) for p in (node.lower, node.upper, node.step)]
        return slice(*part)

    def eval_Subscript(self, node: ast.Subscript) -> Any:
        value = self.eval(node.value)
        index = self.eval(node.slice)
        if isinstance(value, Absent):
            raise ParseError(value.message())
        if isinstance(value, ModuleRef):
            return self.tracer.index_ref(value, index)
        if isinstance(value, Tensor):
            return self.tracer.op("index", [value], tensor_index(value.shape, index))
        return value[index]

    def eval_Attribute(self, node: ast.Attribute) -> Any:
        value = self.eval(node.value)
        return self.tracer.attribute(self, node, value, node.attr)

    def eval_Call(self, node: ast.Call) -> Any:
        function = self.eval(node.func)
        args = self.eval_elements(node.args)
        kwargs = {k.arg: self.eval(k.value) for k in node.keywords if k.arg is not None}
        if isinstance(function, ModuleRef):
            return self.tracer.call_module(function, args, kwargs)
        if isinstance(function, _Lambda):
            return function(*args)
        if isinstance(function, Absent):
            raise ParseError(function.message())
        if not callable(function):
            raise self.error(node, f"{_kind(function)} is not callable")
        return function(*args, **kwargs)

    def eval_Lambda(self, node: ast.Lambda) -> "_Lambda":
        return _Lambda(node, self)

    # -- running --

    def call(self, function: ast.FunctionDef, args: list[Any], kwargs: dict[str, Any]) -> Any:
        names = [a.arg for a in function.args.args][1:]  # after self
        defaults = function.args.defaults
        if len(args) > len(names):
            raise self.error(function, f"forward takes {len(names)} inputs, got {len(args)}")
        bound = dict(zip(names, args))
        for name, default in zip(names[len(names) - len(defaults) :], defaults):
            bound.setdefault(name, self.eval(default))
        for key, value in kwargs.items():
            if key not in names:
                raise self.error(function, f"forward has no argument {key!r}")
            bound[key] = value
        missing = [n for n in names if n not in bound]
        if missing:
            raise self.error(function, f"forward needs {', '.join(missing)}")
        self.env.update(bound)
        try:
            self.run_body(function.body)
        except _Return as returned:
            return returned.value
        return None


class _Lambda:
    """A ``lambda x: ...`` from a recipe's ``__init__``: the forward of a child printing no arguments."""

    def __init__(self, node: ast.Lambda, owner: Interpreter) -> None:
        self.node = node
        self.owner = owner

    def __call__(self, *args: Any) -> Any:
        names = [a.arg for a in self.node.args.args]
        if len(names) != len(args):
            raise self.owner.error(self.node, f"lambda takes {len(names)} inputs, got {len(args)}")
        inner = Interpreter(self.owner.tracer, self.owner.recipe, self.owner.module, {**self.owner.env, **dict(zip(names, args))})
        return inner.eval(self.node.body)


def _none_if_absent(value: Any) -> Any:
    return None if isinstance(value, Absent) else value


def _kind(value: Any) -> str:
    if isinstance(value, Tensor):
        return "a tensor"
    if isinstance(value, ModuleRef):
        return f"module {value.path or 'the network'}"
    return f"a {type(value).__name__}"


