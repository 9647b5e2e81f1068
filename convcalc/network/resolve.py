"""What a printed module of a class convcalc has no layer for stands for: the torch.nn layer a
recipe names as its base, or (an assumption, named) the torch.nn layer its class name and
printed arguments match."""

from __future__ import annotations

import re
from functools import lru_cache

from ..errors import ConvcalcError, ParseError
from ..layers.base import Layer
from ..recipes import RecipeBook
from ..registry import layer_classes, not_modelled, torch_layer
from ..spec.call_form import parse_call, with_empty_values
from ..spec.nodes import LayerNode, ModuleNode, Node, locate

_DIMS = re.compile(r"[123]d$", re.IGNORECASE)


def resolve_node(node: Node, recipes: RecipeBook) -> tuple[Node, str | None, bool]:
    """``node`` as convcalc runs it, the assumption made (None when none was needed), and
    whether that assumption can change a shape (False: values only).

    >>> from convcalc.spec.nodes import Source
    >>> node, assumption, shapes = resolve_node(ModuleNode("Conv2dPadSame", [], Source(1, 1, ""), args="3, 8, kernel_size=(3, 3)"), RecipeBook())
    >>> type(node.layer).__name__, assumption.split(":")[0], shapes
    ('Conv2d', 'Conv2dPadSame read as nn.Conv2d', True)
    """
    if not isinstance(node, ModuleNode) or node.args is None:
        return node, None, True
    recipe = recipes.find(node.type_name, [name for name, _ in node.children])
    if recipe is None and bare_torch_name(node):
        return _bare(node)
    node, assumption = _resolve_module(node, recipe)
    return node, assumption, True


def _bare(node: ModuleNode) -> tuple[Node, str | None, bool]:
    """torch's layer name printed as ``Name()`` where torch's layer prints its defaults: read
    as torch's with them, named (an element-wise layer's only where values are computed); one
    that needs arguments is left to the tracer, which refuses it."""
    base = _layer(node.type_name, "", node)
    if base is None or base.layer is None or node.children:  # needs an argument (the input's, for convcalc)
        return node, None, True
    shown = repr(base.layer)
    return base, (f"{node.type_name}() prints no arguments where torch's prints its defaults, {shown}: read as "
                  f"torch's with those (an older torch may have printed it so); a class of one's own of that name "
                  f"may differ: declare its forward, or `class {node.type_name}(nn.{node.type_name}): pass` if it "
                  "is torch's"), not base.cls.elementwise or base.layer.num_params() > 0  # PReLU(): how many?


def _resolve_module(node: ModuleNode, recipe) -> tuple[Node, str | None]:
    """``resolve_node`` for a module of a class that is not torch's layer printed bare."""
    if recipe is not None and recipe.forward is not None and recipe.base:
        # A subclass with a forward of its own: its base layer is ``super()``, the child "".
        base = _layer(recipe.base, node.args, node)
        if base is None:
            raise locate(ParseError(
                f"{node.type_name}({node.args}) does not print nn.{recipe.base}'s arguments, so it is not the "
                f"{node.type_name} of convcalc's recipe ({recipe.where()}), a subclass of nn.{recipe.base}; its "
                "parameters and forward are not in the text: declare them in a recipe of your own "
                f"(`class {node.type_name}:` with `__init__` declaring its Parameter()s and a `forward`), "
                "which replaces the built-in one"), node.source)
        return ModuleNode(node.type_name, [("", base), *node.children], node.source, args=node.args), None
    if recipe is not None and (recipe.forward is not None or recipe.refuse):
        return node, None
    base = _layer(recipe.base, node.args, node) if recipe is not None and recipe.base else None
    assumption = None
    if base is not None:
        base = _moved(base, recipe.buffers, node.type_name) if recipe is not None and recipe.buffers else base
    elif recipe is None and not not_modelled(node.type_name):
        for cls in similar_layers(node.type_name):
            base = _layer(cls.__name__, node.args, node)
            if base is not None:
                assumption = (
                    f"{node.type_name} read as nn.{cls.__name__}: its name is like that layer's and its printed "
                    "arguments are that layer's, but its forward may do more (a 'same'-padding or weight-"
                    "standardised conv, an approximate GELU do), and parameters it holds beyond that layer's (a "
                    "weight-standardised conv's gain) are not counted; declare its forward, or "
                    f"`class {node.type_name}(nn.{cls.__name__}): pass` if it is nn.{cls.__name__}'s"
                )
                break
    if base is None:
        if recipe is None and node.children and node.args.strip() and not not_modelled(node.type_name):
            shown = " ".join(node.args.split())
            shown = shown if len(shown) <= 60 else shown[:57] + "..."
            return node, (f"{node.type_name} prints arguments of its own ({shown}) above its children, which "
                          "convcalc cannot read as a torch.nn layer's: parameters it holds itself (not in a child) "
                          f"are not in the totals{_declare(node.type_name)}")
        return node, None
    if not node.children:
        return base, assumption
    runs = "its own layer, then its children in order"
    own = ModuleNode(node.type_name, [("", base), *node.children], node.source)
    return own, (assumption or f"{node.type_name} prints its own arguments above its children") + f" ({runs})"


@lru_cache(maxsize=256)
def printed_keywords(args: str) -> dict[str, object]:
    """The keyword arguments a module prints (``pool_type=avg, eps=1e-05``), which a recipe
    reads as ``self.<name>``: a Python literal as its value, anything else as its text.

    >>> printed_keywords("64, pool_type=avg, eps=1e-05, size=(7, 7), act=SiLU()")
    {'pool_type': 'avg', 'eps': 1e-05, 'size': (7, 7), 'act': 'SiLU()'}
    >>> printed_keywords("not a call (")
    {}
    """
    import ast

    try:
        call = ast.parse(with_empty_values(f"f({args})"), mode="eval").body
    except (SyntaxError, ValueError, RecursionError):
        return {}
    keywords: dict[str, object] = {}
    for keyword in getattr(call, "keywords", []):
        if keyword.arg is None:
            continue
        try:
            keywords[keyword.arg] = ast.literal_eval(keyword.value)
        except (ValueError, SyntaxError, TypeError, RecursionError, MemoryError):
            keywords[keyword.arg] = ast.unparse(keyword.value)
    return keywords


def _declare(type_name: str) -> str:
    return (f"; declare `class {type_name}(nn.<Layer>):` (the torch.nn layer it subclasses) with its forward, "
            "or its Parameter()s in `__init__`, to make this known")


@lru_cache(maxsize=None)
def bare_torch_name(node: ModuleNode) -> bool:
    """Whether ``node`` is torch's own layer name printed without arguments (``RMSNorm()``,
    ``LeakyReLU()``), which the parser keeps only where torch's layer prints some: not torch's
    print, nor one to read as another layer by its name.

    >>> from convcalc.spec.nodes import Source
    >>> bare_torch_name(ModuleNode("RMSNorm", [], Source(1, 1, ""), args="")), bare_torch_name(ModuleNode("MyNorm", [], Source(1, 1, ""), args=""))
    (True, False)
    """
    return torch_layer(node.type_name) is not None and not (node.args or "").strip()


def similar_layers(type_name: str) -> tuple[type[Layer], ...]:
    """torch.nn layers an unknown class is probably a subclass of, best first: those whose name
    it contains (``StdConv2d``), then those it shares a long prefix and dims with
    (``BatchNormAct2d``).

    >>> [cls.__name__ for cls in similar_layers("BatchNormAct2d")]
    ['BatchNorm2d']
    """
    name = type_name.lower()
    classes = list(layer_classes().values())
    contained = sorted((c for c in classes if c.__name__.lower() in name), key=lambda c: -len(c.__name__))
    if contained:
        return tuple(contained[:2])
    dims = _DIMS.search(type_name)
    prefixed = []
    for cls in classes:
        other = cls.__name__.lower()
        common = len(_common_prefix(name, other))
        if common >= 6 and (dims is None or other.endswith(dims.group(0).lower())):
            prefixed.append((common, cls))
    prefixed.sort(key=lambda item: -item[0])
    return tuple(cls for _, cls in prefixed[:2])


def _common_prefix(a: str, b: str) -> str:
    size = 0
    while size < min(len(a), len(b)) and a[size] == b[size]:
        size += 1
    return a[:size]


def _layer(base: str, args: str, node: ModuleNode) -> LayerNode | None:
    try:
        parsed = parse_call(f"{base}({args})", node.source)
    except ConvcalcError:
        return None
    return parsed if isinstance(parsed, LayerNode) else None


def _moved(node: LayerNode, names: tuple[str, ...], type_name: str) -> LayerNode:
    """The layer with the parameters ``names`` held as buffers (torchvision's FrozenBatchNorm2d)."""
    base = node.cls

    def param_shapes(self: Layer) -> dict:
        return {k: v for k, v in base.param_shapes(self).items() if k not in names}

    def buffer_shapes(self: Layer) -> dict:
        moved = {k: v for k, v in base.param_shapes(self).items() if k in names}
        kept = {k: v for k, v in base.buffer_shapes(self).items() if k != "num_batches_tracked"}
        return {**moved, **kept}  # frozen statistics are never updated, so nothing counts batches

    cls = type(type_name, (base,), {"param_shapes": param_shapes, "buffer_shapes": buffer_shapes})
    layer = None
    if node.layer is not None:
        layer = object.__new__(cls)
        layer.__dict__.update(node.layer.__dict__)
    return LayerNode(cls, node.kwargs, node.source, node.forward_kwargs, node.extras, layer)
