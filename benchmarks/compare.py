"""dslc beside what users do without it, as whole processes, interleaved, medians (min-max):

- check:   `dslc check SPEC` vs a process that imports torch, builds the same module and runs
           torchinfo.summary on it (a forward pass);
- compile: `dslc compile SPEC --target onnx` vs torch.onnx.export of the same module (the
           dynamo exporter and the legacy TorchScript one);
- latency: onnxruntime on dslc's graph (standard, and `--fuse`: contrib Attention) vs on the
           legacy export's graph and on that graph after onnxruntime's transformer optimizer
           (GPT-2 and BERT; one SessionOptions, 3 warm-up runs, the median of --reps), and torch
           eager on the module;
- floor:   the I/O floor issue 10 names, a process that only draws the same weights with
           numpy (each tensor uniform in float64, cast to float32, as dslc draws) and writes
           their bytes;
- the peak RSS of every process.
"The same module" is dslc's torch module of the spec (built in the child, so the torch side
pays dslc's import too: a few hundred ms). Prints a Markdown table with the ratios and the
machine it ran on.

Run: python benchmarks/compare.py [--runs 3] [--reps 20] [--models resnet50,gpt2-128,...]
     python benchmarks/compare.py --smoke      (LeNet, one run: seconds; tests/test_benchmarks.py)
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# name -> (spec, model, input feeds as (name, dtype, shape))
MODELS = {
    "lenet": ("specs/seeds/lenet.dl", "LeNet", [("image", "float32", (1, 1, 28, 28))]),
    "resnet50": ("specs/zoo/resnet.dl", "ResNet50", [("image", "float32", (1, 3, 224, 224))]),
    "gpt2-128": ("specs/transformer/gpt2.dl", "GPT2", [("ids", "int64", (1, 128))]),
    "gpt2-1024": ("specs/transformer/gpt2.dl", "GPT2", [("ids", "int64", (1, 1024))]),
    "bert-128": ("specs/transformer/bert.dl", "BERT", [("ids", "int64", (1, 128)),
                                                       ("types", "int64", (1, 128))]),
}
CHILD = r'''
import json, sys, time
import numpy as np
spec, name, feeds, task, out, reps = json.loads(sys.argv[1])
def inputs():
    rng = np.random.default_rng(0)
    return {n: (rng.integers(0, 2, s) if d == "int64" else rng.standard_normal(s)).astype(d)
            for n, d, s in feeds}
if task in ("torchinfo", "dynamo", "legacy", "latency"):
    import torch, dslc
    module = dslc.load(spec).models[name].to_torch(seed=0).eval()
    xs = tuple(torch.from_numpy(v) for v in inputs().values())
if task == "torchinfo":
    import torchinfo
    torchinfo.summary(module, input_data=list(xs), verbose=0)
elif task in ("dynamo", "legacy"):
    names = [n for n, _, _ in feeds]
    torch.onnx.export(module, xs, out, dynamo=task == "dynamo", input_names=names,
                      **({} if task == "dynamo" else {"opset_version": 17}))
elif task == "latency":
    import onnxruntime as ort
    def median_ms(fn):
        for _ in range(3):
            fn()
        ts = []
        for _ in range(reps):
            t = time.perf_counter(); fn(); ts.append(time.perf_counter() - t)
        return 1000 * float(np.median(ts))
    import onnx
    onnx.save(dslc.load(spec).models[name].to_onnx(seed=0, fuse=True), out + ".fused.onnx")
    graphs = [("ort_dslc", out + ".dslc.onnx"), ("ort_fused", out + ".fused.onnx"),
              ("ort_export", out + ".legacy.onnx")]
    if name in ("GPT2", "BERT"):       # onnxruntime's own fusions on the exported graph
        # model_type bert for both: its "gpt2" passes leave this export unloadable (a Transpose
        # of perm [0, 2, 3, 1] on a rank-3 value); both fuse the same (SkipLayerNormalization,
        # FastGelu) and neither fuses this export's attention
        from onnxruntime.transformers import optimizer
        optimizer.optimize_model(out + ".legacy.onnx", model_type="bert", num_heads=12,
                                 hidden_size=768).save_model_to_file(out + ".optimized.onnx")
        graphs.append(("ort_optimized", out + ".optimized.onnx"))
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 0
    res = {}
    for key, path in graphs:
        sess = ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])
        given = inputs()
        feed = {i.name: given[n] for i, n in zip(sess.get_inputs(), given)}
        res[key] = median_ms(lambda: sess.run(None, feed))
    with torch.no_grad():
        res["torch_eager"] = median_ms(lambda: module(*xs))
    print(json.dumps(res))
'''


def _wrapped(argv: list[str]) -> list[str]:
    """argv run under a tiny wrapper that prints the child's own peak RSS on stderr's last
    line (ru_maxrss of RUSAGE_CHILDREN inside a fresh wrapper process is that child's)."""
    code = ("import resource, subprocess, sys; r = subprocess.run(sys.argv[1:]); "
            "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024, file=sys.stderr);"
            " sys.exit(r.returncode)")
    return [sys.executable, "-c", code, *argv]


FLOOR = r'''
import json, sys
import numpy as np
shapes, out = json.loads(sys.argv[1])
rng = np.random.default_rng(0)
with open(out, "wb") as f:
    for shape in shapes:
        f.write(rng.uniform(-0.1, 0.1, shape).astype(np.float32).data)
'''


def _shapes(spec: str, name: str) -> list:
    sys.path.insert(0, str(ROOT))
    import dslc
    m = dslc.load(str(ROOT / spec)).models[name]
    return [list(s) for s in {**m.param_shapes(), **m.buffer_shapes()}.values()]


def run_task(task: str, model: str, tmp: str, reps: int) -> tuple[float, int, str]:
    spec, name, feeds = MODELS[model]
    out = f"{tmp}/{model}"
    if task == "floor":
        argv = [sys.executable, "-c", FLOOR, json.dumps([_shapes(spec, name), out + ".floor"])]
    elif task == "check":
        argv = [sys.executable, "-m", "dslc", "check", spec]
    elif task == "compile":
        argv = [sys.executable, "-m", "dslc", "compile", spec, "--model", name, "--target", "onnx",
                "-o", out + ".dslc.onnx"]
    else:
        dest = out + (".legacy.onnx" if task == "legacy" else ".dynamo.onnx")
        argv = [sys.executable, "-c", CHILD, json.dumps([spec, name, feeds, task,
                                                          dest if task != "latency" else out, reps])]
    t0 = time.perf_counter()
    p = subprocess.run(_wrapped(argv), capture_output=True, cwd=ROOT)
    wall = time.perf_counter() - t0
    if p.returncode != 0:
        raise RuntimeError(f"{task} on {model} failed:\n{p.stderr.decode()[-3000:]}")
    rss = int(p.stderr.decode().strip().splitlines()[-1])
    return wall, rss, p.stdout.decode()


def fmt(xs, unit: str = "s") -> str:
    med = statistics.median(xs)
    if unit == "MiB":
        xs, med = [x / 2 ** 20 for x in xs], med / 2 ** 20
    spread = f" ({min(xs):.3g}-{max(xs):.3g})" if len(xs) > 1 else ""
    return f"{med:.3g} {unit}{spread}"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--reps", type=int, default=20)
    ap.add_argument("--models", default="resnet50,gpt2-128,gpt2-1024,bert-128")
    ap.add_argument("--smoke", action="store_true", help="LeNet, one run, 3 latency reps")
    args = ap.parse_args(argv)
    if args.smoke:
        args.runs, args.reps, args.models = 1, 3, "lenet"
    models = args.models.split(",")
    tasks = ["check", "torchinfo", "floor", "compile", "dynamo", "legacy", "latency"]
    got: dict = {(m, t): [] for m in models for t in tasks}
    lat: dict = {m: [] for m in models}
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(args.runs):             # interleaved: every task of every model per run
            for m in models:
                for t in tasks:
                    wall, rss, out = run_task(t, m, tmp, args.reps)
                    got[m, t].append((wall, rss))
                    if t == "latency":
                        lat[m].append(json.loads(out.strip().splitlines()[-1]))
    print(f"Machine: {platform.platform()}, {os.cpu_count()} cores, Python "
          f"{platform.python_version()}; {args.runs} run(s), latency median of {args.reps}.\n")
    print("| model | dslc check | torch + torchinfo | ratio | dslc compile | torch.onnx.export dynamo "
          "| legacy | ratio (dynamo) | I/O floor | ratio (floor) | ort dslc | ort dslc --fuse "
          "| ort export | ort export optimized | torch eager | ratio (ort) | ratio (--fuse) |")
    print("| --- " * 17 + "|")
    for m in models:
        w = {t: [x[0] for x in got[m, t]] for t in tasks}
        r = {t: [x[1] for x in got[m, t]] for t in tasks}
        med = {t: statistics.median(w[t]) for t in tasks}
        ort_d, ort_f, ort_e, eager = ([x[k] for x in lat[m]] for k in (
            "ort_dslc", "ort_fused", "ort_export", "torch_eager"))
        ort_o = [x["ort_optimized"] for x in lat[m] if "ort_optimized" in x]
        # --fuse against the faster of the exported graph and its optimized form
        best = min(statistics.median(x) for x in (ort_e, ort_o) if x)
        print(f"| {m} | {fmt(w['check'])}, {fmt(r['check'], 'MiB')} | {fmt(w['torchinfo'])}, "
              f"{fmt(r['torchinfo'], 'MiB')} | {med['check'] / med['torchinfo']:.2f}x "
              f"| {fmt(w['compile'])}, {fmt(r['compile'], 'MiB')} | {fmt(w['dynamo'])}, "
              f"{fmt(r['dynamo'], 'MiB')} | {fmt(w['legacy'])}, {fmt(r['legacy'], 'MiB')} "
              f"| {med['compile'] / med['dynamo']:.2f}x | {fmt(w['floor'])}, {fmt(r['floor'], 'MiB')} "
              f"| {med['compile'] / med['floor']:.2f}x | {fmt(ort_d, 'ms')} | {fmt(ort_f, 'ms')} "
              f"| {fmt(ort_e, 'ms')} | {fmt(ort_o, 'ms') if ort_o else '-'} | {fmt(eager, 'ms')} "
              f"| {statistics.median(ort_d) / statistics.median(ort_e):.2f}x "
              f"| {statistics.median(ort_f) / best:.2f}x |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
