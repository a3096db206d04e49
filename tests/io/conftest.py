"""Builders for the I/O tests: spectra and files made by code, no fixture files."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path

import pytest

from nmrpeak_cli.io import read_spectra, write_table
from nmrpeak_cli.schema import QUERY_SCHEMA, spectrum_to_row
from nmrpeak_cli.spectra import Nucleus, Peak, PeakList, Spectrum


@dataclass(frozen=True)
class SpectrumBuilder:
    """Fluent builder of query spectra (only what a query table can hold: 13C shifts, 1H peaks)."""

    id: str = "s1"
    c13: tuple[float, ...] | None = None
    h1: tuple[Peak, ...] | None = None
    formula: str | None = None
    solvent: str | None = None
    field_mhz: float | None = None
    smiles: str | None = None
    extra: dict = field(default_factory=dict)

    def with_id(self, value: str) -> SpectrumBuilder:
        return replace(self, id=value)

    def with_c13(self, *shifts: float) -> SpectrumBuilder:
        return replace(self, c13=tuple(shifts))

    def with_h1(self, *peaks: Peak | float) -> SpectrumBuilder:
        return replace(self, h1=tuple(p if isinstance(p, Peak) else Peak(p) for p in peaks))

    def with_formula(self, value: str) -> SpectrumBuilder:
        return replace(self, formula=value)

    def with_solvent(self, value: str) -> SpectrumBuilder:
        return replace(self, solvent=value)

    def with_field(self, value: float) -> SpectrumBuilder:
        return replace(self, field_mhz=value)

    def with_smiles(self, value: str) -> SpectrumBuilder:
        return replace(self, smiles=value)

    def build(self) -> Spectrum:
        return Spectrum(
            id=self.id,
            c13=None if self.c13 is None else PeakList.from_shifts(Nucleus.C13, self.c13),
            h1=None if self.h1 is None else PeakList(Nucleus.H1, self.h1),
            formula=self.formula,
            solvent=self.solvent,
            field_mhz=self.field_mhz,
            smiles=self.smiles,
        )


def typical_spectra() -> list[Spectrum]:
    """Three spectra covering ranges (centre off the midpoint), multiplets, several J values,
    13C-only and 1H-only."""
    full = (
        SpectrumBuilder()
        .with_id("methyl 4-methylbenzoate")
        .with_c13(167.1, 143.5, 129.6, 129.0, 127.4, 51.9, 21.6)
        .with_h1(
            Peak(7.93, integration=2, multiplicity="d", j_hz=(8.2,)),
            Peak(7.23, integration=2, multiplicity="dd", j_hz=(8.2, 0.6)),
            Peak(3.90, integration=3, multiplicity="s"),
            Peak(2.05, shift_lo=1.95, shift_hi=2.2, integration=3, multiplicity="m"),
        )
        .with_formula("C9H10O2")
        .with_solvent("CDCl3")
        .with_field(400)
        .with_smiles("COC(=O)c1ccc(C)cc1")
        .build()
    )
    carbon_only = SpectrumBuilder().with_id("c-only").with_c13(77.16, -1.5, 206.7).build()
    proton_only = (
        SpectrumBuilder()
        .with_id("h-only")
        .with_h1(Peak(-0.11, integration=9, multiplicity="br s"), Peak(12.1))
        .with_solvent("DMSO-d6")
        .build()
    )
    return [full, carbon_only, proton_only]


def _read_all(source, **kwargs) -> list:
    return [result for batch in read_spectra(source, **kwargs) for result in batch]


def _write_spectra(path: Path, spectra: Iterable[Spectrum]) -> Path:
    write_table([spectrum_to_row(s) for s in spectra], path, QUERY_SCHEMA)
    return path


@pytest.fixture
def builder() -> SpectrumBuilder:
    return SpectrumBuilder()


@pytest.fixture
def spectra() -> list[Spectrum]:
    return typical_spectra()


@pytest.fixture
def read_all():
    """``read_all(source, **kwargs)``: every result of ``read_spectra``, batches flattened."""
    return _read_all


@pytest.fixture
def write_spectra():
    """``write_spectra(path, spectra)``: write query rows of ``spectra`` to ``path``."""
    return _write_spectra
