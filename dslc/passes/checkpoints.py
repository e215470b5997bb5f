"""Checkpoints: trained weights read from files by name, and renamed to a spec's names.

`read_weights(path)` reads an .npz (np.savez), a torch state_dict (.pt, .pth, .bin: read with
torch.load(weights_only=True), nothing else unpickled), a .safetensors file (the safetensors
library's numpy API: no torch needed), a sharded checkpoint by its index (the
`model.safetensors.index.json` that save_pretrained writes beside its shards), or a folder
holding one of these. Nothing is read before its size is known: an array's header (or a
safetensors header) is checked against the memory available and against the bytes the file
holds. Weights must be dense and of a dtype numpy holds (f64, f32, f16, bf16 through ml_dtypes,
integers and bools: those a spec's parameter cannot take are listed by `check_weights` as not
floating-point, as for the other formats), and finite unless allowed.

Rename rules (`rename=`, `--rename`, `--rename-file`) map a checkpoint's names onto a spec's:
each rule is `REGEX -> REPLACEMENT` in Python's re syntax (`\\1`, `\\g<name>` in the
replacement are the pattern's groups).
- A key is renamed by the first rule that matches it; the later rules are not tried, so no
  rule sees another's output and each name comes from one rule (a specific rule goes before
  a general one); a key no rule matches keeps its name.
- A pattern matches a dotted prefix of the key: from its start to a `.` or to its end, so
  `h\\.1` does not match `h.10.attn`; what follows the prefix is kept, so one rule renames a
  layer's weight and bias together.
- An empty replacement drops the keys it matches (buffers a spec does not hold: a rotary
  table's `inv_freq`, `position_ids`).
- A replacement ending in `:T` transposes the tensor, which must be 2-D: GPT-2's Conv1D stores
  a linear layer as [in, out], dslc's dense and attention projections as torch does, [out, in].
A rule that matched no key is a RenameWarning (probably a typo); two keys renamed onto one
name are a RenameError (a CheckpointError: one line naming both and their rules)."""
from __future__ import annotations

import os
import re
from math import prod
from pathlib import Path
from typing import NamedTuple

from ..files import Unreadable, not_regular, read_regular


class CheckpointError(ValueError):
    """A weights file that cannot be read or used, or rename rules that do not work: its
    message is one line naming the file (or the rule) and the reason."""


class RenameError(CheckpointError):
    """A rename rule that cannot be parsed or applied, or two keys renamed onto one name."""


class RenameWarning(UserWarning):
    """A rename rule that matched no key of the checkpoint."""


TORCH_SUFFIXES = (".pt", ".pth", ".bin")
# what a folder is searched for, in order (save_pretrained's names: sharded, then single)
FOLDER_FILES = ("model.safetensors.index.json", "model.safetensors",
                "pytorch_model.bin.index.json", "pytorch_model.bin")
MAX_INDEX_BYTES = 64 << 20       # a checkpoint index (a 100 B-parameter model's: about 100 KB)
MAX_RULES_BYTES = 1 << 20        # a --rename-file
MAX_HEADER_BYTES = 100_000_000   # a safetensors header: the library's own bound
# safetensors dtypes numpy holds (ml_dtypes gives bfloat16), with their sizes in bytes
SAFETENSORS_DTYPES = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2,
                      "I8": 1, "U64": 8, "U32": 4, "U16": 2, "U8": 1, "BOOL": 1}
_BROKEN = (ValueError, OSError, EOFError)


# ---- reading ----
def read_weights(path: str | os.PathLike, rename=None, allow_nonfinite: bool = False) -> dict:
    """The weights in `path` by dotted name (numpy arrays, or torch tensors from a state_dict),
    renamed by `rename` (see `parse_rules`); NaN or inf refused unless `allow_nonfinite`.
    CheckpointError (a ValueError, one line) for a file that cannot be read or used."""
    rules = parse_rules(rename)
    path = str(path)
    weights = _read_any(path)
    renamed, origin = _apply(rules, weights, consume=True)
    bad = [] if allow_nonfinite else [origin[k] for k, v in renamed.items() if not _finite(v)]
    if bad:
        raise CheckpointError(f"cannot use '{path}': NaN or inf in {', '.join(bad[:5])}"
                              + (f" and {len(bad) - 5} more" if len(bad) > 5 else "")
                              + " (--allow-nonfinite takes them as they are)")
    return renamed


def _read_any(path: str) -> dict:
    """One file by its kind (a folder: the checkpoint it holds)."""
    if os.path.isdir(path):
        return _read_any(_in_folder(path))
    size = _regular(path)
    if path.endswith(".json"):
        return _index(path)
    return _read_file(path, size)


def _read_file(path: str, size: int) -> dict:
    """One file of weights, not an index."""
    if path.endswith(".safetensors") or _looks_safetensors(path, size):
        return _safetensors([path], path)[path]
    if path.endswith(TORCH_SUFFIXES):
        return _state_dict(_read(path), path)
    data = _read(path)
    if data.startswith(b"PK"):
        return _npz(data, path)
    raise CheckpointError(
        f"cannot read '{path}': weights come in an .npz (np.savez), a torch state_dict (.pt, "
        ".pth, .bin), a .safetensors file, a sharded checkpoint's .index.json, or a folder "
        "holding one")


def _regular(path: str) -> int:
    """The size of a regular file; CheckpointError for a missing one, a FIFO, a device."""
    try:
        st = os.stat(path)
    except (OSError, ValueError) as e:       # ValueError: a NUL byte in the name
        raise CheckpointError(f"cannot read '{path}': {getattr(e, 'strerror', None) or e}")
    why = not_regular(st.st_mode)
    if why:
        raise CheckpointError(f"cannot read '{path}': {why}")
    if not st.st_size:
        raise CheckpointError(f"cannot read '{path}': the file is empty")
    return st.st_size


def _read(path: str, limit: int | None = None) -> bytes:
    """A regular file's bytes, at most `limit` (default: the memory available)."""
    from ..checks.memory import available_memory
    try:
        data = read_regular(path, limit if limit is not None else available_memory()[0])
    except Unreadable as e:
        raise CheckpointError(str(e))
    if not data:
        raise CheckpointError(f"cannot read '{path}': the file is empty")
    return data


def _in_folder(folder: str) -> str:
    """The checkpoint a folder holds: save_pretrained's file names, else its only
    .index.json or .safetensors file."""
    for name in FOLDER_FILES:
        if os.path.isfile(os.path.join(folder, name)):
            return os.path.join(folder, name)
    try:
        names = sorted(os.listdir(folder))
    except OSError as e:
        raise CheckpointError(f"cannot read '{folder}': {e.strerror}")
    for kind in (".index.json", ".safetensors"):
        found = [n for n in names if n.endswith(kind)]
        if len(found) == 1:
            return os.path.join(folder, found[0])
    shown = ", ".join(names[:6]) + (f" and {len(names) - 6} more" if len(names) > 6 else "")
    raise CheckpointError(f"cannot read '{folder}': a folder of weights holds "
                          f"{' or '.join(FOLDER_FILES[:2])} (as save_pretrained writes them), "
                          f"or one .safetensors file; it has {shown or 'nothing'}")


def _npz(data: bytes, path: str) -> dict:
    """The arrays of an .npz; a member whose header numpy's parser cannot read (a TokenError
    from `{'descr': __import__(...`, never evaluated) is one line."""
    import io
    import zipfile
    import zlib
    from tokenize import TokenError
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            return {info.filename.removesuffix(".npy"):
                    read_npy(lambda info=info: z.open(info), info.file_size) for info in z.infolist()}
    except (SyntaxError, TokenError):
        raise CheckpointError(f"cannot read '{path}' as an .npz of arrays: a member's .npy "
                              "header is not one numpy writes") from None
    except (*_BROKEN, zipfile.BadZipFile, zlib.error) as e:
        raise CheckpointError(f"cannot read '{path}' as an .npz of arrays: {one_line(e)}")


def read_npy(open_, size: int):
    """The array of a .npy stream (`open_()` opens it afresh) of `size` bytes: its header
    checked first (ValueError: object arrays, sizes over the memory or the file)."""
    import numpy as np
    from ..checks.memory import available_memory, fmt_bytes
    fmt = np.lib.format
    with open_() as f:
        version = fmt.read_magic(f)
        read_header = fmt.read_array_header_1_0 if version == (1, 0) else fmt.read_array_header_2_0
        shape, _, dtype = read_header(f)
        head = f.tell()
    if dtype.hasobject:
        raise ValueError("an array of Python objects (allow_pickle=False)")
    need_bytes = int(np.prod(shape, dtype=object)) * dtype.itemsize
    free = available_memory()[0]
    if need_bytes > free:
        raise ValueError(f"its header declares {list(shape)} {dtype} ({fmt_bytes(need_bytes)}), "
                         f"over the {fmt_bytes(free)} available")
    if need_bytes > size - head:
        raise ValueError(f"truncated: its header declares {list(shape)} {dtype}, "
                         f"{need_bytes:,} bytes, and {size - head:,} follow it")
    with open_() as f:
        return fmt.read_array(f, allow_pickle=False)


def _state_dict(data: bytes, path: str) -> dict:
    import io
    import pickle
    try:
        import torch
    except ImportError:
        raise CheckpointError(f"cannot read '{path}': a torch state_dict needs torch: pip "
                              "install 'dslc[torch]' (install torch==2.13.0 first for the CPU wheel)")
    if not data.startswith((b"PK\x03\x04", b"\x80")):    # torch.save: a zip, or a legacy pickle
        raise CheckpointError(f"cannot read '{path}': not a torch file (torch.save writes a zip "
                              "archive or, before torch 1.6, a pickle)")
    try:
        state = torch.load(io.BytesIO(data), weights_only=True, map_location="cpu")
    except pickle.UnpicklingError:
        raise CheckpointError(f"cannot read '{path}': not a weights-only state_dict (it holds "
                              "objects torch.load(weights_only=True) refuses to unpickle)")
    except Exception as e:
        raise CheckpointError(f"cannot read '{path}' as a torch state_dict: {one_line(e)}")
    if not isinstance(state, dict) or not all(isinstance(k, str) for k in state):
        raise CheckpointError(f"cannot read '{path}': a state_dict (a dict of tensors by name) "
                              f"was expected, found a {type(state).__name__}")
    for k, v in state.items():
        problem = _unusable(torch, v)
        if problem:
            raise CheckpointError(f"cannot use '{path}': `{k}` is {problem}")
    return {k: v.contiguous() if isinstance(v, torch.Tensor) else v for k, v in state.items()}


def _unusable(torch, v) -> str | None:
    """What a tensor is that dslc cannot build with, and the way out; None for a dense one."""
    if not isinstance(v, torch.Tensor):
        return None
    if v.layout != torch.strided:
        return f"a sparse tensor ({v.layout}); save `.to_dense()`"
    if v.is_meta:
        return "a meta tensor, which holds no values; save the tensor with its values"
    return "a quantized tensor; save `.dequantize()`" if v.is_quantized else None


# ---- safetensors ----
def _looks_safetensors(path: str, size: int) -> bool:
    """An 8-byte little-endian header length that fits the file, then a JSON object."""
    import struct
    if size < 9:
        return False
    try:
        with open(path, "rb") as f:
            head = f.read(9)
    except OSError as e:
        raise CheckpointError(f"cannot read '{path}': {e.strerror}")
    return len(head) == 9 and 8 + struct.unpack("<Q", head[:8])[0] <= size and head[8:] == b"{"


def _safetensors(paths: list[str], source: str) -> dict[str, dict]:
    """Each safetensors file's tensors (a checkpoint's shards), by file: every header read
    and checked first (dtypes, sizes against the memory available), then the tensors.
    `source`: the file named in messages (the index of shards)."""
    from ..checks.memory import available_memory, fmt_bytes
    if not paths:
        return {}
    try:
        from safetensors import safe_open
    except ImportError:
        raise CheckpointError(f"cannot read '{source}': a .safetensors file needs the "
                              "safetensors library: pip install 'dslc[safetensors]'")
    headers = {p: _safetensors_header(safe_open, p) for p in paths}
    total = sum(n for header in headers.values() for _, _, _, n in header)
    free = available_memory()[0]
    if total > free:
        name, dtype, shape, _ = max((t for h in headers.values() for t in h), key=lambda t: t[3])
        raise CheckpointError(f"cannot read '{source}': its tensors need {fmt_bytes(total)}, "
                              f"over the {fmt_bytes(free)} available (the largest: `{name}` "
                              f"{list(shape)} {dtype})")
    if any(dtype == "BF16" for h in headers.values() for _, dtype, _, _ in h):
        try:
            import ml_dtypes  # noqa: F401  (numpy's "bfloat16", which safetensors asks for)
        except ImportError:
            raise CheckpointError(f"cannot read '{source}': its BF16 tensors need ml_dtypes: "
                                  "pip install 'dslc[safetensors]'")
    out = {}
    for p, header in headers.items():
        try:
            with _opened(safe_open, p) as f:
                out[p] = {k: f.get_tensor(k) for k, _, _, _ in header}
        except Exception as e:          # the file changed since its header was read
            raise CheckpointError(f"cannot read '{p}' as safetensors: {one_line(e)}")
    return out


def _opened(safe_open, path: str):
    """The file opened to read its tensors with pread(2) where the library can (0.7 and
    later): each tensor is copied once, while a memory map's pages would count again in the
    process's resident memory (GPT-2 small's 498 MB read: 0.57 GB peak, not 1.0 GB)."""
    try:
        return safe_open(path, framework="np", backend="pread")
    except TypeError:           # an older library: its memory map
        return safe_open(path, framework="np")


def _safetensors_header(safe_open, path: str) -> list[tuple[str, str, tuple, int]]:
    """(name, dtype, shape, bytes) of each tensor, as the library validates them (offsets
    within the file, sizes matching shapes); CheckpointError for another kind of file or a
    dtype numpy cannot hold."""
    size = _regular(path)
    if not _looks_safetensors(path, size):
        raise CheckpointError(f"cannot read '{path}': not a safetensors file (one starts with "
                              "its header's length in 8 bytes, then the header, a JSON object)")
    try:
        with safe_open(path, framework="np") as f:
            header = [(k, f.get_slice(k).get_dtype(), tuple(f.get_slice(k).get_shape()))
                      for k in f.keys()]
    except Exception as e:      # the library's SafetensorError: truncated, offsets, shapes
        raise CheckpointError(f"cannot read '{path}' as safetensors: " + (
            _truncated(path, size)
            or one_line(e).removeprefix("Error while deserializing header: ")))
    for k, dtype, _ in header:
        if dtype not in SAFETENSORS_DTYPES:
            raise CheckpointError(f"cannot use '{path}': `{k}` is {dtype}, a dtype numpy "
                                  "cannot hold; save it as F32, F16 or BF16")
    return [(k, dtype, shape, prod(shape) * SAFETENSORS_DTYPES[dtype]) for k, dtype, shape in header]


def _truncated(path: str, size: int) -> str:
    """`truncated: ...` when the header's tensors end past the file's end, else ""."""
    import json
    import struct
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        if n > MAX_HEADER_BYTES:
            return ""
        try:
            header = json.loads(f.read(n))
            end = max((int(t["data_offsets"][1]) for k, t in header.items()
                       if k != "__metadata__"), default=0)
        except (ValueError, TypeError, KeyError, IndexError, AttributeError):
            return ""
    held = size - 8 - n
    return (f"truncated: its header declares {end:,} bytes of tensors, and {held:,} follow it"
            if end > held else "")


def _index(path: str) -> dict:
    """A sharded checkpoint: its index's `weight_map` (tensor name -> shard file beside it),
    the shards read, and every name in the shard the index says."""
    import json
    try:
        doc = json.loads(_read(path, MAX_INDEX_BYTES))
    except (UnicodeDecodeError, ValueError, RecursionError) as e:     # 100,000 nested `[`
        raise CheckpointError(f"cannot read '{path}' as a checkpoint index: {one_line(e)}")
    where = doc.get("weight_map") if isinstance(doc, dict) else None
    if not isinstance(where, dict) or not where or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in where.items()):
        raise CheckpointError(f"cannot read '{path}': a checkpoint index is a JSON object whose "
                              "`weight_map` maps each tensor's name to its shard file (as "
                              "save_pretrained writes model.safetensors.index.json)")
    base = Path(path).resolve().parent
    files = {}
    for shard in dict.fromkeys(where.values()):
        try:
            file = (base / shard).resolve() if "\0" not in shard else None
        except (OSError, RuntimeError):         # a symlink loop
            file = None
        if file is None or os.path.isabs(shard) or base not in file.parents:
            raise CheckpointError(f"cannot use '{path}': its shard '{shard}' is not a file in "
                                  f"the index's folder ({base})")
        if shard.endswith(".json"):
            raise CheckpointError(f"cannot use '{path}': its shard '{shard}' is another index")
        files[shard] = str(file)
    stored = _safetensors([f for f in files.values() if f.endswith(".safetensors")], path)
    found = {}
    for shard, file in files.items():
        part = stored[file] if file in stored else _read_file(file, _regular(file))
        for k in part:
            if where.get(k) != shard:
                raise CheckpointError(
                    f"cannot use '{path}': '{shard}' holds `{k}`, which the index "
                    + (f"puts in '{where[k]}'" if k in where else "does not list"))
        found.update(part)
    absent = [k for k in where if k not in found]
    if absent:
        raise CheckpointError(f"cannot use '{path}': the index puts `{absent[0]}` in "
                              f"'{where[absent[0]]}', which does not hold it"
                              + (f" (and {len(absent) - 1} more)" if len(absent) > 1 else ""))
    return {k: found[k] for k in where}


def _finite(v) -> bool:
    """False for a floating tensor or array holding NaN or inf."""
    if hasattr(v, "is_floating_point"):                   # torch
        import torch
        return not v.is_floating_point() or bool(torch.isfinite(v).all())
    import numpy as np
    a = np.asarray(v)
    if a.dtype.kind == "V":         # ml_dtypes' bfloat16, through float32
        a = a.astype(np.float32)
    return a.dtype.kind != "f" or bool(np.isfinite(a).all())


def one_line(e: Exception) -> str:
    """A library's error in one line of at most 200 characters."""
    return " ".join(str(e).split())[:200] or type(e).__name__


# ---- renaming ----
class Rule(NamedTuple):
    """`pattern -> replacement` (None: drop the keys), `transpose` for a `:T` replacement;
    `where` names the rule in messages (`rules.txt:3`, `rule 2`, `--rename '...'`)."""
    pattern: str
    replacement: str | None
    transpose: bool
    where: str
    compiled: re.Pattern

    def rename(self, key: str) -> str | None | bool:
        """The key's new name, None to drop it, False when the rule does not match it."""
        m = self.compiled.match(key)
        if not m:
            return False
        if self.replacement is None:
            return None
        return m.expand(self.replacement) + key[m.end():]


def parse_rule(text: str, where: str, col: int = 0) -> Rule:
    """One `REGEX -> REPLACEMENT[:T]` rule; `col`: the column of `text`'s first character on
    its line (0: not from a file, no column in messages). RenameError for a rule that cannot
    work: no arrow, no pattern, a pattern re refuses, a replacement naming a group the pattern
    lacks."""
    head, arrow, tail = text.rpartition("->")
    pattern, replacement = head.strip(), tail.strip()
    at = lambda i: f"{where}:{col + i}" if col else where       # i: an index into text
    first, after = len(text) - len(text.lstrip()), len(head) + 2 + len(tail) - len(tail.lstrip())
    if not arrow:
        raise RenameError(f"{at(first)}: a rename rule is `REGEX -> REPLACEMENT` (an empty "
                          f"replacement drops the keys), got `{text.strip()}`")
    if not pattern:
        raise RenameError(f"{at(first)}: the rule `{text.strip()}` has no pattern before `->`")
    transpose = replacement.endswith(":T")
    replacement = replacement.removesuffix(":T").rstrip()
    if transpose and not replacement:
        raise RenameError(f"{at(after)}: `:T` transposes a renamed tensor; one dropped takes none")
    try:
        re.compile(pattern)
        compiled = re.compile(f"(?:{pattern})(?=\\.|$)")    # a dotted prefix of the key
    except re.error as e:
        raise RenameError(f"{at(first + min(e.pos or 0, len(pattern)))}: bad pattern "
                          f"`{pattern}`: {e.msg}")
    if replacement:
        try:                        # the template is checked against the groups at once
            compiled.sub(replacement, "")
        except (re.error, IndexError) as e:
            raise RenameError(f"{at(after)}: bad replacement `{replacement}` for `{pattern}`: "
                              f"{getattr(e, 'msg', None) or e}")
        if re.search(r"\s", replacement):
            raise RenameError(f"{at(after)}: the replacement `{replacement}` holds a space; "
                              "names are dotted words")
    return Rule(pattern, replacement or None, transpose, where, compiled)


def parse_rules(rename) -> list[Rule]:
    """Rules from: None (none); a str of rules, one per line (blank lines and `#` comments
    skipped); an os.PathLike naming a file of them; a list or tuple of rules, each a
    `REGEX -> REPLACEMENT` str or a (pattern, replacement) pair (replacement "" or None:
    drop); or a list of Rule. RenameError for a rule that cannot work."""
    if rename is None:
        return []
    if isinstance(rename, os.PathLike):
        try:
            text = read_regular(rename, MAX_RULES_BYTES).decode("utf-8")
        except Unreadable as e:
            raise RenameError(str(e))
        except UnicodeDecodeError as e:
            raise RenameError(f"cannot read '{rename}': not UTF-8 text ({e.reason} at byte {e.start})")
        return rules_text(text, str(rename), columns=True)
    if isinstance(rename, str):
        return rules_text(rename, "line")
    rules = []
    for i, r in enumerate(rename, 1):
        if isinstance(r, Rule):
            rules.append(r)
        elif isinstance(r, str):
            rules.append(parse_rule(r, f"rule {i}"))
        elif isinstance(r, tuple) and len(r) == 2 and isinstance(r[0], str) \
                and (r[1] is None or isinstance(r[1], str)):
            rules.append(parse_rule(f"{r[0]} -> {r[1] or ''}", f"rule {i}"))
        else:
            raise RenameError(f"rule {i}: a rename rule is a `REGEX -> REPLACEMENT` string or a "
                              f"(pattern, replacement) pair, got {r!r:.80}")
    return rules


def rules_text(text: str, source: str, columns: bool = False) -> list[Rule]:
    """The rules of a file's text: one per line, blank lines and `#` comments (a line's
    rest after a `#` at its start or after a space) skipped; each named `source:LINE`."""
    rules = []
    for n, line in enumerate(text.splitlines(), 1):
        body = re.split(r"(?:^|\s)#", line, maxsplit=1)[0]
        if body.strip():
            where = f"{source}:{n}" if columns else f"{source} {n}"
            rules.append(parse_rule(body, where, col=1 if columns else 0))
    return rules


def rename_weights(weights, rename) -> dict:
    """`weights` (a dict or a state_dict, by name) renamed by `rename` (as `parse_rules`
    takes it); RenameWarning for each rule that matched no key, RenameError for two keys
    renamed onto one name or a `:T` on a tensor that is not 2-D."""
    return _apply(parse_rules(rename), weights)[0]


def _apply(rules: list[Rule], weights, consume: bool = False) -> tuple[dict, dict]:
    """(the renamed weights, each new name -> the name it had). The names are settled and
    checked first, then the tensors moved (and transposed); `consume`: each is taken out of
    `weights` as it moves, so a transposed copy never stands beside the whole checkpoint."""
    import warnings
    if not rules:
        return dict(weights), {k: k for k in weights}
    plan, used = {}, set()
    for key in weights:
        new, rule = key, None
        for i, r in enumerate(rules):
            got = r.rename(key)
            if got is not False:
                new, rule = got, r
                used.add(i)
                break
        if new is not None:
            plan[key] = (new, rule)
    origin, by, clashes = {}, {}, []
    for key, (new, rule) in plan.items():
        if new in origin:
            clashes.append((new, origin[new], by[new], key, rule))
        else:
            origin[new], by[new] = key, rule
    if clashes:
        new, a, ra, b, rb = clashes[0]
        how = lambda k, r: f"`{k}` ({r.where})" if r else f"`{k}` (kept)"
        raise RenameError(f"{how(a, ra)} and {how(b, rb)} are both renamed to `{new}`"
                          + (f" (and {len(clashes) - 1} more names twice)" if len(clashes) > 1 else ""))
    for i, r in enumerate(rules):
        if i not in used:
            warnings.warn(RenameWarning(f"{r.where}: the rule `{r.pattern} -> "
                                        f"{(r.replacement or '') + (':T' if r.transpose else '')}`"
                                        " matched no key (a typo?)"), stacklevel=3)
    out = {}
    for key, (new, rule) in plan.items():
        value = weights.pop(key) if consume else weights[key]
        out[new] = _transposed(value, key, rule) if rule is not None and rule.transpose else value
    return out, origin


def _transposed(value, key: str, rule: Rule):
    shape = tuple(value.shape)
    if len(shape) != 2:
        raise RenameError(f"{rule.where}: `:T` transposes a 2-D tensor; `{key}` is {list(shape)}")
    if hasattr(value, "is_floating_point"):       # torch
        return value.t().contiguous()
    import numpy as np
    return np.ascontiguousarray(np.asarray(value).T)
