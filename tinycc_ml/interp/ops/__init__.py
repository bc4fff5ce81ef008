"""One module per IR op kind: `OP` (the attribute class) and `run` (the reference semantics)."""
