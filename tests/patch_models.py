"""Float MobileNetV2-like CNNs built with onnx.helper, for onnxruntime's quantize_static:
the models the patch tests and benchmarks/patch.py compile (no downloaded weights).

An inverted-residual block is 1x1 expand + ReLU6, depthwise kxk (stride s, dilation d)
+ ReLU6, 1x1 project; with stride 1 and equal channels its input is added back (the
residual Add a patch stage must hold). The head is a global average pool and a Gemm.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import onnx
from onnx import helper

from frontend_support import model, rand


@dataclass(frozen=True)
class Block:
    expand: int  # expansion factor t
    out: int  # output channels
    stride: int = 1
    kernel: int = 3
    dilation: int = 1
    pads: tuple[int, int, int, int] | None = None  # top, left, bottom, right; None: symmetric "same"


@dataclass
class _Builder:
    nodes: list = field(default_factory=list)
    inits: dict = field(default_factory=dict)
    seed: int = 0

    def conv(self, x: str, cin: int, cout: int, k: int, stride: int = 1, group: int = 1, dilation: int = 1,
             pads: tuple[int, int, int, int] | None = None, relu6: bool = True) -> str:
        i = len(self.nodes)
        self.seed += 1
        w = rand((cout, cin // group, k, k), self.seed, (2.0 / (k * k * cin / group)) ** 0.5)
        b = rand((cout,), self.seed + 1000, 0.1)
        self.inits[f"w{i}"], self.inits[f"b{i}"] = w, b
        p = pads or (dilation * (k - 1) // 2,) * 4
        y = f"t{i}"
        self.nodes.append(helper.make_node("Conv", [x, f"w{i}", f"b{i}"], [y], name=f"conv{i}", group=group,
                                           strides=[stride, stride], dilations=[dilation, dilation],
                                           kernel_shape=[k, k], pads=[p[0], p[1], p[2], p[3]]))
        if not relu6:
            return y
        self.nodes.append(helper.make_node("Clip", [y, "zero", "six"], [f"{y}_r"], name=f"relu6_{i}"))
        return f"{y}_r"

    def add(self, a: str, b: str) -> str:
        y = f"add{len(self.nodes)}"
        self.nodes.append(helper.make_node("Add", [a, b], [y], name=y))
        return y


def mobilenet_like(size: int, stem: int, blocks: list[Block], classes: int, in_ch: int = 3,
                   last: int = 0) -> onnx.ModelProto:
    b = _Builder()
    b.inits["zero"], b.inits["six"] = np.float32(0.0), np.float32(6.0)
    x = b.conv("x", in_ch, stem, 3, stride=2, pads=(0, 0, 1, 1))  # TF-style "same" at stride 2
    c = stem
    for blk in blocks:
        h = b.conv(x, c, c * blk.expand, 1) if blk.expand != 1 else x
        h = b.conv(h, c * blk.expand, c * blk.expand, blk.kernel, blk.stride, group=c * blk.expand,
                   dilation=blk.dilation, pads=blk.pads)
        h = b.conv(h, c * blk.expand, blk.out, 1, relu6=False)
        x = b.add(h, x) if blk.stride == 1 and blk.out == c else h
        c = blk.out
    if last:
        x, c = b.conv(x, c, last, 1), last
    b.nodes.append(helper.make_node("GlobalAveragePool", [x], ["pool"], name="pool"))
    b.nodes.append(helper.make_node("Flatten", ["pool"], ["flat"], name="flatten"))
    b.inits["fc_w"], b.inits["fc_b"] = rand((c, classes), 77, 0.1), rand((classes,), 78, 0.1)
    b.nodes.append(helper.make_node("Gemm", ["flat", "fc_w", "fc_b"], ["y"], name="fc"))
    return model(b.nodes, ("x", (1, in_ch, size, size)), ("y", None), b.inits)


def small_mobilenet() -> onnx.ModelProto:
    """48x48, width ~0.35: a residual block inside every useful stage, a dilated depthwise
    and a 5x5 one with asymmetric pads on a stride-2 layer."""
    return mobilenet_like(48, 8, [Block(1, 8), Block(6, 8), Block(6, 12, stride=2, kernel=5, pads=(1, 1, 2, 2)),
                                  Block(6, 12, dilation=2), Block(6, 16, stride=2), Block(6, 16)], 10)


def mobilenet_v2_035(size: int = 144) -> onnx.ModelProto:
    """MobileNetV2 width 0.35 (channels rounded to multiples of 8), 1000 classes."""
    spec = [(1, 8, 1, 1), (6, 8, 2, 2), (6, 16, 3, 2), (6, 24, 4, 2), (6, 32, 3, 1), (6, 56, 3, 2), (6, 112, 1, 1)]
    blocks = [Block(t, c, s if i == 0 else 1) for t, c, n, s in spec for i in range(n)]
    return mobilenet_like(size, 16, blocks, 1000, last=1280)


def mcunet_like(size: int = 160) -> onnx.ModelProto:
    """An MCUNet-style net at 160x160, 10 classes: mixed 3/5/7 depthwise kernels and
    expansions 3 to 6, TF-style "same" padding on every stride-2 layer (the extra row and
    column at the bottom and right: (k - 2) // 2 above, k // 2 below). Layer by layer its
    peak is the 80x80x48 expansion next to the 40x40x48 stride-2 depthwise output
    (384,000 B); after the first stride-2 block a 40x40x72 expansion (115,200 B) sets
    what a single patch stage can reach."""
    def tf_same(k: int) -> tuple[int, int, int, int]:
        return ((k - 2) // 2, (k - 2) // 2, k // 2, k // 2)

    blocks = [Block(1, 8), Block(6, 12, 2, 7, pads=tf_same(7)), Block(4, 12, kernel=5),
              Block(6, 16, 2, 7, pads=tf_same(7)), Block(3, 16), Block(4, 16, kernel=5),
              Block(6, 24, 2, 5, pads=tf_same(5)), Block(3, 24, kernel=7), Block(5, 40),
              Block(6, 48, 2, 5, pads=tf_same(5)), Block(4, 48, kernel=3)]
    return mobilenet_like(size, 16, blocks, 10, last=160)
