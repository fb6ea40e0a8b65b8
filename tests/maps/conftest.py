from __future__ import annotations

import pytest

from ._helpers import CPU_BACKENDS


@pytest.fixture(params=CPU_BACKENDS)
def backend(request) -> str:
    return request.param
