"""``nmrpeak similarity A B``: the peak-aware similarity of two peak lists (files or text)."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from nmrpeak_cli.cli.common import fail, run_context, stdout_console
from nmrpeak_cli.errors import InputFileError, NmrpeakError
from nmrpeak_cli.similarity import DEFAULT_PARAMS, MATCHING_METHODS, SpectrumMatch, match_spectra
from nmrpeak_cli.spectra import Nucleus, PeakList, Spectrum

H1_WINDOW_PPM = (-1.0, 15.0)
"""Bare lists whose shifts all lie in this window (ppm) are read as 1H, others as 13C."""

_PROTON_COUNT = re.compile(r"\b\d+(?:\.\d+)?\s*H\b")
_FILE_NAME = re.compile(r"\.(?:csv|tsv|parquet|jsonl|json|sdf|smi|txt|jdx|dx|gz)$", re.IGNORECASE)


def guess_nucleus(text: str) -> Nucleus:
    """Nucleus of a bare peak list.

    1H if the text gives proton counts (``3H``) or every shift lies in −1…15 ppm (no
    organic 13C list does); 13C otherwise.
    """
    from nmrpeak_cli.io.text import parse_peaks

    if _PROTON_COUNT.search(text):
        return Nucleus.H1
    low, high = H1_WINDOW_PPM
    shifts = parse_peaks(text, Nucleus.C13).shifts
    return Nucleus.H1 if bool(((shifts >= low) & (shifts <= high)).all()) else Nucleus.C13


def read_argument(value: str, label: str, nucleus: Nucleus | None = None) -> Spectrum:
    """One side of the comparison as a :class:`~nmrpeak_cli.spectra.Spectrum`.

    Parameters
    ----------
    value
        A file readable by :func:`nmrpeak_cli.io.read_spectra` holding one record (``-``
        for stdin), text with ``1H NMR``/``13C NMR`` sentences, or a bare peak list.
    label
        Name of the side (``A``/``B``) for error messages and the spectrum id.
    nucleus
        Nucleus of a bare peak list; guessed by :func:`guess_nucleus` when ``None``.

    Raises
    ------
    NmrpeakError
        The file or text cannot be read (its subclasses say which field and why).
    """
    from nmrpeak_cli.io.text import parse_nmr_text, parse_peaks, split_nmr_sentences

    if value == "-" or Path(value).exists():
        return _read_one_record(value, label)
    if _FILE_NAME.search(value.strip()):
        raise InputFileError(f"{label}: no such file: {value}")
    if "NMR" in value.upper():
        peaks: dict[Nucleus, PeakList] = {}
        for sentence in split_nmr_sentences(value):
            parsed = parse_nmr_text(sentence)
            if parsed.nucleus in peaks:
                raise NmrpeakError(f"{label}: more than one {parsed.nucleus.value} NMR sentence")
            peaks[parsed.nucleus] = parsed.peaks
        return Spectrum(label, c13=peaks.get(Nucleus.C13), h1=peaks.get(Nucleus.H1))
    chosen = nucleus or guess_nucleus(value)
    return Spectrum(label, **{chosen.column: parse_peaks(value, chosen)})


def _read_one_record(path: str, label: str) -> Spectrum:
    from nmrpeak_cli.io import read_spectra

    records = [record for batch in read_spectra(path) for record in batch]
    if len(records) != 1:
        raise NmrpeakError(
            f"{label}: {path} holds {len(records)} records; expected exactly one spectrum"
        )
    if not isinstance(records[0], Spectrum):
        raise NmrpeakError(f"{label}: {records[0]}")
    return records[0]


def compare(
    a: str, b: str, *, nucleus: Nucleus | None = None, matching: str = "optimal"
) -> tuple[Spectrum, Spectrum, SpectrumMatch]:
    """Read both sides and match them on the nuclei both have (only ``nucleus`` if given).

    Returns the two spectra and their :class:`~nmrpeak_cli.similarity.SpectrumMatch`.
    Raises :class:`~nmrpeak_cli.errors.NmrpeakError` when an input is unreadable or the
    sides share no nucleus.
    """
    sides = []
    for value, label in ((a, "A"), (b, "B")):
        try:
            sides.append(read_argument(value, label, nucleus))
        except NmrpeakError as exc:
            message = str(exc)
            prefixed = message if message.startswith(label) else f"{label}: {message}"
            raise NmrpeakError(prefixed) from exc
    query, candidate = sides
    shared = [n for n in query.nuclei if n in candidate.nuclei and nucleus in (None, n)]
    if not shared:
        have = ", ".join(n.value for n in query.nuclei) or "no peaks"
        other = ", ".join(n.value for n in candidate.nuclei) or "no peaks"
        wanted = f" in {nucleus.value}" if nucleus else ""
        raise NmrpeakError(
            f"nothing to compare{wanted}: A has {have}, B has {other} (see --nucleus)"
        )
    params = replace(DEFAULT_PARAMS, matching=matching)
    return query, candidate, match_spectra(query, candidate, params=params, nuclei=shared)


def match_to_dict(match: SpectrumMatch) -> dict[str, Any]:
    """JSON-ready form of a :class:`~nmrpeak_cli.similarity.SpectrumMatch`."""
    nuclei = {}
    for nucleus, result in match.matches.items():
        pairs = [
            {
                "a_peak": int(result.pairs[k, 0]),
                "b_peak": int(result.pairs[k, 1]),
                "a_shift": float(result.shifts_ppm[k, 0]),
                "b_shift": float(result.shifts_ppm[k, 1]),
                "error_ppm": float(result.errors_ppm[k]),
                "round": int(result.round[k]),
                "credit": float(result.credits[k]),
                "n_nuclei": float(result.n_nuclei[k]),
            }
            for k in range(len(result.round))
        ]
        nuclei[nucleus.value] = {
            "score": result.score,
            "a_units": result.query_units,
            "b_units": result.candidate_units,
            "count_factor": result.count_factor,
            "pairs": pairs,
        }
    return {"score": match.score, "nuclei": nuclei}


def _details_table(nucleus: str, report: dict[str, Any]) -> Table:
    unmatched_a = report["a_units"] - sum(p["n_nuclei"] for p in report["pairs"])
    unmatched_b = report["b_units"] - sum(p["n_nuclei"] for p in report["pairs"])
    caption = (
        f"units A {report['a_units']:g}, B {report['b_units']:g}; unmatched A {unmatched_a:g}, "
        f"B {unmatched_b:g}; count factor {report['count_factor']:.3f}"
    )
    table = Table(title=f"{nucleus}: score {report['score']:.4f}", caption=caption)
    for column in ("A ppm", "B ppm", "error ppm", "round", "credit", "nuclei"):
        table.add_column(column, justify="right")
    for pair in report["pairs"]:
        table.add_row(
            f"{pair['a_shift']:.2f}",
            f"{pair['b_shift']:.2f}",
            f"{pair['error_ppm']:+.2f}",
            str(pair["round"]),
            f"{pair['credit']:.3f}",
            f"{pair['n_nuclei']:g}",
        )
    return table


def similarity_command(
    ctx: typer.Context,
    a: Annotated[str, typer.Argument(help="Query: a file, '-', an NMR sentence or a peak list.")],
    b: Annotated[str, typer.Argument(help="Candidate, in the same forms as A.")],
    nucleus: Annotated[
        str | None,
        typer.Option(
            "--nucleus",
            "-n",
            help="Nucleus of bare peak lists, and the only one compared: 13C or 1H.",
        ),
    ] = None,
    matching: Annotated[
        str, typer.Option(help=f"Peak matching: {' or '.join(MATCHING_METHODS)}.")
    ] = "optimal",
    details: Annotated[
        bool, typer.Option("--details", "-d", help="Show the matched peaks.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Peak-aware similarity of two peak lists, in [0, 1] (1 = identical).

    A bare list is 1H if it gives proton counts (3H) or all shifts lie in −1…15 ppm,
    else 13C. With both nuclei, the score averages the 13C and 1H scores.

    [bold]Example[/bold]: nmrpeak similarity "170.1, 128.3, 77.0" "170.0, 128.5, 77.2"
    """
    try:
        forced = None if nucleus is None else Nucleus.parse(nucleus)
        if matching not in MATCHING_METHODS:
            raise NmrpeakError(
                f"--matching: got {matching!r}; expected one of {', '.join(MATCHING_METHODS)}"
            )
        _, _, match = compare(a, b, nucleus=forced, matching=matching)
    except NmrpeakError as exc:
        raise fail(str(exc).splitlines()[0]) from None
    report = match_to_dict(match)
    if as_json:
        typer.echo(json.dumps(report))
        return
    typer.echo(f"{match.score:.4f}")
    if details or run_context(ctx).verbose:
        console = stdout_console()
        for name, part in report["nuclei"].items():
            console.print(_details_table(name, part))


def register(app: typer.Typer) -> None:
    """Add ``similarity`` to the app."""
    app.command("similarity")(similarity_command)
