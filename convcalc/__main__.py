"""``python -m convcalc`` runs the CLI."""

from .cli import run

run()
