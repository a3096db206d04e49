"""The fitted fusion and calibration (:class:`ElucidateModel`, ``models/elucidate.json``):
named-feature logistic functions (:class:`Logistic`) with an optional isotonic map, their
hand-set defaults, and loading the card once per file version and process."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nmrpeak_cli.errors import NotAvailableError
from nmrpeak_cli.generate.search import FALLBACK_FUSION

if TYPE_CHECKING:
    from nmrpeak_cli.similarity import SimilarityParams

MODEL_FILE = "elucidate.json"
LEAD_KEY = "library_lead"
"""Card key of :attr:`ElucidateModel.library_lead` (absent: no rule, as in older cards)."""


def sigmoid(x: float) -> float:
    """Logistic function, clipped against overflow."""
    return 1.0 / (1.0 + math.exp(-max(min(x, 50.0), -50.0)))


@dataclass(frozen=True, slots=True)
class Logistic:
    """``sigmoid(bias + sum(weights[f] * x[f]))`` over named features (missing features: 0),
    optionally mapped through a monotone (isotonic) recalibration.

    Attributes
    ----------
    weights
        Feature name → weight.
    bias
        Intercept.
    isotonic
        ``(x, y)`` knots of a non-decreasing piecewise-linear map applied to the probability
        (flat beyond the end knots), or ``None``.
    """

    weights: Mapping[str, float]
    bias: float = 0.0
    isotonic: tuple[tuple[float, ...], tuple[float, ...]] | None = None

    def logit(self, features: Mapping[str, float]) -> float:
        """The linear part."""
        return self.bias + sum(w * float(features.get(n, 0.0)) for n, w in self.weights.items())

    def __call__(self, features: Mapping[str, float]) -> float:
        """Probability in (0, 1)."""
        p = sigmoid(self.logit(features))
        if self.isotonic is None:
            return p
        return interpolate(p, *self.isotonic)

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        out: dict[str, Any] = {"weights": dict(self.weights), "bias": self.bias}
        if self.isotonic is not None:
            out["isotonic"] = {"x": list(self.isotonic[0]), "y": list(self.isotonic[1])}
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Logistic:
        """Inverse of :meth:`to_dict`."""
        knots = data.get("isotonic")
        return cls(
            {str(k): float(v) for k, v in data["weights"].items()},
            float(data["bias"]),
            None
            if knots is None
            else (tuple(float(v) for v in knots["x"]), tuple(float(v) for v in knots["y"])),
        )


def interpolate(p: float, xs: Sequence[float], ys: Sequence[float]) -> float:
    """Piecewise-linear ``ys`` over ``xs`` (sorted) at ``p``, flat beyond the ends."""
    if not xs:
        return p
    if p <= xs[0]:
        return float(ys[0])
    if p >= xs[-1]:
        return float(ys[-1])
    import bisect

    i = bisect.bisect_right(xs, p)
    x0, x1, y0, y1 = xs[i - 1], xs[i], ys[i - 1], ys[i]
    return float(y0 + (y1 - y0) * (p - x0) / (x1 - x0)) if x1 > x0 else float(y1)


DEFAULT_FUSION = Logistic({"similarity": 12.0, "library_embedding": 2.0, "gen_logprob": 1.0}, -9.0)
"""Hand-set fusion used when no fitted model is shipped (similarity dominates)."""
DEFAULT_CALIBRATION = Logistic({"score": 4.0, "margin": 4.0}, -3.0)
"""Hand-set calibration used when no fitted model is shipped."""


@dataclass(frozen=True, slots=True)
class ElucidateModel:
    """The fitted fusion and calibration, with the similarity they were fitted with.

    Attributes
    ----------
    fusion
        Score of a candidate from :func:`fusion_features`.
    calibration
        Confidence of a candidate from :func:`calibration_features`.
    similarity
        Peak-aware similarity parameters (the retrieval's, nucleus weights included).
    card
        The rest of the model card (data, split, command, metrics).
    library_lead
        The library's first choice is ranked first whenever its similarity is at most this
        far below the pool's best (``None``: no such rule, the fused score alone ranks).
    """

    fusion: Logistic
    calibration: Logistic
    similarity: SimilarityParams
    card: Mapping[str, Any] = field(default_factory=dict)
    library_lead: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON form (the model card)."""
        from nmrpeak_cli.similarity import similarity_to_dict

        return {
            "model": "nmrpeak.elucidate",
            **self.card,
            "fusion": self.fusion.to_dict(),
            "calibration": self.calibration.to_dict(),
            "similarity": similarity_to_dict(self.similarity),
            **({} if self.library_lead is None else {LEAD_KEY: self.library_lead}),
        }


def model_path(models: Path | None = None) -> Path:
    """``models/elucidate.json``."""
    from nmrpeak_cli.paths import models_dir

    return (models or models_dir()) / MODEL_FILE


def load_model(path: Path | None = None) -> ElucidateModel:
    """The fitted model at ``path`` (default: the shipped ``models/elucidate.json``); the
    hand-set defaults with the retrieval's similarity when the default file does not exist.

    Raises
    ------
    NotAvailableError
        ``path`` was given but does not exist, or the card cannot be read.
    """
    target = Path(path) if path is not None else model_path()
    if path is not None and not target.is_file():
        raise NotAvailableError(f"elucidate model {path} not found")
    return _read_model(target.absolute(), target.stat().st_mtime_ns if target.is_file() else 0)


@lru_cache(maxsize=4)
def _read_model(target: Path, mtime_ns: int) -> ElucidateModel:
    """:func:`load_model` once per file version and process."""
    from nmrpeak_cli.retrieve.encoders import load_similarity_params
    from nmrpeak_cli.similarity import similarity_from_dict

    if not mtime_ns:
        return ElucidateModel(
            DEFAULT_FUSION, DEFAULT_CALIBRATION, load_similarity_params(target.parent)
        )
    try:
        data = json.loads(target.read_text())
        fitted = {"fusion", "calibration", "similarity", LEAD_KEY}
        card = {k: v for k, v in data.items() if k not in fitted}
        lead = data.get(LEAD_KEY)
        return ElucidateModel(
            Logistic.from_dict(data["fusion"]),
            Logistic.from_dict(data["calibration"]),
            similarity_from_dict(data["similarity"]),
            card,
            None if lead is None else float(lead),
        )
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise NotAvailableError(f"elucidate model {target} is unreadable: {exc}") from None


GENERATOR_KEY = "generator"
"""Card key of the sha256 of the generator the fusion was fitted with."""
GENERATOR_FILE_KEY = "generator_weights"
"""Card key of that generator's file name in ``models/`` (a hint: the sha256 decides)."""
SEARCH_WEIGHTS_KEY = "search_weights"
"""Card key of the structure search's fused-score weights (``w_similarity``, ``w_logprob``,
``bias``) the fusion was fitted with."""
_SEARCH_WEIGHT_NAMES = tuple(FALLBACK_FUSION)


@dataclass(frozen=True, slots=True)
class GeneratorChoice:
    """The generator (and search weights) an elucidate run uses with its fitted model.

    Attributes
    ----------
    weights
        Generator weights (``None``: the shipped default; the model pins none).
    search_weights
        Fused-score weights of the structure search the model was fitted with (``None``: the
        generator's own, ``search_calibration`` of its card).
    warning
        Why the scores may be off (explicit weights other than the pinned generator), or
        ``None``.
    """

    weights: Path | None
    search_weights: Mapping[str, float] | None = None
    warning: str | None = None


def search_weights_of(card: Mapping[str, Any]) -> dict[str, float] | None:
    """The search's fused-score weights a card was fitted with: its ``search_weights``, else
    those written in its ``search`` settings (older cards); ``None`` when it names none."""
    import re

    stored = card.get(SEARCH_WEIGHTS_KEY)
    if isinstance(stored, Mapping):
        try:
            return {k: float(stored[k]) for k in _SEARCH_WEIGHT_NAMES}
        except (KeyError, TypeError, ValueError):
            raise NotAvailableError(
                f"elucidate card {SEARCH_WEIGHTS_KEY} is invalid: {dict(stored)!r}"
            ) from None
    found = dict(
        re.findall(
            r"\b(w_similarity|w_logprob|bias)=(-?[0-9.eE+-]+)", str(card.get("search") or "")
        )
    )
    if set(found) != set(_SEARCH_WEIGHT_NAMES):
        return None
    return {k: float(found[k]) for k in _SEARCH_WEIGHT_NAMES}


def _card_sha(weights: Path) -> str | None:
    """The sha256 the JSON card next to ``weights`` records (``None``: no readable card)."""
    try:
        return json.loads(weights.with_suffix(".json").read_text()).get("sha256")
    except (OSError, ValueError, AttributeError):
        return None


def pinned_generator(card: Mapping[str, Any], folders: Sequence[Path]) -> Path | None:
    """The generator weights in ``folders`` whose card records the sha256 ``card`` was fitted
    with: the file ``card`` names first, else any ``*.safetensors`` (so renaming the file
    needs no new card); ``None`` when ``card`` pins no generator.

    Raises
    ------
    NotAvailableError
        No card in ``folders`` records that sha256 (the message names it and the file).
    """
    sha = card.get(GENERATOR_KEY)
    if not sha:
        return None
    named = card.get(GENERATOR_FILE_KEY)
    for folder in folders:
        candidates = [folder / str(named)] if named else []
        for weights in [*candidates, *sorted(folder.glob("*.safetensors"))]:
            if weights.is_file() and _card_sha(weights) == sha:
                return weights
    where = ", ".join(dict.fromkeys(str(f) for f in folders))
    raise NotAvailableError(
        f"the elucidate model was fitted with generator {sha[:12]} "
        f"({named or 'file not named in its card'}), which no generator card in {where} "
        "records; restore that file, pass --weights to run another generator (its scores are "
        "then not calibrated), or refit with `nmrpeak train elucidate`"
    )


def choose_generator(model: Path | None = None, weights: Path | None = None) -> GeneratorChoice:
    """The generator to run with the elucidate model ``model`` (default: shipped): explicit
    ``weights`` win (with a warning when they are not the generator the model was fitted
    with); otherwise the one its card pins (:func:`pinned_generator`), searched with the
    fused-score weights it was fitted with.

    Raises
    ------
    NotAvailableError
        The model cannot be read, or the generator it pins is in no models folder.
    """
    from nmrpeak_cli.paths import models_dir

    card = load_model(model).card
    sha = card.get(GENERATOR_KEY)
    if not sha:
        return GeneratorChoice(weights)
    target = Path(model) if model is not None else model_path()
    searched = search_weights_of(card)
    if weights is None:
        folders = list(dict.fromkeys([target.absolute().parent, models_dir().absolute()]))
        return GeneratorChoice(pinned_generator(card, folders), searched)
    from nmrpeak_cli.generate.model import weights_path

    explicit = Path(weights)
    used = _card_sha(weights_path(explicit) if explicit.is_dir() else explicit)
    if used == sha:
        return GeneratorChoice(explicit, searched)
    return GeneratorChoice(
        explicit,
        None,
        f"elucidate model {target.name} was fitted with generator {sha[:12]} "
        f"({card.get(GENERATOR_FILE_KEY) or 'its file not named'}), not with {explicit.name} "
        f"({(used or 'no card')[:12]}): its scores and confidences are not calibrated for it",
    )
