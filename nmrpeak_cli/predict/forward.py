"""The forward model as one object: SMILES → predicted 13C/1H spectra.

:class:`Predictor` is the one interface every consumer of a forward model takes (the
generator's rerank and corpus, the structure search, elucidate, the reports, library building
and encoder training); :class:`ForwardModel` is the shipped (or a trained) predictor behind
it, its weights loaded once per process (:func:`~nmrpeak_cli.predict.infer.process_model`).
Nothing heavy is imported here: the model is loaded when first used.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from nmrpeak_cli.artifacts import ModelIdentity
from nmrpeak_cli.errors import NotAvailableError
from nmrpeak_cli.spectra import Spectrum

if TYPE_CHECKING:
    from nmrpeak_cli.predict.model import ShiftModel


@runtime_checkable
class Predictor(Protocol):
    """A forward model: SMILES → predicted 13C/1H spectra.

    Called as ``predictor(smiles, solvent)``, it gives one predicted
    :class:`~nmrpeak_cli.spectra.Spectrum` (``None`` where the model cannot handle the
    molecule) per SMILES, in order. That is all the rerank, the structure search, elucidate
    and the reports use, so any function of that signature serves them (test stand-ins).
    Library building and encoder training also record its :attr:`identity` and store its
    full rows (:meth:`predict_rows`).
    """

    def __call__(
        self, smiles: Sequence[str], solvent: str | None = None
    ) -> Sequence[Spectrum | None]:
        """One predicted spectrum (or ``None``) per SMILES."""
        ...

    @property
    def identity(self) -> ModelIdentity:
        """Name, version and sha256 of the model (recorded in library manifests)."""
        ...

    def predict_rows(self, records: Sequence[tuple[str, str]]) -> list[dict[str, Any]]:
        """One PREDICTION_SCHEMA row (``id``, ``smiles``, ``c13``, ``h1``, ``error``) per
        ``(id, smiles)`` pair, in order; a molecule the model cannot handle gets a row with
        ``error`` set instead of raising."""
        ...


class ForwardModel:
    """The forward model of :mod:`nmrpeak_cli.predict` as a :class:`Predictor`.

    The weights are loaded on first use, once per process and shared by every
    :class:`ForwardModel` of the same weights, device and threads. A missing or bad weight
    file raises :class:`~nmrpeak_cli.errors.NotAvailableError` then (at call time), so a
    caller can fall back; :meth:`load` checks it at once.

    Parameters
    ----------
    weights
        ``.safetensors`` file with its JSON card (default: the shipped ``models/predictor``).
    device
        ``auto``, ``cpu`` or ``cuda[:N]``.
    threads
        torch CPU threads set when the model is loaded (``None``: torch's default).
    batch_size
        Molecules predicted together by :meth:`predict_rows`.
    jobs
        CPU worker processes of :meth:`predict_rows` (each loads the weights itself).
    """

    def __init__(
        self,
        weights: Path | None = None,
        device: str = "cpu",
        threads: int | None = None,
        *,
        batch_size: int = 256,
        jobs: int = 1,
    ) -> None:
        self.weights = Path(weights) if weights is not None else None
        self.device = device
        self.threads = threads
        self.batch_size = batch_size
        self.jobs = jobs
        self._identity: ModelIdentity | None = None

    def weights_path(self) -> Path:
        """The weight file (the shipped predictor's when none was given)."""
        if self.weights is not None:
            return self.weights
        from nmrpeak_cli.predict.weights import default_weights

        return default_weights()

    def model(self) -> ShiftModel:
        """This process's model of these weights (loaded on the first call)."""
        try:
            from nmrpeak_cli.context import resolve_device
            from nmrpeak_cli.predict.infer import process_model

            weights = self.weights_path()
        except ImportError as exc:  # pragma: no cover - torch/RDKit missing
            raise NotAvailableError(f"forward prediction is not available: {exc}") from None
        return process_model(weights, resolve_device(self.device), self.threads)

    def load(self) -> ForwardModel:
        """Load the weights now (in this process when ``jobs`` ≤ 1) and read the card, so
        missing or bad files fail before any work; returns ``self``."""
        if self.jobs <= 1:
            self.model()
        _ = self.identity
        return self

    @property
    def identity(self) -> ModelIdentity:
        """``predictor``, the card's version (else the sha256's start) and sha256; with an
        environment memory the version ends in ``+memory-<its sha256's start>``, since it
        changes the predictions (library manifests compare versions)."""
        if self._identity is None:
            from nmrpeak_cli.artifacts import read_card

            weights = self.weights_path()
            card = read_card(weights)
            version = str(card.get("version") or card["sha256"][:12])
            if card.get("memory"):
                memory = read_card(weights.parent / str(card["memory"]))
                version += f"+memory-{str(memory.get('sha256', ''))[:12]}"
            self._identity = ModelIdentity("predictor", version, str(card["sha256"]))
        return self._identity

    def __call__(self, smiles: Sequence[str], solvent: str | None = None) -> list[Spectrum | None]:
        """Predicted spectra without per-peak uncertainty (what scoring needs), in order."""
        from nmrpeak_cli.predict.infer import predict_records

        model = self.model()
        predictions = predict_records(list(smiles), solvent=solvent, model=model, uncertainty=False)
        return [p.spectrum for p in predictions]

    def predict_rows(self, records: Sequence[tuple[str, str]]) -> list[dict[str, Any]]:
        """PREDICTION_SCHEMA rows for ``(id, smiles)`` pairs (solvent unspecified; 1H peaks
        without the ``exchangeable`` flag)."""
        from nmrpeak_cli.io.records import MoleculeRecord
        from nmrpeak_cli.predict.infer import predict_records, prediction_row

        model = self.model() if self.jobs <= 1 else None
        predictions = predict_records(
            [MoleculeRecord(str(i), s) for i, s in records],
            model=model,
            weights=None if model is not None else self.weights_path(),
            batch_size=self.batch_size,
            jobs=self.jobs,
        )
        rows = []
        for prediction in predictions:
            row = prediction_row(prediction)
            if row.get("h1") is not None:
                row["h1"] = [{k: v for k, v in p.items() if k != "exchangeable"} for p in row["h1"]]
            rows.append(row)
        return rows


def load_forward_model(
    weights: Path | None = None, device: str = "auto", batch_size: int = 256, jobs: int = 1
) -> ForwardModel:
    """A :class:`ForwardModel` checked now (:meth:`ForwardModel.load`): what the library
    and encoder commands build with, so that missing weights fail before any work."""
    return ForwardModel(weights, device, batch_size=batch_size, jobs=jobs).load()


__all__ = ["ForwardModel", "Predictor", "load_forward_model"]
