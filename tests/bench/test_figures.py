"""edgewise.bench.figures: line styles past the colour cycle, when the loss axis goes symlog."""

from __future__ import annotations


import numpy as np
import pytest



def test_curve_styles_stay_distinct_past_the_colour_cycle():
    from edgewise.bench.figures import line_style

    styles = [tuple(line_style(i).values()) for i in range(12)]
    assert len(set(styles)) == 12
    assert line_style(3) == {"color": "C3", "linestyle": "-"}
    assert line_style(10) == {"color": "C0", "linestyle": "--"}


def test_loss_axis_goes_symlog_only_when_one_curve_dwarfs_the_rest():
    from edgewise.bench.figures import symlog_threshold

    level = [np.array([1.0, 0.5, 0.3]), np.array([0.8, 0.4, 0.2]), np.array([2.0, 1.0, 0.9])]
    assert symlog_threshold(level) is None
    # a boundary term's loss falling to -24 beside losses in [0, 2]: the power of ten below the median
    # magnitude (1.5) stays linear
    outlier = [*level, np.array([0.5, -10.0, -24.0])]
    assert symlog_threshold(outlier) == pytest.approx(1.0)
    assert symlog_threshold([np.array([0.02]), np.array([0.03]), np.array([5.0])]) == pytest.approx(0.01)
    assert symlog_threshold([np.array([np.nan, np.nan]), np.array([1.0])]) is None
