"""ONNX -> tinyc IR: the entry points of the frontend.

    graph = load_model("kws.tf2onnx_int8.onnx")

Both int8 forms users have are accepted: QDQ (onnxruntime quantize_static, tf2onnx from an
int8 TFLite model) and QOperator (QLinearConv & co., with onnxruntime's com.microsoft
contrib ops). The steps: read-only view of the ONNX graph (onnx_view), up-front checks
(checks), quantization parameters of every int8 activation (activations), the lowering
walk (lowering + qdq / qoperator / shape_ops handlers), and the IR invariant check.
"""

from __future__ import annotations

from pathlib import Path

import onnx

from ..ir.graph import Graph
from ..ir.verify import verify_graph
from .activations import activation_info
from .checks import check_model, load
from .handlers import HANDLERS
from .lowering import Lowering
from .onnx_view import build_view
from .semantics import AUTO, SemanticsChoice, check_requested, onnx_semantics


def load_model(path: str | Path, semantics: str = AUTO) -> Graph:
    """Read an ONNX file and lower it; a ModelError says what is wrong with the model.
    `semantics`: "auto" (from the model's producer, frontend/semantics.py), "tflite" or "onnx"."""
    return load_model_with_semantics(path, semantics)[0]


def load_model_with_semantics(path: str | Path, semantics: str = AUTO) -> tuple[Graph, SemanticsChoice]:
    """load_model, and which semantics it chose and why (for the compile summary and report)."""
    check_requested(semantics)
    model = load(path)
    name = Path(path).name
    graph = import_model(model, name[: -len(".onnx")] if name.endswith(".onnx") else name, semantics)
    return graph, onnx_semantics(model, semantics)


def import_model(model: onnx.ModelProto, name: str, semantics: str = AUTO) -> Graph:
    choice = onnx_semantics(model, semantics)
    view = build_view(model)
    check_model(view, HANDLERS)
    info = activation_info(view)
    graph = Lowering(view, info, choice.semantics).run(HANDLERS, name)
    verify_graph(graph)
    return graph
