#!/usr/bin/env python3
"""Write one test-split digit as the input `tinyc run` expects: float32 [1,1,8,8] in [0, 1].

    python examples/digits/make_input.py --out input.npy [--index I]

Prints the image's label (and the image as text) so the run's output can be checked by eye.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from digits_data import load_split  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True, type=Path, help="the .npy file to write")
    ap.add_argument("--index", type=int, default=0, help="which test image (default 0)")
    args = ap.parse_args(argv)

    split = load_split()
    n = len(split.y_test)
    if not 0 <= args.index < n:
        ap.error(f"--index must be in 0..{n - 1} (the test split has {n} images), got {args.index}")
    image = split.x_test[args.index][None].astype(np.float32)  # [1, 1, 8, 8]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.save(args.out, image)
    shades = " .:-=+*#%@"
    for row in image[0, 0]:
        print("  " + "".join(shades[min(int(v * 9.999), 9)] * 2 for v in row))
    print(f"wrote {args.out}: test image {args.index}, label {int(split.y_test[args.index])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
