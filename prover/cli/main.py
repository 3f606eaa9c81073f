"""``obrain``: run models in integers, write receipts, and check them on chain.

Exit codes: 0 success; 1 a verification found a mismatch; 2 bad input (unreadable or unknown model, empty
or too-long prompt, bad arguments).
"""

from __future__ import annotations

import argparse
import sys

from . import chain, demo, models, run
from .common import EXIT_BAD_INPUT, UsageError, console


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="obrain",
        description=__doc__.split("\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Exit codes: 0 ok, 1 mismatch found, 2 bad input.",
    )
    sub = p.add_subparsers(dest="cmd", required=True, metavar="COMMAND")
    for mod in (run, chain, models, demo):
        mod.add_parsers(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    from engine.errors import ModelLoadError, PromptError
    from prover.receipt import ReceiptError

    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (ModelLoadError, PromptError, ReceiptError, UsageError) as e:
        console().print(f"[red]error:[/red] {e}")
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
