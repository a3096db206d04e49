"""Library directories: build, open, resume, shard + merge, refusal of bad libraries."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from nmrpeak_cli.batch import Shard
from nmrpeak_cli.retrieve.build import build_index, build_library, merge_libraries
from nmrpeak_cli.retrieve.library import LibraryError, open_library
from tests.retrieve.conftest import MOLECULES, FakeEncoder, FakePredictor


def test_build_and_open(library_dir: Path) -> None:
    library = open_library(library_dir)
    assert len(library) == len(MOLECULES), f"expected {len(MOLECULES)} entries, got {len(library)}"
    assert library.encoder_names == ("sme", "sse"), f"encoders: {library.encoder_names}"
    manifest = json.loads((library_dir / "manifest.json").read_text())
    assert manifest["counts"] == {"entries": 16, "failed": 0, "input": 16}, manifest["counts"]
    assert manifest["predictor"]["version"] == "fake-1", manifest["predictor"]
    assert not (library_dir / "parts").exists(), "parts must be removed after consolidation"
    ids = library.entries.column("id").to_pylist()
    assert ids == [m[0] for m in MOLECULES], f"entries out of input order: {ids}"
    toluene = ids.index("toluene")
    assert library.entries.column("formula")[toluene].as_py() == "C7H8"
    assert library.rows_with_formula("C7H8").tolist() == [toluene]
    spectrum = library.predicted([toluene])[0]
    assert spectrum.c13 is not None and len(spectrum.c13) == 5, "toluene has 5 distinct carbons"


def test_bad_molecules_are_recorded_not_fatal(tmp_path: Path, predictor: FakePredictor) -> None:
    molecules = [("ok", "CCO"), ("broken", "C1CC"), ("silane", "C[Si](C)(C)C")]
    manifest = build_library(molecules, tmp_path / "lib", predictor)
    assert manifest["counts"] == {"entries": 1, "failed": 2, "input": 3}, manifest["counts"]
    failures = pq.read_table(tmp_path / "lib" / "failures.parquet").to_pylist()
    assert [f["id"] for f in failures] == ["broken", "silane"], failures
    assert "Si" in failures[1]["error"], failures[1]


def test_shards_merge_equal_one_shot(tmp_path: Path, predictor, encoders, library_dir) -> None:
    shards = []
    for index in range(3):
        out = tmp_path / f"shard{index}"
        build_library(MOLECULES, out, predictor, encoders, shard=Shard(index, 3), part_size=2)
        shards.append(out)
    with pytest.raises(LibraryError, match="shard 1/3"):
        open_library(shards[1])
    with pytest.raises(LibraryError, match="1 of 3 shards missing: 2/3"):
        merge_libraries(shards[:2], tmp_path / "partial")
    merge_libraries(shards[::-1], tmp_path / "merged")
    merged, one_shot = open_library(tmp_path / "merged"), open_library(library_dir)
    assert merged.entries.equals(one_shot.entries), "merged entries differ from a one-shot build"
    for name in ("sme", "sse"):
        assert np.array_equal(merged.embeddings[name], one_shot.embeddings[name]), name
    for nucleus, packed in one_shot.packed.items():
        for field in ("shifts", "offsets", "totals"):
            assert np.array_equal(getattr(merged.packed[nucleus], field), getattr(packed, field)), (
                f"{nucleus} {field} differ"
            )


def test_resume_skips_finished_parts(tmp_path: Path, encoders) -> None:
    calls: list[int] = []

    class Counting(FakePredictor):
        def predict_rows(self, records):
            calls.append(len(records))
            if len(calls) == 3:
                raise KeyboardInterrupt  # simulate a kill during the third part
            return super().predict_rows(records)

    out = tmp_path / "lib"
    with pytest.raises(KeyboardInterrupt):
        build_library(MOLECULES, out, Counting(), encoders, part_size=4)
    with pytest.raises(LibraryError, match="not finished"):
        open_library(out)
    with pytest.raises(LibraryError, match="already holds"):
        build_library(MOLECULES, out, FakePredictor(), encoders, part_size=4)
    calls.clear()
    build_library(MOLECULES, out, Counting(), encoders, part_size=4, resume=True)
    assert calls == [4, 4], f"resume should redo only the 2 unfinished parts, predicted {calls}"
    assert len(open_library(out)) == len(MOLECULES)


def test_resume_refuses_other_predictor(tmp_path: Path, encoders) -> None:
    out = tmp_path / "lib"
    build_library(MOLECULES[:3], out, FakePredictor(), encoders)
    with pytest.raises(LibraryError, match="cannot resume: predictor"):
        build_library(MOLECULES[:3], out, FakePredictor("fake-2"), encoders, resume=True)


def test_version_mismatch_names_both_versions(library_dir: Path) -> None:
    with pytest.raises(LibraryError) as info:
        open_library(library_dir, predictor=FakePredictor("fake-2").identity)
    message = str(info.value)
    assert "fake-1" in message and "fake-2" in message, message
    with pytest.raises(LibraryError, match=r"enc-1.*enc-9"):
        open_library(library_dir, encoders=[FakeEncoder("sse", version="enc-9").identity])
    open_library(
        library_dir, predictor=FakePredictor().identity, encoders=[FakeEncoder("sse").identity]
    )


@pytest.mark.parametrize("damage", ["truncate", "delete", "corrupt"])
def test_damaged_library_refused(library_dir: Path, damage: str) -> None:
    target = library_dir / "emb.sse.npy"
    data = target.read_bytes()
    if damage == "truncate":
        target.write_bytes(data[: len(data) // 2])
    elif damage == "delete":
        target.unlink()
    else:
        target.write_bytes(data[:-1] + bytes([data[-1] ^ 0xFF]))
    expected = {"truncate": "truncated", "delete": "missing", "corrupt": "sha256"}[damage]
    with pytest.raises(LibraryError, match=expected):
        open_library(library_dir)


def test_truncated_shard_refused_by_merge(tmp_path: Path, predictor) -> None:
    shards = [tmp_path / f"s{i}" for i in range(2)]
    for i, out in enumerate(shards):
        build_library(MOLECULES, out, predictor, shard=Shard(i, 2))
    entries = shards[1] / "entries.parquet"
    entries.write_bytes(entries.read_bytes()[:100])
    with pytest.raises(LibraryError, match="truncated"):
        merge_libraries(shards, tmp_path / "merged")


def test_exact_and_approximate_index_agree() -> None:
    import faiss

    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(2000, 16)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    exact = build_index(vectors)
    approx = build_index(vectors, exact_max=100)
    assert isinstance(exact, faiss.IndexFlatIP), type(exact)
    assert isinstance(approx, faiss.IndexIVFScalarQuantizer), type(approx)
    queries = vectors[:50] + rng.normal(scale=0.05, size=(50, 16)).astype(np.float32)
    _, exact_ids = exact.search(queries, 5)
    _, approx_ids = approx.search(queries, 5)
    assert np.array_equal(exact_ids[:, 0], np.arange(50)), "exact search must find the source row"
    top1 = np.mean(exact_ids[:, 0] == approx_ids[:, 0])
    assert top1 >= 0.95, f"approximate top-1 agrees with exact on only {top1:.0%} of queries"


def test_embed_library_adds_encoders(tmp_path: Path, predictor, encoders) -> None:
    from nmrpeak_cli.retrieve.build import embed_library

    plain, direct = tmp_path / "plain", tmp_path / "direct"
    build_library(MOLECULES, plain, predictor)
    build_library(MOLECULES, direct, predictor, encoders)
    embed_library(plain, encoders, batch_size=5)
    later, once = open_library(plain), open_library(direct)
    assert later.encoder_names == ("sme", "sse"), later.encoder_names
    for name in ("sme", "sse"):
        assert np.array_equal(later.embeddings[name], once.embeddings[name]), name
    open_library(plain, encoders=[e.identity for e in encoders])
