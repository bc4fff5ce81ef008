"""The CI rule of tests/ci_evidence.py, run for real: a tiny test suite with a `models`
test whose model is missing, a missing tool (skipif), a missing reference module
(importorskip), a module skipped at collection, a passing test and an xfail, run by
pytest in a child process with and without CI in the environment."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import ci_evidence

TESTS = Path(__file__).resolve().parent

SUITE = '''
import pytest

@pytest.mark.models
def test_needs_a_model():
    pytest.skip("MLPerf Tiny models not found at ../shared/models")

@pytest.mark.skipif(True, reason="arm-none-eabi-gcc is not installed")
def test_needs_a_tool():
    pass

def test_needs_a_reference():
    pytest.importorskip("tinyc_no_such_reference_module")

def test_passes():
    assert True

@pytest.mark.xfail(reason="a known bug", strict=True)
def test_known_bug():
    assert False
'''


@pytest.fixture(scope="module")
def suite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("ci_suite")
    (root / "pytest.ini").write_text("[pytest]\nmarkers =\n    models: needs ../shared/models\n")
    (root / "conftest.py").write_text(
        "from ci_evidence import pytest_make_collect_report, pytest_report_teststatus, pytest_runtest_makereport\n")
    (root / "test_tiny.py").write_text(SUITE)
    (root / "test_no_tflite_micro.py").write_text(
        "import pytest\npytest.skip('tflite-micro is not installed', allow_module_level=True)\n")
    return root


def _run(root: Path, ci: str | None, *options: str) -> tuple[int, str]:
    env = {k: v for k, v in os.environ.items() if k != ci_evidence.CI_VARIABLE}
    if ci is not None:
        env[ci_evidence.CI_VARIABLE] = ci
    env["PYTHONPATH"] = os.pathsep.join([str(TESTS), env.get("PYTHONPATH", "")])
    # Without the plugins this suite does not use (they take seconds to load); a module
    # refused at collection would interrupt the run: go on, to see every other test too.
    quiet = ("-p", "no:cacheprovider", "-p", "no:benchmark", "-p", "no:hypothesispytest", "-p", "no:anyio")
    done = subprocess.run([sys.executable, "-m", "pytest", *quiet, "-rA", "--continue-on-collection-errors",
                           *options, str(root)],
                          cwd=root, env=env, capture_output=True, text=True, timeout=120)
    return done.returncode, done.stdout + done.stderr


def _counts(output: str) -> dict[str, int]:
    last = [line for line in output.splitlines() if line.startswith("=")][-1]
    return {word: int(n) for n, word in re.findall(r"(\d+) (\w+)", last)}


def test_without_ci_missing_evidence_is_a_skip(suite):
    code, output = _run(suite, None)
    assert code == 0, output
    assert _counts(output) == {"passed": 1, "skipped": 4, "xfailed": 1}, output


def test_an_empty_ci_variable_is_not_ci(suite):
    code, output = _run(suite, "")
    assert code == 0 and _counts(output) == {"passed": 1, "skipped": 4, "xfailed": 1}, output


@pytest.mark.parametrize("options", [(), ("-n", "2")], ids=["in process", "xdist"])
def test_under_ci_every_skip_fails(suite, options):
    code, output = _run(suite, "true", *options)
    assert code == 1, output
    assert _counts(output) == {"failed": 3, "passed": 1, "xfailed": 1, "error": 1}, output
    for test in ("test_needs_a_model", "test_needs_a_tool", "test_needs_a_reference"):
        assert re.search(rf"FAILED \S*test_tiny.py::{test}\b", output), output
    assert re.search(r"ERROR \S*test_no_tflite_micro.py", output), output
    assert "skipped under CI (CI='true'), which counts as a failure" in output
    for reason in ("MLPerf Tiny models not found at ../shared/models", "arm-none-eabi-gcc is not installed",
                   "could not import 'tinyc_no_such_reference_module'", "tflite-micro is not installed"):
        assert reason in output, reason


def test_this_suite_uses_the_rule(request):
    """tests/conftest.py registers the hooks, so this very suite obeys the rule."""
    hook = request.config.pluginmanager.hook
    for name in ("pytest_runtest_makereport", "pytest_make_collect_report", "pytest_report_teststatus"):
        impls = getattr(hook, name).get_hookimpls()
        assert any(impl.function is getattr(ci_evidence, name) for impl in impls), name


def test_under_ci_reads_the_environment():
    assert ci_evidence.under_ci({"CI": "1"}) and ci_evidence.under_ci({"CI": "true"})
    assert not ci_evidence.under_ci({}) and not ci_evidence.under_ci({"CI": ""})
