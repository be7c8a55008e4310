"""Pluggable model backends: a stronger model for a built-in metric, chosen in configuration.

`spec` is what a stages file's `backends:` section holds; `local` runs ONNX exports and
transformers checkpoints from a directory; `remote` calls an HTTP model server; `outputs` turns
label probabilities into the metric's value; `scorer` puts the result in the registry under the
built-in metric's name, so stages and rules do not change when the model does.
"""
