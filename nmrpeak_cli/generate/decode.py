"""Decoding: batched beam search (or sampling), then valid, formula-checked, unique candidates.

The network proposes token sequences; :func:`candidates_from_hypotheses` turns them into
:class:`Candidate` molecules: SMILES that RDKit cannot sanitize are dropped, the rest are
written as canonical *isomeric* SMILES (stereo kept) and de-duplicated (the best
log-probability wins). When the query gives a formula, a candidate with another formula is
rejected (``formula_policy="reject"``) or kept with ``formula_match=False`` and a penalty
(``"penalize"``).

:func:`beam_search` keeps the SMILES grammar as it decodes (:class:`SyntaxState`): a branch
closes only when one is open, and a hypothesis ends only with every branch and ring closed,
so no beam slot is spent on a sequence that cannot parse. Given the query formulas, it also
constrains composition: a hypothesis is extended only with atom tokens whose element the
formula still has unspent, and may end only once every heavy atom of the formula is written.
Hydrogens stay implicit in SMILES, so the final formula check still applies, but the beam is
spent on structures of the right heavy-atom composition instead of on ones the formula would
reject. Given an ``accept`` test (:func:`hypothesis_filter`), a hypothesis that ends as an
invalid molecule, a duplicate or (under a formula) the wrong hydrogen count is dropped the
moment it ends, and the beam refills from the live hypotheses: the beam returns up to
``beam`` distinct valid candidates instead of ``beam`` raw sequences.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from nmrpeak_cli import chem
from nmrpeak_cli.errors import ChemistryError
from nmrpeak_cli.generate.inputs import pad_batch
from nmrpeak_cli.spectra import normalize_formula
from nmrpeak_cli.tokenizer import BOS, EOS, PAD, SmilesTokenizer

if TYPE_CHECKING:
    from nmrpeak_cli.generate.model import Generator

FORMULA_POLICIES = ("reject", "penalize", "ignore")
FORMULA_PENALTY = 1.0
"""Subtracted from the per-token log-probability of a formula mismatch under ``penalize``."""


@dataclass(frozen=True, slots=True)
class Hypothesis:
    """One decoded token sequence."""

    ids: tuple[int, ...]
    """SMILES token ids after ``<bos>``, up to and without ``<eos>``."""
    logprob: float
    """Total log-probability of the sequence (``<eos>`` included)."""

    @property
    def logprob_per_token(self) -> float:
        """Length-normalized log-probability (per emitted token, ``<eos>`` counted)."""
        return self.logprob / (len(self.ids) + 1)


@dataclass(frozen=True, slots=True)
class Candidate:
    """A valid candidate structure for one query."""

    smiles: str
    """Canonical isomeric SMILES."""
    inchikey: str
    """Standard InChIKey."""
    logprob: float
    """Length-normalized log-probability (after any formula penalty)."""
    formula: str
    """The candidate's molecular formula (Hill)."""
    formula_match: bool | None
    """Whether it equals the query formula; ``None`` when the query has none."""
    similarity: float | None = None
    """Predicted-vs-query spectrum similarity, when reranked."""
    score: float | None = None
    """Fused, calibrated score in [0, 1]."""


_HYDROGENS = frozenset({"H", "D", "T"})
_BRACKET_ATOM = re.compile(r"\[\d*([A-Z][a-z]?|[a-z][a-z]?)")


def token_element(token: str) -> str | None:
    """The heavy element a SMILES token writes (``"[nH+]"`` → ``"N"``), ``None`` for bonds,
    branches, ring closures, special tokens and hydrogen atoms."""
    if token.startswith("["):
        found = _BRACKET_ATOM.match(token)
        if found is None:
            return None
        symbol = found.group(1)
    elif token[0].isalpha():
        symbol = token
    else:
        return None
    element = symbol.capitalize()
    return None if element in _HYDROGENS else element


def element_counts(tokenizer: SmilesTokenizer) -> tuple[tuple[str, ...], np.ndarray]:
    """Heavy elements of a vocabulary and the ``(vocabulary, elements)`` atoms each token adds."""
    written = [token_element(t) if i >= 4 else None for i, t in enumerate(tokenizer.vocab)]
    elements = tuple(sorted({e for e in written if e is not None}))
    column = {e: j for j, e in enumerate(elements)}
    table = np.zeros((len(written), len(elements)), np.float32)
    for i, element in enumerate(written):
        if element is not None:
            table[i, column[element]] = 1.0
    return elements, table


def heavy_atom_budget(formulas: Sequence[str | None], elements: Sequence[str]) -> np.ndarray:
    """Heavy atoms each query's SMILES must write, per element, plus a last column for
    elements the vocabulary cannot write (a positive count there makes the query
    unsatisfiable). Rows of queries without a formula are ``inf`` (no constraint)."""
    from nmrpeak_cli.spectra import parse_formula

    column = {e: j for j, e in enumerate(elements)}
    budget = np.zeros((len(formulas), len(elements) + 1), np.float32)
    for q, formula in enumerate(formulas):
        if not formula:
            budget[q] = np.inf
            continue
        for element, count in parse_formula(formula).items():
            if element not in _HYDROGENS:
                budget[q, column.get(element, len(elements))] += count
    return budget


_ATOM, _BOND, _OPEN, _CLOSE, _RING, _DOT, _START, _OTHER, _BRANCH_BOND = range(9)
_BONDS = frozenset("-=#/\\:~")
_FOLLOWS = {
    _START: {_ATOM},
    _ATOM: {_ATOM, _BOND, _OPEN, _CLOSE, _RING, _DOT},
    _RING: {_ATOM, _BOND, _OPEN, _CLOSE, _RING, _DOT},
    _CLOSE: {_ATOM, _BOND, _OPEN, _CLOSE, _DOT},
    _BOND: {_ATOM, _RING},
    _OPEN: {_ATOM, _BOND},
    _DOT: {_ATOM},
    _OTHER: set(),
    _BRANCH_BOND: {_ATOM},
}
"""Token classes that may follow each class in a SMILES string (``_BRANCH_BOND``: a bond
right after ``(``, which must lead to an atom, not a ring label)."""
_ENDS = {_ATOM, _RING, _CLOSE}
"""Classes a SMILES may end with."""


def token_class(token: str) -> int:
    """The grammar class of a SMILES token (atom, bond, branch open/close, ring label, dot)."""
    if token.startswith("[") or token[0].isalpha():
        return _ATOM
    if token.isdigit() or (token.startswith("%") and token[1:].isdigit()):
        return _RING
    return {"(": _OPEN, ")": _CLOSE, ".": _DOT}.get(token, _BOND if token in _BONDS else _OTHER)


class SyntaxState:
    """The SMILES grammar of each hypothesis so far, as a mask on its next token.

    Tracks the previous token's class, open branches and ring-closure labels (and which of
    them were opened at the current atom). A token is allowed only where SMILES allows it:
    atoms after ``(`` or a bond, ``)`` only inside a branch, a ring label after an atom or
    bond but not closing at the atom that opened it, ``<eos>`` only after an atom, ring
    label or ``)`` with every branch and ring closed. Under a formula, no new ring is
    opened once no atom is left to close it.
    """

    def __init__(self, tokenizer: SmilesTokenizer, rows: int, device) -> None:
        import torch

        classes = [token_class(t) if i >= 4 else _OTHER for i, t in enumerate(tokenizer.vocab)]
        follows = np.zeros((len(_FOLLOWS), len(classes)), bool)
        for before, allowed in _FOLLOWS.items():
            follows[before] = [c in allowed for c in classes]
        follows[list(_ENDS), EOS] = True
        follows[:, PAD] = True  # finished hypotheses are padded (their scores are fixed)
        self._follows = torch.as_tensor(follows, device=device)
        self._class = torch.as_tensor(classes, device=device)
        self._labels = torch.as_tensor(
            [i for i, c in enumerate(classes) if c == _RING], dtype=torch.long, device=device
        )
        label = np.full(len(classes), -1)
        label[self._labels.cpu().numpy()] = np.arange(len(self._labels))
        self._label = torch.as_tensor(label, device=device)
        self.previous = torch.full((rows,), _START, dtype=torch.long, device=device)
        self.depth = torch.zeros(rows, dtype=torch.long, device=device)
        self.rings = torch.zeros((rows, len(self._labels)), dtype=torch.bool, device=device)
        self.fresh = torch.zeros_like(self.rings)

    def mask(self, logp, exhausted=None) -> None:
        """Set to ``-inf`` (in place) the tokens that would break the grammar.

        ``exhausted`` marks the rows with no heavy atom left to write (no new rings there).
        """
        logp.masked_fill_(~self._follows[self.previous], float("-inf"))
        logp[self.depth == 0, self._class == _CLOSE] = float("-inf")
        logp[(self.depth > 0) | self.rings.any(1), EOS] = float("-inf")
        if len(self._labels):
            bad = self.rings & self.fresh
            if exhausted is not None:
                bad |= ~self.rings & exhausted.unsqueeze(1)
            logp[:, self._labels] = logp[:, self._labels].masked_fill(bad, float("-inf"))

    def advance(self, rows, tokens) -> None:
        """Reorder to the surviving beams ``rows`` and apply their new ``tokens``."""
        import torch

        kind = self._class[tokens]
        self.previous = torch.where(
            (kind == _BOND) & (self.previous[rows] == _OPEN), _BRANCH_BOND, kind
        )
        self.depth = self.depth[rows] + (kind == _OPEN).long() - (kind == _CLOSE).long()
        self.rings, self.fresh = self.rings[rows], self.fresh[rows]
        self.fresh[kind == _ATOM] = False
        index = (kind == _RING).nonzero().squeeze(1)
        if len(index):
            label = self._label[tokens[index]]
            opening = ~self.rings[index, label]
            self.rings[index, label] = opening
            self.fresh[index, label] = opening


class FormulaBudget:
    """Heavy atoms each hypothesis may still write under its query's formula, as a mask.

    Atom tokens of an element the formula has no atom left of are forbidden, and ``<eos>``
    is allowed only once every heavy atom is written; rows of queries without a formula
    are free.
    """

    def __init__(
        self, tokenizer: SmilesTokenizer, formulas: Sequence[str | None], repeat: int, device
    ) -> None:
        import torch

        elements, table = element_counts(tokenizer)
        self._table = _device_tensor(np.pad(table, ((0, 0), (0, 1))), device)
        left = _device_tensor(heavy_atom_budget(formulas, elements), device)
        self.left = left.repeat_interleave(repeat, 0)
        self.free = torch.isinf(self.left[:, 0])

    def exhausted(self):
        """Rows under a formula with no heavy atom left to write."""
        return ~self.free & (self.left[:, :-1] == 0).all(-1)

    def mask(self, logp) -> None:
        """Set to ``-inf`` (in place) the atoms over budget and a premature ``<eos>``."""
        logp[(self._table.unsqueeze(0) > self.left.unsqueeze(1)).any(-1)] = float("-inf")
        logp[~(self.free | (self.left == 0).all(-1)), EOS] = float("-inf")

    def advance(self, rows, tokens) -> None:
        """Reorder to the surviving rows and spend the atoms of their new ``tokens``."""
        self.left, self.free = self.left[rows] - self._table[tokens], self.free[rows]


def _budget(
    generator: Generator, formulas: Sequence[str | None] | None, n: int, repeat: int
) -> FormulaBudget | None:
    if formulas is None:
        return None
    if len(formulas) != n:
        raise ValueError(f"{len(formulas)} formulas for {n} sources")
    return FormulaBudget(generator.smiles_tokenizer, formulas, repeat, generator.device)


def _mask(logp, syntax: SyntaxState, budget: FormulaBudget | None) -> None:
    """Apply the grammar and (when given) the formula budget to next-token scores, in place."""
    syntax.mask(logp, None if budget is None else budget.exhausted())
    if budget is not None:
        budget.mask(logp)


def _advance(rows, tokens, syntax: SyntaxState, budget: FormulaBudget | None) -> None:
    """Move the grammar and budget states to the surviving ``rows`` and their new ``tokens``."""
    syntax.advance(rows, tokens)
    if budget is not None:
        budget.advance(rows, tokens)


Accept = Callable[[int, Sequence[int]], bool]
"""``accept(query_index, token_ids)``: whether a finished hypothesis may keep its beam slot."""


def hypothesis_filter(
    tokenizer: SmilesTokenizer, formulas: Sequence[str | None], *, match_formula: bool = True
) -> Accept:
    """An :data:`Accept` test: RDKit reads the SMILES, its canonical form is new for the query,
    and (``match_formula``) its formula equals the query's when one is given."""
    targets = [normalize_formula(f) if f and match_formula else None for f in formulas]
    seen: list[set[str]] = [set() for _ in formulas]

    def accept(query: int, ids: Sequence[int]) -> bool:
        mol = chem.try_parse_smiles(tokenizer.decode(ids))
        if mol is None or (targets[query] and chem.formula(mol) != targets[query]):
            return False
        smiles = chem.canonical_smiles(mol, isomeric=True)
        if smiles in seen[query]:
            return False
        seen[query].add(smiles)
        return True

    return accept


def _device_tensor(array: np.ndarray, device):
    import torch

    return torch.as_tensor(array, device=device)


def beam_search(
    generator: Generator,
    sources: Sequence[Sequence[int]],
    *,
    beam: int = 10,
    max_len: int | None = None,
    formulas: Sequence[str | None] | None = None,
    accept: Accept | None = None,
) -> list[list[Hypothesis]]:
    """Batched beam search: up to ``beam`` hypotheses per source, best first.

    Parameters
    ----------
    generator
        The loaded model.
    sources
        Spectrum token ids per query.
    beam
        Beam width (hypotheses kept per step and returned per query).
    max_len
        Longest SMILES in tokens, ``<bos>``/``<eos>`` included (default: the model's limit).
    formulas
        Per query, a molecular formula whose heavy atoms every hypothesis must write exactly
        (``None`` for a query without one). Default: unconstrained.
    accept
        Test of each hypothesis as it ends (:func:`hypothesis_filter`); a rejected one
        frees its slot for the live hypotheses. Default: keep every finished sequence.

    Returns
    -------
    list of list of Hypothesis
        Per query, finished hypotheses sorted by length-normalized log-probability.
    """
    import torch

    if beam < 1:
        raise ValueError(f"beam must be at least 1, got {beam}")
    if not sources:
        return []
    model = generator.model
    max_len = min(max_len or model.config.max_tgt_len, model.config.max_tgt_len)
    n, device = len(sources), generator.device
    with torch.inference_mode():
        memory, mask = model.encode(_device_tensor(pad_batch(sources), device))
        cache = model.start_decoding(
            memory.repeat_interleave(beam, 0), mask.repeat_interleave(beam, 0)
        )
        seqs = torch.full((n * beam, 1), BOS, dtype=torch.long, device=device)
        scores = torch.full((n, beam), float("-inf"), device=device)
        scores[:, 0] = 0.0
        finished = torch.zeros(n * beam, dtype=torch.bool, device=device)
        base = torch.arange(n, device=device).unsqueeze(1) * beam
        syntax = SyntaxState(generator.smiles_tokenizer, n * beam, device)
        budget = _budget(generator, formulas, n, beam)
        for position in range(max_len - 1):
            logits, cache = model.decode_step(seqs[:, -1], position, cache)
            logp = torch.log_softmax(logits.float(), dim=-1)
            logp[:, PAD] = float("-inf")
            logp[:, BOS] = float("-inf")
            _mask(logp, syntax, budget)
            logp[finished] = float("-inf")
            logp[finished, PAD] = 0.0
            vocab = logp.shape[1]
            total = (scores.reshape(-1, 1) + logp).reshape(n, beam * vocab)
            scores, index = total.topk(beam, dim=1)
            rows = (base + index // vocab).reshape(-1)
            tokens = (index % vocab).reshape(-1, 1)
            seqs = torch.cat([seqs[rows], tokens], dim=1)
            cache = cache.select(rows)
            _advance(rows, tokens.squeeze(1), syntax, budget)
            ended = tokens.squeeze(1) == EOS
            finished = finished[rows] | ended | (tokens.squeeze(1) == PAD)
            if accept is not None and bool(ended.any()):
                _drop_rejected(seqs, scores, ended, beam, accept)
            if bool(finished.all()):
                break
    seqs_np, scores_np, done = seqs.cpu().numpy(), scores.cpu().numpy(), finished.cpu().numpy()
    out: list[list[Hypothesis]] = []
    for q in range(n):
        hyps = []
        for b in range(beam):
            row, score = q * beam + b, float(scores_np[q, b])
            if not done[row] or not np.isfinite(score):
                continue
            ids = seqs_np[row, 1:]
            ids = ids[: int(np.argmax(ids == EOS))] if (ids == EOS).any() else ids
            hyps.append(Hypothesis(tuple(int(i) for i in ids), score))
        out.append(sorted(hyps, key=lambda h: -h.logprob_per_token))
    return out


def _drop_rejected(seqs, scores, ended, beam: int, accept: Accept) -> None:
    """Score ``-inf`` (in place) the hypotheses that just ended and fail ``accept``."""
    rows = ended.nonzero().squeeze(1).tolist()
    flat = scores.view(-1)
    for row, ids in zip(rows, seqs[rows, 1:-1].tolist(), strict=True):
        if math.isfinite(flat[row].item()) and not accept(row // beam, ids):
            flat[row] = float("-inf")


def sample(
    generator: Generator,
    sources: Sequence[Sequence[int]],
    *,
    n_samples: int = 10,
    temperature: float = 1.0,
    seed: int = 0,
    max_len: int | None = None,
    formulas: Sequence[str | None] | None = None,
) -> list[list[Hypothesis]]:
    """Ancestral sampling under the SMILES grammar (and ``formulas``, as in
    :func:`beam_search`): ``n_samples`` draws per source, the finished ones best first
    (duplicates possible). Log-probabilities are the model's own, at temperature 1, so
    sampled and beam hypotheses compare."""
    import torch

    if temperature <= 0:
        raise ValueError(f"temperature must be positive, got {temperature}")
    if n_samples < 1 or not sources:
        return [[] for _ in sources]
    model = generator.model
    max_len = min(max_len or model.config.max_tgt_len, model.config.max_tgt_len)
    n, device = len(sources), generator.device
    rows = n * n_samples
    rng = torch.Generator(device=device).manual_seed(seed)
    with torch.inference_mode():
        memory, mask = model.encode(_device_tensor(pad_batch(sources), device))
        cache = model.start_decoding(
            memory.repeat_interleave(n_samples, 0), mask.repeat_interleave(n_samples, 0)
        )
        seqs = torch.full((rows, 1), BOS, dtype=torch.long, device=device)
        total = torch.zeros(rows, device=device)
        finished = torch.zeros(rows, dtype=torch.bool, device=device)
        stuck = torch.zeros(rows, dtype=torch.bool, device=device)
        syntax = SyntaxState(generator.smiles_tokenizer, rows, device)
        budget = _budget(generator, formulas, n, n_samples)
        keep = torch.arange(rows, device=device)  # samples keep their rows
        for position in range(max_len - 1):
            logits, cache = model.decode_step(seqs[:, -1], position, cache)
            logits = logits.float()
            logits[:, PAD] = float("-inf")
            logits[:, BOS] = float("-inf")
            _mask(logits, syntax, budget)
            stuck |= ~finished & ~torch.isfinite(logits).any(1)  # no token fits: a dead end
            finished |= stuck
            logits[finished] = 0.0  # finished rows are padded below, whatever they draw
            logp = torch.log_softmax(logits / temperature, dim=-1)
            tokens = torch.multinomial(logp.exp(), 1, generator=rng).squeeze(1)
            tokens = torch.where(finished, torch.full_like(tokens, PAD), tokens)
            step = torch.log_softmax(logits, dim=-1).gather(1, tokens.unsqueeze(1)).squeeze(1)
            total = total + torch.where(finished, torch.zeros_like(step), step)
            seqs = torch.cat([seqs, tokens.unsqueeze(1)], dim=1)
            _advance(keep, tokens, syntax, budget)
            finished = finished | (tokens == EOS)
            if bool(finished.all()):
                break
    out: list[list[Hypothesis]] = []
    seqs_np, total_np = seqs.cpu().numpy(), total.cpu().numpy()
    ended = (finished & ~stuck).cpu().numpy()  # drew <eos>
    for q in range(n):
        hyps = []
        for row in range(q * n_samples, (q + 1) * n_samples):
            if not ended[row]:
                continue
            ids = seqs_np[row, 1:]
            ids = ids[: int(np.argmax(ids == EOS))]
            hyps.append(Hypothesis(tuple(int(i) for i in ids), float(total_np[row])))
        out.append(sorted(hyps, key=lambda h: -h.logprob_per_token))
    return out


def decode(
    generator: Generator,
    sources: Sequence[Sequence[int]],
    *,
    beam: int = 10,
    samples: int = 0,
    temperature: float = 1.0,
    seed: int = 0,
    max_len: int | None = None,
    formulas: Sequence[str | None] | None = None,
    accept: Accept | None = None,
) -> list[list[Hypothesis]]:
    """Beam search, plus (``samples`` > 0) that many sampled draws per source pooled with the
    beam: sampling reaches structures a narrow beam prunes early, and the forward-prediction
    rerank picks among them. Best first by length-normalized log-probability."""
    found = beam_search(
        generator, sources, beam=beam, max_len=max_len, formulas=formulas, accept=accept
    )
    if samples <= 0:
        return found
    drawn = sample(
        generator,
        sources,
        n_samples=samples,
        temperature=temperature,
        seed=seed,
        max_len=max_len,
        formulas=formulas,
    )
    return [
        sorted([*b, *d], key=lambda h: -h.logprob_per_token)
        for b, d in zip(found, drawn, strict=True)
    ]


def length_cap(formula: str | None, model_limit: int) -> int:
    """Longest SMILES (tokens, ``<bos>``/``<eos>`` included) worth decoding for a formula.

    A SMILES of ``n`` heavy atoms has ``n`` atom tokens plus bonds, branches and ring
    closures; ``3 n + 10`` is a generous bound that stops runaway hypotheses early.
    """
    if not formula:
        return model_limit
    from nmrpeak_cli.spectra import parse_formula

    heavy = sum(n for element, n in parse_formula(formula).items() if element not in {"H", "D"})
    return min(model_limit, 3 * heavy + 10)


def formula_of(smiles: str) -> str | None:
    """Hill formula of a SMILES (``None`` when RDKit cannot read it)."""
    mol = chem.try_parse_smiles(smiles)
    return None if mol is None else chem.formula(mol)


def candidates_from_hypotheses(
    hypotheses: Sequence[Hypothesis],
    tokenizer: SmilesTokenizer,
    *,
    formula: str | None = None,
    formula_policy: str = "reject",
    limit: int | None = None,
) -> list[Candidate]:
    """Valid, unique candidates from decoded hypotheses, best first.

    Parameters
    ----------
    hypotheses
        Decoded sequences of one query.
    tokenizer
        The SMILES vocabulary of the model.
    formula
        The query's molecular formula, if any.
    formula_policy
        ``reject`` (drop mismatches), ``penalize`` (keep, lower their log-probability by
        :data:`FORMULA_PENALTY`) or ``ignore``.
    limit
        Keep at most this many.
    """
    if formula_policy not in FORMULA_POLICIES:
        raise ValueError(
            f"unknown formula_policy {formula_policy!r}; expected one of {FORMULA_POLICIES}"
        )
    target = normalize_formula(formula) if formula else None
    best: dict[str, Candidate] = {}
    for hyp in hypotheses:
        mol = chem.try_parse_smiles(tokenizer.decode(hyp.ids))
        if mol is None:
            continue
        try:
            key = chem.inchikey(mol)
        except ChemistryError:
            continue
        smiles = chem.canonical_smiles(mol, isomeric=True)
        mol_formula = chem.formula(mol)
        match = None if target is None else mol_formula == target
        logprob = hyp.logprob_per_token
        if match is False:
            if formula_policy == "reject":
                continue
            if formula_policy == "penalize":
                logprob -= FORMULA_PENALTY
        if smiles not in best or best[smiles].logprob < logprob:
            best[smiles] = Candidate(smiles, key, logprob, mol_formula, match)
    ranked = sorted(best.values(), key=lambda c: -c.logprob)
    return ranked[:limit] if limit is not None else ranked
