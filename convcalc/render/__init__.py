"""Everything a person reads: Rich renderables and the plain-text, CSV and Markdown tables.

Only the CLI's output paths import these modules (and Rich with them). Nothing here prints:
each function returns a renderable or a string for the CLI to emit.
"""

# The widest any output is drawn or measured at, in columns. Kept here rather than in layout,
# since the CLI reads it on every start.
ROOMY = 4000
