"""What a lowering does, read from the source code of the backends' tables. For ONNX, the operator
types an op's lowering can emit: the op's entry in the ONNX tables (the function registered for
its class, or the nearest ancestor, with `@lowering.register(Cls)` in dslc/backends/onnx/, and
its --fuse entry `@fused.register`) and every dslc function, op method or per-class helper (a
`singledispatch` function, resolved for the op's class) it calls, following the calls. Each
`b.node(OP_TYPE, ...)` contributes OP_TYPE (with a `domain=`: onnxruntime's contrib
`com.microsoft.OP_TYPE`, emitted under --fuse): a string literal, a class variable of the op
(`op.onnx_type`, `op.kind.upper()`), a parameter bound at a call site, a local name assigned
from those, or a loop over literals. Nothing is imported to do it (neither onnx nor the backend
modules), so `dslc ops` stays as light as `dslc check`; the list is every type any option can
emit (a union over branches), never a hand-written list.
tests/test_reference.py lowers the spec catalogues and a spec of the other ops (every op at
least once) and requires every node emitted for an op to be of a type listed for it."""
from __future__ import annotations

import ast
import inspect
from functools import lru_cache
from pathlib import Path

_PACKAGE = Path(__file__).resolve().parents[1]
_SELF = object()          # the value the op has inside its own methods and its lowerings
UNRESOLVED = "?"          # a `b.node` whose op type the scan cannot read
# the standard table and the --fuse dialect
_TABLES = (("dslc.backends.onnx.table", "lowering"), ("dslc.backends.onnx.table", "fused"))


def onnx_op_types(op_cls) -> tuple[str, ...]:
    """The sorted ONNX op types `op_cls`'s lowering can emit (UNRESOLVED among them if one
    could not be read); () for an op without an ONNX lowering."""
    types: set[str] = set()
    for table in _TABLES:
        scan(op_cls, table, types)
    return tuple(sorted(types))


def scan(op_cls, table: tuple[str, str], types: set | None = None,
         refusals: set | None = None) -> bool:
    """Read the entry `op_cls` takes in `table` (module, name of a backend's singledispatch
    table), and every function it calls, into `types` (ONNX op types of `b.node` calls) and
    `refusals` (the text of each `raise Unsupported(...)`, a placeholder `{…}` for what an
    f-string fills in). False when the op has no entry."""
    found = _registered(table, op_cls.__mro__)
    if found is None:
        return False
    module, fn = found
    env = {fn.args.args[0].arg: _SELF}
    if table in _CONTEXTS and len(fn.args.args) > 1:        # torch-src's `c`: its methods too
        env[fn.args.args[1].arg] = _Instance(*_CONTEXTS[table])
    _Scan(op_cls, set() if types is None else types, refusals).function(module, fn, None, env)
    return True


class _Instance:
    """An object of a dslc class (module, class name) passed to the entries: calls of its
    methods are followed like any function's."""

    def __init__(self, module: str, name: str):
        self.module, self.name = module, name

    def method(self, name: str):
        for node in _module(self.module).body:
            if isinstance(node, ast.ClassDef) and node.name == self.name:
                return next(((self.module, f) for f in node.body
                             if isinstance(f, ast.FunctionDef) and f.name == name), None)
        return None


# the table -> the class of the context its entries take as their second argument
_CONTEXTS = {("dslc.backends.torch_src.table", "source"): ("dslc.backends.torch_src.writer", "_Ctx")}


def _registered(dispatcher: tuple[str, str], mro) -> tuple[str, ast.FunctionDef] | None:
    """The function registered on `dispatcher` for the first class of `mro` that has one."""
    table = _registrations(dispatcher[0].rsplit(".", 1)[0])
    for klass in mro:
        found = table.get((dispatcher, (klass.__module__, klass.__name__)))
        if found:
            return found
    return None


@lru_cache(maxsize=None)
def _registrations(package: str) -> dict:
    """((dispatcher module, name), (class module, name)) -> (module, FunctionDef) for every
    `@D.register(Cls)` function of a backend package (dslc.backends.onnx)."""
    out = {}
    for path in sorted(_PACKAGE.joinpath(*package.split(".")[1:]).glob("*.py")):
        module = f"{package}.{path.stem}"
        names = _imports(module, _module(module))
        for fn in _module(module).body:
            if not isinstance(fn, ast.FunctionDef):
                continue
            for deco in fn.decorator_list:
                if isinstance(deco, ast.Call) and isinstance(deco.func, ast.Attribute) \
                        and deco.func.attr == "register" and isinstance(deco.func.value, ast.Name):
                    disp, cls = deco.func.value.id, deco.args[0].id
                    out[(names.get(disp, (module, disp)), names.get(cls, (module, cls)))] = (module, fn)
    return out


def _dispatcher(module: str, name: str) -> tuple[str, str] | None:
    """(module, name) of the singledispatch function `name` means in `module`, or None."""
    found = _function(module, name)
    if found and any(isinstance(d, ast.Name) and d.id == "singledispatch"
                     for d in found[1].decorator_list):
        return found[0], found[1].name
    return None


@lru_cache(maxsize=None)
def _module(name: str) -> ast.Module:
    parts = name.split(".")[1:]
    path = _PACKAGE.joinpath(*parts).with_suffix(".py")
    if not path.exists():
        path = _PACKAGE.joinpath(*parts, "__init__.py")
    return ast.parse(path.read_text(encoding="utf-8"))


def _method(cls, name: str, after: type | None = None):
    """(module name, FunctionDef, defining class) of the method `name` as the class's MRO
    resolves it; `after`: the search starts past that class (`super().name`)."""
    mro = cls.__mro__
    if after is not None:
        mro = mro[mro.index(after) + 1:] if after in mro else ()
    for klass in mro:
        if name in vars(klass) and inspect.isfunction(vars(klass)[name]):
            tree = _module(klass.__module__)
            for node in ast.walk(tree):
                if isinstance(node, ast.ClassDef) and node.name == klass.__name__:
                    for item in node.body:
                        if isinstance(item, ast.FunctionDef) and item.name == name:
                            return klass.__module__, item, klass
            return None
    return None


def _absolute(module: str, imp: ast.ImportFrom) -> str:
    base = module.split(".")[:len(module.split(".")) - imp.level] if imp.level else []
    return ".".join(base + ([imp.module] if imp.module else []))


def _imports(module: str, scope) -> dict[str, tuple[str, str]]:
    """name -> (module, name) for the `from X import name` statements directly in `scope`."""
    out = {}
    for node in ast.walk(scope) if isinstance(scope, ast.FunctionDef) else scope.body:
        if isinstance(node, ast.ImportFrom):
            target = _absolute(module, node)
            if target.split(".")[0] == "dslc":
                out.update({a.asname or a.name: (target, a.name) for a in node.names})
    return out


def _function(module: str, name: str):
    for node in _module(module).body:
        if isinstance(node, ast.FunctionDef) and node.name == name:
            return module, node
    origin = _imports(module, _module(module)).get(name)
    return _function(*origin) if origin else None


def _refusals(fn: ast.FunctionDef) -> set[str]:
    """The message of each `raise Unsupported(...)` in `fn` (f-string holes as `{…}`)."""
    out = set()
    for node in ast.walk(fn):
        if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call) \
                and getattr(node.exc.func, "id", None) == "Unsupported" and node.exc.args:
            arg = node.exc.args[0]
            parts = arg.values if isinstance(arg, ast.JoinedStr) else [arg]
            out.add("".join(p.value if isinstance(p, ast.Constant) and isinstance(p.value, str)
                            else "{…}" for p in parts))
    return out


def _is_super(e) -> bool:
    return isinstance(e, ast.Call) and isinstance(e.func, ast.Name) and e.func.id == "super" \
        and not e.args


class _Scan:
    def __init__(self, op_cls, types: set[str], refusals: set[str] | None = None):
        self.op_cls, self.types, self.seen = op_cls, types, set()
        self.refusals = set() if refusals is None else refusals

    def function(self, module: str, fn: ast.FunctionDef, owner, env: dict) -> None:
        """Scan `fn` (defined in the class `owner`, or None for a module function)."""
        key = (module, fn.lineno, fn.name, tuple(sorted((k, repr(v)) for k, v in env.items())))
        if key in self.seen:
            return
        self.seen.add(key)
        env = dict(env)
        self.assignments(fn, env)
        local = {n.name: n for n in fn.body if isinstance(n, ast.FunctionDef)}
        imported = _imports(module, fn)
        called = set()
        for call in self.calls(fn):
            callee = call.func
            if isinstance(callee, ast.Attribute) and callee.attr == "node" and call.args:
                found = self.value(call.args[0], env) or {UNRESOLVED}
                if any(kw.arg == "domain" for kw in call.keywords):      # --fuse's contrib ops
                    found = {f"com.microsoft.{t} (--fuse)" for t in found}
                self.types.update(found)
            elif isinstance(callee, ast.Attribute) and \
                    isinstance(ctx := self.value(callee.value, env), _Instance):
                found = ctx.method(callee.attr)
                if found:
                    self.function(*found, None, {**self.bind(found[1], call, env, method=True),
                                                 "self": ctx})
            elif isinstance(callee, ast.Attribute) and self.value(callee.value, env) is _SELF:
                found = _method(self.op_cls, callee.attr)
                if found:
                    self.function(*found, self.bind(found[1], call, env, method=True))
            elif isinstance(callee, ast.Attribute) and _is_super(callee.value) and owner:
                found = _method(self.op_cls, callee.attr, after=owner)
                if found:
                    self.function(*found, self.bind(found[1], call, env, method=True))
            elif isinstance(callee, ast.Call) and isinstance(callee.func, ast.Attribute) \
                    and callee.func.attr == "dispatch":      # `lowering.dispatch(Base)(op, ...)`
                self.dispatched(module, callee.func.value, call, env, after=callee.args[0])
            elif isinstance(callee, ast.Name) and _dispatcher(module, callee.id):
                self.dispatched(module, callee, call, env)
            elif isinstance(callee, ast.Name):
                if callee.id in local:
                    called.add(callee.id)
                    self.function(module, local[callee.id], owner,
                                  self.bind(local[callee.id], call, env))
                    continue
                found = (_function(*imported[callee.id]) if callee.id in imported
                         else _function(module, callee.id))
                if found:
                    self.function(*found, None, self.bind(found[1], call, env))
        for name in local.keys() - called:      # a nested helper passed along, not called here
            self.function(module, local[name], owner, env)
        self.refusals.update(_refusals(fn))

    def dispatched(self, module: str, name: ast.Name, call: ast.Call, env: dict, after=None):
        """A call of a singledispatch function on the op: the entry for the op's class (or,
        `after` a class named in the module, for that class's MRO)."""
        disp = _dispatcher(module, name.id) or _imports(module, _module(module)).get(name.id)
        mro = self.op_cls.__mro__
        if after is not None:
            origin = _imports(module, _module(module)).get(after.id, (module, after.id))
            keys = [(k.__module__, k.__name__) for k in mro]
            mro = mro[keys.index(origin):] if origin in keys else ()
        found = _registered(disp, mro) if disp else None
        if found:
            self.function(*found, None, self.bind(found[1], call, env))

    @staticmethod
    def calls(fn: ast.FunctionDef):
        """The calls in `fn`'s own body (not inside nested functions)."""
        todo = list(fn.body)
        while todo:
            node = todo.pop(0)
            if isinstance(node, (ast.FunctionDef, ast.Lambda)):
                continue
            if isinstance(node, ast.Call):
                yield node
            todo.extend(ast.iter_child_nodes(node))

    def assignments(self, fn: ast.FunctionDef, env: dict) -> None:
        """Local names bound to readable values: `x = ...`, `a, b = p, q`, `for x in (...)`."""
        for node in ast.walk(fn):
            pairs = []
            if isinstance(node, ast.Assign):
                for target in node.targets:
                    if isinstance(target, ast.Tuple) and isinstance(node.value, ast.Tuple):
                        pairs += zip(target.elts, node.value.elts)
                    else:
                        pairs.append((target, node.value))
            elif isinstance(node, ast.For) and isinstance(node.iter, (ast.Tuple, ast.List)):
                found = [self.value(e, env) for e in node.iter.elts]
                if all(isinstance(v, set) for v in found):
                    env[getattr(node.target, "id", "")] = set().union(*found)
            for target, value in pairs:
                v = self.value(value, env)
                if isinstance(target, ast.Name) and v is not None:
                    env[target.id] = env.get(target.id, set()) | v if isinstance(v, set) else v

    def bind(self, fn: ast.FunctionDef, call: ast.Call, env: dict, method: bool = False) -> dict:
        params = [a.arg for a in fn.args.posonlyargs + fn.args.args + fn.args.kwonlyargs]
        bound = {"self": _SELF} if method else {}
        for name, arg in zip(params[1:] if method else params, call.args):
            bound[name] = self.value(arg, env)
        for kw in call.keywords:
            if kw.arg:
                bound[kw.arg] = self.value(kw.value, env)
        return {k: v for k, v in bound.items() if v is not None}

    def value(self, e, env):
        """The set of strings `e` can be, _SELF, or None when unreadable."""
        if isinstance(e, ast.Constant):
            return {e.value} if isinstance(e.value, str) else None
        if isinstance(e, ast.Name):
            return env.get(e.id)
        if isinstance(e, ast.Attribute) and self.value(e.value, env) is _SELF:
            v = getattr(self.op_cls, e.attr, None)
            return {v} if isinstance(v, str) else None
        if isinstance(e, ast.Call) and isinstance(e.func, ast.Attribute) and e.func.attr == "upper":
            v = self.value(e.func.value, env)
            return {s.upper() for s in v} if isinstance(v, set) else None
        if isinstance(e, ast.IfExp):
            a, b = self.value(e.body, env), self.value(e.orelse, env)
            return a | b if isinstance(a, set) and isinstance(b, set) else None
        if isinstance(e, ast.Subscript) and isinstance(e.value, ast.Dict):
            found = [self.value(v, env) for v in e.value.values]
            return set().union(*found) if all(isinstance(v, set) for v in found) else None
        return None
