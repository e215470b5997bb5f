"""The bounds dslc checks before it does work, so no spec hangs it or exhausts its memory.

Each is a located E307 when exceeded. Checking stays allowed for astronomically large models
(sizes are exact integers, parameter counts are not allocated); what is bounded is the work the
elaborator does per spec (layers emitted, repeats, nesting) and the sizes a backend can represent.

MAX_LAYERS and MAX_TOKENS come from the cost curve (benchmarks/check_speed.py --growth):
checking costs about 100 us a layer and parsing 25 us a token on the 2-core machine, both
linear, so the largest spec either admits checks in about a second or two; the largest real
model under specs/ has fewer than 9,000 layers and 5,000 tokens.
"""
from __future__ import annotations

MAX_NESTING = 100          # expression levels (`f(g(h(x)))`); a `->` chain of any length is not nesting
MAX_BLOCK_DEPTH = 50       # blocks calling blocks (recursion through `if` included)
MAX_REPEAT = 10_000        # `Layer * n`, and the stacked layers of one rnn/gru/lstm
MAX_LAYERS = 10_000        # layers in one file's models, repeats and block bodies expanded
MAX_TOKENS = 60_000        # words, numbers and symbols in one file, counted before it is parsed
SIZE_SEARCH = 2 ** 62      # the largest size the domain check tries when it looks for one that fits
MAX_EXPONENT = 64          # `a ** b` on numbers and sizes
MAX_DIGITS = 100           # an integer literal, a number computed from them, a layer's output size
TOO_LARGE = 10 ** MAX_DIGITS
MAX_SPEC_BYTES = 1 << 20   # a spec file or import (the largest spec under specs/ is < 20 KB)
