"""Real journal strings (NMRBank curated set, ../shared): parse rate and agreement with curation."""

from __future__ import annotations

import csv
import gzip
import re
from pathlib import Path

import pytest

from nmrpeak_cli.errors import SpectrumError
from nmrpeak_cli.io.text import parse_nmr_text, parse_peaks

#: Sentences that start like a peak list ("1H NMR (…) δ …"); prose rows are left out.
_PEAK_SENTENCE = re.compile(r"\s*(?:1|¹)\s*H|\s*(?:13|¹³)\s*C")

_BRACKETS = re.compile(r"\([^()]*\)")
_VALUE = re.compile(r"(?<![\w.])[-−]?\d+(?:\.\d+)?(?:\s*[-–−]\s*\d+(?:\.\d+)?)?")


def independent_count(curated: str) -> int:
    """Shifts (or ranges) in a curated string, counted by regex outside brackets."""
    while _BRACKETS.search(curated):
        curated = _BRACKETS.sub("", curated)
    return len(_VALUE.findall(curated))


COLUMNS = {
    "1H": ("1H NMR text", "1H NMR chemical shifts"),
    "13C": ("13C NMR text", "13C NMR chemical shifts"),
}


@pytest.mark.integration
@pytest.mark.parametrize("nucleus", ["1H", "13C"])
def test_literature_text_parse_rate_and_peak_counts(shared_data: Path, nucleus: str) -> None:
    path = shared_data / "literature-nmrbank" / "curated_train_1000.csv.gz"
    if not path.is_file():
        pytest.skip(f"{path} not found")
    text_column, curated_column = COLUMNS[nucleus]
    with gzip.open(path, "rt", encoding="utf-8") as stream:
        rows = list(csv.DictReader(stream))
    attempted = parsed = agreeing = counted = same = 0
    failures: list[str] = []
    for row in rows:
        text = row[text_column]
        if not _PEAK_SENTENCE.match(text) or "NMR" not in text[:20]:
            continue
        try:
            curated = parse_peaks(row[curated_column], nucleus)
        except SpectrumError:
            continue  # no usable curated list to compare with
        attempted += 1
        try:
            result = parse_nmr_text(text, nucleus)
        except SpectrumError as exc:
            failures.append(str(exc))
            continue
        parsed += 1
        agreeing += len(result.peaks) == len(curated)
        same += sorted(result.peaks.shifts.tolist()) == sorted(curated.shifts.tolist())
        counted += len(result.peaks) == independent_count(row[curated_column])
    rate, agreement, regex = parsed / attempted, agreeing / parsed, counted / parsed
    print(
        f"\n{nucleus}: parsed {parsed}/{attempted} ({rate:.1%}); peak counts equal to the "
        f"parsed curated list {agreeing}/{parsed} ({agreement:.1%}), to a regex count of the "
        f"curated string {counted}/{parsed} ({regex:.1%}); identical shifts {same}/{parsed}"
    )
    assert attempted > 800, f"{nucleus}: only {attempted} peak-list rows found"
    assert rate >= 0.97, f"{nucleus}: parse rate {rate:.1%}; failures: {failures[:5]}"
    assert agreement >= 0.97, f"{nucleus}: peak counts agree for only {agreement:.1%}"
    assert regex >= 0.95, f"{nucleus}: regex counts agree for only {regex:.1%}"
    assert same / parsed >= 0.95, f"{nucleus}: identical shifts for only {same}/{parsed}"
