"""The table of supported ONNX ops: (domain, op type) -> lowering handler.

Adding an op is one entry here plus its handler; checks.py reports every node whose op is
not in this table, all at once.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Mapping

from . import qdq, qoperator
from .lowering import Handler
from .shape_ops import SHAPE_OPS, lower_shape_op

MS = "com.microsoft"

_TABLE: dict[tuple[str, str], Handler] = {
    ("", "QuantizeLinear"): qdq.lower_quantize,
    ("", "DequantizeLinear"): qdq.lower_dequantize,
    ("", "MaxPool"): qdq.lower_maxpool_or_defer,
    ("", "Pad"): qdq.lower_pad_or_defer,
    ("", "Concat"): qdq.lower_concat_or_defer,
    ("", "Identity"): lower_shape_op,
    **{("", op): lower_shape_op for op in SHAPE_OPS},
    **{("", op): qdq.defer for op in qdq.FLOAT_LOWERINGS if op not in ("MaxPool", "Pad", "Concat")},
    ("", "QLinearConv"): qoperator.qlinear_conv,
    ("", "QLinearMatMul"): qoperator.qlinear_matmul,
    ("", "ConvInteger"): qdq.defer,
    ("", "MatMulInteger"): qdq.defer,
    ("", "Cast"): qdq.defer,
    (MS, "QGemm"): qoperator.qgemm,
    (MS, "QLinearAdd"): qoperator.qlinear_binary,
    (MS, "QLinearMul"): qoperator.qlinear_binary,
    (MS, "QLinearAveragePool"): qoperator.qlinear_average_pool,
    (MS, "QLinearGlobalAveragePool"): qoperator.qlinear_average_pool,
    (MS, "QLinearSigmoid"): qoperator.qlinear_sigmoid,
    (MS, "QLinearLeakyRelu"): qoperator.qlinear_leaky_relu,
    (MS, "QLinearSoftmax"): qoperator.qlinear_softmax,
    (MS, "QLinearConcat"): qoperator.qlinear_concat,
}

HANDLERS: Mapping[tuple[str, str], Handler] = MappingProxyType(_TABLE)
