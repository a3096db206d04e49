"""Time-domain steps and the Fourier transform: pure functions on 1D complex arrays.

Conventions: a FID sample ``k`` is taken at ``t = k / sweep_hz``; a signal at ``+f`` Hz from
the carrier is ``exp(+2πi f t)``; spectra are stored with index 0 at the highest frequency
(highest ppm), as instruments store them.
"""

from __future__ import annotations

import warnings

import numpy as np


def remove_digital_filter(fid: np.ndarray, group_delay: float) -> np.ndarray:
    """Remove the Bruker digital-filter delay of ``group_delay`` points.

    The FID is advanced by the (fractional) group delay with the FFT shift theorem, so the
    echo top becomes point 0; the filter's pre-echo points, wrapped to the end, are dropped.
    ``group_delay <= 0`` returns a copy.
    """
    data = np.array(fid, dtype=np.complex128)
    if group_delay <= 0:
        return data
    cycles = np.fft.fftfreq(data.size)
    shifted = np.fft.ifft(np.fft.fft(data) * np.exp(2j * np.pi * cycles * group_delay))
    return shifted[: data.size - int(np.ceil(group_delay))]


def estimate_delay(fid: np.ndarray, search: int = 512) -> float:
    """Candidate digital-filter delay (points) of a FID whose parameters do not give it: the
    position of the largest magnitude among the first ``search`` points (a filtered FID peaks
    near its group delay), 0 when that is within the first 3 points. A candidate only: the
    pipeline keeps it when it phases better than no delay."""
    top = int(np.argmax(np.abs(fid[:search])))
    return float(top) if top >= 3 else 0.0


def backward_predict(fid: np.ndarray, points: int, *, order: int = 32) -> np.ndarray:
    """Prepend ``points`` samples predicted backwards in time (linear prediction, nmrglue).

    Rebuilds the start of a FID whose acquisition began late (receiver dead time, the
    benchtop instruments' ``TDoff``): without it the spectrum needs a first-order phase of
    ``360° × points`` and its baseline rolls. The model (``order`` coefficients) is fitted
    on the first 512 points.
    """
    import nmrglue as ng

    data = np.array(fid, dtype=np.complex128)
    if points <= 0:
        return data
    fit = slice(0, min(data.size, max(512, 4 * order)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PendingDeprecationWarning)  # nmrglue uses np.matrix
        rebuilt = ng.proc_lp.lp(
            data, pred=points, slice=fit, order=order, mode="b", append="before"
        )
    return np.asarray(rebuilt, dtype=np.complex128)


def exponential(fid: np.ndarray, lb_hz: float, sweep_hz: float) -> np.ndarray:
    """Exponential apodization (line broadening ``lb_hz``, Hz) of a FID sampled at ``sweep_hz``."""
    t = np.arange(fid.shape[-1]) / sweep_hz
    return fid * np.exp(-np.pi * lb_hz * t)


def zero_fill(fid: np.ndarray, size: int) -> np.ndarray:
    """Pad the FID with zeros to ``size`` points (truncate if shorter)."""
    out = np.zeros(size, dtype=np.complex128)
    n = min(size, fid.shape[-1])
    out[:n] = fid[:n]
    return out


def default_size(points: int, max_size: int = 131072) -> int:
    """Zero-fill size: the power of two at least twice ``points``, at most ``max_size``."""
    return int(min(max_size, 1 << int(np.ceil(np.log2(max(2 * points, 2))))))


def fourier_transform(fid: np.ndarray) -> np.ndarray:
    """Complex spectrum of a FID, index 0 at the highest frequency.

    The first point is halved before the transform (removes the DC offset it would add).
    """
    data = np.array(fid, dtype=np.complex128)
    data[0] *= 0.5
    return np.fft.fftshift(np.fft.fft(data))[::-1].copy()


def frequency_axis_ppm(
    size: int, sweep_hz: float, observe_mhz: float, carrier_ppm: float
) -> np.ndarray:
    """ppm of each point of a :func:`fourier_transform` output of ``size`` points."""
    hz = (size / 2 - 1 - np.arange(size)) * sweep_hz / size
    return carrier_ppm + hz / observe_mhz
