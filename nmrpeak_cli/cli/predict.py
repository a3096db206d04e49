"""``nmrpeak predict``, ``nmrpeak train predictor`` and ``nmrpeak bench predict``.

Thin wrappers over :mod:`nmrpeak_cli.predict`: parse options, call one library function,
render. torch and RDKit are imported inside the commands so ``--help`` stays instant.
"""

from __future__ import annotations

import gzip
import io
import json
import shlex
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import typer

from nmrpeak_cli.batch import resolve_shard
from nmrpeak_cli.cli.common import (
    ExitCode,
    JobsOption,
    OutOption,
    ShardOption,
    fail,
    progress_bar,
    run_context,
    stderr_console,
    stdout_console,
)
from nmrpeak_cli.cli.groups import bench_app, train_app

_SMILES_SUFFIXES = (".smi", ".smiles", ".txt")


def _read_smiles_lines(handle: io.TextIOBase, source: str) -> Iterator[tuple[str, str]]:
    """``(id, smiles)`` from SMILES-per-line text: ``SMILES [id]``; ``#`` comments skipped."""
    for number, line in enumerate(handle, start=1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        parts = text.split(maxsplit=1)
        if number == 1 and parts[0].lower() in {"smiles", "smi"}:
            continue  # header line
        yield (parts[1].strip() if len(parts) > 1 else f"{source}:{number}"), parts[0]


def _read_molecules(source: str) -> Iterator[tuple[str, str]]:
    """Molecules of INPUT via the I/O layer when it provides ``read_molecules``, else SMILES files."""
    try:
        from nmrpeak_cli.io import read_molecules  # type: ignore[attr-defined]
    except ImportError:
        read_molecules = None
    if read_molecules is not None:
        for record in read_molecules(source):
            yield str(getattr(record, "id", record[0])), str(getattr(record, "smiles", record[1]))
        return
    if source == "-":
        yield from _read_smiles_lines(sys.stdin, "stdin")
        return
    path = Path(source)
    name = path.name.lower().removesuffix(".gz")
    if not path.is_file():
        raise FileNotFoundError(f"input {source} not found")
    if not name.endswith(_SMILES_SUFFIXES):
        raise ValueError(
            f"input {source}: expected a SMILES file ({', '.join(_SMILES_SUFFIXES)}, gz allowed)"
        )
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as handle:
        yield from _read_smiles_lines(handle, path.name)


class _Sink:
    """Streams prediction rows to Parquet/JSONL (by extension), stdout JSONL, or a terminal table."""

    def __init__(self, output: str | None) -> None:
        from nmrpeak_cli.schema import PREDICTION_SCHEMA

        self.schema = PREDICTION_SCHEMA
        self.output = output
        self.table_rows: list[dict] = []
        self.parquet = None
        self.handle = None
        if output is None:
            self.mode = "table" if sys.stdout.isatty() else "jsonl"
            self.handle = sys.stdout if self.mode == "jsonl" else None
        elif output.lower().endswith(".parquet"):
            import pyarrow.parquet as pq

            self.mode = "parquet"
            self.parquet = pq.ParquetWriter(output, PREDICTION_SCHEMA, compression="zstd")
        elif output.lower().endswith(".jsonl"):
            self.mode = "jsonl"
            self.handle = open(output, "w", encoding="utf-8")  # noqa: SIM115 (closed in close())
        else:
            raise ValueError(f"--output {output}: expected a .parquet or .jsonl file")

    def write(self, rows: list[dict]) -> None:
        if self.mode == "parquet":
            from nmrpeak_cli.schema import rows_to_table

            self.parquet.write_table(rows_to_table(rows, self.schema))
        elif self.mode == "jsonl":
            self.handle.writelines(json.dumps(row) + "\n" for row in rows)
        else:
            self.table_rows.extend(rows)

    def close(self) -> None:
        if self.parquet is not None:
            self.parquet.close()
        if self.handle is not None and self.handle is not sys.stdout:
            self.handle.close()
        if self.mode == "table":
            _render_table(self.table_rows)


def _render_table(rows: list[dict]) -> None:
    from rich.table import Table

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


def register(app: typer.Typer) -> None:
    """Add ``predict`` to the app and ``predictor``/``predict`` to the ``train``/``bench`` groups."""

    @app.command("predict")
    def predict(
        ctx: typer.Context,
        input: Annotated[
            str | None,
            typer.Argument(
                help="Molecules: a SMILES file (or table once io lands), or - for stdin."
            ),
        ] = None,
        output: OutOption = None,
        smiles: Annotated[
            list[str] | None, typer.Option("--smiles", help="Inline SMILES (repeatable).")
        ] = None,
        solvent: Annotated[
            str | None, typer.Option(help="NMR solvent, e.g. CDCl3, DMSO-d6.")
        ] = None,
        batch_size: Annotated[
            int, typer.Option("--batch-size", min=1, help="Molecules per batch.")
        ] = 256,
        device: Annotated[str, typer.Option(help="auto, cpu or cuda.")] = "auto",
        jobs: JobsOption = 1,
        shard: ShardOption = None,
        weights: Annotated[
            Path | None,
            typer.Option(help="Weights (.safetensors with its .json card); default: shipped."),
        ] = None,
    ) -> None:
        """Predict 13C and 1H peak lists (shifts, multiplicities, atoms) for molecules.

        [bold]Examples[/bold]: nmrpeak predict --smiles "CCOC(=O)C" ·
        nmrpeak predict examples/molecules.smi -o predicted.parquet
        """
        from nmrpeak_cli.predict.featurize import solvent_index
        from nmrpeak_cli.predict.infer import predict_records, prediction_row

        context = run_context(ctx)
        if input is None and not smiles:
            raise fail("give INPUT or --smiles")
        try:
            solvent_index(solvent)
            selected = resolve_shard(shard)
        except ValueError as exc:
            raise fail(str(exc)) from None
        records: Iterator[tuple[str, str]] = (
            iter([(f"smiles:{i}", s) for i, s in enumerate(smiles or [])])
            if input is None
            else _read_molecules(input)
        )
        try:
            sink = _Sink(output)
        except (ValueError, OSError) as exc:
            raise fail(str(exc)) from None
        failed = total = 0
        try:
            with progress_bar(context, "predict") as advance:
                stream = predict_records(
                    selected.select(records),
                    solvent=solvent,
                    weights=weights,
                    batch_size=batch_size,
                    device=device,
                    jobs=context.jobs if jobs == 1 else jobs,
                )
                batch: list[dict] = []
                for prediction in stream:
                    batch.append(prediction_row(prediction))
                    total += 1
                    failed += prediction.error is not None
                    if len(batch) >= batch_size:
                        sink.write(batch)
                        advance(len(batch))
                        batch = []
                if batch:
                    sink.write(batch)
                    advance(len(batch))
        except (FileNotFoundError, ValueError, UnicodeDecodeError) as exc:
            raise fail(str(exc)) from None
        finally:
            sink.close()
        if total == 0:
            raise fail(f"no molecules in {input or '--smiles'}")
        if failed:
            stderr_console().print(f"{failed} of {total} records failed (see their error column)")
            raise typer.Exit(int(ExitCode.PARTIAL))

    @train_app.command("predictor")
    def train_predictor_command(
        ctx: typer.Context,
        data: Annotated[
            Path, typer.Option(help="Experimental table from `nmrpeak data prepare`.")
        ] = Path("data/experimental.parquet"),
        out_dir: Annotated[Path, typer.Option("--out-dir", help="Checkpoint folder.")] = Path(
            "runs/predictor"
        ),
        split: Annotated[str, typer.Option(help="Split column: scaffold or random.")] = "scaffold",
        quick: Annotated[
            bool, typer.Option("--quick", help="Tiny model on a few hundred molecules.")
        ] = False,
        resume: Annotated[
            bool, typer.Option("--resume", help="Continue from the last checkpoint.")
        ] = False,
        epochs: Annotated[int | None, typer.Option(min=1)] = None,
        hidden: Annotated[int | None, typer.Option(min=8)] = None,
        layers: Annotated[int | None, typer.Option(min=1)] = None,
        batch_size: Annotated[int | None, typer.Option("--batch-size", min=1)] = None,
        lr: Annotated[float | None, typer.Option(min=0.0)] = None,
        threads: Annotated[int, typer.Option(min=1, help="torch CPU threads.")] = 1,
        time_limit: Annotated[
            float | None,
            typer.Option("--time-limit", help="Stop after the epoch passing this many minutes."),
        ] = None,
        export: Annotated[
            Path | None,
            typer.Option(
                help="Write the best checkpoint here with a full model card (test metrics)."
            ),
        ] = None,
    ) -> None:
        """Train the forward 13C/1H model assignment-free on the training split.

        [bold]Example[/bold]: nmrpeak train predictor --data data/experimental.parquet --export models/predictor.safetensors
        """
        from nmrpeak_cli.predict.train import TrainConfig, export_predictor, train_predictor

        context = run_context(ctx)
        overrides = {
            k: v
            for k, v in {
                "epochs": epochs,
                "hidden": hidden,
                "layers": layers,
                "batch_size": batch_size,
                "lr": lr,
            }.items()
            if v is not None
        }
        base = {
            "data": str(data),
            "out_dir": str(out_dir),
            "split_column": f"split_{split}",
            "seed": context.seed,
            "threads": threads,
            "time_limit_min": time_limit,
        }
        config = (
            TrainConfig.quick(**base, **overrides) if quick else TrainConfig(**base, **overrides)
        )
        log = stderr_console().print
        result = train_predictor(config, resume=resume, log=log)
        log(f"best epoch {result.best_epoch}: {result.best_weights}")
        if export is not None:
            command = "nmrpeak " + " ".join(shlex.quote(a) for a in sys.argv[1:])
            card = export_predictor(out_dir, export, command, log=log)
            log(f"wrote {export} and {card}")

    @bench_app.command("predict")
    def bench_predict_command(
        ctx: typer.Context,
        split: Annotated[
            str,
            typer.Option(
                help="scaffold, random, or a query table (.parquet) with a smiles column."
            ),
        ] = "scaffold",
        data: Annotated[
            Path, typer.Option(help="Experimental table from `nmrpeak data prepare`.")
        ] = Path("data/experimental.parquet"),
        output: Annotated[
            Path | None, typer.Option("--output", "-o", help="Report (.json or .md).")
        ] = None,
        weights: Annotated[
            Path | None, typer.Option(help="Weights to benchmark; default: shipped.")
        ] = None,
        baselines: Annotated[
            bool, typer.Option(help="Also run the HOSE and csp5 baselines.")
        ] = True,
        limit: Annotated[
            int | None, typer.Option(help="Use at most this many test molecules.")
        ] = None,
    ) -> None:
        """Benchmark the predictor (13C/1H MAE, peak counts, throughput) against HOSE codes and csp5.

        [bold]Example[/bold]: nmrpeak bench predict --split scaffold -o benchmarks/predict_scaffold.md
        """
        from nmrpeak_cli.predict.bench import render_markdown, run_benchmark

        report = run_benchmark(
            split=split,
            data=data,
            weights=weights,
            baselines=baselines,
            limit=limit,
            log=stderr_console().print,
        )
        text = render_markdown(report)
        if output is None:
            typer.echo(text)
        elif output.suffix == ".json":
            output.write_text(json.dumps(report, indent=2) + "\n")
        else:
            output.write_text(text)
