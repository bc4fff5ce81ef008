"""A tiny CNN for 8x8 digits, trained with NumPy alone (forward, backward and Adam by hand).

    input [N,1,8,8]
    Conv 3x3, 8 ch, pad 1            -> Relu   [N,8,8,8]
    Conv 3x3, 16 ch, stride 2, pad 1 -> Relu   [N,16,4,4]
    Conv 1x1, 16 ch                  -> Relu   [N,16,4,4]
    Flatten -> Gemm to 10 -> Softmax           [N,10]

Everything is float64 while training (so the result does not hinge on float32 rounding
order) and seeded, so the same parameters come out on every run on a given machine.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ConvSpec:
    name: str
    in_ch: int
    out_ch: int
    kernel: int
    stride: int
    pad: int


CONVS: tuple[ConvSpec, ...] = (
    ConvSpec("conv1", 1, 8, 3, 1, 1),
    ConvSpec("conv2", 8, 16, 3, 2, 1),
    ConvSpec("conv3", 16, 16, 1, 1, 0),
)
FC_IN = 16 * 4 * 4
NUM_CLASSES = 10

Params = dict[str, np.ndarray]


@dataclass(frozen=True)
class TrainConfig:
    seed: int = 0
    epochs: int = 20
    batch: int = 32
    lr: float = 3e-3
    weight_decay: float = 1e-4


def init_params(seed: int) -> Params:
    rng = np.random.default_rng(seed)
    params: Params = {}
    for c in CONVS:
        fan_in = c.in_ch * c.kernel * c.kernel
        params[f"{c.name}.w"] = rng.normal(0.0, np.sqrt(2.0 / fan_in), (c.out_ch, c.in_ch, c.kernel, c.kernel))
        params[f"{c.name}.b"] = np.zeros(c.out_ch)
    params["fc.w"] = rng.normal(0.0, np.sqrt(1.0 / FC_IN), (NUM_CLASSES, FC_IN))
    params["fc.b"] = np.zeros(NUM_CLASSES)
    return params


def _im2col(x: np.ndarray, k: int, stride: int, pad: int) -> np.ndarray:
    """[N,C,H,W] -> [N*OH*OW, C*k*k] patches, rows in (n, oh, ow) order, columns in (c, kh, kw)."""
    n, c, h, w = x.shape
    oh = (h + 2 * pad - k) // stride + 1
    ow = (w + 2 * pad - k) // stride + 1
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    cols = np.empty((n, c, k, k, oh, ow), dtype=x.dtype)
    for i in range(k):
        for j in range(k):
            cols[:, :, i, j] = xp[:, :, i : i + stride * oh : stride, j : j + stride * ow : stride]
    return cols.transpose(0, 4, 5, 1, 2, 3).reshape(n * oh * ow, c * k * k)


def _col2im(cols: np.ndarray, x_shape: tuple[int, ...], k: int, stride: int, pad: int) -> np.ndarray:
    """Adjoint of _im2col: scatter-add patch gradients back onto the input."""
    n, c, h, w = x_shape
    oh = (h + 2 * pad - k) // stride + 1
    ow = (w + 2 * pad - k) // stride + 1
    cols6 = cols.reshape(n, oh, ow, c, k, k).transpose(0, 3, 4, 5, 1, 2)
    xp = np.zeros((n, c, h + 2 * pad, w + 2 * pad), dtype=cols.dtype)
    for i in range(k):
        for j in range(k):
            xp[:, :, i : i + stride * oh : stride, j : j + stride * ow : stride] += cols6[:, :, i, j]
    return xp[:, :, pad : pad + h, pad : pad + w]


def _conv_out_hw(c: ConvSpec, h: int, w: int) -> tuple[int, int]:
    return (h + 2 * c.pad - c.kernel) // c.stride + 1, (w + 2 * c.pad - c.kernel) // c.stride + 1


def forward(params: Params, x: np.ndarray) -> tuple[np.ndarray, list[tuple]]:
    """Logits [N,10] and what backward() needs."""
    cache: list[tuple] = []
    h = x
    for c in CONVS:
        n, _, hh, ww = h.shape
        oh, ow = _conv_out_hw(c, hh, ww)
        cols = _im2col(h, c.kernel, c.stride, c.pad)
        wmat = params[f"{c.name}.w"].reshape(c.out_ch, -1)
        z = cols @ wmat.T + params[f"{c.name}.b"]
        a = np.maximum(z, 0.0)
        cache.append((c, h.shape, cols, z))
        h = a.reshape(n, oh, ow, c.out_ch).transpose(0, 3, 1, 2)
    flat = h.reshape(h.shape[0], -1)  # NCHW flatten, as ONNX Flatten does
    logits = flat @ params["fc.w"].T + params["fc.b"]
    cache.append(("fc", flat))
    return logits, cache


def softmax(logits: np.ndarray) -> np.ndarray:
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def backward(params: Params, cache: list[tuple], dlogits: np.ndarray) -> Params:
    grads: Params = {}
    _, flat = cache[-1]
    grads["fc.w"] = dlogits.T @ flat
    grads["fc.b"] = dlogits.sum(axis=0)
    dh = (dlogits @ params["fc.w"]).reshape(flat.shape[0], CONVS[-1].out_ch, 4, 4)
    for c, x_shape, cols, z in reversed(cache[:-1]):
        dz = dh.transpose(0, 2, 3, 1).reshape(-1, c.out_ch) * (z > 0)
        grads[f"{c.name}.w"] = (dz.T @ cols).reshape(params[f"{c.name}.w"].shape)
        grads[f"{c.name}.b"] = dz.sum(axis=0)
        wmat = params[f"{c.name}.w"].reshape(c.out_ch, -1)
        dh = _col2im(dz @ wmat, x_shape, c.kernel, c.stride, c.pad)
    return grads


def train(x: np.ndarray, y: np.ndarray, config: TrainConfig = TrainConfig()) -> Params:
    """Mini-batch Adam on softmax cross-entropy; deterministic for a given seed."""
    # threadpoolctl comes with scikit-learn. The matrices are tiny: one BLAS thread is
    # fastest, and ten times faster than two when other processes (pytest -n 2) load the cores.
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        return _train(x, y, config)


def _train(x: np.ndarray, y: np.ndarray, config: TrainConfig) -> Params:
    rng = np.random.default_rng(config.seed + 1)
    params = init_params(config.seed)
    m = {k: np.zeros_like(v) for k, v in params.items()}
    v = {k: np.zeros_like(p) for k, p in params.items()}
    beta1, beta2, eps = 0.9, 0.999, 1e-8
    x64 = x.astype(np.float64)
    onehot = np.eye(NUM_CLASSES)[y]
    step = 0
    for _ in range(config.epochs):
        order = rng.permutation(len(x64))
        for start in range(0, len(order), config.batch):
            idx = order[start : start + config.batch]
            logits, cache = forward(params, x64[idx])
            dlogits = (softmax(logits) - onehot[idx]) / len(idx)
            grads = backward(params, cache, dlogits)
            step += 1
            for k in params:
                g = grads[k] + config.weight_decay * params[k]
                m[k] = beta1 * m[k] + (1 - beta1) * g
                v[k] = beta2 * v[k] + (1 - beta2) * g * g
                mhat = m[k] / (1 - beta1**step)
                vhat = v[k] / (1 - beta2**step)
                params[k] = params[k] - config.lr * mhat / (np.sqrt(vhat) + eps)
    return params


def predict(params: Params, x: np.ndarray) -> np.ndarray:
    logits, _ = forward(params, x.astype(np.float64))
    return logits.argmax(axis=1)
