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

if TYPE_CHECKING:
    from nmrpeak_cli.similarity import SimilarityParams

MODEL_FILE = "elucidate.json"


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
    """

    fusion: Logistic
    calibration: Logistic
    similarity: SimilarityParams
    card: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON form (the model card)."""
        from nmrpeak_cli.similarity import similarity_to_dict

        return {
            "model": "nmrpeak.elucidate",
            **self.card,
            "fusion": self.fusion.to_dict(),
            "calibration": self.calibration.to_dict(),
            "similarity": similarity_to_dict(self.similarity),
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
        card = {k: v for k, v in data.items() if k not in {"fusion", "calibration", "similarity"}}
        return ElucidateModel(
            Logistic.from_dict(data["fusion"]),
            Logistic.from_dict(data["calibration"]),
            similarity_from_dict(data["similarity"]),
            card,
        )
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise NotAvailableError(f"elucidate model {target} is unreadable: {exc}") from None
