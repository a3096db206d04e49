"""``nmrpeak retrieve``, ``nmrpeak library build|merge|default``, ``train retriever``,
``bench retrieve``.

Thin wrappers over :mod:`nmrpeak_cli.retrieve`: parse options, call one library function,
render. faiss, torch and RDKit are imported inside the commands so ``--help`` stays instant.
(Why one long file: the command group of one subpackage, each command a thin wrapper.)
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Annotated, Any

import typer

from nmrpeak_cli.cli.common import (
    ExitCode,
    check_formula_policy,
    command_context,
    fail,
    progress_bar,
    report_dir,
    run_context,
    score_bar,
    stderr_console,
    stdout_console,
    warn_split_leaks,
    write_bench_report,
)
from nmrpeak_cli.cli.groups import bench_app, library_app, train_app
from nmrpeak_cli.cli.options import (
    BatchFlags,
    BenchOutOption,
    DeviceOption,
    InlineQuery,
    JobsOption,
    KOption,
    LibraryOption,
    OutOption,
    ReportOption,
    SchemeOption,
    ShardOption,
    option_groups,
)
from nmrpeak_cli.cli.queries import query_inputs, query_key
from nmrpeak_cli.cli.runner import batch_options, exit_for, run_batch
from nmrpeak_cli.errors import NmrpeakError

FormulaPolicyOption = Annotated[
    str,
    typer.Option(
        "--formula-policy",
        help="Entries whose formula differs from the query's: reject (never returned), "
        "penalize (nearest formulas when the exact one is absent) or ignore.",
    ),
]


def _source_description(inputs: Iterable[str]) -> str:
    """Input names with sizes, recorded in the manifest and compared on --resume."""
    parts = []
    for item in inputs:
        size = os.path.getsize(item) if os.path.isfile(item) else None
        parts.append(item if size is None else f"{item} ({size} bytes)")
    return "; ".join(parts)


def _molecules(inputs: list[str]) -> Iterator[tuple[str, str | None, str | None]]:
    """``(id, smiles, reader error)`` of every record of ``inputs``, in order."""
    from nmrpeak_cli.io import read_molecules
    from nmrpeak_cli.io.records import RecordError

    for batch in read_molecules(inputs):
        for record in batch:
            if isinstance(record, RecordError):
                yield record.record, None, str(record)
            else:
                yield record.id, record.smiles, None


def _encoders(use: bool) -> dict[str, Any]:
    """The shipped retriever encoders; none when ``use`` is off."""
    if not use:
        return {}
    from nmrpeak_cli.retrieve.encoders import load_shipped_encoders

    return load_shipped_encoders()


def _report_build(manifest: dict[str, Any], out: Path, quiet: bool = False) -> None:
    counts = manifest["counts"]
    if not quiet:
        stderr_console().print(
            f"library {out}: {counts['entries']} entries, {counts['failed']} failed "
            f"(see {out / 'failures.parquet'}); encoders: {', '.join(manifest['encoders']) or 'none'}"
        )
    if counts["failed"]:
        raise typer.Exit(int(ExitCode.PARTIAL))


def _search_inputs(queries: Iterable[Any]) -> Iterator[Any]:
    """The search's inputs: records that could not be read become :class:`QueryError` rows."""
    from nmrpeak_cli.io.records import RecordError
    from nmrpeak_cli.retrieve.search import QueryError

    for item in queries:
        yield QueryError(item.record, str(item)) if isinstance(item, RecordError) else item


def _render(rows: list[dict[str, Any]]) -> None:
    from rich.table import Table

    table = Table(title="retrieved candidates")
    for column in ("query", "rank", "smiles", "score", "ssr", "sme", "sse", "formula", "inchikey"):
        table.add_column(column, overflow="fold")

    def number(value: float | None) -> str:
        return "" if value is None else f"{value:.3f}"

    for row in rows:
        if row["rank"] is None:
            table.add_row(row["query_id"], "", f"[red]error: {row['error']}[/red]", *[""] * 6)
            continue
        match = {True: "✓", False: "✗", None: ""}[row["formula_match"]]
        note = f"\n[red]{row['error']}[/red]" if row["error"] else ""
        table.add_row(
            row["query_id"],
            str(row["rank"]),
            row["smiles"] + note,
            score_bar(row["score"]),
            number(row["ssr"]),
            number(row["sme"]),
            number(row["sse"]),
            match,
            row["inchikey"],
        )
    stdout_console().print(table)


@option_groups
def retrieve_command(
    ctx: typer.Context,
    query: Annotated[
        str | None,
        typer.Argument(
            help="Query table/folder/`-` (c13, h1, formula columns).", show_default=False
        ),
    ] = None,
    library: LibraryOption = None,
    k: KOption = 10,
    output: OutOption = None,
    inline: InlineQuery = InlineQuery(),
    query_id: Annotated[str, typer.Option("--id", help="Id of the inline query.")] = "query",
    candidates: Annotated[
        int,
        typer.Option(min=1, help="Candidates taken from each embedding index (no formula)."),
    ] = 2000,
    encoders: Annotated[
        bool, typer.Option("--encoders/--ssr-only", help="Use the learned encoders (SME, SSE).")
    ] = True,
    formula_policy: FormulaPolicyOption = "reject",
    report: ReportOption = None,
    batch_size: Annotated[
        int, typer.Option("--batch-size", min=1, help="Queries per batch.")
    ] = 256,
    batch: BatchFlags = BatchFlags(),
) -> None:
    """Rank library molecules for each query spectrum (SSR + SME + SSE fusion).

    QUERY is read in streamed batches; each finished batch of a file output is saved at
    once, so a killed run continues with [bold]--resume[/bold]. Queries that cannot be
    searched get a row with an error (exit code 1).

    [bold]Examples[/bold]: nmrpeak retrieve --c13 "128.5, 137.9, 21.4" --formula C7H8 -l lib/ ·
    nmrpeak retrieve queries.parquet -l lib/ -k 10 -o results.parquet --report reports/ ·
    nmrpeak retrieve big.parquet -l lib/ -o part.parquet --shard $SLURM_ARRAY_TASK_ID/100 --jobs 0 --resume
    """

    from nmrpeak_cli.retrieve.api import SearchBatch
    from nmrpeak_cli.retrieve.library import default_library_dir
    from nmrpeak_cli.retrieve.search import FORMULA_POLICIES, SearchParams
    from nmrpeak_cli.schema import RESULTS_SCHEMA

    queries = _search_inputs(query_inputs(query, inline, query_id))
    options = batch_options(batch, output=output, batch_size=batch_size)
    check_formula_policy(formula_policy, FORMULA_POLICIES)
    if library is None:
        library = default_library_dir()
        if not library.is_dir():
            raise fail(
                "no library given and no default library built: build one with "
                "`nmrpeak library default` (or `library build`) or pass -l LIBDIR"
            )
    reports = report_dir(report)
    in_process = options.jobs <= 1 and options.scheduler is None
    process = SearchBatch(
        library.absolute(),
        k=k,
        use_encoders=encoders,
        params=SearchParams(
            candidates=candidates, batch_size=batch_size, formula_policy=formula_policy
        ),
        report=reports,
        checksums=in_process,  # verified once below; workers compare sizes only
        threads=None if in_process else 1,
    )
    try:
        searcher = process.verified_searcher()
    except NmrpeakError as exc:
        raise fail(str(exc)) from None
    summary = run_batch(
        run_context(ctx),
        queries,
        process,
        key=query_key,
        schema=RESULTS_SCHEMA,
        options=options,
        digest=searcher.digest(),
        render=_render,
        description="retrieve",
    )
    exit_for(summary, f"queries in {query or 'the inline query'}")


def build_command(
    ctx: typer.Context,
    inputs: Annotated[
        list[str], typer.Argument(help="Molecule files/folders (SMILES, tables, SDF) or `-`.")
    ],
    output: Annotated[Path, typer.Option("--output", "-o", help="Library directory to create.")],
    shard: ShardOption = None,
    jobs: JobsOption = 1,
    resume: Annotated[
        bool, typer.Option("--resume", help="Continue an interrupted build.")
    ] = False,
    part_size: Annotated[int, typer.Option(min=1, help="Molecules per resumable part.")] = 4096,
    batch_size: Annotated[int, typer.Option("--batch-size", min=1, help="Prediction batch.")] = 256,
    device: DeviceOption = "auto",
    encoders: Annotated[
        bool, typer.Option("--encoders/--no-encoders", help="Embed with the shipped encoders.")
    ] = True,
    predictor_weights: Annotated[
        Path | None,
        typer.Option(
            "--predictor-weights",
            help="Forward-model weights that predict the spectra (default: shipped); their "
            "sha256 is recorded in the manifest.",
            dir_okay=False,
        ),
    ] = None,
) -> None:
    """Predict spectra for molecules and index them into a library directory.

    [bold]Example[/bold]: nmrpeak library build part_*.smi -o lib/ --shard $SLURM_ARRAY_TASK_ID/$N
    """
    from nmrpeak_cli.batch import resolve_shard
    from nmrpeak_cli.predict.forward import load_forward_model
    from nmrpeak_cli.retrieve.build import build_library

    context = command_context(ctx, device=device, jobs=jobs)
    try:
        selected = resolve_shard(shard)
    except ValueError as exc:
        raise fail(str(exc)) from None
    try:
        predictor = load_forward_model(
            weights=predictor_weights,
            device=context.device,
            batch_size=batch_size,
            jobs=context.jobs,
        )
    except NmrpeakError as exc:
        raise fail(str(exc)) from None
    with progress_bar(context, "library build") as advance:
        manifest = build_library(
            _molecules(inputs),
            output,
            predictor,
            list(_encoders(encoders).values()),
            shard=selected,
            part_size=part_size,
            resume=resume,
            source=_source_description(inputs),
            on_progress=advance,
        )
    _report_build(manifest, output, context.quiet)


def merge_command(
    ctx: typer.Context,
    shards: Annotated[list[Path], typer.Argument(help="Shard library directories.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Merged library directory.")],
) -> None:
    """Merge library shards built by a job array (all shards must be present).

    [bold]Example[/bold]: nmrpeak library merge lib_shard_*/ -o lib/
    """
    from nmrpeak_cli.retrieve.build import merge_libraries

    try:
        manifest = merge_libraries(shards, output)
    except NmrpeakError as exc:
        raise fail(str(exc)) from None
    _report_build(manifest, output, run_context(ctx).quiet)


def embed_command(
    library: Annotated[Path, typer.Argument(help="Finished library directory.")],
) -> None:
    """(Re)compute a library's embeddings and indexes with the shipped encoders.

    [bold]Example[/bold]: nmrpeak library embed lib/
    """
    from nmrpeak_cli.retrieve.build import embed_library

    chosen = _encoders(True)
    if not chosen:
        raise fail("no shipped retriever encoders (models/retriever_*.safetensors)")
    try:
        embed_library(library, list(chosen.values()))
    except NmrpeakError as exc:
        raise fail(str(exc)) from None
    stderr_console().print(f"library {library}: embedded with {', '.join(chosen)}")


def default_command(
    ctx: typer.Context,
    inputs: Annotated[
        list[str] | None,
        typer.Argument(help="Extra molecule files to include.", show_default=False),
    ] = None,
    moses: Annotated[
        int, typer.Option(min=0, help="Molecules taken from the MOSES corpus.")
    ] = 20000,
    data: Annotated[
        Path | None,
        typer.Option(help="Prepared experimental table to include (data/experimental.parquet)."),
    ] = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Default: <cache>/default_library.")
    ] = None,
    device: DeviceOption = "auto",
    jobs: JobsOption = 1,
) -> None:
    """Build the default library used by elucidate (MOSES slice + your molecules).

    An interrupted build continues where it stopped; a finished one built with the same
    models and inputs is kept as it is. In the default location a library built with
    other models or inputs is replaced; an -o folder holding one is an error.

    [bold]Example[/bold]: nmrpeak library default my_compounds.smi --moses 50000
    """
    import shutil

    from nmrpeak_cli.predict.forward import load_forward_model
    from nmrpeak_cli.retrieve.build import build_library
    from nmrpeak_cli.retrieve.library import LibraryError, default_library_dir
    from nmrpeak_cli.retrieve.sources import default_molecules

    context = command_context(ctx, device=device, jobs=jobs)
    out = output or default_library_dir()
    predictor = load_forward_model(device=context.device, jobs=context.jobs)
    encoders = list(_encoders(True).values())
    source = f"moses:{moses}; data:{data}; {_source_description(inputs or [])}"

    def build() -> dict[str, Any]:
        molecules = default_molecules(
            moses=moses, experimental=data, extra=_molecules(inputs or [])
        )
        with progress_bar(context, "default library") as advance:
            return build_library(
                molecules, out, predictor, encoders, resume=True, source=source,
                on_progress=advance,
            )  # fmt: skip

    try:
        manifest = build()
    except LibraryError as exc:
        if output is not None or "cannot resume" not in str(exc):
            raise fail(str(exc)) from None
        stderr_console().print(f"rebuilding the default library: {exc}", soft_wrap=True)
        shutil.rmtree(out)
        manifest = build()
    _report_build(manifest, out, context.quiet)


def train_command(
    ctx: typer.Context,
    data: Annotated[Path, typer.Option(help="Prepared experimental table.")] = Path(
        "data/experimental.parquet"
    ),
    out_dir: Annotated[Path, typer.Option("--out-dir", help="Run folder.")] = Path(
        "runs/retriever"
    ),
    split: SchemeOption = "scaffold",
    kinds: Annotated[
        str,
        typer.Option(
            "--kinds", help="Encoders to train: sme,sse ('' = only fit fusion with --export's)."
        ),
    ] = "sme,sse",
    epochs: Annotated[int, typer.Option(min=1)] = 40,
    time_limit: Annotated[float, typer.Option("--time-limit", help="Minutes per encoder.")] = 15.0,
    threads: Annotated[int, typer.Option(min=1, help="torch CPU threads.")] = 1,
    pretrain: Annotated[
        Path | None,
        typer.Option(
            help="Simulated corpus folder (`nmrpeak train generator-corpus`) to pretrain "
            "each encoder on before the experimental epochs."
        ),
    ] = None,
    pretrain_epochs: Annotated[
        int, typer.Option("--pretrain-epochs", min=1, help="Epochs over the corpus.")
    ] = 2,
    export: Annotated[
        Path | None, typer.Option(help="Folder to write retriever_<kind>.safetensors + cards.")
    ] = None,
    fit_fusion: Annotated[
        bool, typer.Option("--fit-fusion/--no-fit-fusion", help="Fit fusion weights on valid.")
    ] = True,
    fusion_size: Annotated[int, typer.Option(help="Library size for fusion fitting.")] = 10000,
) -> None:
    """Train the SME and SSE encoders on the training split; fit fusion on valid.

    [bold]Example[/bold]: nice -n 10 nmrpeak train retriever --export models/
    """
    import shlex
    import sys

    from nmrpeak_cli.predict.forward import load_forward_model
    from nmrpeak_cli.retrieve.bench import BenchOptions, fit_fusion_on_split
    from nmrpeak_cli.retrieve.encoders import (
        fusion_card_path,
        load_encoder,
        load_shipped_encoders,
    )
    from nmrpeak_cli.retrieve.train import TrainConfig, train_encoder

    context = run_context(ctx)
    log = stderr_console().print
    command = shlex.join(["nmrpeak", *sys.argv[1:]])
    predictor = load_forward_model(device="cpu")
    trained = {}
    for kind in [k.strip() for k in kinds.split(",") if k.strip()]:
        config = TrainConfig(
            kind=kind,
            data=data,
            out_dir=out_dir,
            split_column=f"split_{split}",
            epochs=epochs,
            time_limit_min=time_limit,
            seed=context.seed,
            threads=threads,
            pretrain=pretrain,
            pretrain_epochs=pretrain_epochs,
        )
        target = None if export is None else export / f"retriever_{kind}.safetensors"
        try:
            summary = train_encoder(config, predictor, export=target, command=command, log=log)
        except NmrpeakError as exc:
            raise fail(str(exc)) from None
        trained[kind] = load_encoder(target or out_dir / kind / "best.safetensors")
        log(
            f"{kind}: best epoch {summary['best_epoch']}, valid top-1 {summary['valid_top1_in_split']:.3f}"
        )
    if fit_fusion and not trained and export is not None:
        trained = load_shipped_encoders(export)  # --kinds "": fit with exported encoders
    if fit_fusion and trained:
        options = BenchOptions(
            queries=data.parent / "queries" / f"{split}_valid.parquet",
            data_dir=data.parent,
            sizes=(fusion_size,),
            work_dir=out_dir / "fusion",
            seed=context.seed,
        )
        out = fusion_card_path(export) if export is not None else out_dir / "retriever_fusion.json"
        command = "nmrpeak " + " ".join(shlex.quote(a) for a in sys.argv[1:])
        fit_fusion_on_split(options, predictor, trained, out, command=command, log=log)


def bench_command(
    ctx: typer.Context,
    split: Annotated[
        str, typer.Option(help="scaffold, random, or a query table FILE with a smiles column.")
    ] = "scaffold",
    data: Annotated[Path, typer.Option(help="Prepared data folder.")] = Path("data"),
    sizes: Annotated[
        str, typer.Option(help="Library sizes, comma-separated.")
    ] = "1000,10000,100000",
    max_queries: Annotated[int, typer.Option(min=1, help="Queries sampled.")] = 500,
    latency_queries: Annotated[int, typer.Option(min=1, help="Queries timed one by one.")] = 100,
    output: BenchOutOption = None,
    encoders: Annotated[
        bool, typer.Option("--encoders/--ssr-only", help="Use the shipped encoders.")
    ] = True,
    work_dir: Annotated[Path, typer.Option(help="Benchmark library folder.")] = Path(
        "runs/retriever/bench"
    ),
    attached_h: Annotated[
        bool,
        typer.Option(
            "--attached-h/--no-attached-h",
            help="Label the queries' 13C peaks C/CH/CH2/CH3 as a DEPT would (per-carbon "
            "counts of the prepared experimental table) and match within those classes.",
        ),
    ] = False,
    configurations: Annotated[
        str | None,
        typer.Option(help="Configurations to evaluate, comma-separated (e.g. C+H,C); default all."),
    ] = None,
    jobs: JobsOption = 1,
) -> None:
    """Top-1/5/10 per library size and input configuration, ablation and latency.

    [bold]Example[/bold]: nmrpeak bench retrieve --split scaffold --sizes 1000,10000,100000 -o benchmarks/retrieve.json
    """
    from nmrpeak_cli.predict.forward import load_forward_model
    from nmrpeak_cli.retrieve.bench import BenchOptions, markdown_report, run_benchmark
    from nmrpeak_cli.retrieve.encoders import load_fusion_weights, load_similarity_params
    from nmrpeak_cli.retrieve.search import SearchParams

    context = command_context(ctx, jobs=jobs)
    queries = (
        Path(split)
        if split not in {"scaffold", "random"}
        else data / "queries" / f"{split}_test.parquet"
    )
    try:
        size_list = tuple(int(s) for s in sizes.split(","))
    except ValueError:
        raise fail(f"--sizes expects integers like 1000,10000; got {sizes!r}") from None
    if not queries.is_file():
        raise fail(f"query table {queries} not found (run `nmrpeak data prepare`)")
    chosen = _encoders(encoders)
    from nmrpeak_cli.retrieve.bench import CONFIGURATIONS, configuration_name

    known = [configuration_name(n, f) for n, f in CONFIGURATIONS]
    picked = None if configurations is None else tuple(configurations.split(","))
    if picked is not None and not set(picked) <= set(known):
        raise fail(f"--configurations expects some of {', '.join(known)}; got {configurations!r}")
    options = BenchOptions(
        queries=queries,
        data_dir=data,
        sizes=size_list,
        max_queries=max_queries,
        latency_queries=latency_queries,
        work_dir=work_dir,
        seed=context.seed,
        attached_h=attached_h,
        configurations=picked,
    )
    params = SearchParams(weights=load_fusion_weights(chosen), similarity=load_similarity_params())
    from nmrpeak_cli.predict.weights import default_weights, read_card
    from nmrpeak_cli.retrieve.encoders import shipped_encoder_path

    cards = {"predictor": read_card(default_weights())}
    cards |= {f"encoder {n}": read_card(shipped_encoder_path(n)) for n in chosen}
    leaks = warn_split_leaks(split, cards)
    report = run_benchmark(
        options,
        load_forward_model(device="cpu", jobs=context.jobs),
        chosen,
        params,
        log=stderr_console().print,
    )
    report["split_warnings"] = leaks
    text = markdown_report(report)
    write_bench_report(report, text, output)
    typer.echo(text)


def register(app: typer.Typer) -> None:
    """Add ``retrieve``, ``library build|merge|default``, ``train retriever``, ``bench retrieve``."""
    app.command("retrieve")(retrieve_command)
    library_app.command("build")(build_command)
    library_app.command("merge")(merge_command)
    library_app.command("embed")(embed_command)
    library_app.command("default")(default_command)
    train_app.command("retriever")(train_command)
    bench_app.command("retrieve")(bench_command)
