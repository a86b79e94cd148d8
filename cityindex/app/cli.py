"""The command line: ``cityindex reproduce`` and ``cityindex run`` — a thin shell that parses
arguments, builds a :class:`cityindex.Study`, shows progress and writes.

Bad input ends with one line on stderr naming the file, row or key, what was wrong and what
was expected, and exit code 2 — never a traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from cityindex.errors import CityIndexError

DEFAULT_DATA = "data/city-image-2025"


def _reproduce(args: argparse.Namespace) -> int:
    from cityindex.audit import audit
    from cityindex.data import load_dataset

    result = audit(load_dataset(args.data_dir))
    if args.json:
        print(json.dumps(result.to_dict(), ensure_ascii=False, indent=2))
    else:
        print(result.text())
    return 0


def _run(args: argparse.Namespace) -> int:
    from cityindex.app.progress import Progress
    from cityindex.study import Study

    runfile = Path(args.runfile)
    study = Study.from_runfile(runfile, progress=Progress(not args.quiet),
                               chunk_blocks=args.chunk_blocks)
    out = Path(args.out) if args.out else Path("reports") / runfile.stem
    study.run().write(out)
    return 0


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"found {text!r}; expected a positive integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"found {value}; expected a positive integer")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cityindex", description="Statistical audit of a published composite index.")
    sub = parser.add_subparsers(dest="command", required=True)
    rep = sub.add_parser("reproduce", help="check that the published numbers follow from "
                         "the published method")
    rep.add_argument("data_dir", nargs="?", default=DEFAULT_DATA,
                     help=f"data folder (default {DEFAULT_DATA})")
    rep.add_argument("--json", action="store_true", help="print one JSON object")
    rep.set_defaults(func=_reproduce)
    run = sub.add_parser("run", help="run the analyses of a run file (analyses/*.toml)")
    run.add_argument("runfile", help="the run file (TOML); its data path is relative to it")
    run.add_argument("--out", help="output folder (default reports/<run file stem>/)")
    run.add_argument("--quiet", action="store_true", help="no progress on stderr")
    run.add_argument("--chunk-blocks", type=_positive, default=None,
                     help="scenario blocks per chunk (memory/speed trade-off; outputs are "
                     "identical for any value)")
    run.set_defaults(func=_run)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except CityIndexError as exc:
        print(f"cityindex: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("cityindex: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
