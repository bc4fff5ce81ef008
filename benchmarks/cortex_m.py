#!/usr/bin/env python3
"""Instructions per inference on the emulated Cortex-M7 and Cortex-M4, firmware size, and
bit-exactness, for the four MLPerf Tiny models (tf2onnx int8 and onnxruntime QDQ forms).

    python benchmarks/cortex_m.py [--models kws,vww] [--forms tf2onnx_int8] [--inputs 2]

Instructions are counted by QEMU (-icount shift=0) around model_invoke() only. The
baseline is TFLite Micro with CMSIS-NN kernels on the same emulated Cortex-M7 (mps2-an500,
-icount shift=0), measured when the shared models were made (../shared/models/README.md):
it cannot be rebuilt here (no TFLite Micro Cortex-M build offline), so those figures are
constants, labelled as such, and only the Cortex-M7 column has a ratio.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
MLPERF = ROOT.parent / "shared" / "models" / "mlperf_tiny" / "onnx"
TFLM_CMSIS_NN_M7 = {"ad01": 583_040, "kws": 7_597_880, "resnet8": 29_961_000, "vww": 23_884_480}
MODELS = ("ad01", "kws", "resnet8", "vww")
FORMS = ("tf2onnx_int8", "ort_qdq")
CORES = ("qemu-m7", "qemu-m4")


def measure(model_path: Path, inputs: int, work: Path) -> dict:
    from tinycc_ml.compiler import CompileOptions, compile_model
    from tinycc_ml.interp import run_graph
    from tinycc_ml.targets import TARGETS, read_build_info
    from tinycc_ml.verification import random_input

    result = compile_model(model_path, "stm32f746", work, CompileOptions(measure_firmware=False))
    info = read_build_info(work)
    graph = result.imported
    io_in, io_out = graph.inputs[0], graph.outputs[0]
    rng = np.random.default_rng(0)
    row: dict = {"arena": result.report["arena_bytes"], "exact": True}
    for i in range(inputs):
        x = random_input(io_in, rng)
        expected = run_graph(graph, {io_in.onnx_name: x})[io_out.onnx_name].tobytes()
        for target in ("host", *CORES):
            run = TARGETS[target].run(info, x, lambda _m: None)
            row["exact"] &= run.output.tobytes() == expected
            if target in CORES:
                row.setdefault(target, []).append(run.instructions)
                row[f"{target}-size"] = (run.flash_bytes, run.ram_bytes)
    return row


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--forms", default=",".join(FORMS))
    parser.add_argument("--inputs", type=int, default=2, help="random inputs per model (instructions: the max)")
    args = parser.parse_args()
    if not MLPERF.is_dir():
        print(f"MLPerf Tiny models not found in {MLPERF}", file=sys.stderr)
        return 2
    header = (f"{'model':<22} {'exact':>5} {'qemu-m7 instr':>14} {'TFLM+CMSIS-NN m7*':>18} {'ratio':>6} "
              f"{'qemu-m4 instr':>14} {'m7 flash B':>11} {'m7 RAM B':>9} {'m4 flash B':>11} {'m4 RAM B':>9} {'arena B':>8}")
    print(header)
    print("-" * len(header))
    all_exact = True
    for form in args.forms.split(","):
        for model in args.models.split(","):
            with tempfile.TemporaryDirectory(prefix="tinyc_bench_") as tmp:
                row = measure(MLPERF / f"{model}.{form}.onnx", args.inputs, Path(tmp))
            all_exact &= row["exact"]
            m7, m4 = max(row["qemu-m7"]), max(row["qemu-m4"])
            base = TFLM_CMSIS_NN_M7[model]
            (f7, r7), (f4, r4) = row["qemu-m7-size"], row["qemu-m4-size"]
            print(f"{model + '.' + form:<22} {'yes' if row['exact'] else 'NO':>5} {m7:>14,} {base:>18,} "
                  f"{m7 / base:>6.2f} {m4:>14,} {f7:>11,} {r7:>9,} {f4:>11,} {r4:>9,} {row['arena']:>8,}")
    print("\n* TFLite Micro + CMSIS-NN on QEMU mps2-an500 (-icount shift=0), measured when the shared models "
          "were made (constant; not rebuildable offline). ratio = tinyc / TFLM (lower is better).")
    print("exact: host C, qemu-m7 and qemu-m4 outputs equal the interpreter's bytes on every input.")
    print("flash = text + data, RAM = data + bss of the QEMU firmware (includes newlib's semihosting stdio); "
          "the 64 KB stack is not counted.")
    return 0 if all_exact else 1


if __name__ == "__main__":
    sys.exit(main())
