"""The network's state_dict from the text: every printed module's parameters and buffers,
whether or not its forward runs, and those its recipe declares (see ``graph.State``)."""

from __future__ import annotations

from typing import Any

from ..errors import ConvcalcError, ParseError
from ..registry import not_modelled
from ..spec.nodes import SEQUENTIAL_TYPES, LayerNode, Node, build_at
from .graph import State, join_path
from .interpret import ModuleRef



def collect_state(tracer: Any, root: Node, traced: bool) -> State:
    """The state of the module tree ``root``; ``traced``: the forward ran (so modules it did
    not reach are listed in ``not_run``)."""
    state = State()
    _walk(tracer, root, "", state, traced)
    for path, declared in tracer.declared.items():  # a recipe may declare its children's too
        prefix = f"{path}." if path else ""
        state.params.update({prefix + k: v for k, v in declared.params.items()})
        state.buffers.update({prefix + k: v for k, v in declared.buffers.items()})
    return state


def _walk(tracer: Any, node: Node, path: str, state: State, traced: bool, run: bool = True) -> None:
    """``run``: the module runs in eval mode (not an auxiliary head a recipe lists as unused)."""
    printed = node
    try:
        node = tracer.resolve(node, path)
    except ParseError:
        if isinstance(node, LayerNode) or node.children:
            raise
        # a leaf refused by its name (SAM's LayerNorm2d(), not the recipe's subclass of nn.LayerNorm)
        state.unknown.append(f"{path or 'the network'} ({node.type_name}: not the class its name's recipe is for)")
        return
    if (isinstance(node, LayerNode) and not isinstance(printed, LayerNode) and printed.type_name != node.cls.__name__
            and tracer.recipes.find(printed.type_name) is None and printed.type_name not in state.own_classes):
        state.own_classes.append(printed.type_name)  # read as a torch layer by its name: its own extras never print
    if isinstance(node, LayerNode):
        layer = tracer.built_layers.get(path) or node.layer
        if layer is None:
            try:
                layer = build_at(node.cls, node.kwargs, node.source, None, path)
            except ConvcalcError:
                state.unknown.append(f"{path or 'the network'} ({node.cls.__name__}: its input shape is needed)")
                return
        prefix = f"{path}." if path else ""
        params, buffers = layer.param_shapes(), layer.buffer_shapes()
        state.params.update({prefix + k: tuple(v) for k, v in params.items()})
        state.buffers.update({prefix + k: tuple(v) for k, v in buffers.items()})
        state.roles.update({prefix + k: role for k, role in layer.state_roles().items()})
        replaced = any(path.startswith(p + ".") for p in tracer.overrides)  # a declared layer ran instead
        if traced and params and path not in tracer.ran and not replaced:
            state.not_run.append(path)
        return
    recipe = tracer.recipe_of(node)
    if recipe is not None:
        tracer.library_block(recipe, node, path)
    if recipe is not None and recipe.init:
        made = dict(tracer.assumptions)
        try:
            tracer.declare(recipe, ModuleRef(node, path, 0, ()))
        except ConvcalcError as exc:  # a class of that name with other children: not the recipe's
            tracer.assumptions = made  # what that recipe assumed is not this module's
            state.unknown.append(f"{path or 'the network'} ({node.type_name}: its recipe does not fit it: {exc})")
    elif not node.children and node.args is not None and (recipe is None or recipe.base):
        why = not_modelled(node.type_name) or "not a torch.nn layer, no recipe"
        state.unknown.append(f"{path or 'the network'} ({node.type_name}: {why})")
    elif (recipe is None and node.children and run and node.written and not node.residual
          and node.type_name not in SEQUENTIAL_TYPES and node.type_name not in state.own_classes):
        state.own_classes.append(node.type_name)  # a class of one's own: its own parameters never print
    if recipe is not None and recipe.hidden_parameters:
        state.unknown.append(f"{path or 'the network'} ({node.type_name}: {recipe.hidden_parameters})")
    for name, child in node.children:
        _walk(tracer, child, join_path(path, name), state, traced, run and not (recipe and name in recipe.unused))
