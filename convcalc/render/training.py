"""``net --train``: the kept-for-backward column and the training totals, as summary extras."""

from __future__ import annotations

from ..network.summary import Summary
from ..network.training import TrainingMemory
from ..units import bytes_text, cell_bytes
from .tables import KEPT_OUT, Column, Extras


def training_extras(summary: Summary, memory: TrainingMemory, units: str = "both") -> Extras:
    """The ``kept for backward`` column (each row's activations kept for the backward pass;
    left out on a narrow terminal after the other optional columns) and the totals, in
    ``units``: kept activations, gradients, optimizer state and the step's peak (their sum
    with the weights).

    >>> from convcalc import parse_network
    >>> net = parse_network("input 1x3x8x8\\nconv2d --out 4 -k 3\\nrelu")
    >>> summary, memory = net.training_memory(optimizer="sgd")
    >>> extras = training_extras(summary, memory)
    >>> [extras.columns[0].cell(row) for row in summary.rows], extras.totals[-1]
    (['768 B', '576 B'], ('peak training memory', '3,008 B (2.9 KiB)'))
    >>> training_extras(summary, memory, "exact").totals[-1]
    ('peak training memory', '3,008 B')
    """
    kept = {id(row): value for row, value in zip(summary.rows, memory.kept)}
    column = Column("kept for backward", lambda row: cell_bytes(kept.get(id(row)), units), numeric=True,
                    exact=lambda row: kept.get(id(row)), drop_at=KEPT_OUT)
    totals = [
        ("kept for backward", bytes_text(memory.activation_bytes, units)),
        ("gradients", bytes_text(memory.gradient_bytes, units)),
        (f"optimizer state ({memory.optimizer})", bytes_text(memory.optimizer_state_bytes, units)),
        ("peak training memory", bytes_text(memory.peak_bytes, units)),
    ]
    return Extras((column,), tuple(totals))
