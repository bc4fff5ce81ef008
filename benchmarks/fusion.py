#!/usr/bin/env python3
"""What the fusion pass saves: each repo-made Pad model (tests/test_fuse.py) compiled as it
is (the Pad folded into its consumer) and as its unfusable twin (the same model with the pad
value one LSB off the zero point, so the Pad runs as its own step), on qemu-m7.

    python benchmarks/fusion.py

Prints instructions (one inference, -icount shift=0) and arena bytes of both, and checks
that each output equals the interpreter's byte for byte (exit status 1 if not).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]


def main() -> int:
    from frontend_support import quantize
    from test_fuse import _compile_and_check, _float_pad_model, _int8_pad_maxpool_model, _unfusable

    rows = []
    with tempfile.TemporaryDirectory(prefix="tinyc_fusion_") as tmp:
        work = Path(tmp)
        cases = {name: (lambda name=name: quantize(_float_pad_model(name))) for name in ("conv", "depthwise", "avgpool")}
        for name, make in cases.items():
            q = make()
            fused, fused_n = _compile_and_check(q, work / f"{name}_fused", ("qemu-m7",))
            twin, twin_n = _compile_and_check(_unfusable(q), work / f"{name}_twin", ("qemu-m7",))
            rows.append((f"Pad -> {name}", fused_n["qemu-m7"], twin_n["qemu-m7"], fused.report["arena_bytes"],
                         twin.report["arena_bytes"]))
        fused, fused_n = _compile_and_check(_int8_pad_maxpool_model(-128), work / "max_fused", ("qemu-m7",))
        kept, kept_n = _compile_and_check(_int8_pad_maxpool_model(-100), work / "max_kept", ("qemu-m7",))
        rows.append(("Pad(-128) -> maxpool", fused_n["qemu-m7"], kept_n["qemu-m7"], fused.report["arena_bytes"],
                     kept.report["arena_bytes"]))
    head = ("model", "fused m7 instr", "unfused m7 instr", "saved", "fused arena B", "unfused arena B")
    body = [(n, f"{a:,}", f"{b:,}", f"{b - a:,} ({100 * (b - a) / b:.1f} %)", f"{c:,}", f"{d:,}") for n, a, b, c, d in rows]
    widths = [max(len(r[i]) for r in (head, *body)) for i in range(len(head))]
    for r in (head, tuple("-" * w for w in widths), *body):
        print("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))))
    print("\nunfused: the twin whose pad value is one LSB off the zero point (or -100 instead of -128 before the "
          "max pool), so the Pad runs as its own kernel; every output equals the interpreter's (asserted).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
