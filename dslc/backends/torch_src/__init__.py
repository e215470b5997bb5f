"""The torch-src backend: readable torch source, one statement per node."""
