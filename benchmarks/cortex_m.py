#!/usr/bin/env python3
"""tinyc against TFLite Micro + CMSIS-NN on the emulated Cortex-M7 and Cortex-M4, side by side on
the same inputs, for the four MLPerf Tiny models in both forms (tf2onnx int8, onnxruntime QDQ).

    python benchmarks/cortex_m.py [--models kws,vww] [--forms tf2onnx_int8,ort_qdq] [--inputs 2] [--profile]
                                  [--cores m7,m4,m33,m3]

--cores adds tinyc's instructions on the emulated Cortex-M33 (qemu-m33, mps2-an505) and the
Cortex-M3 without DSP (qemu-m3, mps2-an385, the portable kernels) as extra columns; the
TFLite Micro baseline exists for the M7 and M4 only ('-' in its columns for the others).

Both are counted the same way: QEMU with -icount shift=0, the CMSDK timer read around one
inference (tinyc: model_invoke(); the baseline: its timed Invoke()), 40 instructions per tick
(50 on qemu-m33, whose timer runs at 20 MHz).
The baseline is the firmware in ../shared/baselines/tflm_cmsis_nn (TFLite Micro + CMSIS-NN,
arm-none-eabi-gcc 12.2 -O2, one ELF per model and core), run through its run_baseline.py.

Inputs: random int8 tensors in the TFLite model's input quantization. The tf2onnx form takes
them as they are; the onnxruntime form takes float input, so it gets their dequantized values
(scale and zero point of the TFLite input), whose int8 quantization is again exactly the tensor
the baseline gets. Outputs: every tinyc run (host C, qemu-m7, qemu-m4) must equal tinyc's NumPy
interpreter byte for byte ("exact"); the tf2onnx form must also equal TFLite Micro's output byte
for byte ("=TFLM"). The onnxruntime form is quantized differently (its own scales, ONNX rounding),
so its output is comparable to TFLite Micro's only in what it decides: the argmax, for the
classifiers.

Prints tables only (no assertions on speed); the exit status is 1 when an output is not exact.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
# ../shared beside the checkout; from a git worktree nested one level deeper, the first such folder up.
SHARED = next((p / "shared" for p in ROOT.parents if (p / "shared" / "models").is_dir()), ROOT.parent / "shared")
MLPERF = SHARED / "models" / "mlperf_tiny" / "onnx"
BASELINE = SHARED / "baselines" / "tflm_cmsis_nn"
MODELS = ("ad01", "kws", "resnet8", "vww")
FORMS = ("tf2onnx_int8", "ort_qdq")
CORES = ("qemu-m7", "qemu-m4")
BASELINE_CORE = {"qemu-m7": "m7", "qemu-m4": "m4"}
CORE_TARGETS = {"m7": "qemu-m7", "m4": "qemu-m4", "m33": "qemu-m33", "m3": "qemu-m3"}  # --cores
CLASSIFIERS = ("kws", "resnet8", "vww")  # ad01 is an autoencoder: no argmax to compare


@dataclass
class Row:
    """What one model in one form measured (max instructions over the inputs)."""

    macs: int = 0
    arena: int = 0
    exact: bool = True  # every tinyc output == the interpreter's
    tflm_equal: int = 0  # inputs where tinyc's output bytes == TFLite Micro's (tf2onnx form)
    argmax_equal: int = 0  # inputs where the argmax agrees (onnxruntime form, classifiers)
    inputs: int = 0
    tinyc: dict[str, int] = field(default_factory=dict)
    tflm: dict[str, int] = field(default_factory=dict)
    tflm_arena: int = 0
    code: dict[str, int] = field(default_factory=dict)  # core -> runtime code bytes (targets/footprint.py)
    profiles: dict = field(default_factory=dict)  # core -> tinycc_ml.targets.profile.Profile


def run_baseline(model: str, core: str, x_q: np.ndarray, work: Path) -> dict:
    path = work / f"baseline_input_{model}.bin"
    path.write_bytes(np.ascontiguousarray(x_q, dtype=np.int8).tobytes())
    proc = subprocess.run([sys.executable, str(BASELINE / "run_baseline.py"), "--model", model, "--core", core,
                           "--input", str(path), "--output-file", str(work / f"baseline_output_{model}_{core}.bin")],
                          capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"run_baseline.py --model {model} --core {core} failed:\n{proc.stdout}{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def measure(model: str, form: str, inputs: int, work: Path, profile: bool, host: bool,
            cores: tuple[str, ...] = CORES) -> Row:
    from tinycc_ml.compiler import CompileOptions, compile_model, import_model
    from tinycc_ml.interp import run_graph
    from tinycc_ml.targets import TARGETS, read_build_info
    from tinycc_ml.targets.footprint import runtime_code_bytes
    from tinycc_ml.targets.profile import run_profile

    result = compile_model(MLPERF / f"{model}.{form}.onnx", "stm32f746", work / "out", CompileOptions(measure_firmware=False))
    info = read_build_info(work / "out")
    graph = result.imported
    io_in, io_out = graph.inputs[0], graph.outputs[0]
    tflite_in = import_model(MLPERF / f"{model}.tf2onnx_int8.onnx").inputs[0]  # the baseline's input quantization
    row = Row(macs=result.report["macs"], arena=result.report["arena_bytes"], inputs=inputs)
    rng = np.random.default_rng(0)
    for i in range(inputs):
        x_q = rng.integers(-128, 128, size=tflite_in.shape, dtype=np.int16).astype(np.int8)
        if io_in.onnx_dtype == "int8":
            x = x_q
        else:
            x = ((x_q.astype(np.float32) - tflite_in.quant.zp) * np.float32(tflite_in.quant.s)).astype(np.float32)
        expected = run_graph(graph, {io_in.onnx_name: x})[io_out.onnx_name]
        outputs = []
        for target in (("host",) if host and i == 0 else ()) + cores:
            if target in CORES and profile and i == 0:
                run, row.profiles[target] = run_profile(info, x, None, target=target)
            else:
                run = TARGETS[target].run(info, x, None)
            row.exact &= run.output.tobytes() == expected.tobytes()
            outputs.append(run.output)
            if target in cores:
                row.tinyc[target] = max(row.tinyc.get(target, 0), run.instructions)
        baseline_outputs = []
        for target in CORES:
            base = run_baseline(model, BASELINE_CORE[target], x_q, work)
            row.tflm[target] = max(row.tflm.get(target, 0), base["instructions"])
            row.tflm_arena = base["arena_used_bytes"] or 0
            baseline_outputs.append(np.array(base["output"], dtype=np.int8))
        pairs = [(ours, theirs) for ours in outputs for theirs in baseline_outputs]
        if form == "tf2onnx_int8":
            row.tflm_equal += all(ours.tobytes() == theirs.tobytes() for ours, theirs in pairs)
        elif model in CLASSIFIERS:
            row.argmax_equal += all(int(np.argmax(ours)) == int(np.argmax(theirs)) for ours, theirs in pairs)
    for target in cores:
        row.code[target] = runtime_code_bytes(work / "out" / "build" / target / f"{info.prefix}.elf", info.prefix).total
    return row


def _tflm_column(model: str, form: str, row: Row) -> str:
    if form == "tf2onnx_int8":
        return "yes" if row.tflm_equal == row.inputs else f"NO {row.inputs - row.tflm_equal}/{row.inputs}"
    if model in CLASSIFIERS:
        return f"argmax {row.argmax_equal}/{row.inputs}"
    return "n/a"


def print_table(rows: dict[tuple[str, str], Row]) -> None:
    head = ("model.form", "MACs", "exact", "=TFLM", "m7 instr", "m7 i/MAC", "TFLM m7", "TFLM i/MAC", "ratio m7",
            "m4 instr", "TFLM m4", "ratio m4", "code B m7", "code B m4", "arena B", "TFLM arena B")
    body = []
    for (model, form), r in rows.items():
        m7, m4, b7, b4 = r.tinyc["qemu-m7"], r.tinyc["qemu-m4"], r.tflm["qemu-m7"], r.tflm["qemu-m4"]
        body.append((f"{model}.{form}", f"{r.macs:,}", "yes" if r.exact else "NO", _tflm_column(model, form, r),
                     f"{m7:,}", f"{m7 / r.macs:.2f}", f"{b7:,}", f"{b7 / r.macs:.2f}", f"{m7 / b7:.2f}x",
                     f"{m4:,}", f"{b4:,}", f"{m4 / b4:.2f}x",
                     f"{r.code['qemu-m7']:,}", f"{r.code['qemu-m4']:,}", f"{r.arena:,}", f"{r.tflm_arena:,}"))
    extra = [t for t in next(iter(rows.values())).tinyc if t not in CORES] if rows else []
    for t in extra:  # --cores: tinyc only, no TFLite Micro baseline on these cores
        c = t.removeprefix("qemu-")
        head += (f"{c} instr", f"{c} i/MAC", f"TFLM {c}")
        body = [cells + (f"{r.tinyc[t]:,}", f"{r.tinyc[t] / r.macs:.2f}", "-") for cells, r in zip(body, rows.values())]
    _print_aligned(head, body, left={0, 2, 3})


def _print_aligned(head: tuple[str, ...], body: list[tuple[str, ...]], left: set[int]) -> None:
    widths = [max(len(x[i]) for x in (head, *body)) for i in range(len(head))]

    def fmt(cells: tuple[str, ...]) -> str:
        return "  ".join(c.ljust(w) if i in left else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths))).rstrip()

    print(fmt(head))
    print("  ".join("-" * w for w in widths))
    for cells in body:
        print(fmt(cells))


def _per_mac(row) -> str:  # noqa: ANN001 - a tinycc_ml.targets.profile.ProfileRow
    return f"{row.instructions_per_mac:.2f}" if row.instructions_per_mac is not None else ""


def print_profile(model: str, form: str, row: Row) -> None:
    from tinycc_ml.targets.profile import shape_text
    p7, p4 = row.profiles["qemu-m7"], row.profiles["qemu-m4"]
    print(f"\n{model}.{form}: per op, schedule order (tinyc run --profile; hook cost subtracted: "
          f"m7 {p7.mark_instructions:g}, m4 {p4.mark_instructions:g} instructions per step)")
    head = ("step", "node", "kind", "output", "kernel", "MACs", "m7 instr", "m7 i/MAC", "m7 share", "m4 instr",
            "m4 i/MAC")
    body = []
    for r7, r4 in zip(p7.rows, p4.rows, strict=True):
        body.append((str(r7.op.step), r7.op.short_name, r7.op.kind, shape_text(r7.op.output_shape),
                     "+".join(r7.op.symbols) or "-", f"{r7.op.macs:,}",
                     f"{r7.instructions:,}", _per_mac(r7), f"{100 * p7.share(r7):.1f}%", f"{r4.instructions:,}", _per_mac(r4)))
    macs = p7.macs or 1
    body.append(("", "total", "", "", "", f"{p7.macs:,}", f"{p7.total_instructions:,}", f"{p7.total_instructions / macs:.2f}",
                 "100.0%", f"{p4.total_instructions:,}", f"{p4.total_instructions / macs:.2f}"))
    body.append(("", "whole invoke (normal build)", "", "", "", "", f"{p7.unprofiled_instructions:,}", "", "",
                 f"{p4.unprofiled_instructions:,}", ""))
    _print_aligned(head, body, left={1, 2, 3, 4})


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--forms", default=",".join(FORMS))
    parser.add_argument("--inputs", type=int, default=2, help="random inputs per model (instructions: the max)")
    parser.add_argument("--profile", action="store_true", help="also print the per-op profile of every model")
    parser.add_argument("--no-host", dest="host", action="store_false", help="skip the host C build and run")
    parser.add_argument("--cores", default="m7,m4",
                        help="emulated cores to count on, of m7, m4, m33, m3 (m7 and m4, the baseline's, always)")
    args = parser.parse_args()
    names = args.cores.split(",")
    unknown = [c for c in names if c not in CORE_TARGETS]
    if unknown:
        print(f"--cores: unknown core {unknown[0]}; choose from {', '.join(CORE_TARGETS)}", file=sys.stderr)
        return 2
    cores = CORES + tuple(CORE_TARGETS[c] for c in dict.fromkeys(names) if CORE_TARGETS[c] not in CORES)
    for path, what in ((MLPERF, "MLPerf Tiny models"), (BASELINE / "run_baseline.py", "TFLite Micro + CMSIS-NN baseline")):
        if not path.exists():
            print(f"{what} not found: {path}", file=sys.stderr)
            return 2
    rows: dict[tuple[str, str], Row] = {}
    for form in args.forms.split(","):
        for model in args.models.split(","):
            print(f"measuring {model}.{form} ...", file=sys.stderr, flush=True)
            with tempfile.TemporaryDirectory(prefix="tinyc_bench_") as tmp:
                rows[(model, form)] = measure(model, form, args.inputs, Path(tmp), args.profile, args.host, cores)
    print_table(rows)
    print(f"\ninstructions: QEMU -icount shift=0, one inference, the max over {args.inputs} random input(s); "
          "TFLM = TFLite Micro + CMSIS-NN (../shared/baselines/tflm_cmsis_nn) on the same input and core; "
          "ratio = tinyc / TFLM (lower is better); i/MAC = instructions per multiply-accumulate.")
    print(f"exact: host C and {', '.join(cores)} equal tinyc's interpreter byte for byte on every input. "
          "=TFLM: tf2onnx form, output bytes equal TFLite Micro's on both cores; onnxruntime form (own quantization): "
          "argmax agreement with TFLite Micro.")
    print("code B: runtime code in the firmware after --gc-sections (tinycc_ml.targets.footprint.runtime_code_bytes, "
          "the figure report.json carries as firmware_footprint.runtime_code_bytes; FUNC sizes of arm-none-eabi-readelf -s): the "
          "functions named tinyc_* (kernels, helpers) + model_* (generated glue) + the newlib/libgcc functions they "
          "call (objdump -d); weights, parameter structs and the QEMU harness excluded. arena B: tinyc's activation "
          "arena; TFLM arena B: the baseline's arena_used_bytes.")
    if args.profile:
        for (model, form), row in rows.items():
            print_profile(model, form, row)
    return 0 if all(r.exact for r in rows.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
