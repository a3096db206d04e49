"""Adaptive spectrum tokenizer and SMILES tokenizer."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nmrpeak_cli.spectra import Nucleus, Peak, PeakList, Spectrum
from nmrpeak_cli.tokenizer import (
    SmilesTokenizer,
    SpectrumTokenizer,
    fit_shift_bins,
    smiles_tokens,
)


def training_spectra(n: int = 300, seed: int = 0) -> list[Spectrum]:
    """Shifts crowd at 125–135 ppm (13C) and 1–2 ppm (1H), like real data."""
    rng = np.random.default_rng(seed)
    spectra = []
    for i in range(n):
        c13 = np.concatenate([rng.normal(130, 3, 5), rng.uniform(0, 220, 3)])
        h1 = np.concatenate([rng.normal(1.5, 0.3, 4), rng.uniform(0, 12, 2)])
        spectra.append(
            Spectrum(
                f"s{i}",
                c13=np.clip(c13, -5, 230).tolist(),
                h1=[Peak(float(x), integration=2, multiplicity="t") for x in np.clip(h1, -0.5, 14)],
                formula="C8H10O",
            )
        )
    return spectra


@pytest.fixture(scope="module")
def tokenizer() -> SpectrumTokenizer:
    return SpectrumTokenizer.fit(training_spectra(), c13_bins=200, h1_bins=100)


def test_bins_are_dense_where_shifts_crowd(tokenizer):
    edges = np.asarray(tokenizer.c13_bins.edges)
    widths = np.diff(edges)
    centres = (edges[:-1] + edges[1:]) / 2
    dense = widths[(centres > 127) & (centres < 133)].mean()
    sparse = widths[(centres > 180) & (centres < 220)].mean()
    assert dense < sparse / 3, (
        f"dense-region bins ({dense:.3f}) should be far narrower than sparse ({sparse:.3f})"
    )


def test_widest_bin_bounded_by_mix():
    bins = fit_shift_bins(np.full(1000, 50.0), Nucleus.C13, 100, mix=0.25, shift_range=(0, 200))
    assert bins.n_bins <= 100, "vocabulary budget respected"
    assert bins.max_error() <= 200 / (0.25 * 100), "uniform component bounds the error"


@settings(max_examples=50, deadline=None)
@given(st.lists(st.floats(-9.9, 239.9), min_size=1, max_size=30))
def test_decode_encode_within_reported_bound(tokenizer, shifts):
    bins = tokenizer.c13_bins
    decoded = bins.decode(bins.encode(np.asarray(shifts)))
    assert np.all(np.abs(decoded - shifts) <= bins.max_error() + 1e-9)


def test_spectrum_round_trip_keeps_structure(tokenizer):
    spectrum = Spectrum(
        "x",
        c13=PeakList(Nucleus.C13, (Peak(170.0), Peak(128.4, integration=2))),
        h1=[
            Peak(7.26, integration=2, multiplicity="d"),
            Peak(1.2, integration=3, multiplicity="t"),
        ],
        formula="C9H10O2",
    )
    ids = tokenizer.encode(spectrum)
    assert ids[0] == tokenizer.token_id("<bos>") and ids[-1] == tokenizer.token_id("<eos>")
    back = tokenizer.decode(ids)
    assert back.formula == "C9H10O2"
    assert [p.multiplicity for p in back.h1] == ["d", "t"]
    assert [p.integration for p in back.h1] == [2.0, 3.0]
    assert back.c13[1].integration == 2.0
    bound = tokenizer.c13_bins.max_error()
    assert np.allclose(back.c13.shifts, spectrum.c13.shifts, atol=bound)
    assert "<formula>" not in tokenizer.tokens(spectrum, formula=False)


def test_quantization_report_and_save_load(tokenizer, tmp_path):
    report = tokenizer.quantization_report(training_spectra(50, seed=1))
    assert report["13C"]["max_error_ppm"] <= report["13C"]["bound_ppm"] + 1e-9
    assert report["1H"]["n_bins"] <= 100
    path = tmp_path / "tok.json"
    tokenizer.save(path)
    assert SpectrumTokenizer.load(path) == tokenizer


@pytest.mark.parametrize(
    "smiles", ["CC(C)Cc1ccc(cc1)[C@@H](C)C(=O)O", "Cl/C=C/Br", "c1ccc2c(c1)CC%10CC2.[Na+]"]
)
def test_smiles_round_trip(smiles):
    tokens = smiles_tokens(smiles)
    assert "".join(tokens) == smiles
    tokenizer = SmilesTokenizer.fit([smiles])
    assert tokenizer.decode(tokenizer.encode(smiles)[1:]) == smiles


def test_smiles_tokenizer_rejects_unknown_characters():
    with pytest.raises(ValueError, match="does not know"):
        smiles_tokens("CC{C}")
