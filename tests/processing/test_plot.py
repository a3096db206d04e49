"""Optional PNG plot of a processed experiment (skipped without matplotlib)."""

from __future__ import annotations

import pytest

from nmrpeak_cli.processing.pipeline import peaks_from_raw


def test_plot_experiment_writes_png(tmp_path, make_h1):
    pytest.importorskip("matplotlib")
    from nmrpeak_cli.processing.plot import plot_experiment

    path = plot_experiment(peaks_from_raw(make_h1(), h_count=11), tmp_path / "h1.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG file"
