"""The batch body of ``elucidate`` (:class:`ElucidateBatch`, one for the CLI and the Python
:func:`elucidate`): the sources' groups of each query pooled, scored and ranked."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nmrpeak_cli.consistency import check_consistency
from nmrpeak_cli.elucidate.model import choose_generator, load_model
from nmrpeak_cli.elucidate.scoring import answer
from nmrpeak_cli.elucidate.sources import (
    SEARCH_BUDGET,
    SEARCH_TIME_LIMIT,
    CandidateSource,
    GeneratorSource,
    LibrarySource,
    SearchSource,
    fill_logprobs,
    library_search,
    predict_missing,
    search_config,
)
from nmrpeak_cli.elucidate.values import FORMULA_POLICIES
from nmrpeak_cli.errors import NmrpeakError
from nmrpeak_cli.schema import ResultRow
from nmrpeak_cli.spectra import Spectrum

if TYPE_CHECKING:
    from nmrpeak_cli.generate.api import GenerateBatch
    from nmrpeak_cli.predict.forward import Predictor


@dataclass(frozen=True, slots=True)
class ElucidateBatch:
    """Picklable batch body of ``elucidate`` (CLI and :func:`elucidate`): the sources' groups
    of each query pooled, scored and ranked (:func:`answer`).

    Attributes
    ----------
    sources
        Candidate sources (:class:`LibrarySource`, :class:`GeneratorSource`, or any other
        :class:`CandidateSource`, e.g. a structure search).
    predictor
        Forward-model weights: spectra of candidates no source stored, report overlays.
    device, threads
        Where the forward model runs and torch CPU threads (``None``: torch's default).
    model
        Fitted fusion and calibration (``None``: shipped).
    k, formula_policy
        Candidates kept per query; ``reject``, ``penalize`` or ``ignore``.
    report
        Folder for one HTML report per query, or ``None``.
    generation
        The generator that gives every candidate without one its log-probability
        (:func:`fill_logprobs`; ``None``: none).
    """

    sources: tuple[CandidateSource, ...]
    predictor: Path | None = None
    device: str = "cpu"
    threads: int | None = None
    model: Path | None = None
    k: int = 10
    formula_policy: str = "reject"
    report: Path | None = None
    generation: GenerateBatch | None = None

    def forward(self) -> Predictor | None:
        """This process's forward model (``None`` without weights)."""
        if self.predictor is None:
            return None
        from nmrpeak_cli.predict.forward import ForwardModel

        return ForwardModel(self.predictor, self.device, self.threads)

    def rows(self, batch: Sequence[Spectrum | Any]) -> list[list[dict[str, Any]]]:
        """Rows of each item of ``batch``, without reports."""
        out: list[list[dict[str, Any]] | None] = [None] * len(batch)
        good: list[int] = []
        warnings: dict[int, tuple[str, ...]] = {}
        for i, item in enumerate(batch):
            if not isinstance(item, Spectrum):
                error = str(getattr(item, "error", item))
                out[i] = [ResultRow(query_id=record_id(item), error=error).to_dict()]
                continue
            check = check_consistency(item)
            if check.errors:
                out[i] = [ResultRow(query_id=item.id, error="; ".join(check.errors)).to_dict()]
                continue
            good.append(i)
            warnings[i] = check.warnings
        queries = [batch[i].without_truth() for i in good]
        first = [s for s in self.sources if not getattr(s, "seeded", False)]
        seeded = [s for s in self.sources if getattr(s, "seeded", False)]
        per_source = [source(queries) for source in first] if queries else []
        groups = [[found[j] for found in per_source] for j in range(len(queries))]
        groups, problem = predict_missing(groups, [q.solvent for q in queries], self.forward())
        if self.generation is not None and queries:
            try:
                groups = fill_logprobs(queries, groups, self.generation.generator())
            except NmrpeakError as exc:
                problem = "; ".join(filter(None, [problem, f"log-probabilities skipped: {exc}"]))
        for source in seeded if queries else []:
            for query_groups, group in zip(groups, source(queries, groups), strict=True):
                query_groups.append(group)
        model = load_model(self.model)
        for j, i in enumerate(good):
            notes = [*warnings[i], *([problem] if problem else [])]
            out[i] = answer(
                queries[j], groups[j], model, k=self.k, policy=self.formula_policy, notes=notes
            )
        return [rows or [] for rows in out]

    def __call__(self, batch: list[Spectrum | Any]) -> list[list[dict[str, Any]]]:
        """Answer one batch; failed queries give rows with ``error``."""
        groups = self.rows(batch)
        if self.report is not None:
            from nmrpeak_cli.report import write_reports

            groups = write_reports(batch, groups, self.report, self.forward())
        return groups


def record_id(item: Any) -> str:
    """Id of a query or of a record that failed to read (its ``record`` or ``id``)."""
    return str(getattr(item, "record", None) or getattr(item, "id", None) or "?")


def elucidate(
    spectra: Iterable[Spectrum | Any],
    k: int = 10,
    *,
    library: str | Path | None = None,
    beam: int = 10,
    formula_policy: str = "reject",
    generator_weights: Path | None = None,
    predictor_weights: Path | None = None,
    model: Path | None = None,
    device: str = "cpu",
    batch_size: int = 16,
    search: bool = True,
    search_budget: int = SEARCH_BUDGET,
    time_limit: float | None = SEARCH_TIME_LIMIT,
) -> Iterator[dict[str, Any]]:
    """One ranked list per query from the library and the generator together.

    Parameters
    ----------
    spectra
        Query spectra; records that failed to read pass through as error rows.
    k
        Candidates kept per query.
    library
        Library folder (``None``: generation only).
    beam
        Generator beam width.
    formula_policy
        ``reject`` (default), ``penalize`` or ``ignore`` candidates of another formula.
    generator_weights, predictor_weights, model
        Generator, forward model and elucidate model (default: shipped; the generator by
        default is the one the elucidate model was fitted with, see :func:`elucidate_batch`).
    device
        Torch device.
    batch_size
        Queries answered together.
    search, search_budget, time_limit
        Run the structure search from the library's and the generator's structures, with
        this many forward predictions and wall seconds per query (``None``: no limit).

    Yields
    ------
    dict
        RESULTS_SCHEMA rows, per query in input order, rank 1 first (the same rows as
        ``nmrpeak elucidate``: both run :class:`ElucidateBatch`).
    """
    body = elucidate_batch(
        library=Path(library) if library is not None else None,
        k=k,
        beam=beam,
        formula_policy=formula_policy,
        generator_weights=generator_weights,
        predictor_weights=predictor_weights,
        model=model,
        device=device,
        search=search_config(search_budget, time_limit) if search else None,
    )
    from nmrpeak_cli.io.records import batched

    for batch in batched(spectra, batch_size):
        for rows in body(batch):
            yield from rows


def elucidate_batch(
    *,
    library: Path | None,
    k: int = 10,
    beam: int = 10,
    formula_policy: str = "reject",
    generator_weights: Path | None = None,
    predictor_weights: Path | None = None,
    model: Path | None = None,
    device: str = "cpu",
    threads: int | None = None,
    checksums: bool = True,
    rerank: bool = True,
    report: Path | None = None,
    extra_sources: Sequence[CandidateSource] = (),
    search: Any = None,
) -> ElucidateBatch:
    """The batch body for these settings (library ``None``: generation only).

    Without ``generator_weights`` the generator is the one ``model``'s card was fitted with
    (:func:`~nmrpeak_cli.elucidate.model.choose_generator`, found in ``models/`` by sha256),
    and the structure search uses the fused-score weights it was fitted with; explicit
    weights of another generator run with a :class:`UserWarning` (the fusion is not
    calibrated for them).

    ``search`` (a :func:`search_config`, ``None``: off) adds the structure search
    (:class:`SearchSource`, needs the forward model); ``extra_sources`` are further
    candidate sources, pooled like the library and the generator. ``rerank=False`` scores
    generated candidates without their predicted spectra.
    """
    import warnings

    from nmrpeak_cli.generate.api import GenerateBatch
    from nmrpeak_cli.generate.model import weights_path
    from nmrpeak_cli.predict.weights import default_weights

    if formula_policy not in FORMULA_POLICIES:
        raise ValueError(
            f"formula policy must be one of {', '.join(FORMULA_POLICIES)}, got {formula_policy!r}"
        )
    chosen = choose_generator(model, generator_weights)
    if chosen.warning is not None:
        warnings.warn(chosen.warning, UserWarning, stacklevel=2)
    if search is not None and chosen.search_weights is not None:
        search = search.with_fusion(chosen.search_weights)
    forward = (predictor_weights or default_weights()).absolute()
    generation = GenerateBatch(
        (chosen.weights or weights_path()).absolute(),
        forward,
        device,
        k=k,
        beam=max(beam, k),
        formula_policy=formula_policy,
        threads=threads,
    )
    sources: list[CandidateSource] = []
    if library is not None:
        sources.append(LibrarySource(library_search(library, formula_policy, threads, checksums)))
    sources.append(GeneratorSource(generation))
    if search is not None and rerank:
        sources.append(SearchSource(generation, search))
    sources.extend(extra_sources)
    return ElucidateBatch(
        tuple(sources),
        predictor=forward if rerank else None,
        device=device,
        threads=threads,
        model=model,
        k=k,
        formula_policy=formula_policy,
        report=report,
        generation=generation,
    )
