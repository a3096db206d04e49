"""Per-query HTML reports (``--report DIR``): the top candidates against the query spectrum.

One self-contained HTML file per query (inline SVG, inline CSS, no external assets, readable
offline): a header with the query's id, formula, solvent and peak lists; a table of the top
candidates with their scores; and per candidate a 2D depiction (RDKit) and, per nucleus of
the query, a stick-spectrum overlay (matplotlib): experimental peaks up, predicted peaks
down, ppm axis reversed, and the pairs matched by the peak-aware similarity
(:func:`~nmrpeak_cli.similarity.match_spectra`) joined by lines.

Needs matplotlib (``pip install 'nmrpeak-cli[plot]'``); matplotlib and RDKit are imported
only when a report is written.
"""

from __future__ import annotations

import hashlib
import io
import logging
import math
import re
from collections.abc import Callable, Mapping, Sequence
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nmrpeak_cli.errors import NmrpeakError, NotAvailableError
from nmrpeak_cli.spectra import Nucleus, PeakList, Spectrum

if TYPE_CHECKING:
    from nmrpeak_cli.predict.forward import Predictor
    from nmrpeak_cli.similarity import MatchResult, SpectrumMatch

#: Component scores of RESULTS_SCHEMA, shown in the table when any candidate has them.
COMPONENT_COLUMNS: tuple[str, ...] = ("confidence", "ssr", "sme", "sse", "gen_logprob", "rerank")

log = logging.getLogger(__name__)

_SAFE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
_EXPERIMENTAL, _PREDICTED = "#1f4e9a", "#c0392b"
_ROUND_STYLE = {1: ("#2e8b57", "solid"), 2: ("#e08a00", "dashed")}
_STYLE = """
body{font-family:system-ui,sans-serif;margin:1.5em;color:#222;max-width:1100px}
h1{font-size:1.4em}h2{font-size:1.15em;margin-top:1.6em;border-top:1px solid #ccc;padding-top:.6em}
table{border-collapse:collapse;font-size:.9em}td,th{border:1px solid #ccc;padding:.2em .5em}
th{background:#f3f3f3;text-align:left}td.num{text-align:right;font-variant-numeric:tabular-nums}
.smiles{font-family:monospace;word-break:break-all}.peaks{font-family:monospace;font-size:.85em}
.candidate{display:flex;flex-wrap:wrap;gap:1em;align-items:flex-start}
.note{color:#a33}.caption{font-size:.85em;margin:.2em 0 .8em}
"""


def _file_name(query_id: str) -> str:
    """``<id>.html`` for a safe id, else ``<sanitized id>-<hash of the id>.html``."""
    if _SAFE_ID.match(query_id):
        return f"{query_id}.html"
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", query_id).strip("._-")[:80] or "query"
    digest = hashlib.blake2b(query_id.encode(), digest_size=4).hexdigest()
    return f"{slug}-{digest}.html"


def write_query_report(
    query: Spectrum,
    rows: Sequence[Mapping[str, Any]],
    out_dir: Path,
    *,
    top: int = 3,
    predict: Callable[[list[str]], list[Spectrum | None]],
) -> Path:
    """Write ``out_dir/<safe query id>.html`` (atomic: temp file + rename); return its path.

    Parameters
    ----------
    query
        The query spectrum (its nuclei decide which overlays are drawn).
    rows
        This query's result rows (:data:`~nmrpeak_cli.schema.RESULTS_SCHEMA`), any order.
        Rows with a ``smiles`` are candidates (their ``error``, if any, is a warning about
        them); every distinct ``error`` is listed, and a query without candidates gets a
        report saying so.
    out_dir
        Report folder (created if missing). The file is named after the query id when that
        is a safe file name, else after the sanitized id plus a hash of the exact id (so
        ``a/b`` and ``a_b`` never collide).
    top
        Number of candidates shown, best rank first.
    predict
        Predicted spectrum of each SMILES (``None`` where prediction fails), in order.

    Raises
    ------
    NotAvailableError
        matplotlib is not installed.
    ValueError
        ``top`` is below 1, or ``predict`` returned a wrong number of spectra.
    """
    if top < 1:
        raise ValueError(f"top must be at least 1, got {top}")
    try:
        import matplotlib  # noqa: F401
    except ImportError as exc:
        raise NotAvailableError("reports need matplotlib: pip install 'nmrpeak-cli[plot]'") from exc
    from nmrpeak_cli.paths import write_text_atomic
    from nmrpeak_cli.similarity import match_spectra

    candidates = report_candidates(rows, top)
    errors = list(dict.fromkeys(str(r["error"]) for r in rows if r.get("error")))
    smiles = [str(r["smiles"]) for r in candidates]
    predicted = list(predict(smiles)) if smiles else []
    if len(predicted) != len(smiles):
        raise ValueError(
            f"predict returned {len(predicted)} spectra for {len(smiles)} SMILES; expected one each"
        )
    matches = [None if p is None else match_spectra(query, p) for p in predicted]

    parts = [_header(query), _candidate_table(candidates, matches, query)]
    if errors:
        parts.append(
            "<h2>Errors and warnings</h2><ul>"
            + "".join(f'<li class="note">{escape(e)}</li>' for e in errors)
            + "</ul>"
        )
    for index, (row, spectrum, match) in enumerate(
        zip(candidates, predicted, matches, strict=True)
    ):
        parts.append(_candidate_section(index, row, query, spectrum, match))
    document = (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>nmrpeak report: {escape(query.id)}</title><style>{_STYLE}</style></head>"
        "<body>\n" + "\n".join(parts) + "\n</body></html>\n"
    )
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / _file_name(query.id)
    # Character references keep the file ASCII whatever the locale's encoding.
    write_text_atomic(path, document.encode("ascii", "xmlcharrefreplace").decode("ascii"))
    return path


def report_candidates(rows: Sequence[Mapping[str, Any]], top: int) -> list[Mapping[str, Any]]:
    """The candidates a report shows: rows with a ``smiles`` (a candidate's ``error`` is a
    warning about it), best rank first (then highest score), at most ``top``."""
    return sorted(
        (r for r in rows if r.get("smiles")),
        key=lambda r: (r.get("rank") is None, r.get("rank") or 0, -(r.get("score") or 0.0)),
    )[:top]


def write_reports(
    batch: Sequence[Any],
    groups: Sequence[list[dict[str, Any]]],
    out_dir: Path,
    predictor: Predictor | None,
    *,
    top: int = 3,
    overlays: Sequence[Callable[[list[str]], list[Spectrum | None]]] | None = None,
) -> list[list[dict[str, Any]]]:
    """One report per query spectrum of ``batch`` (:func:`write_query_report`), its candidates
    overlaid with ``predictor``'s spectra (none without a forward model, or when it fails),
    or, given ``overlays`` (one ``predict`` per query of ``batch``), with those (retrieve
    draws the spectra its library stores).

    Items that are not spectra (records that failed to read) are skipped.

    Returns
    -------
    list of list of dict
        The rows of each query: those of ``groups`` (never modified), except that a query
        whose report cannot be written gets copies with an ``error`` saying so (the record
        failed).
    """
    if overlays is not None and len(overlays) != len(batch):
        raise ValueError(f"{len(overlays)} overlays for a batch of {len(batch)}")
    out: list[list[dict[str, Any]]] = []
    for i, (query, rows) in enumerate(zip(batch, groups, strict=True)):
        out.append(list(rows))
        if not isinstance(query, Spectrum):
            continue
        predict = _overlays(predictor, query.solvent) if overlays is None else overlays[i]
        try:
            write_query_report(query, rows, out_dir, top=top, predict=predict)
        except (NmrpeakError, ValueError, OSError) as exc:
            out[-1] = [_with_error(row, f"report not written: {exc}") for row in rows]
    return out


def _with_error(row: Mapping[str, Any], note: str) -> dict[str, Any]:
    """A copy of ``row`` whose ``error`` starts with ``note`` (any earlier error kept)."""
    return {**row, "error": "; ".join(str(n) for n in (note, row.get("error")) if n)}


def _overlays(
    predictor: Predictor | None, solvent: str | None
) -> Callable[[list[str]], list[Spectrum | None]]:
    """``predict`` of one report: no overlays (``None``) without a forward model or when it
    fails."""

    def predict(smiles: list[str]) -> list[Spectrum | None]:
        if predictor is None:
            return [None] * len(smiles)
        try:
            return list(predictor(smiles, solvent))
        except NmrpeakError as exc:
            log.warning("report overlays skipped: %s", exc)
            return [None] * len(smiles)

    return predict


# --------------------------------------------------------------------------------------------
# HTML pieces
# --------------------------------------------------------------------------------------------


def _header(query: Spectrum) -> str:
    from nmrpeak_cli.io.text import format_peaks

    facts = [
        ("Formula", query.formula or "—"),
        ("Solvent", query.solvent or "—"),
        ("Field", f"{query.field_mhz:g} MHz" if query.field_mhz else "—"),
    ]
    for nucleus in Nucleus:
        peaks = query.peaks(nucleus)
        if peaks:
            facts.append((f"{nucleus.value} ({len(peaks)} peaks)", format_peaks(peaks)))
    cells = "".join(
        f'<tr><th>{escape(k)}</th><td class="peaks">{escape(v)}</td></tr>' for k, v in facts
    )
    return f"<h1>Query {escape(query.id)}</h1><table>{cells}</table>"


def _number(value: object) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return f"{value:.3f}" if isinstance(value, float) else escape(str(value))


def _candidate_table(
    candidates: Sequence[Mapping[str, Any]],
    matches: Sequence[SpectrumMatch | None],
    query: Spectrum,
) -> str:
    if not candidates:
        return '<p class="note">No candidates for this query.</p>'
    components = [c for c in COMPONENT_COLUMNS if any(r.get(c) is not None for r in candidates)]
    nuclei = query.nuclei
    head = ["Rank", "SMILES", "Score", *components]
    head += [f"{n.value} similarity" for n in nuclei] + ["Formula match", "Source"]
    lines = ["<h2>Top candidates</h2><table><tr>"]
    lines += [f"<th>{escape(h)}</th>" for h in head]
    lines.append("</tr>")
    for row, match in zip(candidates, matches, strict=True):
        numbers = [row.get("score"), *(row.get(c) for c in components)]
        numbers += [None if match is None else match.matches[n].score for n in nuclei]
        cells = [
            f'<td class="num">{_number(row.get("rank"))}</td>',
            f'<td class="smiles">{escape(str(row["smiles"]))}</td>',
            *(f'<td class="num">{_number(v)}</td>' for v in numbers),
            f"<td>{_number(row.get('formula_match'))}</td>",
            f"<td>{escape(str(row.get('source') or '—'))}</td>",
        ]
        lines.append("<tr>" + "".join(cells) + "</tr>")
    lines.append("</table>")
    return "".join(lines)


def _candidate_section(
    index: int,
    row: Mapping[str, Any],
    query: Spectrum,
    predicted: Spectrum | None,
    match: SpectrumMatch | None,
) -> str:
    smiles = str(row["smiles"])
    rank = row.get("rank")
    title = f"#{rank if rank is not None else index + 1} {smiles}"
    summary = f"score {_number(row.get('score'))}"
    if match is not None:
        summary += f"; similarity {match.score:.3f}"
    parts = [
        f'<h2 id="candidate-{index}">{escape(title)}</h2>',
        f'<p class="caption">{escape(summary)}</p>',
        f'<div class="candidate"><div>{_depiction(smiles)}</div><div>',
    ]
    if match is None:
        parts.append('<p class="note">No predicted spectrum (prediction failed).</p>')
    else:
        for nucleus, result in match.matches.items():
            experimental = query.peaks(nucleus) or PeakList(nucleus)
            candidate = predicted.peaks(nucleus) or PeakList(nucleus)
            gid = f"candidate-{index}-{nucleus.column}"
            parts.append(_overlay_svg(experimental, candidate, result, gid))
            parts.append(f'<p class="caption">{escape(_match_caption(result, experimental))}</p>')
    parts.append("</div></div>")
    return "".join(parts)


def _match_caption(result: MatchResult, experimental: PeakList) -> str:
    matched = len({int(i) for i in result.pairs[:, 0]})
    first = int((result.round == 1).sum())
    text = (
        f"{result.nucleus.value} similarity {result.score:.3f}: {matched} of "
        f"{len(experimental)} experimental peaks matched ({first} pairs within tolerance, "
        f"{len(result.round) - first} in the wide round)"
    )
    if len(result.errors_ppm):
        text += f"; mean |error| {float(abs(result.errors_ppm).mean()):.2f} ppm"
    return text


def _depiction(smiles: str) -> str:
    from rdkit.Chem.Draw import rdMolDraw2D

    from nmrpeak_cli.chem import try_parse_smiles

    mol = try_parse_smiles(smiles)
    if mol is None:
        return '<p class="note">Cannot depict this SMILES.</p>'
    drawer = rdMolDraw2D.MolDraw2DSVG(300, 240)
    drawer.drawOptions().clearBackground = False
    rdMolDraw2D.PrepareAndDrawMolecule(drawer, mol)
    drawer.FinishDrawing()
    return _inline_svg(drawer.GetDrawingText())


def _inline_svg(text: str) -> str:
    """An SVG document without its XML declaration and doctype, for inlining in HTML."""
    return text[text.index("<svg") :].strip()


# --------------------------------------------------------------------------------------------
# Stick-spectrum overlay
# --------------------------------------------------------------------------------------------


def _heights(peaks: PeakList) -> list[float]:
    counts = peaks.counts
    most = float(counts.max()) if len(counts) else 1.0
    return [0.25 + 0.75 * float(c) / most for c in counts]


def _overlay_svg(
    experimental: PeakList,
    predicted: PeakList,
    result: MatchResult,
    gid: str,
) -> str:
    """Experimental sticks up, predicted sticks down, matched pairs joined, as inline SVG."""
    from matplotlib import rc_context
    from matplotlib.collections import LineCollection
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

    gap = 0.15
    figure = Figure(figsize=(7.0, 2.6))  # no pyplot: no global state, nothing to close
    axis = figure.subplots()
    matched_q = {int(i) for i in result.pairs[:, 0]}
    matched_c = {int(j) for j in result.pairs[:, 1]}
    for peaks, sign, colour, matched in (
        (experimental, 1, _EXPERIMENTAL, matched_q),
        (predicted, -1, _PREDICTED, matched_c),
    ):
        sticks = [
            [(p.shift, sign * gap), (p.shift, sign * (gap + h))]
            for p, h in zip(peaks, _heights(peaks), strict=True)
        ]
        alphas = [1.0 if i in matched else 0.35 for i in range(len(peaks))]
        collection = LineCollection(sticks, colors=colour, linewidths=1.2)
        collection.set_alpha(alphas or None)
        collection.set_gid(f"{gid}-{'experimental' if sign > 0 else 'predicted'}")
        axis.add_collection(collection)
    for round_, (colour, style) in _ROUND_STYLE.items():
        links = [
            [(q, gap), (c, -gap)]
            for (q, c), r in zip(result.shifts_ppm, result.round, strict=True)
            if r == round_
        ]
        if links:
            collection = LineCollection(links, colors=colour, linestyles=style, linewidths=0.9)
            collection.set_gid(f"{gid}-matched-round{round_}")
            axis.add_collection(collection)
    shifts = [*experimental.shifts, *predicted.shifts]
    low, high = (min(shifts), max(shifts)) if shifts else (0.0, 1.0)
    half = 0.55 * max(high - low, 10.0 if experimental.nucleus is Nucleus.C13 else 1.0)
    centre = (high + low) / 2
    axis.set_xlim(centre + half, centre - half)  # NMR convention: ppm decreases to the right
    axis.set_ylim(-1.1 - gap, 1.1 + gap)
    axis.axhline(0, color="0.7", linewidth=0.6)
    axis.set_yticks([0.5 + gap, -0.5 - gap], ["experimental", "predicted"], fontsize=8)
    for label, colour in zip(axis.get_yticklabels(), (_EXPERIMENTAL, _PREDICTED), strict=True):
        label.set_color(colour)
    axis.tick_params(axis="y", length=0)
    axis.set_xlabel(f"δ {experimental.nucleus.value} (ppm)")
    axis.legend(
        handles=[
            Line2D([], [], color=colour, linestyle=style, label=f"round-{r} match")
            for r, (colour, style) in _ROUND_STYLE.items()
        ],
        loc="lower right",
        bbox_to_anchor=(1.0, 1.0),
        ncols=2,
        fontsize=7,
        frameon=False,
    )
    axis.set_title(
        f"{experimental.nucleus.value}: similarity {result.score:.3f}", loc="left", fontsize=9
    )
    figure.tight_layout()
    buffer = io.StringIO()
    with rc_context({"svg.fonttype": "none", "svg.hashsalt": gid}):
        figure.savefig(buffer, format="svg", metadata={"Date": None})
    return _inline_svg(buffer.getvalue())
