"""Cases shared by the model tests."""

from __future__ import annotations


def _params(m):
    return sum(p.numel() for p in m.parameters())
