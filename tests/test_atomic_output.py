"""The output folder switches atomically as a whole (issue 14, item 4).

A writer is killed between any two file operations — in-process by fault injection (every
file operation after the k-th fails, so no cleanup can touch the disk, for every k), and for
real with SIGKILL in a subprocess at each k — and the folder must then hold entirely the old
run or entirely the new one, its manifest matching its files; after the next run no staging
folder remains. SIGTERM during the write is handled like SIGINT."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pandas as pd
import pytest
from conftest import DATA, ROOT

from cityindex.app import output
from cityindex.app.output import MANIFEST, RUN_LOG, OutputFolder, recover, write_audit

OPS = ("open", "mkdir", "rename", "replace", "rmdir", "unlink")


class FakeStudy:
    def __init__(self) -> None:
        self.seed, self.provenance, self.progress = 1, {}, None


class FakeResult:
    """Just enough of an AuditResult for write_audit: a few tables and a page."""

    def __init__(self, tag: str, stems: tuple[str, ...]) -> None:
        self.tag, self.stems = tag, stems
        self.study, self.timings = FakeStudy(), {}

    def tables(self):
        return {s: pd.DataFrame({"unit": ["a", "b"], "value": [len(s), len(self.tag)],
                                 "run": self.tag}) for s in self.stems}

    def summary(self, tables):
        return {"run": self.tag, "tables": sorted(tables)}

    def report_files(self, tables, summary, static=True):
        return {"index.html": f"<html>{self.tag}</html>\n".encode()}


OLD = FakeResult("old", ("ranks", "groups", "leave_one_out", "sobol"))
NEW = FakeResult("new", ("ranks", "groups"))          # fewer analyses than the old run
NEXT = FakeResult("next", ("ranks",))


def contents(folder: Path) -> dict[str, str]:
    """The outputs' digests (the manifest and the run log, with its timings, aside)."""
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
            for p in folder.iterdir() if p.name not in (MANIFEST, RUN_LOG)}


def expected(result: FakeResult, tmp: Path) -> dict[str, str]:
    ref = tmp / f"ref-{result.tag}"
    write_audit(result, ref, static=False)
    return contents(ref)


def assert_whole(dest: Path, runs: dict[str, dict[str, str]]) -> str:
    """dest is exactly one of the runs and its manifest matches its files; returns which."""
    files = contents(dest)
    which = [tag for tag, ref in runs.items() if ref == files]
    assert which, f"a mixture: {sorted(files)}"
    manifest = json.loads((dest / MANIFEST).read_text(encoding="utf-8"))
    assert manifest["outputs"] == files  # every output's SHA-256, and nothing else
    return which[0]


def siblings(dest: Path) -> list[str]:
    return sorted(p.name for p in dest.parent.iterdir() if p.name.startswith(f".{dest.name}."))


def operations(tmp: Path, first_run: bool) -> list[str]:
    """The file operations of one write of NEW (over OLD unless ``first_run``), in order."""
    dest = tmp / f"count-{first_run}" / "out"
    dest.parent.mkdir()
    if not first_run:
        write_audit(OLD, dest, static=False)
    with dying_at(10**9) as ops:  # never dies
        write_audit(NEW, dest, static=False)
    return ops


class Killed(BaseException):
    """The writer 'dies': raised by the k-th file operation and by every one after it."""


@contextlib.contextmanager
def dying_at(k: int):
    count, originals = [], {name: getattr(os, name) for name in OPS}

    def wrap(name):
        def op(*args, **kwargs):
            count.append(name)
            if len(count) >= k:
                raise Killed(f"{name} #{len(count)}")
            return originals[name](*args, **kwargs)
        return op

    for name in OPS:
        setattr(os, name, wrap(name))
    try:
        yield count
    finally:
        for name, fn in originals.items():
            setattr(os, name, fn)


def test_a_killed_writer_leaves_the_old_run_or_the_new_one(tmp_path):
    runs = {r.tag: expected(r, tmp_path) for r in (OLD, NEW, NEXT)}
    outcomes = {}
    for first_run in (True, False):  # into a new folder, and over a previous output
        ops = operations(tmp_path, first_run)
        assert ops.count("rename") == (1 if first_run else 3), ops
        for k in range(1, len(ops) + 2):
            dest = tmp_path / f"k{k}-{first_run}" / "out"
            dest.parent.mkdir()
            if not first_run:
                write_audit(OLD, dest, static=False)
            try:
                with dying_at(k):
                    write_audit(NEW, dest, static=False)
            except Killed:
                pass
            output._ACTIVE.clear()  # the dead writer's memory is gone with it
            if dest.exists():  # what a reader sees right after the death
                state = assert_whole(dest, runs)
            else:  # only between the two renames, with the old run aside, or on a first run
                assert first_run or any(".old-" in s for s in siblings(dest)), siblings(dest)
                state = "absent"
            recover(dest)  # what the next run (or a reader) does first
            if dest.exists():
                after = assert_whole(dest, runs)
                assert after in (state, "old"), (state, after)
            else:
                assert first_run
                after = "absent"
            assert siblings(dest) == []
            outcomes[(k, first_run)] = (state, after)
            write_audit(NEXT, dest, static=False)  # the next run completes
            assert assert_whole(dest, runs) == "next" and siblings(dest) == []
    seen = set(outcomes.values())
    # every window was hit: the death before the swap, between the renames, after it
    assert ("old", "old") in seen and ("absent", "old") in seen and ("new", "new") in seen
    assert ("absent", "absent") in seen  # a first run that died before its rename


KILL_SCRIPT = textwrap.dedent("""
    import os, signal, sys
    sys.path.insert(0, {tests!r})
    from test_atomic_output import NEW, OLD, OPS
    from cityindex.app.output import write_audit

    dest, k = sys.argv[1], int(sys.argv[2])
    write_audit(OLD, dest, static=False)
    count = [0]
    originals = {{name: getattr(os, name) for name in OPS}}

    def wrap(name):
        def op(*args, **kwargs):
            count[0] += 1
            if count[0] == k:
                os.kill(os.getpid(), signal.SIGKILL)
            return originals[name](*args, **kwargs)
        return op

    for name in OPS:
        setattr(os, name, wrap(name))
    write_audit(NEW, dest, static=False)
""")


def test_sigkill_between_file_operations(tmp_path):
    """A real SIGKILL at each file operation of the write; the next run recovers."""
    runs = {r.tag: expected(r, tmp_path) for r in (OLD, NEW, NEXT)}
    ops = operations(tmp_path, first_run=False)
    # at each rename: before the old run is moved aside, between the two renames, and
    # after the swap (before the old run is deleted); the in-process test covers every k
    ks = [i + 1 for i, name in enumerate(ops) if name == "rename"]
    assert len(ks) == 3
    script = tmp_path / "kill.py"
    script.write_text(KILL_SCRIPT.format(tests=str(Path(__file__).parent)))
    procs = {}
    for k in ks:
        dest = tmp_path / f"k{k}" / "out"
        dest.parent.mkdir()
        procs[k] = (dest, subprocess.Popen([sys.executable, str(script), str(dest), str(k)],
                                           stderr=subprocess.PIPE, cwd=ROOT))
    states = set()
    for dest, proc in procs.values():
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == -signal.SIGKILL, err.decode()
        state = assert_whole(dest, runs) if dest.exists() else "absent"
        assert state in ("old", "new", "absent")
        recover(dest)  # the next run's first step
        assert assert_whole(dest, runs) in ("old", "new") and siblings(dest) == []
        write_audit(NEXT, dest, static=False)
        assert assert_whole(dest, runs) == "next" and siblings(dest) == []
        states.add(state)
    assert {"old", "new", "absent"} <= states


def test_stale_folders_of_a_live_writer_are_left_alone(tmp_path):
    dest = tmp_path / "out"
    write_audit(OLD, dest, static=False)
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        mine = tmp_path / f".out.staging-{live.pid}-abc123"
        dead = tmp_path / ".out.staging-999999999-abc123"
        for d in (mine, dead):
            d.mkdir()
            (d / "ranks.csv").write_text("half\n")
        write_audit(NEW, dest, static=False)
        assert mine.exists() and not dead.exists()
    finally:
        live.kill()
        live.wait()
    recover(dest)
    assert siblings(dest) == []


def test_rerun_with_fewer_analyses_leaves_no_stale_file(tmp_path):
    dest = tmp_path / "out"
    write_audit(OLD, dest, static=False)
    assert (dest / "leave_one_out.csv").exists()
    write_audit(NEW, dest, static=False)
    assert not (dest / "leave_one_out.csv").exists()
    assert assert_whole(dest, {"new": expected(NEW, tmp_path)}) == "new"


def test_interrupt_during_the_write_discards_the_staging_folder(tmp_path):
    dest = tmp_path / "out"
    write_audit(OLD, dest, static=False)

    class Interrupted(FakeResult):
        def report_files(self, tables, summary, static=True):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        write_audit(Interrupted("x", ("ranks",)), dest, static=False)
    assert assert_whole(dest, {"old": expected(OLD, tmp_path)}) == "old"
    assert siblings(dest) == []


def test_folder_api_discard(tmp_path):
    folder = OutputFolder(tmp_path / "out")
    folder.write("a.csv", b"x\n")
    folder.discard()
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("sig,code,word", [(signal.SIGTERM, 143, "interrupted (SIGTERM)")])
def test_sigterm_during_the_report_keeps_the_previous_run(tmp_path, sig, code, word):
    runfile = tmp_path / "r.toml"
    runfile.write_text(f'[run]\ndata = "{DATA.as_posix()}"\nseed = 1\nsamples = 2048\n')
    dest = tmp_path / "out"
    write_audit(OLD, dest, static=False)
    before = contents(dest)
    proc = subprocess.Popen([sys.executable, "-m", "cityindex", "run", str(runfile), "--out",
                             str(dest)], stderr=subprocess.PIPE, stdout=subprocess.PIPE,
                            text=True, cwd=ROOT)
    lines = []
    deadline = time.monotonic() + 120
    for line in proc.stderr:  # plain progress lines: stderr is not a terminal
        lines.append(line)
        if line.startswith("Report"):
            break
        assert time.monotonic() < deadline
    assert any(line.startswith("Report") for line in lines), lines
    staging = [p for p in tmp_path.iterdir() if ".staging-" in p.name]
    assert staging  # the writer is at work
    proc.send_signal(sig)
    rest = proc.stderr.read()
    proc.wait(timeout=60)
    assert proc.returncode == code, rest
    assert rest.strip().splitlines()[-1] == f"cityindex: {word}"
    assert "Traceback" not in rest
    assert contents(dest) == before
    assert siblings(dest) == []
