"""The frozen IR: Dim polynomials (dims), TensorType, Node, Model, Program (core)."""
