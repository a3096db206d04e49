"""Attached-H labels in retrieval: library labels from SMILES, DEPT-like query labels for the
benchmark, label-aware SSR and labels that contradict the formula."""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from nmrpeak_cli.retrieve.bench import BenchOptions, dept_labels, library_head, run_benchmark
from nmrpeak_cli.retrieve.library import open_library
from nmrpeak_cli.retrieve.search import SearchParams, retrieve
from nmrpeak_cli.schema import QUERY_SCHEMA, rows_to_table, spectrum_to_row
from nmrpeak_cli.similarity import DEFAULT_PARAMS
from nmrpeak_cli.spectra import Nucleus, PeakList, Spectrum
from tests.retrieve.conftest import MOLECULES, FakePredictor, predicted_spectrum

LABELS = SearchParams(k=3, similarity=replace(DEFAULT_PARAMS, attached_h=True))


def _labelled(spectrum: Spectrum, n_h: list[int | None]) -> Spectrum:
    peaks = tuple(replace(p, n_h=h) for p, h in zip(spectrum.c13, n_h, strict=True))
    return replace(spectrum, c13=PeakList(Nucleus.C13, peaks), h1=None)


def test_library_labels_come_from_the_smiles(library_dir: Path) -> None:
    library = open_library(library_dir)
    assert library.packed[Nucleus.C13].n_h is None, "opened without labels"
    labelled = library.with_attached_h()
    c13 = labelled.packed[Nucleus.C13]
    row = [name for name, _ in MOLECULES].index("ethyl_acetate")
    units = slice(c13.offsets[row], c13.offsets[row + 1])
    # fake predictor, ethyl acetate: C=O 181, OCH2 67, both CH3 16 ppm (one unit)
    assert c13.n_h[units].tolist() == [0, 2, 3], (c13.shifts[units], c13.n_h[units])
    head = library_head(labelled, 4)
    assert len(head.packed[Nucleus.C13].n_h) == head.packed[Nucleus.C13].offsets[-1]


def test_labels_rank_the_right_classes_first(library_dir: Path) -> None:
    library = open_library(library_dir).with_attached_h()
    truth = predicted_spectrum("CCOC(C)=O", "ea")
    right = _labelled(truth, [0, 2, 3, 3])
    wrong = _labelled(truth, [0, 1, 2, 2])

    def ssr_of_truth(query: Spectrum, params: SearchParams) -> float:
        rows = list(retrieve([query], library, params=replace(params, k=len(MOLECULES))))
        return next(r["ssr"] for r in rows if r["smiles"] == "CCOC(C)=O")

    plain = SearchParams(k=3, similarity=replace(DEFAULT_PARAMS, attached_h=False))
    assert ssr_of_truth(right, LABELS) == ssr_of_truth(right, plain), "right labels: same"
    assert ssr_of_truth(wrong, LABELS) < ssr_of_truth(wrong, plain) - 0.3, "wrong labels cost"
    top = list(retrieve([right], library, params=LABELS))
    assert top[0]["smiles"] == "CCOC(C)=O" and top[0]["error"] is None, top[0]


def test_labels_contradicting_the_formula_are_dropped_with_a_warning(
    library_dir: Path, caplog
) -> None:
    library = open_library(library_dir).with_attached_h()
    truth = predicted_spectrum("CCOC(C)=O", "ea")
    bad = replace(_labelled(truth, [3, 3, 3, 3]), formula="C4H8O2")  # 12 H in CH3 alone
    plain = replace(bad, c13=PeakList(Nucleus.C13, tuple(replace(p, n_h=None) for p in bad.c13)))
    with caplog.at_level(logging.WARNING, logger="nmrpeak_cli.retrieve.search"):
        rows = list(retrieve([bad], library, params=LABELS))
    assert "ea: attached-H labels contradict the formula C4H8O2" in caplog.text, caplog.text
    assert "without the labels" in caplog.text
    assert rows == list(retrieve([plain], library, params=LABELS)), "searched without labels"
    assert rows[0]["error"] is None and rows[0]["smiles"] == "CCOC(C)=O", rows[0]


def test_dept_labels_use_the_experimental_carbons(tmp_path: Path) -> None:
    table = pa.table(
        {
            "id": ["a", "b"],
            "c13_shifts": [[171.1, 60.5, 21.0, 14.2, 14.2], [30.0, 30.0]],
            "c13_n_h": pa.array([[0, 2, 3, 3, 3], [1, 3]], pa.list_(pa.int8())),
        }
    )
    pq.write_table(table, tmp_path / "experimental.parquet")
    queries = [
        Spectrum("a", c13=[171.1, 60.5, 21.0, 14.2]),
        Spectrum("b", c13=[30.0]),
        Spectrum("c", c13=[50.0]),
    ]
    labelled, count = dept_labels(queries, tmp_path / "experimental.parquet")
    assert count == 1, "b gets no label, c is not in the table"
    assert [p.n_h for p in labelled[0].c13] == [0, 2, 3, 3], labelled[0].c13
    assert [p.n_h for p in labelled[1].c13] == [None], "CH and CH3 on one line: unknown"
    assert labelled[2] == queries[2], "not in the table: unchanged"


def test_run_benchmark_with_labels_and_one_configuration(tmp_path: Path) -> None:
    from rdkit import Chem

    rows, experimental = [], {"id": [], "c13_shifts": [], "c13_n_h": []}
    for name, smiles in MOLECULES[:6]:
        spectrum = predicted_spectrum(smiles, name)
        rows.append(spectrum_to_row(Spectrum(name, spectrum.c13, spectrum.h1, smiles=smiles)))
        experimental["id"].append(name)
        experimental["c13_shifts"].append(list(spectrum.c13.shifts))
        mol = Chem.MolFromSmiles(smiles)
        n_h = [mol.GetAtomWithIdx(p.atoms[0]).GetTotalNumHs() for p in spectrum.c13]
        experimental["c13_n_h"].append(n_h)
    data = tmp_path / "data"
    data.mkdir()
    pq.write_table(pa.table(experimental), data / "experimental.parquet")
    pq.write_table(rows_to_table(rows, QUERY_SCHEMA), tmp_path / "queries.parquet")
    options = BenchOptions(
        queries=tmp_path / "queries.parquet",
        data_dir=data,
        sizes=(6,),
        max_queries=6,
        latency_queries=2,
        work_dir=tmp_path / "bench",
        moses=False,
        attached_h=True,
        configurations=("C+H",),
    )
    report = run_benchmark(options, FakePredictor(), {}, SearchParams(), log=lambda _: None)
    assert list(report["sizes"][6]) == ["C+H"], list(report["sizes"][6])
    assert report["similarity"]["attached_h"] and report["queries_with_attached_h"] == 6
    assert report["sizes"][6]["C+H"]["settings"]["ssr"]["top1"] == 1.0
    assert list(report["latency"][6]) == ["C+H"], report["latency"]
    assert np.isfinite(report["latency"][6]["C+H"]["p50_ms"])


def test_a_labelled_query_labels_the_library_on_first_need(library_dir: Path) -> None:
    """`retrieve` with the default parameters uses a query's labels without any switch."""
    library = open_library(library_dir)
    truth = predicted_spectrum("CCOC(C)=O", "ea")
    wrong = _labelled(truth, [0, 1, 2, 2])

    def ssr_of_truth(query: Spectrum) -> float:
        rows = retrieve([query], library, params=SearchParams(k=len(MOLECULES)))
        return next(r["ssr"] for r in rows if r["smiles"] == "CCOC(C)=O")

    plain = replace(truth, h1=None)
    assert ssr_of_truth(wrong) < ssr_of_truth(plain) - 0.3, "wrong labels cost by default"
    assert library.labelled.packed[Nucleus.C13].n_h is not None
    assert library.packed[Nucleus.C13].n_h is None, "the opened library itself is unchanged"
