"""The command-line options shared by several commands, each declared once.

A command names its parameters with these types (``jobs: JobsOption = 1``); the flag, help
text and limits then read the same in every ``--help``. Options that travel together
(the inline query, the batch flags, ...) are an :class:`OptionGroup`: a command takes one
parameter of the group's type and :func:`option_groups` lists its fields as options in that
place. Options only one command has stay in that command's module.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

F = TypeVar("F", bound=Callable[..., Any])

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


# --------------------------------------------------------------------------------------------
# Option groups: options that several commands take together
# --------------------------------------------------------------------------------------------


class OptionGroup:
    """Base of a frozen dataclass whose fields are command-line options (``Annotated`` types
    with their defaults). A command parameter of the group's type (its default an instance
    holding the command's defaults) stands for all of them: see :func:`option_groups`."""


def option_groups(command: F) -> F:
    """``command`` with each :class:`OptionGroup` parameter listed as the group's options, in
    its place and with the defaults of the parameter's default instance; the command is called
    with the group built from them. Typer reads the listed signature, so ``--help`` shows the
    options one by one, as if the command declared them itself."""
    signature = inspect.signature(command, eval_str=True)
    listed: list[inspect.Parameter] = []
    groups: dict[str, tuple[type, tuple[str, ...]]] = {}
    for param in signature.parameters.values():
        group = param.annotation
        if not (isinstance(group, type) and issubclass(group, OptionGroup)):
            listed.append(param)
            continue
        default = group() if param.default is inspect.Parameter.empty else param.default
        hints = typing.get_type_hints(group, include_extras=True)
        names = tuple(field.name for field in dataclasses.fields(group))
        listed += [
            inspect.Parameter(
                name, param.kind, default=getattr(default, name), annotation=hints[name]
            )
            for name in names
        ]
        groups[param.name] = (group, names)

    @functools.wraps(command)
    def grouped(*args: Any, **kwargs: Any) -> Any:
        for name, (group, names) in groups.items():
            kwargs[name] = group(**{field: kwargs.pop(field) for field in names})
        return command(*args, **kwargs)

    grouped.__signature__ = signature.replace(parameters=listed)  # type: ignore[attr-defined]
    grouped.__annotations__ = {p.name: p.annotation for p in listed}
    return typing.cast(F, grouped)


@dataclasses.dataclass(frozen=True)
class InlineQuery(OptionGroup):
    """One query given on the command line instead of a QUERY file."""

    c13: C13Option = None
    h1: H1Option = None
    formula: FormulaOption = None
    solvent: SolventOption = None


@dataclasses.dataclass(frozen=True)
class BatchFlags(OptionGroup):
    """How a batch command runs (DESIGN.md §3): workers, job-array shard, resume, backend;
    checked into :class:`~nmrpeak_cli.cli.runner.BatchOptions` by
    :func:`~nmrpeak_cli.cli.runner.batch_options`."""

    jobs: JobsOption = 1
    shard: ShardOption = None
    resume: ResumeOption = False
    backend: BackendOption = "local"
    scheduler: SchedulerOption = None


@dataclasses.dataclass(frozen=True)
class TopK(OptionGroup):
    """Candidates per query and the generator's beam width."""

    k: KOption = 10
    beam: BeamOption = 10


@dataclasses.dataclass(frozen=True)
class Ranking(OptionGroup):
    """How generated candidates are ranked: the forward-prediction rerank, the formula policy
    and the structure search after it (``generate`` defaults; ``elucidate`` searches by
    default, with a smaller budget)."""

    no_rerank: NoRerankOption = False
    formula_policy: FormulaPolicyOption = "reject"
    search: SearchOption = False
    search_budget: SearchBudgetOption = 1000
    time_limit: TimeLimitOption = 10.0


@dataclasses.dataclass(frozen=True)
class ModelFiles(OptionGroup):
    """The generator's weights and the forward model's that rerank its candidates."""

    weights: WeightsOption = None
    predictor_weights: PredictorOption = None
