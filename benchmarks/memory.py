"""Peak SRAM: tinyc's arena against the bounds and against TFLite Micro, per model.

    python benchmarks/memory.py [--schedule-time-limit S]

For the four MLPerf Tiny models (tf2onnx int8 conversions) and the digits example it
prints, in bytes (definitions in tinycc_ml/memory/bounds.py):

    arena      the exact length of tinyc's generated arena array (activations, the model's
               input and output, kernel scratch)
    lower      the lower bound for tinyc's op order and overlap facts
    lw file    the layer-wise peak of the ONNX file's op order
    lw best    the best layer-wise bound (min over op orders; * = not proven minimal)
    tflm head  TFLite Micro's planned activation region for the same model, measured in
               this run with its RecordingMicroAllocator (`print_allocations`: "Arena
               allocation head"); its whole arena ("total", also persistent tensors and
               kernel data) is shown after the slash
    ratio      arena / tflm head

and exits with status 1 when a target of the memory issue is missed: vww <= 38,500,
kws <= 8,800, resnet8 <= 34,500, ad01 <= 768 bytes, and on every model arena <= the
best layer-wise bound. Without tflite-micro installed the TFLite Micro column shows
the head sizes measured when the models were made (models/README.md), marked "(doc)".
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
MLPERF = ROOT.parent / "shared" / "models" / "mlperf_tiny"
MODELS = {  # name -> (ONNX file, TFLite file for TFLite Micro or None)
    "ad01": (MLPERF / "onnx" / "ad01.tf2onnx_int8.onnx", MLPERF / "ad01_int8.tflite"),
    "kws": (MLPERF / "onnx" / "kws.tf2onnx_int8.onnx", MLPERF / "kws_ref_model.tflite"),
    "resnet8": (MLPERF / "onnx" / "resnet8.tf2onnx_int8.onnx", MLPERF / "pretrainedResnet_quant.tflite"),
    "vww": (MLPERF / "onnx" / "vww.tf2onnx_int8.onnx", MLPERF / "vww_96_int8.tflite"),
    "digits": (ROOT / "examples" / "digits" / "digits_int8.onnx", None),
}
TARGETS = {"ad01": 768, "kws": 8800, "resnet8": 34500, "vww": 38500}
# TFLite Micro's planned head and whole arena as measured when the models were made
# (shared/models/README.md): the fallback when tflite-micro is not installed.
TFLM_DOCUMENTED = {"ad01": (768, 3984), "kws": (16000, 24272), "resnet8": (49152, 55984), "vww": (73728, 103680)}


@dataclass(frozen=True)
class Row:
    name: str
    arena: int
    lower: int
    layerwise_file: int
    layerwise_best: int
    best_exact: bool
    planner: str
    overlaps: int
    tflm_head: int | None
    tflm_total: int | None
    tflm_measured: bool
    seconds: float


def tflite_micro_arena(tflite: Path) -> tuple[int, int] | None:
    """(head, total) bytes of TFLite Micro's arena for the model, or None without tflite-micro.

    The interpreter's RecordingMicroAllocator prints its allocations from C++ to stderr, so
    the file descriptor itself is redirected to read them.
    """
    try:
        from tflite_micro.python.tflite_micro import runtime
    except ImportError:
        return None
    interpreter = runtime.Interpreter.from_file(str(tflite))
    detail = interpreter.get_input_details(0)
    interpreter.set_input(np.zeros(detail["shape"], dtype=detail["dtype"]), 0)
    interpreter.invoke()
    sys.stdout.flush()
    sys.stderr.flush()
    with tempfile.TemporaryFile(mode="w+b") as capture:
        saved = os.dup(2)
        os.dup2(capture.fileno(), 2)
        try:
            interpreter.print_allocations()
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        capture.seek(0)
        text = capture.read().decode(errors="replace")
    head = re.search(r"Arena allocation head (\d+) bytes", text)
    total = re.search(r"Arena allocation total (\d+) bytes", text)
    if not head or not total:
        raise RuntimeError(f"TFLite Micro's allocation report has no head/total line:\n{text}")
    return int(head.group(1)), int(total.group(1))


def measure(name: str, onnx_path: Path, tflite: Path | None, time_limit: float) -> Row:
    from tinycc_ml.codegen.context import build_context
    from tinycc_ml.compiler import import_model, lower

    start = time.perf_counter()
    program, _ = lower(import_model(onnx_path), schedule_time_limit=time_limit)
    seconds = time.perf_counter() - start
    arena = build_context(program, "model", onnx_path.name, "stm32f746").arena_bytes  # the emitted array's length
    plan, sched = program.plan, program.scheduling
    tflm = tflite_micro_arena(tflite) if tflite is not None and tflite.is_file() else None
    measured = tflm is not None
    if tflm is None and name in TFLM_DOCUMENTED:
        tflm = TFLM_DOCUMENTED[name]
    return Row(name, arena, plan.lower_bound_bytes(), sched.file_order_bytes, sched.peak_bytes, sched.exact,
               plan.planner, len(plan.overlapping()), tflm[0] if tflm else None, tflm[1] if tflm else None,
               measured, seconds)


def check(row: Row) -> list[str]:
    missed = []
    if row.name in TARGETS and row.arena > TARGETS[row.name]:
        missed.append(f"{row.name}: arena {row.arena:,} B > target {TARGETS[row.name]:,} B")
    if row.arena > row.layerwise_best:
        missed.append(f"{row.name}: arena {row.arena:,} B > best layer-wise bound {row.layerwise_best:,} B")
    return missed


def table(rows: list[Row]) -> str:
    head = (f"{'model':<8} {'arena':>8} {'lower':>8} {'lw file':>8} {'lw best':>9} {'tflm head / total':>22} "
            f"{'ratio':>6} {'target':>7}  planner (overlaps), time")
    lines = [head, "-" * len(head)]
    for r in rows:
        best = f"{r.layerwise_best:,}" + ("" if r.best_exact else "*")
        if r.tflm_head is None:
            tflm, ratio = "n/a", "-"
        else:
            tflm = f"{r.tflm_head:,} / {r.tflm_total:,}" + ("" if r.tflm_measured else " (doc)")
            ratio = f"{r.arena / r.tflm_head:.2f}"
        target = f"{TARGETS[r.name]:,}" if r.name in TARGETS else "-"
        lines.append(f"{r.name:<8} {r.arena:>8,} {r.lower:>8,} {r.layerwise_file:>8,} {best:>9} {tflm:>22} "
                     f"{ratio:>6} {target:>7}  {r.planner} ({r.overlaps}), {r.seconds:.2f} s")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--schedule-time-limit", type=float, default=2.0)
    args = parser.parse_args(argv)
    rows = []
    for name, (onnx_path, tflite) in MODELS.items():
        if not onnx_path.is_file():
            print(f"{name}: {onnx_path} not found, skipped", file=sys.stderr)
            continue
        rows.append(measure(name, onnx_path, tflite, args.schedule_time_limit))
    print(table(rows))
    missed = [m for row in rows for m in check(row)]
    absent = [name for name in TARGETS if name not in {r.name for r in rows}]
    for line in missed:
        print(f"MISSED: {line}")
    if absent:
        print(f"MISSED: no measurement for {', '.join(absent)} (models not found)")
    if not missed and not absent:
        print("all targets met")
    return 1 if missed or absent else 0


if __name__ == "__main__":
    sys.exit(main())
