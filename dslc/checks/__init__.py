"""Checks over the IR and what meets it: sizes proved positive over the symbols' domain, memory
before allocation, and model inputs against the spec (guards)."""
