"""Query rows convert to and from Spectrum through the one schema definition."""

from __future__ import annotations

import pyarrow as pa
import pytest

from nmrpeak_cli.errors import SpectrumError
from nmrpeak_cli.schema import (
    QUERY_SCHEMA,
    RESULTS_SCHEMA,
    error_row,
    row_to_spectrum,
    rows_to_table,
    spectrum_to_row,
)
from nmrpeak_cli.spectra import Peak, PeakList, Spectrum


def make_spectrum() -> Spectrum:
    h1 = PeakList(
        "1H",
        (
            Peak(7.26, integration=2, multiplicity="d", j_hz=(8.4,)),
            Peak(2.02, shift_lo=1.95, shift_hi=2.10, integration=2, multiplicity="m"),
        ),
    )
    return Spectrum(
        "q1", c13=[170.2, 77.0], h1=h1, formula="C9H10O2", solvent="CDCl3", smiles="CCO"
    )


def test_row_round_trip_through_arrow():
    spectrum = make_spectrum()
    table = rows_to_table([spectrum_to_row(spectrum)], QUERY_SCHEMA)
    assert table.schema.equals(QUERY_SCHEMA, check_metadata=True)
    back = row_to_spectrum(table.to_pylist()[0])
    assert back == spectrum, "Spectrum -> Arrow row -> Spectrum must be lossless"


def test_schema_metadata_names_schema_and_version():
    meta = RESULTS_SCHEMA.metadata
    assert meta[b"nmrpeak.schema"] == b"results"
    assert meta[b"nmrpeak.schema_version"] == b"1"


def test_error_row_keeps_id():
    row = error_row("bad7", "c13: shift 'x' is not a number")
    table = rows_to_table([row], QUERY_SCHEMA)
    assert table.column("id").to_pylist() == ["bad7"]
    assert table.column("c13").null_count == 1


@pytest.mark.parametrize(
    ("row", "field"),
    [
        ({"id": None, "c13": [1.0]}, "id"),
        ({"id": "a", "c13": [float("nan")]}, "shift"),
        ({"id": "a", "c13": {"shift": 1.0}}, "c13"),
        ({"id": "a", "c13": [500.0]}, "c13"),
    ],
)
def test_bad_rows_name_the_field(row, field):
    with pytest.raises(SpectrumError, match=field):
        row_to_spectrum(row)


def test_missing_cells_are_none():
    spectrum = row_to_spectrum({"id": "a", "c13": [10.0], "h1": None, "formula": float("nan")})
    assert spectrum.h1 is None and spectrum.formula is None
    assert isinstance(rows_to_table([spectrum_to_row(spectrum)], QUERY_SCHEMA), pa.Table)


def test_result_row_is_the_results_schema_in_column_order():
    import dataclasses

    from nmrpeak_cli.schema import ResultRow, result_row

    assert [f.name for f in dataclasses.fields(ResultRow)] == RESULTS_SCHEMA.names
    row = ResultRow("q1", rank=1, smiles="CCO", score=0.5)
    with pytest.raises(dataclasses.FrozenInstanceError):
        row.rank = 2  # type: ignore[misc]
    values = row.to_dict(library_row=7)
    assert list(values)[:-1] == RESULTS_SCHEMA.names and values["library_row"] == 7
    assert values["smiles"] == "CCO" and values["error"] is None
    table = rows_to_table([row.to_dict()], RESULTS_SCHEMA)
    assert table.to_pylist()[0] == row.to_dict(), "a row survives the Arrow table unchanged"
    with pytest.raises(TypeError):
        result_row(query_id="q", not_a_column=1)
