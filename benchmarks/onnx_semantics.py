#!/usr/bin/env python3
"""How closely tinyc follows the framework a model came from: per op and per output, the share of
elements equal to onnxruntime's (ORT_DISABLE_ALL) and the largest difference in LSB, for the
MLPerf Tiny models in both forms and both semantics.

    python benchmarks/onnx_semantics.py [--models kws,vww] [--forms ort_qdq,tf2onnx_int8] [--inputs 20]

Each op runs on onnxruntime's own int8 inputs (tinycc_ml/op_agreement.py), so its figure is its
own error. "auto" is the semantics tinyc picks for the form (onnx for onnxruntime's QDQ, tflite
for tf2onnx); the other is forced, to show what the choice changes. The tf2onnx form follows
TFLite Micro bit for bit (tests/test_mlperf_end_to_end.py), so onnxruntime differs from it by
design: its row is there for comparison. The last column is the whole model against onnxruntime
with its default optimizations (ORT_ENABLE_ALL: QDQ pairs fused into QLinearConv / QLinearMatMul,
integer accumulation and a float requantize) on the same inputs. Prints a table; no assertions.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SHARED = next((p / "shared" for p in ROOT.parents if (p / "shared" / "models").is_dir()), ROOT.parent / "shared")
MLPERF = SHARED / "models" / "mlperf_tiny" / "onnx"

import numpy as np  # noqa: E402

from tinycc_ml.frontend.onnx_import import load_model_with_semantics  # noqa: E402
from tinycc_ml.interp import run_graph  # noqa: E402
from tinycc_ml.op_agreement import compare_ops  # noqa: E402
from tinycc_ml.verification import random_input  # noqa: E402


def against_optimized_onnxruntime(path: Path, graph, count: int, seed: int) -> int:
    """Max |tinyc - onnxruntime(ORT_ENABLE_ALL)| of the final output in output LSB, on the inputs
    compare_ops draws (the same seed)."""
    import onnxruntime as ort  # noqa: PLC0415

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 4
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    io, out_io = graph.inputs[0], graph.outputs[0]
    rng = np.random.default_rng(seed)
    worst = 0
    for _ in range(count):
        x = random_input(io, rng)
        ref = session.run(None, {io.onnx_name: x})[0]
        got = run_graph(graph, {io.onnx_name: x})[out_io.onnx_name].reshape(ref.shape)
        if out_io.onnx_dtype == "float32":
            step = np.float32(out_io.quant.s)
            lsb = np.abs(np.rint(got / step).astype(np.int64) - np.rint(ref / step).astype(np.int64))
        else:
            lsb = np.abs(got.astype(np.int64) - ref.astype(np.int64))
        worst = max(worst, int(lsb.max(initial=0)))
    return worst


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default="ad01,kws,resnet8,vww")
    parser.add_argument("--forms", default="ort_qdq,tf2onnx_int8")
    parser.add_argument("--inputs", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    header = (f"{'model':8} {'form':13} {'semantics':15} {'output max':>10} {'> 2 LSB':>9} {'output =':>9} "
              f"{'worst op max':>12} {'min op =':>9} {'out ENABLE_ALL':>14}  worst op")
    print(header)
    print("-" * len(header))
    for model in args.models.split(","):
        for form in args.forms.split(","):
            path = MLPERF / f"{model}.{form}.onnx"
            _, auto = load_model_with_semantics(path)
            for semantics in (auto.semantics, "onnx" if auto.semantics == "tflite" else "tflite"):
                graph, _ = load_model_with_semantics(path, semantics)
                result = compare_ops(path, graph, args.inputs, args.seed)
                worst = result.worst_op
                optimized = against_optimized_onnxruntime(path, graph, args.inputs, args.seed)
                label = f"{semantics} ({'auto' if semantics == auto.semantics else 'forced'})"
                beyond = f"{result.inputs_beyond(2)}/{result.inputs}"
                print(f"{model:8} {form:13} {label:15} {result.output_max_lsb:>7} LSB {beyond:>9} "
                      f"{100 * result.output_equal_share:>8.2f}% "
                      f"{worst.max_lsb if worst else 0:>8} LSB {100 * result.min_equal_share:>8.3f}% {optimized:>10} LSB  "
                      f"{worst.kind if worst else '-'} {worst.node[-40:] if worst else ''}")
    print(f"\n{args.inputs} random inputs (seed {args.seed}); 'output': the whole model vs onnxruntime in output LSB; "
          "'> 2 LSB': inputs whose output is further from onnxruntime's than issue 10's target; "
          "'op': each op on onnxruntime's own inputs; '=': share of equal elements; 'out ENABLE_ALL': the whole "
          "model vs onnxruntime with its default graph optimizations.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
