"""Tools over a checked program: summary tables, graphs, diffs and the generated reference."""
