"""Shared CLI helpers."""

from __future__ import annotations

import json

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


def test_bench_report_json_gets_its_markdown_beside_md_gets_markdown_only(tmp_path):
    from pathlib import Path

    from nmrpeak_cli.cli.common import write_bench_report

    report = {"top1": 0.5, "library": Path("lib")}
    write_bench_report(report, "| top-1 | 0.5 |", tmp_path / "deep" / "bench.json")
    assert json.loads((tmp_path / "deep" / "bench.json").read_text()) == {
        "top1": 0.5,
        "library": "lib",
    }, "paths and the like are written as strings"
    assert (tmp_path / "deep" / "bench.md").read_text() == "| top-1 | 0.5 |\n"

    write_bench_report(report, "# report\n", tmp_path / "only.md")
    assert (tmp_path / "only.md").read_text() == "# report\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["deep", "only.md"], "no JSON for .md"
    write_bench_report(report, "# report\n", None)
    assert len(list(tmp_path.rglob("*"))) == 4, "nothing written without an output"
