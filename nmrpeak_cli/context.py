"""The run context: settings built once by the CLI (or a caller) and passed down explicitly.

The root command builds a :class:`RunContext` from the global options (``--seed``,
``--quiet``, ``--verbose``); a command that has ``--device``/``--jobs`` resolves them once
with :meth:`RunContext.with_options` (a concrete torch device, at least one worker) and passes
``context.device``/``context.jobs`` down. Nothing below the CLI resolves them again.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace


def resolve_jobs(jobs: int) -> int:
    """Worker processes: ``jobs`` itself, or every core for ``0`` (or less)."""
    return jobs if jobs > 0 else (os.cpu_count() or 1)


def resolve_device(device: str) -> str:
    """The concrete torch device of ``auto|cpu|cuda[:N]``: CUDA for ``auto`` when one is
    visible, else the CPU. Raises ``ValueError`` naming the allowed values."""
    if device not in {"auto", "cpu", "cuda"} and not device.startswith("cuda:"):
        raise ValueError(f"device must be 'auto', 'cpu' or 'cuda[:N]', got {device!r}")
    if device != "auto":
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


@dataclass(frozen=True, slots=True)
class RunContext:
    """Settings every batch operation needs.

    Attributes
    ----------
    seed
        Random seed for anything stochastic (recorded in outputs and model cards).
    device
        ``"auto"``, ``"cpu"`` or ``"cuda[:N]"``; concrete after :meth:`with_options`.
    jobs
        Worker processes for CPU-parallel work (1 = in-process; 0 given = every core).
    quiet
        No progress bars or informational logs.
    verbose
        Tracebacks and debug logs.
    """

    seed: int = 0
    device: str = "auto"
    jobs: int = 1
    quiet: bool = False
    verbose: bool = False

    def __post_init__(self) -> None:
        if self.device not in {"auto", "cpu", "cuda"} and not self.device.startswith("cuda:"):
            raise ValueError(f"device must be 'auto', 'cpu' or 'cuda[:N]', got {self.device!r}")
        object.__setattr__(self, "jobs", resolve_jobs(self.jobs))

    def torch_device(self) -> str:
        """The concrete torch device: CUDA when asked for or (``auto``) when one is visible."""
        return resolve_device(self.device)

    def with_options(self, *, device: str | None = None, jobs: int | None = None) -> RunContext:
        """This context with a command's ``--device`` and ``--jobs``, resolved once.

        A given ``device`` becomes the concrete torch device (:func:`resolve_device`; torch
        is imported only then); a given ``jobs`` becomes a worker count of at least one
        (``0`` = every core). Raises ``ValueError`` for an unknown device.
        """
        changed = self
        if jobs is not None:
            changed = replace(changed, jobs=resolve_jobs(jobs))
        if device is not None:
            changed = replace(changed, device=resolve_device(device))
        return changed
