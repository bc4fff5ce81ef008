"""The NumPy reference interpreter: the living definition of tinyc's integer semantics.

run_graph: the model as its ONNX caller sees it (ONNX names, dtypes and shapes).
run_core:  the int8 core on tensor names, returning every activation (per-layer checks).
One module per op kind in interp/ops/, found by registry.py.
"""

from .run import run_core, run_graph

__all__ = ["run_core", "run_graph"]
