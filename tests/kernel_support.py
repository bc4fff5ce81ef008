"""Helpers for the kernel tests: single-node graphs, random quantization, and the check
that the C kernels the registry picks give the interpreter's bytes exactly."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Mapping, Sequence, TypeVar

import numpy as np
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from tinycc_ml.interp import run_core
from tinycc_ml.ir.graph import BoundaryIO, DType, Graph, Node, QuantParams, Tensor
from tinycc_ml.ir.ops import OpAttrs
from tinycc_ml.kernels.call import KernelCall
from tinycc_ml.kernels.harness import BatchRunner, Runner, plan, run_calls
from tinycc_ml.kernels.physical import physical_shape
from tinycc_ml.kernels.registry import kernel_calls
from tinycc_ml.kernels.target import HOST_TARGET, KernelTarget

NHWC = (0, 2, 3, 1)
T = TypeVar("T")


def act(name: str, shape: Sequence[int], q: QuantParams) -> Tensor:
    return Tensor(name, tuple(int(d) for d in shape), DType.INT8, q)


def const(name: str, data: np.ndarray, q: QuantParams | None = None) -> Tensor:
    dtype = DType.INT8 if data.dtype == np.int8 else DType.INT32
    return Tensor(name, tuple(data.shape), dtype, q, data)


def single_node(
    attrs: OpAttrs,
    inputs: Sequence[Tensor | None],
    output: Tensor,
    dim_orders: Mapping[str, tuple[int, ...]] | None = None,
) -> Graph:
    """A graph of one node "op"; its activation inputs are graph inputs."""
    tensors = {t.name: t for t in [*inputs, output] if t is not None}
    node = Node("op", attrs, tuple(t.name if t is not None else "" for t in inputs), (output.name,))
    graph_inputs = tuple(
        BoundaryIO(t.name, "int8", t.shape, t.name, t.quant)
        for t in dict.fromkeys(t for t in inputs if t is not None and not t.is_constant)
    )
    graph_output = BoundaryIO(output.name, "int8", output.shape, output.name, output.quant)
    graph = Graph("single_node", tensors, (node,), graph_inputs, (graph_output,))
    return replace(graph, dim_orders=dict(dim_orders or {}))


def to_physical(graph: Graph, name: str, value: np.ndarray) -> bytes:
    return np.ascontiguousarray(np.transpose(value, graph.dim_order(name))).tobytes()


def from_physical(graph: Graph, name: str, data: bytes) -> np.ndarray:
    tensor = graph.tensor(name)
    order = graph.dim_order(name)
    array = np.frombuffer(data, dtype=np.int8).reshape(physical_shape(tensor.shape, order))
    return np.transpose(array, np.argsort(order))


def random_int8(rng: np.random.Generator, shape: Sequence[int]) -> np.ndarray:
    return rng.integers(-128, 128, size=tuple(shape)).astype(np.int8)


@dataclass(frozen=True)
class KernelCase:
    """One graph's kernel calls, their input bytes and the interpreter's output."""

    graph: Graph
    calls: tuple[KernelCall, ...]
    contents: Mapping[str, bytes]
    sizes: Mapping[str, int]
    aliases: Mapping[str, str] | None
    want: np.ndarray

    @property
    def output(self) -> str:
        (name,) = self.graph.output_tensors()
        return name


def kernel_case(
    graph: Graph,
    seed: int,
    aliases: Mapping[str, str] | None = None,
    inputs: Mapping[str, np.ndarray] | None = None,
    target: KernelTarget = HOST_TARGET,
) -> KernelCase:
    """target: the machine the kernels are selected for (a DSP target picks the DSP-only
    variants, whose portable and SIMD builds the host runners then both run)."""
    if inputs is None:
        rng = np.random.default_rng(seed)
        inputs = {name: random_int8(rng, graph.tensor(name).shape) for name in graph.input_tensors()}
    expected = run_core(graph, inputs)
    calls = tuple(call for node in graph.nodes for call in kernel_calls(node, graph, target))
    contents = {name: to_physical(graph, name, value) for name, value in inputs.items()}
    sizes = {t.name: t.nbytes for t in graph.activations()}
    (out_name,) = graph.output_tensors()
    return KernelCase(graph, calls, contents, sizes, aliases, expected[out_name])


def check_kernels(
    graph: Graph,
    runners: Sequence[Runner],
    seed: int,
    aliases: Mapping[str, str] | None = None,
    inputs: Mapping[str, np.ndarray] | None = None,
    target: KernelTarget = HOST_TARGET,
) -> np.ndarray:
    """Interpreter vs every runner on random int8 inputs (or the given ones): byte equality
    of the output, which is returned."""
    case = kernel_case(graph, seed, aliases, inputs, target)
    for runner in runners:
        if not case.calls:  # a pure reinterpretation: the output *is* the input's bytes
            (in_name,) = graph.input_tensors()
            assert to_physical(graph, case.output, case.want) == case.contents[in_name]
            continue
        result = run_calls(runner, case.calls, case.contents, case.sizes, aliases)[case.output]
        got = from_physical(graph, case.output, result)
        assert_same(got, case.want, f"{type(runner).__name__}: {case.calls[0].symbol} {case.calls[0].params}")
    return case.want


def check_kernels_batch(cases: Sequence[KernelCase], runner: BatchRunner) -> int:
    """Every case on a runner that takes batches (QEMU: one boot for all); byte equality with
    the interpreter per case. Returns the number of kernel calls checked."""
    cases = [case for case in cases if case.calls]
    plans = [plan(case.calls, case.contents, case.sizes, case.aliases) for case in cases]
    results = runner.run_many(plans)
    for case, p, buffers in zip(cases, plans, results):
        got = from_physical(case.graph, case.output, buffers[p.tensor_buffers[case.output]])
        name = getattr(runner, "name", type(runner).__name__)
        assert_same(got, case.want, f"{name}: {case.calls[0].symbol} {case.calls[0].params}")
    return sum(len(case.calls) for case in cases)


def draw_examples(strategy: st.SearchStrategy[T], count: int) -> list[T]:
    """`count` examples of a strategy, the same ones every run (derandomized, no database):
    the cases a batch runner checks at once, where hypothesis cannot call a test per case."""
    found: list[T] = []

    @settings(max_examples=count, derandomize=True, database=None, deadline=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(strategy)
    def collect(example: T) -> None:
        found.append(example)

    collect()
    return found


def assert_same(got: np.ndarray, want: np.ndarray, context: str) -> None:
    if got.shape == want.shape and got.tobytes() == want.tobytes():
        return
    wrong = np.argwhere(got != want) if got.shape == want.shape else []
    first = [(tuple(int(i) for i in idx), int(got[tuple(idx)]), int(want[tuple(idx)])) for idx in wrong[:8]]
    raise AssertionError(
        f"C != interpreter: {len(wrong)} of {want.size} values differ (index, C, interp) {first}\n{context}"
    )


# --- hypothesis strategies ----------------------------------------------------


def scales(low_exp: float = -6.0, high_exp: float = 2.0) -> st.SearchStrategy[float]:
    """float32 scales log-uniform over [10^low_exp, 10^high_exp]."""
    return st.floats(low_exp, high_exp).map(lambda e: float(np.float32(10.0**e)))


zero_points = st.one_of(st.sampled_from([-128, 127, 0]), st.integers(-128, 127))


@st.composite
def per_tensor(draw: st.DrawFn, low_exp: float = -6.0, high_exp: float = 2.0) -> QuantParams:
    return QuantParams.per_tensor(draw(scales(low_exp, high_exp)), draw(zero_points))


@st.composite
def act_range(draw: st.DrawFn) -> tuple[int, int]:
    """Full range most of the time, else a random fused clamp."""
    if draw(st.booleans()):
        return -128, 127
    low = draw(st.integers(-128, 127))
    return low, draw(st.integers(low, 127))


def permutations(rank: int) -> st.SearchStrategy[tuple[int, ...]]:
    return st.permutations(list(range(rank))).map(tuple)


seeds = st.integers(0, 2**32 - 1)


# --- the _proved twins (a record's loops with the proved tail, listed ahead of it) -----------


def general(symbol: str) -> str:
    """The record a _proved twin stands in for (the kernel with the general loops)."""
    return symbol.replace("_proved", "")


def is_proved(symbol: str) -> bool:
    return "_proved" in symbol


def both_tails(graph: Graph, target: KernelTarget) -> list[Graph]:
    """graph, and where the registry picks a _proved twin for its node, the same graph with that
    twin avoided (its record's general loops and guarded tail on the same layer)."""
    node = graph.nodes[0]
    symbol = kernel_calls(node, graph, target)[0].symbol
    if not is_proved(symbol):
        return [graph]
    attrs = replace(node.attrs, avoid_variants=(*node.attrs.avoid_variants, symbol))
    avoided = replace(graph, nodes=(replace(node, attrs=attrs),))
    assert kernel_calls(avoided.nodes[0], avoided, target)[0].symbol == general(symbol)
    return [graph, avoided]


def tails_seen(cases: Sequence[KernelCase]) -> set[str]:
    """Which tails a batch of kernel cases ran: 'proved' (a _proved twin) and 'general'."""
    return {"proved" if is_proved(case.calls[0].symbol) else "general" for case in cases}
