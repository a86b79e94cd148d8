"""The command line: ``cityindex reproduce`` and ``cityindex run``.

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
        print(result.summary())
    return 0


def _run(args: argparse.Namespace) -> int:
    from cityindex.runner import run_file

    run_file(Path(args.runfile), Path(args.out) if args.out else None,
             progress=not args.quiet, chunk_blocks=args.chunk_blocks)
    return 0


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
    run.add_argument("runfile")
    run.add_argument("--out", help="output folder (default reports/<run file stem>/)")
    run.add_argument("--quiet", action="store_true", help="no progress bar on stderr")
    run.add_argument("--chunk-blocks", type=int, default=None,
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
