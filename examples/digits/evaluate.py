#!/usr/bin/env python3
"""Accuracy of the digits model on the whole test split: onnxruntime, tinyc's interpreter
and tinyc's compiled host C, and how often they agree.

    python examples/digits/evaluate.py examples/digits/digits_int8.onnx --build build/digits_eval

compiles MODEL into OUTDIR (tinyc compile, --board stm32f746 by default), builds the
generated C with a batch harness (digits_batch.py) and runs the 450 test images through
onnxruntime (ORT_DISABLE_ALL), the interpreter and the C code. --no-interp skips the
interpreter (it is the slowest of the three).
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import digits_batch  # noqa: E402
from digits_data import load_split  # noqa: E402
from make_model import INPUT_NAME, OUTPUT_NAME, ort_predict  # noqa: E402


@dataclass(frozen=True)
class Outputs:
    """One backend's outputs on the test split: the ONNX-facing output and the int8 core."""

    probabilities: np.ndarray  # [N, 10] in the model output's dtype
    core: np.ndarray  # [N, 10] int8


def int8_of(probabilities: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    """Undo a float32 DequantizeLinear exactly: float32(q - zp) * scale is within half a step of q."""
    if probabilities.dtype == np.int8:
        return probabilities
    q = np.rint(probabilities.astype(np.float64) / np.float64(np.float32(scale))) + zero_point
    return np.clip(q, -128, 127).astype(np.int8)


def output_quant(model_path: Path) -> tuple[float, int]:
    """(scale, zero point) of the model output's final DequantizeLinear (make_model.py's models
    end in one, in both formats)."""
    import onnx
    from onnx import numpy_helper

    graph = onnx.load(str(model_path)).graph
    (node,) = [n for n in graph.node if OUTPUT_NAME in n.output]
    if node.op_type != "DequantizeLinear":
        raise ValueError(f"{model_path}: {OUTPUT_NAME!r} comes from {node.op_type}, not DequantizeLinear")
    inits = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    return float(inits[node.input[1]]), int(inits[node.input[2]])


def run_onnxruntime(model_path: Path, x: np.ndarray) -> Outputs:
    probs = ort_predict(Path(model_path).read_bytes(), x)
    return Outputs(probs, int8_of(probs, *output_quant(model_path)))


def run_interpreter(graph, x: np.ndarray) -> Outputs:
    """tinyc's interpreter (run_graph: float in, float out, as onnxruntime is called)."""
    from tinycc_ml.interp import run_graph

    (out,) = graph.outputs
    probs = np.concatenate([run_graph(graph, {INPUT_NAME: xi})[OUTPUT_NAME] for xi in x[:, None]])
    return Outputs(probs, int8_of(probs, out.quant.s, out.quant.zp))


def run_host_c(out_dir: Path, x: np.ndarray) -> Outputs:
    result = digits_batch.run(digits_batch.build(out_dir), x[:, None])  # records of [1,1,8,8]
    return Outputs(result.outputs.reshape(len(x), -1), result.core)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model", type=Path, help="int8 ONNX model made by make_model.py")
    ap.add_argument("--build", required=True, type=Path, metavar="OUTDIR", help="tinyc compile output directory")
    ap.add_argument("--board", default="stm32f746")
    ap.add_argument("--no-interp", action="store_true", help="skip tinyc's NumPy interpreter")
    args = ap.parse_args(argv)

    from tinycc_ml.compiler import compile_model

    split = load_split()
    x, y = split.x_test, split.y_test
    compiled = compile_model(args.model, args.board, args.build)
    print("\n".join(compiled.summary_lines()))
    backends = {"onnxruntime": run_onnxruntime(args.model, x)}
    if not args.no_interp:
        backends["interpreter"] = run_interpreter(compiled.imported, x)
    backends["host C"] = run_host_c(args.build, x)

    ref = backends["onnxruntime"]
    for name, o in backends.items():
        pred = o.probabilities.argmax(1)
        line = f"{name:12s} accuracy {np.mean(pred == y):.4f} ({int(np.sum(pred == y))}/{len(y)})"
        if name != "onnxruntime":
            diff = np.abs(o.core.astype(np.int16) - ref.core.astype(np.int16))
            line += (f", same class as onnxruntime on {int(np.sum(pred == ref.probabilities.argmax(1)))}/{len(y)}, "
                     f"max |int8 diff| {int(diff.max())}")
        print(line)
    if "interpreter" in backends:
        same = np.array_equal(backends["interpreter"].core, backends["host C"].core) and \
            backends["interpreter"].probabilities.tobytes() == backends["host C"].probabilities.tobytes()
        print(f"host C == interpreter byte for byte: {same}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
