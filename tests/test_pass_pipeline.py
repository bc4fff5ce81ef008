"""The IR check between passes cannot be lost: a deliberately broken pass run through
run_pipeline is caught, by name, with the violated invariant; and the pipeline does not
even import when the check it relies on is missing."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from codegen_support import kws_like
from tinycc_ml.ir.graph import Graph, Node
from tinycc_ml.ir.verify import IRInvariantError
from tinycc_ml.lowering import pass_context
from tinycc_ml.passes import PIPELINE, Pass, PassContext, PassInvariantError, layout, run_pipeline

HOST_PASSES = pass_context()  # the passes as a host compile runs them

ROOT = Path(__file__).resolve().parents[1]


def drop_pool_output(graph: Graph, context: PassContext | None = None) -> Graph:
    """Forgets the tensor the pool node writes (as a pass rebuilding the tensor table might)."""
    return graph.with_nodes(graph.nodes, {k: t for k, t in graph.tensors.items() if k != "p"})


def loop_conv_to_pool(graph: Graph, context: PassContext | None = None) -> Graph:
    """Feeds the pool's output back into the conv: a cycle conv -> pool -> conv."""
    def rewire(node: Node) -> Node:
        return replace(node, inputs=("p", *node.inputs[1:])) if node.name == "conv" else node
    return graph.with_nodes(tuple(rewire(n) for n in graph.nodes))


def test_a_pass_that_drops_an_output_tensor_is_named():
    passes = (Pass("layout", layout), Pass("drop_pool_output", drop_pool_output))
    with pytest.raises(PassInvariantError) as err:
        run_pipeline(kws_like(), HOST_PASSES, passes=passes)
    text = str(err.value)
    assert text.startswith("IR check failed after pass 'drop_pool_output' (a bug in it): IR graph 'handmade' "
                           "violates"), text
    assert err.value.stage == "drop_pool_output"
    assert err.value.problems == ["node 'pool' (AveragePool2d): writes unknown tensor 'p'",
                                  "node 'flatten' (Reshape): reads unknown tensor 'p'"]
    assert isinstance(err.value, IRInvariantError)  # whoever catches the check's error catches this one


def test_a_pass_that_makes_a_cycle_is_named():
    passes = (Pass("loop", loop_conv_to_pool), Pass("layout", layout))
    with pytest.raises(PassInvariantError, match=r"^IR check failed after pass 'loop' \(a bug in it\)") as err:
        run_pipeline(kws_like(), HOST_PASSES, passes=passes)
    assert err.value.stage == "loop"
    assert err.value.problems[0] == "node 'conv' (Conv2d): reads 'p' before any node produces it"


def test_a_broken_graph_is_caught_before_any_pass():
    with pytest.raises(PassInvariantError, match=r"^IR check failed after the imported graph \(a frontend bug\)"):
        run_pipeline(drop_pool_output(kws_like()), HOST_PASSES, passes=PIPELINE)


def test_well_formed_passes_go_through():
    assert run_pipeline(kws_like(), HOST_PASSES, passes=(Pass("layout", layout), Pass("identity", lambda g, c: g))).graph.nodes


def test_without_its_check_the_pipeline_does_not_import():
    """Had ir/verify.py renamed verify_graph, `import tinycc_ml.passes` fails at once
    (no fallback that would run the passes unchecked)."""
    code = ("import tinycc_ml.ir.verify as v\n"
            "del v.verify_graph\n"
            "import tinycc_ml.passes\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode != 0
    assert "ImportError: cannot import name 'verify_graph'" in done.stderr, done.stderr
