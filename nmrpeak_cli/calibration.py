"""Logistic fits and calibration metrics (pure numpy + scipy), for the elucidate fusion and
confidence.

:func:`fit_logistic` fits ``P(y=1 | x)`` on named features (standardized inside, a ridge
penalty on the slopes only, weights returned on the raw features); :func:`reliability` and
:func:`expected_calibration_error` measure how well predicted probabilities match observed
frequencies (equal-width bins).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np


def fit_logistic(
    features: Sequence[Mapping[str, float]],
    labels: Sequence[int | bool],
    names: Sequence[str],
    *,
    l2: float | None = None,
) -> tuple[dict[str, float], float]:
    """Fit a ridge-penalized logistic regression; return ``(weights by name, bias)``.

    Parameters
    ----------
    features
        One mapping per sample (a missing name counts as 0).
    labels
        1 for a positive sample, else 0.
    names
        The features used, in order.
    l2
        Ridge penalty on the standardized slopes in the mean log-loss (default ``1 / n``).

    Raises
    ------
    ValueError
        Lengths differ, or the labels are all equal.
    """
    from scipy.optimize import minimize

    y = np.asarray(labels, float)
    if len(features) != len(y):
        raise ValueError(f"{len(features)} feature rows but {len(y)} labels")
    if len(y) == 0 or y.min() == y.max():
        raise ValueError("a logistic fit needs both positive and negative samples")
    raw = np.array([[float(f.get(n, 0.0)) for n in names] for f in features], float)
    center, scale = raw.mean(axis=0), raw.std(axis=0)
    scale = np.where(scale > 0, scale, 1.0)
    x = (raw - center) / scale
    penalty = 1.0 / len(y) if l2 is None else l2

    def loss(w: np.ndarray) -> tuple[float, np.ndarray]:
        z = np.clip(w[0] + x @ w[1:], -50, 50)
        p = 1.0 / (1.0 + np.exp(-z))
        eps = 1e-12
        value = -np.mean(y * np.log(p + eps) + (1 - y) * np.log(1 - p + eps))
        value += penalty * float(np.sum(w[1:] ** 2))
        grad_z = (p - y) / len(y)
        return value, np.concatenate([[grad_z.sum()], x.T @ grad_z + 2 * penalty * w[1:]])

    w = minimize(loss, np.zeros(len(names) + 1), jac=True, method="L-BFGS-B").x
    slopes = w[1:] / scale
    bias = float(w[0] - slopes @ center)
    return {n: float(s) for n, s in zip(names, slopes, strict=True)}, bias


def reliability(
    confidence: Sequence[float], correct: Sequence[bool], bins: int = 10
) -> list[dict[str, float]]:
    """Reliability table: per equal-width confidence bin, its range, size, mean confidence and
    accuracy (empty bins omitted)."""
    p = np.asarray(confidence, float)
    y = np.asarray(correct, float)
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(p, edges[1:-1]), 0, bins - 1)
    table = []
    for b in range(bins):
        mask = which == b
        if mask.any():
            table.append(
                {
                    "low": float(edges[b]),
                    "high": float(edges[b + 1]),
                    "n": int(mask.sum()),
                    "confidence": float(p[mask].mean()),
                    "accuracy": float(y[mask].mean()),
                }
            )
    return table


def expected_calibration_error(
    confidence: Sequence[float], correct: Sequence[bool], bins: int = 10
) -> float:
    """Sample-weighted mean of |accuracy − confidence| over equal-width bins (0 for no samples)."""
    table = reliability(confidence, correct, bins)
    total = sum(row["n"] for row in table)
    if not total:
        return 0.0
    return float(sum(row["n"] * abs(row["accuracy"] - row["confidence"]) for row in table) / total)


def fit_conditional_logit(
    groups: Sequence[Sequence[Mapping[str, float]]],
    right: Sequence[int],
    names: Sequence[str],
    *,
    l2: float | None = None,
) -> dict[str, float]:
    """Fit a conditional logit (softmax over each group): which member of a group is right.

    Parameters
    ----------
    groups
        The candidates of each query, as feature mappings (a missing name counts as 0).
    right
        Index of the right candidate in each group (groups without one are left out by the
        caller).
    names
        The features used.
    l2
        Ridge penalty on the standardized weights (default ``1 / n_groups``).

    Returns
    -------
    dict
        Weight per feature on the raw features (a constant cancels in a softmax: no bias).
    """
    from scipy.optimize import minimize

    if len(groups) != len(right) or not groups:
        raise ValueError(f"{len(groups)} groups but {len(right)} right answers (need ≥ 1 of each)")
    raw = [np.array([[float(f.get(n, 0.0)) for n in names] for f in g], float) for g in groups]
    stacked = np.concatenate(raw)
    center, scale = stacked.mean(axis=0), stacked.std(axis=0)
    scale = np.where(scale > 0, scale, 1.0)
    xs = [(x - center) / scale for x in raw]
    penalty = 1.0 / len(groups) if l2 is None else l2

    def loss(w: np.ndarray) -> tuple[float, np.ndarray]:
        value, grad = 0.0, np.zeros_like(w)
        for x, i in zip(xs, right, strict=True):
            u = x @ w
            u = u - u.max()
            p = np.exp(u) / np.exp(u).sum()
            value -= np.log(p[i] + 1e-12)
            grad -= x[i] - p @ x
        value = value / len(xs) + penalty * float(w @ w)
        return value, grad / len(xs) + 2 * penalty * w

    w = minimize(loss, np.zeros(len(names)), jac=True, method="L-BFGS-B").x
    return {n: float(v) for n, v in zip(names, w / scale, strict=True)}


def fit_isotonic(
    probability: Sequence[float], labels: Sequence[int | bool], *, min_block: int = 20
) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Isotonic (pool-adjacent-violators) regression of ``labels`` on ``probability``.

    Returns knots ``(x, y)``: per block of adjacent samples, the mean probability and the
    observed frequency (shrunk by half a sample towards 1/2), non-decreasing in both; blocks hold at least ``min_block`` samples
    (adjacent blocks are merged until they do) so that a knot is not one sample's label.
    """
    p = np.asarray(probability, float)
    y = np.asarray(labels, float)
    if len(p) != len(y) or not len(p):
        raise ValueError(f"{len(p)} probabilities but {len(y)} labels (need ≥ 1 of each)")
    order = np.argsort(p, kind="stable")
    blocks: list[list[float]] = []  # [sum p, sum y, n]
    for i in order:
        blocks.append([p[i], y[i], 1.0])
        while len(blocks) > 1 and (
            blocks[-2][1] / blocks[-2][2] >= blocks[-1][1] / blocks[-1][2]
            or blocks[-2][2] < min_block
        ):
            last = blocks.pop()
            blocks[-1] = [a + b for a, b in zip(blocks[-1], last, strict=True)]
    if len(blocks) > 1 and blocks[-1][2] < min_block:
        last = blocks.pop()
        blocks[-1] = [a + b for a, b in zip(blocks[-1], last, strict=True)]
    xs = tuple(float(b[0] / b[2]) for b in blocks)
    ys = tuple(float((b[1] + 0.5) / (b[2] + 1.0)) for b in blocks)  # never exactly 0 or 1
    return xs, ys


__all__ = [
    "expected_calibration_error",
    "fit_conditional_logit",
    "fit_isotonic",
    "fit_logistic",
    "reliability",
]
