"""The command line: ``cityindex reproduce`` and ``cityindex run`` — a thin shell that parses
arguments, builds a :class:`cityindex.Study`, shows progress and writes.

Bad input ends with one line on stderr naming the file, row or key, what was wrong and what
was expected, and exit code 2 — never a traceback. The output folder is checked before any
computation. SIGINT exits 130 and SIGTERM 143, both with "interrupted" and the previous
outputs intact (:mod:`cityindex.app.output`). A closed stdout (``cityindex reproduce | head``)
ends quietly.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
import time
from pathlib import Path

from cityindex.errors import CityIndexError

DEFAULT_DATA = "data/city-image-2025"


class Terminated(KeyboardInterrupt):
    """SIGTERM, handled like SIGINT (every ``except KeyboardInterrupt`` cleans up)."""


def _reproduce(args: argparse.Namespace) -> int:
    from cityindex.audit import audit
    from cityindex.data import load_dataset

    result = audit(load_dataset(args.data_dir))
    if args.json:
        print(json.dumps(result.to_dict(), ensure_ascii=False, indent=2))
    else:
        print(result.text())
    return 0


def _headline(out: Path, seconds: float) -> str:
    """The final line: where the outputs are and the headline numbers."""
    line = f"cityindex: wrote {out}{os.sep} in {seconds:.1f} s"
    try:
        s = json.loads((out / "summary.json").read_text(encoding="utf-8"))
        weights = s["lenses"]["weights"]["montecarlo"]
        parts = [f"{s['dataset']['units']} units",
                 f"{weights['scenarios']:,} weight scenarios",
                 ", ".join(f"{n} {v}" for v, n in s["verdicts"]["counts"].items()),
                 f"{s['reproduction']['inconsistencies']} inconsistencies in the report"]
        return f"{line}: " + ", ".join(parts)
    except (OSError, ValueError, KeyError, TypeError):
        return line


def _run(args: argparse.Namespace) -> int:
    from cityindex.app.output import check_destination
    from cityindex.app.progress import Progress
    from cityindex.app.runfile import load_runfile
    from cityindex.sensitivity.backends import Backend
    from cityindex.study import Study

    start = time.perf_counter()
    runfile = Path(args.runfile)
    rf = load_runfile(runfile)  # the run file's own errors first, then the output folder
    out = Path(args.out) if args.out is not None else Path("reports") / runfile.stem
    check_destination(out, protect=(rf.path, rf.data))
    extra = {"backend": Backend("dask", args.scheduler)} if args.scheduler else {}
    study = Study.from_runfile(runfile, progress=Progress(not args.quiet),
                               chunk_blocks=args.chunk_blocks, **extra)
    study.run().write(out, static=not args.no_static)
    print(_headline(out, time.perf_counter() - start), flush=True)
    return 0


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"found {text!r}; expected a positive integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"found {value}; expected a positive integer")
    return value


def _folder(text: str) -> str:
    """--out: a folder path; an empty one would silently mean the current folder."""
    if not text.strip():
        raise argparse.ArgumentTypeError(f"found {text!r}; expected a folder path (omit --out "
                                         "for reports/<run file stem>/)")
    return text


def _version() -> str:
    from cityindex import __version__

    return f"cityindex {__version__}"


class _Parser(argparse.ArgumentParser):
    """argparse, with a usage error as one line (and exit 2) like every other error."""

    def error(self, message: str):  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="cityindex", description="Statistical audit of a published composite index.",
        epilog="Bad input: one line on stderr and exit 2. Interrupted: exit 130 (SIGINT) or "
               "143 (SIGTERM); the output folder holds the previous run or the new one, "
               "never a mix.")
    parser.add_argument("--version", action="version", version=_version(),
                        help="print the version and exit")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND",
                                help="reproduce or run; COMMAND --help for its arguments")
    rep = sub.add_parser("reproduce", help="check that the published numbers follow from "
                         "the published method", description="The reproduction audit: every "
                         "inconsistency between the published numbers and the published "
                         "method. Findings exit 0; unreadable or invalid data exits 2.")
    rep.add_argument("data_dir", nargs="?", default=DEFAULT_DATA,
                     help=f"data folder with spec.toml and the CSVs (default {DEFAULT_DATA})")
    rep.add_argument("--json", action="store_true",
                     help="print one JSON object instead of text")
    rep.set_defaults(func=_reproduce)
    run = sub.add_parser("run", help="run the analyses of a run file (analyses/*.toml)",
                         description="Run every analysis a run file enables and write the "
                         "tables, summary.json, the page and manifest.json; the output folder "
                         "is replaced as a whole, atomically.")
    run.add_argument("runfile", help="the run file (TOML); its data path is relative to it")
    run.add_argument("--out", metavar="DIR", type=_folder,
                     help="output folder (default reports/<run file stem>/); new, empty or a "
                     "previous output folder")
    run.add_argument("--quiet", action="store_true", help="no progress on stderr")
    run.add_argument("--no-static", action="store_true",
                     help="skip the PNG/SVG export of the rank-uncertainty chart (the slowest "
                     "step of a small run; needs no CJK font)")
    run.add_argument("--chunk-blocks", type=_positive, default=None, metavar="N",
                     help="scenario blocks per task (memory/speed trade-off; outputs are "
                     "identical for any value)")
    run.add_argument("--scheduler", metavar="ADDRESS", default=None,
                     help="run the Monte Carlo on the Dask cluster of this scheduler (e.g. "
                     "tcp://10.0.0.5:8786; needs pip install 'cityindex[dask]'); overrides "
                     "[run] backend; outputs are identical to a local run")
    run.set_defaults(func=_run)
    return parser


def _on_sigterm(signum, frame) -> None:
    raise Terminated()


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # --help, --version (0) or a usage error (2)
        return exc.code if isinstance(exc.code, int) else 0
    main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _on_sigterm) if main_thread else None
    try:
        code = args.func(args)
        sys.stdout.flush()
        return code
    except CityIndexError as exc:
        print(f"cityindex: error: {exc}", file=sys.stderr)
        return 2
    except Terminated:
        print("cityindex: interrupted (SIGTERM)", file=sys.stderr)
        return 143
    except KeyboardInterrupt:
        print("cityindex: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader went away (cityindex reproduce | head): not an error
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # no second error when Python flushes at exit
        os.close(devnull)
        return 0
    finally:
        if main_thread:
            signal.signal(signal.SIGTERM, previous if previous is not None else signal.SIG_DFL)


if __name__ == "__main__":
    sys.exit(main())
