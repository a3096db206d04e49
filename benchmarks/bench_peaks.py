"""Synthetic benchmark of ``nmrpeak peaks`` processing: known answers, random spectra.

13C: 5–20 singlets (noise set so the measured S/N of most peaks lies in 20–500, min and median printed), random phase
errors, baseline roll, digital-filter delay. 1H: 3–7 first-order multiplets (s, d, t, q,
dd, dt, td, ddd; J 2–16 Hz) at least 40 Hz apart, integrations 1–3 H, same distortions.
Folder mode writes N synthetic Bruker experiments (half 1H, half 13C, 32k points, in pairs
per sample) to a temporary folder and runs :func:`peaks_from_folders` on it, reporting wall
time per experiment and the peak resident memory of this process.

Real mode compares picked peaks of ../shared/data/raw-examples with expected shifts (the
sources of the expected values are in tests/processing/test_real_examples.py) and prints a
Markdown table.

Usage: ``python benchmarks/bench_peaks.py [N_PER_NUCLEUS]`` (default 200),
``python benchmarks/bench_peaks.py --folder N_EXPERIMENTS [JOBS]`` or
``python benchmarks/bench_peaks.py --real RAW_EXAMPLES_DIR``.
"""

from __future__ import annotations

import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from nmrpeak_cli.io.raw import RawSpectrum, read_raw
from nmrpeak_cli.processing.peaks import peaks_from_folders
from nmrpeak_cli.processing.pipeline import peaks_from_raw
from nmrpeak_cli.processing.synthetic import SyntheticSignal, synthetic_fid, write_bruker

PATTERNS = [
    (),
    (7.2,),
    (7.0, 7.0),
    (7.1,) * 3,
    (10.0, 2.5),
    (8.0, 2.0, 2.0),
    (7.5, 7.5, 3.0),
    (15.6, 6.9, 1.5),
]


def _spread(rng, count, low, high, gap):
    while True:
        values = np.sort(rng.uniform(low, high, count))
        if count < 2 or np.diff(values).min() > gap:
            return values


def c13_case(rng, seed, hard=False):
    """13C case; ``hard``: 2.4× the noise (S/N down to ~10), amplitudes over a 40× range,
    peaks only 0.15 ppm apart."""
    n = int(rng.integers(5, 21))
    shifts = _spread(rng, n, 10, 200, 0.15 if hard else 0.3)
    amps = rng.uniform(0.1 if hard else 0.2, 4.0, n)
    signals = tuple(
        SyntheticSignal(float(s), float(a), (), 3.0) for s, a in zip(shifts, amps, strict=True)
    )
    fid = synthetic_fid(
        signals,
        observe_mhz=100.61,
        sweep_hz=24000.0,
        carrier_ppm=100.0,
        points=32768,
        noise=0.6 if hard else 0.25,
        phase_deg=(rng.uniform(-180, 180), rng.uniform(-60, 60)),
        baseline_roll=rng.uniform(0, 1),
        group_delay=67.98,
        seed=seed,
    )
    raw = RawSpectrum(fid, "time", "13C", 100.61, 24000.0, carrier_ppm=100.0, group_delay=67.98)
    return raw, signals


HARD_PATTERNS = [(6.5,) * 6, (1.6,), (12.0, 5.0, 5.0), (9.0, 9.0, 1.2), (3.0, 3.0)]


def _h1_shifts(rng, patterns, n, observe_mhz, min_gap_hz):
    """Centres such that neighbouring multiplets' outer lines are at least ``min_gap_hz`` apart."""
    while True:
        shifts = np.sort(rng.uniform(0.5, 9.5, n))
        half = np.array([sum(p) / 2 for p in patterns]) / observe_mhz
        gaps = np.diff(shifts) - half[:-1] - half[1:]
        if n < 2 or gaps.min() * observe_mhz >= min_gap_hz:
            return shifts


def h1_case(rng, seed, hard=False):
    """1H case; ``hard``: 300 MHz, 5× the noise, J down to 1.2 Hz, septets, and multiplets only
    8 Hz apart (closer than the 20 Hz grouping gap, so they must be segmented)."""
    n = int(rng.integers(3, 8))
    pool = PATTERNS + HARD_PATTERNS if hard else PATTERNS
    patterns = [pool[int(rng.integers(len(pool)))] for _ in range(n)]
    observe, sweep = (300.13, 3600.0) if hard else (400.13, 4800.0)
    order = rng.permutation(n)
    patterns = [patterns[i] for i in order]
    shifts = _h1_shifts(rng, patterns, n, observe, 8.0 if hard else 30.0)
    signals = tuple(
        SyntheticSignal(float(s), float(rng.integers(1, 4)), p, 0.8)
        for s, p in zip(shifts, patterns, strict=True)
    )
    fid = synthetic_fid(
        signals,
        observe_mhz=observe,
        sweep_hz=sweep,
        carrier_ppm=5.0,
        points=32768,
        noise=0.1 if hard else 0.02,
        phase_deg=(rng.uniform(-180, 180), rng.uniform(-60, 60)),
        baseline_roll=rng.uniform(0, 1),
        group_delay=67.98,
        seed=seed,
    )
    raw = RawSpectrum(fid, "time", "1H", observe, sweep, carrier_ppm=5.0, group_delay=67.98)
    return raw, signals


def main(n: int) -> None:
    rng = np.random.default_rng(0)
    for hard in (False, True):
        c13_benchmark(rng, n, hard)
    for hard in (False, True):
        h1_benchmark(rng, n, hard)


def c13_benchmark(rng, n: int, hard: bool) -> None:
    """Recall over true peaks whose S/N (spectrum height at the true shift / noise, in the
    processed spectrum) is at least 20; precision over all reported peaks."""
    tp = fp = fn = weak = 0
    snrs, times = [], []
    for i in range(n):
        raw, truth = c13_case(rng, i, hard)
        start = time.perf_counter()
        result = peaks_from_raw(raw)
        times.append(time.perf_counter() - start)
        spectrum = result.spectrum
        found = np.array([s.shift for s in result.signals if s.label is None])
        true_shifts = np.array([s.shift for s in truth])
        for sig in truth:
            snr = (
                np.interp(sig.shift, spectrum.ppm[::-1], spectrum.intensity[::-1]) / spectrum.noise
            )
            snrs.append(snr)
            if snr < 20:
                weak += 1
                continue
            hit = bool(found.size) and np.min(np.abs(found - sig.shift)) < 0.05
            tp += hit
            fn += not hit
        fp += sum(1 for f in found if np.min(np.abs(f - true_shifts)) >= 0.05)
    label = "13C hard" if hard else "13C"
    print(
        f"{label}: {n} spectra, {tp + fn} true peaks at S/N >= 20 (+{weak} weaker), recall "
        f"{tp / (tp + fn):.4f}, precision {tp / (tp + fp):.4f}, true S/N min {min(snrs):.0f} "
        f"median {np.median(snrs):.0f}, time/spectrum {np.mean(times):.3f} s"
    )


def h1_benchmark(rng, n: int, hard: bool) -> None:
    centre, integ, mult_ok, total, missed = [], [], 0, 0, 0
    times = []
    for i in range(n):
        raw, truth = h1_case(rng, 10_000 + i, hard)
        h_count = int(sum(s.n_nuclei for s in truth))
        start = time.perf_counter()
        result = peaks_from_raw(raw, h_count=h_count)
        times.append(time.perf_counter() - start)
        found = [s for s in result.signals if s.label is None]
        for sig in truth:
            total += 1
            near = [f for f in found if abs(f.shift - sig.shift) < 0.02]
            if not near:
                missed += 1
                continue
            f = min(near, key=lambda f: abs(f.shift - sig.shift))
            centre.append(abs(f.shift - sig.shift))
            integ.append(abs(f.integration - sig.n_nuclei) / sig.n_nuclei)
            mult_ok += f.multiplicity == sig.multiplicity
    label = "1H hard" if hard else "1H"
    print(
        f"{label}: {n} spectra, {total} multiplets, missed {missed}, centre error mean "
        f"{np.mean(centre):.4f} ppm (95th pct {np.percentile(centre, 95):.4f}), integration "
        f"error mean {100 * np.mean(integ):.2f}% (95th pct {100 * np.percentile(integ, 95):.2f}%), "
        f"multiplicity correct {mult_ok / total:.4f}, time/spectrum {np.mean(times):.3f} s"
    )


def folder(n: int, jobs: int) -> None:
    rng = np.random.default_rng(1)
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(n):
            make = h1_case if i % 2 == 0 else c13_case
            raw, _ = make(rng, i)
            nucleus = raw.nucleus
            write_bruker(
                Path(tmp) / f"sample{i // 2:05d}" / str(1 + i % 2),
                raw.data,
                nucleus=nucleus,
                observe_mhz=raw.observe_mhz,
                sweep_hz=raw.sweep_hz,
                carrier_ppm=raw.carrier_ppm,
                group_delay=raw.group_delay,
            )
        start = time.perf_counter()
        report = peaks_from_folders([tmp], jobs=jobs)
        wall = time.perf_counter() - start
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"folder: {n} experiments, {len(report.rows)} rows ({report.failed} failed), jobs {jobs}: "
        f"{wall:.1f} s wall, {wall / n:.3f} s per experiment ({wall * jobs / n:.3f} s per "
        f"experiment per core), peak RSS of the parent {peak_mb:.0f} MB"
    )


#: (compound, experiment, expected shifts, expected 1H multiplicities or None, tolerance, H count)
REAL_CASES = [
    (
        "ibuprofen",
        "ibuprofen_bruker/2",
        [181.2, 140.9, 137.0, 129.4, 127.3, 45.1, 45.0, 30.2, 22.4, 18.1],
        None,
        0.5,
        None,
    ),
    (
        "ibuprofen",
        "ibuprofen_bruker/1",
        [7.22, 7.10, 3.70, 2.45, 1.85, 1.50, 0.90],
        ["d", "d", "q", "d", "m", "d", "d"],
        0.02,
        18,
    ),
    (
        "isopropyl 4-(1-hydroxyethyl)benzoate",
        "isopropyl-4-(1-hydroxyethyl)benzoate_bruker/2",
        [165.96, 150.69, 130.05, 129.82, 125.20, 70.07, 68.35, 25.38, 21.99],
        None,
        0.5,
        None,
    ),
    (
        "isopropyl 4-(1-hydroxyethyl)benzoate",
        "isopropyl-4-(1-hydroxyethyl)benzoate_bruker/1",
        [8.015, 7.433, 5.246, 4.963, 1.892, 1.499, 1.364],
        ["d", "d", "hept", "qd", "d", "d", "d"],
        0.02,
        16,
    ),
    (
        "cytisine",
        "jcamp/cytisine/1h.jdx",
        [7.304, 6.339, 6.008, 4.036, 3.839, 3.023, 2.910, 2.326, 1.948],
        None,
        0.02,
        14,
    ),
    # Time-domain JCAMP-DX. Aspirin: expected = the instrument's own processed spectrum of the
    # same FID (aspirin/1h.dx, operator phase and referencing). Ethyl crotonate (60 MHz
    # benchtop, no shift reference in the file): literature centres in CDCl3 (6.97 dq, 5.84
    # dq, 4.18 q, 1.87 dd, 1.28 t). Cytisine 13C (CD2Cl2): its 11 carbons, literature shifts
    # in CDCl3 (tolerance 1.5 ppm for the solvent change); the check is that all 11 are found,
    # the CH2N carbons beside the CD2Cl2 quintet included.
    (
        "aspirin",
        "jcamp/aspirin/1h.fid.dx",
        [8.04, 7.53, 7.28, 7.07, 2.29],
        None,
        0.02,
        8,
    ),
    (
        "ethyl crotonate",
        "jcamp/ethyl-crotonate/1h.jdx",
        [6.97, 5.84, 4.18, 1.87, 1.28],
        None,
        0.02,
        10,
    ),
    (
        "cytisine",
        "jcamp/cytisine/13c.fid.jdx",
        [163.6, 150.9, 138.8, 116.7, 104.9, 53.9, 52.8, 49.9, 35.6, 27.6, 26.2],
        None,
        1.5,
        None,
    ),
]


def real(root: Path) -> None:
    print(
        "| compound | nucleus | input | expected | reported | matched | max abs. error (ppm) | "
        "mean abs. error (ppm) | tolerance (ppm) | multiplicity agrees | referencing applied | "
        "quality flag |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for name, path, expected, codes, tolerance, h_count in REAL_CASES:
        for reprocess in (False, True) if "bruker" in path else (False,):
            result = peaks_from_raw(read_raw(root / path, reprocess=reprocess), h_count=h_count)
            picked = result.peak_list()
            nearest = [int(np.argmin(np.abs(picked.shifts - e))) for e in expected]
            errors = [
                abs(float(picked.shifts[i]) - e) for i, e in zip(nearest, expected, strict=True)
            ]
            matched = sum(e <= tolerance for e in errors)
            agree = "–"
            if codes is not None:
                same = sum(picked[i].multiplicity == c for i, c in zip(nearest, codes, strict=True))
                agree = f"{same}/{len(codes)}"
            source = ("FID" if reprocess else "pdata/1/1r") if "bruker" in path else "JCAMP"
            if result.spectrum.steps[0][0] != "instrument_spectrum" and "jcamp" in path:
                source = "JCAMP FID"
            nearest_unique = len(set(nearest))
            ref = [step for step_name, step in result.spectrum.steps if step_name == "reference"]
            ref_text = f"{ref[0]['to']} ({ref[0]['offset_ppm']:+.3f})" if ref else "none"
            print(
                f"| {name} | {result.nucleus} | {source} | {len(expected)} | {len(picked)} | "
                f"{matched}/{len(expected)} ({nearest_unique} distinct) | {max(errors):.3f} | "
                f"{np.mean(errors):.3f} | {tolerance} | {agree} | {ref_text} | "
                f"{'; '.join(result.quality) or '–'} |"
            )


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--real":
        real(Path(sys.argv[2]))
        sys.exit(0)
    if len(sys.argv) > 1 and sys.argv[1] == "--folder":
        folder(int(sys.argv[2]), int(sys.argv[3]) if len(sys.argv) > 3 else 1)
    else:
        main(int(sys.argv[1]) if len(sys.argv) > 1 else 200)
