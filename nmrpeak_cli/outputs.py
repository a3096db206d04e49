"""Resumable, atomic batch outputs.

A batch command writes its rows through a :class:`ResumableOutput`: each finished batch
becomes one Parquet *part* in ``OUT.parts/`` (written to a temporary file, then renamed, so a
part is either whole or absent), with a hidden ``_record_key`` column naming the input record
(id + input hash) it came from. When the run ends, the parts are streamed into ``OUT`` in the
format its extension asks for (again temp file + rename) and the part folder is removed; a
small sidecar ``.OUT.done`` keeps the record key of every row.

Killing the process at any point (SIGKILL included) and re-running with ``resume=True`` loses
nothing and duplicates nothing: records whose key is in a finished part (or in the sidecar
of a finished output) are skipped, the rest are processed again.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from nmrpeak_cli.errors import InputFileError
from nmrpeak_cli.paths import atomic_path, write_text_atomic

KEY_COLUMN = "_record_key"


def record_key(record_id: str, content: object) -> str:
    """Key of one input record: its id and a hash of its content (JSON, sorted keys)."""
    payload = json.dumps(content, sort_keys=True, default=str).encode()
    return f"{record_id}\x1f{hashlib.blake2b(payload, digest_size=10).hexdigest()}"


@dataclass(frozen=True, slots=True)
class BatchSummary:
    """What a batch run did, printed at the end and mapped to the exit code.

    Attributes
    ----------
    done
        Records processed successfully in this run.
    failed
        Records whose output rows carry an ``error``.
    skipped
        Records skipped because ``--resume`` found their results.
    """

    done: int = 0
    failed: int = 0
    skipped: int = 0

    def __add__(self, other: BatchSummary) -> BatchSummary:
        return BatchSummary(
            self.done + other.done, self.failed + other.failed, self.skipped + other.skipped
        )


class ResumableOutput:
    """Output file assembled from atomic parts, resumable after any interruption.

    Parameters
    ----------
    path
        Final output (format by extension, see :func:`nmrpeak_cli.io.open_writer`).
    schema
        Arrow schema of the rows.
    resume
        Keep finished parts (and a finished output) and skip their records; otherwise start
        afresh.
    run_digest
        Digest of the options that shape the output (model, k, ...); a resume with different
        options is refused rather than mixing incompatible rows.
    shard
        The job-array shard (``"I/N"``) this output holds, recorded for :func:`merge_outputs`.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        schema: pa.Schema,
        *,
        resume: bool,
        run_digest: str = "",
        shard: str | None = None,
    ) -> None:
        self.path = Path(path)
        self.schema = schema
        self.parts_dir = self.path.with_name(self.path.name + ".parts")
        self.done_file = self.path.with_name(f".{self.path.name}.done")
        self.part_schema = schema.append(pa.field(KEY_COLUMN, pa.string()))
        self._digest = run_digest
        self._header = json.dumps({"digest": run_digest, "shard": shard})
        self._finished_rows: list[str] = []  # record key of each row of the finished output
        self._kept: set[str] = set()
        if resume:
            self._check_digest()
            if self.path.exists() and self.done_file.exists():
                self._finished_rows = self.done_file.read_text().splitlines()[1:]
        else:
            shutil.rmtree(self.parts_dir, ignore_errors=True)
        self.parts_dir.mkdir(parents=True, exist_ok=True)
        write_text_atomic(self.parts_dir / "run.json", self._header)
        self._earlier_parts = set(self._parts())
        self._next = 1 + max((int(p.stem.split("-")[1]) for p in self._parts()), default=-1)

    def _check_digest(self) -> None:
        for marker in (self.parts_dir / "run.json", self.done_file):
            if not marker.exists():
                continue
            text = marker.read_text()
            digest = json.loads(text.splitlines()[0]).get("digest", "") if text else ""
            if digest != self._digest:
                raise InputFileError(
                    f"{self.path}: the existing partial output was made with different options; "
                    "rerun with the same options, or without --resume to start afresh"
                )

    def _parts(self) -> list[Path]:
        return sorted(self.parts_dir.glob("part-*.parquet"))

    def done_keys(self) -> set[str]:
        """Keys of the records whose results already exist."""
        keys = set(self._finished_rows)
        for part in self._parts():
            keys.update(pq.read_table(part, columns=[KEY_COLUMN]).column(KEY_COLUMN).to_pylist())
        return keys

    def write(self, rows: Sequence[Mapping[str, Any]], keys: Sequence[str]) -> None:
        """Write the rows of one finished batch as one atomic part (``keys[i]`` per row)."""
        from nmrpeak_cli.io import write_table
        from nmrpeak_cli.schema import rows_to_table

        table = rows_to_table(
            [{**row, KEY_COLUMN: key} for row, key in zip(rows, keys, strict=True)],
            self.part_schema,
        )
        target = self.parts_dir / f"part-{self._next:06d}.parquet"
        write_table(table, target, self.part_schema)
        self._next += 1

    def keep(self, key: str) -> None:
        """Record that the input still holds record ``key``, skipped because its rows exist."""
        self._kept.add(key)

    def finish(self) -> None:
        """Assemble ``path`` from the kept rows of a finished output (if resumed) and the
        parts; clean up.

        Earlier rows (of the finished output, or of parts a killed run left) survive only
        for records the input still holds unchanged (:meth:`keep`), so a record whose input
        changed is replaced, not duplicated, and a record gone from the input is dropped.
        """
        from nmrpeak_cli.io import open_writer

        parts = self._parts()
        unchanged = not parts and self._finished_rows and self._kept.issuperset(self._finished_rows)
        if unchanged:  # resumed a finished run and nothing changed
            shutil.rmtree(self.parts_dir, ignore_errors=True)
            return
        keys: list[str] = []

        def kept_rows(table: pa.Table | pa.RecordBatch, row_keys: list[str]):
            mask = [k in self._kept for k in row_keys]
            keys.extend(k for k, m in zip(row_keys, mask, strict=True) if m)
            return table.filter(pa.array(mask, pa.bool_()))

        with open_writer(self.path, self.schema) as writer:
            offset = 0
            for batch in self._previous_rows():
                row_keys = self._finished_rows[offset : offset + batch.num_rows]
                offset += batch.num_rows
                writer.write(kept_rows(batch, row_keys))
            for part in parts:
                table = pq.read_table(part)
                row_keys = table.column(KEY_COLUMN).to_pylist()
                table = table.drop_columns([KEY_COLUMN])
                if part in self._earlier_parts:
                    table = kept_rows(table, row_keys)
                else:
                    keys.extend(row_keys)
                writer.write(table)
        write_text_atomic(self.done_file, self._header + "\n" + "\n".join(keys))
        shutil.rmtree(self.parts_dir, ignore_errors=True)

    def abort(self) -> None:
        """Keep the finished parts: a later ``resume`` continues from them."""

    def _previous_rows(self) -> Iterator[pa.RecordBatch]:
        if not self._finished_rows:
            return iter(())
        if self.path.suffix.lower() != ".parquet":
            raise InputFileError(
                f"{self.path}: a finished {self.path.suffix} output cannot be extended; "
                "write new records to a new file (or use .parquet)"
            )
        source = pq.ParquetFile(self.path)
        if source.metadata.num_rows != len(self._finished_rows):
            raise InputFileError(
                f"{self.path}: its completion record {self.done_file.name} does not list one key "
                "per row (written by an older nmrpeak?); rerun without --resume"
            )
        return source.iter_batches()


class StreamOutput:
    """Non-resumable output: a stream (``-`` → JSONL on stdout) or a file written at once."""

    def __init__(self, path: str | os.PathLike[str], schema: pa.Schema) -> None:
        from nmrpeak_cli.io import open_writer

        self._context = open_writer(path, schema)
        self._writer = self._context.__enter__()

    def keep(self, key: str) -> None:
        """Nothing to keep: a stream is never resumed."""

    def write(self, rows: Sequence[Mapping[str, Any]], keys: Sequence[str]) -> None:
        """Append the rows of one batch (keys are ignored)."""
        if rows:
            self._writer.write(rows)

    def finish(self) -> None:
        """Close the stream (the file appears atomically)."""
        self._context.__exit__(None, None, None)

    def abort(self) -> None:
        """Drop the half-written temporary file."""
        error = RuntimeError("batch aborted")
        try:
            self._context.__exit__(RuntimeError, error, None)
        except RuntimeError as exc:
            if exc is not error:
                raise


class CollectOutput:
    """Keeps rows in memory, for a terminal table of a few inline queries."""

    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []

    def keep(self, key: str) -> None:
        """Nothing to keep: collected rows are never resumed."""

    def write(self, rows: Sequence[Mapping[str, Any]], keys: Sequence[str]) -> None:
        """Keep the rows."""
        self.rows.extend(dict(r) for r in rows)

    def finish(self) -> None:
        """Nothing to flush."""

    def abort(self) -> None:
        """Nothing to clean up."""


def _completion(path: Path) -> dict[str, Any]:
    done = path.with_name(f".{path.name}.done")
    if not path.exists():
        raise InputFileError(f"{path}: no such output")
    if not done.exists():
        raise InputFileError(
            f"{path}: no completion record ({done.name}); the run that writes it did not finish"
        )
    lines = done.read_text().splitlines()
    header = json.loads(lines[0]) if lines else {}
    header["keys"] = lines[1:]
    return header


def merge_outputs(paths: Sequence[str | os.PathLike[str]], out: str | os.PathLike[str]) -> int:
    """Combine the outputs of a job array's shards into ``out``; returns the record count.

    Every shard ``0..N-1`` of one run (same options digest) must be present and finished;
    otherwise :class:`InputFileError` names what is missing. Parquet, CSV, JSONL and SDF
    inputs are accepted (all of one format); rows keep shard order.
    """
    from nmrpeak_cli.io import open_writer

    sources = [Path(p) for p in paths]
    if not sources:
        raise InputFileError("merge needs at least one shard output")
    headers = [_completion(p) for p in sources]
    digests = {h.get("digest") for h in headers}
    if len(digests) > 1:
        raise InputFileError("the outputs come from runs with different options; refusing to merge")
    shards = [h.get("shard") for h in headers]
    if all(shards):
        counts = {int(s.split("/")[1]) for s in shards}
        if len(counts) > 1:
            raise InputFileError(f"shard counts differ: {sorted(shards)}")
        total = counts.pop()
        indices = [int(s.split("/")[0]) for s in shards]
        duplicated = sorted({i for i in indices if indices.count(i) > 1})
        missing = sorted(set(range(total)) - set(indices))
        if duplicated or missing:
            raise InputFileError(
                f"incomplete job array of {total} shards: "
                + (f"missing {', '.join(f'{i}/{total}' for i in missing)}" if missing else "")
                + (f"; duplicated {duplicated}" if duplicated else "")
            )
        order = sorted(range(len(sources)), key=lambda i: indices[i])
    elif any(shards):
        raise InputFileError("some outputs are shards of a job array and some are not")
    else:
        order = list(range(len(sources)))
    suffixes = {p.name.lower().removesuffix(".gz").rsplit(".", 1)[-1] for p in sources}
    if len(suffixes) > 1:
        raise InputFileError(f"outputs have different formats: {sorted(suffixes)}")
    target = Path(out)
    if suffixes == {"parquet"}:
        schema = pq.read_schema(sources[order[0]])
        with open_writer(target, schema) as writer:
            for i in order:
                for batch in pq.ParquetFile(sources[i]).iter_batches():
                    writer.write(batch)
    else:
        _concatenate_text([sources[i] for i in order], target, header=suffixes <= {"csv", "tsv"})
    keys = [k for i in order for k in headers[i]["keys"]]
    write_text_atomic(
        target.with_name(f".{target.name}.done"),
        json.dumps({"digest": digests.pop(), "shard": None}) + "\n" + "\n".join(keys),
    )
    return len(dict.fromkeys(keys))


def _concatenate_text(sources: Sequence[Path], target: Path, *, header: bool) -> None:
    import gzip

    def lines(path: Path) -> Iterator[bytes]:
        opener = gzip.open if path.name.lower().endswith(".gz") else open
        with opener(path, "rb") as handle:
            yield from handle

    opener = gzip.open if target.name.lower().endswith(".gz") else open
    with atomic_path(target) as temporary, opener(temporary, "wb") as handle:
        for n, path in enumerate(sources):
            for i, line in enumerate(lines(path)):
                if header and i == 0 and n > 0:
                    continue
                handle.write(line)
