"""The kernel test firmware on the two other emulated cores, bit for bit against the
interpreter: qemu-m33 (mps2-an505, Armv8-M mainline with the DSP extension: the SIMD paths as
-mcpu=cortex-m33 compiles them) and qemu-m3 (mps2-an385, no DSP and no FPU: the portable paths
on a real target, floats in software). qemu-m4/m7 run the full grids (test_kernels_*.py); here
every family gets a small batch drawn from the same strategies, one emulator boot per family,
so the two cores add seconds, not minutes, to the suite."""

from __future__ import annotations

import struct
import subprocess

import numpy as np
import pytest
from hypothesis import strategies as st

from kernel_support import check_kernels_batch, draw_examples, kernel_case, seeds
from test_inplace_kernels import pointwise_graphs, pointwise_inplace_graphs
from test_kernels_conv import conv_graphs, fully_connected_graphs
from test_kernels_depthwise import depthwise_graphs
from test_kernels_elementwise import binary_graphs, lut_graphs, softmax_graphs
from test_kernels_fixedpoint import _requant_cases
from test_kernels_movement import concat_graphs, pad_graphs, transpose_graphs
from test_kernels_pool import pool_graphs
from tinycc_ml.kernels.harness import raw_plan
from tinycc_ml.quant import fixedpoint as fp

CASES = 16  # per family and core: enough to cover each variant's shapes, edges and channel blocks

FAMILIES = {
    "conv": lambda: conv_graphs(),
    "conv_wide": lambda: conv_graphs(wide=True),
    "fully_connected": fully_connected_graphs,
    "depthwise": depthwise_graphs,
    "pointwise": lambda: st.one_of(pointwise_graphs(), pointwise_inplace_graphs(), pointwise_graphs(most=37)),
    "add": lambda: binary_graphs("add"),
    "mul": lambda: binary_graphs("mul"),
    "lut": lut_graphs,
    "softmax": softmax_graphs,
    "avgpool": lambda: pool_graphs(average=True),
    "maxpool": lambda: pool_graphs(average=False),
    "transpose": transpose_graphs,
    "concat": concat_graphs,
    # five axes fit the 4-D pad kernel only sometimes (test_kernels_movement covers that error)
    "pad": lambda: pad_graphs().filter(lambda g: len(g.tensor("x").shape) < 5),
}


def _graph(drawn):
    return drawn[0] if isinstance(drawn, tuple) else drawn  # conv_graphs draws (graph, info)


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_kernel_family_on_m33_and_m3(qemu_other_core_runner, family):
    drawn = draw_examples(st.tuples(FAMILIES[family](), seeds), CASES)
    cases = [kernel_case(_graph(graph), seed) for graph, seed in drawn]
    assert check_kernels_batch(cases, qemu_other_core_runner) >= len([c for c in cases if c.calls]) > 0


def test_requantize_tails_on_m33_and_m3(qemu_other_core_runner):
    """The requantize tail the kernels share (SMMULR on the M33, the portable 64-bit product on
    the M3) and the reference one, against Python's fixed-point twin on 200,000 cases biased to
    the edges (test_kernels_fixedpoint's generator)."""
    chunk, chunks = 100_000, 2
    acc, multiplier, shift = _requant_cases(np.random.default_rng(12), chunk * chunks)
    output = (-3, -128, 127)
    want = np.clip(fp.multiply_by_quantized_multiplier(acc, multiplier, shift) + output[0], -128, 127)
    defined = np.abs(acc.astype(np.int64) << np.maximum(shift, 0)) < (1 << 31)
    plans = []
    for i in range(chunks):
        part = slice(i * chunk, (i + 1) * chunk)
        data = [np.ascontiguousarray(v[part], dtype=np.int32).tobytes() for v in (acc, multiplier, shift)]
        data.append(np.array(output, dtype=np.int32).tobytes())
        for name in ("tinyc_test_requantize", "tinyc_test_requantize_reference"):
            plans.append(raw_plan(name, struct.pack("<i", chunk), data, [chunk]))
    results = qemu_other_core_runner.run_many(plans)
    chosen = np.concatenate([np.frombuffer(r[4], dtype=np.int8) for r in results[0::2]])
    reference = np.concatenate([np.frombuffer(r[4], dtype=np.int8) for r in results[1::2]])
    assert np.array_equal(chosen, reference)
    assert np.array_equal(chosen[defined], want[defined])


def test_m3_firmware_has_no_dsp_instructions_and_m33_has(qemu_other_core_runner):
    """What makes qemu-m3 the portable kernels' target: its driver contains no DSP instruction
    (-mcpu=cortex-m3 has no __ARM_FEATURE_DSP), while the Cortex-M33's uses SMLAD and SXTB16."""
    disassembly = subprocess.run(["arm-none-eabi-objdump", "-d", str(qemu_other_core_runner.elf)],
                                 capture_output=True, text=True, check=True).stdout
    mnemonics = {line.split("\t")[2].split()[0] for line in disassembly.splitlines() if line.count("\t") >= 2}
    dsp = {m for m in mnemonics if m.startswith(("smlad", "sxtb16", "sxtab16", "smmulr", "ssat16", "qadd"))}
    if qemu_other_core_runner.name == "qemu-m3":
        assert dsp == set()
        assert not any(m.startswith("v") for m in mnemonics), "no FPU instruction on a core without FPU"
    else:
        assert {"smlad", "sxtb16"} <= dsp
