"""Shared CLI helpers."""

from __future__ import annotations

from nmrpeak_cli.cli.common import warn_split_leaks


def test_benchmarks_warn_about_models_trained_on_another_split(capsys):
    cards = {
        "predictor": {"split": "split_scaffold"},
        "encoder sme": {"training": {"split_column": "split_random"}},
    }
    assert warn_split_leaks("scaffold", cards) == [
        "encoder sme was trained on split_random: the scaffold-split test molecules may be in "
        "its training set (train one with --split scaffold for a clean scaffold benchmark)"
    ]
    assert "encoder sme was trained on split_random" in capsys.readouterr().err
    assert len(warn_split_leaks("random", cards)) == 1
    assert warn_split_leaks("queries.parquet", cards) == [], "a custom table has no split"
    generator = {"generator": {"split": "random"}}  # generator cards name the split plainly
    assert warn_split_leaks("random", generator) == []
    assert len(warn_split_leaks("scaffold", generator)) == 1


def test_score_bars():
    from nmrpeak_cli.cli.common import score_bar

    assert score_bar(1.0) == "█████ 1.000"
    assert score_bar(0.75) == "███▌  0.750"
    assert score_bar(0.0) == "      0.000"
    assert score_bar(0.55, width=10) == "█████▌     0.550"
    assert score_bar(None) == ""
