"""Writing outputs: deterministic bytes, checksums, the manifest, and an output folder that
switches atomically as a whole.

The only module that writes files (the library computes and returns).

The atomic switch
-----------------
A run writes every file into a staging folder beside the destination,
``<parent>/.<name>.staging-<pid>-<token>``, ``manifest.json`` last (the SHA-256 of every other
file), each file and the folder fsynced. Then it swaps the folder in with renames, each atomic
on POSIX (same file system):

1. ``<name>`` -> ``.<name>.old-<pid>-<token>`` (skipped when there is no previous output);
2. ``.<name>.staging-<pid>-<token>`` -> ``<name>``;
3. ``.<name>.old-…`` -> ``.<name>.trash-<pid>-<token>``, which is then deleted.

At every instant the folder ``<name>`` is therefore absent, the complete previous run or the
complete new run — never a mixture of the two — and a rerun with fewer analyses leaves no file
of the previous run behind. SIGINT and SIGTERM are held back during the renames (and handled
right after them).

Recovery rule (:func:`recover`: run by every write before it starts, by ``cityindex run``
before any computation, and callable by any reader). A staging, old or trash folder is *stale*
when its writer is no longer running (no process with its pid, or this very process when it is
not writing it). Then:

- if ``<name>`` is missing and a stale old folder exists, the writer died between renames 1
  and 2: the newest old folder is renamed back to ``<name>`` — the previous run is restored,
  complete (an old folder is never deleted under that name, only as trash, so it is whole);
- every other stale staging, old, trash or probe folder is deleted.

One writer per output folder at a time is assumed; a second writer started while the first is
running leaves the first's folders alone (its pid is alive) and the last swap wins.

Before any computation, :func:`check_destination` refuses a destination that is a regular
file, lies under one, is not writable, or is a non-empty folder without ``manifest.json``
(replacing a folder as a whole would otherwise delete files that are not outputs).
"""

from __future__ import annotations

import concurrent.futures
import concurrent.futures.process
import contextlib
import hashlib
import json
import math
import os
import platform
import re
import secrets
import shutil
import signal
import threading
from importlib import metadata
from pathlib import Path

import pandas as pd

from cityindex.errors import CityIndexError, OutputError

RUN_LOG = "run_log.json"
PACKAGES = ["numpy", "scipy", "pandas", "statsmodels", "SALib", "altair", "vl-convert-python",
            "threadpoolctl", "numba"]

FLOAT_FORMAT = "%.10g"
MANIFEST = "manifest.json"
KINDS = ("staging", "old", "trash", "probe")  # probe: the writability check

_ACTIVE: set[str] = set()  # tokens of the folders this process is writing now


def csv_bytes(df: pd.DataFrame) -> bytes:
    return df.to_csv(index=False, float_format=FLOAT_FORMAT, lineterminator="\n").encode("utf-8")


def _rounded(obj: object) -> object:
    """Floats to 10 significant digits, as in the CSVs: the last bits of a float depend on
    the BLAS kernel, the 10th digit does not."""
    if isinstance(obj, float):
        # an undefined number (e.g. a mean over nothing) is JSON null, never a crash
        return float(f"{obj:.10g}") if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _rounded(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_rounded(v) for v in obj]
    return obj


def json_bytes(obj: object) -> bytes:
    return (json.dumps(_rounded(obj), ensure_ascii=False, indent=2, sort_keys=False,
                       allow_nan=False) + "\n").encode("utf-8")


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# -- the folders beside the destination --------------------------------------------------------

def _sibling(dest: Path, kind: str, pid: int, token: str) -> Path:
    return dest.parent / f".{dest.name}.{kind}-{pid}-{token}"


def _siblings(dest: Path) -> list[tuple[str, int, str, Path]]:
    """(kind, pid, token, path) of every staging/old/trash/probe folder of ``dest``."""
    pattern = re.compile(rf"^\.{re.escape(dest.name)}\.({'|'.join(KINDS)})-(\d+)-([0-9a-f]+)$")
    try:
        entries = list(os.scandir(dest.parent))
    except OSError:
        return []
    out = []
    for entry in entries:
        m = pattern.match(entry.name)
        if m:
            out.append((m.group(1), int(m.group(2)), m.group(3), Path(entry.path)))
    return out


def _running(pid: int, token: str) -> bool:
    """Whether the writer of a folder is still at work."""
    if pid == os.getpid():
        return token in _ACTIVE
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


def _remove(path: Path) -> None:
    if path.is_symlink() or not path.is_dir():
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
    else:
        shutil.rmtree(path, ignore_errors=True)


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def recover(dest: str | Path) -> None:
    """Apply the recovery rule (module docstring) to ``dest``: restore the previous run if a
    writer died between its two renames, and delete stale staging/old/trash folders."""
    dest = Path(dest)
    stale = [(kind, path) for kind, pid, token, path in _siblings(dest)
             if not _running(pid, token)]
    if not stale:
        return
    if not os.path.lexists(dest):
        olds = sorted((p for kind, p in stale if kind == "old"),
                      key=lambda p: p.stat().st_mtime_ns, reverse=True)
        if olds:
            os.rename(olds[0], dest)
            stale = [(k, p) for k, p in stale if p != olds[0]]
            _fsync_dir(dest.parent)
    for _, path in stale:
        _remove(path)


# -- checks before any computation --------------------------------------------------------------

def check_destination(dest: str | Path, protect: tuple[Path, ...] = ()) -> Path:
    """Refuse, before any work, an output folder that cannot be replaced as a whole; returns
    the destination (a symlink is followed). ``protect``: paths (the run file, the data
    folder) that must not lie inside the destination, since it is replaced whole."""
    dest = Path(dest)
    where = str(dest)
    if dest.is_symlink():
        dest = dest.resolve()
    absolute = Path(os.path.abspath(dest))
    if absolute.parent == absolute:
        raise OutputError(where, "the root of the file system", "an output folder")
    if dest.exists():
        if not dest.is_dir():
            raise OutputError(where, "a regular file, not a folder",
                              "a folder for the outputs (new, empty, or a previous output)")
        try:
            entries = os.listdir(dest)
        except OSError as exc:
            raise OutputError(where, f"unreadable ({exc.strerror})",
                              "a folder for the outputs") from None
        if entries and MANIFEST not in entries:
            raise OutputError(where, f"a folder with {len(entries)} "
                              f"entr{'y' if len(entries) == 1 else 'ies'} and no {MANIFEST} "
                              "(not a cityindex output folder)",
                              "a new or empty folder, or a previous output folder (it is "
                              "replaced as a whole)")
    for path in protect:
        inner = Path(os.path.abspath(path))
        if inner == absolute or absolute in inner.parents:
            raise OutputError(where, f"contains {path}",
                              "an output folder apart from the run file and the data (it is "
                              "replaced as a whole)")
    existing = absolute.parent
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise OutputError(where, f"lies under {existing}, a regular file",
                          "a folder path whose parents are folders")
    probe = existing / f".{dest.name}.probe-{os.getpid()}-{secrets.token_hex(4)}"
    try:
        os.mkdir(probe)
        os.rmdir(probe)
    except OSError as exc:
        raise OutputError(where, f"cannot write in {existing} ({exc.strerror})",
                          "a writable location for the output folder") from None
    if existing == absolute.parent:
        recover(absolute)
    return dest


# -- writing ------------------------------------------------------------------------------------

@contextlib.contextmanager
def _signals_deferred():
    """Hold SIGINT/SIGTERM back for the duration (main thread only), then deliver them."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []
    handlers = {}
    for sig in (signal.SIGINT, signal.SIGTERM):
        handlers[sig] = signal.signal(sig, lambda signum, frame: received.append(signum))
    try:
        yield
    finally:
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
        if received:
            signal.raise_signal(received[0])


class OutputFolder:
    """Collects files in a staging folder beside ``dest``; :meth:`commit` swaps it in whole
    (see the module docstring)."""

    def __init__(self, dest: str | Path) -> None:
        self.dest = Path(dest)
        if self.dest.is_symlink():
            self.dest = self.dest.resolve()
        os.makedirs(self.dest.parent, exist_ok=True)
        recover(self.dest)
        self.token = secrets.token_hex(6)
        self.pid = os.getpid()
        self.tmp = _sibling(self.dest, "staging", self.pid, self.token)
        _ACTIVE.add(self.token)
        try:
            os.mkdir(self.tmp)
        except BaseException:
            _ACTIVE.discard(self.token)
            raise
        self.hashes: dict[str, str] = {}

    def write(self, name: str, data: bytes, hashed: bool = True) -> None:
        path = self.tmp / name
        if path.parent != self.tmp:
            os.makedirs(path.parent, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)
        if hashed:
            self.hashes[name] = sha256(data)

    def csv(self, name: str, df: pd.DataFrame) -> None:
        self.write(name, csv_bytes(df))

    def json(self, name: str, obj: object, hashed: bool = True) -> None:
        self.write(name, json_bytes(obj), hashed)

    def commit(self) -> Path:
        """Swap the staging folder in as ``dest``, replacing any previous output whole."""
        _fsync_dir(self.tmp)
        old = _sibling(self.dest, "old", self.pid, self.token)
        trash = _sibling(self.dest, "trash", self.pid, self.token)
        with _signals_deferred():
            try:
                if os.path.lexists(self.dest):
                    os.rename(self.dest, old)
                os.rename(self.tmp, self.dest)
            except BaseException:
                _ACTIVE.discard(self.token)
                if not os.path.lexists(self.dest) and os.path.lexists(old):
                    os.rename(old, self.dest)  # put the previous run back
                raise
            _ACTIVE.discard(self.token)
            _fsync_dir(self.dest.parent)
            if os.path.lexists(old):
                os.rename(old, trash)
                _remove(trash)
        return self.dest

    def discard(self) -> None:
        _ACTIVE.discard(self.token)
        _remove(self.tmp)


def versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    try:
        out["cityindex"] = metadata.version("cityindex")
    except metadata.PackageNotFoundError:
        out["cityindex"] = "source"
    return out


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


STATIC_SUFFIXES = (".png", ".svg")


def _static_child(dataset, summary: dict, tables: dict) -> tuple:
    """In a spawned process: the PNG/SVG export (vl-convert's V8 engine), whose abort
    (e.g. under ``ulimit -v``) must not take the run down. Returns ("ok", files),
    ("error", class name, where, found, expected) for a CityIndexError (its constructor
    does not unpickle) or ("failed", first line of any other exception)."""
    from cityindex.report.build import build_report

    try:
        files = build_report(dataset, summary, tables, static=True)
    except CityIndexError as exc:
        return ("error", type(exc).__name__, exc.where, exc.found, exc.expected)
    except Exception as exc:  # reported as one line by the parent
        return ("failed", _first_line(exc))
    return ("ok", {k: v for k, v in files.items() if k.endswith(STATIC_SUFFIXES)})


def _quiet_stderr() -> None:
    """The export child's stderr goes to /dev/null: V8's fatal-error dump (dozens of lines)
    must not reach the terminal; the parent reports any failure as one line."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    os.close(devnull)


def static_files(result, tables: dict, summary: dict) -> concurrent.futures.Future:
    """Start the static export in a child process (spawn: no inherited threads or locks);
    the caller builds the page meanwhile and collects the files with
    :func:`collect_static`."""
    import multiprocessing

    pool = concurrent.futures.ProcessPoolExecutor(
        max_workers=1, mp_context=multiprocessing.get_context("spawn"),
        initializer=_quiet_stderr)
    try:
        future = pool.submit(_static_child, result.study.dataset, summary, tables)
    finally:
        pool.shutdown(wait=False)  # the worker exits once its one task is done
    return future


def collect_static(future: concurrent.futures.Future) -> dict[str, bytes]:
    """The child's PNG/SVG files; a CityIndexError of the child is raised again here, any
    other failure (the process killed or aborted, an exception) as RuntimeError, which
    :func:`write_audit` records as the page's error."""
    from cityindex import errors

    try:
        outcome = future.result()
    except concurrent.futures.process.BrokenProcessPool as exc:
        raise RuntimeError("the PNG/SVG export process ended abruptly (killed, or aborted "
                           "by the V8 engine of vl-convert, e.g. out of address space under "
                           "ulimit -v)") from exc
    if outcome[0] == "ok":
        return outcome[1]
    if outcome[0] == "error":
        kind = getattr(errors, outcome[1], CityIndexError)
        if kind is errors.ModelError or not issubclass(kind, CityIndexError):
            kind = OutputError
        raise kind(*outcome[2:])
    raise RuntimeError(f"the PNG/SVG export failed ({outcome[1]})")


def write_audit(result, dest: Path, static: bool = True) -> Path:
    """Write an :class:`cityindex.study.AuditResult` into ``dest``, replacing it whole: every
    table as CSV, summary.json, the page (and its static images), and manifest.json last.

    If the page cannot be built, everything else is still written (the manifest records
    ``report_error``) and :class:`OutputError` says so."""
    import time

    study = result.study
    protect = [Path(p) for p in (getattr(getattr(study, "dataset", None), "folder", None),
                                 study.provenance.get("run_file_path")) if p]
    dest = check_destination(dest, protect=tuple(protect))  # as the CLI did before the run
    progress = getattr(study, "progress", None)
    report_error: BaseException | None = None
    folder = OutputFolder(dest)
    try:
        t = time.perf_counter()
        tables = result.tables()
        # the report's steps, counted: each table, summary.json, the page, the images
        steps, done = len(tables) + 2 + (1 if static else 0), 0

        def step() -> None:
            nonlocal done
            done += 1
            if progress:
                progress("Report", done, steps)

        for stem, frame in tables.items():
            folder.csv(f"{stem}.csv", frame)
            step()
        summary = result.summary(tables)
        folder.json("summary.json", summary)
        step()
        # The PNG/SVG export runs in a child process, beside the page built here: an abort
        # of its V8 engine ends that child, never this run (the page and the tables are
        # written, the manifest records report_error and the run ends with one line).
        export = static_files(result, tables, summary) if static else None
        files: dict[str, bytes] = {}
        try:
            files = result.report_files(tables, summary, static=False)
            step()
            if export is not None:
                files.update(collect_static(export))
                step()
        except CityIndexError:
            raise
        except Exception as exc:  # a chart failed: keep the tables (and the page), say so
            report_error = exc
        for name, data in files.items():
            folder.write(name, data)
        if progress and done < steps:   # a failed chart or export: the stage still ends
            progress("Report", steps, steps)
        timings = {**result.timings, "report": time.perf_counter() - t}
        prov = result.study.provenance
        manifest = {
            "run_file": prov.get("run_file_path"), "run_file_sha256": prov.get("run_file_sha256"),
            "seed": result.study.seed, "outputs": dict(sorted(folder.hashes.items())),
        }
        # What differs between machines and runs lives beside it, in a log git ignores, so
        # that rerunning a committed report leaves the checkout clean.
        folder.json(RUN_LOG, {
            "versions": versions(),
            "platform": {"machine": platform.machine(), "system": platform.system()},
            "wall_time_seconds": {k: round(v, 3) for k, v in timings.items()},
        }, hashed=False)
        if report_error is not None:
            manifest["report_error"] = _first_line(report_error)
        folder.json(MANIFEST, manifest, hashed=False)
        folder.commit()
    except OSError as exc:  # disk full, quota, I/O error: the previous outputs are intact
        folder.discard()
        raise OutputError(str(dest), f"could not be written ({exc.strerror or exc}"
                          + (f": {exc.filename}" if exc.filename else "") + ")",
                          "free space and a writable disk (the previous outputs, if any, "
                          "are unchanged)") from None
    except BaseException:
        folder.discard()
        raise
    if report_error is not None and "index.html" in files:  # only the static export failed
        raise OutputError(str(Path(dest) / "rank_uncertainty.png"),
                          f"not drawn ({_first_line(report_error)})",
                          f"the PNG/SVG export; the page, the tables, summary.json and "
                          f"{MANIFEST} were written to {dest} without it (--no-static skips "
                          "it)")
    if report_error is not None:
        raise OutputError(str(Path(dest) / "index.html"),
                          f"the page was not built ({_first_line(report_error)})",
                          f"a page; the tables, summary.json and {MANIFEST} were written to "
                          f"{dest} without it (please report this as a bug)")
    return Path(dest)
