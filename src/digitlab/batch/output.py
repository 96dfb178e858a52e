"""The results file of a batch job: Parquet or JSONL by its suffix, resumable, never half-written.

Rows arrive in parts: each part is written atomically into ``.NAME.parts/`` beside the output as it fills, so a
killed job keeps what it read. At the end (and at the start of the next run, if one was killed) the old file and
the parts are merged into a new file, sorted by path with one row per path (the newest), which replaces the old
one by a rename. A lock (released by the OS if the process dies) keeps two jobs from writing one file at once.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import time
from pathlib import Path
from typing import Any

from digitlab.batch.rows import COLUMNS
from digitlab.errors import DigitlabError
from digitlab.utils.fileio import atomic_open

FORMATS = {".parquet": "parquet", ".jsonl": "jsonl"}


def output_format(out: str | os.PathLike) -> str:
    """``parquet`` or ``jsonl`` from the file name; DigitlabError for any other suffix."""
    suffix = Path(out).suffix.lower()
    if suffix not in FORMATS:
        raise DigitlabError(f"--out must end in .parquet or .jsonl (one row per file); got {os.fspath(out)!r}")
    return FORMATS[suffix]


def arrow_schema() -> Any:
    import pyarrow as pa

    return pa.schema([("path", pa.string()), ("digits", pa.string()), ("confidence", pa.float64()),
                      ("probs", pa.list_(pa.list_(pa.float64()))), ("boxes", pa.list_(pa.list_(pa.int32()))),
                      ("error", pa.string())])


class ResultsFile:
    """One job's output: what it holds already, parts written as rows come, the final merge.

    >>> with ResultsFile("results.parquet") as results:     # doctest: +SKIP
    ...     todo = [p for p in paths if p not in results.done()]
    ...     results.add(rows)                                # any number of times
    """

    def __init__(self, out: str | os.PathLike, part_rows: int = 10_000, part_seconds: float = 60.0) -> None:
        self.path = Path(out)
        self.format = output_format(self.path)
        if self.format == "parquet":
            from digitlab.utils.extras import require

            require("pyarrow", "scale", "Parquet output")
        self.parts = self.path.with_name(f".{self.path.name}.parts")
        self.part_rows, self.part_seconds = part_rows, part_seconds
        self._pending: list[dict[str, Any]] = []
        self._last_write = time.monotonic()
        self._lock: int | None = None

    def __enter__(self) -> ResultsFile:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path.with_name(f".{self.path.name}.lock"), os.O_CREAT | os.O_RDWR, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise DigitlabError(f"{self.path}: another job is writing this file") from None
        self._lock = fd
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self.finish()
        finally:
            if self._lock is not None:
                os.close(self._lock)  # releases the flock; the lock file stays (removing it would race)
                self._lock = None

    def done(self, retry_errors: bool = False) -> set[str]:
        """Paths with a row already (in the file or in a killed run's parts); with ``retry_errors``, only
        those that were read."""
        return {row["path"] for row in self._rows(["path", "error"]) if not (retry_errors and row["error"])}

    def add(self, rows: list[dict[str, Any]]) -> None:
        """Queue rows; a part is written once enough rows or seconds have gathered."""
        self._pending.extend(rows)
        if len(self._pending) >= self.part_rows or time.monotonic() - self._last_write >= self.part_seconds:
            self.flush()

    def flush(self) -> None:
        if self._pending:
            name = f"part-{time.time_ns():020d}-{os.getpid()}{self.path.suffix}"
            self._write(self.parts / name, self._pending)
            self._pending = []
        self._last_write = time.monotonic()

    def finish(self) -> None:
        """Merge the file and every part into a new file (one row per path, the newest; sorted by path)."""
        self.flush()
        parts = self._part_files()
        if not parts:
            return
        rows: dict[str, dict[str, Any]] = {}
        for row in self._rows(list(COLUMNS)):
            rows[row["path"]] = row
        self._write(self.path, [rows[p] for p in sorted(rows)])
        for part in parts:
            part.unlink()
        shutil.rmtree(self.parts, ignore_errors=True)

    def _part_files(self) -> list[Path]:
        return sorted(self.parts.glob(f"part-*{self.path.suffix}")) if self.parts.is_dir() else []

    def _rows(self, columns: list[str]) -> list[dict[str, Any]]:
        """Rows of the file, then of each part in the order written."""
        files = ([self.path] if self.path.exists() else []) + self._part_files()
        return [row for f in files for row in self._read(f, columns)]

    def _read(self, file: Path, columns: list[str]) -> list[dict[str, Any]]:
        if self.format == "jsonl":
            rows = []
            with open(file, encoding="utf-8") as f:
                for n, line in enumerate(f, 1):
                    if line.strip():
                        try:
                            row = json.loads(line)
                        except ValueError:
                            raise DigitlabError(f"{file}:{n}: not a JSON line; not a results file?") from None
                        if not isinstance(row, dict) or "path" not in row:
                            raise DigitlabError(f"{file}:{n}: no 'path'; not a results file?")
                        rows.append({c: row.get(c) for c in columns})
            return rows
        import pyarrow.parquet as pq

        try:
            table = pq.read_table(file, columns=columns)
        except Exception as e:  # noqa: BLE001 - pyarrow's errors: not Parquet, missing columns, ...
            raise DigitlabError(f"{file}: not a readable results file ({e})") from None
        return table.to_pylist()

    def _write(self, file: Path, rows: list[dict[str, Any]]) -> None:
        if self.format == "jsonl":
            with atomic_open(file, "w") as f:
                for row in rows:
                    f.write(json.dumps({c: row[c] for c in COLUMNS}, allow_nan=False) + "\n")
            return
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.Table.from_pylist([{c: row[c] for c in COLUMNS} for row in rows], schema=arrow_schema())
        with atomic_open(file, "wb") as f:
            pq.write_table(table, f)
