"""What the structure search asks of the generator: the fused-score weights stored in its
card (:func:`calibration_of`, :func:`write_calibration`), the log-probability of any candidate
(:func:`sequence_logprobs`), and seeds from a second decode (:func:`reseed`).

Split from :mod:`~nmrpeak_cli.generate.search`, which re-exports every name.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from nmrpeak_cli.generate.model import Generator
    from nmrpeak_cli.spectra import Spectrum

MISSING_LOGPROB = -3.0
"""Per-token log-probability given to a candidate the generator cannot spell."""
CALIBRATION_KEY = "search_calibration"
"""Key of the fused-score weights in a generator's card (see :func:`write_calibration`)."""
FALLBACK_FUSION = {"w_similarity": 12.68, "w_logprob": 4.09, "bias": -10.43}
"""Fused-score weights for a generator whose card has none: fitted for the first CPU-trained
``generator_random_v1`` on 150 random-valid queries (``python benchmarks/generate_search.py fit
random 150 100 --weights models/generator_random_v1.safetensors``; see
benchmarks/RESULTS.md#generate)."""


def calibration_of(generator: Generator | None) -> dict[str, float]:
    """The fused-score weights of ``generator``'s card (``search_calibration``), or
    :data:`FALLBACK_FUSION` when it has none (or no generator)."""
    stored = (generator.card if generator is not None else {}).get(CALIBRATION_KEY) or {}
    try:
        return {k: float(stored.get(k, v)) for k, v in FALLBACK_FUSION.items()}
    except (TypeError, ValueError, AttributeError):
        from nmrpeak_cli.errors import NotAvailableError

        raise NotAvailableError(
            f"the generator card's {CALIBRATION_KEY} is invalid: {stored!r}"
        ) from None


def write_calibration(
    weights: str | Path, fitted: Mapping[str, float], *, fitted_on: str, command: str
) -> Path:
    """Store fused-score weights (``w_similarity``, ``w_logprob``, ``bias``) in the card of the
    generator ``weights`` (atomically, the rest of the card kept); return the card's path."""
    from nmrpeak_cli.artifacts import read_card, write_card

    missing = [k for k in FALLBACK_FUSION if k not in fitted]
    if missing:
        raise ValueError(f"search calibration lacks {missing}")
    card = read_card(weights)
    card[CALIBRATION_KEY] = {
        **{k: float(fitted[k]) for k in FALLBACK_FUSION},
        "fitted_on": fitted_on,
        "command": command,
    }
    return write_card(weights, card)


def reseed(generator: Generator, queries: Sequence[Spectrum], beam: int) -> list[list[str]]:
    """Seeds for queries whose beam found no structure of the formula: valid hypotheses of a
    beam that writes the formula's heavy atoms but keeps any hydrogen count (repair and
    recombination turn them into structures of the formula)."""
    from nmrpeak_cli.generate.decode import (
        beam_search,
        candidates_from_hypotheses,
        hypothesis_filter,
        length_cap,
    )

    if not queries or beam < 1:
        return [[] for _ in queries]
    tokenizer = generator.smiles_tokenizer
    limit = generator.model.config.max_tgt_len
    formulas = [q.formula for q in queries]
    found = beam_search(
        generator,
        [generator.spectrum_tokenizer.encode(q) for q in queries],
        beam=beam,
        max_len=max(length_cap(f, limit) for f in formulas),
        formulas=formulas,
        accept=hypothesis_filter(tokenizer, formulas, match_formula=False),
    )
    return [
        [c.smiles for c in candidates_from_hypotheses(h, tokenizer, formula_policy="ignore")]
        for h in found
    ]


def sequence_logprobs(
    generator: Generator, query: Spectrum, smiles: Sequence[str], batch_size: int = 64
) -> list[float | None]:
    """Teacher-forced log-probability per token (``<eos>`` counted) of each SMILES given the
    query, as the beam reports it; ``None`` for SMILES with tokens outside the vocabulary or
    longer than the model writes."""
    import torch

    from nmrpeak_cli.generate.inputs import pad_batch
    from nmrpeak_cli.tokenizer import UNK

    source = generator.spectrum_tokenizer.encode(query)
    model = generator.model
    limit = model.config.max_tgt_len
    encoded = [generator.smiles_tokenizer.encode(s) for s in smiles]
    usable = [i for i, ids in enumerate(encoded) if UNK not in ids and len(ids) <= limit]
    out: list[float | None] = [None] * len(smiles)
    device = generator.device
    with torch.inference_mode():
        # the incremental decoder of the beam search: the same log-probabilities as a full
        # teacher-forced pass (causal; padding after a sequence's end is never read by it)
        # without torch's padded-attention checks, whose first call imports sympy (~0.4 s)
        memory, mask = model.encode(torch.as_tensor(pad_batch([source]), device=device))
        for begin in range(0, len(usable), batch_size):
            rows = usable[begin : begin + batch_size]
            target = torch.as_tensor(pad_batch([encoded[i] for i in rows]), device=device)
            cache = model.start_decoding(
                memory.expand(len(rows), -1, -1), mask.expand(len(rows), -1)
            )
            total = torch.zeros(len(rows), device=device)
            for position in range(target.shape[1] - 1):
                logits, cache = model.decode_step(target[:, position], position, cache)
                logp = torch.log_softmax(logits.float(), dim=-1)
                gold = target[:, position + 1]
                total += logp.gather(1, gold.unsqueeze(1)).squeeze(1) * (gold != 0)
            lengths = (target[:, 1:] != 0).sum(1)
            for i, value in zip(rows, (total / lengths).tolist(), strict=True):
                out[i] = float(value)
    return out


__all__ = [
    "CALIBRATION_KEY",
    "FALLBACK_FUSION",
    "MISSING_LOGPROB",
    "calibration_of",
    "reseed",
    "sequence_logprobs",
    "write_calibration",
]
