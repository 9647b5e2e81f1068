"""Everything a person reads: Rich renderables and the plain-text, CSV and Markdown tables.

Only the CLI's output paths import these modules (and Rich with them). Nothing here prints:
each function returns a renderable or a string for the CLI to emit.
"""
