"""``net --train``: the kept-for-backward column and the training totals, as summary extras."""

from __future__ import annotations

from ..network.summary import Summary
from ..network.training import TrainingMemory
from ..shapes import format_bytes
from .tables import Column, Extras


def training_extras(summary: Summary, memory: TrainingMemory) -> Extras:
    """The ``kept for backward`` column (each row's activations kept for the backward pass)
    and the totals: kept activations, gradients, optimizer state and the step's peak (their
    sum with the weights).

    >>> from convcalc import parse_network
    >>> net = parse_network("input 1x3x8x8\\nconv2d --out 4 -k 3\\nrelu")
    >>> summary, memory = net.training_memory(optimizer="sgd")
    >>> extras = training_extras(summary, memory)
    >>> [extras.columns[0].cell(row) for row in summary.rows], extras.totals[-1]
    (['768 B', '576 B'], ('peak training memory', '2.9 KiB'))
    """
    kept = {id(row): value for row, value in zip(summary.rows, memory.kept)}
    column = Column("kept for backward", lambda row: format_bytes(kept.get(id(row))), numeric=True,
                    exact=lambda row: kept.get(id(row)))
    totals = [
        ("kept for backward", format_bytes(memory.activation_bytes)),
        ("gradients", format_bytes(memory.gradient_bytes)),
        (f"optimizer state ({memory.optimizer})", format_bytes(memory.optimizer_state_bytes)),
        ("peak training memory", format_bytes(memory.peak_bytes)),
    ]
    return Extras((column,), tuple(totals))
