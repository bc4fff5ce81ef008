"""The op-level case behind micro_speech's 3 LSB (issue 10, point 6): a FullyConnected whose
accumulator lands within the bias of a rounding boundary.

These are micro_speech's add_1 quantization parameters and its class-3 accumulator on
reference input 0: 210405 without the bias, 210591 with TFLite's bias of 186. TFLite Micro
gives 107 (measured: its add_1[3]); without the bias (as tf2onnx wrote the .onnx) 106.
The interpreter and the C kernels must give exactly that, with and without the bias.
"""

from __future__ import annotations

import numpy as np
import pytest
from kernel_support import act, check_kernels, const, single_node

from tinycc_ml.interp import run_core
from tinycc_ml.ir import ops
from tinycc_ml.ir.graph import QuantParams
from tinycc_ml.quant import params as qparams

IN_Q = QuantParams.per_tensor(0.08418698608875275, -128)
W_Q = QuantParams.per_tensor(0.0004787050711456686, 0)
OUT_Q = QuantParams.per_tensor(0.09173192083835602, 14)
# The model's float32 scales, exactly. (x + 128) * w summed: 6 * 255 * 127 + 255 * 63 + 30 * 1 = 210405.
X = np.array([[127] * 7 + [-98]], np.int8)
W = np.array([[127] * 6 + [63, 1]], np.int8)


def _graph(bias: int | None):
    inputs = [act("x", X.shape, IN_Q), const("w", W, W_Q),
              const("b", np.array([bias], np.int32)) if bias is not None else None]
    return single_node(ops.FullyConnected(-128, 127), inputs, act("y", (1, 1), OUT_Q))


def test_the_requantization_is_micro_speechs() -> None:
    requant = qparams.fully_connected_requant(IN_Q, W_Q, OUT_Q)
    assert (requant.multipliers, requant.shifts) == ((1932201031,), (-11,))
    assert int(((X.astype(np.int64) + 128) * W).sum()) == 210405


@pytest.mark.parametrize("bias, expected", [(186, 107), (None, 106), (0, 106)])
def test_interpreter_rounds_as_tflite_micro(bias, expected) -> None:
    graph = _graph(bias)
    assert int(run_core(graph, {"x": X})["y"][0, 0]) == expected


@pytest.mark.parametrize("bias, expected", [(186, 107), (None, 106)])
def test_c_kernels_equal_the_interpreter(kernel_runners, bias, expected) -> None:
    got = check_kernels(_graph(bias), kernel_runners, seed=0, inputs={"x": X})
    assert int(got[0, 0]) == expected
