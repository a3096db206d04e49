"""``nmrpeak elucidate``: a thin command over :mod:`nmrpeak_cli.elucidate`.

Parses options, builds the batch body (:func:`~nmrpeak_cli.elucidate.elucidate_batch`, the
one the Python :func:`~nmrpeak_cli.elucidate.elucidate` runs) and renders the rows. torch
and RDKit are imported inside the command so ``--help`` stays instant.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Annotated, Any

import typer

from nmrpeak_cli.cli.common import (
    check_formula_policy,
    fail,
    render_ranked,
    report_dir,
    run_context,
    stderr_console,
    write_bench_report,
)
from nmrpeak_cli.cli.groups import bench_app, train_app
from nmrpeak_cli.cli.options import (
    BatchFlags,
    BatchSizeOption,
    BeamOption,
    BenchOutOption,
    DataOption,
    DeviceOption,
    InlineQuery,
    LibraryOption,
    ModelFiles,
    OptionGroup,
    OutOption,
    QueryArg,
    Ranking,
    ReportOption,
    SearchBudgetOption,
    TimeLimitOption,
    TopK,
    option_groups,
)
from nmrpeak_cli.cli.queries import query_failed, query_inputs, query_key
from nmrpeak_cli.cli.runner import batch_options, exit_for, run_batch
from nmrpeak_cli.elucidate import SEARCH_BUDGET, SEARCH_TIME_LIMIT
from nmrpeak_cli.errors import NmrpeakError, NotAvailableError

SearchOnOption = Annotated[
    bool,
    typer.Option(
        "--search/--no-search",
        help="Structure search from the library's and the generator's structures "
        "(formula-preserving moves, fragment recombination, re-scored by forward prediction); "
        "its candidates are pooled with theirs (source `search`).",
    ),
]
ModelOption = Annotated[
    Path | None,
    typer.Option("--model", help="Elucidate fusion + calibration card; default: shipped."),
]
SplitOption = Annotated[
    str, typer.Option(help="scaffold or random (prepared queries), or a query table FILE.")
]
LimitOption = Annotated[
    int | None, typer.Option(min=1, help="Queries with both nuclei used (seeded sample).")
]
SizeOption = Annotated[int, typer.Option(min=1, help="Benchmark library entries.")]
EncodersOption = Annotated[
    bool, typer.Option("--encoders/--ssr-only", help="Use the shipped retrieval encoders.")
]
WorkDirOption = Annotated[Path, typer.Option(help="Where the benchmark library is built.")]


@dataclass(frozen=True)
class ElucidateRanking(Ranking):
    """``generate``'s ranking options with elucidate's defaults: the structure search is on
    (``--no-search`` turns it off) with a smaller budget and time limit."""

    search: SearchOnOption = True
    search_budget: SearchBudgetOption = SEARCH_BUDGET
    time_limit: TimeLimitOption = SEARCH_TIME_LIMIT


@dataclass(frozen=True)
class Pools(OptionGroup):
    """The validation or test queries of ``train elucidate`` and ``bench elucidate`` and how
    their candidate pools are made (:func:`_collect`)."""

    split: SplitOption = "scaffold"
    data: DataOption = Path("data")
    limit: LimitOption = None
    size: SizeOption = 100_000
    encoders: EncodersOption = True
    beam: BeamOption = 10
    search: SearchOnOption = True
    search_budget: SearchBudgetOption = SEARCH_BUDGET


_COLUMNS = (
    ("confidence", "confidence", ".2f"),
    ("13C sim.", "similarity_c13", ".3f"),
    ("1H sim.", "similarity_h1", ".3f"),
    ("peaks", "n_matched_peaks", "d"),
)
"""Columns of the terminal table beside query, rank, smiles, score, source and formula."""


def _render(rows: list[dict[str, Any]]) -> None:
    render_ranked(rows, _COLUMNS)


def _library(library: Path | None) -> Path | None:
    """``-l`` or the default library when built; ``None`` (with a note) without either."""
    from nmrpeak_cli.retrieve.library import default_library_dir

    if library is not None:
        return library
    default = default_library_dir()
    if default.is_dir():
        return default
    stderr_console().print(
        "no library given and no default library built: generated candidates only "
        "(build one with `nmrpeak library default` or pass -l LIBDIR)"
    )
    return None


def _threads(query: str | None, gpu: bool, in_process: bool) -> int | None:
    """torch CPU threads: one for a single inline query (its matrices are tiny, and on a
    busy machine a second spinning thread made a 3 s cold start 12 s) and in worker
    processes; torch's default otherwise."""
    if not in_process or (query is None and not gpu):
        return 1
    return None


def _check_predictor(library: Path, forward: Path) -> str | None:
    """The forward model's sha256, after checking the library was predicted by it (its
    stored spectra and the generated candidates' must come from one model)."""
    from nmrpeak_cli.predict.weights import read_card
    from nmrpeak_cli.retrieve.library import read_manifest

    try:
        sha = read_card(forward).get("sha256")
    except NotAvailableError:
        return None  # generated candidates are scored without spectra; the rows say so
    built = (read_manifest(library).get("predictor") or {}).get("sha256")
    if built and sha and built != sha:
        raise fail(
            f"library {library} was predicted by predictor {built[:12]}, but elucidate scores "
            f"candidates with {forward} ({sha[:12]}); rebuild the library "
            "(`nmrpeak library default` or `library build`) or pass --predictor-weights"
        )
    return sha


@option_groups
def elucidate_command(
    ctx: typer.Context,
    query: QueryArg = None,
    library: LibraryOption = None,
    top: TopK = TopK(),
    output: OutOption = None,
    inline: InlineQuery = InlineQuery(),
    ranking: ElucidateRanking = ElucidateRanking(),
    models: ModelFiles = ModelFiles(),
    model: ModelOption = None,
    device: DeviceOption = "auto",
    report: ReportOption = None,
    batch_size: BatchSizeOption = 16,
    batch: BatchFlags = BatchFlags(),
) -> None:
    """Rank candidate structures from the library and from de novo generation together.

    Every candidate is scored the same way (its predicted spectrum against the query,
    plus its source's evidence) and given a calibrated confidence. With a formula, the
    default --formula-policy reject never returns a structure of another formula.
    Queries that cannot be answered get a row with an error (exit code 1).

    [bold]Examples[/bold]: nmrpeak elucidate --c13 "170.2, 77.0" --h1 "7.26 (d, 2H)" --formula C9H10O2 ·
    nmrpeak elucidate queries.parquet -l lib/ -o results.parquet --report reports/ ·
    nmrpeak elucidate big.parquet -l lib/ -o part.parquet --shard $SLURM_ARRAY_TASK_ID/100 --resume
    """
    import warnings

    from nmrpeak_cli.context import RunContext
    from nmrpeak_cli.elucidate import (
        FORMULA_POLICIES,
        SearchSource,
        elucidate_batch,
        load_model,
        search_config,
    )
    from nmrpeak_cli.generate.api import GenerateBatch
    from nmrpeak_cli.predict.weights import default_weights
    from nmrpeak_cli.schema import RESULTS_SCHEMA

    k, beam, formula_policy = top.k, top.beam, ranking.formula_policy
    check_formula_policy(formula_policy, FORMULA_POLICIES)
    options = batch_options(batch, output=output, batch_size=batch_size)
    records = query_inputs(query, inline)
    try:
        torch_device = RunContext(device=device).torch_device()
        model_card = load_model(model)
        searching = (
            search_config(ranking.search_budget, ranking.time_limit or None)
            if ranking.search
            else None
        )
    except (ValueError, NmrpeakError) as exc:
        raise fail(str(exc)) from None
    forward = (models.predictor_weights or default_weights()).absolute()
    lib_dir = _library(library)
    predictor_sha = _check_predictor(lib_dir, forward) if lib_dir is not None else None
    gpu = torch_device.startswith("cuda")
    in_process = (gpu or options.jobs <= 1) and options.scheduler is None
    try:  # the generator the model was fitted with, unless --weights (then a warning)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            body = elucidate_batch(
                library=lib_dir, k=k, beam=beam, formula_policy=formula_policy,
                generator_weights=models.weights, predictor_weights=forward, model=model,
                device=torch_device, threads=_threads(query, gpu, in_process),
                checksums=in_process, rerank=not ranking.no_rerank, report=report_dir(report),
                search=searching,
            )  # fmt: skip
    except NmrpeakError as exc:
        raise fail(str(exc)) from None
    for caught_warning in caught:
        stderr_console().print(f"warning: {caught_warning.message}")
    searched = next((s.config for s in body.sources if isinstance(s, SearchSource)), None)
    digest: dict[str, Any] = {
        "k": k, "beam": beam, "formula_policy": formula_policy, "rerank": not ranking.no_rerank,
        "predictor": predictor_sha, "model": model_card.to_dict(),
        "search": repr(searched) if searched is not None else None,
    }  # fmt: skip
    for source in body.sources:
        generation = getattr(source, "generation", None)
        search = getattr(source, "search", None)
        try:  # loaded and verified once here: bad weights or a bad library exit 2
            if isinstance(generation, GenerateBatch):
                # in process: the same cached model the batch uses (its threads), else a
                # check-only load that leaves torch's threads to the workers
                checked = generation if in_process else replace(generation, threads=None)
                digest["generator"] = checked.generator().card.get("sha256")
            if search is not None:
                digest["library"] = search.verified_searcher().digest()
        except (NmrpeakError, OSError) as exc:
            raise fail(str(exc)) from None
    summary = run_batch(
        run_context(ctx), records, body, key=query_key, schema=RESULTS_SCHEMA,
        options=options, digest=digest, render=_render, description="elucidate",
        jobs=1 if gpu else None, failed=query_failed,
    )  # fmt: skip
    exit_for(summary, f"queries in {query or 'the inline query'}")


@option_groups
def train_elucidate_command(
    ctx: typer.Context,
    pools: Pools = Pools(limit=300),
    models: ModelFiles = ModelFiles(),
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Card to write; default: shipped.")
    ] = None,
    work_dir: WorkDirOption = Path("runs/elucidate"),
) -> None:
    """Fit the elucidate fusion and confidence calibration on VALIDATION queries.

    [bold]Example[/bold]: nmrpeak train elucidate --split scaffold --limit 300 --size 100000
    """
    import shlex
    import sys

    from nmrpeak_cli.elucidate import load_model, model_path
    from nmrpeak_cli.elucidate_bench import evaluate, fit_model, markdown
    from nmrpeak_cli.paths import write_json_atomic

    table = pools.data / "queries" / f"{pools.split}_valid.parquet"
    collected, setup = _collect(ctx, pools, table, models, work_dir)
    card = {
        "data": str(table), "split": f"{pools.split} (validation)", **setup,
        "command": "nmrpeak " + shlex.join(sys.argv[1:]),
    }  # fmt: skip
    fitted = fit_model(collected, load_model().similarity, card)
    report = evaluate(collected, fitted)
    target = output or model_path()
    write_json_atomic(target, {**fitted.to_dict(), "valid_metrics": report})
    typer.echo(markdown(report))
    stderr_console().print(f"wrote {target}")


@option_groups
def bench_elucidate_command(
    ctx: typer.Context,
    pools: Pools = Pools(),
    models: ModelFiles = ModelFiles(),
    model: ModelOption = None,
    output: BenchOutOption = None,
    work_dir: WorkDirOption = Path("runs/elucidate"),
) -> None:
    """Top-1 of retrieve, generate and elucidate with the answer in and not in the library;
    formula violations; calibration (ECE, reliability) of the confidence, on TEST queries.

    [bold]Example[/bold]: nmrpeak bench elucidate --split scaffold -o benchmarks/elucidate_scaffold.json
    """
    import shlex
    import sys

    from nmrpeak_cli.elucidate import choose_generator, load_model
    from nmrpeak_cli.elucidate_bench import evaluate, markdown

    split = pools.split
    table = (
        pools.data / "queries" / f"{split}_test.parquet"
        if split in {"scaffold", "random"}
        else Path(split)
    )
    try:  # the generator and search weights the model was fitted with, unless --weights
        fitted = load_model(model)
        chosen = choose_generator(model, models.weights)
    except NmrpeakError as exc:
        raise fail(str(exc)) from None
    if chosen.warning is not None:
        stderr_console().print(f"warning: {chosen.warning}")
    collected, setup = _collect(
        ctx, pools, table, replace(models, weights=chosen.weights), work_dir,
        chosen.search_weights,
    )  # fmt: skip
    report = {
        "queries": str(table), **setup, "model": fitted.card.get("command"),
        **evaluate(collected, fitted), "command": "nmrpeak " + shlex.join(sys.argv[1:]),
    }  # fmt: skip
    text = markdown(report)
    write_bench_report(report, text, output)
    typer.echo(text)


def register(app: typer.Typer) -> None:
    """Add ``elucidate``, ``train elucidate`` and ``bench elucidate``."""
    app.command("elucidate")(elucidate_command)
    train_app.command("elucidate")(train_elucidate_command)
    bench_app.command("elucidate")(bench_elucidate_command)


def _collect(
    ctx: typer.Context,
    pools: Pools,
    table: Path,
    models: ModelFiles,
    work_dir: Path,
    search_weights: Mapping[str, float] | None = None,
) -> tuple[list, dict[str, Any]]:
    """The candidate pools of ``table``'s queries (library built from both of the split's
    query tables, so one build serves fitting and benchmarking) and what made them (with
    ``pools.search``: structure search with ``pools.search_budget`` predictions per query,
    without a time limit; ``search_weights``: its fused-score weights, ``None``: the
    generator's own)."""
    import numpy as np

    from nmrpeak_cli.elucidate import search_config
    from nmrpeak_cli.elucidate.model import GENERATOR_FILE_KEY, SEARCH_WEIGHTS_KEY
    from nmrpeak_cli.elucidate_bench import (
        bench_library,
        both_nuclei_queries,
        cached_pools,
        collect,
    )
    from nmrpeak_cli.generate.model import load_generator, weights_path
    from nmrpeak_cli.generate.search import FALLBACK_FUSION
    from nmrpeak_cli.predict.forward import ForwardModel, load_forward_model
    from nmrpeak_cli.retrieve.api import open_searcher
    from nmrpeak_cli.retrieve.encoders import load_shipped_encoders

    split, data, limit, beam = pools.split, pools.data, pools.limit, pools.beam
    weights, predictor_weights = models.weights, models.predictor_weights
    seed = run_context(ctx).seed
    searching = search_config(pools.search_budget, None) if pools.search else None
    if searching is not None and search_weights is not None:
        searching = searching.with_fusion(search_weights)
    if not table.is_file():
        raise fail(f"query table {table} not found (run `nmrpeak data prepare`)")
    queries, keys = both_nuclei_queries(table)
    if limit is not None and len(queries) > limit:
        keep = np.sort(np.random.default_rng(seed).choice(len(queries), limit, replace=False))
        queries, keys = [queries[i] for i in keep], [keys[i] for i in keep]
    if not queries:
        raise fail(f"{table}: no query with 13C, 1H and a smiles truth")
    tables = (
        [data / "queries" / f"{split}_{part}.parquet" for part in ("valid", "test")]
        if split in {"scaffold", "random"}
        else [table]
    )
    try:
        library_predictor = load_forward_model(predictor_weights, device="cpu", jobs=2)
        chosen = load_shipped_encoders() if pools.encoders else {}
        library = bench_library(tables, data, pools.size, library_predictor, chosen, work_dir,
                                seed=seed, log=stderr_console().print)  # fmt: skip
        searcher = open_searcher(library.path, k=15, use_encoders=pools.encoders, checksums=False)
        generator = load_generator(weights, device="cpu")
    except (NmrpeakError, OSError) as exc:
        raise fail(str(exc)) from None
    setup = {
        "n_queries": len(queries), "seed": seed, "library": str(library.path),
        "library_entries": len(library), "encoders": sorted(chosen), "beam": beam,
        "generator": generator.card.get("sha256"), "predictor": library_predictor.identity.sha256,
        "search": None if searching is None else repr(searching),
        "logprobs": "library candidates",
    }  # fmt: skip
    predictor = ForwardModel(predictor_weights, "cpu")
    collected = cached_pools(
        work_dir, {**setup, "queries": str(table), "keys": keys},
        lambda: collect(queries, keys, searcher, generator, predictor, beam=beam,
                        search=searching, log=stderr_console().print),
    )  # fmt: skip
    # what a fitted card pins (not in the cache key: it adds nothing the sha256 does not say)
    pinned = weights_path(weights) if weights is None or Path(weights).is_dir() else weights
    setup[GENERATOR_FILE_KEY] = Path(pinned).name
    if searching is not None:
        fused = searching.for_generator(generator)
        setup[SEARCH_WEIGHTS_KEY] = {k: getattr(fused, k) for k in FALLBACK_FUSION}
    else:
        setup[SEARCH_WEIGHTS_KEY] = None
    return collected, setup
