"""Train a spec's torch module for a few steps, then deploy the trained weights to ONNX.

The weights bridge: `model.to_onnx(weights=module.state_dict())` puts the trained tensors into
the ONNX graph under the same names, without torch.onnx.export. onnxruntime must then agree
with torch on the trained network.
"""
import numpy as np
import onnxruntime as ort
import torch

import dslc

SPEC = """
# A small classifier for two interleaved half-moons (2 features, 2 classes).
model Moons(hidden: int = 16) {
    input x: f32[N, 2]
    output logits = x -> dense(hidden) -> tanh -> dense(hidden) -> tanh -> dense(2)
}
"""


def moons(n: int, rng: np.random.Generator):
    t = rng.uniform(0, np.pi, n)
    label = rng.integers(0, 2, n)
    x = np.stack([np.cos(t) + label, np.sin(t) * (1 - 2 * label) + 0.5 * label], axis=1)
    return x.astype(np.float32) + rng.normal(0, 0.1, (n, 2)).astype(np.float32), label


def main() -> None:
    model = dslc.load(SPEC).models["Moons"]
    module = model.to_torch(seed=0)
    x, y = moons(512, np.random.default_rng(0))
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    opt = torch.optim.Adam(module.parameters(), lr=0.05)
    for _ in range(200):
        loss = torch.nn.functional.cross_entropy(module(xt), yt)
        opt.zero_grad()
        loss.backward()
        opt.step()
    acc = (module(xt).argmax(1) == yt).float().mean().item()
    print(f"trained {model.params} parameters: loss {loss.item():.3f}, accuracy {acc:.2%}")

    proto = model.to_onnx(weights=module.state_dict())
    sess = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    (onnx_logits,) = sess.run(None, {"x": x})
    with torch.no_grad():
        torch_logits = module(xt).numpy()
    diff = float(np.abs(onnx_logits - torch_logits).max())
    print(f"onnxruntime vs torch on the trained weights: max |diff| = {diff:.2e}")
    assert diff < 1e-4 and acc > 0.9


if __name__ == "__main__":
    main()
