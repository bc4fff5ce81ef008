"""Deterministic compiles: the op-order search is bounded by a count of states explored,
so its result depends on the graph alone, never on how fast the machine is; the time
limit is only a safety net, and when it cuts the search the Schedule, the compile
summary and report.json say so.

The graph: twelve independent 3-op branches joined by a Concat (4^12 sets of executed
ops), far beyond the exact search's budget, so the result comes from the beam search,
the part a wall-clock limit used to cut at a machine-dependent point."""

from __future__ import annotations

import pytest

from codegen_support import act, graph
from memory_support import inception_model, quantized_file
from tinycc_ml.compiler import TIME_LIMITED, CompileOptions, compile_model
from tinycc_ml.ir import ops
from tinycc_ml.ir.graph import Graph, Node
from tinycc_ml.passes.schedule import BEAM_STATE_BUDGET, EXACT_STATE_BUDGET, schedule

RELU = ops.Lut(table=tuple(max(v, 0) for v in range(-128, 128)))


def wide_graph(branches: int = 12) -> Graph:
    """As test_schedule's wide graph: branch b is widths (400 - 20b, 40, 8 + b), every
    branch's wide op first in the file (the worst order)."""
    tensors, nodes, tails = [act("x", (1, 32))], [], []
    for b in range(branches):
        prev = "x"
        for k, width in enumerate((400 - 20 * b, 40, 8 + b)):
            tensors.append(act(f"t{b}_{k}", (1, width)))
            nodes.append(Node(f"op{b}_{k}", RELU, (prev,), (f"t{b}_{k}",)))
            prev = f"t{b}_{k}"
        tails.append(prev)
    nodes.sort(key=lambda n: (int(n.name.split("_")[1]), n.name))
    tensors.append(act("y", (1, sum(8 + b for b in range(branches)))))
    nodes.append(Node("cat", ops.Concat(axis=1), tuple(tails), ("y",)))
    return graph(tensors, nodes, "x", "y")


class SlowClock:
    """A clock that advances `step` seconds at every reading: a machine as slow as you like."""

    def __init__(self, step: float):
        self.now, self.step, self.readings = 0.0, step, 0

    def __call__(self) -> float:
        self.now += self.step
        self.readings += 1
        return self.now


def _names(s) -> list[str]:
    return [n.name for n in s.order]


@pytest.fixture(scope="module")
def wide() -> Graph:
    return wide_graph()


@pytest.fixture(scope="module")
def unhurried(wide):
    return schedule(wide, time_limit=1e9)


def test_the_state_budget_not_the_clock_ends_the_exact_search(wide, unhurried):
    s = unhurried
    assert (s.exact, s.method, s.time_limited) == (False, "beam search", False)
    assert EXACT_STATE_BUDGET < s.states_explored <= EXACT_STATE_BUDGET + BEAM_STATE_BUDGET + len(wide.nodes) ** 2
    assert s.peak_bytes < s.file_order_bytes


def test_tiny_and_huge_time_limits_agree_when_the_budget_binds(wide, unhurried):
    """The default limit, and a limit a thousand times smaller read on a clock that never
    moves: the same order, peak and states; no time limit reported."""
    default = schedule(wide)
    frozen = schedule(wide, time_limit=0.01, clock=lambda: 0.0)
    for s in (default, frozen):
        assert (_names(s), s.peak_bytes, s.method, s.states_explored, s.time_limited) == (
            _names(unhurried), unhurried.peak_bytes, unhurried.method, unhurried.states_explored, False)


def test_a_slow_machine_gives_the_same_order(wide, unhurried):
    """Every clock reading takes a full second: the search runs for thousands of
    (simulated) seconds, far past the old 2 s wall-clock stop, and returns the same."""
    clock = SlowClock(1.0)
    s = schedule(wide, time_limit=1e9, clock=clock)
    assert clock.now > 1000
    assert (_names(s), s.peak_bytes, s.states_explored, s.time_limited) == (
        _names(unhurried), unhurried.peak_bytes, unhurried.states_explored, False)


def test_the_safety_net_is_reported_when_it_cuts(wide, unhurried):
    """A limit reached mid-search: the Schedule says so; the order is still valid and no
    worse than the graph's own."""
    for after in (1, 10, 1000):
        clock = SlowClock(1.0)
        s = schedule(wide, time_limit=after + 0.5, clock=clock)
        assert s.time_limited and not s.exact, after
        assert s.states_explored < unhurried.states_explored
        assert sorted(_names(s)) == sorted(n.name for n in wide.nodes)
        assert s.peak_bytes <= s.file_order_bytes


def test_exact_results_do_not_read_the_budget_as_a_limit():
    """Eight branches need about 105,000 states for the exact search: over the budget, so
    not exact; six branches need far fewer and are proven minimal, as before."""
    assert schedule(wide_graph(6), time_limit=1e9).exact
    eight = schedule(wide_graph(8), time_limit=1e9)
    assert not eight.exact and eight.states_explored > EXACT_STATE_BUDGET


def test_compile_summary_and_report_say_when_the_time_limit_cut(tmp_path):
    path = quantized_file(inception_model(), tmp_path / "inception.onnx")
    cut = compile_model(path, "stm32f746", tmp_path / "cut", CompileOptions(measure_firmware=False,
                                                                           schedule_time_limit=0.0))
    assert cut.report["schedule_time_limited"] is True
    assert f"  warning: {TIME_LIMITED}" in cut.summary_lines()
    calm = compile_model(path, "stm32f746", tmp_path / "calm", CompileOptions(measure_firmware=False))
    assert calm.report["schedule_time_limited"] is False
    assert not any(TIME_LIMITED in line for line in calm.summary_lines())
    assert (calm.report["schedule_method"], calm.report["best_layerwise_exact"]) == ("dynamic programming", True)
