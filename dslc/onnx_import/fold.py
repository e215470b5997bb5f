"""Blocks from repeated structure. Consecutive layers whose names share a dotted prefix
(`BasicUnit_1.conv2d_1`, `layer1.0.conv1`) are one block instance when they read one tensor
from outside and only their last output is read outside. Instances with the same op
sequence, hyperparameters, local names and wiring are calls of one block (named after a call
dslc named, `Encoder_1`, where one is, else after the first); a run of such
calls, each feeding the next, whose names are the ones dslc gives (`BasicUnit_1`, `_2`, ...)
is written `Block * n`. A call whose every parameter is the same layer's of an earlier call is
`Block(tie=first)` (ties.py)."""
from __future__ import annotations

import copy
import re
from dataclasses import dataclass

from .emit import LayerItem, Scope, call, ident, ref
from .ties import local_ties, tied_call

PATTERNS = {2: "N, F", 3: "N, C, L", 4: "N, C, H, W", 5: "N, C, D, H, W"}


def scope_of(layer) -> str | None:
    return layer.name.rsplit(".", 1)[0] if layer.name and "." in layer.name else None


@dataclass
class Block:
    name: str
    rank: int
    signature: tuple
    first: list            # the layers of its first instance: the body is written from these

    def text(self, outer=None) -> str:
        """The block's text; `outer` is the model's Namer (the names of the layers it ties)."""
        scope = scope_of(self.first[0])
        items = [LayerItem(l, l.name[len(scope) + 1:]) for l in self.first]
        body = Scope(items, {_external(self.first): "x"}, {}, result=self.first[-1].outputs[0])
        body.namer.prefix, body.namer.outer = scope + ".", outer
        pattern = PATTERNS.get(self.rank) or ", ".join(f"D{i}" for i in range(self.rank))
        return "\n".join([f"block {self.name}(x: [{pattern}]) {{", *body.render(), "}"])


class CallItem:
    """Calls of one block, each instance feeding the next: `Block`, `Block * n`, or
    `Block(name=...)` for an instance whose graph name is not dslc's; `tie` is the graph name
    of the call whose parameters they use."""
    pipeable = True
    infix_head = False

    def __init__(self, block: Block, instances: list[list], tie: str | None):
        self.block, self.instances, self.tie = block, instances, tie
        self.inputs = [_external(instances[0])]
        self.outputs = [instances[-1][-1].outputs[0]]
        self.layers = [l for inst in instances for l in inst]

    def piped(self, namer, refs=None) -> str:
        kind, wanted = self.block.name, [scope_of(inst[0]) for inst in self.instances]
        kw = {"tie": ref(namer.spec(self.tie))} if self.tie else {}
        trial = copy.deepcopy(namer)
        if len(wanted) > 1 and all(trial.peek(kind) == w and trial.auto(kind) for w in wanted):
            for _ in wanted:
                namer.auto(kind)
            return f"{call(kind, kwargs=kw)} * {len(wanted)}"
        return " -> ".join(call(kind, kwargs=kw, name=namer.choose(kind, w)) for w in wanted)

    primary = 1

    def head(self, namer, ops, refs=None) -> str:
        return f"{ops[0]} -> {self.piped(namer)}"


def _external(layers) -> str | None:
    made = {o for l in layers for o in l.outputs}
    outside = {v for l in layers for v in l.inputs if v not in made}
    return outside.pop() if len(outside) == 1 else None


def _closed(layers, uses) -> bool:
    """One tensor read from outside; only the last layer's output read outside."""
    if len(layers) < 2 or _external(layers) is None or len(layers[-1].outputs) != 1:
        return False
    inside = [v for l in layers for v in l.inputs]
    return all(uses(o) == inside.count(o) for l in layers[:-1] for o in l.outputs)


def _signature(layers, ties=True) -> tuple:
    scope, x = scope_of(layers[0]), _external(layers)
    where = {o: (i, k) for i, l in enumerate(layers) for k, o in enumerate(l.outputs)}
    return tuple((l.kind, tuple(tuple(a) if isinstance(a, list) else a for a in l.args),
                  tuple(sorted(l.kwargs.items())), l.infix,
                  l.name[len(scope) + 1:], tuple("x" if v == x else where[v] for v in l.inputs),
                  local_ties(l, scope) if ties else ()) for l in layers)


def _runs(layers):
    run = []
    for l in layers:
        if run and scope_of(l) != scope_of(run[0]):
            yield run
            run = []
        run.append(l)
    if run:
        yield run


def fold(layers, uses, ranks) -> tuple[list, list[Block]]:
    """(statement items: LayerItems and CallItems, the blocks they call)."""
    blocks: dict[tuple, Block] = {}
    taken: set[str] = set()
    items: list = []
    calls: list = []            # (block, instance) of each call so far
    for run in _runs(layers):
        scope = scope_of(run[0])
        simple = not any(isinstance(a, str) for l in run for a in l.args)  # no symbols inside
        x = _external(run)
        if scope is None or not simple or not _closed(run, uses) or x not in ranks:
            items += [LayerItem(l, l.name) for l in run]
            continue
        bare = (ranks[x], _signature(run, ties=False))
        owner = next(((b, r) for b, r in calls if (b.rank, _signature(r, ties=False)) == bare
                      and tied_call(run, r)), None)
        sig = (ranks[x], _signature(run))
        if owner is None and sig not in blocks:
            blocks[sig] = Block("", ranks[x], sig, run)
        block, tie = (owner[0], scope_of(owner[1][0])) if owner else (blocks[sig], None)
        calls.append((block, run))
        last = items[-1] if items else None
        if isinstance(last, CallItem) and last.block is block and last.tie == tie and \
                last.outputs[0] == x and uses(x) == sum(l.inputs.count(x) for l in run):
            last.instances.append(run)
            last.outputs, last.layers = [run[-1].outputs[0]], last.layers + run
        else:
            items.append(CallItem(block, [run], tie))
    for block in blocks.values():       # named as dslc names its calls (`Tower_1`), if one is
        scopes = [scope_of(r[0]) for b, r in calls if b is block]
        block.name = _block_name(next((s for s in scopes if re.fullmatch(r".*_\d+", s)),
                                      scopes[0]), taken)
    return items, list(blocks.values())


def _block_name(scope: str, taken: set[str]) -> str:
    parts = [p for p in scope.split(".") if not p.isdigit()] or ["block"]
    base = re.sub(r"[^0-9A-Za-z_]", "_", re.sub(r"_\d+$", "", parts[-1]))
    base = base[:1].upper() + base[1:] if base and not base[0].isdigit() else f"Block{base}"
    name, i = base, 1
    while name in taken or not ident(name):
        i += 1
        name = f"{base}{i}"
    taken.add(name)
    return name
