"""``nmrpeak predict``, ``nmrpeak train predictor`` and ``nmrpeak bench predict``.

Thin wrappers over :mod:`nmrpeak_cli.predict`: parse options, call one library function,
render. torch and RDKit are imported inside the commands so ``--help`` stays instant.
"""

from __future__ import annotations

import dataclasses
import json
import shlex
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from nmrpeak_cli.cli.common import (
    command_context,
    fail,
    progress_bar,
    run_context,
    stderr_console,
    warn_split_leaks,
    write_bench_report,
)
from nmrpeak_cli.cli.groups import bench_app, train_app
from nmrpeak_cli.cli.options import (
    BatchFlags,
    BenchOutOption,
    DeviceOption,
    OutOption,
    TrainingResumeOption,
    option_groups,
)
from nmrpeak_cli.cli.runner import batch_options, exit_for, run_batch
from nmrpeak_cli.errors import NotAvailableError

if TYPE_CHECKING:
    from nmrpeak_cli.io.records import MoleculeRecord


ExperimentalTableOption = Annotated[
    Path, typer.Option(help="Experimental table from `nmrpeak data prepare`.")
]


def _read_molecules(source: str) -> Iterator[MoleculeRecord]:
    """:class:`~nmrpeak_cli.io.records.MoleculeRecord` records of INPUT via the I/O layer;
    unreadable records pass through with their error."""
    from nmrpeak_cli.io import MoleculeRecord, RecordError, read_molecules

    for batch in read_molecules(source):
        for item in batch:
            if isinstance(item, RecordError):
                yield MoleculeRecord(item.record, "", error=str(item))
            else:
                yield item


def _render_table(rows: list[dict]) -> None:
    from rich.table import Table

    from nmrpeak_cli.cli.common import stdout_console

    table = Table(show_lines=True)
    for column in ("id", "smiles", "13C", "1H"):
        table.add_column(column, overflow="fold")
    for row in rows:
        if row["error"]:
            table.add_row(row["id"], row["smiles"] or "", f"[red]{row['error']}[/red]", "")
            continue
        c13 = ", ".join(
            f"{p['shift']:.1f}" + (f" ({p['n_atoms']}C)" if p["n_atoms"] > 1 else "")
            for p in row["c13"]
        )
        h1 = ", ".join(
            f"{p['shift']:.2f} ({p['multiplicity']}"
            + (f", J = {', '.join(f'{j:g}' for j in p['j_hz'])} Hz" if p["j_hz"] else "")
            + f", {p['integration']:g}H{', exch.' if p['exchangeable'] else ''})"
            for p in row["h1"]
        )
        table.add_row(row["id"], row["smiles"], c13, h1)
    stdout_console().print(table)


def _split_column(split: str) -> str:
    """``split_<name>`` for scaffold/random, ``all`` as is; anything else is a usage error."""
    if split not in {"scaffold", "random", "all"}:
        raise typer.BadParameter(
            f"expected scaffold, random or all, got {split!r}", param_hint="--split"
        )
    return split if split == "all" else f"split_{split}"


@option_groups
def predict(
    ctx: typer.Context,
    input: Annotated[
        str | None,
        typer.Argument(
            help="Molecules: a SMILES file, a table with a smiles column, an SDF, or - for stdin."
        ),
    ] = None,
    output: OutOption = None,
    smiles: Annotated[
        list[str] | None, typer.Option("--smiles", help="Inline SMILES (repeatable).")
    ] = None,
    solvent: Annotated[str | None, typer.Option(help="NMR solvent, e.g. CDCl3, DMSO-d6.")] = None,
    batch_size: Annotated[
        int, typer.Option("--batch-size", min=1, help="Molecules per batch.")
    ] = 256,
    device: DeviceOption = "auto",
    batch: BatchFlags = BatchFlags(),
    weights: Annotated[
        Path | None,
        typer.Option(help="Weights (.safetensors with its .json card); default: shipped."),
    ] = None,
) -> None:
    """Predict 13C and 1H peak lists (shifts, multiplicities, atoms) for molecules.

    INPUT is read in streamed batches; each finished batch of a file output is saved at
    once, so a killed run continues with [bold]--resume[/bold]. Records that cannot be
    predicted get a row with an error (exit code 1).

    [bold]Examples[/bold]: nmrpeak predict --smiles "CCOC(=O)C" ·
    nmrpeak predict examples/molecules.smi -o predicted.parquet ·
    nmrpeak predict big.smi -o part.parquet --shard $SLURM_ARRAY_TASK_ID/100 --jobs 0 --resume
    """
    from nmrpeak_cli.io.records import MoleculeRecord
    from nmrpeak_cli.outputs import record_key
    from nmrpeak_cli.predict.featurize import solvent_index
    from nmrpeak_cli.predict.infer import PredictBatch, process_model
    from nmrpeak_cli.predict.weights import default_weights, read_card
    from nmrpeak_cli.schema import PREDICTION_SCHEMA

    if input is None and not smiles:
        raise fail("give INPUT or --smiles")
    if input is not None and smiles:
        raise fail("give either INPUT or --smiles, not both")
    options = batch_options(batch, output=output, batch_size=batch_size)
    context = command_context(ctx, device=device)
    torch_device = context.device
    try:
        solvent_index(solvent)
        weights_path = Path(weights) if weights is not None else default_weights()
        process_model(weights_path, torch_device)  # one clear message for bad weights
        card = read_card(weights_path)
    except (NotAvailableError, ValueError) as exc:
        raise fail(str(exc)) from None
    gpu = torch_device.startswith("cuda")
    process = PredictBatch(
        weights_path,
        solvent,
        torch_device,
        threads=1 if options.jobs > 1 and not gpu else None,
    )
    records = (
        iter([MoleculeRecord(f"smiles{i + 1}", s) for i, s in enumerate(smiles or [])])
        if input is None
        else _read_molecules(input)
    )
    summary = run_batch(
        context,
        records,
        process,
        key=lambda r: record_key(r.id, [r.smiles, r.solvent or solvent]),
        schema=PREDICTION_SCHEMA,
        options=options,
        digest={"predictor": card.get("sha256"), "solvent": solvent},
        render=_render_table,
        description="predict",
        jobs=1 if gpu else None,  # one GPU worker, batched
    )
    exit_for(summary, f"molecules in {input or '--smiles'}")


def train_predictor_command(
    ctx: typer.Context,
    data: Annotated[
        Path | None,
        typer.Option(
            help="Experimental table from `nmrpeak data prepare` "
            "(default: data/experimental.parquet)."
        ),
    ] = None,
    out_dir: Annotated[Path, typer.Option("--out-dir", help="Checkpoint folder.")] = Path(
        "runs/predictor"
    ),
    split: Annotated[
        str | None,
        typer.Option(
            help="scaffold or random (train on that split's training part), or all: every "
            "row of --data and literature.parquet next to it, minus a 5 % validation "
            "carve-out by InChIKey first block (the shipped model). Default: scaffold."
        ),
    ] = None,
    quick: Annotated[
        bool, typer.Option("--quick", help="Tiny model on a few hundred molecules.")
    ] = False,
    resume: TrainingResumeOption = False,
    epochs: Annotated[int | None, typer.Option(min=1)] = None,
    hidden: Annotated[int | None, typer.Option(min=8)] = None,
    layers: Annotated[int | None, typer.Option(min=1)] = None,
    batch_size: Annotated[int | None, typer.Option("--batch-size", min=1)] = None,
    lr: Annotated[float | None, typer.Option(min=0.0)] = None,
    dropout: Annotated[
        float | None, typer.Option(min=0.0, max=0.9, help="Dropout in the layer MLPs.")
    ] = None,
    weight_decay: Annotated[
        float | None, typer.Option("--weight-decay", min=0.0, help="AdamW weight decay.")
    ] = None,
    threads: Annotated[int, typer.Option(min=1, help="torch CPU threads.")] = 1,
    warmup_epochs: Annotated[
        int | None,
        typer.Option(
            "--warmup-epochs", min=0, help="First epochs matched by the rule-based prior."
        ),
    ] = None,
    init_weights: Annotated[
        Path | None, typer.Option("--init-weights", help="Start from these weights.")
    ] = None,
    time_limit: Annotated[
        float | None,
        typer.Option("--time-limit", help="Stop after the epoch passing this many minutes."),
    ] = None,
    export: Annotated[
        Path | None,
        typer.Option(help="Write the best checkpoint here with a full model card (test metrics)."),
    ] = None,
) -> None:
    """Train the forward 13C/1H model assignment-free on the training split.

    [bold]Example[/bold]: nmrpeak train predictor --data data/experimental.parquet --export models/predictor.safetensors
    """
    from nmrpeak_cli.predict.train import (
        TrainConfig,
        export_predictor,
        stored_config,
        train_predictor,
    )

    context = run_context(ctx)
    given = {
        k: v
        for k, v in {
            "data": None if data is None else str(data),
            "split_column": None if split is None else _split_column(split),
            "epochs": epochs,
            "hidden": hidden,
            "layers": layers,
            "batch_size": batch_size,
            "lr": lr,
            "dropout": dropout,
            "weight_decay": weight_decay,
            "warmup_epochs": warmup_epochs,
            "init_weights": None if init_weights is None else str(init_weights),
        }.items()
        if v is not None
    }
    runtime = {"out_dir": str(out_dir), "threads": threads, "time_limit_min": time_limit}
    if resume:  # the checkpoint defines the run; given options must agree with it
        stored = stored_config(out_dir)
        config = dataclasses.replace(stored, **given, **runtime)  # keeps its seed
    else:
        base = {"seed": context.seed, **runtime}
        config = TrainConfig.quick(**base, **given) if quick else TrainConfig(**base, **given)
    log = stderr_console().print
    result = train_predictor(config, resume=resume, log=log)
    log(f"best epoch {result.best_epoch}: {result.best_weights}")
    if export is not None:
        command = "nmrpeak " + " ".join(shlex.quote(a) for a in sys.argv[1:])
        card = export_predictor(out_dir, export, command, log=log)
        log(f"wrote {export} and {card}")


def train_uncertainty_command(
    weights: Annotated[
        Path, typer.Option(help="Predictor whose card receives the calibration.")
    ] = Path("models/predictor.safetensors"),
    members: Annotated[
        list[Path] | None,
        typer.Option("--member", help="Further ensemble member next to --weights (repeatable)."),
    ] = None,
    data: ExperimentalTableOption = Path("data/experimental.parquet"),
    split: Annotated[
        str,
        typer.Option(
            help="Split whose validation part is used: scaffold, random or all (its carve-out)."
        ),
    ] = "scaffold",
) -> None:
    """Calibrate per-peak uncertainty (shift_sd) on the validation split: ensemble spread
    plus environment floors, times molecule factors (novelty with a memory, heavy-atom
    count), so that shift ± 1.645 sd covers 90 % of observed shifts; the card also gets the
    scaffold-grouped cross-validated coverage.

    [bold]Example[/bold]: nmrpeak train uncertainty --weights models/predictor.safetensors
    """
    from nmrpeak_cli.predict.uncertainty import calibrate_predictor

    calibration = calibrate_predictor(
        weights, data=data, split_column=_split_column(split), members=members or ()
    )
    stderr_console().print(
        f"wrote the uncertainty of {weights} ({calibration.members} member(s)) into its "
        f"card; validation: {json.dumps(calibration.validation)}"
    )


def train_memory_command(
    weights: Annotated[
        Path,
        typer.Option(help="Predictor whose residuals are stored; its card receives the memory."),
    ] = Path("models/predictor.safetensors"),
    split: Annotated[
        str,
        typer.Option(
            help="Split: training part stored, validation part fits: scaffold, random or all."
        ),
    ] = "scaffold",
    data: ExperimentalTableOption = Path("data/experimental.parquet"),
    output: Annotated[
        Path | None,
        typer.Option(
            "--output", "-o", help="Memory file (default: <weights stem>_memory.safetensors)."
        ),
    ] = None,
) -> None:
    """Build the environment memory of a predictor: its training residuals per HOSE code,
    added back where a test atom's environment was seen (shrinkage chosen on validation).

    Rerun `nmrpeak train uncertainty` afterwards (the calibration is removed from the card).
    [bold]Example[/bold]: nmrpeak train memory --weights models/predictor_v2.safetensors --split scaffold
    """
    from nmrpeak_cli.predict.memory_build import train_memory

    command = "nmrpeak " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    try:
        train_memory(
            weights,
            data=data,
            split_column=_split_column(split),
            output=output,
            command=command,
            log=stderr_console().print,
        )
    except NotAvailableError as exc:
        raise fail(str(exc)) from None


def bench_predict_command(
    ctx: typer.Context,
    split: Annotated[
        str,
        typer.Option(help="scaffold, random, or a query table (.parquet) with a smiles column."),
    ] = "scaffold",
    data: ExperimentalTableOption = Path("data/experimental.parquet"),
    output: BenchOutOption = None,
    weights: Annotated[
        Path | None, typer.Option(help="Weights to benchmark; default: shipped.")
    ] = None,
    baselines: Annotated[bool, typer.Option(help="Also run the HOSE and csp5 baselines.")] = True,
    limit: Annotated[int | None, typer.Option(help="Use at most this many test molecules.")] = None,
    csp5_limit: Annotated[
        int, typer.Option("--csp5-limit", min=0, help="Molecules given to csp5.")
    ] = 300,
    cache: Annotated[
        Path | None,
        typer.Option(help="Keep/reuse baseline predictions in this folder."),
    ] = Path("runs/bench_cache"),
) -> None:
    """Benchmark the predictor (13C/1H MAE, peak counts, throughput) against HOSE codes and csp5.

    [bold]Example[/bold]: nmrpeak bench predict --split scaffold -o benchmarks/predict_scaffold.md
    """
    from nmrpeak_cli.predict.bench import render_markdown, run_benchmark
    from nmrpeak_cli.predict.weights import default_weights, read_card

    try:
        card = read_card(weights or default_weights())
    except NotAvailableError as exc:
        raise fail(str(exc)) from None
    leaks = warn_split_leaks(split, {"predictor": card})
    report = run_benchmark(
        split=split,
        data=data,
        weights=weights,
        baselines=baselines,
        limit=limit,
        csp5_limit=csp5_limit,
        cache=cache,
        log=stderr_console().print,
    )
    report["split_warnings"] = leaks
    _write_report(report, render_markdown(report), output)


def bench_coverage_command(
    ctx: typer.Context,
    molecules: Annotated[
        str, typer.Argument(help="Molecules: SMILES file, table with a smiles column, or SDF.")
    ],
    output: BenchOutOption = None,
    weights: Annotated[
        Path | None, typer.Option(help="Weights to measure; default: shipped.")
    ] = None,
) -> None:
    """Coverage: the share of molecules the predictor handles, and why the others are refused.

    Salts and mixtures (largest organic component), rare elements and charged molecules
    count as covered and are broken down; refusals are counted by kind with an example.
    [bold]Example[/bold]: nmrpeak bench coverage ../shared/data/nmrshiftdb2/nmrshiftdb2_molecules.parquet
    """
    from nmrpeak_cli.predict.bench import coverage_report, render_coverage
    from nmrpeak_cli.predict.weights import default_weights, load_model

    try:
        model = load_model(weights)
    except NotAvailableError as exc:
        raise fail(str(exc)) from None
    records = ((r.id, r.smiles) for r in _read_molecules(molecules))
    with progress_bar(run_context(ctx), "predict") as advance:
        report = coverage_report(records, model, progress=advance)
    report["source"] = molecules
    report["weights"] = str(weights or default_weights())
    _write_report(report, render_coverage(report), output)


def _write_report(report: dict, markdown: str, output: Path | None) -> None:
    """A benchmark report: Markdown on stdout without ``output``, else written to it
    (:func:`~nmrpeak_cli.cli.common.write_bench_report`)."""
    if output is None:
        typer.echo(markdown)
    write_bench_report(report, markdown, output)


def register(app: typer.Typer) -> None:
    """Add ``predict`` to the app and ``predictor``/``predict`` to the ``train``/``bench`` groups."""
    app.command("predict")(predict)
    train_app.command("predictor")(train_predictor_command)
    train_app.command("uncertainty")(train_uncertainty_command)
    train_app.command("memory")(train_memory_command)
    bench_app.command("predict")(bench_predict_command)
    bench_app.command("coverage")(bench_coverage_command)
