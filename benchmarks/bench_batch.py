"""Batch throughput of the CLI: ``predict`` and ``retrieve`` over N MOSES molecules, and the
cold start of an inline ``elucidate``.

Every number comes from a fresh ``nmrpeak`` process (``python -m nmrpeak_cli.cli.app``), so
imports, model loading and worker start-up are included:

(a) predict: the first N MOSES SMILES (streamed from the ``molsets`` wheel through
    :mod:`nmrpeak_cli.data.moses`) written to a temporary ``.smi``; ``nmrpeak predict
    IN.smi -o predictions.parquet --jobs J``: wall time, molecules/s, peak RSS.
(b) retrieve: the predictions of (a) as query rows (13C signal shifts; 1H shift, integration,
    multiplicity, J; formula from the SMILES); ``nmrpeak retrieve queries.parquet -l
    LIBRARY -o results.parquet --jobs J``: wall time, queries/s, peak RSS. Skipped without a
    library (``--library``, default: the one ``nmrpeak library default`` built, if present).
(c) elucidate cold start: ``nmrpeak elucidate --c13 ... --h1 ... --formula C4H8O2`` (ethyl
    acetate, JSONL to a pipe), median wall time of ``--runs`` processes; it uses the default
    library when that exists (recorded in the report).

Peak RSS is the largest sum of the resident set sizes of the process and all its descendants
(the ``--jobs`` workers), sampled every 50 ms with psutil (shared pages count once per
process). Without psutil it is ``getrusage(RUSAGE_CHILDREN).ru_maxrss``: the largest single
process measured so far in this benchmark, workers not summed.

Usage: ``python benchmarks/bench_batch.py [--records 100000] [--jobs 2] [--library LIBDIR]
[--runs 5] [--out runs/bench_batch.json] [--workdir DIR]``
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from itertools import islice
from pathlib import Path
from typing import Any

from nmrpeak_cli.paths import write_json_atomic

#: No ``--quiet``: the done/failed summary on stderr is parsed (no progress bar off a terminal).
NMRPEAK = [sys.executable, "-m", "nmrpeak_cli.cli.app"]

#: Ethyl acetate, as a chemist would type it (README quick start).
ELUCIDATE_QUERY = [
    "--c13", "171.1, 60.5, 21.0, 14.2",
    "--h1", "4.12 (q, J = 7.1 Hz, 2H), 2.05 (s, 3H), 1.26 (t, J = 7.1 Hz, 3H)",
    "--formula", "C4H8O2",
]  # fmt: skip
SUMMARY = re.compile(r"(\d+) done, (\d+) failed")


def measure(command: list[str], workdir: Path) -> dict[str, Any]:
    """Run ``command`` (stdout discarded, stderr kept): wall time, peak RSS, exit code."""
    log = workdir / "stderr.log"
    with log.open("wb") as stderr:
        start = time.perf_counter()
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=stderr)
        peak = _watch_rss(process)
        wall = time.perf_counter() - start
    text = log.read_text(errors="replace")
    if peak is None:
        import resource

        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024  # KiB on Linux
    counts = SUMMARY.search(" ".join(text.split()))
    return {
        "command": "nmrpeak " + " ".join(command[len(NMRPEAK) :]),
        "exit_code": process.returncode,
        "wall_s": round(wall, 3),
        "peak_rss_mb": round(peak / 2**20, 1),
        "done": int(counts.group(1)) if counts else None,
        "failed": int(counts.group(2)) if counts else None,
        "stderr_tail": text[-500:] if process.returncode not in (0, 1) else "",
    }


def _watch_rss(process: subprocess.Popen) -> int | None:
    """Wait for ``process``, sampling the RSS of its process tree; ``None`` without psutil."""
    try:
        import psutil
    except ImportError:
        process.wait()
        return None
    peak = 0
    try:
        root = psutil.Process(process.pid)
    except psutil.NoSuchProcess:
        process.wait()
        return 0
    while process.poll() is None:
        total = 0
        try:
            tree = [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            break
        for member in tree:
            try:
                total += member.memory_info().rss
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue
        peak = max(peak, total)
        time.sleep(0.05)
    process.wait()
    return peak


def write_moses_smiles(path: Path, count: int) -> int:
    """The first ``count`` MOSES SMILES as ``SMILES moses<i>`` lines; returns how many."""
    from nmrpeak_cli.data.moses import load_moses_smiles

    written = 0
    with path.open("w") as handle:
        for i, smiles in enumerate(islice(load_moses_smiles(), count)):
            handle.write(f"{smiles} moses{i}\n")
            written += 1
    return written


def _query_rows(predictions: Path) -> Iterator[list[dict[str, Any]]]:
    import pyarrow.parquet as pq

    from nmrpeak_cli import chem
    from nmrpeak_cli.errors import ChemistryError
    from nmrpeak_cli.retrieve.models import prediction_to_spectrum
    from nmrpeak_cli.schema import spectrum_to_row

    for batch in pq.ParquetFile(predictions).iter_batches(batch_size=4096):
        rows = []
        for row in batch.to_pylist():
            if row["error"]:
                continue
            try:
                formula = chem.formula(chem.parse_smiles(row["smiles"]))
            except ChemistryError:
                continue
            spectrum = prediction_to_spectrum(row)
            rows.append({**spectrum_to_row(spectrum), "formula": formula})
        yield rows


def write_queries(predictions: Path, path: Path) -> int:
    """Query rows (QUERY_SCHEMA, with formula) from the prediction table; returns how many."""
    from nmrpeak_cli.io import open_writer
    from nmrpeak_cli.schema import QUERY_SCHEMA

    count = 0
    with open_writer(path, QUERY_SCHEMA) as writer:
        for rows in _query_rows(predictions):
            writer.write(rows)
            count += len(rows)
    return count


def default_library() -> Path | None:
    """The library ``nmrpeak library default`` built, when it exists."""
    from nmrpeak_cli.retrieve.library import default_library_dir

    path = default_library_dir()
    return path if path.is_dir() else None


def _rate(count: int, result: dict[str, Any]) -> float | None:
    return round(count / result["wall_s"], 1) if result["exit_code"] in (0, 1) else None


def run(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    """All three measurements; the report as a dict."""
    from nmrpeak_cli import __version__

    report: dict[str, Any] = {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "nmrpeak": __version__,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        "jobs": args.jobs,
        "rss_method": "psutil process tree" if _has_psutil() else "getrusage children",
    }
    source = workdir / "moses.smi"
    molecules = write_moses_smiles(source, args.records)
    predictions = workdir / "predictions.parquet"
    predict = measure(
        [*NMRPEAK, "predict", str(source), "-o", str(predictions), "--jobs", str(args.jobs)],
        workdir,
    )
    report["predict"] = {"records": molecules, **predict, "per_s": _rate(molecules, predict)}

    library = args.library or default_library()
    if library is None or not predictions.exists():
        reason = "no predictions" if library else "no --library and no default library"
        report["retrieve"] = {"skipped": reason}
    else:
        queries = workdir / "queries.parquet"
        count = write_queries(predictions, queries)
        results = workdir / "results.parquet"
        command = [
            *NMRPEAK, "retrieve", str(queries), "-l", str(library), "-o", str(results),
            "--jobs", str(args.jobs),
        ]  # fmt: skip
        retrieve = measure(command, workdir)
        report["retrieve"] = {
            "records": count,
            "library": str(library),
            **retrieve,
            "per_s": _rate(count, retrieve),
        }

    runs = [measure([*NMRPEAK, "elucidate", *ELUCIDATE_QUERY], workdir) for _ in range(args.runs)]
    report["elucidate_cold_start"] = {
        "default_library": str(default_library()) if default_library() else None,
        "runs_s": [r["wall_s"] for r in runs],
        "wall_s": round(statistics.median(r["wall_s"] for r in runs), 3),
        "peak_rss_mb": max(r["peak_rss_mb"] for r in runs),
        "exit_code": max(r["exit_code"] for r in runs),
        "stderr_tail": next((r["stderr_tail"] for r in runs if r["stderr_tail"]), ""),
    }
    return report


def _has_psutil() -> bool:
    try:
        import psutil  # noqa: F401
    except ImportError:
        return False
    return True


def markdown(report: dict[str, Any]) -> str:
    """The report as a markdown table."""
    lines = [
        f"nmrpeak {report['nmrpeak']}, {report['cpus']} CPUs, --jobs {report['jobs']}, "
        f"load average at start {report['load_average_at_start'][0]}; peak RSS: "
        f"{report['rss_method']}.",
        "",
        "| step | records | wall (s) | rate (/s) | peak RSS (MB) | exit |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name in ("predict", "retrieve"):
        step = report[name]
        if "skipped" in step:
            lines.append(f"| {name} | skipped: {step['skipped']} | | | | |")
            continue
        lines.append(
            f"| {name} | {step['records']} | {step['wall_s']:.1f} | {step['per_s'] or '—'} | "
            f"{step['peak_rss_mb']:.0f} | {step['exit_code']} |"
        )
    cold = report["elucidate_cold_start"]
    library = "default library" if cold["default_library"] else "no library"
    lines.append(
        f"| elucidate, inline, cold ({library}; median of {len(cold['runs_s'])}) | 1 | "
        f"{cold['wall_s']:.1f} | | {cold['peak_rss_mb']:.0f} | {cold['exit_code']} |"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark, print the table, write the JSON report."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=100_000, help="MOSES molecules.")
    parser.add_argument("--jobs", type=int, default=2, help="--jobs of predict and retrieve.")
    parser.add_argument("--library", type=Path, default=None, help="Library for retrieve.")
    parser.add_argument("--runs", type=int, default=5, help="Cold starts of elucidate.")
    parser.add_argument("--out", type=Path, default=Path("runs/bench_batch.json"))
    parser.add_argument("--workdir", type=Path, default=None, help="Keep the files here.")
    args = parser.parse_args(argv)
    if args.library is not None and not args.library.is_dir():
        parser.error(f"--library {args.library}: no such library folder")
    if args.workdir is not None:
        args.workdir.mkdir(parents=True, exist_ok=True)
        report = run(args, args.workdir)
    else:
        with tempfile.TemporaryDirectory(prefix="bench_batch_") as folder:
            report = run(args, Path(folder))
    print(markdown(report))
    write_json_atomic(args.out, report)
    print(f"\nwrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
