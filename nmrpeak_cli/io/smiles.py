"""SMILES files (``.smi``, ``.smiles``, ``.txt``): one molecule per line, ``SMILES [id]``.

The id is the rest of the line after the first whitespace (``row<N>`` when absent). Blank
lines and ``#`` comments are skipped, and so is a first line whose first word is
``smiles`` (a header). SMILES are not parsed here; the chemistry layer validates them.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from nmrpeak_cli.io.records import MoleculeResult, RecordError, batched, molecule_result
from nmrpeak_cli.io.registry import Format, Source, register_format

_SMILES_TOKEN = re.compile(rb"^[A-Za-z0-9@+\-\[\]()=#$%/\\.:*~]+$")


def _results(source: Source) -> Iterator[MoleculeResult]:
    with source.open() as stream:
        number = 0
        for line_number, raw in enumerate(stream, start=1):
            try:
                line = raw.decode("utf-8").lstrip("\ufeff").strip()
            except UnicodeDecodeError:
                number += 1
                yield RecordError.at_line(number, line_number, "not valid UTF-8", source.name)
                continue
            if not line or line.startswith("#"):
                continue
            parts = line.split(None, 1)
            if line_number == 1 and parts[0].lower() in {"smiles", "canonical_smiles"}:
                continue
            number += 1
            name = parts[1].strip() if len(parts) > 1 else None
            yield molecule_result(parts[0], name, number, source.name, has_ids=name is not None)


def _read_molecules(source: Source, batch_size: int) -> Iterator[list[MoleculeResult]]:
    yield from batched(_results(source), batch_size)


def _sniff(head: bytes) -> bool:
    lines = [line for line in head.splitlines() if line.strip() and not line.startswith(b"#")]
    return (
        bool(lines)
        and _SMILES_TOKEN.match(lines[-1 if len(lines) == 1 else 1].split()[0]) is not None
    )


register_format(
    Format(
        "smiles",
        (".smi", ".smiles", ".txt", ".ism", ".can"),
        read_molecules=_read_molecules,
        sniff=_sniff,
    )
)
