"""Kernel selection: IR node -> C kernel calls (symbol, parameter struct, arguments)."""
