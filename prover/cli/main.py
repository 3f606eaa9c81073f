"""``obrain``: run models in integers, write receipts, and check them on chain.

Exit codes: 0 success; 1 a verification found a mismatch; 2 bad input (bad arguments, an unreadable or unknown
model, an empty or too-long prompt, a malformed receipt or run directory); 3 a chain or internal failure
(OBRAIN_DEBUG=1 shows its traceback). Every error is one line on stderr.
"""

from __future__ import annotations

import argparse
import sys

from . import chain, demo, models, run
from .common import EXIT_BAD_INPUT, EXIT_FAILURE, UsageError, console


class _Parser(argparse.ArgumentParser):
    """argparse with a one-line error (exit 2), for every subcommand too."""

    def error(self, message: str):
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="obrain",
        description=__doc__.split("\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Exit codes: 0 ok, 1 mismatch found, 2 bad input, 3 chain or internal failure.",
    )
    sub = p.add_subparsers(dest="cmd", required=True, metavar="COMMAND", parser_class=_Parser)
    for mod in (run, chain, models, demo):
        mod.add_parsers(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    from engine.errors import ModelLoadError, PromptError
    from prover.receipt import ReceiptError

    try:
        args = build_parser().parse_args(argv)
    except SystemExit as e:  # --help (0) or a bad argument (2): a return code for in-process callers too
        return int(e.code or 0)
    try:
        return args.func(args)
    except (ModelLoadError, PromptError, ReceiptError, UsageError) as e:
        console().print(f"[red]error:[/red] {e}", highlight=False, soft_wrap=True)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        return 130
    except Exception as e:  # a chain failure or a bug: one line, its own exit code
        import os

        if os.environ.get("OBRAIN_DEBUG"):
            raise
        from prover.chain.client import ChainError

        kind = "chain" if isinstance(e, ChainError) else "internal"
        first = str(e).strip().splitlines()[0] if str(e).strip() else ""
        console().print(f"[red]{kind} failure:[/red] {type(e).__name__}: {first}", highlight=False, soft_wrap=True)
        return EXIT_FAILURE


if __name__ == "__main__":
    sys.exit(main())
