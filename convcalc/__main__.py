"""``python -m convcalc`` runs the CLI."""

from .cli.app import run

run()
