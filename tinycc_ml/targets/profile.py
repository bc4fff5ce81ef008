"""Per-op instruction profile on the emulated Cortex-M (`tinyc run --target qemu-m7 --profile`).

The profiled firmware is the normal one compiled with -DTINYC_PROFILE into its own build
directory: model_invoke() then calls PREFIX_profile_mark(step) before each step and once at
its end (templates/model.c.j2), and the QEMU main records the CMSDK timer in each call and
prints the instructions between consecutive marks (templates/qemu/main_qemu.c.j2). A step's
span holds its kernel calls plus one whole hook call (the tail of one mark, the head of the
next); the main times 64 back-to-back calls of the hook, and that cost per call is subtracted
here. So the rows add up to the normal build's whole-invoke count within the timer's
resolution: one tick per step, 40 instructions (50 on qemu-m33, whose timer runs at 20 MHz).
The arena is the same array in both builds: the hook writes only the harness's own table of
timer readings.

What each row names (node, kind, kernel symbols, MACs) comes from report.json's "ops", which
`tinyc compile` writes in schedule order; "step" there is the index the hook receives. A patch
stage runs its ops interleaved, region by region: the hook marks only the stage's start (its
other steps' marks follow at its end, spans of one hook call), so the stage is one row, its
MACs and kernels those of all its ops (report.json's "stage").
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import BuildError, TinycError
from .base import BuildInfo, Progress, RunResult, check_input
from .qemu import DEFAULT_TIMEOUT_S, TARGET_BOARDS, build, qemu_target, run, run_elf

RESOLUTION = 40  # instructions per CMSDK timer tick under -icount shift=0 at 25 MHz (qemu-m7/m4/m3; tinyc_mps2.h)
NAME_WIDTH = 40  # node names in the text table (the JSON has them whole)
_CALIBRATION = re.compile(r"^tinyc-qemu: profile calibration marks=(\d+) instructions=(\d+)\s*$", re.MULTILINE)
_STEP = re.compile(r"^tinyc-qemu: profile step=(\d+) instructions=(\d+)\s*$", re.MULTILINE)


@dataclass(frozen=True)
class OpInfo:
    """One step of the schedule as report.json describes it."""

    step: int
    name: str
    kind: str
    symbols: tuple[str, ...]  # kernel functions called, in order; () for an alias
    macs: int
    output_shape: tuple[int, ...]
    stage: tuple[int, int, int] | None = None  # a patch stage's (first step, last step, regions)

    @property
    def short_name(self) -> str:
        """The name for a table: converters join every fused source op with ';' (hundreds of
        characters); the last one, cut to its last NAME_WIDTH characters, tells layers apart."""
        last = self.name.rsplit(";", 1)[-1]
        return last if len(last) <= NAME_WIDTH else "..." + last[-(NAME_WIDTH - 3):]


@dataclass(frozen=True)
class ProfileRow:
    op: OpInfo
    instructions: int  # the step's span minus the hook's own cost, never below 0

    @property
    def instructions_per_mac(self) -> float | None:
        return self.instructions / self.op.macs if self.op.macs else None


@dataclass(frozen=True)
class Profile:
    target: str
    rows: tuple[ProfileRow, ...]
    mark_instructions: float  # one hook call, as calibrated by the firmware
    unprofiled_instructions: int  # the normal build's whole model_invoke()
    resolution: int = RESOLUTION  # instructions per timer tick on this target (QemuTarget.instructions_per_tick)

    @property
    def total_instructions(self) -> int:
        return sum(r.instructions for r in self.rows)

    @property
    def macs(self) -> int:
        return sum(r.op.macs for r in self.rows)

    @property
    def tolerance(self) -> int:
        """How far the rows' sum may be from the unprofiled count: one tick per step."""
        return self.resolution * max(1, len(self.rows))

    def share(self, row: ProfileRow) -> float:
        total = self.total_instructions
        return row.instructions / total if total else 0.0

    def as_json(self) -> dict:
        total = self.total_instructions
        return {
            "target": self.target,
            "resolution_instructions": self.resolution,
            "mark_instructions": self.mark_instructions,
            "instructions": total,
            "unprofiled_instructions": self.unprofiled_instructions,
            "macs": self.macs,
            "instructions_per_mac": total / self.macs if self.macs else None,
            "steps": [{"step": r.op.step, "name": r.op.name, "kind": r.op.kind, "kernels": list(r.op.symbols),
                       "output_shape": list(r.op.output_shape), "macs": r.op.macs, "instructions": r.instructions,
                       "instructions_per_mac": r.instructions_per_mac, "share": self.share(r)}
                      for r in self.rows],
        }


def read_ops(out_dir: Path) -> tuple[OpInfo, ...]:
    """The schedule's steps from OUT/report.json (an older report lacks "step"/"symbols")."""
    path = Path(out_dir) / "report.json"
    ops = json.loads(path.read_text()).get("ops")
    try:
        infos = tuple(OpInfo(int(op["step"]), str(op["name"]), str(op["kind"]), tuple(str(s) for s in op["symbols"]),
                             int(op["macs"]), tuple(int(d) for d in op["output_shape"]), _stage(op.get("stage")))
                      for op in ops)
    except (KeyError, TypeError, ValueError):
        raise TinycError(f"{path} has no per-step kernel symbols (written by an older tinyc); recompile the model "
                         f"with `tinyc compile MODEL -o {out_dir}` to profile it") from None
    if [op.step for op in infos] != list(range(len(infos))):
        raise TinycError(f"{path}: the ops are not numbered 0..{len(infos) - 1} in schedule order; recompile the model")
    return infos


def _stage(stage: object) -> tuple[int, int, int] | None:
    """report.json's "stage" of an op (None: not in a patch stage, or a report from before it)."""
    if stage is None:
        return None
    if not isinstance(stage, dict):
        raise TypeError(stage)
    return int(stage["first"]), int(stage["last"]), int(stage["regions"])


def parse_profile(console: str, steps: int, where: str) -> tuple[float, tuple[int, ...]]:
    """(instructions of one hook call, raw instructions per step) from the profiled firmware's console."""
    calibration = _CALIBRATION.search(console)
    raw = {int(m.group(1)): int(m.group(2)) for m in _STEP.finditer(console)}
    if calibration is None or sorted(raw) != list(range(steps)):
        raise BuildError(f"{where}: the profiled firmware printed {len(raw)} step counts, expected {steps} "
                         f"(recompile the model if report.json and the sources disagree):\n{console.strip()}")
    marks, instructions = int(calibration.group(1)), int(calibration.group(2))
    return instructions / marks, tuple(raw[s] for s in range(steps))


def profile_rows(ops: tuple[OpInfo, ...], raw: tuple[int, ...], mark_instructions: float) -> tuple[ProfileRow, ...]:
    """A row per step; a patch stage's steps as one row: their spans and MACs summed, named by
    the stage's last op, its kind saying how many ops run over how many regions."""
    if len(ops) != len(raw):
        raise ValueError(f"{len(ops)} ops but {len(raw)} step counts")
    rows: list[ProfileRow] = []
    step = 0
    while step < len(ops):
        op = ops[step]
        last = op.stage[1] if op.stage is not None and op.stage[0] == step else step
        body = ops[step:last + 1]
        if op.stage is not None and len(body) > 1:
            op = OpInfo(step, body[-1].name, f"stage: {len(body)} ops x {op.stage[2]} regions",
                        tuple(s for o in body for s in o.symbols), sum(o.macs for o in body), body[-1].output_shape,
                        op.stage)
        rows.append(ProfileRow(op, max(0, round(sum(raw[step:last + 1]) - len(body) * mark_instructions))))
        step = last + 1
    return tuple(rows)


def run_profile(info: BuildInfo, x: np.ndarray, progress: Progress | None = None, *, target: str,
                timeout: float | None = None) -> tuple[RunResult, Profile]:
    """Run the normal firmware (output, whole-invoke count) and the profiled one (per-step counts)."""
    if target not in TARGET_BOARDS:
        *rest, last = TARGET_BOARDS
        raise TinycError(f"--profile counts instructions on the emulated Cortex-M: use --target "
                         f"{', '.join(rest)} or {last}, not {target}")
    x = check_input(x, info.input)
    ops = read_ops(info.out_dir)
    normal = run(info, x, progress, target=target, timeout=timeout)
    tgt = qemu_target(target)
    firmware = build(info, tgt, progress, profile=True)
    profiled = run_elf(firmware.elf, tgt, x.tobytes(), info.output.nbytes,
                       DEFAULT_TIMEOUT_S if timeout is None else timeout)
    if profiled.output != normal.output.tobytes():
        raise BuildError(f"{target}: the profiled firmware {firmware.elf} computed another output than the normal "
                         "build (the profiling hook must not touch the model's memory)")
    mark, raw = parse_profile(profiled.console, len(ops), f"{target}: {firmware.elf.name}")
    assert normal.instructions is not None  # a QEMU run always counts
    return normal, Profile(target, profile_rows(ops, raw, mark), mark, normal.instructions, tgt.instructions_per_tick)


def shape_text(shape: tuple[int, ...]) -> str:
    return "x".join(map(str, shape))


def _per_mac(value: float | None) -> str:
    return "" if value is None else f"{value:.2f}"


def profile_lines(profile: Profile) -> list[str]:
    """The profile as a text table, one row per step in schedule order, then the total."""
    head = ("step", "node", "kind", "output", "kernel", "MACs", "instructions", "insn/MAC", "share")
    body = [(str(r.op.step), r.op.short_name, r.op.kind, shape_text(r.op.output_shape), "+".join(r.op.symbols) or "-",
             f"{r.op.macs:,}",
             f"{r.instructions:,}", _per_mac(r.instructions_per_mac), f"{100 * profile.share(r):.1f}%")
            for r in profile.rows]
    total = profile.total_instructions
    foot = ("", "total", "", "", "", f"{profile.macs:,}", f"{total:,}", _per_mac(total / profile.macs if profile.macs else None),
            "100.0%" if total else "")
    rows = [head, *body, foot]
    widths = [max(len(row[i]) for row in rows) for i in range(len(head))]
    right = {0, 5, 6, 7, 8}

    def line(row: tuple[str, ...]) -> str:
        return "  ".join(c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths))).rstrip()

    return [
        f"{profile.target} profile, per step in schedule order (CMSDK timer, {profile.resolution} instructions per tick; "
        f"{profile.mark_instructions:g} instructions of the profiling hook subtracted per step):",
        line(head), "  ".join("-" * w for w in widths), *map(line, body), "  ".join("-" * w for w in widths), line(foot),
        f"whole model_invoke() in the normal build: {profile.unprofiled_instructions:,} instructions "
        f"(rows' sum {total - profile.unprofiled_instructions:+,}; resolution +-{profile.tolerance:,})",
    ]
