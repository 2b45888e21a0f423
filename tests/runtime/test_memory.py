"""orca.runtime.memory: a peak window that can be reset, so one process measures several windows."""
from __future__ import annotations

import sys

import numpy as np
import pytest

from orca.runtime.memory import current_rss_mb, peaks, reset_peaks


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the resettable window is Linux's VmHWM")
def test_a_reset_window_sees_only_what_came_after_it():
    big = np.ones(200 * 2**20 // 8)  # 200 MB, touched
    assert peaks()["rss_mb"] > 200
    del big
    assert reset_peaks() is True
    after = peaks()
    assert after["rss_window"] == "since reset"
    assert after["rss_mb"] < current_rss_mb() + 50  # the freed 200 MB are not in the new window
    small = np.ones(50 * 2**20 // 8)
    grown = peaks()["rss_mb"]
    assert grown >= after["rss_mb"] + 40, (after, grown)
    del small


def test_no_gpu_figure_off_gpu():
    assert peaks()["gpu_mb"] is None
