"""The run context: settings built once by the CLI (or a caller) and passed down explicitly."""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RunContext:
    """Settings every batch operation needs.

    Attributes
    ----------
    seed
        Random seed for anything stochastic (recorded in outputs and model cards).
    device
        ``"auto"``, ``"cpu"`` or ``"cuda"``; resolved by :meth:`torch_device`.
    jobs
        Worker processes for CPU-parallel work (1 = in-process).
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
        jobs = self.jobs if self.jobs > 0 else (os.cpu_count() or 1)
        object.__setattr__(self, "jobs", jobs)

    def torch_device(self) -> str:
        """The concrete torch device: CUDA when asked for or (``auto``) when one is visible."""
        if self.device != "auto":
            return self.device
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"
