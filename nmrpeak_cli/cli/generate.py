"""``nmrpeak generate``, ``train generator``, ``train generator-corpus`` and
``train generator-fusion``: thin wrappers over :mod:`nmrpeak_cli.generate` (``bench generate``
is :mod:`nmrpeak_cli.cli.bench_generate`, ``elucidate`` :mod:`nmrpeak_cli.cli.elucidate`).

torch and RDKit are imported inside the commands so ``--help`` stays instant.
"""

from __future__ import annotations

import json
import shlex
import sys
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from nmrpeak_cli.cli.common import (
    check_formula_policy,
    command_context,
    fail,
    forward_card,
    progress_bar,
    render_ranked,
    report_dir,
    stderr_console,
    warn_split_leaks,
)
from nmrpeak_cli.cli.groups import bench_app, train_app
from nmrpeak_cli.cli.options import (
    BatchFlags,
    BatchSizeOption,
    BeamOption,
    DataOption,
    DeviceOption,
    InlineQuery,
    JobsOption,
    ModelFiles,
    OutOption,
    QueryArg,
    Ranking,
    ReportOption,
    SchemeOption,
    TopK,
    TrainingResumeOption,
    option_groups,
)
from nmrpeak_cli.cli.queries import query_failed, query_inputs, query_key
from nmrpeak_cli.cli.runner import BatchOptions, batch_options, exit_for, run_batch
from nmrpeak_cli.errors import NmrpeakError, NotAvailableError

if TYPE_CHECKING:
    from nmrpeak_cli.generate.api import GenerateBatch
    from nmrpeak_cli.generate.library_seeds import LibrarySeeds
    from nmrpeak_cli.generate.search import SearchConfig


_COLUMNS = (("log p", "gen_logprob", ".3f"), ("sim.", "rerank", ".3f"))
"""Columns of the terminal table beside query, rank, smiles, score, source and formula."""


def _render(rows: list[dict[str, Any]]) -> None:
    render_ranked(rows, _COLUMNS)


def search_settings(
    search: bool, budget: int, time_limit: float, **settings: Any
) -> SearchConfig | None:
    """The structure search settings of ``--search``, ``--search-budget``, ``--time-limit``
    and ``settings`` (``None`` without ``--search``); bad settings exit 2."""
    from nmrpeak_cli.generate.search import SearchConfig

    if not search:
        return None
    try:
        return SearchConfig(budget=budget, time_limit=time_limit or None, **settings)
    except ValueError as exc:
        raise fail(str(exc)) from None


def load_generator_or_exit(weights: Path | None, device: str):
    """The generator on the (already resolved) ``device``; bad weights exit 2."""
    from nmrpeak_cli.generate.model import load_generator

    try:
        return load_generator(weights, device=device)
    except NotAvailableError as exc:
        raise fail(str(exc)) from None


def _generation(
    options: BatchOptions, models: ModelFiles, device: str, **settings: Any
) -> tuple[GenerateBatch, dict[str, Any]]:
    """The generation batch body for these options and the digest of what shapes its rows.

    The generator is loaded here (bad weights exit 2), in this process's cache.
    ``settings`` are :class:`~nmrpeak_cli.generate.api.GenerateBatch` fields (``k``, ...).
    """
    from nmrpeak_cli.generate.api import GenerateBatch
    from nmrpeak_cli.generate.decode import FORMULA_POLICIES
    from nmrpeak_cli.generate.model import weights_path
    from nmrpeak_cli.predict.weights import default_weights, read_card

    check_formula_policy(settings.get("formula_policy", "reject"), FORMULA_POLICIES)
    weights = models.weights
    path = weights_path(weights) if weights is None or weights.is_dir() else weights
    forward = (models.predictor_weights or default_weights()).absolute()
    cpu_workers = options.jobs > 1 and not device.startswith("cuda")
    process = GenerateBatch(
        path.absolute(), forward, device, threads=1 if cpu_workers else None, **settings
    )
    try:  # loaded once here; the in-process run reuses it
        generator = replace(process, threads=None).generator()
    except NotAvailableError as exc:
        raise fail(str(exc)) from None
    try:
        predictor = read_card(forward).get("sha256") if process.rerank else None
    except NotAvailableError:  # reranking is skipped with a warning in the rows
        predictor = None
    digest = {
        "generator": generator.card.get("sha256"),
        "predictor": predictor,
        **{name: getattr(process, name) for name in ("k", "beam", "rerank", "formula_policy")},
    }
    return process, digest


def _corpus_record(pretrain: Path | None) -> dict | None:
    """The card's record of the pretraining corpus: its folder and manifest."""
    from nmrpeak_cli.generate.corpus import read_manifest

    if pretrain is None:
        return None
    return {"path": str(pretrain), **(read_manifest(pretrain) or {})}


SeedLibraryOption = Annotated[
    Path | None,
    typer.Option(
        "--library",
        "-l",
        help="--search also starts from each query's --library-k nearest entries of this "
        "library (`nmrpeak library build`), retrieved ignoring the formula.",
        metavar="LIBDIR",
        file_okay=False,
        show_default=False,
    ),
]
SeedLibraryKOption = Annotated[
    int, typer.Option("--library-k", min=1, help="Library neighbours per query (-l).")
]


def library_seeds(
    library: Path | None, k: int, search: SearchConfig | None, encoders: bool = True
) -> LibrarySeeds | None:
    """The library seeds of ``-l`` (``None`` without it), the library verified once here
    (sha256 of every file): a missing, incomplete or corrupt library exits 2."""
    from nmrpeak_cli.generate.library_seeds import LibrarySeeds, process_searcher

    if library is None:
        return None
    if search is None:
        raise fail("--library is a setting of --search: add --search")
    seeds = LibrarySeeds(library.absolute(), k=k, encoders=encoders)
    try:
        process_searcher(seeds.directory, k, encoders, True)
    except NmrpeakError as exc:
        raise fail(str(exc)) from None
    return seeds


CremDbOption = Annotated[
    Path | None,
    typer.Option(
        "--crem-db",
        help="--search also mutates structures with CReM fragment replacements from this "
        "database (`nmrpeak data crem-db`; needs nmrpeak-cli[crem]).",
        dir_okay=False,
    ),
]


@option_groups
def generate_command(
    ctx: typer.Context,
    query: QueryArg = None,
    top: TopK = TopK(),
    output: OutOption = None,
    inline: InlineQuery = InlineQuery(),
    ranking: Ranking = Ranking(),
    crem_db: CremDbOption = None,
    library: SeedLibraryOption = None,
    library_k: SeedLibraryKOption = 10,
    models: ModelFiles = ModelFiles(),
    device: DeviceOption = "auto",
    report: ReportOption = None,
    batch_size: BatchSizeOption = 16,
    batch: BatchFlags = BatchFlags(),
) -> None:
    """Generate candidate structures de novo from 13C/1H peaks (+ formula).

    QUERY is read in streamed batches; each finished batch of a file output is saved at
    once, so a killed run continues with [bold]--resume[/bold]. Queries that cannot be
    answered get a row with an error (exit code 1).

    [bold]Examples[/bold]: nmrpeak generate --c13 "170.9, 60.4, 21.0, 14.2" --formula C4H8O2 ·
    nmrpeak generate queries.parquet -k 10 --beam 10 -o generated.parquet --report reports/ ·
    nmrpeak generate big.parquet -o part.parquet --shard $SLURM_ARRAY_TASK_ID/100 --resume ·
    nmrpeak generate queries.parquet --search -l seedlib/ --library-k 10 -o found.parquet
    """
    from nmrpeak_cli.schema import RESULTS_SCHEMA

    options = batch_options(batch, output=output, batch_size=batch_size)
    search_config = search_settings(
        ranking.search, ranking.search_budget, ranking.time_limit, crem_db=crem_db
    )
    if search_config is not None and ranking.no_rerank:
        raise fail("--search needs the forward model: drop --no-rerank")
    if crem_db is not None:
        if search_config is None:
            raise fail("--crem-db is a setting of --search: add --search")
        from nmrpeak_cli.generate.crem_moves import crem_move

        try:  # a missing or corrupt database (or no crem) stops here, naming the file
            crem_move(crem_db)
        except NmrpeakError as exc:
            raise fail(str(exc)) from None
    seeds = library_seeds(library, library_k, search_config)
    context = command_context(ctx, device=device)
    records = query_inputs(query, inline)
    process, digest = _generation(
        options, models, context.device, k=top.k, beam=max(top.beam, top.k),
        rerank=not ranking.no_rerank, formula_policy=ranking.formula_policy,
        report=report_dir(report), search=search_config, library=seeds,
    )  # fmt: skip
    if search_config is not None:
        digest["search"] = repr(search_config)
    if seeds is not None:
        digest["library_seeds"] = seeds.digest()
    summary = run_batch(
        context, records, process, key=query_key, schema=RESULTS_SCHEMA,
        options=options, digest=digest, render=_render, description="generate",
        jobs=1 if process.device.startswith("cuda") else None, failed=query_failed,
    )  # fmt: skip
    exit_for(summary, f"queries in {query or 'the inline query'}")


def train_generator_command(
    ctx: typer.Context,
    data: DataOption = Path("data"),
    split: SchemeOption = "scaffold",
    pretrain: Annotated[
        Path | None,
        typer.Option(help="Simulated corpus folder (`train generator-corpus`) to pretrain on."),
    ] = None,
    run_dir: Annotated[Path, typer.Option("--run-dir", help="Checkpoint folder.")] = Path(
        "runs/generator"
    ),
    output: Annotated[
        Path,
        typer.Option("--output", "-o", help="Weights to write (card and tokenizer beside)."),
    ] = Path("models/generator.safetensors"),
    quick: Annotated[bool, typer.Option("--quick", help="Tiny model, few steps.")] = False,
    config_file: Annotated[
        Path | None,
        typer.Option(
            "--config",
            help="JSON object of training hyper-parameters (TrainConfig fields, e.g. "
            '{"d_ff": 512, "lr": 0.001}); options given on the command line win.',
        ),
    ] = None,
    resume: TrainingResumeOption = False,
    stage: Annotated[
        str,
        typer.Option(
            help="all, pretrain (simulated-only model) or finetune (from the run's "
            "pretrained model when there is one, else experimental-only)."
        ),
    ] = "all",
    max_minutes: Annotated[
        float | None, typer.Option("--max-minutes", help="Wall-time limit per phase.")
    ] = None,
    max_steps: Annotated[int | None, typer.Option("--max-steps", min=1)] = None,
    d_model: Annotated[int | None, typer.Option("--d-model", min=8)] = None,
    layers: Annotated[int | None, typer.Option(min=1)] = None,
    batch_size: Annotated[int | None, typer.Option("--batch-size", min=1)] = None,
    limit: Annotated[
        int | None, typer.Option(help="Use at most this many training rows (smoke runs).")
    ] = None,
    jobs: JobsOption = 1,
    workers: Annotated[
        int,
        typer.Option(
            "--workers",
            min=0,
            help="Processes that augment and encode the training batches (0: the training "
            "process itself); the batches are the same for any number.",
        ),
    ] = 0,
    valid_size: Annotated[
        int, typer.Option("--valid-size", min=1, help="Validation pairs for early stopping.")
    ] = 500,
    device: DeviceOption = "auto",
) -> None:
    """Train the generator: optional simulated pretraining, then experimental fine-tuning.

    [bold]Example[/bold]: nmrpeak train generator --data data/ --pretrain data/generator_corpus/
    """
    from dataclasses import replace

    import numpy as np

    from nmrpeak_cli.generate.pairs import load_pairs
    from nmrpeak_cli.generate.train import STAGES, TrainConfig, train_generator

    if stage not in {"all", *STAGES}:
        raise fail(f"--stage must be all, pretrain or finetune, got {stage!r}")
    context = command_context(ctx, device=device, jobs=jobs)
    seed = context.seed  # the global --seed (also accepted after the subcommand)

    table = data / "experimental.parquet"
    column = f"split_{split}"
    config = TrainConfig.quick() if quick else TrainConfig()
    if config_file is not None:
        try:
            config = config.updated(json.loads(config_file.read_text()))
        except (OSError, ValueError) as exc:
            raise fail(f"--config {config_file}: {exc}") from None
    overrides = {
        "max_minutes": max_minutes, "max_steps": max_steps, "d_model": d_model,
        "n_layers": layers, "batch_size": batch_size,
    }  # fmt: skip
    config = replace(config, seed=seed, **{k: v for k, v in overrides.items() if v is not None})
    try:
        jobs = context.jobs
        train = load_pairs(table, split_column=column, splits=["train"], limit=limit)
        valid_all = load_pairs(table, split_column=column, splits=["valid"])
        test = load_pairs(table, split_column=column, splits=["test"])
        corpus = load_pairs(pretrain, limit=limit, jobs=jobs) if pretrain is not None else []
        if stage == "finetune":
            corpus = []  # the pretrained model is read from the run folder
    except (NmrpeakError, OSError) as exc:
        raise fail(str(exc)) from None
    rng = np.random.default_rng(seed)
    chosen = rng.choice(len(valid_all), min(valid_size, len(valid_all)), replace=False)
    valid = [valid_all[i] for i in sorted(chosen)]
    console = stderr_console()
    console.print(
        f"{len(train)} training pairs, {len(corpus)} simulated pairs, {len(valid)} validation pairs"
    )
    stages = (stage,) if stage != "all" else (STAGES if corpus else ("finetune",))
    try:
        result = train_generator(
            train, valid, [p.smiles for p in (*valid_all, *test)], config, run_dir, output,
            pretrain_pairs=corpus, resume=resume, stages=stages, jobs=jobs, workers=workers,
            device=context.device,
            card={"data": str(table), "split": split,
                  "pretrain": _corpus_record(pretrain),
                  "command": "nmrpeak " + shlex.join(sys.argv[1:])},
            progress=lambda r: console.print(json.dumps(r)),
        )  # fmt: skip
    except (NmrpeakError, ValueError) as exc:
        raise fail(str(exc)) from None
    console.print(
        f"best validation loss {result.best_valid_loss:.4f} after {result.steps} steps; "
        f"wrote {output}"
    )


def generator_corpus_command(
    ctx: typer.Context,
    data: DataOption = Path("data"),
    split: SchemeOption = "scaffold",
    output: Annotated[
        Path, typer.Option("--output", "-o", help="Corpus folder (resumable).")
    ] = Path("data/generator_corpus"),
    limit: Annotated[int | None, typer.Option(help="At most this many molecules.")] = None,
    predictor_weights: Annotated[
        Path | None,
        typer.Option(
            "--predictor-weights",
            help="Forward model that simulates the spectra (train it on the same split); "
            "default: shipped.",
        ),
    ] = None,
    jobs: JobsOption = 1,
    device: DeviceOption = "auto",
) -> None:
    """Predict spectra for MOSES + training-split molecules: the simulated pretraining corpus.

    Resumable: finished parts are kept; corpus.json records the split and the forward model.
    [bold]Example[/bold]: nmrpeak train generator-corpus --data data/ --split random
    --predictor-weights models/predictor_random.safetensors
    """
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from nmrpeak_cli.generate.corpus import read_smiles, simulate_corpus, write_manifest
    from nmrpeak_cli.predict.forward import ForwardModel
    from nmrpeak_cli.predict.weights import default_weights

    column = f"split_{split}"
    try:
        smiles = read_smiles(data / "experimental.parquet", split_column=column)
        moses = data / "simulated_molecules.parquet"
        if moses.is_file():
            smiles += read_smiles(moses)
        table = pq.read_table(data / "experimental.parquet", columns=["inchikey", column])
        held = table.filter(pc.not_equal(table[column], "train")).column("inchikey").to_pylist()
    except (NmrpeakError, OSError) as exc:
        raise fail(str(exc)) from None
    smiles = smiles[:limit] if limit is not None else smiles
    forward = predictor_weights or default_weights()
    warn_split_leaks(split, {"forward model": forward_card(forward)})
    context = command_context(ctx, device=device, jobs=jobs)
    predictor = ForwardModel(forward, context.device)
    with progress_bar(context, "simulate", total=len(set(smiles))) as advance:
        try:
            parts = simulate_corpus(
                smiles, output, predictor, held_out_keys={k[:14] for k in held},
                jobs=context.jobs, progress=advance,
            )  # fmt: skip
        except NmrpeakError as exc:
            raise fail(str(exc)) from None
    write_manifest(
        output, split=split, data=data, predictor_weights=forward, parts=parts,
        command="nmrpeak " + shlex.join(sys.argv[1:]),
    )  # fmt: skip
    stderr_console().print(f"{len(parts)} parts in {output}")


@option_groups
def generator_fusion_command(
    ctx: typer.Context,
    data: DataOption = Path("data"),
    split: SchemeOption = "scaffold",
    limit: Annotated[int, typer.Option(min=10, help="Validation queries to use.")] = 300,
    beam: BeamOption = 10,
    models: ModelFiles = ModelFiles(),
    device: DeviceOption = "auto",
) -> None:
    """Fit the rerank score fusion on the VALIDATION queries and store it in the model card.

    [bold]Example[/bold]: nmrpeak train generator-fusion --data data/ --split scaffold
    """
    from nmrpeak_cli.generate.bench import calibrate
    from nmrpeak_cli.generate.model import save_generator, weights_path
    from nmrpeak_cli.generate.rerank import default_similarity
    from nmrpeak_cli.io import read_spectra
    from nmrpeak_cli.predict.forward import ForwardModel
    from nmrpeak_cli.spectra import Spectrum

    path = data / "queries" / f"{split}_valid.parquet"
    try:
        spectra = [s for b in read_spectra(path) for s in b if isinstance(s, Spectrum)]
    except NmrpeakError as exc:
        raise fail(str(exc)) from None
    generator = load_generator_or_exit(models.weights, command_context(ctx, device=device).device)
    warn_split_leaks(
        split,
        {"generator": generator.card, "forward model": forward_card(models.predictor_weights)},
    )
    try:
        calibrated = calibrate(
            generator, spectra[:limit],
            ForwardModel(models.predictor_weights, generator.device.type),
            default_similarity(), beam=beam, fitted_on=f"{path} (first {limit})",
        )  # fmt: skip
    except (NmrpeakError, ValueError) as exc:
        raise fail(str(exc)) from None
    target = models.weights or weights_path()
    save_generator(calibrated, target, half=calibrated.card.get("dtype") == "float16")
    stderr_console().print(f"fusion {calibrated.fusion.to_dict()} written to {target}")


def register(app: typer.Typer) -> None:
    """Add ``generate`` and the ``train``/``bench`` generator subcommands."""
    app.command("generate")(generate_command)
    train_app.command("generator")(train_generator_command)
    train_app.command("generator-corpus")(generator_corpus_command)
    train_app.command("generator-fusion")(generator_fusion_command)
    from nmrpeak_cli.cli.bench_generate import bench_generate_command

    bench_app.command("generate")(bench_generate_command)
