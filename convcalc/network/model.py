"""A network read from a spec, and what can be asked of it: its trace (see
:mod:`convcalc.network.trace` for how modules run), its summary and its NumPy forward pass."""

from __future__ import annotations

import operator
from typing import Any, Sequence

from ..errors import ParseError
from ..layers.base import Shape
from ..shapes import as_shape
from ..single.report import dtype_bytes
from ..spec import parse_spec
from ..recipes import RecipeBook
from ..spec.nodes import ModuleNode, ParsedSpec
from .counting import OWN
from .summary import Summary, summarize
from .trace import Trace, trace_network


class Network:
    """A network parsed from a spec (see :mod:`convcalc.spec` for the forms).

    >>> net = parse_network("input 1x3x32x32\\nconv2d --out 8 -k 3 -p 1\\nconv2d --out 8 -k 3 -s 2 -p 1")
    >>> summary = net.summary()
    >>> [row.name for row in summary.rows], summary.output_shape, summary.totals.params
    (['0', '1'], (1, 8, 16, 16), 808)
    >>> str(summary.rows[1].receptive_field[0])
    '5 (jump 2)'
    """

    def __init__(self, spec: ParsedSpec) -> None:
        self.root = spec.root
        self.input_shape = spec.input_shape
        self.form = spec.form
        self.parse_notes = list(spec.notes)
        self.recipes = RecipeBook(spec.recipes)
        self.strict = False
        self.inside_model = False  # a submodule of a torchvision model (see ``module``)
        self.selected = False  # a submodule taken on its own (``module``): its parent may feed it more
        self._plans: dict[tuple, _CachedPlan] = {}  # see forward

    def with_recipes(self, text: str, origin: str) -> "Network":
        """This network with the recipes of ``text`` (a user's file) added; they take precedence."""
        self.recipes = self.recipes.adding(text, origin)
        self._plans = {}
        return self

    def module(self, path: str) -> "Network":
        """The submodule at ``path`` (``backbone.body``) as a network of its own.

        >>> net = parse_network("Net(\\n  (body): Sequential(\\n    (0): ReLU()\\n  )\\n)")
        >>> [row.name for row in net.module("body").summary((1, 2)).rows]
        ['0']
        """
        node = self.root
        walked = []
        for name in path.split("."):
            children = dict(node.children) if isinstance(node, ModuleNode) else {}
            if name not in children:
                where = ".".join(walked) or "the network"
                listed = ", ".join(list(children)[:12]) or "none"
                raise ParseError(f"--module {path}: {where} has no child {name!r} (its children: {listed})")
            node = children[name]
            walked.append(name)
        sub = Network.__new__(Network)
        sub.__dict__.update(self.__dict__)
        sub._plans = {}
        sub.selected = True
        if isinstance(self.root, ModuleNode):  # a torchvision model's submodule holds its blocks
            recipe = self.recipes.find(self.root.type_name)
            sub.inside_model = self.inside_model or bool(
                recipe and recipe.model and recipe.fits([name for name, _ in self.root.children]))
        sub.root = node if isinstance(node, ModuleNode) else ModuleNode("Sequential", [(walked[-1], node)], node.source)
        return sub

    def trace(self, input_shape: Sequence[int] | str | None = None) -> Trace:
        """Run the shapes through every step; raises a located ConvcalcError on a mismatch."""
        return trace_network(self.root, self._input(input_shape), self.parse_notes, self.recipes, self.strict,
                             self.inside_model, self.selected)

    def _input(self, input_shape: Sequence[int] | str | None) -> Shape | None:
        if input_shape is None:
            return self.input_shape
        return as_shape(input_shape)

    def summary(
        self,
        input_shape: Sequence[int] | str | None = None,
        dtype: str = "float32",
        depth: int | None = None,
        count: str = OWN,
    ) -> Summary:
        """Rows in execution order (folded to ``depth`` levels of modules, as torchinfo does:
        a module at that depth becomes one row aggregating its children) and totals; MACs in
        the ``count`` convention: convcalc's own, ``"torchinfo"`` or ``"fvcore"`` (see counting.py).

        >>> net = parse_network("Conv2d(3, 8, 3)\\nBatchNorm2d(8)")
        >>> [net.summary((1, 3, 8, 8), count=count).totals.macs for count in ("torchinfo", "fvcore")]
        [8080, 8352]
        """
        from ..shapes import parse_choice
        from .counting import COUNTS, recount

        size = dtype_bytes(dtype)
        if depth is not None and (
            isinstance(depth, bool) or not isinstance(depth, int) or depth < 1
        ):
            raise ParseError(f"--depth must be a whole number >= 1, got {depth!r}")
        summary = summarize(recount(self.trace(input_shape), parse_choice(count, "--count", COUNTS)), dtype, size, depth)
        summary.count = count
        return summary

    def training_memory(
        self,
        input_shape: Sequence[int] | str | None = None,
        dtype: str = "float32",
        depth: int | None = None,
        optimizer: str = "adam",
    ) -> tuple[Summary, Any]:
        """The summary and the memory of one training step with ``optimizer`` (sgd, momentum,
        adam or adamw): see :mod:`convcalc.network.training`.

        >>> net = parse_network("input 2x3x8x8\\nconv2d --out 4 -k 3\\nrelu")
        >>> summary, memory = net.training_memory(optimizer="adam")
        >>> memory.activation_bytes, memory.gradient_bytes, memory.optimizer_state_bytes
        (2688, 448, 896)
        """
        from .training import training_memory

        summary = self.summary(input_shape, dtype, depth)
        return summary, training_memory(self.trace(input_shape), summary, dtype_bytes(dtype), optimizer)

    def forward(
        self, x: Any, params: dict[str, Any] | None = None, *, record: bool = False, prepared: bool = True,
        fold: bool = True,
    ) -> Any:
        """The NumPy forward pass in inference mode; ``params`` are state_dict arrays.

        Returns the output, or ``(output, {step key: activation})`` with ``record`` (a module that
        runs twice, as BasicBlock's relu, has ``name`` and ``name#2``).

        The first call for an input shape and dtype and a ``params`` dict prepares a plan (see
        :mod:`convcalc.network.plan`), which later calls with that dict, holding the same arrays,
        reuse: they pay only the kernels. The plan keeps what it derived from the arrays (a
        BatchNorm folded into the convolution before it), so an array changed in place after a
        call is not seen: pass a new dict, or ``prepared=False``, which runs each layer as
        :meth:`Layer.forward` does, checks included, every call. ``fold=False`` keeps the plan
        but folds nothing; with ``record`` nothing is folded either, so every activation shown is
        its own layer's output.

        >>> import numpy as np
        >>> parse_network("Identity()").forward(np.zeros((2, 3))).shape
        (2, 3)
        """
        from ..tensors.arrays import real_array
        from .execute import run_network
        from .plan import prepare_plan
        from .trace import refuse_value_assumptions

        x = real_array(x, "Network.forward: the input")
        key = (tuple(x.shape), x.dtype.str, bool(record), bool(fold), self.strict)
        cached = self._plans.get(key) if prepared else None
        if cached is not None and cached.holds(params):
            run = cached.plan.run(x)
            return (run.output, run.activations) if record else run.output
        arrays = {key: real_array(value, f"Network.forward: the state_dict entry {key!r}")
                  for key, value in (params or {}).items()}
        trace = self.trace(tuple(x.shape))
        if self.strict:
            refuse_value_assumptions(trace.assumptions)
        if not prepared:
            run = run_network(trace, x, arrays, record=record, prepared=False)
            return (run.output, run.activations) if record else run.output
        plan, run = prepare_plan(trace, x, arrays, record=record, fold=fold)
        self._plans.pop(key, None)
        self._plans[key] = _CachedPlan(plan, params)
        while len(self._plans) > _PLANS_KEPT:
            del self._plans[next(iter(self._plans))]
        return (run.output, run.activations) if record else run.output

    def to_json(
        self,
        input_shape: Sequence[int] | str | None = None,
        dtype: str = "float32",
        depth: int | None = None,
    ) -> dict[str, Any]:
        """The summary as JSON-ready data: input and output shapes, one row per layer or step, totals."""
        return self.summary(input_shape, dtype, depth).to_json()


_PLANS_KEPT = 4  # prepared plans a network keeps (input shapes, dtypes, options), the latest


class _CachedPlan:
    """A plan with the ``params`` it was prepared for: the dict itself and its arrays are held,
    so that their identities cannot be reused by other objects while the plan is kept."""

    def __init__(self, plan: Any, params: dict[str, Any] | None) -> None:
        self.plan = plan
        self.params = params
        self.keys = tuple(params or ())
        self.values = tuple((params or {}).values())

    def holds(self, params: dict[str, Any] | None) -> bool:
        """Whether ``params`` is the dict the plan was prepared for, with the same arrays."""
        if params is None or self.params is None:
            return params is None and self.params is None
        return (params is self.params and len(params) == len(self.values) and tuple(params) == self.keys
                and all(map(operator.is_, params.values(), self.values)))


def parse_network(text: str | bytes) -> Network:
    """Parse a network spec (line form, PyTorch form, print(model) text or JSON).

    >>> parse_network("Conv2d(3, 8, 3)").summary((1, 3, 8, 8)).output_shape
    (1, 8, 6, 6)
    """
    return Network(parse_spec(text))

