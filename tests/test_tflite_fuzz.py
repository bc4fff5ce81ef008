"""Corrupted .tflite files never crash, hang or allocate without bound: a ModelError, or a model
that imports and runs.

Starting from small valid models (the repo-built operator models of test_tflite_ops and, when
present, TFLite Micro's hello_world), each mutant flips bytes, truncates the file, or writes
a random or huge 32-bit value over an offset / vector length / index field, from fixed seeds
(the same mutants every run). Every mutant is imported under a time limit; one that imports
is also lowered (passes, schedule, memory plan) and interpreted on one input. Targeted cases
pin the messages for the corruptions the random ones hit least often.
"""

from __future__ import annotations

import time

import numpy as np
import pytest

from test_tflite_ops import MODELS, float_edges_model
from tflite_support import TFLM_MODELS, TfliteBuilder
from tinycc_ml.compiler import lower
from tinycc_ml.errors import ModelError, TinycError
from tinycc_ml.frontend.tflite import import_tflite
from tinycc_ml.interp import run_graph

MUTANTS_PER_MODEL = 200
SECONDS_PER_MUTANT = 5.0
RUN_LIMIT_BYTES = 1 << 20  # interpret mutants whose activations fit in 1 MB


def _bases() -> dict[str, bytes]:
    bases = {name: make() for name, make in MODELS.items()}
    bases["float_edges"] = float_edges_model()
    hello = TFLM_MODELS / "hello_world_int8.tflite"
    if hello.is_file():
        bases["hello_world"] = hello.read_bytes()
    return bases


def mutate(data: bytes, rng: np.random.Generator) -> tuple[str, bytes]:
    buf = bytearray(data)
    kind = int(rng.integers(0, 4))
    if kind == 0:
        flips = int(rng.integers(1, 9))
        for pos in rng.integers(0, len(buf), size=flips):
            buf[int(pos)] ^= int(rng.integers(1, 256))
        return f"flip {flips} bytes", bytes(buf)
    if kind == 1:
        cut = int(rng.integers(0, len(buf)))
        return f"truncate to {cut}", bytes(buf[:cut])
    pos = int(rng.integers(0, (len(buf) - 4) // 4)) * 4
    if kind == 2:
        value = int(rng.integers(0, 1 << 32))
    else:
        value = int(rng.choice([0xFFFFFFFF, 0x7FFFFFFF, 0x80000000, len(buf), len(buf) + 4, 1 << 20]))
    buf[pos:pos + 4] = value.to_bytes(4, "little")
    return f"u32 {value:#x} at {pos}", bytes(buf)


def _exercise(data: bytes) -> str:
    """'ok' or 'error: ...'; anything but a TinycError propagates and fails the test."""
    try:
        imported = import_tflite(data, "mutant")
    except ModelError as exc:
        assert str(exc), "a ModelError says what is wrong"
        return "error"
    graph = imported.graph
    try:
        lower(graph, schedule_time_limit=0.1)
        if sum(t.nbytes for t in graph.activations()) <= RUN_LIMIT_BYTES:
            io = graph.inputs[0]
            dtype = np.float32 if io.onnx_dtype == "float32" else np.int8
            run_graph(graph, {io.onnx_name: np.zeros(io.shape, dtype)})
    except TinycError:
        return "error"
    return "ok"


@pytest.mark.parametrize("name", sorted(_bases()))
def test_mutated_models_never_crash(name: str) -> None:
    base = _bases()[name]
    rng = np.random.default_rng(sum(name.encode()))  # fixed per model
    outcomes: dict[str, int] = {}
    for i in range(MUTANTS_PER_MODEL):
        what, data = mutate(base, rng)
        start = time.monotonic()
        try:
            outcome = _exercise(data)
        except Exception as exc:  # noqa: BLE001 - the test is that nothing else escapes
            raise AssertionError(f"{name} mutant {i} ({what}) raised {type(exc).__name__}: {exc}") from exc
        elapsed = time.monotonic() - start
        assert elapsed < SECONDS_PER_MUTANT, f"{name} mutant {i} ({what}) took {elapsed:.1f} s"
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
    assert outcomes.get("error", 0) > 0  # the mutations do reach the checks


def _small_model(data: np.ndarray | None = None, shape=(3, 4), weight_shape=(3, 4)) -> TfliteBuilder:
    b = TfliteBuilder()
    b.tensor("x", (1, shape[1]), scale=0.1, zero_point=0)
    b.tensor("w", weight_shape, scale=0.01, data=np.zeros(weight_shape, np.int8) if data is None else None)
    if data is not None:
        b.tensors[-1].data = data
    b.tensor("y", (1, weight_shape[0]), scale=0.2, zero_point=0)
    b.op("FULLY_CONNECTED", ["x", "w", None], ["y"], "FullyConnectedOptions")
    return b


def test_buffer_shorter_than_its_tensor() -> None:
    b = _small_model(data=np.zeros(5, np.int8))  # 5 bytes for a [3, 4] int8 tensor
    with pytest.raises(ModelError, match=r"tensor 1 \('w'\) of shape \[3, 4\] int8 needs 12 bytes of data, but its "
                                         r"buffer holds 5"):
        import_tflite(b.build(["x"], ["y"]), "short")


def test_huge_shape_is_refused_before_any_allocation() -> None:
    b = TfliteBuilder()
    b.tensor("x", (1, 65536, 65536, 8), scale=0.1, zero_point=0)
    b.tensor("y", (1, 65536, 65536, 8), scale=0.1, zero_point=0)
    b.op("RELU", ["x"], ["y"])
    with pytest.raises(ModelError, match=r"tensor 0 \('x'\) has shape \[1, 65536, 65536, 8\] \(34,359,738,368 "
                                         r"elements\)"):
        import_tflite(b.build(["x"], ["y"]), "huge")


def test_tensor_index_out_of_range() -> None:
    b = _small_model()
    data = bytearray(b.build(["x"], ["y"]))
    # the operator's inputs vector is [0, 1, -1]: find it and point its first entry past the tensor list
    pattern = (0).to_bytes(4, "little", signed=True) + (1).to_bytes(4, "little") + (-1).to_bytes(4, "little", signed=True)
    at = bytes(data).index((3).to_bytes(4, "little") + pattern) + 4
    data[at:at + 4] = (1000).to_bytes(4, "little")
    with pytest.raises(ModelError, match=r"operator 0 \(FULLY_CONNECTED\) refers to tensor 1000, but the model has 3"):
        import_tflite(bytes(data), "index")


def test_vector_length_beyond_the_file() -> None:
    b = _small_model()
    data = bytearray(b.build(["x"], ["y"]))
    pattern = (3).to_bytes(4, "little") + (0).to_bytes(4, "little") + (1).to_bytes(4, "little")
    at = bytes(data).index(pattern)
    data[at:at + 4] = (0x7FFFFFFF).to_bytes(4, "little")
    with pytest.raises(ModelError, match="claims 2147483647 entries, more than the .*-byte file holds"):
        import_tflite(bytes(data), "length")


def test_not_a_tflite_file() -> None:
    with pytest.raises(ModelError, match="not a TFLite model"):
        import_tflite(b"\x08\x07onnx-or-something-else", "x")
    with pytest.raises(ModelError, match="not a TFLite model"):
        import_tflite(b"", "x")
