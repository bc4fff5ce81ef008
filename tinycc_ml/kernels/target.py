"""What kernel selection knows of the machine the C will run on: core, DSP, FPU.

A board says it (boards/*.toml); the host build of the tests and `--target host` uses
HOST_TARGET, which has no DSP, so the host runs the portable kernels. Every pass that
plans a trial arena selects kernels for the same target as the final compile, so a plan
is always made with the kernels that will run.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..boards import Board


@dataclass(frozen=True)
class KernelTarget:
    core: str  # "host", "cortex-m4", "cortex-m7", ...
    dsp: bool  # the Armv7E-M DSP extension (SXTB16, SMLAD, ...)
    fpu: str  # "none" or the board's FPU name
    # The board's flash: variants that trade flash for speed (weights pre-expanded to int16)
    # run only where the model's constants fit in three quarters of it. 0: unknown, never.
    flash_bytes: int = 0
    # That rule decided once for the whole model (wide_weights.decide_for_model): a patch
    # stage selects kernels on band graphs that hold only the stage's constants, where the
    # rule would see a smaller model. None: decided on the graph at hand.
    wide_weights: bool | None = None

    @staticmethod
    def of_board(board: Board) -> "KernelTarget":
        return KernelTarget(board.core, board.dsp, board.fpu, board.flash_bytes)


HOST_TARGET = KernelTarget("host", dsp=False, fpu="none")
