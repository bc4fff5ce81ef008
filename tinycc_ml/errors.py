"""Errors that reach the user as one clear message (the CLI prints them, no traceback)."""

from __future__ import annotations


class TinycError(Exception):
    """Base class: anything the user can fix by changing the model, the options or the board."""


class ModelError(TinycError):
    """The model cannot be compiled: not ONNX, not quantized, unsupported ops or shapes.

    `problems` lists every offending node/tensor at once so the user can fix them in one go.
    """

    def __init__(self, summary: str, problems: list[str] | None = None):
        self.summary = summary
        self.problems = list(problems or [])
        text = summary
        if self.problems:
            text += "\n" + "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(text)


class BoardError(TinycError):
    """Unknown board, or the model does not fit the chosen board."""


class BuildError(TinycError):
    """A C build or a run of the generated code failed."""


class PlanError(TinycError):
    """A memory plan violates its own invariants (a compiler bug caught before any C is written)."""
