"""Two summaries compared row by row: which rows change (shapes, parameters, MACs, memory), which
are only in one of them, and how the totals move.

Rows are matched by name: the module path ``state_dict`` uses (``layer1.0.conv1``), with
``#2``, ``#3``, … for a module's later calls, so a network against itself at another input size
matches every row, and two versions of a model match where their module paths agree.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .summary import Row, Summary

# The row fields compared, as JSON names them, and how a person reads them.
ROW_FIELDS = {
    "type": "type",
    "layer": "layer",
    "input_shape": "input",
    "output_shape": "output",
    "params": "params",
    "macs": "MACs",
    "output_bytes": "memory",
}
# The totals compared: JSON name -> label.
TOTAL_FIELDS = {
    "params": "params",
    "trainable_params": "trainable params",
    "buffers": "buffers",
    "macs": "MACs",
    "flops": "FLOPs",
    "activation_bytes": "activations",
    "param_bytes": "params memory",
    "buffer_bytes": "buffers memory",
    "peak_memory_bytes": "peak inference memory",
}


@dataclass
class RowDiff:
    """One row that differs: ``status`` is ``"changed"``, ``"only_a"`` or ``"only_b"``;
    ``changes`` names the fields of ROW_FIELDS whose values differ (none for a row only in one)."""

    name: str
    status: str
    a: Row | None
    b: Row | None
    changes: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "status": self.status, "changes": list(self.changes),
                "a": _row_json(self.a), "b": _row_json(self.b)}


@dataclass
class TotalDiff:
    """One total in both summaries; ``relative`` is the change over A's value (None from 0)."""

    name: str
    a: int | None
    b: int | None

    @property
    def delta(self) -> int | None:
        return None if self.a is None or self.b is None else self.b - self.a

    @property
    def relative(self) -> float | None:
        delta = self.delta
        return None if delta is None or not self.a else delta / self.a

    def to_json(self) -> dict[str, Any]:
        return {"a": self.a, "b": self.b, "delta": self.delta, "relative": self.relative}


@dataclass
class NetworkDiff:
    """What differs between summaries A and B (``rows`` in execution order: B's, with A's own
    rows where A has them), and every total of both."""

    a: Summary
    b: Summary
    rows: list[RowDiff]
    unchanged: int
    totals: list[TotalDiff]

    @property
    def same(self) -> bool:
        """Whether no row and no total differs (the outputs' shapes included)."""
        return (not self.rows and all(total.a == total.b for total in self.totals)
                and self.a.output_shape == self.b.output_shape)

    def to_json(self) -> dict[str, Any]:
        return {
            "matched_by": "name",
            "same": self.same,
            "a": _side_json(self.a),
            "b": _side_json(self.b),
            "rows": [row.to_json() for row in self.rows],
            "unchanged_rows": self.unchanged,
            "totals": {total.name: total.to_json() for total in self.totals},
        }


def diff_summaries(a: Summary, b: Summary) -> NetworkDiff:
    """Compare two summaries row by row (matched by name) and total by total.

    >>> from convcalc import parse_network
    >>> net = parse_network("conv2d --in 3 --out 8 -k 3\\nrelu")
    >>> diff = diff_summaries(net.summary((1, 3, 8, 8)), net.summary((1, 3, 10, 10)))
    >>> [(row.name, row.changes) for row in diff.rows]
    [('0', ('input_shape', 'output_shape', 'macs', 'output_bytes')), ('1', ('input_shape', 'output_shape', 'output_bytes'))]
    >>> diff.totals[3].a, diff.totals[3].b, round(diff.totals[3].relative, 3)
    (7776, 13824, 0.778)
    """
    rows_a = {row.key: row for row in a.rows}
    keys_b = {row.key for row in b.rows}
    found: list[RowDiff] = []
    unchanged = 0
    pending = [row for row in a.rows]  # A's rows not yet placed, in order
    for row_b in b.rows:
        row_a = rows_a.get(row_b.key)
        if row_a is None:
            found.append(RowDiff(row_b.key, "only_b", None, row_b, ()))
            continue
        while pending and pending[0] is not row_a:  # A's rows before this one that B lacks
            earlier = pending.pop(0)
            if earlier.key not in keys_b:
                found.append(RowDiff(earlier.key, "only_a", earlier, None, ()))
        if pending:
            pending.pop(0)
        changes = tuple(field for field in ROW_FIELDS if getattr(row_a, field) != getattr(row_b, field))
        if changes:
            found.append(RowDiff(row_b.key, "changed", row_a, row_b, changes))
        else:
            unchanged += 1
    found += [RowDiff(row.key, "only_a", row, None, ()) for row in pending if row.key not in keys_b]
    totals = [TotalDiff(name, getattr(a.totals, name), getattr(b.totals, name)) for name in TOTAL_FIELDS]
    return NetworkDiff(a, b, found, unchanged, totals)


def _row_json(row: Row | None) -> dict[str, Any] | None:
    if row is None:
        return None
    data = row.to_json()
    return {field: data[field] for field in ROW_FIELDS}


def _side_json(summary: Summary) -> dict[str, Any]:
    return {"input_shape": _listed(summary.input_shape), "output_shape": _listed(summary.output_shape),
            "dtype": summary.dtype}


def _listed(shape: tuple[int, ...] | None) -> list[int] | None:
    return None if shape is None else list(shape)
