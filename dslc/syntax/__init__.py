"""Surface syntax: the Lark parser and its frozen AST with spans, imports between spec files, and
the formatter. Nothing here knows an op."""
