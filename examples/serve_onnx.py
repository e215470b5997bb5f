"""Serve a spec's ONNX graph over HTTP with onnxruntime, and call it once.

The graph dslc writes is servable as it is: named inputs and outputs, a dynamic batch axis.
This server takes `POST /predict` with `{"inputs": {"x": [[...], ...]}}` and answers
`{"outputs": {"logits": [[...], ...]}}`; a request whose shape does not fit the spec gets a
400 with the reason (dslc.checks.guards' check), not onnxruntime's internals. Standard library only,
besides onnxruntime and numpy; run it as a script and it serves one request to itself.
"""
import json
import threading
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import onnxruntime as ort

import dslc
from dslc.checks.guards import InputError, bind, signature

SPEC = """
model Scorer {
    input x: f32[N, 8]
    output logits = x -> dense(16) -> relu -> dense(3)
}
"""


def make_handler(model, sess):
    sig, names = signature(model), [o.name for o in sess.get_outputs()]

    class Predict(BaseHTTPRequestHandler):
        def do_POST(self):
            try:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                feeds = {k: np.asarray(v, np.float32) for k, v in body["inputs"].items()}
                bind(sig, {k: v.shape for k, v in feeds.items()})     # shapes vs the spec
                outs = sess.run(None, feeds)
                self._answer(200, {"outputs": {n: y.tolist() for n, y in zip(names, outs)}})
            except (InputError, KeyError, ValueError) as e:
                self._answer(400, {"error": str(e)})

        def _answer(self, code, doc):
            data = json.dumps(doc).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):      # quiet
            pass
    return Predict


def post(url, doc):
    req = urllib.request.Request(url, json.dumps(doc).encode(), {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def main() -> None:
    model = dslc.load(SPEC).models["Scorer"]
    weights = model.weights(seed=0)
    sess = ort.InferenceSession(model.to_onnx(weights=weights).SerializeToString(),
                                providers=["CPUExecutionProvider"])
    server = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(model, sess))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_port}/predict"
    x = np.random.default_rng(0).standard_normal((4, 8)).astype(np.float32)
    status, doc = post(url, {"inputs": {"x": x.tolist()}})
    # the oracle: the same network in numpy, from the same weights
    h = np.maximum(x @ weights["dense_1.weight"].T + weights["dense_1.bias"], 0)
    want = h @ weights["dense_2.weight"].T + weights["dense_2.bias"]
    got = np.asarray(doc["outputs"]["logits"])
    print(f"POST /predict: {status}, logits {got.shape}, max |diff| vs numpy {np.abs(got - want).max():.1e}")
    assert status == 200 and np.allclose(got, want, atol=1e-5)
    status, doc = post(url, {"inputs": {"x": [[1.0, 2.0]]}})
    print(f"POST /predict with 2 features: {status} {doc['error']}")
    assert status == 400 and "size 2 at axis 1, declared 8" in doc["error"]
    server.shutdown()


if __name__ == "__main__":
    main()
