"""The scikit-learn digits data set, split once, the same way by every script and test.

8x8 grayscale images of handwritten digits, 10 classes, 1797 images. Pixels are 0..16 in
the data set; the model sees them scaled to [0, 1] as float32 NCHW [N, 1, 8, 8].
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# The split is part of the example's definition: changing it changes the model's bytes.
TEST_SIZE = 0.25
SPLIT_SEED = 0
PIXEL_MAX = 16.0


@dataclass(frozen=True)
class Split:
    x_train: np.ndarray  # float32 [N, 1, 8, 8] in [0, 1]
    y_train: np.ndarray  # int64 [N]
    x_test: np.ndarray
    y_test: np.ndarray


def load_split() -> Split:
    # Imported here so that `--help` of the scripts does not pay for scikit-learn's import.
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    images = (digits.images / PIXEL_MAX).astype(np.float32)[:, None, :, :]
    labels = digits.target.astype(np.int64)
    x_train, x_test, y_train, y_test = train_test_split(
        images, labels, test_size=TEST_SIZE, random_state=SPLIT_SEED, stratify=labels
    )
    return Split(
        np.ascontiguousarray(x_train), np.ascontiguousarray(y_train),
        np.ascontiguousarray(x_test), np.ascontiguousarray(y_test),
    )
