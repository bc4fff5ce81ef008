"""Under CI a skip is a failure: evidence cannot silently vanish.

Every skip in this suite means that evidence is missing: an MLPerf Tiny or TFLite Micro
model under ../shared/models, the tflite-micro reference, arm-none-eabi-gcc, qemu or
PlatformIO (`-m "not models"` deselects tests, which is not a skip). On a developer's
machine that is a convenience; on CI a green run without that evidence would be a lie.
So when the environment variable CI is set and not empty (as CI services do), every
skipped test (a `models` test among them) is reported FAILED with its skip reason, and
a module skipped at collection is a collection error. An expected failure (xfail) is
not a skip and is left alone.

tests/conftest.py imports these hooks; tests/test_ci_evidence.py runs them on a tiny
test file, with and without CI.
"""

from __future__ import annotations

import os
from typing import Iterator, Mapping

import pytest

CI_VARIABLE = "CI"
MARK = "ci_evidence_missing"  # report attribute: the skip reason a CI run refused


def under_ci(environ: Mapping[str, str] = os.environ) -> bool:
    return bool(environ.get(CI_VARIABLE, ""))


def _reason(longrepr: object) -> str:
    if isinstance(longrepr, tuple) and len(longrepr) == 3:  # (path, line, "Skipped: why")
        return str(longrepr[2]).removeprefix("Skipped: ")
    return str(longrepr)


def _refuse(report: pytest.TestReport | pytest.CollectReport) -> None:
    reason = _reason(report.longrepr)
    setattr(report, MARK, reason)
    report.outcome = "failed"
    report.longrepr = (f"skipped under CI ({CI_VARIABLE}={os.environ.get(CI_VARIABLE)!r}), which counts as a "
                       f"failure: the evidence this test gives is missing.\nskip reason: {reason}")


# Old-style wrappers (hookwrapper=True) work on every pytest the project allows (>= 7.4).
@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    if report.skipped and not hasattr(report, "wasxfail") and under_ci():
        _refuse(report)


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector: pytest.Collector) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    if report.skipped and under_ci():
        _refuse(report)


def pytest_report_teststatus(report: pytest.TestReport, config: pytest.Config) -> tuple[str, str, str] | None:
    """A refused skip is counted and listed as FAILED (also when it happened in setup,
    where pytest would otherwise call a failure an error)."""
    if report.when in ("setup", "call") and getattr(report, MARK, None) is not None:
        return "failed", "F", "FAILED"
    return None


__all__ = ["CI_VARIABLE", "pytest_make_collect_report", "pytest_report_teststatus", "pytest_runtest_makereport",
           "under_ci"]
