"""docs/ci.md's uv cache figures are bench/uv_cache_size.sh's measurement (bench/uv-cache-size.log), not typed."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _measured():
    """[(cell, total bytes, archive-v0 bytes)] in the log's order."""
    rows, cell = [], None
    for line in (ROOT / "bench" / "uv-cache-size.log").read_text().splitlines():
        built = re.match(r"(\S+) built in \d+ s", line)
        if built:
            cell = built.group(1)
            continue
        size = re.match(r"#\d+ [\d.]+ (\d+)\s+/c(/archive-v0)?$", line)
        if size and not size.group(2):
            rows.append([cell, int(size.group(1)), None])
        elif size:
            rows[-1][2] = int(size.group(1))
    return rows


def test_the_docs_state_the_measured_uv_cache_sizes_and_the_unpacked_share():
    rows = _measured()
    assert [r[0] for r in rows] == ["keras3.15.1-tf2.21.0-py311-cpu", "keras3.15.1-tf2.21.0-jax0.10.2-py311-cpu",
                                    "keras3.15.1-jax0.10.2-py311-cpu", "keras2.9.0-tf2.9.3-py39-cpu"]
    text = " ".join((ROOT / "docs" / "ci.md").read_text().split())
    for _, total, _ in rows:
        assert "%.2f GB" % (total / 1e9) in text
    shares = [archive / total * 100 for _, total, archive in rows]
    assert "`archive-v0` is %.1f-%.1f%% of each figure" % (min(shares), max(shares)) in text
    # "4 to 10 times pip's cache": against the pip figures the same section states (MB)
    pip = {"keras3.15.1-tf2.21.0-py311-cpu": 334, "keras3.15.1-tf2.21.0-jax0.10.2-py311-cpu": 458,
           "keras3.15.1-jax0.10.2-py311-cpu": 151}
    assert all("%d MB" % mb in text for mb in pip.values())
    ratios = [total / 1e6 / pip[cell] for cell, total, _ in rows if cell in pip]
    assert "%d to %d times pip's cache" % (round(min(ratios)), round(max(ratios))) in text
