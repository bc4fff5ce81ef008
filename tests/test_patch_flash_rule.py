"""A patch stage selects its kernels under the whole model's int16-weight flash rule
(kernels/wide_weights.py): its band graphs hold only the stage's constants, on which the rule
would see a smaller model and give the stage int16 weights the board's flash has no room for."""

from __future__ import annotations

from dataclasses import replace

from patch_support import chain, split_tensor
from tinycc_ml.ir.layout import NHWC
from tinycc_ml.kernels.target import KernelTarget
from tinycc_ml.kernels.wide_weights import decide_for_model, wide_weights_bytes, wide_weights_fit
from tinycc_ml.lowering import plan_graph
from tinycc_ml.program import LoopStep, straight_program
from tinycc_ml.patch.stage import patch_candidate


def _loop_symbols(flash_bytes: int) -> tuple[set[str], bool]:
    g = chain(3, 1, 1, (1, 1, 1, 1), h=23, w=4)
    g = replace(g, dim_orders={t.name: NHWC for t in g.activations()})
    target = KernelTarget("cortex-m7", dsp=True, fpu="fpv5-d16", flash_bytes=flash_bytes)
    planned = plan_graph(g, target, "greedy_by_size")
    straight = straight_program(g, planned.schedule.order, planned.calls, planned.plan, planned.schedule)
    candidate = patch_candidate(straight, split_tensor(g), 4, target)
    loop = next(step for step in candidate.steps if isinstance(step, LoopStep))
    symbols = {call.symbol for it in loop.iterations for step in it.steps for call in step.calls}
    return symbols, wide_weights_fit(g, target)


def test_a_stage_takes_int16_weights_only_when_the_whole_model_has_room():
    g = chain(3, 1, 1, (1, 1, 1, 1), h=23, w=4)
    whole = wide_weights_bytes(g, KernelTarget("cortex-m7", dsp=True, fpu="fpv5-d16"))
    roomy, fits = _loop_symbols(4 * whole)
    assert fits and any(s.endswith("_w16_s8") for s in roomy), roomy  # the stage's first layers go wide
    # One byte short for the whole model; the stage's own constants alone would still fit.
    tight = (4 * whole) // 3 - 1
    assert whole > tight * 3 // 4
    narrow, fits = _loop_symbols(tight)
    assert not fits and not any(s.endswith("_w16_s8") for s in narrow), narrow


def test_the_decision_is_made_once_and_kept():
    g = chain(3, 1, 1, (1, 1, 1, 1), h=23, w=4)
    target = KernelTarget("cortex-m7", dsp=True, fpu="fpv5-d16", flash_bytes=1)
    decided = decide_for_model(g, target)
    assert decided.wide_weights is False and decide_for_model(g, replace(target, flash_bytes=1 << 30)).wide_weights
    assert decide_for_model(g, decided) is decided
    assert not wide_weights_fit(g, replace(decided, flash_bytes=1 << 30))  # the model's decision, not this graph's
    assert not wide_weights_fit(g, KernelTarget("host", dsp=False, fpu="none", wide_weights=True))
