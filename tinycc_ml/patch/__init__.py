"""Patch-based inference (MCUNetV2): run the first, memory-hungry ops band by band.

    rows.py    receptive field: which input rows (and image-border pads) an op's output rows need
    stage.py   a patch stage (ops ending at a split tensor K) -> a LoopStep over row bands
    resident.py  the overlap fact letting K overwrite the stage input's dead rows
    band_facts.py  the overlap facts between the per-band buffers
    search.py  the choice of (K, bands): exact peak of each candidate, MAC overhead, budget
    memo.py    what one search's candidates share (kernel calls, access models, stages)
"""
