"""The ONNX backend: the graph builder, its lowerings, run-time guards, and onnxruntime."""
