"""Inference: SMILES → predicted 13C/1H peak lists, streamed in batches.

Molecules are read lazily, featurized and predicted ``batch_size`` at a time, so memory is
bounded whatever the input size. A record the model cannot handle (see
:func:`~nmrpeak_cli.predict.featurize.parse_molecule`: unparseable or unsanitizable SMILES,
metal, radical, too many atoms; or an unknown solvent) becomes a
:class:`Prediction` with ``error`` set and the batch goes on. Of a salt or mixture the
largest organic component is predicted, and the row's ``note`` says what was removed.

Each molecule is renumbered to the atom order of its RDKit canonical isomeric SMILES, which
is the ``smiles`` returned: peak ``atoms`` index the atoms of ``Chem.MolFromSmiles(smiles)``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from nmrpeak_cli.errors import ChemistryError
from nmrpeak_cli.io.records import MoleculeRecord, batched
from nmrpeak_cli.predict.featurize import MolGraph, featurize, prepare_molecule, solvent_index
from nmrpeak_cli.predict.peaks import peaks_from_atoms
from nmrpeak_cli.spectra import Spectrum

if TYPE_CHECKING:
    from nmrpeak_cli.predict.model import ShiftModel


@dataclass(frozen=True, slots=True)
class Prediction:
    """The predicted spectrum of one record, or why there is none.

    Attributes
    ----------
    id
        Record id.
    smiles
        RDKit canonical isomeric SMILES (atom order of peak ``atoms``); the input text when
        it could not be parsed.
    spectrum
        Predicted peaks (``None`` when ``error`` is set).
    h1_exchangeable
        Per ``spectrum.h1`` peak: True for OH/NH/SH protons.
    error
        One-line reason the record failed, else ``None``.
    note
        What was predicted when it is not exactly the input (the main component of a salt
        or mixture) and reliability warnings (rare elements); ``None`` otherwise.
    shift_sd
        Calibrated standard deviation (ppm) per ``spectrum.c13`` and per ``spectrum.h1``
        peak (see :mod:`~nmrpeak_cli.predict.uncertainty`); empty when the model has no
        uncertainty calibration.
    """

    id: str
    smiles: str | None
    spectrum: Spectrum | None = None
    h1_exchangeable: tuple[bool, ...] = ()
    error: str | None = None
    note: str | None = None
    shift_sd: tuple[tuple[float, ...], tuple[float, ...]] = ((), ())


def _prepare(
    record: MoleculeRecord, default_solvent: str | None
) -> tuple[Any, str, MolGraph, str | None, str | None]:
    from rdkit import Chem

    solvent = record.solvent if record.solvent is not None else default_solvent
    index = solvent_index(solvent)
    mol, notes = prepare_molecule(record.smiles)
    smiles = Chem.MolToSmiles(mol)
    order = [int(i) for i in mol.GetProp("_smilesAtomOutputOrder").strip("[],").split(",") if i]
    mol = Chem.RenumberAtoms(mol, order)
    from nmrpeak_cli.solvents import normalize_solvent

    note = "; ".join(notes) or None
    return mol, smiles, featurize(mol, index), normalize_solvent(solvent), note


def _as_input(item: MoleculeRecord | str | tuple, position: int) -> MoleculeRecord:
    if isinstance(item, MoleculeRecord):
        return item
    if isinstance(item, str):
        return MoleculeRecord(str(position), item)
    return MoleculeRecord(*item)


def predict_chunk(
    model: ShiftModel,
    records: Sequence[MoleculeRecord],
    solvent: str | None = None,
    *,
    uncertainty: bool = True,
) -> list[Prediction]:
    """Predict one batch of records (errors become :class:`Prediction` rows with ``error``);
    ``uncertainty=False`` skips the per-peak ``shift_sd`` (about 10 % of the time)."""
    from nmrpeak_cli.chem import formula
    from nmrpeak_cli.predict.memory import forward_atoms

    results: list[Prediction | None] = [None] * len(records)
    prepared: list[tuple[int, Any, str, MolGraph, str | None, str | None]] = []
    for i, record in enumerate(records):
        if record.error is not None:
            results[i] = Prediction(record.id, record.smiles, error=record.error)
            continue
        try:
            prepared.append((i, *_prepare(record, solvent)))
        except (ChemistryError, ValueError, TypeError) as exc:
            results[i] = Prediction(record.id, record.smiles, error=str(exc))
    atoms = forward_atoms(
        model, [p[3] for p in prepared], [p[1] for p in prepared], batch_size=max(1, len(prepared))
    )
    levels = atoms.levels if atoms.levels is not None else [None] * len(prepared)
    calibration = getattr(model, "uncertainty", None) if uncertainty else None
    for (i, mol, smiles, _, solvent_name, note), atom_shifts, spread, level in zip(
        prepared, atoms.shifts, atoms.spreads, levels, strict=True
    ):
        record = records[i]
        try:
            peaks = peaks_from_atoms(mol, atom_shifts)
            sds = _peak_sds(mol, peaks, spread, calibration, level) if calibration else ((), ())
            spectrum = Spectrum(
                id=record.id,
                c13=peaks.c13,
                h1=peaks.h1,
                formula=formula(mol),
                solvent=solvent_name,
                smiles=smiles,
            )
            results[i] = Prediction(
                record.id, smiles, spectrum, peaks.h1_exchangeable, note=note, shift_sd=sds
            )
        except ValueError as exc:  # a predicted shift outside the plausible range
            results[i] = Prediction(record.id, smiles, error=f"prediction failed: {exc}")
    return [r for r in results if r is not None]


def _peak_sds(
    mol: Any,
    peaks: Any,
    spread: np.ndarray,
    uncertainty: Any,
    levels: np.ndarray | None = None,
) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-peak calibrated sd: the mean of its atoms' sds (labels with the memory's
    familiarity, and the molecule's novelty, when the calibration was fitted with them)."""
    from nmrpeak_cli.predict.uncertainty import MoleculeContext, atom_labels, molecule_novelty

    familiar = levels if uncertainty.familiarity else None
    c13_labels, h1_labels = atom_labels(mol, familiar)
    context = MoleculeContext(
        molecule_novelty(mol, familiar) if familiar is not None else None,
        mol.GetNumHeavyAtoms(),
    )
    per_atom = (
        uncertainty.c13.sd(spread[:, 0], c13_labels, context),
        uncertainty.h1.sd(spread[:, 1], h1_labels, context),
    )
    return tuple(
        tuple(float(np.mean(sd[list(p.atoms)])) if p.atoms else float("nan") for p in peak_list)
        for sd, peak_list in zip(per_atom, (peaks.c13, peaks.h1), strict=True)
    )


def predict_records(
    records: Iterable[MoleculeRecord | str | tuple],
    *,
    solvent: str | None = None,
    weights: Path | None = None,
    model: ShiftModel | None = None,
    batch_size: int = 256,
    device: str = "auto",
    jobs: int = 1,
    on_result: Callable[[int], None] | None = None,
    uncertainty: bool = True,
) -> Iterator[Prediction]:
    """Predict peak lists for records, in input order, one :class:`Prediction` each.

    Parameters
    ----------
    records
        :class:`MoleculeRecord` items, ``(id, smiles[, solvent])`` tuples or bare SMILES
        (ids are then the 0-based positions).
    solvent
        Solvent for records without their own (``None``: unknown/unspecified).
    weights, model
        A loaded model, or the weights to load (default: the shipped predictor).
    batch_size
        Molecules featurized and predicted together.
    device
        ``auto``, ``cpu`` or ``cuda``.
    jobs
        Worker processes, each predicting whole batches on CPU with one torch thread
        (``weights`` are loaded in each worker; ``model`` must then be ``None``).
    on_result
        Called with the number of records finished after each batch (progress bars).
    uncertainty
        Compute per-peak ``shift_sd`` when the model is calibrated; callers that only
        score spectra (rerank, search) pass ``False``.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    if solvent is not None:
        solvent_index(solvent)  # an unknown default solvent is a usage error, not a record error
    iterator = (_as_input(item, i) for i, item in enumerate(records))
    chunks = batched(iterator, batch_size)
    if jobs > 1:
        if model is not None:
            raise ValueError("jobs > 1 loads the weights in each worker: pass weights, not model")
        from functools import partial

        from nmrpeak_cli.batch import parallel_map
        from nmrpeak_cli.predict.weights import default_weights

        job = partial(_chunk_job, weights or default_weights(), solvent, uncertainty)
        for results in parallel_map(job, chunks, jobs=jobs, chunk_size=1):
            if on_result:
                on_result(len(results))
            yield from results
        return
    if model is None:
        from nmrpeak_cli.context import RunContext
        from nmrpeak_cli.predict.weights import load_model

        model = load_model(weights, device=RunContext(device=device).torch_device())
    for chunk in chunks:
        results = predict_chunk(model, chunk, solvent, uncertainty=uncertainty)
        if on_result:
            on_result(len(results))
        yield from results


def _chunk_job(
    weights: Path, solvent: str | None, uncertainty: bool, chunk: list[MoleculeRecord]
) -> list[Prediction]:
    """Worker-process body of :func:`predict_records` with ``jobs > 1``."""
    model = process_model(weights, "cpu", threads=1)
    return predict_chunk(model, chunk, solvent, uncertainty=uncertainty)


def set_torch_threads(threads: int | None) -> None:
    """Set torch's CPU threads in this process (``None``: leave torch's default).

    The one place inference sets them: 1 in worker processes, so they do not oversubscribe
    the cores. torch is imported only when a number is given.
    """
    if threads is not None:
        import torch

        torch.set_num_threads(threads)


@lru_cache(maxsize=2)
def process_model(weights: Path, device: str, threads: int | None = None) -> ShiftModel:
    """The forward model of ``weights``, loaded once per process (workers, Dask tasks and every
    :class:`~nmrpeak_cli.predict.forward.ForwardModel` of this process share it).

    ``threads`` sets torch's CPU threads first (:func:`set_torch_threads`).
    """
    from nmrpeak_cli.predict.weights import load_model

    set_torch_threads(threads)
    return load_model(weights, device=device)


@dataclass(frozen=True, slots=True)
class PredictBatch:
    """Picklable batch body for :func:`nmrpeak_cli.batch.run_records`: one prediction-table
    row per record.

    Attributes
    ----------
    weights
        Predictor weights (with their card), loaded once per process.
    solvent
        Solvent for records without their own.
    device
        Concrete torch device (``cpu``, ``cuda``).
    threads
        torch CPU threads in this process (``None``: torch's default).
    """

    weights: Path
    solvent: str | None = None
    device: str = "cpu"
    threads: int | None = None

    def __call__(self, batch: list[MoleculeRecord]) -> list[list[dict[str, Any]]]:
        """Predict one batch; failed records give rows with ``error``."""
        model = process_model(self.weights, self.device, self.threads)
        return [[prediction_row(p)] for p in predict_chunk(model, batch, self.solvent)]


def predict_spectra(
    smiles: Iterable[str],
    *,
    solvent: str | None = None,
    batch_size: int = 256,
    device: str = "auto",
    weights: Path | None = None,
    exchangeable: bool = True,
) -> Iterator[Spectrum]:
    """Predicted 13C and 1H spectra of molecules, in input order.

    Each :class:`~nmrpeak_cli.spectra.Spectrum` has ``id`` = position in the input and
    ``smiles`` = RDKit canonical isomeric SMILES; 13C peaks carry ``integration`` = number of
    equivalent carbons, ``n_h`` and ``atoms``; 1H peaks carry integration, first-order
    multiplicity, approximate ``j_hz`` and the heavy ``atoms`` carrying the protons.

    Parameters
    ----------
    smiles
        SMILES strings (any iterable, consumed lazily).
    solvent
        NMR solvent (e.g. ``"CDCl3"``), ``None`` for unspecified.
    batch_size, device, weights
        See :func:`predict_records`.
    exchangeable
        Keep OH/NH/SH protons (predicted as broad singlets); ``False`` drops them.

    Raises
    ------
    ChemistryError
        For a molecule the model cannot handle, naming its position and the reason.
    """
    for prediction in predict_records(
        smiles,
        solvent=solvent,
        batch_size=batch_size,
        device=device,
        weights=weights,
        uncertainty=False,  # the spectra returned carry no shift_sd
    ):
        if prediction.error is not None:
            raise ChemistryError(
                f"molecule {prediction.id} ({prediction.smiles!r}): {prediction.error}"
            )
        spectrum = prediction.spectrum
        if not exchangeable and any(prediction.h1_exchangeable):
            kept = tuple(
                p
                for p, ex in zip(spectrum.h1.peaks, prediction.h1_exchangeable, strict=True)
                if not ex
            )
            from dataclasses import replace

            spectrum = replace(spectrum, h1=type(spectrum.h1)(spectrum.h1.nucleus, kept))
        yield spectrum


def prediction_row(prediction: Prediction) -> dict[str, Any]:
    """A :class:`Prediction` as a row of :data:`~nmrpeak_cli.schema.PREDICTION_SCHEMA`."""
    spectrum = prediction.spectrum
    if spectrum is None:
        return {
            "id": prediction.id,
            "smiles": prediction.smiles,
            "c13": None,
            "h1": None,
            "error": prediction.error,
            "note": prediction.note,
        }
    c13_sd, h1_sd = (
        tuple(sds) or (None,) * len(peaks)
        for sds, peaks in zip(prediction.shift_sd, (spectrum.c13, spectrum.h1), strict=True)
    )
    c13 = [
        {
            "shift": round(p.shift, 2),
            "shift_sd": None if sd is None else round(sd, 2),
            "n_atoms": len(p.atoms),
            "atoms": list(p.atoms),
        }
        for p, sd in zip(spectrum.c13, c13_sd, strict=True)
    ]
    h1 = [
        {
            "shift": round(p.shift, 3),
            "shift_sd": None if sd is None else round(sd, 3),
            "integration": p.integration,
            "multiplicity": p.multiplicity,
            "j_hz": list(p.j_hz),
            "atoms": list(p.atoms),
            "exchangeable": flag,
        }
        for p, flag, sd in zip(spectrum.h1, prediction.h1_exchangeable, h1_sd, strict=True)
    ]
    return {
        "id": prediction.id,
        "smiles": prediction.smiles,
        "c13": c13,
        "h1": h1,
        "error": prediction.error,
        "note": prediction.note,
    }


def atom_shift_table(
    predictions: Iterable[Prediction],
) -> Iterator[tuple[str, np.ndarray, np.ndarray]]:
    """``(id, atoms, shifts)`` of every 13C peak, expanded per atom (for benchmarks)."""
    for prediction in predictions:
        if prediction.spectrum is None or prediction.spectrum.c13 is None:
            continue
        atoms = np.concatenate(
            [np.asarray(p.atoms) for p in prediction.spectrum.c13] or [np.zeros(0, int)]
        )
        shifts = np.concatenate(
            [np.full(len(p.atoms), p.shift) for p in prediction.spectrum.c13] or [np.zeros(0)]
        )
        yield prediction.id, atoms, shifts
