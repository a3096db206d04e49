"""Raw instrument folders through the registry (real examples from ../shared)."""

from __future__ import annotations

from pathlib import Path

import pytest

from nmrpeak_cli.io import iter_input_files
from nmrpeak_cli.processing.rawformat import claims_directory


@pytest.mark.integration
def test_sample_folders_are_claimed_whole_and_read(
    tmp_path: Path, shared_data: Path, read_all
) -> None:
    raw = shared_data / "raw-examples"
    bruker = raw / "ibuprofen_bruker"
    assert claims_directory(bruker), "a Bruker sample folder (1/, 2/, ...) is claimed"
    assert claims_directory(bruker / "1"), "an experiment folder is claimed"
    assert not claims_directory(raw), "a folder of samples is walked, not claimed"
    assert not claims_directory(tmp_path), "an empty folder is not raw data"
    inputs = list(iter_input_files(raw))
    assert bruker in inputs and raw / "jcamp" / "aspirin" in inputs, f"samples found: {inputs}"
    (spectrum,) = read_all(bruker)
    assert spectrum.id == "ibuprofen_bruker" and spectrum.solvent == "CDCl3", (
        "sample id and solvent"
    )
    assert len(spectrum.c13) >= 8 and len(spectrum.h1) >= 5, "13C and 1H merged into one record"
    (aspirin,) = read_all(raw / "jcamp" / "aspirin" / "1h.dx")
    assert aspirin.h1 is not None and aspirin.c13 is None, "a single JCAMP-DX file"
