"""Behaviour no test pinned down until a mutant of benchmarks/mutate.py survived it: each test
names the mutation it kills (`python benchmarks/mutate.py --sample 40 --seed 1`) and states the
behaviour it checks, which a real bug of that kind would break."""
from __future__ import annotations

import numpy as np


def _graph_with_input(shape):
    from onnx import TensorProto, helper
    node = helper.make_node("Relu", ["x"], ["y"], name="r")
    g = helper.make_graph([node], "G", [helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, shape)])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])


def test_an_unnamed_leading_dim_of_an_onnx_input_gets_one_example():
    """checks/guards.py `complete`: `dslc run graph.onnx` without inputs draws them; a leading
    dim the graph leaves unnamed is a batch of 1 (mutant: `Dim.of(1)` -> `Dim.of(0)`, an empty
    batch that runs and prints nothing); an unnamed dim elsewhere is refused."""
    import onnxruntime as ort
    import pytest
    from dslc.backends.onnx.ort import input_feeds
    from dslc.checks.guards import InputError
    sess = ort.InferenceSession(_graph_with_input([None, 4]).SerializeToString(),
                                providers=["CPUExecutionProvider"])
    (x,) = input_feeds(sess, {}).values()
    assert x.shape == (1, 4) and x.dtype == np.float32
    sess = ort.InferenceSession(_graph_with_input([2, None]).SerializeToString(),
                                providers=["CPUExecutionProvider"])
    with pytest.raises(InputError, match="axis 1"):
        input_feeds(sess, {})
