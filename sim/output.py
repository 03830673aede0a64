"""The output folder of a run: a JSON manifest and one Parquet file per shard.

Layout of ``DIR`` (``alvh run --out DIR``)::

    DIR/manifest.json                  what the run is (written first)
    DIR/shards/shard-000012.parquet    per-path results of shard 12
    DIR/summary.json                   summary and column statistics (written last)

Every file is written atomically: to a hidden temporary file in the same
folder (``.NAME.XXXXXXXX.tmp``), flushed and ``fsync``-ed, then renamed over
its final name with ``os.replace``; a reader (or a resumed run) sees a whole
file or none, whenever the writer is killed. A killed writer may leave its
hidden temporary file behind; a resumed run removes them. A shard
file's schema metadata records the run's identity and the shard index, and a
resumed run takes a shard file only if it reads whole, belongs to the run and
holds exactly the shard's paths.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

#: Name of the manifest file.
MANIFEST = "manifest.json"
#: Name of the summary file.
SUMMARY = "summary.json"
#: Folder of the shard files.
SHARDS = "shards"
#: Schema metadata keys of a shard file.
_RUN_KEY = b"alvh.run"
_SHARD_KEY = b"alvh.shard"


class OutputError(ValueError):
    """An output folder that cannot be used for the requested run."""


#: Prefix and suffix of the temporary files of :func:`atomic_file` (``.NAME.XXXX.tmp``).
TEMPORARY_PREFIX, TEMPORARY_SUFFIX = ".", ".tmp"


@contextlib.contextmanager
def atomic_file(path: str | os.PathLike[str], mode: str = "wb") -> Iterator[Any]:
    """Open a temporary file beside ``path``; on success fsync it and rename it to ``path``.

    Parameters
    ----------
    path : str or Path
        Final name of the file; its folder must exist.
    mode : str
        ``"wb"`` or ``"w"`` (text, UTF-8).

    Yields
    ------
    file object
        The temporary file (``.NAME.XXXXXXXX.tmp`` in the same folder), to
        write to. If the block raises, the temporary file is removed and
        ``path`` is left as it was; if the process is killed, ``path`` is
        left as it was and the hidden temporary file may remain. The file
        gets the permissions a plain ``open`` would give it (``0o666`` less
        the umask), or those of the file it replaces.
    """
    path = Path(path)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f"{TEMPORARY_PREFIX}{path.name}.",
                                     suffix=TEMPORARY_SUFFIX)
    try:
        encoding = None if "b" in mode else "utf-8"
        with os.fdopen(fd, mode, encoding=encoding) as handle:
            yield handle
            handle.flush()
            os.fchmod(handle.fileno(), _permissions(path))
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
    _fsync_folder(path.parent)


def is_temporary(path: Path) -> bool:
    """Whether ``path`` is a temporary file left by :func:`atomic_file`."""
    name = path.name
    return (name.startswith(TEMPORARY_PREFIX) and name.endswith(TEMPORARY_SUFFIX)
            and name.count(".") >= 3)


def _permissions(path: Path) -> int:
    """Mode bits for a new file at ``path``: those of the file replaced, else 0o666 & ~umask."""
    try:
        return stat.S_IMODE(os.stat(path).st_mode)
    except OSError:
        return 0o666 & ~_umask()


@functools.cache
def _umask() -> int:
    # /proc tells the umask without changing it; os.umask would, for a moment, for
    # every thread of the process.
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _fsync_folder(folder: Path) -> None:
    """Make a rename in ``folder`` durable (where the platform allows it)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


class RunFolder:
    """A run's output folder.

    Parameters
    ----------
    root : str or Path
        The folder (``--out DIR``); created with its ``shards`` folder by
        :meth:`create`.
    """

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        self.shards = self.root / SHARDS

    @property
    def manifest_path(self) -> Path:
        """``DIR/manifest.json``."""
        return self.root / MANIFEST

    def shard_path(self, index: int) -> Path:
        """``DIR/shards/shard-NNNNNN.parquet`` of a shard."""
        return self.shards / f"shard-{index:06d}.parquet"

    def has_manifest(self) -> bool:
        """Whether the folder already holds a run."""
        return self.manifest_path.is_file()

    def prepare(self, shards: bool = True) -> None:
        """Make the folder (and its ``shards`` folder) and check that files can be written.

        Called before anything is simulated, so that a bad ``--out`` fails at once.

        Raises
        ------
        OutputError
            If the folder is a file, cannot be created, or is not writable.
        """
        if self.root.exists() and not self.root.is_dir():
            raise OutputError(f"{self.root}: exists and is not a folder; allowed: a new or "
                              "empty folder, or the folder of a run to resume")
        for folder in (self.root, self.shards) if shards else (self.root,):
            try:
                folder.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise OutputError(f"{folder}: cannot create the folder "
                                  f"({exc.strerror or type(exc).__name__})") from None
        try:
            fd, probe = tempfile.mkstemp(dir=self.root, prefix=TEMPORARY_PREFIX,
                                         suffix=TEMPORARY_SUFFIX)
            os.close(fd)
            os.unlink(probe)
        except OSError as exc:
            raise OutputError(f"{self.root}: cannot write in the folder "
                              f"({exc.strerror or type(exc).__name__})") from None

    def create(self, manifest: dict[str, Any], shards: bool = True) -> None:
        """Make the folders and write the manifest (before any shard)."""
        self.prepare(shards)
        self.write_json(MANIFEST, manifest)

    def remove_temporaries(self) -> list[Path]:
        """Delete the temporary files that killed writers left; returns them.

        Only names of :func:`atomic_file` temporaries (``.NAME.XXXX.tmp``) in
        the folder and its ``shards`` folder are touched.
        """
        removed = []
        for folder in (self.root, self.shards):
            if not folder.is_dir():
                continue
            for path in folder.iterdir():
                if is_temporary(path) and path.is_file():
                    with contextlib.suppress(OSError):
                        path.unlink()
                        removed.append(path)
        return removed

    def write_json(self, name: str, document: dict[str, Any]) -> None:
        """Write ``DIR/name`` as indented JSON, atomically."""
        with atomic_file(self.root / name, "w") as handle:
            json.dump(document, handle, indent=2, allow_nan=False, default=_json_default)
            handle.write("\n")

    def read_manifest(self) -> dict[str, Any]:
        """The manifest of the run in the folder.

        Raises
        ------
        OutputError
            If it cannot be read or is not a JSON object.
        """
        try:
            document = json.loads(self.manifest_path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise OutputError(f"{self.manifest_path}: cannot read the manifest: {exc}") from exc
        if not isinstance(document, dict):
            raise OutputError(f"{self.manifest_path}: the manifest is not a JSON object")
        return document

    def write_shard(self, index: int, table: dict[str, np.ndarray], run_id: str) -> Path:
        """Write one shard's per-path table as Parquet, atomically.

        Parameters
        ----------
        index : int
            Shard index.
        table : dict of str to ndarray
            Column -> values (``path`` first).
        run_id : str
            The run's identity, stored in the file's schema metadata.

        Returns
        -------
        Path
        """
        import pyarrow as pa
        import pyarrow.parquet as pq

        arrow = pa.Table.from_pydict({name: np.asarray(values) for name, values in table.items()})
        arrow = arrow.replace_schema_metadata({_RUN_KEY: run_id.encode(),
                                               _SHARD_KEY: str(index).encode()})
        path = self.shard_path(index)
        with atomic_file(path) as handle:
            pq.write_table(arrow, handle)
        return path

    def read_shard(self, index: int, run_id: str | None = None,
                   paths: tuple[int, int] | None = None) -> dict[str, np.ndarray] | None:
        """One shard's per-path table, or None if its file is missing or not usable.

        Parameters
        ----------
        index : int
            Shard index.
        run_id : str, optional
            If given, the file must belong to this run.
        paths : (int, int), optional
            If given, the file's ``path`` column must be exactly
            ``first .. stop - 1``.

        Returns
        -------
        dict of str to ndarray or None
            None when the file is missing, truncated or unreadable, or fails
            a check.
        """
        import pyarrow.parquet as pq

        path = self.shard_path(index)
        if not path.is_file():
            return None
        try:
            arrow = pq.read_table(path)
        except Exception:   # a truncated or corrupt file: the shard is run again
            return None
        meta = arrow.schema.metadata or {}
        if meta.get(_SHARD_KEY) != str(index).encode():
            return None
        if run_id is not None and meta.get(_RUN_KEY) != run_id.encode():
            return None
        table = {name: arrow.column(name).to_numpy() for name in arrow.column_names}
        if paths is not None:
            path_index = table.get("path")
            if path_index is None or not np.array_equal(
                    path_index, np.arange(paths[0], paths[1], dtype=np.int64)):
                return None
        return table

    def existing_shards(self) -> list[int]:
        """Indices of the shard files present (read or not)."""
        if not self.shards.is_dir():
            return []
        found = []
        for path in self.shards.glob("shard-*.parquet"):
            with contextlib.suppress(ValueError):
                found.append(int(path.stem.removeprefix("shard-")))
        return sorted(found)


def _json_default(value: Any) -> Any:
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot write {type(value).__name__} as JSON")
