"""Sharding and ordered parallel map: the pieces every batch command shares.

joblib is used only here (:func:`parallel_map`), so the rest of the code never imports it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


@dataclass(frozen=True, slots=True)
class Shard:
    """One shard of a job array: records ``i`` with ``i % count == index`` (0-based index)."""

    index: int = 0
    count: int = 1

    def __post_init__(self) -> None:
        if self.count < 1:
            raise ValueError(f"shard count must be at least 1, got {self.count}")
        if not 0 <= self.index < self.count:
            raise ValueError(
                f"shard index {self.index} is out of range for {self.count} shards "
                f"(expected 0 to {self.count - 1})"
            )

    @classmethod
    def parse(cls, text: str) -> Shard:
        """Parse ``"I/N"`` (0-based ``I``), e.g. ``"3/16"``."""
        parts = str(text).split("/")
        if len(parts) != 2 or not all(p.strip().lstrip("-").isdigit() for p in parts):
            raise ValueError(f"--shard expects I/N with integers, e.g. 0/8; got {text!r}")
        return cls(int(parts[0]), int(parts[1]))

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Shard:
        """Shard from ``SLURM_ARRAY_TASK_ID``/``SLURM_ARRAY_TASK_COUNT`` (offset by
        ``SLURM_ARRAY_TASK_MIN`` when set), or the whole input when they are absent."""
        env = os.environ if environ is None else environ
        if "SLURM_ARRAY_TASK_ID" not in env or "SLURM_ARRAY_TASK_COUNT" not in env:
            return cls()
        task = int(env["SLURM_ARRAY_TASK_ID"]) - int(env.get("SLURM_ARRAY_TASK_MIN", "0"))
        return cls(task, int(env["SLURM_ARRAY_TASK_COUNT"]))

    def select(self, items: Iterable[T]) -> Iterator[T]:
        """Yield the items of this shard, in order."""
        if self.count == 1:
            yield from items
            return
        for i, item in enumerate(items):
            if i % self.count == self.index:
                yield item

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


def resolve_shard(text: str | None) -> Shard:
    """``--shard`` value if given, else the SLURM job-array environment, else everything."""
    return Shard.parse(text) if text else Shard.from_env()


def parallel_map(
    function: Callable[[T], R],
    items: Iterable[T],
    *,
    jobs: int = 1,
    chunk_size: int = 64,
    on_result: Callable[[int], None] | None = None,
) -> Iterator[R]:
    """Apply ``function`` to ``items`` in order, in ``jobs`` worker processes.

    Results are yielded in input order as they become available, so memory stays bounded
    by the number of items in flight. ``on_result(n)`` is called after each ``n`` results
    (for progress bars). With ``jobs == 1`` nothing is spawned.
    """
    if jobs <= 1:
        for item in items:
            result = function(item)
            if on_result:
                on_result(1)
            yield result
        return
    from joblib import Parallel, delayed

    runner = Parallel(
        n_jobs=jobs, return_as="generator", batch_size=chunk_size, pre_dispatch="4*n_jobs"
    )
    for result in runner(delayed(function)(item) for item in items):
        if on_result:
            on_result(1)
        yield result
