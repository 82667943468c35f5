"""Stages build -> probe -> train -> record for each cell: bases, cache, builds, measuring containers, timing, lanes."""
