"""The ``convcalc`` command line: a thin adapter over the core.

``app`` builds the Typer application and maps errors to exit codes; ``explain`` and ``teach``
hold the teaching commands. Nothing here computes: every answer comes from the core packages,
every picture from :mod:`convcalc.render`.
"""
