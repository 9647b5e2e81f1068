"""What each layer declares about itself (layers.base.Layer's class attributes and methods), and
that the rest of convcalc acts on those declarations: the network's memory figures and flatten
placement, what explain and show accept, and the receptive field each size rule carries."""

from __future__ import annotations

import numpy as np
import pytest

from convcalc import parse_network
from convcalc.arith import ConvRule, FixedRule, PadRule, ScaleRule, TransposedRule, UnpoolRule
from convcalc.errors import ConfigError, ConvcalcError
from convcalc.layers.activation import ReLU
from convcalc.layers.linear import Identity
from convcalc.registry import layer_classes
from convcalc.teach.explain import EXPLAINED_WINDOWS, check_explainable, explainable
from convcalc.teach.show import check_drawable

NAMES = sorted(layer_classes())
WINDOWS = ("conv", "transposed", "max", "avg", "lp")

# A value for every required constructor argument of a registered layer.
SAMPLE_ARGS = dict(
    dim=1, downscale_factor=2, groups=2, embed_dim=4, embedding_dim=3, in1_features=3, in2_features=2, in_channels=4,
    in_features=4, kernel_size=2, norm_type=2, normalized_shape=(4,), num_channels=4,
    num_embeddings=5, num_features=4, num_groups=2, num_heads=2, out_channels=4, out_features=3, output_size=2,
    padding=1, size=3, threshold=0.5, unflattened_size=(2, 2), upscale_factor=2, value=0.0,
)


def sample(cls):
    """An instance of ``cls`` built from SAMPLE_ARGS (upsampling by 2 where a size is optional)."""
    kwargs = {spec.name: SAMPLE_ARGS[spec.name] for spec in cls.arg_specs() if spec.required}
    if any(spec.name == "scale_factor" for spec in cls.arg_specs()):
        kwargs["scale_factor"] = 2
    return cls(**kwargs)


def sample_input(layer):
    """A float input of a shape the layer takes: (N, C=4, 4, ...), 4 for each spatial dim (two
    where the layer does not say)."""
    shape = (2, 4, *(4,) * (layer.nd or 2))
    if hasattr(layer, "in_features"):
        shape = (2, layer.in_features)
    return np.random.default_rng(0).standard_normal(shape)


# -- window kinds: explain and show --------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_window_kind_is_known_and_matches_explain_and_show(name):
    cls = layer_classes()[name]
    assert cls.window in ("", *WINDOWS)
    assert explainable(cls) == (cls.window in EXPLAINED_WINDOWS)
    if cls.window and cls.nd in (1, 2):
        check_drawable(cls)
    else:
        with pytest.raises(ConfigError, match=f"{cls.__name__} is not one"):
            check_drawable(cls)


@pytest.mark.parametrize("name", [n for n in NAMES if layer_classes()[n].window])
def test_a_windowed_layer_slides_its_window_by_its_size_rules(name):
    layer = sample(layer_classes()[name])
    rule_type = TransposedRule if layer.window == "transposed" else ConvRule
    rules = layer.rules()
    assert len(rules) == layer.nd and all(type(rule) is rule_type for rule in rules)


def test_every_explainable_window_has_layers_and_the_message_lists_them_in_order():
    classes = layer_classes().values()
    assert {cls.window for cls in classes} >= set(EXPLAINED_WINDOWS)
    with pytest.raises(ConvcalcError) as error:
        check_explainable(sample(layer_classes()["linear"]))
    assert str(error.value) == (
        "explain cannot take Linear apart; it explains Conv1d, Conv2d, Conv3d, ConvTranspose1d, "
        "ConvTranspose2d, ConvTranspose3d, MaxPool1d, MaxPool2d, MaxPool3d, AvgPool1d, AvgPool2d, "
        "AvgPool3d"
    )


def _completed_layers(command):
    import typer

    from convcalc.cli.app import app

    group = typer.main.get_command(app)
    sub = group.get_command(typer.Context(group), command)
    argument = next(param for param in sub.params if param.name == "layer")
    return [item.value for item in argument.shell_complete(typer.Context(sub), "")]


def test_completions_follow_the_declared_windows():
    table = layer_classes()
    assert _completed_layers("explain") == [name for name, cls in table.items() if explainable(cls)]
    assert _completed_layers("show") == [name for name, cls in table.items() if cls.window and cls.nd in (1, 2)]


# -- views and element-wise layers: the network's memory and its inserted flattens ---------------


@pytest.mark.parametrize("name", NAMES)
def test_a_layer_declared_a_view_returns_its_input_or_a_view_of_it(name):
    layer = sample(layer_classes()[name])
    if layer.integer_input or name == "bilinear":
        return
    x = sample_input(layer)
    try:
        y = layer.forward(x, {key: np.ones(shape) for key, shape in {**layer.param_shapes(), **layer.buffer_shapes()}.items()})
    except ConvcalcError:
        return  # the sample input does not fit this layer; the declaration is checked elsewhere
    if isinstance(y, tuple):
        y = y[0]
    assert layer.output_is_view == np.shares_memory(x, y), name
    if layer.elementwise and not name.startswith("glu"):
        assert y.shape == x.shape, name


def test_memory_follows_the_declared_view(monkeypatch):
    text = "input 1x4x8x8\nconv2d --out 4 -k 3 -p 1\nrelu\nconv2d --out 4 -k 3 -p 1"
    before = parse_network(text).summary().totals.activation_bytes
    monkeypatch.setattr(ReLU, "output_is_view", True)
    after = parse_network(text).summary().totals.activation_bytes
    assert before - after == 4 * 8 * 8 * 4  # the relu's output no longer counts


def test_inplace_layers_share_their_input():
    assert sample(layer_classes()["relu"]).shares_input() is False
    assert layer_classes()["relu"](inplace=True).shares_input() is True
    assert layer_classes()["dropout"]().shares_input() is True


CLASSIFIER = """Net(
  (conv): Conv2d(2, 2, kernel_size=(1, 1), stride=(1, 1))
  (classifier): Sequential(
    (0): Identity()
    (1): Linear(in_features=18, out_features=4, bias=True)
  )
)"""


def test_the_inserted_flatten_goes_before_element_wise_layers_only(monkeypatch):
    def names():
        return [row.name for row in parse_network(CLASSIFIER).summary((1, 2, 3, 3)).rows]

    assert names() == ["conv", "flatten", "classifier.0", "classifier.1"]
    monkeypatch.setattr(Identity, "elementwise", False)
    assert names() == ["conv", "classifier.0", "classifier.flatten", "classifier.1"]


# -- receptive fields: each size rule's step, and what the layer adds ----------------------------


def _field(text):
    rows = parse_network(text).summary().rows
    return [(row.receptive_field[0].size, row.receptive_field[0].jump) if row.receptive_field else None for row in rows]


def test_every_size_rule_carries_a_receptive_field():
    taps = lambda size_in, size_out: 2  # noqa: E731
    assert ConvRule(3, 2).receptive_step(1, 1, 9, 4, taps) == (3, 2)
    assert TransposedRule(3, 1).receptive_step(1, 2, 4, 6, taps) == (5, 2)
    assert UnpoolRule(2, 2).receptive_step(1, 2, 4, 8, taps) == (2, 1)
    assert PadRule(1, 1).receptive_step(3, 2, 4, 6, taps) == (3, 2)
    assert FixedRule(5).receptive_step(1, 1, 10, 5, taps) == (3, 2)
    assert ScaleRule(0.5).receptive_step(1, 1, 10, 5, taps) == (3, 2)
    assert ScaleRule(0.0).receptive_step(1, 1, 10, 0, taps) is None
    assert FixedRule(0).receptive_step(1, 1, 10, 0, taps) is None


def test_interpolation_taps_widen_the_receptive_field():
    base = "input 1x1x4x4\nconv2d --out 1 -k 3 -p 1\n"
    assert _field(base + "upsample --scale-factor 2")[-1] == (3, 0.5)
    assert _field(base + "upsample --scale-factor 2 --mode bilinear")[-1] == (4, 0.5)
    assert _field(base + "upsample --scale-factor 2 --mode bicubic")[-1] == (6, 0.5)
    assert _field(base + "upsample --size 8 --mode bicubic")[-1] == (6, 0.5)


def test_an_adaptive_pool_sees_its_widest_window():
    assert _field("input 1x1x10\nadaptiveavgpool1d 4")[-1] == (3, 2.5)
    assert _field("input 1x1x12\nadaptivemaxpool1d 4")[-1] == (3, 3)
    assert _field("input 1x1x12\npixelshuffle 1\nzeropad1d 2")[-1] is None  # no spatial rule for a 3-D shuffle


def test_a_layer_without_taps_passes_the_field_through_a_set_size():
    assert _field("input 1x4x6x6\nconv2d --out 4 -k 3\npixelshuffle 2")[-1] == (3, 0.5)


# -- parameter roles: torch-like initial values for --fill-weights ------------------------------

ROLES = ("fan_in", "ones", "zeros", "variance", "slope", "count")


@pytest.mark.parametrize("name", NAMES)
def test_every_parameter_and_buffer_has_a_declared_role(name):
    layer = sample(layer_classes()[name])
    roles = layer.state_roles()
    assert set(roles) == {*layer.param_shapes(), *layer.buffer_shapes()}
    assert all(role in ROLES for role in roles.values()), roles


def test_the_declared_roles_decide_the_initial_values():
    from convcalc.tensors.fill import make_params, make_rng

    shapes = {"gamma": (3,), "beta": (3,), "weight": (2, 4), "steps": ()}
    roles = {"gamma": "ones", "beta": "zeros", "weight": "fan_in", "steps": "count"}
    params = make_params(shapes, "uniform", make_rng(0), roles=roles)
    assert params["gamma"].tolist() == [1, 1, 1] and params["beta"].tolist() == [0, 0, 0]
    assert np.abs(params["weight"]).max() <= 0.5 and params["steps"].dtype == np.int64
    # Without roles the names say nothing: every tensor takes the fill as written.
    assert make_params(shapes, "ones")["beta"].tolist() == [1, 1, 1]


def test_a_network_run_fills_by_the_layers_roles():
    from convcalc.network.execute import state_dict_shapes, state_roles
    from convcalc.tensors.fill import make_params, make_rng

    trace = parse_network("input 1x2x5x5\nconv2d --out 3 -k 3\nbatchnorm2d\nprelu 3").trace()
    roles = state_roles(trace)
    assert roles == {
        "0.weight": "fan_in", "0.bias": "fan_in", "1.weight": "ones", "1.bias": "zeros",
        "1.running_mean": "zeros", "1.running_var": "variance", "1.num_batches_tracked": "count",
        "2.weight": "slope",
    }
    params = make_params(state_dict_shapes(trace), "normal", make_rng(0), roles=roles)
    assert params["2.weight"].tolist() == [0.25] * 3 and params["1.running_var"].tolist() == [1] * 3
