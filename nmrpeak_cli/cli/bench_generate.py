"""``nmrpeak bench generate``: exact-match accuracy of generation (and of the structure search,
with or without library seeds) on a query table with ``smiles``; a thin wrapper over
:mod:`nmrpeak_cli.generate.bench`, split from :mod:`nmrpeak_cli.cli.generate`.
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from nmrpeak_cli.cli.common import (
    command_context,
    fail,
    forward_card,
    stderr_console,
    warn_split_leaks,
    write_bench_report,
)
from nmrpeak_cli.cli.generate import (
    SeedLibraryKOption,
    SeedLibraryOption,
    library_seeds,
    load_generator_or_exit,
    search_settings,
)
from nmrpeak_cli.cli.options import (
    BeamOption,
    BenchOutOption,
    DataOption,
    DeviceOption,
    ModelFiles,
    NoRerankOption,
    SamplesOption,
    SearchBudgetOption,
    SearchOption,
    TimeLimitOption,
    option_groups,
)
from nmrpeak_cli.errors import NmrpeakError, NotAvailableError


def _library_record(seeds: Any) -> dict[str, Any]:
    """The report's record of the seed library: folder, size, predictor, encoders used, k."""
    manifest = seeds.searcher().library.manifest
    return {
        "path": str(seeds.directory),
        "entries": manifest.get("counts", {}).get("entries"),
        "predictor": manifest.get("predictor"),
        "source": manifest.get("source"),
        "encoders": sorted(seeds.searcher().encoders),
        "k": seeds.k,
        "formula_policy": "ignore",
    }


@option_groups
def bench_generate_command(
    ctx: typer.Context,
    split: Annotated[
        str,
        typer.Option(
            help="scaffold or random (data/queries/<split>_test.parquet), or a query table "
            "with a smiles column."
        ),
    ] = "scaffold",
    data: DataOption = Path("data"),
    output: BenchOutOption = None,
    configs: Annotated[
        str, typer.Option(help="Comma-separated configurations (default: all six).")
    ] = "C,H,C+H,C+formula,H+formula,C+H+formula",
    limit: Annotated[
        int | None,
        typer.Option(help="Score the first N usable queries of each configuration only."),
    ] = None,
    beam: BeamOption = 10,
    samples: SamplesOption = 0,
    no_rerank: NoRerankOption = False,
    models: ModelFiles = ModelFiles(),
    simulated: Annotated[
        bool,
        typer.Option(
            "--simulated",
            help="Query with spectra the forward model predicts for the test molecules "
            "instead of their experimental ones (the simulation side of the "
            "simulation-to-experiment gap).",
        ),
    ] = False,
    unconstrained: Annotated[
        bool,
        typer.Option(
            "--unconstrained",
            help="Decode formula configurations freely and only filter by formula "
            "afterwards (default: decode under the formula's heavy-atom counts, as "
            "`generate` does).",
        ),
    ] = False,
    search: SearchOption = False,
    search_budget: SearchBudgetOption = 1000,
    time_limit: TimeLimitOption = 10.0,
    search_moves: Annotated[
        str,
        typer.Option(
            "--search-moves",
            help="Comma-separated local moves of --search (walk, swap, bond; empty for none).",
        ),
    ] = "walk,swap,bond",
    no_recombine: Annotated[
        bool, typer.Option("--no-recombine", help="--search without fragment recombination.")
    ] = False,
    no_repair: Annotated[
        bool,
        typer.Option("--no-repair", help="--search without repairing seeds two hydrogens off."),
    ] = False,
    off_formula_seeds: Annotated[
        bool,
        typer.Option(
            "--off-formula-seeds",
            help="Keep beam hypotheses of another hydrogen count as search seeds (they "
            "take beam slots from candidates of the formula).",
        ),
    ] = False,
    library: SeedLibraryOption = None,
    library_k: SeedLibraryKOption = 10,
    ssr_only: Annotated[
        bool,
        typer.Option(
            "--ssr-only",
            help="Retrieve the library seeds without the learned encoders (needed on a split "
            "the shipped encoders were not trained on: they may have seen its test molecules).",
        ),
    ] = False,
    library_peer: Annotated[
        bool,
        typer.Option(
            "--library-peer/--no-library-peer",
            help="With --library, also run the search without library seeds in the same run "
            "(its own prediction cache) as the peer row.",
        ),
    ] = True,
    device: DeviceOption = "auto",
) -> None:
    """Top-1/5/10 exact match, validity, formula match and time, per input configuration.

    [bold]Example[/bold]: nmrpeak bench generate --split scaffold -o benchmarks/generate_scaffold.json
    """
    from nmrpeak_cli.generate.bench import benchmark, render_markdown
    from nmrpeak_cli.generate.inputs import configuration
    from nmrpeak_cli.io import read_spectra
    from nmrpeak_cli.spectra import Spectrum

    path = (
        data / "queries" / f"{split}_test.parquet"
        if split in {"scaffold", "random"}
        else Path(split)
    )
    try:
        names = [configuration(c.strip()).name for c in configs.split(",") if c.strip()]
        spectra = [s for batch in read_spectra(path) for s in batch if isinstance(s, Spectrum)]
    except (ValueError, NmrpeakError) as exc:
        raise fail(str(exc)) from None
    if not any(s.smiles for s in spectra):
        raise fail(f"{path}: no query has a smiles column value (the truth) to score against")
    search_config = search_settings(
        search, search_budget, time_limit, recombine=not no_recombine, repair=not no_repair,
        moves=tuple(m.strip() for m in search_moves.split(",") if m.strip()),
    )  # fmt: skip
    if search_config is not None and no_rerank:
        raise fail("--search needs the forward model: drop --no-rerank")
    seeds = library_seeds(library, library_k, search_config, encoders=not ssr_only)
    weights, predictor_weights = models.weights, models.predictor_weights
    generator = load_generator_or_exit(weights, command_context(ctx, device=device).device)
    predictor = similarity = None
    if simulated or not no_rerank:
        from nmrpeak_cli.generate.rerank import default_similarity
        from nmrpeak_cli.predict.forward import ForwardModel

        predictor = ForwardModel(predictor_weights, generator.device.type)
        similarity = default_similarity()
    if simulated:
        from nmrpeak_cli.generate.corpus import simulate_queries

        truth = [s for s in spectra if s.smiles]
        try:
            made = simulate_queries([s.smiles for s in truth], predictor, [s.id for s in truth])
        except NotAvailableError as exc:
            raise fail(str(exc)) from None
        spectra = [s for s in made if s is not None]
        if no_rerank:
            predictor = similarity = None
    console = stderr_console()
    cards = {"generator": generator.card}
    if predictor is not None:
        cards["forward model"] = forward_card(predictor_weights)
    if seeds is not None:
        from nmrpeak_cli.artifacts import read_card
        from nmrpeak_cli.retrieve.encoders import shipped_encoder_path

        for name in seeds.searcher().encoders:
            cards[f"retriever {name}"] = read_card(shipped_encoder_path(name))
    warnings = warn_split_leaks(split, cards)
    try:
        report = benchmark(
            generator, spectra, configurations=names, beam=beam, samples=samples,
            limit=limit, predictor=predictor, similarity=similarity, constrain=not unconstrained,
            search=search_config, off_formula_seeds=off_formula_seeds,
            library=seeds, library_peer=library_peer,
            progress=lambda name: console.print(f"done {name}"),
        )  # fmt: skip
    except NotAvailableError as exc:
        raise fail(f"{exc} (use --no-rerank to benchmark beam order only)") from None
    report.update(
        queries=str(path) + (" (simulated by the forward model)" if simulated else ""),
        weights=str(weights or "shipped"),
        predictor_weights=str(predictor_weights or "shipped") if predictor else None,
        warnings=warnings,
        library=None if seeds is None else _library_record(seeds),
        command="nmrpeak " + shlex.join(sys.argv[1:]),
    )  # fmt: skip
    markdown = render_markdown(report, f"generate on {path}")
    write_bench_report(report, markdown, output)
    typer.echo(markdown)
