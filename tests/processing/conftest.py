"""Synthetic experiments with known answers (fixtures ``make_h1`` and ``make_c13``)."""

from __future__ import annotations

import pytest

from nmrpeak_cli.io.raw import RawSpectrum
from nmrpeak_cli.processing.synthetic import SyntheticSignal, synthetic_fid

H1_SIGNALS = (
    SyntheticSignal(7.45, 2, (8.0,)),
    SyntheticSignal(5.80, 1, (15.6, 6.9, 1.5)),
    SyntheticSignal(4.12, 2, (7.1, 7.1, 7.1)),
    SyntheticSignal(2.05, 3),
    SyntheticSignal(1.25, 3, (7.1, 7.1)),
)
C13_SIGNALS = tuple(
    SyntheticSignal(s, 1, (), 1.0) for s in (170.2, 138.4, 128.9, 128.3, 61.0, 35.2, 14.2)
)
H1_ACQ = {"observe_mhz": 400.13, "sweep_hz": 4800.0, "carrier_ppm": 5.0}
C13_ACQ = {"observe_mhz": 100.61, "sweep_hz": 24000.0, "carrier_ppm": 100.0}


def h1_raw(**kwargs) -> RawSpectrum:
    """A 1H FID of :data:`H1_SIGNALS` (keyword arguments go to ``synthetic_fid``)."""
    options = {"points": 16384, "noise": 0.02, "seed": 1, **kwargs}
    fid = synthetic_fid(H1_SIGNALS, **H1_ACQ, **options)
    return RawSpectrum(
        fid,
        "time",
        "1H",
        H1_ACQ["observe_mhz"],
        H1_ACQ["sweep_hz"],
        carrier_ppm=H1_ACQ["carrier_ppm"],
        group_delay=options.get("group_delay", 0.0),
        solvent="CDCl3",
        source="synthetic-1H",
    )


def c13_raw(**kwargs) -> RawSpectrum:
    """A 13C FID of :data:`C13_SIGNALS`."""
    options = {"points": 16384, "noise": 0.05, "seed": 2, **kwargs}
    fid = synthetic_fid(C13_SIGNALS, **C13_ACQ, **options)
    return RawSpectrum(
        fid,
        "time",
        "13C",
        C13_ACQ["observe_mhz"],
        C13_ACQ["sweep_hz"],
        carrier_ppm=C13_ACQ["carrier_ppm"],
        group_delay=options.get("group_delay", 0.0),
        source="synthetic-13C",
    )


@pytest.fixture
def make_h1():
    """Builder of synthetic 1H experiments: ``make_h1(phase_deg=..., baseline_roll=...)``."""
    return h1_raw


@pytest.fixture
def make_c13():
    """Builder of synthetic 13C experiments."""
    return c13_raw


@pytest.fixture
def h1_signals():
    """The true 1H signals of ``make_h1`` experiments."""
    return H1_SIGNALS


@pytest.fixture
def c13_signals():
    """The true 13C signals of ``make_c13`` experiments."""
    return C13_SIGNALS
