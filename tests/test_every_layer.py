"""Every registered layer: its command builds, its help renders, its arguments can be parsed."""

from __future__ import annotations

from typing import Optional

import pytest

from convcalc.layers.base import ARG_PARSERS
from convcalc.registry import aliases, layer_classes, lookup

NAMES = sorted(layer_classes())



@pytest.mark.parametrize("name", NAMES)
def test_command_help_builds(cli, name):
    result = cli(name, "--help")
    assert result.code == 0, result.stderr
    assert name in result.stdout and "--input" in result.stdout


@pytest.mark.parametrize("name", NAMES)
def test_every_argument_has_a_parser(name):
    cls = layer_classes()[name]
    for spec in (*cls.arg_specs(), *cls.forward_arg_specs()):
        if spec.choices:
            assert spec.parse(spec.choices[0]) == spec.choices[0]
            continue
        assert spec.annotation in ARG_PARSERS, f"{name}: {spec.name} has no parser for {spec.annotation}"
        boolean = spec.annotation in (bool, Optional[bool])
        spec.parse("true" if boolean else "2")  # a TypeError here means a parser of the wrong signature


@pytest.mark.parametrize("name", NAMES)
def test_summary_and_lookup(name):
    cls = layer_classes()[name]
    assert cls.summary() and not cls.summary().startswith("(")
    assert lookup(cls.__name__) is cls and lookup(f"nn.{cls.__name__}") is cls


def test_aliases_point_at_layers():
    assert aliases() and all(target in layer_classes() for target in aliases().values())
