"""Elaboration: AST -> IR. Scopes, blocks and their calls, repeats, operators, `scan`, `where`
constraints and tied layers; every error of the phase collected."""
