"""The trace of a network's forward pass: a dataflow graph of steps (layers, tensor operations,
a module's own parameters) over tensors, which summaries count and execution runs.

How modules run. The spec shows modules, not their ``forward``; convcalc runs each module by
the first of these that applies, and names every assumption it makes:

1. A class with a recipe (:mod:`convcalc.recipes`: torch.nn's containers, torchvision's blocks
   and models, and the user's own) runs its recipe's ``forward``.
2. ``Sequential`` and the line form's ``sequential``/``repeat`` blocks run their children in
   order; the line form's ``residual { main } [shortcut { branch }]`` computes ``main(x) +
   branch(x)`` (the branch the identity when absent). A ``ModuleList`` or ``ModuleDict`` called
   as a module (torch cannot call one) runs its children in order too, named as an assumption.
3. Any other container runs its children in order: an assumption, named in the trace's
   ``assumptions`` (``--strict`` refuses it). Where that chain fails, the error says the
   block's forward is unknown.
4. A leaf of an unknown class whose name contains a torch.nn layer's and whose printed
   arguments are that layer's (``Conv2dSame(3, 8, kernel_size=(3, 3))``) runs as that layer:
   an assumption too. Any other unknown leaf is an error naming its class.

A ``Linear`` receiving ``[N, C, H, W, ...]`` whose non-batch dims multiply to ``in_features``,
while its last dim does not match, gets a flatten before it in a chain the text gives no forward
for (the ``torch.flatten(x, 1)`` of the model's forward, which print(model) does not show): an
assumption as well.

Rows are named by module path, as ``state_dict`` keys: ``features.0``, ``layer1.0.conv1``. An
operation of a recipe is a row named ``<module>.<op>`` (``layer1.0.add``, ``features.cat``).
"""

from __future__ import annotations

import ast
from typing import Any, Sequence

from ..errors import ConfigError, ConvcalcError, ParseError, ShapeError
from ..layers.base import Layer, Shape, prod
from ..layers.build import missing_args
from ..recipes import Recipe, RecipeBook
from ..registry import not_modelled, suggestion
from ..shapes import format_shape
from ..spec.nodes import SEQUENTIAL_TYPES, LayerNode, ModuleNode, Node, Source, build_at, locate
from .ops import BINARY, OpResult, flatten as flatten_op, matmul, scalar
from .graph import Assumption, Scope, Step, Tensor, Trace, call_key, join_path, read_over_in_place, shown_names
from .interpret import Absent, Declared, Interpreter, ModuleRef, RecipeError
from .layer_steps import LayerSteps, elementwise_step
from .layout import Strides, contiguous_strides
from .receptive import rf_max
from .resolve import bare_torch_name, printed_keywords, resolve_node
from .vocabulary import DeclaredLayer, Marker, MaxResult, Namespace, vocabulary

__all__ = ["Scope", "Step", "Tensor", "Trace", "call_key", "trace_network", "RecipeError"]


_HOLDERS = ("ModuleList", "ModuleDict")  # containers torch cannot call
LIBRARY_RECIPES = {"built-in torchvision.recipe": "torchvision", "built-in timm.recipe": "timm",  # by origin
                   "built-in efficientnet_pytorch.recipe": "efficientnet_pytorch"}
_MAX_CALL_DEPTH = 40  # recipes calling modules calling recipes: deeper is a loop
_MAX_STATEMENTS = 1_000_000  # recipe statements one trace may run


class _Restart(Exception):
    """Trace again, flattening at the entry of the container ``path`` (see ``maybe_flatten``)."""

    def __init__(self, path: str) -> None:
        self.path = path


class StrictError(ParseError):
    """An assumption refused by ``--strict``."""


class _Tracer(LayerSteps):
    def __init__(self, recipes: RecipeBook, flatten_at: frozenset[str], strict: bool) -> None:
        super().__init__()
        self.recipes = recipes
        self.flatten_at = flatten_at
        self.strict = strict
        self.next_id = 0
        self.vocabulary = vocabulary(self)
        # The modules whose recipes are running: (path, depth of their steps, scopes, whether an
        # operation takes the path itself as its name: a child's forward declared by a recipe).
        self.context: list[tuple[str, int, tuple[Scope, ...], bool]] = []
        self.declared: dict[str, Declared] = {}  # module path -> what recipes declared for it
        self.declared_by: set[str] = set()  # paths whose recipe's __init__ has run
        self.recipe_modules: list[ModuleRef] = []  # the modules whose recipes are running, innermost last
        self.root_type = "Sequential"
        self.touched: set[str] = set()  # paths of the modules called so far
        self.statements_left = _MAX_STATEMENTS  # shared by every recipe run of the trace
        self.overrides: dict[str, Any] = {}  # child path -> its forward declared by a recipe
        self.params: dict[str, Tensor] = {}
        self.assumptions: dict[Assumption, None] = {}  # in the order made
        self.resolved: dict[int, tuple[Node, str | None, bool]] = {}  # resolve_node's, by node
        self.children_of: dict[int, dict[str, Node]] = {}
        self.module_runs: list[Scope] = []  # every run of a container, in order
        self.unshown: set[str] = set()  # paths of the containers whose forward the text does not show
        self.library_models: set[str] = set()  # paths of torchvision models (see library_block)
        self.inside_model = False  # the network is a submodule of a torchvision model (--module)
        self.method_depth = 0  # recipe methods running inside one another (run_method)
        self.selected = False  # the network is a submodule taken on its own (--module)

    def tensor(self, shape: Shape | None, rf: Any, storage: int | None = None, alias: int | None = None,
               strides: Strides | None | bool = True) -> Tensor:
        """A new tensor; ``strides`` True: contiguous (a new tensor of its own)."""
        self.next_id += 1
        if strides is True:
            strides = None if shape is None else contiguous_strides(shape)
        return Tensor(self.next_id, shape, self.next_id if storage is None else storage, rf, alias, strides)

    def assume(self, message: str, name: str, type_name: str, how: str = "", shapes: bool = True) -> None:
        """Record an assumption about the module ``name`` of class ``type_name`` (each once);
        ``shapes=False``: it can change values, never a shape (``--strict`` refuses it only where
        values are computed, see ``refuse_value_assumptions``)."""
        if self.strict and shapes:
            error = StrictError(f"--strict: {name or 'the network'} ({type_name}): {message}{how}")
            error.in_recipe = True  # type: ignore[attr-defined]  # complete as it is
            raise error
        self.assumptions.setdefault(Assumption(name, type_name, message, shapes), None)

    # -- modules --

    def resolve(self, node: Node, path: str) -> Node:
        key = id(node)
        if key not in self.resolved:
            self.resolved[key] = resolve_node(node, self.recipes)
        resolved, assumption, shapes = self.resolved[key]
        if assumption:  # at every place the node runs: torch's `(0-2): 3 x Block(...)` prints one for three
            self.assume(assumption, path, node.type_name if isinstance(node, ModuleNode) else node.cls.__name__,
                        shapes=shapes)
        return resolved

    def run(self, node: Node, path: str, depth: int, scopes: tuple[Scope, ...], args: list[Any],
            kwargs: dict[str, Any] | None = None, root: bool = False) -> Any:
        self.touched.add(path)
        if len(self.recipe_modules) > _MAX_CALL_DEPTH:
            raise ParseError(f"{path or 'the network'}: modules call each other more than {_MAX_CALL_DEPTH} deep")
        override = self.overrides.get(path)
        if isinstance(override, DeclaredLayer):
            return self.run_layer(override.node, path, depth, scopes, _one_tensor(args, kwargs, path, override.node.cls.__name__))
        if override is not None:
            self.context.append((path, depth, scopes, True))
            try:
                return override(*args)
            finally:
                self.context.pop()
        node = self.resolve(node, path)
        if isinstance(node, LayerNode):
            x = _one_tensor(args, kwargs, path, node.cls.__name__)
            return self.run_layer(node, path, depth, scopes, x)
        return self.run_module(node, path, depth, scopes, args, kwargs or {}, root)

    def run_module(self, node: ModuleNode, path: str, depth: int, scopes: tuple[Scope, ...],
                   args: list[Any], kwargs: dict[str, Any], root: bool) -> Any:
        x = args[0] if args else None
        if path in self.flatten_at and isinstance(x, Tensor) and x.shape is not None and len(x.shape) > 2:
            x = args[0] = self.flatten(x, path.rsplit(".", 1)[0] if "." in path else "", depth, scopes, node.source, path)
        scope = Scope(path, node.type_name, depth, node.source, input=x if isinstance(x, Tensor) else None,
                      first_step=len(self.steps))
        self.module_runs.append(scope)
        ref = ModuleRef(node, path, depth, scopes if root else scopes + (scope,))
        recipe = self.recipe_of(node)
        assumed = False  # its recipe applied by its class name alone
        if recipe is not None and recipe.builtin:
            self.known_parents.add(path)  # torch's and torchvision's classes build their children with defaults
            assumed = self.library_block(recipe, node, path)
        if recipe is None and not node.children and node.args is not None and not_modelled(node.type_name):
            raise locate(ParseError(f"{node.type_name} is a torch.nn class convcalc cannot run: "
                                    f"{not_modelled(node.type_name)}"), node.source, path)
        if recipe is None and not node.children and node.args is not None:
            if bare_torch_name(node):
                why = (f"prints none of nn.{node.type_name}'s arguments, which torch's always prints: a class of "
                       "one's own, whose forward is unknown")
            else:
                why = f"is neither a torch.nn layer nor a class with a recipe: its forward is unknown{suggestion(node.type_name)}"
            raise locate(ParseError(f"{node.type_name}({node.args}) {why}{_declare_hint(node)}"), node.source, path)
        if node.residual:
            y = self.run_residual(ref, _one_tensor(args, kwargs, path, node.type_name))
        elif recipe is not None and recipe.refuse:
            raise locate(ParseError(f"{node.type_name}: {recipe.refuse} ({recipe.where()})"), node.source, path)
        elif recipe is not None and recipe.forward is not None:
            start = len(self.steps)
            try:
                y = self.run_recipe(recipe, ref, args, kwargs)
            except (ShapeError, ConfigError) as exc:
                if len(self.steps) > start:  # it failed on what the recipe's forward made, not on its input
                    _made_inside(exc)
                    if assumed and not hasattr(exc, "assumed_block"):  # the innermost such block: the likeliest
                        exc.assumed_block = path  # type: ignore[attr-defined]
                raise
        else:
            y = self.run_chain(ref, args, kwargs, recipe, root)
        scope.output = y if isinstance(y, Tensor) else None
        return y

    def run_chain(self, ref: ModuleRef, args: list[Any], kwargs: dict[str, Any], recipe: Recipe | None, root: bool) -> Any:
        node = ref.node
        # A module read as its own layer then its children (see ``resolve``) was assumed there.
        own_layer = bool(node.children) and node.children[0][0] == ""
        known = recipe is not None or node.type_name in SEQUENTIAL_TYPES or not node.children or own_layer
        if not known or not node.written:
            self.unshown.add(ref.path)  # a forward the text does not show runs here
        if not known:
            other = self.recipes.find(node.type_name)  # a recipe for another class of that name
            why = "has no recipe" if other is None else (
                f"is not the class of convcalc's recipe ({other.where()}), whose children are named otherwise")
            self.assume(f"{node.type_name} {why}: its children run in order", ref.path, node.type_name,
                        _declare_hint(node))
        elif recipe is None and node.type_name in _HOLDERS and node.children:
            # torch cannot call these: the parent's forward loops over them (or picks from them)
            self.assume(f"a {node.type_name} has no forward of its own: its children run in order, as a loop "
                        "over it in its parent's forward would", ref.path, node.type_name)
        start = len(self.steps)
        try:
            for name, _ in node.children:
                child = self.child_ref(ref, name)
                args = [self.run(child.node, child.path, child.depth, child.scopes, args, kwargs)]
                kwargs = {}
        except (ShapeError, ConfigError) as exc:
            raise self.chain_failed(exc, ref, known, len(self.steps) > start, root) from None
        if len(args) != 1:
            raise ParseError(f"{ref.path or 'the network'} ({node.type_name}) takes one input, got {len(args)}")
        return args[0]  # an empty Sequential returns its input


    def chain_failed(self, exc: ConvcalcError, ref: ModuleRef, known: bool, ran_before: bool, root: bool) -> ConvcalcError:
        """The error to raise for ``exc``, met while ``ref``'s children ran in order (``known``:
        its forward is known to be that; ``ran_before``: steps of its own ran before the failing
        layer, else that layer got this block's own input). Blame goes to the forward likeliest
        to have made the failing input: an unknown block's, and, where a block failed on its
        input at its first layer, the unknown forward that gave it that input (a U-Net's ``Up``
        and its ``cat``, not the ``DoubleConv`` it calls)."""
        node = ref.node
        if known or hasattr(exc, "assumed_block") or getattr(exc, "assumed_leaf", False):
            # a block read by its name alone failed inside, or a leaf read as a torch layer did
            if ran_before:  # on what its known forward made
                _made_inside(exc)
            return exc
        problem = str(exc).split("; ")[0]
        if getattr(exc, "forward_unknown", False):  # an inner block's chain failed: this one ran it
            inner = getattr(exc, "first_child_of", None)
            if inner is not None and (ran_before or not root):  # its input is this forward's (not the network's)
                exc.first_child_of = None  # type: ignore[attr-defined]
                exc.args = (f"{exc.problem}. That is the first layer of {inner}, whose input {ref.path or 'the network'} "
                            f"({node.type_name}) gave it; convcalc does not know {node.type_name}'s forward: it ran "
                            f"its children in order, which is likely not what {node.type_name} does"
                            f"{_declare_hint(node)}", *exc.args[1:])
            elif getattr(exc, "within", 0) < 2:  # the guess may be this block's too
                exc.args = (f"{exc.args[0]} (within {ref.path or 'the network'} ({node.type_name}), whose "
                            "forward convcalc does not know either)", *exc.args[1:])
            exc.within = getattr(exc, "within", 0) + 1  # type: ignore[attr-defined]
            return exc
        # The layer is probably right and the chain wrong: say so, without the layer's fix.
        wrapped = type(exc)(
            f"{problem}. That is inside {ref.path or 'the network'}, a {node.type_name}, whose forward convcalc "
            f"does not know: it ran its children in order, which is likely not what {node.type_name} does"
            f"{_declare_hint(node)}"
        )
        wrapped.__dict__.update(exc.__dict__)  # keeps the line and column
        wrapped.forward_unknown = True  # type: ignore[attr-defined]  # enclosing blocks add nothing
        wrapped.problem = problem  # type: ignore[attr-defined]
        # its input, unchanged, failed: the enclosing forward's doing, if unknown too; but not a
        # Linear given its features as the channels of a feature map: this block's own forward
        # puts them last (an attention pool's flatten and permute)
        if not ran_before and not getattr(exc, "channels_first", False):
            wrapped.first_child_of = f"{ref.path} ({node.type_name})"  # type: ignore[attr-defined]
        return wrapped

    def run_residual(self, ref: ModuleRef, x: Tensor) -> Tensor:
        """The line form's ``residual { main } shortcut { branch }``: main(x) + branch(x)."""
        node = ref.node
        names = [n for n, _ in node.children if n != node.shortcut_name]
        main = x
        for name in names:
            child = self.child_ref(ref, name)
            main = self.run(child.node, child.path, child.depth, child.scopes, [main])
        branch = x
        if node.shortcut_name:
            child = self.child_ref(ref, node.shortcut_name)
            branch = self.run(child.node, child.path, child.depth, child.scopes, [x])
        if main.shape is not None and branch.shape is not None and main.shape != branch.shape:
            what = f"the {node.shortcut_name} branch" if node.shortcut_name else "the identity shortcut (its input)"
            fix = (f"make {node.shortcut_name} produce {format_shape(main.shape)}" if node.shortcut_name else
                   "add a shortcut that maps the input to that shape, e.g. `} shortcut { conv2d --out C -k 1 -s S }`")
            raise locate(ShapeError(
                f"residual block {ref.path or 'the network'}: its main path gives {format_shape(main.shape)} but "
                f"{what} gives {format_shape(branch.shape)}; the add needs equal shapes; {fix}"), node.source)
        self.context.append((ref.path, ref.depth + 1, ref.scopes, False))
        try:
            return self.binary_op("add", main, branch)
        finally:
            self.context.pop()

    def run_recipe(self, recipe: Recipe, ref: ModuleRef, args: list[Any], kwargs: dict[str, Any]) -> Any:
        self.declare(recipe, ref)
        assert recipe.forward is not None
        self.context.append((ref.path, ref.depth + 1, ref.scopes, False))
        self.recipe_modules.append(ref)
        try:
            result = Interpreter(self, recipe, ref, {"self": ref}).call(recipe.forward, args, kwargs)
        finally:
            self.context.pop()
            self.recipe_modules.pop()
        self.check_children_ran(recipe, ref)
        return result

    def run_method(self, recipe: Recipe, ref: ModuleRef, name: str, args: list[Any], kwargs: dict[str, Any]) -> Any:
        """``self.<name>(...)`` in a recipe: another method of its class (a VAE's ``encode``)."""
        if self.method_depth >= _MAX_CALL_DEPTH:
            raise ParseError(f"{ref.path or 'the network'}: methods call each other more than {_MAX_CALL_DEPTH} deep")
        self.method_depth += 1
        try:
            return Interpreter(self, recipe, ref, {"self": ref}).call(recipe.methods[name], args, kwargs)
        finally:
            self.method_depth -= 1

    def library_block(self, recipe: Recipe, node: ModuleNode, path: str) -> bool:
        """Name a library's block recipe (torchvision's, timm's) run outside any of its models:
        a class of one's own with that name and those children prints the same and may do
        otherwise (a ``BasicBlock`` without the residual add). Inside a model the blocks are its.
        True when named."""
        library = LIBRARY_RECIPES.get(recipe.origin)
        if library is None or self.inside_model:
            return False
        if recipe.model:  # said, not assumed: print(model) of the library's model is exactly this text
            self.library_models.add(path)
            self.note(f"read as {library}'s {node.type_name}, its blocks as {library}'s ({recipe.where()}): a "
                      "class of one's own that prints the same needs its own recipe", path or "the network")
            return False
        if not any(not model or path == model or path.startswith(model + ".") for model in self.library_models):
            self.assume(f"{node.type_name} read as {library}'s {node.type_name} ({recipe.where()}): its name and "
                        "children are that class's, but print(model) shows the same for a class of one's own, which "
                        f"may do otherwise{_declare_hint(node)}", path, node.type_name)
            return True
        return False

    def recipe_of(self, node: ModuleNode) -> Recipe | None:
        """The recipe of a printed module's class, unless its children's names say it is another
        class of the same name (a ``MLP`` of one's own is not torchvision's)."""
        names = [name for name, _ in node.children]
        recipe = self.recipes.find(node.type_name, names)
        if recipe is not None and not recipe.fits(names):
            return None
        return recipe

    def holds_parameters(self, node: Node) -> bool:
        """Whether a module has parameters (unbuilt layers and unknown leaves are taken to)."""
        if isinstance(node, LayerNode):
            return node.layer is None or node.layer.num_params() > 0
        if not node.children:
            recipe = self.recipes.find(node.type_name)
            return node.args is not None and (recipe is None or recipe.base is not None)
        return any(self.holds_parameters(child) for _, child in node.children)

    def check_children_ran(self, recipe: Recipe, ref: ModuleRef) -> None:
        """A child with parameters that the recipe left unused means the class printed is not
        the one the recipe is for (a torchvision name on a module of one's own)."""
        node = ref.node
        for name, child in node.children if isinstance(node, ModuleNode) else ():
            path = join_path(ref.path, name)
            if name in recipe.unused or not self.holds_parameters(child):
                continue
            if path in self.touched or any(p.startswith(path + ".") for p in self.touched):
                continue
            used = ", ".join(n for n, _ in node.children if join_path(ref.path, n) in self.touched) or "none"
            holds = "holds parameters" if isinstance(child, ModuleNode) and child.children or (
                isinstance(child, LayerNode) and child.layer is not None) else "may hold parameters (its class is unknown)"
            fix = ("declare its forward in a recipe of your own, which replaces the built-in one" if recipe.builtin
                   else f"run it in the forward, or list it in the recipe's unused = ({name!r},) if the forward never does")
            raise locate(ParseError(
                f"{ref.path or 'the network'} ({node.type_name}): its recipe ({recipe.where()}) never runs its child "
                f"{name!r}, which {holds}, so this {node.type_name} is not the class the recipe is for "
                f"(it ran {used}); {fix}"
            ), node.source)

    def assume_in_recipe(self, message: str) -> None:
        """A recipe's own ``assume("...")``: about the module whose recipe runs."""
        ref = self.recipe_modules[-1] if self.recipe_modules else None
        node = ref.node if ref is not None else None
        self.assume(message, ref.path if ref else "", getattr(node, "type_name", self.root_type))

    def note_in_recipe(self, message: str) -> None:
        """A recipe's own ``note("...")``: a fact about the module whose recipe runs, for the
        summary's notes (what it counted and how), not an assumption about its forward."""
        ref = self.recipe_modules[-1] if self.recipe_modules else None
        self.note(message, (ref.path if ref else "") or "the network")

    def declare(self, recipe: Recipe, ref: ModuleRef) -> Declared:
        """Run the recipe's ``__init__`` once per module: its parameters and child forwards."""
        if ref.path in self.declared_by:
            return self.declared[ref.path]
        self.declared_by.add(ref.path)
        declared = self.declared.setdefault(ref.path, Declared())
        interpreter = Interpreter(self, recipe, ref, {"self": ref})
        self.recipe_modules.append(ref)
        try:
            self.run_declarations(recipe, ref, declared, interpreter)
        finally:
            self.recipe_modules.pop()
        return declared

    def run_declarations(self, recipe: Recipe, ref: ModuleRef, declared: Declared, interpreter: Interpreter) -> None:
        for statement in _unfolded(recipe.init, interpreter):
            if not (isinstance(statement, ast.Assign) and len(statement.targets) == 1):
                raise interpreter.error(statement, "__init__ holds only `self.<name> = ...` declarations")
            if isinstance(statement.targets[0], ast.Name):  # a local name: width = ...
                interpreter.env[statement.targets[0].id] = interpreter.eval(statement.value)
                continue
            target = _self_path(statement.targets[0])
            if target is None:
                raise interpreter.error(statement, "__init__ assigns only to self.<name> or self.<child>[i]")
            value = interpreter.eval(statement.value)
            if isinstance(value, Marker):
                # self.encoder.pos_embedding: a parameter of the child, declared by its parent.
                owner, _, name = join_path(ref.path, target).rpartition(".") if "." in target else (ref.path, "", target)
                mine = declared if owner == ref.path else self.declared.setdefault(owner, Declared())
                table = mine.params if value.kind == "Parameter" else mine.buffers
                table[name] = value.dims
            elif isinstance(value, DeclaredLayer) or (callable(value) and not isinstance(value, ModuleRef)):
                self.overrides[join_path(ref.path, target)] = value  # the child's forward: a layer or a lambda
            else:
                declared.attributes[target] = value

    # -- what a recipe can reach --

    def children(self, node: Node) -> dict[str, Node]:
        """A module's children by name (built once per module: long chains stay linear)."""
        table = self.children_of.get(id(node))
        if table is None:
            table = self.children_of[id(node)] = dict(node.children) if isinstance(node, ModuleNode) else {}
        return table

    def child_ref(self, ref: ModuleRef, name: str) -> ModuleRef:
        return ModuleRef(self.children(ref.node)[name], join_path(ref.path, name), ref.depth + 1, ref.scopes)

    def index_ref(self, ref: ModuleRef, index: Any) -> Any:
        names = list(self.children(ref.node))
        if isinstance(index, int):
            if not -len(names) <= index < len(names):
                raise ParseError(f"{ref.path or 'the network'} has {len(names)} children; index {index} is out of range")
            return self.child_ref(ref, names[index])
        if isinstance(index, str) and index in names:
            return self.child_ref(ref, index)
        raise ParseError(f"{ref.path or 'the network'} has no child {index!r}")

    def length(self, value: Any) -> int:
        if isinstance(value, ModuleRef):
            return len(value.node.children) if isinstance(value.node, ModuleNode) else 0
        return len(value)

    def attribute(self, interpreter: Interpreter, node: ast.AST, value: Any, attr: str) -> Any:
        if isinstance(value, (Namespace, MaxResult)):
            return value.member(attr)
        if isinstance(value, Tensor):
            return self.vocabulary["__tensor_method__"](value, attr)
        if isinstance(value, Absent):
            raise ParseError(value.message())
        if not isinstance(value, ModuleRef):
            raise interpreter.error(node, f"{type(value).__name__} has no attribute {attr!r} in the recipe notation")
        module = self.resolve(value.node, value.path)
        recipe = self.recipe_of(module) if isinstance(module, ModuleNode) else None
        if recipe is not None and attr in recipe.methods:  # a method of the class wins, as in Python
            return lambda *args, **kwargs: self.run_method(recipe, value, attr, list(args), kwargs)
        declared = self.declared.get(value.path)
        if declared is not None and attr in declared.params:
            return self.param(value.path, attr, declared.params[attr])
        if declared is not None and attr in declared.buffers:
            return self.param(value.path, attr, declared.buffers[attr])
        if declared is not None and attr in declared.attributes:
            return declared.attributes[attr]
        if isinstance(module, ModuleNode) and attr in dict(module.children):
            return self.child_ref(value, attr)
        type_name = module.cls.__name__ if isinstance(module, LayerNode) else module.type_name
        if attr == "training":
            return False
        if attr == "forward":
            return value
        if isinstance(module, LayerNode):
            names = [spec.name for spec in module.cls.arg_specs()]
            if attr not in names:  # a recipe reads a layer's arguments, nothing else of the object
                raise ParseError(f"{value.path} ({module.cls.__name__}) has no argument {attr!r}; its arguments: "
                                 f"{', '.join(names)}")
            layer = module.layer if module.layer is not None else self.built_layers.get(value.path)
            if layer is None:
                layer = build_at(module.cls, module.kwargs, module.source, None, value.path)
            return getattr(layer, attr, None)
        base = dict(module.children).get("")  # a layer subclass's own layer: self.kernel_size is its
        if isinstance(base, LayerNode) and attr in {spec.name for spec in base.cls.arg_specs()}:
            return self.attribute(interpreter, node, self.child_ref(value, ""), attr)
        printed = printed_keywords(module.args) if module.args else {}
        if attr in printed:  # timm's SelectAdaptivePool2d(pool_type=avg, ...): self.pool_type
            return printed[attr]
        return Absent(value.path or "the network", type_name, attr, list(self.children(module)),
                      selected=not value.path and self.selected)

    def stride_of(self, ref: ModuleRef) -> int:
        """The stride a block applies along its first spatial dim: the product of its layers'."""
        stride = 1
        node = self.resolve(ref.node, ref.path)
        if isinstance(node, LayerNode):
            layer = self.built_layers.get(ref.path) or node.layer
            value = getattr(layer, "stride", 1) if layer is not None else 1
            return value[0] if isinstance(value, tuple) else (value or 1)
        for name, _ in node.children:
            stride *= self.stride_of(self.child_ref(ModuleRef(node, ref.path, ref.depth, ref.scopes), name))
        return stride

    def call_module(self, ref: ModuleRef, args: list[Any], kwargs: dict[str, Any]) -> Any:
        """Call a child from a recipe. A layer that torch returns with its attention weights
        (nn.MultiheadAttention) gives ``(output, None)``, as ``x, _ = self.attn(x, x, x)`` reads."""
        if any(running.node is ref.node for running in self.recipe_modules):
            raise ParseError(f"{ref.path or 'the network'} calls itself: a forward runs its children, not its own module")
        override = self.overrides.get(ref.path)
        node = override.node if isinstance(override, DeclaredLayer) else self.resolve(ref.node, ref.path)
        pair = isinstance(node, LayerNode) and getattr(node.cls, "returns_weights", False)
        if pair:
            kwargs = {k: v for k, v in kwargs.items() if k not in ("need_weights", "average_attn_weights")}
        result = self.run(ref.node, ref.path, ref.depth, ref.scopes, args, kwargs)
        return (result, None) if pair else result

    # -- steps --

    def op_name(self, name: str) -> tuple[str, int, tuple[Scope, ...]]:
        """Name, depth and scopes of an operation of the running recipe."""
        if not self.context:
            return name, 1, ()
        path, depth, scopes, exact = self.context[-1]
        return (path if exact else join_path(path, name)), depth, scopes

    def op(self, name: str, inputs: Sequence[Tensor], result: OpResult, type_name: str | None = None,
           in_place: bool = False) -> Tensor:
        """A tensor operation of the running recipe as a step: ``<module>.<op>``; ``in_place``:
        written over its first input (``y += z``), whose shape it must keep, as torch's must."""
        if in_place and inputs and result.shape != inputs[0].shape:
            raise ShapeError(f"{name} in place: {format_shape(inputs[0].shape)} cannot hold the result's "
                             f"{format_shape(result.shape)} (torch writes the result over it); write y = y {name} z")
        step_name, depth, scopes = self.op_name(name)
        # The receptive field follows the input of the output's own shape (a broadcast gate's
        # positions are not the output's); the others widen it.
        primary = next((t for t in inputs if t.shape == result.shape), inputs[0] if inputs else None)
        rf = primary.rf if primary is not None else ()
        for other in inputs:
            if other is not primary and other.shape is not None and len(other.shape) == len(result.shape):
                rf = rf_max(rf, other.rf)
        if result.shape != (inputs[0].shape if inputs else None) and name not in ("add", "sub", "mul", "div", "cat", "narrow", "chunk", "split"):
            rf = None
        if in_place and inputs:
            out = self.shared_tensor(inputs[0], result.shape, rf, inputs[0].storage, f"{name} in place")
        elif result.view and inputs:
            out = self.view_tensor(name, inputs[0], result.shape, rf, result.forward, result.regroups)
            if name == "expand":
                self.expanded.add(out.id)
        else:
            out = self.new_tensor(inputs, result.shape, rf)
        self.append(Step(name, step_name, type_name or name, depth, scopes, tuple(inputs), out,
                         macs=result.macs, flops=result.flops, compute=result.forward,
                         keeps_inputs=result.keeps_inputs, fresh_output=result.fresh,
                         in_place=in_place))
        return out

    def binary_op(self, name: str, a: Any, b: Any, in_place: bool = False) -> Tensor:
        """``a <op> b``; ``in_place``: ``a <op>= b`` on a tensor ``a``, written over it."""
        if not isinstance(a, Tensor) or not isinstance(b, Tensor):
            tensor, value = (a, b) if isinstance(a, Tensor) else (b, a)
            if isinstance(value, Absent):  # self.<child> the printed module does not have
                raise ParseError(value.message())
            if not isinstance(value, (int, float)):
                what = type(value).__name__ if type(value).__repr__ is object.__repr__ else repr(value)
                raise ParseError(f"{name}: cannot combine a tensor with {what}")
            kind = name if isinstance(a, Tensor) or name in ("add", "mul") else "r" + name
            return self.op(name, [tensor], scalar(kind, tensor.shape, value), in_place=in_place and tensor is a)
        rule = matmul if name == "matmul" else BINARY[name]
        return self.op(name, [a, b], rule(a.shape, b.shape), in_place=in_place)

    def param(self, path: str, name: str, shape: tuple[int, ...]) -> Tensor:
        key = join_path(path, name)
        if key not in self.params:
            out = self.tensor(shape, ())
            self.params[key] = out
            _, depth, scopes = self.op_name(name)
            self.append(Step("param", key, "Parameter", depth, scopes, (), out,
                             macs=0, flops=0, state_key=key))
        return self.params[key]

    def functional(self, name: str, args: list[Any], kwargs: dict[str, Any]) -> Tensor:
        """``F.<name>(x, ...)``: the convcalc layer of that name, called as a function."""
        from .functional import functional_node

        x = args[0] if args else kwargs.pop("input", None)
        if not isinstance(x, Tensor):
            raise ParseError(f"F.{name} needs a tensor as its first argument")
        node = functional_node(name, args[1:], kwargs, x.shape)
        step_name, depth, scopes = self.op_name(name)
        return self.run_layer(node, step_name, depth, scopes, x, functional=True)

    def list_modules(self, node: Node, x: Tensor, path: str = "", depth: int = 0) -> Tensor:
        """Without an input shape: every layer in print order, for its parameters (a leaf refused
        by name is left to the state, which lists it as unknown)."""
        try:
            resolved = self.resolve(node, path)
        except ParseError:
            if isinstance(node, LayerNode) or node.children:
                raise
            return x
        if isinstance(resolved, LayerNode):
            if resolved is not node and resolved.layer is None and missing_args(resolved.cls, resolved.kwargs):
                return x  # a class read as a layer whose arguments it does not print: listed as unknown
            return self.run_layer(resolved, path, depth, (), x)
        node = resolved
        for name, child in node.children:
            self.list_modules(child, x, join_path(path, name), depth + 1)
        return x

    # the inserted flatten before a classifier (see the module doc)
    def maybe_flatten(self, layer: Layer, node: LayerNode, path: str, depth: int,
                      scopes: tuple[Scope, ...], x: Tensor) -> Tensor:
        features = getattr(layer, "in_features", None)
        shape = x.shape
        if (not isinstance(features, int) or shape is None or len(shape) < 3 or shape[-1] == features
                or prod(shape[1:]) != features or (self.context and not self.context[-1][3])):
            return x
        if not self.unshown.intersection(scope.path for scope in scopes) and "" not in self.unshown:
            raise locate(ShapeError(
                f"{type(layer).__name__}: input {format_shape(shape)}: expects {features} features in the last dim, "
                f"and its input's non-batch dims multiply to that, but the forward that runs it is known and "
                "flattens nothing (an nn.Sequential's, as torch would fail here); add nn.Flatten() before it, "
                "or print the model whose forward flattens (a class of its own)"), node.source, path, type(layer).__name__)
        target = None
        for scope in reversed(scopes):
            if all(elementwise_step(step) for step in self.steps[scope.first_step:]):
                target = scope
            else:
                break
        if target is not None and target.path not in self.flatten_at:
            raise _Restart(target.path)
        parent = path.rsplit(".", 1)[0] if "." in path else ""
        return self.flatten(x, parent, depth, scopes, node.source, f"{path} ({type(layer).__name__}, in_features={features})")

    def flatten(self, x: Tensor, parent: str, depth: int, scopes: tuple[Scope, ...], source: Source, before: str) -> Tensor:
        shape = x.shape
        assert shape is not None
        out = self.view_tensor("flatten", x, (shape[0], prod(shape[1:])), None, regroups="reshape")
        name = join_path(parent, "flatten")
        self.assume(
            f"inserted a flatten {format_shape(shape)} → {format_shape(out.shape)} before {before}, whose "
            "in_features is the product of the incoming non-batch dims (a model's forward does this with "
            "torch.flatten(x, 1), which print(model) does not show)", parent, scopes[-1].type_name if scopes else self.root_type)
        result = flatten_op(shape, 1)
        self.append(Step("flatten", name, "flatten", depth, scopes, (x,), out, source=source, macs=0, flops=0,
                         compute=result.forward))
        return out


def _unfolded(body: list[ast.stmt], interpreter: Interpreter) -> list[ast.stmt]:
    """An ``__init__``'s declarations, its ``if`` statements decided (on printed arguments)."""
    statements: list[ast.stmt] = []
    for statement in body:
        if isinstance(statement, ast.If):
            chosen = statement.body if interpreter.truth(statement.test) else statement.orelse
            statements.extend(_unfolded(chosen, interpreter))
        elif isinstance(statement, ast.Expr):
            interpreter.eval(statement.value)  # assume("...")
        else:
            statements.append(statement)
    return statements


def _one_tensor(args: list[Any], kwargs: dict[str, Any] | None, path: str, type_name: str) -> Tensor:
    tensors = [a for a in args if isinstance(a, Tensor)]
    if len(args) != 1 or not tensors or kwargs:
        if tensors and all(a is tensors[0] for a in args):  # self-attention: attn(x, x, x)
            return tensors[0]
        given = (f"a {type(args[0]).__name__} of {len(args[0])} values" if len(args) == 1 and isinstance(args[0], (list, tuple))
                 else f"{len(args) + len(kwargs or {})} arguments")
        raise ParseError(f"{path or 'the network'} ({type_name}) takes one tensor, got {given}")
    return tensors[0]


def _self_path(target: ast.expr) -> str | None:
    """``self.block[1]`` -> ``"block.1"``; None for any other target."""
    parts: list[str] = []
    while True:
        if isinstance(target, ast.Attribute):
            parts.append(target.attr)
            target = target.value
        elif isinstance(target, ast.Subscript) and isinstance(target.slice, ast.Constant):
            parts.append(str(target.slice.value))
            target = target.value
        elif isinstance(target, ast.Name) and target.id == "self" and parts:
            return ".".join(reversed(parts))
        else:
            return None


def _made_inside(exc: BaseException) -> None:
    """An error met after a known forward ran steps: the failing block's input came from them,
    not from the forward enclosing it (see ``run_chain``)."""
    if getattr(exc, "first_child_of", None) is not None:
        exc.first_child_of = None  # type: ignore[attr-defined]


def refuse_value_assumptions(assumptions: Sequence[Assumption]) -> None:
    """``--strict`` where values are computed: a StrictError for the first assumption that can
    change values (shapes and counts never depend on it, so a shape answer keeps it).

    >>> refuse_value_assumptions([Assumption("p", "AvgPool2d", "divisor_override: assumed None", False)])
    Traceback (most recent call last):
    ...
    convcalc.network.trace.StrictError: --strict: p (AvgPool2d): divisor_override: assumed None; it changes the values computed, not shapes or counts
    """
    for assumption in assumptions:
        if not assumption.shapes:
            raise StrictError(f"--strict: {assumption.module or 'the network'} ({assumption.type_name}): "
                              f"{assumption.message}; it changes the values computed, not shapes or counts")


def _after_assumptions(exc: ConvcalcError, assumptions: list[Assumption]) -> None:
    """An error met after assumptions were made says so: the layer it names may be right and an
    assumed forward before it wrong, and the fix the layer suggests then the wrong one."""
    assumptions = [a for a in assumptions if a.shapes]  # those that can have led to a wrong shape
    failed_in = getattr(exc, "assumed_block", None)  # a block read by its name alone, where it failed: first
    assumptions.sort(key=lambda a: a.module != failed_in)
    if not assumptions or not isinstance(exc, (ShapeError, ConfigError)) or getattr(exc, "forward_unknown", False):
        return  # a refusal (a parse error) stands on its own
    shown = "; ".join(str(a) for a in assumptions[:2]) + (f"; and {len(assumptions) - 2} more" if len(assumptions) > 2 else "")
    exc.args = (f"{exc.args[0]} (this follows what convcalc assumed where the text is silent: {shown}; if the "
                "model does otherwise, say what it does in a recipe or the layer's arguments instead)", *exc.args[1:])


def _flat_outputs(value: Any, prefix: str = "") -> dict[str, Tensor]:
    """The tensors a forward returns, by key or position, nested ones joined with dots
    (``return y, (a, b)``: ``0``, ``1.0``, ``1.1``)."""
    items = value.items() if isinstance(value, dict) else enumerate(value)
    found: dict[str, Tensor] = {}
    for key, item in items:
        name = f"{prefix}{key}"
        if isinstance(item, Tensor):
            found[name] = item
        elif isinstance(item, (dict, tuple, list)):
            found.update(_flat_outputs(item, name + "."))
    return found


def _declare_hint(node: ModuleNode) -> str:
    children = shown_names([name for name, _ in node.children], most=8) or "..."  # a shortcut is often last
    return (f"; to say what it does, declare it: `class {node.type_name}:` with a `def forward(self, x):` over "
            f"its children ({children}), in the spec or a --recipes file")


def trace_network(root: Node, input_shape: Shape | None, parse_notes: Sequence[str] = (),
                  recipes: RecipeBook | None = None, strict: bool = False, inside_model: bool = False,
                  selected: bool = False) -> Trace:
    """Run the shapes of ``input_shape`` (None: unknown, the modules listed in print order)
    through the module tree ``root``; notes are ``parse_notes`` and then the rules applied.
    ``inside_model``: ``root`` is a submodule of a torchvision model (its blocks are torchvision's);
    ``selected``: a submodule taken on its own (``--module``), which its parent may feed more.
    Raises a located ConvcalcError on a mismatch."""
    from .state import collect_state

    book = recipes or RecipeBook.builtin()
    flatten_at: set[str] = set()
    while True:
        tracer = _Tracer(book, frozenset(flatten_at), strict)
        tracer.inside_model, tracer.selected = inside_model, selected
        tracer.root_type = root.type_name if isinstance(root, ModuleNode) else root.cls.__name__
        x = tracer.tensor(input_shape, ())
        try:
            if input_shape is None:
                y = tracer.list_modules(root, x)
            else:
                y = tracer.run(root, "", 0, (), [x], root=True)
            break
        except _Restart as restart:
            flatten_at.add(restart.path)  # each container at most once: this terminates
        except ConvcalcError as exc:
            _after_assumptions(exc, list(tracer.assumptions))
            raise
    outputs: dict[str, Tensor] = {}
    if isinstance(y, (dict, tuple, list)):  # every tensor listed, by key or position (`return logits, probs`)
        outputs = _flat_outputs(y)
        returned, y = y, outputs.get("out") or next(iter(outputs.values()), None)
        if not isinstance(returned, dict) and len(outputs) < 2:
            outputs = {}  # a one-tensor tuple: the output itself
    if not isinstance(y, Tensor):
        raise ParseError(f"the network's forward returns {type(y).__name__}, not a tensor")
    y, outputs, unfollowed = read_over_in_place(tracer.steps, y, outputs)
    state = collect_state(tracer, root, input_shape is not None)
    notes = list(parse_notes) + [f"{shown_names(names)}: {message}" for message, names in tracer.notes.items()]
    notes += [f"values are not computed: {why}" for why in unfollowed[:1]]
    assumptions = list(tracer.assumptions)
    return Trace(x, y, tracer.steps, notes, state, assumptions, outputs, tracer.module_runs, unfollowed)
