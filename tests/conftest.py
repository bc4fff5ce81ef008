"""Shared pytest fixtures. Each helper adds its own; keep them session-scoped when they build C."""

from __future__ import annotations

import os
import shutil
from typing import Iterator

import pytest

# Under CI (env CI set) a skipped test fails: a run must not pass without its evidence.
from ci_evidence import pytest_make_collect_report, pytest_report_teststatus, pytest_runtest_makereport  # noqa: F401
from tinycc_ml.kernels.harness import CtypesRunner, DriverRunner
from tinycc_ml.targets.kernel_test_sources import kernel_test_sources
from tinycc_ml.targets.qemu_driver import QemuDriverRunner
from tinycc_ml.targets.runtime_build import SANITIZE_FLAGS, build_runtime, default_cache_dir


# --- C kernels (tests/test_kernels*.py) ---------------------------------------


@pytest.fixture(scope="session")
def kernel_lib() -> CtypesRunner:
    """runtime_c/src/*.c + the test support (the sizeof list generated from the kernel
    records) as one shared library (built once, cached)."""
    support = kernel_test_sources(default_cache_dir(), driver=False)
    path = build_runtime("shared", extra_sources=support, flags=("-O2",))
    return CtypesRunner(path)


@pytest.fixture(scope="session")
def kernel_driver() -> Iterator[DriverRunner]:
    """The kernels under AddressSanitizer + UBSan, in a child process fed by the tests."""
    path = build_runtime(
        "executable",
        extra_sources=kernel_test_sources(default_cache_dir(), driver=True),
        flags=("-O1", *SANITIZE_FLAGS),
    )
    runner = DriverRunner(path)
    yield runner
    runner.close()


# --- the same kernels with their SIMD paths, through arm_dsp.h's C twins ------------
# (-DTINYC_SIMD_EMULATE: the Armv7E-M algorithm and the fast requantize tail, on the host)


@pytest.fixture(scope="session")
def kernel_lib_simd() -> CtypesRunner:
    support = kernel_test_sources(default_cache_dir(), driver=False)
    path = build_runtime("shared", extra_sources=support, flags=("-O2", "-DTINYC_SIMD_EMULATE"))
    return CtypesRunner(path)


@pytest.fixture(scope="session")
def kernel_driver_simd() -> Iterator[DriverRunner]:
    path = build_runtime(
        "executable",
        extra_sources=kernel_test_sources(default_cache_dir(), driver=True),
        flags=("-O1", "-DTINYC_SIMD_EMULATE", *SANITIZE_FLAGS),
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
    """Every kernel test runs each case in-process (fast) and under the sanitizers, both for
    the portable build and for the emulated-SIMD build (the DSP algorithm on the host)."""
    return kernel_lib, kernel_driver, kernel_lib_simd, kernel_driver_simd


# --- the same kernels as Cortex-M firmware under QEMU (their DSP paths) --------------


def _qemu_driver(target: str) -> QemuDriverRunner:
    missing = [tool for tool in ("arm-none-eabi-gcc", "qemu-system-arm") if shutil.which(tool) is None]
    if missing:
        message = f"{' and '.join(missing)} not found (make setup-system)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return QemuDriverRunner.for_target(target)


@pytest.fixture(scope="session", params=("qemu-m4", "qemu-m7"))
def qemu_kernel_runner(request: pytest.FixtureRequest) -> QemuDriverRunner:
    """The kernel driver on an emulated Cortex-M4 / M7, built once per session (cached by
    the hash of its sources); tests hand it batches (kernel_support.check_kernels_batch).
    Without the toolchain the tests skip, except under CI, where they fail."""
    return _qemu_driver(request.param)


@pytest.fixture(scope="session", params=("qemu-m33", "qemu-m3"))
def qemu_other_core_runner(request: pytest.FixtureRequest) -> QemuDriverRunner:
    """The same driver on the emulated Cortex-M33 (Armv8-M with DSP: the SIMD paths) and
    Cortex-M3 (no DSP, no FPU: the portable paths as firmware); tests/test_kernels_cores.py
    gives it small batches of every kernel family."""
    return _qemu_driver(request.param)
