"""The bounds dslc checks before it does work, so no spec hangs it or exhausts its memory.

Each is a located E307 when exceeded. Checking stays allowed for astronomically large models
(sizes are exact integers, parameter counts are not allocated); what is bounded is the work the
elaborator does per spec (layers emitted, repeats, nesting) and the sizes a backend can represent.
"""
from __future__ import annotations

MAX_NESTING = 100          # expression levels (`f(g(h(x)))`); a `->` chain of any length is not nesting
MAX_BLOCK_DEPTH = 50       # blocks calling blocks (recursion through `if` included)
MAX_REPEAT = 10_000        # `Layer * n`, and the stacked layers of one rnn/gru/lstm
MAX_LAYERS = 50_000        # layers in one model, repeats and block bodies expanded
SIZE_SEARCH = 2 ** 62      # the largest size the domain check tries when it looks for one that fits
MAX_EXPONENT = 64          # `a ** b` on numbers and sizes
MAX_DIGITS = 100           # an integer literal, a number computed from them, a layer's output size
TOO_LARGE = 10 ** MAX_DIGITS
MAX_SPEC_BYTES = 1 << 20   # a spec file or import (the largest spec under specs/ is < 20 KB)
