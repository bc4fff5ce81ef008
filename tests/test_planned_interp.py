"""The plan-aware interpreter on real plans: every model, run on one byte arena at the
planned offsets (overlaps from the facts included), equals the plain interpreter bit for
bit; and a plan with two live buffers moved to share bytes gives a wrong output, so the
check can fail."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from codegen_support import MODELS
from tinycc_ml.compiler import import_model, lower
from tinycc_ml.errors import PlanError
from tinycc_ml.interp import run_core, run_graph
from tinycc_ml.interp.planned import run_planned, run_planned_core
from tinycc_ml.memory.plan import MemoryPlan, Placement
from tinycc_ml.program import Program
from tinycc_ml.verification import random_input

DIGITS = Path(__file__).resolve().parents[1] / "examples" / "digits" / "digits_int8.onnx"
MLPERF = [f"{m}.{form}" for m in ("ad01", "kws", "resnet8", "vww") for form in ("tf2onnx_int8", "ort_qdq")]


def _dag_model(name: str, tmp_path: Path) -> Path:
    import memory_support  # the scheduling tests' DAG models (residual, Inception-style, SE)

    return memory_support.quantized_file(getattr(memory_support, f"{name}_model")(), tmp_path / f"{name}.onnx")


def _check_model(path: Path, inputs: int = 2) -> Program:
    graph = import_model(path)
    program, _ = lower(graph)
    rng = np.random.default_rng(11)
    io_in, io_out = graph.inputs[0], graph.outputs[0]
    for _ in range(inputs):
        x = random_input(io_in, rng)
        want = run_graph(graph, {io_in.onnx_name: x})[io_out.onnx_name]
        got = run_planned(program, {io_in.onnx_name: x})[io_out.onnx_name]
        assert got.dtype == want.dtype and got.tobytes() == want.tobytes(), path.name
    return program


@pytest.mark.models
@pytest.mark.skipif(not MODELS.is_dir(), reason=f"MLPerf Tiny models not found at {MODELS}")
@pytest.mark.parametrize("model", MLPERF)
def test_mlperf_models_on_their_plan_equal_the_interpreter(model):
    program = _check_model(MODELS / f"{model}.onnx")
    if not model.startswith("ad01"):  # ad01's FC chain gains nothing from overlap
        assert program.plan.used_facts(), "the plan overlaps no buffers: the test would show nothing"


def test_digits_on_its_plan_equals_the_interpreter():
    _check_model(DIGITS, inputs=4)


@pytest.mark.parametrize("name", ["residual", "inception", "squeeze_excite"])
def test_dag_models_on_their_plan_equal_the_interpreter(name, tmp_path):
    _check_model(_dag_model(name, tmp_path), inputs=3)


def _unchecked(plan: MemoryPlan, **changes) -> Placement:
    """The plan with `changes`, as a bare Placement: a MemoryPlan would refuse to exist."""
    return Placement(**{name: getattr(plan, name) for name in Placement.__dataclass_fields__} | changes)


def _collide(program: Program) -> Program:
    """Move the output of some step onto a buffer that the step does not read but a later
    step does (so the clobbered bytes are read after the move, by another op)."""
    plan = program.plan
    requests = plan.requests
    for j, b in enumerate(requests):
        reads = set(program.schedule[b.first].inputs)
        for i, a in enumerate(requests):
            if (i != j and a.tensors and b.tensors and a.first < b.first < a.last and b.size >= 16
                    and not reads & set(a.tensors)):
                offsets = list(plan.offsets)
                offsets[j] = offsets[i]
                arena = max(plan.arena_bytes, offsets[i] + b.size)
                with pytest.raises(PlanError, match="overlap"):
                    replace(plan, offsets=tuple(offsets), arena_bytes=arena)
                return replace(program, plan=_unchecked(plan, offsets=tuple(offsets), arena_bytes=arena))
    raise AssertionError("no buffer is live across another's first step")


@pytest.mark.models
@pytest.mark.skipif(not MODELS.is_dir(), reason=f"MLPerf Tiny models not found at {MODELS}")
def test_a_corrupted_plan_gives_a_wrong_output():
    graph = import_model(MODELS / "resnet8.tf2onnx_int8.onnx")
    program, _ = lower(graph)
    broken = _collide(program)
    x = random_input(graph.inputs[0], np.random.default_rng(2))
    inputs = {graph.inputs[0].tensor: x.reshape(graph.tensor(graph.inputs[0].tensor).shape)}
    want = run_core(graph, inputs)[graph.outputs[0].tensor]
    assert run_planned_core(program, inputs).outputs[graph.outputs[0].tensor].tobytes() == want.tobytes()
    got = run_planned_core(broken, inputs)
    assert got.outputs[graph.outputs[0].tensor].tobytes() != want.tobytes()


def test_a_too_generous_overlap_gives_a_wrong_output(tmp_path):
    """The residual model's plan with one used fact pair moved one byte closer than its
    min_distance allows: the op then reads input bytes it already overwrote."""
    graph = import_model(_dag_model("residual", tmp_path))
    program, _ = lower(graph)
    plan = program.plan
    pair = next(p for p in plan.overlapping() if p.min_distance > 0)
    offsets = list(plan.offsets)
    offsets[pair.output] = offsets[pair.input] - pair.min_distance + 1  # one byte too close
    shift = max(0, -offsets[pair.output])
    offsets = [o + shift for o in offsets]
    with pytest.raises(PlanError):  # a MemoryPlan cannot be this
        replace(plan, offsets=tuple(offsets), arena_bytes=plan.arena_bytes + shift + 16)
    broken = replace(program, plan=_unchecked(plan, offsets=tuple(offsets), arena_bytes=plan.arena_bytes + shift + 16))
    rng = np.random.default_rng(4)
    wrong = 0
    for _ in range(3):
        x = random_input(graph.inputs[0], rng)
        name_in, name_out = graph.inputs[0].onnx_name, graph.outputs[0].onnx_name
        want = run_graph(graph, {name_in: x})[name_out]
        wrong += run_planned(broken, {name_in: x})[name_out].tobytes() != want.tobytes()
    assert wrong > 0
