"""``nmrpeak bench predict``: accuracy and speed of the predictor against two baselines.

On the test molecules of a split (or any query table with a ``smiles`` column) it reports,
for the network, the HOSE-code baseline fitted on the same training split
(:mod:`~nmrpeak_cli.predict.hose`) and, on a subset, the ``csp5`` package (skipped when not
installed; it was trained on literature data that may include test molecules):

- 13C MAE on atom-mapped CASCADE atoms (true assignment);
- assignment-free 13C and 1H MAE/RMSE from the optimal constrained matching;
- the peak-aware similarity (:mod:`nmrpeak_cli.similarity`) of predicted to observed peak
  lists, and the MAE of its first-round matches;
- the 13C peak-count error (predicted symmetry classes vs distinct observed shifts, on
  complete lists);
- breakdowns by heavy-atom count and by atom environment;
- throughput, SMILES → peak lists, molecules per second on this machine.
"""

from __future__ import annotations

import os
import platform
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from nmrpeak_cli.io.records import batched
from nmrpeak_cli.predict.dataset import ShiftRecord, read_table, records_from_rows
from nmrpeak_cli.predict.environments import atom_environment
from nmrpeak_cli.predict.evaluate import RecordErrors, record_errors, summarize

HEAVY_ATOM_BINS: tuple[tuple[int, int], ...] = ((1, 10), (11, 20), (21, 30), (31, 200))
"""Heavy-atom count bins of the breakdown (inclusive)."""

CSP5_LIMIT = 300
"""Molecules given to csp5 (it embeds 3D conformers and is slow on CPU)."""


def _query_records(path: Path) -> list[ShiftRecord]:
    """Records from a query table (DESIGN.md §4) with a ``smiles`` column."""
    import pyarrow.parquet as pq

    from nmrpeak_cli.predict.featurize import featurize, parse_molecule, solvent_index
    from nmrpeak_cli.schema import row_to_spectrum

    records = []
    for row in pq.read_table(path).to_pylist():
        if not row.get("smiles"):
            continue
        try:
            spectrum = row_to_spectrum(row)
            mol = parse_molecule(spectrum.smiles)
            graph = featurize(mol, solvent_index(spectrum.solvent))
        except (ValueError, TypeError):
            continue
        c13 = spectrum.c13.expanded_shifts() if spectrum.c13 else None
        h1 = spectrum.h1.expanded_shifts() if spectrum.h1 else None
        records.append(ShiftRecord(spectrum.id, spectrum.smiles, graph, c13=c13, h1=h1))
    return records


def _subset(records: list[ShiftRecord], limit: int | None) -> list[ShiftRecord]:
    if limit is None or len(records) <= limit:
        return records
    keep = np.sort(np.random.default_rng(0).permutation(len(records))[:limit])
    return [records[i] for i in keep]


def _breakdowns(
    records: Sequence[ShiftRecord], errors: Sequence[RecordErrors], mols: Sequence
) -> dict[str, Any]:
    by_size = {}
    for low, high in HEAVY_ATOM_BINS:
        chosen = [e for r, e in zip(records, errors, strict=True) if low <= r.graph.n_atoms <= high]
        by_size[f"{low}-{high}"] = summarize(chosen) | {"molecules": len(chosen)}
    by_env: dict[str, dict[str, list[float]]] = {"c13": {}, "h1": {}}
    for e, mol in zip(errors, mols, strict=True):
        for kind, atoms, values in (("c13", e.c13_atoms, e.c13), ("h1", e.h1_atoms, e.h1)):
            for atom, value in zip(atoms, values, strict=True):
                label = atom_environment(mol.GetAtomWithIdx(int(atom)))
                by_env[kind].setdefault(label, []).append(abs(float(value)))
    env = {
        kind: {k: {"mae": float(np.mean(v)), "n": len(v)} for k, v in sorted(groups.items())}
        for kind, groups in by_env.items()
    }
    return {"by_heavy_atoms": by_size, "by_environment": env}


def _peak_metrics(
    records: Sequence[ShiftRecord], atom_shifts: Sequence[np.ndarray], mols: Sequence
) -> dict[str, float]:
    from nmrpeak_cli.chem import symmetry_classes
    from nmrpeak_cli.predict.peaks import peaks_from_atoms
    from nmrpeak_cli.similarity import match_peaks
    from nmrpeak_cli.spectra import Nucleus, PeakList

    sims: dict[str, list[float]] = {"c13": [], "h1": []}
    first: dict[str, list[np.ndarray]] = {"c13": [], "h1": []}
    count_errors = []
    for record, shifts, mol in zip(records, atom_shifts, mols, strict=True):
        classes = symmetry_classes(mol)
        try:
            peaks = peaks_from_atoms(mol, shifts, classes)
        except ValueError:  # an implausible shift from a baseline
            continue
        for kind, observed, predicted, nucleus in (
            ("c13", record.c13, peaks.c13, Nucleus.C13),
            ("h1", record.h1, peaks.h1, Nucleus.H1),
        ):
            if observed is None or not len(predicted):
                continue
            result = match_peaks(PeakList.from_shifts(nucleus, observed), predicted)
            sims[kind].append(result.score)
            first[kind].append(result.first_round_errors())
        n_carbons = int(np.sum(record.graph.atomic_numbers == 6))
        if record.c13 is not None and len(record.c13) == n_carbons:
            distinct = len(np.unique(np.round(record.c13, 1)))
            count_errors.append(abs(len(peaks.c13) - distinct))
    out: dict[str, float] = {}
    for kind in ("c13", "h1"):
        values = np.asarray(sims[kind])
        errs = np.concatenate(first[kind]) if first[kind] else np.zeros(0)
        out[f"{kind}_similarity_mean"] = float(values.mean()) if values.size else float("nan")
        out[f"{kind}_similarity_p10"] = (
            float(np.quantile(values, 0.1)) if values.size else float("nan")
        )
        out[f"{kind}_similarity_median"] = float(np.median(values)) if values.size else float("nan")
        out[f"{kind}_first_round_mae"] = float(np.mean(np.abs(errs))) if errs.size else float("nan")
    out["c13_peak_count_mae"] = float(np.mean(count_errors)) if count_errors else float("nan")
    out["c13_peak_count_exact"] = (
        float(np.mean(np.asarray(count_errors) == 0)) if count_errors else float("nan")
    )
    return out


def _evaluate(records, atom_shifts, mols) -> dict[str, Any]:
    errors = [record_errors(r, s) for r, s in zip(records, atom_shifts, strict=True)]
    return {
        "overall": summarize(errors),
        **_breakdowns(records, errors, mols),
        "peaks": _peak_metrics(records, atom_shifts, mols),
    }


def csp5_shifts(
    mols: Sequence, smiles: Sequence[str]
) -> tuple[list[np.ndarray | None], float] | None:
    """Per-atom csp5 predictions (None for failures) and seconds taken; None if not installed.

    csp5 numbers atoms as ``Chem.AddHs(Chem.MolFromSmiles(smiles))``: heavy atoms first, then
    the hydrogens; its ``molecule_id`` skips molecules it could not embed, so rows are mapped
    back by their SMILES. A molecule whose returned indices do not fit that numbering (a
    carbon index that is not a carbon, a hydrogen index that is not a hydrogen) or that lacks
    a carbon prediction (e.g. embedding failed) counts as a failure.
    """
    try:
        from csp5 import predict_smiles
    except ImportError:
        return None
    from rdkit import Chem

    started = time.perf_counter()
    with_h = [Chem.AddHs(m) for m in mols]
    sums = [np.zeros((m.GetNumAtoms(), 2)) for m in mols]
    counts = [np.zeros((m.GetNumAtoms(), 2)) for m in mols]
    failed: set[int] = set()
    positions: dict[str, list[int]] = {}
    for i, text in enumerate(smiles):
        positions.setdefault(text, []).append(i)
    for nucleus, column, element in (("13C", 0, 6), ("1H", 1, 1)):
        frame = predict_smiles(list(smiles), nucleus=nucleus, batch_size=32).predictions
        # molecule_id counts only the molecules csp5 could embed: map rows by their SMILES
        for text, atom, shift in zip(
            frame["smiles"], frame["atom_index"], frame["shift_ppm"], strict=True
        ):
            for i in positions.get(text, ()):
                if atom >= with_h[i].GetNumAtoms():
                    failed.add(i)
                    continue
                found = with_h[i].GetAtomWithIdx(int(atom))
                if found.GetAtomicNum() != element:
                    failed.add(i)
                    continue
                heavy = int(atom) if element == 6 else found.GetNeighbors()[0].GetIdx()
                sums[i][heavy, column] += shift
                counts[i][heavy, column] += 1
    results: list[np.ndarray | None] = []
    for i, mol in enumerate(mols):
        with np.errstate(invalid="ignore", divide="ignore"):
            shifts = np.where(counts[i] > 0, sums[i] / counts[i], np.nan)
        carbons = [a.GetIdx() for a in mol.GetAtoms() if a.GetAtomicNum() == 6]
        results.append(None if i in failed or np.isnan(shifts[carbons, 0]).any() else shifts)
    return results, time.perf_counter() - started


def _cache_key(*parts: object) -> str:
    import hashlib
    import json

    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()[:16]


def baseline_predictions(
    records: Sequence[ShiftRecord],
    mols: Sequence,
    data: Path,
    split_column: str,
    csp5_limit: int,
    *,
    cache: Path | None = None,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Per-atom predictions of the HOSE baseline (all records) and csp5 (the first
    ``csp5_limit``; ``None`` entries for failures, ``None`` overall when not installed).

    With ``cache``, each baseline's predictions are stored in (and reused from) a ``.npz``
    keyed by the data file, split, records and (for csp5) the subset size.
    """
    import json

    from nmrpeak_cli.paths import file_sha256

    base_key = [
        file_sha256(data),
        split_column,
        [r.id for r in records],
        [r.smiles for r in records],
    ]
    hose_path = None if cache is None else Path(cache) / f"hose_{_cache_key(*base_key)}.npz"
    csp5_path = (
        None if cache is None else Path(cache) / f"csp5_{_cache_key(*base_key, csp5_limit)}.npz"
    )
    timing: dict[str, Any] = {}
    if hose_path is not None and hose_path.is_file():
        log(f"HOSE predictions from {hose_path}")
        with np.load(hose_path, allow_pickle=False) as stored:
            timing |= json.loads(str(stored["timing"]))
            hose = [stored[f"hose_{i}"] for i in range(len(records))]
            spheres = [stored[f"sphere_{i}"] for i in range(len(records))]
    else:
        from nmrpeak_cli.predict.hose import fit_hose

        train, _ = records_from_rows(read_table(data, split_column, ["train"]))
        started = time.perf_counter()
        model = fit_hose(train, log=log)
        timing["hose_fit_seconds"] = time.perf_counter() - started
        started = time.perf_counter()
        predictions = [model.predict(m) for m in mols]
        timing["hose_predict_seconds"] = time.perf_counter() - started
        hose = [p[0] for p in predictions]
        spheres = [p[1] for p in predictions]
        if hose_path is not None:
            hose_path.parent.mkdir(parents=True, exist_ok=True)
            arrays = {f"hose_{i}": p for i, p in enumerate(hose)}
            arrays |= {f"sphere_{i}": p for i, p in enumerate(spheres)}
            np.savez_compressed(hose_path, timing=np.array(json.dumps(timing)), **arrays)
    csp5: list[np.ndarray | None] | None
    if csp5_path is not None and csp5_path.is_file():
        log(f"csp5 predictions from {csp5_path}")
        with np.load(csp5_path, allow_pickle=False) as stored:
            csp5_timing = json.loads(str(stored["timing"]))
            csp5 = [stored.get(f"csp5_{i}") for i in range(csp5_timing["csp5_count"])]
            timing |= csp5_timing
    else:
        chosen = list(range(min(csp5_limit, len(records))))
        result = (
            csp5_shifts([mols[i] for i in chosen], [records[i].smiles for i in chosen])
            if chosen
            else None
        )
        csp5 = None if result is None else result[0]
        if result is not None:
            csp5_timing = {"csp5_seconds": result[1], "csp5_count": len(chosen)}
            timing |= csp5_timing
            if csp5_path is not None:
                csp5_path.parent.mkdir(parents=True, exist_ok=True)
                arrays = {f"csp5_{i}": p for i, p in enumerate(csp5) if p is not None}
                np.savez_compressed(csp5_path, timing=np.array(json.dumps(csp5_timing)), **arrays)
    return {"hose": hose, "hose_spheres": spheres, "csp5": csp5, "timing": timing}


def run_benchmark(
    *,
    split: str = "scaffold",
    data: Path = Path("data/experimental.parquet"),
    weights: Path | None = None,
    baselines: bool = True,
    limit: int | None = None,
    csp5_limit: int = CSP5_LIMIT,
    cache: Path | None = None,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Run the benchmark and return the report (plain JSON-able dict).

    ``cache``: folder where the baselines' per-atom predictions are kept (they do not depend
    on the network's weights), keyed by data file, split, records and csp5 subset size.
    """
    import torch

    from nmrpeak_cli.paths import file_sha256
    from nmrpeak_cli.predict.featurize import parse_molecule
    from nmrpeak_cli.predict.infer import predict_records
    from nmrpeak_cli.predict.memory import forward_atoms
    from nmrpeak_cli.predict.weights import default_weights, load_model, read_card

    split_column = f"split_{split}" if split in {"scaffold", "random"} else "split_scaffold"
    if split in {"scaffold", "random"}:
        records, _ = records_from_rows(read_table(Path(data), split_column, ["test"]))
        source = f"{data} ({split_column} == test)"
    else:
        records = _query_records(Path(split))
        source = split
    records = _subset(records, limit)
    mols = [parse_molecule(r.smiles) for r in records]
    weights = Path(weights) if weights is not None else default_weights()
    model = load_model(weights)
    log(f"benchmark on {len(records)} records from {source}")
    report: dict[str, Any] = {
        "source": source,
        "records": len(records),
        "weights": str(weights),
        "weights_sha256": file_sha256(weights),
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPU cores, torch threads {torch.get_num_threads()}",
    }

    atoms = forward_atoms(model, [r.graph for r in records], mols)
    gnn_shifts = atoms.shifts
    report["model"] = _evaluate(records, gnn_shifts, mols)
    report["model"]["members"] = len(getattr(model, "members", [model]))
    if getattr(model, "memory", None) is not None:
        report["model"]["memory"] = read_card(weights).get("memory")
    if getattr(model, "uncertainty", None) is not None:
        report["model"]["uncertainty"] = interval_coverage(model, records, mols, atoms)
        log(f"model 90 % intervals: {report['model']['uncertainty']}")
    smiles = [r.smiles for r in records][:2000]
    started, cpu_started = time.perf_counter(), time.process_time()
    for _ in predict_records(smiles, model=model, device="cpu"):
        pass
    report["model"]["throughput_mol_per_s"] = len(smiles) / (time.perf_counter() - started)
    report["model"]["throughput_mol_per_cpu_s"] = len(smiles) / (time.process_time() - cpu_started)
    report["load_average"] = os.getloadavg()[0]
    log(f"model: {report['model']['overall']}")

    if baselines:
        base = baseline_predictions(
            records, mols, Path(data), split_column, csp5_limit, cache=cache, log=log
        )
        hose_shifts = base["hose"]
        report["hose"] = _evaluate(records, hose_shifts, mols)
        spheres = np.concatenate(
            [
                sphere[r.graph.atomic_numbers == 6, 0]
                for sphere, r in zip(base["hose_spheres"], records, strict=True)
            ]
        )
        report["hose"]["c13_sphere_share"] = {
            str(k): float(np.mean(spheres == k)) for k in range(5)
        }
        report["hose"]["fit_seconds"] = base["timing"]["hose_fit_seconds"]
        report["hose"]["throughput_mol_per_s"] = len(mols) / base["timing"]["hose_predict_seconds"]
        log(f"hose: {report['hose']['overall']}")
        if base["csp5"] is None:
            report["csp5"] = {"skipped": "csp5 not run (not installed, or --csp5-limit 0)"}
        else:
            chosen = range(len(base["csp5"]))
            ok = [i for i in chosen if base["csp5"][i] is not None]
            report["csp5"] = _evaluate(
                [records[i] for i in ok], [base["csp5"][i] for i in ok], [mols[i] for i in ok]
            )
            report["csp5"]["molecules"] = len(ok)
            report["csp5"]["failed"] = len(chosen) - len(ok)
            report["csp5"]["throughput_mol_per_s"] = len(chosen) / base["timing"]["csp5_seconds"]
            report["csp5_same_molecules"] = {
                "model": summarize([record_errors(records[i], gnn_shifts[i]) for i in ok]),
                "hose": summarize([record_errors(records[i], hose_shifts[i]) for i in ok]),
            }
            log(f"csp5: {report['csp5']['overall']}")
    return report


def interval_coverage(
    model, records: Sequence[ShiftRecord], mols: Sequence, atoms: Any = None
) -> dict[str, Any]:
    """Coverage of the calibrated 90 % intervals on ``records`` (matched / CASCADE atoms);
    ``atoms``: the model's :class:`~nmrpeak_cli.predict.memory.AtomPredictions` if known."""
    from nmrpeak_cli.predict.memory import forward_atoms
    from nmrpeak_cli.predict.uncertainty import coverage, residual_table

    if atoms is None:
        atoms = forward_atoms(model, [r.graph for r in records], mols)
    levels = atoms.levels if model.uncertainty.familiarity else None
    table = residual_table(records, atoms.shifts, atoms.spreads, mols, levels)
    out: dict[str, Any] = {"members": len(getattr(model, "members", [model]))}
    for kind, calibration in (("c13", model.uncertainty.c13), ("h1", model.uncertainty.h1)):
        part = table[kind]
        for suffix, chosen in (("", calibration), ("_floors_only", calibration.without_factors())):
            sd = part.sd(chosen) if part.residuals.size else np.zeros(0)
            out[f"{kind}_coverage90{suffix}"] = coverage(part.residuals, sd)
            out[f"{kind}_mean_sd{suffix}"] = float(np.mean(sd)) if sd.size else float("nan")
        out[f"{kind}_n"] = int(part.residuals.size)
    return out


def _fmt(value: object, digits: int = 3) -> str:
    if isinstance(value, float):
        return "–" if np.isnan(value) else f"{value:.{digits}f}"
    return str(value)


def render_markdown(report: dict[str, Any]) -> str:
    """The report as Markdown tables (for RESULTS.md)."""
    methods = [m for m in ("model", "hose", "csp5") if m in report and "overall" in report[m]]
    lines = [
        f"Source: {report['source']} — {report['records']} records. Weights `{report['weights']}` "
        f"(sha256 {report['weights_sha256'][:12]}…). Machine: {report['machine']}, "
        f"load average {report.get('load_average', float('nan')):.1f} during the run; network "
        f"throughput per CPU-second of the process: "
        f"{report['model'].get('throughput_mol_per_cpu_s', float('nan')):.0f} mol/s."
        + (
            f" Ensemble of {report['model']['members']} members."
            if report["model"].get("members", 1) > 1
            else ""
        )
        + (
            f" Environment memory `{report['model']['memory']}` applied."
            if report["model"].get("memory")
            else ""
        ),
        "",
        "| method | 13C MAE (CASCADE, true assignment) | 13C MAE matched | 13C RMSE matched | 1H MAE matched | "
        "1H RMSE matched | 13C sim. mean | 1H sim. mean | 13C 1st-round MAE | 1H 1st-round MAE | "
        "13C peak-count MAE | mol/s |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    lines[:0] = [f"**Warning:** {w}" for w in report.get("split_warnings", [])]
    for m in methods:
        o, p = report[m]["overall"], report[m]["peaks"]
        name = {
            "model": "nmrpeak GNN",
            "hose": "HOSE (4→1 spheres)",
            "csp5": f"csp5 ({report[m].get('molecules')} mol)",
        }[m]
        lines.append(
            f"| {name} | {_fmt(o['cascade_mae'])} (n={o['cascade_n']}) | {_fmt(o['c13_mae'])} | {_fmt(o['c13_rmse'])} | "
            f"{_fmt(o['h1_mae'])} | {_fmt(o['h1_rmse'])} | {_fmt(p['c13_similarity_mean'])} | "
            f"{_fmt(p['h1_similarity_mean'])} | {_fmt(p['c13_first_round_mae'])} | {_fmt(p['h1_first_round_mae'])} | "
            f"{_fmt(p['c13_peak_count_mae'])} | {_fmt(report[m].get('throughput_mol_per_s', float('nan')), 0)} |"
        )
    if "uncertainty" in report["model"]:
        u = report["model"]["uncertainty"]
        lines += [
            "",
            f"Calibrated 90 % intervals ({u['members']} member(s)): cover "
            f"{_fmt(u['c13_coverage90'])} of {u['c13_n']} 13C shifts (mean sd "
            f"{_fmt(u['c13_mean_sd'])} ppm) and {_fmt(u['h1_coverage90'])} of {u['h1_n']} 1H "
            f"shifts (mean sd {_fmt(u['h1_mean_sd'])} ppm); target 0.88–0.92.",
        ]
        if "c13_coverage90_floors_only" in u:
            lines[-1] += (
                f" Environment floors alone, without the molecule factors (same run): "
                f"{_fmt(u['c13_coverage90_floors_only'])} / {_fmt(u['h1_coverage90_floors_only'])} "
                f"(mean sd {_fmt(u['c13_mean_sd_floors_only'])} / "
                f"{_fmt(u['h1_mean_sd_floors_only'])} ppm)."
            )
    if "csp5_same_molecules" in report:
        same = report["csp5_same_molecules"]
        c = report["csp5"]["overall"]
        lines += [
            "",
            f"Same {report['csp5']['molecules']} molecules as csp5 (13C / 1H matched MAE): "
            f"GNN {_fmt(same['model']['c13_mae'])} / {_fmt(same['model']['h1_mae'])}, "
            f"HOSE {_fmt(same['hose']['c13_mae'])} / {_fmt(same['hose']['h1_mae'])}, "
            f"csp5 {_fmt(c['c13_mae'])} / {_fmt(c['h1_mae'])}.",
        ]
    elif "csp5" in report:
        lines += ["", f"csp5: {report['csp5'].get('skipped')}"]
    lines += [
        "",
        "By heavy-atom count (13C / 1H matched MAE, ppm):",
        "",
        "| heavy atoms | molecules | " + " | ".join(methods) + " |",
        "|---|---|" + "---|" * len(methods),
    ]
    for label, row in report["model"]["by_heavy_atoms"].items():
        cells = [
            f"{_fmt(report[m]['by_heavy_atoms'][label]['c13_mae'])} / {_fmt(report[m]['by_heavy_atoms'][label]['h1_mae'])}"
            for m in methods
        ]
        lines.append(f"| {label} | {row['molecules']} | " + " | ".join(cells) + " |")
    for kind, title in (("c13", "13C"), ("h1", "1H")):
        lines += [
            "",
            f"{title} matched MAE by environment (ppm, n = model's matched atoms):",
            "",
            "| environment | n | " + " | ".join(methods) + " |",
            "|---|---|" + "---|" * len(methods),
        ]
        for label, row in report["model"]["by_environment"][kind].items():
            cells = [
                _fmt(report[m]["by_environment"][kind].get(label, {}).get("mae", float("nan")))
                for m in methods
            ]
            lines.append(f"| {label} | {row['n']} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


REFUSAL_KINDS: tuple[tuple[str, str], ...] = (
    ("metal ", "metal (organometallic or coordination compound)"),
    ("radical", "radical"),
    ("heavy atoms; the limit", "too many heavy atoms"),
    ("no heavy atoms", "no heavy atoms"),
    ("cannot be parsed", "unreadable SMILES"),
    ("cannot be sanitized", "unreadable SMILES"),
    ("empty SMILES", "unreadable SMILES"),
)
"""Refusal message fragment → the kind a coverage report counts it under."""


def refusal_kind(error: str) -> str:
    """The :data:`REFUSAL_KINDS` kind of a prediction error (``"other"`` when none fits)."""
    return next((kind for fragment, kind in REFUSAL_KINDS if fragment in error), "other")


def coverage_report(
    records: Iterable[tuple[str, str]],
    model,
    batch_size: int = 512,
    progress: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Share of molecules the model predicts, what the predicted ones needed, why others fail.

    ``records`` are ``(id, smiles)``; a record the reader could not parse counts as an
    unreadable SMILES. Salts and mixtures (predicted as their largest organic component),
    rare elements (both with a ``note``) and molecules with a net charge are counted as
    covered and broken down under ``predicted_with``. ``progress`` is called with the
    number of molecules of each finished batch.
    """
    from nmrpeak_cli.predict.infer import predict_records

    total, predicted = 0, 0
    refused: dict[str, int] = {}
    examples: dict[str, str] = {}
    covered = {"salt or mixture": 0, "rare element": 0, "net charge": 0}
    for batch in batched(records, batch_size):
        total += len(batch)
        if progress is not None:
            progress(len(batch))
        for record, prediction in zip(
            batch,
            predict_records([smiles for _, smiles in batch], model=model, uncertainty=False),
            strict=True,
        ):
            if prediction.error is not None:
                kind = refusal_kind(prediction.error)
                refused[kind] = refused.get(kind, 0) + 1
                examples.setdefault(kind, f"{record[0]} {record[1]}: {prediction.error}")
                continue
            predicted += 1
            note = prediction.note or ""
            covered["salt or mixture"] += "largest organic component" in note
            covered["rare element"] += "rare in the training data" in note
            covered["net charge"] += _net_charge(prediction.smiles) != 0
    return {
        "molecules": total,
        "predicted": predicted,
        "coverage": predicted / total if total else None,
        "predicted_with": covered,
        "refused": dict(sorted(refused.items(), key=lambda kv: -kv[1])),
        "refused_examples": examples,
    }


def _net_charge(smiles: str) -> int:
    from rdkit import Chem

    mol = Chem.MolFromSmiles(smiles)
    return Chem.GetFormalCharge(mol) if mol is not None else 0


def render_coverage(report: dict[str, Any]) -> str:
    """Markdown of :func:`coverage_report`."""
    lines = [
        f"Coverage of {report['source']}: **{_fmt(report['coverage'])}** "
        f"({report['predicted']} of {report['molecules']} molecules predicted)",
        "",
        "| predicted with | molecules |",
        "|---|---|",
        *(f"| {kind} | {n} |" for kind, n in report["predicted_with"].items()),
        "",
        "| refused | molecules | example |",
        "|---|---|---|",
        *(
            f"| {kind} | {n} | {report['refused_examples'][kind][:90]} |"
            for kind, n in report["refused"].items()
        ),
    ]
    return "\n".join(lines) + "\n"
