"""The simulated pretraining corpus: predicted spectra for many training molecules.

:func:`simulate_corpus` runs a :class:`~nmrpeak_cli.predict.forward.Predictor` over the SMILES
of one or more tables (``data/simulated_molecules.parquet`` from MOSES, the experimental
training split) and writes numbered Parquet parts of query-schema rows (``id``, ``smiles``,
``formula``, ``c13``, ``h1``) into a folder. Each part is written atomically and skipped when
it already exists, so an interrupted run resumes where it stopped. Held-out molecules (any
stereoisomer of a validation/test molecule) are refused before anything is predicted.
Exchangeable OH/NH/SH protons are left out of the simulated 1H lists, as they are from most
experimental NMRShiftDB2 lists.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from pathlib import Path

from nmrpeak_cli import chem
from nmrpeak_cli.data.corpus import MANIFEST as MANIFEST  # re-exported: readers live below
from nmrpeak_cli.data.corpus import read_corpus as read_corpus
from nmrpeak_cli.data.corpus import read_manifest as read_manifest
from nmrpeak_cli.data.corpus import read_smiles as read_smiles
from nmrpeak_cli.paths import atomic_path, write_text_atomic
from nmrpeak_cli.predict.forward import Predictor
from nmrpeak_cli.schema import QUERY_SCHEMA, rows_to_table, spectrum_to_row
from nmrpeak_cli.spectra import Nucleus, PeakList, Spectrum

log = logging.getLogger(__name__)

PART_SIZE = 5000
"""Molecules per Parquet part."""


def simulate_corpus(
    smiles: Sequence[str],
    out_dir: str | Path,
    predictor: Predictor,
    *,
    held_out_keys: Iterable[str] = (),
    part_size: int = PART_SIZE,
    jobs: int = 1,
    progress: Callable[[int], None] | None = None,
) -> list[Path]:
    """Predict spectra for ``smiles`` into ``out_dir/part-NNNNN.parquet`` (resumable).

    Parameters
    ----------
    smiles
        Training molecules (duplicates are kept once, in first-seen order).
    out_dir
        Output folder.
    predictor
        Forward model; must return one spectrum (or ``None``) per SMILES.
    held_out_keys
        First InChIKey blocks of validation/test molecules; a SMILES among them raises.
    part_size
        Molecules per part (a part is the unit of resumption).
    jobs
        Worker processes for the leakage check.
    progress
        Called with the number of molecules finished after each part.

    Returns
    -------
    list of Path
        Every part of the corpus (written now or found).
    """
    from nmrpeak_cli.data.splits import molecule_keys
    from nmrpeak_cli.errors import LeakageError

    unique = list(dict.fromkeys(smiles))
    held = set(held_out_keys)
    if held:
        leaked = molecule_keys(unique, jobs) & held
        if leaked:
            raise LeakageError(
                f"{len(leaked)} held-out molecules are in the corpus input "
                f"(e.g. {sorted(leaked)[:3]}); filter them first"
            )
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    parts = []
    for number, start in enumerate(range(0, len(unique), part_size)):
        path = out_dir / f"part-{number:05d}.parquet"
        parts.append(path)
        chunk = unique[start : start + part_size]
        if not path.is_file():
            _write_part(chunk, path, predictor, start)
        if progress is not None:
            progress(len(chunk))
    return parts


def simulate_queries(
    smiles: Sequence[str], predictor: Predictor, ids: Sequence[str]
) -> list[Spectrum | None]:
    """Query spectra predicted for ``smiles`` as a spectrometer would list them.

    Each spectrum carries its id, Hill formula and canonical isomeric SMILES; exchangeable
    OH/NH/SH protons (predicted as ``br s``) are left out, as most experimental lists do.
    ``None`` where RDKit or the predictor cannot handle a molecule.
    """
    out: list[Spectrum | None] = []
    for smi, spectrum, name in zip(smiles, predictor(list(smiles), None), ids, strict=True):
        mol = chem.try_parse_smiles(smi) if spectrum is not None else None
        if spectrum is None or mol is None:
            out.append(None)
            continue
        h1 = spectrum.h1
        if h1:
            h1 = PeakList(Nucleus.H1, tuple(p for p in h1 if p.multiplicity != "br s"))
        out.append(
            replace(
                spectrum,
                id=name,
                h1=h1 or None,
                formula=chem.formula(mol),
                smiles=chem.canonical_smiles(mol),
            )
        )
    return out


def _write_part(chunk: Sequence[str], path: Path, predictor: Predictor, offset: int) -> None:
    import pyarrow.parquet as pq

    ids = [f"sim:{offset + i}" for i in range(len(chunk))]
    spectra = simulate_queries(chunk, predictor, ids)
    rows = [spectrum_to_row(s) for s in spectra if s is not None]
    with atomic_path(path) as tmp:
        pq.write_table(rows_to_table(rows, QUERY_SCHEMA), tmp)
    log.info("%s: %d of %d molecules", path, len(rows), len(chunk))


def write_manifest(
    out_dir: str | Path,
    *,
    split: str,
    data: str | Path,
    predictor_weights: str | Path,
    parts: Sequence[Path],
    command: str | None = None,
) -> Path:
    """Record in ``out_dir/corpus.json`` the split, the forward model (with sha256), the parts
    and the command that made them.

    The generator's model card copies it, so a pretrained model names the predictor whose
    spectra it learned from.
    """
    import json

    import pyarrow.parquet as pq

    from nmrpeak_cli.paths import file_sha256

    manifest = {
        "split": split,
        "data": str(data),
        "predictor": str(predictor_weights),
        "predictor_sha256": file_sha256(predictor_weights),
        "parts": len(parts),
        "spectra": sum(pq.ParquetFile(p).metadata.num_rows for p in parts),
        "command": command,
    }
    return write_text_atomic(Path(out_dir) / MANIFEST, json.dumps(manifest, indent=1) + "\n")
