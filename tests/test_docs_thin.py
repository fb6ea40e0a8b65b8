"""The code blocks of the thin-structure sections of docs/losses.md and docs/metrics.md run."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[1] / "docs"


@pytest.mark.parametrize("doc, heading", [("losses.md", "## Thin and tubular structures"),
                                          ("metrics.md", "## Topology and field-of-view metrics")])
def test_thin_structure_examples_run(doc, heading):
    text = (DOCS / doc).read_text()
    start = text.index(heading)
    end = text.find("\n## ", start + len(heading))
    blocks = re.findall(r"```python\n(.*?)```", text[start:end if end > 0 else None], flags=re.S)
    assert blocks
    for block in blocks:
        exec(compile(block, str(DOCS / doc), "exec"), {})
