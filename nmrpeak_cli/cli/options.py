"""The command-line options shared by several commands, each declared once.

A command names its parameters with these types (``jobs: JobsOption = 1``); the flag, help
text and limits then read the same in every ``--help``. Options only one command has stay in
that command's module.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

# --------------------------------------------------------------------------------------------
# Batch commands (DESIGN.md §3): output, sharding, workers, resume, backend
# --------------------------------------------------------------------------------------------

ShardOption = Annotated[
    str | None,
    typer.Option(
        "--shard",
        help="Process only shard I of N (0-based, e.g. 3/16). Default: SLURM_ARRAY_TASK_ID/"
        "SLURM_ARRAY_TASK_COUNT when set.",
        metavar="I/N",
    ),
]
JobsOption = Annotated[
    int, typer.Option("--jobs", "-j", help="Worker processes (0 = all cores).", min=0)
]
OutOption = Annotated[
    str | None,
    typer.Option(
        "--output",
        "-o",
        help="Output file; format from the extension (.parquet .csv .jsonl .sdf). "
        "Default: a table on a terminal, JSONL on a pipe.",
        metavar="OUT",
    ),
]
BenchOutOption = Annotated[
    Path | None,
    typer.Option(
        "--output", "-o", help="Report: .json (plus its Markdown as .md next to it) or .md."
    ),
]
"""A benchmark's report file, written by :func:`~nmrpeak_cli.cli.common.write_bench_report`:
JSON (``.json``, with the Markdown next to it) or Markdown (``.md``); without it, Markdown on
stdout."""


ResumeOption = Annotated[
    bool,
    typer.Option(
        "--resume",
        help="Skip records whose results are already in OUT (or in its unfinished parts after "
        "a killed run); needs -o FILE.",
    ),
]
TrainingResumeOption = Annotated[
    bool,
    typer.Option(
        "--resume-training",
        "--resume",
        help="Continue the training run from the checkpoints in its run folder (also after a "
        "kill). Not the batch commands' --resume, which skips finished records; --resume is "
        "kept here as an alias.",
    ),
]
BackendOption = Annotated[
    str,
    typer.Option(
        "--backend",
        help="local (worker processes on this machine) or dask (a Dask cluster, see --scheduler).",
        metavar="local|dask",
    ),
]
SchedulerOption = Annotated[
    str | None,
    typer.Option(
        "--scheduler",
        help="Dask scheduler address (tcp://host:8786) for --backend dask; default: "
        "DASK_SCHEDULER_ADDRESS.",
        metavar="ADDRESS",
    ),
]

# --------------------------------------------------------------------------------------------
# Queries and candidates (retrieve, generate, elucidate)
# --------------------------------------------------------------------------------------------

QueryArg = Annotated[
    str | None,
    typer.Argument(
        help="Query spectra: a file (.csv .tsv .parquet .jsonl .sdf, gz allowed), a folder, or - "
        "for stdin. Omit to give one query inline with --c13/--h1/--formula."
    ),
]
C13Option = Annotated[
    str | None, typer.Option("--c13", help='Inline 13C peaks, e.g. "170.2, 128.4, 77.0".')
]
H1Option = Annotated[
    str | None, typer.Option("--h1", help='Inline 1H peaks, e.g. "7.26 (d, J = 8.4 Hz, 2H)".')
]
FormulaOption = Annotated[
    str | None, typer.Option("--formula", help="Molecular formula of the inline query.")
]
SolventOption = Annotated[str | None, typer.Option(help="NMR solvent of the inline query.")]
KOption = Annotated[int, typer.Option("-k", "--top-k", min=1, help="Candidates per query.")]
ReportOption = Annotated[
    Path | None,
    typer.Option(
        "--report",
        help="Write one HTML report per query here: top candidates with depictions and "
        "predicted-vs-query spectrum overlays (needs matplotlib).",
        metavar="DIR",
    ),
]
BeamOption = Annotated[
    int,
    typer.Option(
        "--beam",
        min=1,
        help="Beam width; wider finds more at proportional cost (20 instead of 10 raised "
        "validation top-1 by about 5 points, see benchmarks/RESULTS.md).",
    ),
]
SamplesOption = Annotated[
    int,
    typer.Option(
        "--samples",
        min=0,
        help="Sampled SMILES pooled with the beam before reranking (0: beam only); "
        "sampling reaches structures the beam prunes, at extra decoding cost.",
    ),
]
SearchOption = Annotated[
    bool,
    typer.Option(
        "--search",
        help="Structure search after the rerank: the beam's structures are mutated by "
        "formula-preserving moves and fragment recombination and re-scored by forward "
        "prediction (see benchmarks/RESULTS.md#generate).",
    ),
]
SearchBudgetOption = Annotated[
    int,
    typer.Option(
        "--search-budget", min=0, help="Forward predictions per query of the structure search."
    ),
]
TimeLimitOption = Annotated[
    float,
    typer.Option(
        "--time-limit", min=0.0, help="Wall seconds per query of the structure search (0: none)."
    ),
]
WeightsOption = Annotated[
    Path | None,
    typer.Option(
        help="Generator weights (.safetensors with card and tokenizer); default: shipped."
    ),
]
PredictorOption = Annotated[
    Path | None,
    typer.Option(
        "--predictor-weights", help="Forward-model weights for reranking; default: shipped."
    ),
]
NoRerankOption = Annotated[
    bool, typer.Option("--no-rerank", help="Keep beam order (no forward-prediction rerank).")
]
BatchSizeOption = Annotated[
    int,
    typer.Option(
        "--batch-size", min=1, help="Queries decoded together (one saved output part each)."
    ),
]
FormulaPolicyOption = Annotated[
    str,
    typer.Option(
        "--formula-policy",
        help="Candidates whose formula differs from the query's: reject, penalize or ignore.",
    ),
]


# --------------------------------------------------------------------------------------------
# Models, devices and prepared data
# --------------------------------------------------------------------------------------------

LibraryOption = Annotated[
    Path | None,
    typer.Option(
        "--library",
        "-l",
        help="Library directory (from `nmrpeak library build`); default: the one "
        "`nmrpeak library default` built, when present.",
        metavar="LIBDIR",
        show_default=False,
    ),
]
DeviceOption = Annotated[str, typer.Option(help="auto, cpu or cuda.")]
DataOption = Annotated[Path, typer.Option(help="Folder from `nmrpeak data prepare`.")]
SchemeOption = Annotated[str, typer.Option("--split", help="Split scheme: scaffold or random.")]
