"""Per-query HTML reports: content, matched-pair overlays, escaping, errors, file names."""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from nmrpeak_cli.errors import NotAvailableError
from nmrpeak_cli.report import write_query_report
from nmrpeak_cli.spectra import Spectrum

pytest.importorskip("matplotlib")

ETHYL_ACETATE_C13 = [171.0, 60.4, 21.0, 14.2]
ETHYL_ACETATE_H1 = [
    {"shift": 4.12, "integration": 2, "multiplicity": "q"},
    {"shift": 2.05, "integration": 3, "multiplicity": "s"},
    {"shift": 1.26, "integration": 3, "multiplicity": "t"},
]


def make_query(query_id: str = "q1") -> Spectrum:
    """Ethyl acetate as a query with both nuclei."""
    return Spectrum(
        query_id, c13=ETHYL_ACETATE_C13, h1=ETHYL_ACETATE_H1, formula="C4H8O2", solvent="CDCl3"
    )


def fake_predict(
    spectra: dict[str, Spectrum | None],
) -> tuple[Callable[[list[str]], list[Spectrum | None]], list[list[str]]]:
    """A predict callable returning ``spectra[smiles]``, and the list of calls it received."""
    calls: list[list[str]] = []

    def predict(smiles: list[str]) -> list[Spectrum | None]:
        calls.append(list(smiles))
        return [spectra[s] for s in smiles]

    return predict, calls


def row(rank: int, smiles: str, score: float, **extra: object) -> dict[str, object]:
    """One RESULTS_SCHEMA row of query ``q1``."""
    return {"query_id": "q1", "rank": rank, "smiles": smiles, "score": score, **extra}


#: Exact twin of the query (every pair in round 1), and butanoic acid shifted off.
EXACT = Spectrum("0", c13=ETHYL_ACETATE_C13, h1=ETHYL_ACETATE_H1)
SHIFTED = Spectrum("1", c13=[178.0, 36.0, 18.5, 13.7], h1=[{"shift": 2.3, "integration": 2}])


def group(html: str, gid: str) -> str:
    """The body of the SVG group with id ``gid`` (empty when absent)."""
    found = re.search(rf'<g id="{re.escape(gid)}">(.*?)</g>', html, re.DOTALL)
    return found.group(1) if found else ""


def test_report_shows_query_candidates_depictions_and_overlays(tmp_path: Path) -> None:
    predict, calls = fake_predict({"CCOC(C)=O": EXACT, "CCCC(=O)O": SHIFTED})
    rows = [
        row(3, "CCC", 0.1, ssr=0.1),
        row(2, "CCCC(=O)O", 0.4, ssr=0.3, formula_match=True, source="library"),
        row(1, "CCOC(C)=O", 0.9, ssr=0.8, formula_match=True, source="library"),
    ]

    path = write_query_report(make_query(), rows, tmp_path / "reports", top=2, predict=predict)

    assert path == tmp_path / "reports" / "q1.html", f"unexpected report path {path}"
    html = path.read_text(encoding="ascii")
    assert html.startswith("<!DOCTYPE html>"), "not an HTML document"
    assert calls == [["CCOC(C)=O", "CCCC(=O)O"]], f"top-2 by rank should be predicted: {calls}"
    for text in ("q1", "C4H8O2", "CDCl3", "171.0, 60.4, 21.0, 14.2", "4.12 (q, 2H)"):
        assert text in html, f"header lacks {text!r}"
    assert "CCC<" not in html, "the rank-3 candidate is beyond top=2"
    assert html.index("CCOC(C)=O") < html.index("CCCC(=O)O"), "candidates not in rank order"
    assert "<th>ssr</th>" in html and "<th>gen_logprob</th>" not in html, (
        "the table should show exactly the component scores present in the rows"
    )
    assert html.count("xmlns:rdkit") == 2, "expected one RDKit depiction per candidate"
    for index in (0, 1):
        for nucleus in ("c13", "h1"):
            for side in ("experimental", "predicted"):
                assert group(html, f"candidate-{index}-{nucleus}-{side}"), (
                    f"candidate {index} lacks the {nucleus} {side} sticks"
                )
    assert "13C similarity 1.000" in html, "per-nucleus similarity of the exact twin not shown"
    assert not re.search(r'\b(?:src|href)="(?!#)', html) and "<script" not in html, (
        "the report must not reference external assets"
    )
    assert list(path.parent.iterdir()) == [path], "temporary files left behind"


def test_matched_pairs_are_joined_by_lines(tmp_path: Path) -> None:
    predict, _ = fake_predict({"CCOC(C)=O": EXACT, "CCCC(=O)O": SHIFTED})
    rows = [row(1, "CCOC(C)=O", 0.9), row(2, "CCCC(=O)O", 0.4)]

    html = write_query_report(make_query(), rows, tmp_path, predict=predict).read_text()

    exact = group(html, "candidate-0-c13-matched-round1")
    assert exact.count("<path") == len(ETHYL_ACETATE_C13), "one line per matched 13C pair"
    assert not group(html, "candidate-0-c13-matched-round2"), "an exact twin has no round-2 pair"
    assert group(html, "candidate-1-c13-matched-round2").count("<path") >= 1, (
        "shifts 4–7 ppm apart should be joined as round-2 matches"
    )
    assert "4 of 4 experimental peaks matched" in html, "match caption missing"


def test_text_is_escaped(tmp_path: Path) -> None:
    query_id = "<script>alert(1)</script> & co"
    predict, _ = fake_predict({"CCO": None, "C": None})
    rows = [
        row(1, "CCO", 0.5, source="<b>lib</b>"),
        row(2, "C", 0.1, error="bad <input> & worse"),
    ]

    html = write_query_report(make_query(query_id), rows, tmp_path, predict=predict).read_text()

    assert "<script>" not in html and "<b>" not in html and "<input>" not in html, "raw markup"
    for escaped in ("&lt;script&gt;alert(1)&lt;/script&gt; &amp; co", "&lt;b&gt;lib&lt;/b&gt;"):
        assert escaped in html, f"missing escaped text {escaped!r}"
    assert "bad &lt;input&gt; &amp; worse" in html, "the warning should be listed, escaped"
    assert "prediction failed" in html, "a failed prediction should be said"


def test_error_only_query_gets_a_report(tmp_path: Path) -> None:
    predict, calls = fake_predict({})
    rows = [{"query_id": "q1", "error": "h1: unknown multiplicity 'zz'"}]

    html = write_query_report(make_query(), rows, tmp_path, predict=predict).read_text()

    assert "No candidates for this query." in html, "the report should say there are none"
    assert "unknown multiplicity &#x27;zz&#x27;" in html, "the error should be shown"
    assert calls == [], "nothing to predict"


def test_unparseable_candidate_is_reported_not_drawn(tmp_path: Path) -> None:
    predict, _ = fake_predict({"C1CC": None})

    html = write_query_report(make_query(), [row(1, "C1CC", 0.2)], tmp_path, predict=predict)

    assert "Cannot depict this SMILES." in html.read_text(), "missing note for a bad SMILES"


def test_file_names_are_safe_and_unique(tmp_path: Path) -> None:
    predict, _ = fake_predict({})
    ids = ["a/b", "a_b", "a b", "../up", "ünï", "x" * 300, "run-1.v2"]

    paths = [write_query_report(make_query(i), [], tmp_path, predict=predict) for i in ids]

    assert len(set(paths)) == len(ids), f"file names collide: {paths}"
    assert all(p.parent == tmp_path for p in paths), "a report escaped the report folder"
    assert all(len(p.name) < 120 for p in paths), "file names must stay short"
    assert paths[1].name == "a_b.html" and paths[-1].name == "run-1.v2.html", (
        "safe ids should keep their own name"
    )
    again = write_query_report(make_query("a/b"), [], tmp_path, predict=predict)
    assert again == paths[0], "the same id must map to the same file"


def test_bad_arguments_raise(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="top must be at least 1"):
        write_query_report(make_query(), [], tmp_path, top=0, predict=lambda s: [])
    with pytest.raises(ValueError, match="predict returned 0 spectra for 1 SMILES"):
        write_query_report(make_query(), [row(1, "CCO", 0.5)], tmp_path, predict=lambda s: [])


def test_missing_matplotlib_is_not_available(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)

    with pytest.raises(NotAvailableError, match=r"pip install 'nmrpeak-cli\[plot\]'"):
        write_query_report(make_query(), [], tmp_path, predict=lambda s: [])


def test_write_reports_without_a_forward_model_skips_records_and_overlays(tmp_path: Path) -> None:
    from nmrpeak_cli.report import write_reports

    rows = [row(1, "CCOC(C)=O", 0.9)]
    write_reports(["not a spectrum", make_query()], [[], rows], tmp_path, None)

    assert sorted(p.name for p in tmp_path.iterdir()) == ["q1.html"], "one report per spectrum"
    html = (tmp_path / "q1.html").read_text()
    assert "No predicted spectrum" in html, "no forward model: no overlay, said so"


def test_shipped_predictor(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    from nmrpeak_cli.predict.forward import ForwardModel
    from nmrpeak_cli.predict.weights import default_weights
    from nmrpeak_cli.report import write_reports

    if not default_weights().is_file():
        pytest.skip("shipped predictor weights not found")
    rows = [row(1, "CCOC(C)=O", 0.9), row(2, "CCO", 0.3)]

    write_reports([make_query()], [rows], tmp_path, ForwardModel())
    html = (tmp_path / "q1.html").read_text()

    assert html.count("xmlns:rdkit") == 2, "expected two depictions"
    assert group(html, "candidate-0-c13-matched-round1").count("<path") == 4, (
        "the predicted ethyl acetate 13C should match all four experimental peaks in round 1"
    )
    assert group(html, "candidate-1-h1-predicted"), "the second candidate lacks its 1H overlay"


def test_a_report_that_cannot_be_written_gives_new_error_rows(tmp_path: Path) -> None:
    from nmrpeak_cli.report import write_reports

    blocked = tmp_path / "reports"
    blocked.write_text("a file where the report folder should be")
    rows = [row(1, "CCOC(C)=O", 0.9), {**row(2, "CCO", 0.3), "error": "earlier"}]
    kept = [dict(r) for r in rows]
    groups = write_reports(["not a spectrum", make_query()], [[], rows], blocked, None)

    assert rows == kept, "the caller's rows are not modified"
    assert groups[0] == [], "a record that failed to read keeps its (no) rows"
    errors = [r["error"] for r in groups[1]]
    assert all(e.startswith("report not written:") for e in errors), errors
    assert errors[1].endswith("; earlier"), "an earlier error is kept"
    assert [r["smiles"] for r in groups[1]] == ["CCOC(C)=O", "CCO"]
