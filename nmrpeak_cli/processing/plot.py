"""Optional per-experiment PNG/SVG: the processed spectrum, picked peaks and 1H integrals.

Needs matplotlib (``pip install nmrpeak-cli[plot]``); imported only when a plot is asked for.
"""

from __future__ import annotations

from pathlib import Path

from nmrpeak_cli.errors import NotAvailableError
from nmrpeak_cli.processing.types import ExperimentPeaks


def plot_experiment(peaks: ExperimentPeaks, path: str | Path) -> Path:
    """Draw the spectrum with its peaks (excluded ones grey, labelled) and save it to ``path``.

    Raises
    ------
    NotAvailableError
        matplotlib is not installed.
    """
    try:
        import matplotlib

        matplotlib.use("Agg")
        from matplotlib import pyplot
    except ImportError as exc:
        raise NotAvailableError("plots need matplotlib: pip install 'nmrpeak-cli[plot]'") from exc
    spectrum = peaks.spectrum
    figure, axis = pyplot.subplots(figsize=(12, 4))
    axis.plot(spectrum.ppm, spectrum.intensity, lw=0.6, color="black")
    top = float(spectrum.intensity.max()) if spectrum.intensity.size else 1.0
    for signal in peaks.signals:
        colour = "tab:red" if signal.label is None else "0.6"
        axis.axvline(signal.shift, ymax=0.05, color=colour, lw=0.8)
        text = f"{signal.shift:.2f}"
        if signal.integration is not None:
            text += f"\n{signal.multiplicity} {signal.integration:.2f}H"
        if signal.label is not None:
            text += f"\n({signal.label})"
        axis.annotate(text, (signal.shift, min(signal.height, top)), fontsize=6, color=colour)
    axis.invert_xaxis()
    axis.set_xlabel(f"{peaks.nucleus} shift (ppm)")
    axis.set_yticks([])
    axis.set_title(f"{peaks.sample} — {Path(peaks.source).name} — {peaks.title}"[:120], fontsize=8)
    figure.tight_layout()
    path = Path(path)
    figure.savefig(path, dpi=110)
    pyplot.close(figure)
    return path
