"""``nmrpeak similarity A B``: inputs in every accepted form, output modes, exit codes."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from nmrpeak_cli.cli.app import app
from nmrpeak_cli.cli.similarity import guess_nucleus
from nmrpeak_cli.spectra import Nucleus

runner = CliRunner()


def run(*args: str, stdin: str | None = None):
    return runner.invoke(app, ["similarity", *args], input=stdin)


def test_inline_13c_lists_print_a_score():
    result = run("170.1, 128.3, 77.0", "170.0, 128.5, 77.2")
    assert result.exit_code == 0, result.output
    score = float(result.stdout.strip())
    assert 0.99 < score <= 1.0, f"near-identical lists scored {score}"


def test_json_reports_pairs_per_nucleus():
    result = run("170.1, 128.3, 77.0", "170.0, 128.5, 77.2, 20.0", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    carbon = report["nuclei"]["13C"]
    assert carbon["a_units"] == 3 and carbon["b_units"] == 4, f"units {carbon}"
    assert [p["round"] for p in carbon["pairs"]] == [1, 1, 1], f"pairs {carbon['pairs']}"
    assert report["score"] == pytest.approx(carbon["score"]), "one nucleus: same score"


def test_details_show_the_matched_peaks():
    result = run("170.1, 128.3, 77.0", "170.0, 123.5", "--details")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert float(lines[0]) < 1.0, f"first line is the score: {lines[0]!r}"
    assert "round" in result.stdout and "123.50" in result.stdout, result.stdout


def test_h1_lists_and_sentences():
    h1 = "7.26 (d, J = 8.4 Hz, 2H), 3.81 (s, 3H)"
    result = run(h1, "7.30 (d, 2H), 3.80 (s, 3H)", "--json")
    assert result.exit_code == 0, result.output
    assert list(json.loads(result.stdout)["nuclei"]) == ["1H"], "proton counts mean 1H"
    sentence = f"1H NMR (400 MHz, CDCl3) δ {h1}. 13C NMR (101 MHz, CDCl3) δ 170.1, 77.0"
    result = run(sentence, sentence, "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert sorted(report["nuclei"]) == ["13C", "1H"], f"nuclei {report['nuclei'].keys()}"
    assert report["score"] == pytest.approx(1.0), "a sentence against itself"


def test_nucleus_option_forces_bare_lists():
    result = run("12.0, 14.0", "12.1, 14.0", "--nucleus", "13C", "--json")
    assert result.exit_code == 0, result.output
    assert list(json.loads(result.stdout)["nuclei"]) == ["13C"], "forced 13C"


def test_files_and_stdin(tmp_path):
    table = tmp_path / "one.csv"
    table.write_text('id,c13\nx,"170.0, 128.5, 77.2"\n')
    from_file = run(str(table), "170.1, 128.3, 77.0")
    assert from_file.exit_code == 0, from_file.output
    from_stdin = run("-", "170.1, 128.3, 77.0", stdin=table.read_text())
    assert from_stdin.exit_code == 0, from_stdin.output
    assert from_file.stdout == from_stdin.stdout, "file and stdin give the same score"


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["abc", "170.0"], "A: "),
        (["170.0", "1.0, x"], "B: "),
        (["170.0, 20.0", "7.2, 1.1"], "nothing to compare"),
        (["170.0", "171.0", "--nucleus", "19F"], "nucleus"),
        (["170.0", "171.0", "--matching", "best"], "--matching"),
        (["missing.csv", "171.0"], "no such file"),
    ],
)
def test_bad_input_exits_2_with_one_line(args, expected):
    result = run(*args)
    assert result.exit_code == 2, f"exit {result.exit_code}: {result.output}"
    assert expected in result.stderr, f"message {result.stderr!r} lacks {expected!r}"
    assert result.stdout == "", f"nothing on stdout, got {result.stdout!r}"


def test_file_with_several_records_is_refused(tmp_path):
    table = tmp_path / "two.csv"
    table.write_text('id,c13\nx,"170.0"\ny,"20.0"\n')
    result = run(str(table), "170.0")
    assert result.exit_code == 2, result.output
    assert "2 records" in result.stderr, result.stderr


@pytest.mark.parametrize(
    ("text", "nucleus"),
    [
        ("170.1, 128.3, 77.0", Nucleus.C13),
        ("7.26, 3.81, 2.10", Nucleus.H1),
        ("7.26 (d, J = 8.4 Hz, 2H)", Nucleus.H1),
        ("14.1, 22.7, 31.9", Nucleus.C13),
        ("0.9 (t, 3H), 16.2 (s, 1H)", Nucleus.H1),
    ],
)
def test_guess_nucleus(text, nucleus):
    assert guess_nucleus(text) is nucleus, f"{text!r} read as {guess_nucleus(text)}"
