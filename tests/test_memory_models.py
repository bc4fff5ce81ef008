"""Memory planning on real lifetimes: the four MLPerf Tiny models and three DAGs
(residual network, Inception-style block, squeeze-excite block).

* the compiler's own plan (schedule + overlap facts of passes/inplace.py + best planner):
  the issue's arena targets, arena <= the best layer-wise bound, >= the lower bound;
* the planners on the models' lifetimes with the tests' own hand-made facts
  (memory_support.hand_facts), exact arenas derived by hand;
* the DAGs compiled, built and run on the host: output bytes equal the interpreter's.
"""

from __future__ import annotations

import numpy as np
import pytest

from codegen_support import MODELS
from memory_support import hand_facts, inception_model, quantized_file, residual_model, squeeze_excite_model
from tinycc_ml.compiler import CompileOptions, compile_model, import_model, lower, node_calls
from tinycc_ml.interp import run_graph
from tinycc_ml.memory import buffer_requests, plan
from tinycc_ml.passes import run_pipeline
from tinycc_ml.passes.schedule import schedule, scratch_bytes
from tinycc_ml.targets import host, read_build_info
from tinycc_ml.verification import random_input
from tinycc_ml.lowering import pass_context

HOST_PASSES = pass_context()  # the passes as a host compile runs them

needs_models = pytest.mark.skipif(not MODELS.is_dir(), reason=f"MLPerf Tiny models not found at {MODELS}")

# TFLite Micro's planned activation region ("head") for the same models, measured with
# its RecordingMicroAllocator (see benchmarks/memory.py), and the targets for tinyc.
TFLM_HEAD = {"ad01": 768, "kws": 16000, "resnet8": 49152, "vww": 73728}
TARGET = {"ad01": 768, "kws": 8800, "resnet8": 34500, "vww": 38500}
# Best layer-wise bound: all four are chains or near-chains whose file order is optimal.
# ad01: 640 B input + 128 B first FC output; kws: two 8,000 B conv tensors + the 448 B
# one-channel scratch of the in-place (CHW) depthwise conv; resnet8: the 16 KiB residual
# + conv1 + conv2 outputs of block 1; vww: 48x48x8 + 48x48x16 around the first pointwise
# conv (18,432 + 36,864).
BEST_LAYERWISE = {"ad01": 768, "kws": 16448, "resnet8": 49152, "vww": 55296}


@pytest.fixture(scope="module")
def mlperf_programs():
    if not MODELS.is_dir():
        pytest.skip(f"MLPerf Tiny models not found at {MODELS}")
    return {name: lower(import_model(MODELS / f"{name}.tf2onnx_int8.onnx"))[0] for name in TARGET}


@needs_models
@pytest.mark.models
@pytest.mark.parametrize("name", sorted(TARGET))
def test_mlperf_arena_targets(name, mlperf_programs):
    program = mlperf_programs[name]
    p, sched = program.plan, program.scheduling
    assert (sched.peak_bytes, sched.file_order_bytes, sched.exact) == (BEST_LAYERWISE[name],) * 2 + (True,)
    assert p.lower_bound_bytes() <= p.arena_bytes <= sched.peak_bytes
    assert p.arena_bytes <= TFLM_HEAD[name]
    assert p.arena_bytes <= TARGET[name]


# (arena, lower bound) with the compiler's own facts (passes/inplace.py), derived by hand
# from the distances d of those facts; the arena is optimal for them in each case:
#   ad01: input 640 B + first FC output 128 B, d = 127: overlap needs 128 B aligned, i.e.
#     none: 768 B (the bound, 640 + 128 - 1, ignores alignment);
#   kws: nine 8,000 B tensors; depthwise and pointwise both in place (d = 0; a 448 B
#     ring, a 64 B pixel copy): every tensor of the chain can sit at one offset, each
#     step's scratch beside it: 8,000 + 448 B at a depthwise step, the bound;
#   resnet8: residual 16,384 B + block 1's conv pair (16,384 B each, d = 543 -> 544):
#     33,312 B (bound 33,311);
#   vww: pointwise 48x48x8 -> 48x48x16 (18,432 -> 36,864 B, d = 18,439 -> 18,448):
#     18,448 + 18,432 = 36,880 B (bound 36,871).
COMPILER_PLAN = {"ad01": (768, 767), "kws": (8448, 8448), "resnet8": (33312, 33311), "vww": (36880, 36871)}


@needs_models
@pytest.mark.models
@pytest.mark.parametrize("name", sorted(COMPILER_PLAN))
def test_mlperf_arena_by_hand(name, mlperf_programs):
    p = mlperf_programs[name].plan
    assert (p.arena_bytes, p.lower_bound_bytes()) == COMPILER_PLAN[name]


@needs_models
@pytest.mark.models
def test_mlperf_lifetimes_with_hand_facts():
    """The best planner on the models' real lifetimes, with the tests' own facts:

    resnet8: at block 1's second conv, the residual t2 (16,384 B) + conv1 output t3 and
      conv2 output t4, which may share all but two rows (1,024 B, row by row 3x3): the
      lower bound 16,384 + 16,384 + 1,024 = 33,792 B, reached.
    vww: t5 (depthwise/2 output) must start 384 B below t4 (48x48x16), t3 (48x48x8)
      18,440 B above it, 18,448 aligned: 384 + 18,448 + 18,432 = 37,264 B (the lower
      bound, 37,248 B at t4's last step, ignores alignment).
    kws: nine 8,000 B tensors in a chain, each to start 640 B (depthwise, two rows) or
      64 B (pointwise, one pixel) below the one before, or not overlap at all (16,000 B):
      8,000 + 4 x 640 + 4 x 64 = 10,816 B; the depthwise convs' 448 B scratch fits in the
      staircase's gaps. Lower bound: a depthwise step, 8,000 + 640 + 448 = 9,088 B.
    ad01: FC outputs do not get facts here; the input + first output: 768 B.
    """
    expected = {"resnet8": (33792, 33792), "vww": (37264, 37248), "kws": (10816, 9088), "ad01": (768, 768)}
    for name, (arena, bound) in expected.items():
        g = run_pipeline(import_model(MODELS / f"{name}.tf2onnx_int8.onnx"), HOST_PASSES).graph
        calls = node_calls(g)
        order = schedule(g, scratch_bytes(calls)).order
        p = plan(buffer_requests(g, order, calls), "best", hand_facts(g, order))
        assert (p.arena_bytes, p.lower_bound_bytes()) == (arena, bound), name


# -- DAGs built with onnx.helper, quantized by onnxruntime, compiled and run on the host ---------

DAGS = {
    # (model, best layer-wise bytes, file order's layer-wise bytes), derived in test_schedule.py
    # for the first two; squeeze-excite: c (2,304 B) lives until the Mul writes y (2,304 B)
    # next to the 16 B gate: 4,624 B in every order.
    "inception": (inception_model, 11264, 20480),
    "residual": (residual_model, 6144, 6144),
    "squeeze_excite": (squeeze_excite_model, 4624, 4624),
}


@pytest.mark.parametrize("name", sorted(DAGS))
def test_dag_models_on_host_equal_the_interpreter(name, tmp_path):
    make, best, file_order = DAGS[name]
    path = quantized_file(make(), tmp_path / f"{name}.onnx")
    result = compile_model(path, "stm32f746", tmp_path / "out", CompileOptions(measure_firmware=False))
    r = result.report
    assert (r["best_layerwise_bytes"], r["file_order_layerwise_bytes"], r["best_layerwise_exact"]) == (best, file_order, True)
    assert r["lower_bound_bytes"] <= r["arena_bytes"] <= r["best_layerwise_bytes"]
    info = read_build_info(tmp_path / "out")
    exe = host.build(info)
    g = result.imported
    rng = np.random.default_rng(11)
    for _ in range(3):
        x = random_input(g.inputs[0], rng)
        y, _ = host.run_executable(exe, info, x)
        expected = run_graph(g, {g.inputs[0].onnx_name: x})[g.outputs[0].onnx_name]
        assert y.dtype == expected.dtype and y.tobytes() == expected.tobytes()

