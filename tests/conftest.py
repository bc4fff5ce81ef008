"""Shared pytest fixtures. Each helper adds its own; keep them session-scoped when they build C."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest

from tinycc_ml.kernels.harness import CtypesRunner, DriverRunner
from tinycc_ml.resources import runtime_dir
from tinycc_ml.targets.runtime_build import SANITIZE_FLAGS, build_runtime


# --- C kernels (tests/test_kernels*.py) ---------------------------------------


def _kernel_test_sources() -> Path:
    return runtime_dir() / "test"


@pytest.fixture(scope="session")
def kernel_lib() -> CtypesRunner:
    """runtime_c/src/*.c + the sizeof helper as one shared library (built once, cached)."""
    path = build_runtime("shared", extra_sources=[_kernel_test_sources() / "tinyc_test_support.c"], flags=("-O2",))
    return CtypesRunner(path)


@pytest.fixture(scope="session")
def kernel_driver() -> Iterator[DriverRunner]:
    """The kernels under AddressSanitizer + UBSan, in a child process fed by the tests."""
    path = build_runtime(
        "executable",
        extra_sources=[_kernel_test_sources() / name for name in ("tinyc_kernel_driver.c", "tinyc_test_support.c")],
        flags=("-O1", *SANITIZE_FLAGS),
    )
    runner = DriverRunner(path)
    yield runner
    runner.close()


# The SIMD algorithm of every kernel (the TINYC_USE_SIMD path, through arm_dsp.h's C twins).
SIMD_EMULATE_FLAG = "-DTINYC_SIMD_EMULATE"


@pytest.fixture(scope="session")
def kernel_lib_simd() -> CtypesRunner:
    """kernel_lib built with the kernels' SIMD paths (emulated on the host)."""
    path = build_runtime(
        "shared", extra_sources=[_kernel_test_sources() / "tinyc_test_support.c"], flags=("-O2", SIMD_EMULATE_FLAG)
    )
    return CtypesRunner(path)


@pytest.fixture(scope="session")
def kernel_driver_simd() -> Iterator[DriverRunner]:
    """The kernels' SIMD paths (emulated on the host) under AddressSanitizer + UBSan."""
    path = build_runtime(
        "executable",
        extra_sources=[_kernel_test_sources() / name for name in ("tinyc_kernel_driver.c", "tinyc_test_support.c")],
        flags=("-O1", *SANITIZE_FLAGS, SIMD_EMULATE_FLAG),
    )
    runner = DriverRunner(path)
    yield runner
    runner.close()


@pytest.fixture(scope="session")
def kernel_runners(
    kernel_lib: CtypesRunner,
    kernel_driver: DriverRunner,
    kernel_lib_simd: CtypesRunner,
    kernel_driver_simd: DriverRunner,
) -> tuple[CtypesRunner, DriverRunner, CtypesRunner, DriverRunner]:
    """Every kernel test runs each case in-process (fast) and under the sanitizers, for the
    portable loops and for the SIMD paths."""
    return kernel_lib, kernel_driver, kernel_lib_simd, kernel_driver_simd
