"""``obrain``: run models in integers, write receipts, and check them on chain.

Exit codes: 0 success; 1 a verification found a mismatch; 2 bad input (bad arguments, an unreadable or unknown
model, an empty or too-long prompt, a malformed receipt or run directory, no key, an unreachable RPC URL); 3 a
chain or internal failure (a refused or unmined transaction, an RPC error mid-way, a bug). Every error is one
line on stderr; `--debug` (or OBRAIN_DEBUG=1) shows the traceback.
"""

from __future__ import annotations

import argparse
import os
import sys

from . import attest, chain, demo, keys, models, run, serve
from .common import EXIT_BAD_INPUT, EXIT_FAILURE, UsageError, console

EPILOG = (
    "Exit codes: 0 ok, 1 mismatch found, 2 bad input (arguments, model, prompt, receipt, key, RPC URL), "
    "3 chain or internal failure (one line; --debug prints the traceback)."
)


class _Parser(argparse.ArgumentParser):
    """argparse with a one-line error (exit 2), for every subcommand too."""

    def error(self, message: str):
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="obrain",
        description=__doc__.split("\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=EPILOG,
    )
    p.add_argument("--debug", action="store_true", help="print the traceback of an unexpected error")
    sub = p.add_subparsers(dest="cmd", required=True, metavar="COMMAND", parser_class=_Parser)
    for mod in (run, serve, chain, attest, keys, models, demo):
        mod.add_parsers(sub)
    for sp in sub.choices.values():
        sp.epilog = sp.epilog or EPILOG
        if not any(act.dest == "debug" for act in sp._actions):
            sp.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    return p


def _secrets(args) -> list[str]:
    """Strings never to print: keys, and the pieces of RPC URLs that may carry an API key."""
    vals = [getattr(args, "key", None)] + [os.environ.get(v) for v in keys.KEY_ENV]
    for url in (getattr(args, "rpc_url", None), os.environ.get("ETH_RPC_URL")):
        if url:
            vals += keys.secret_parts(url)
    return sorted({v for v in vals if v and len(v) > 3}, key=len, reverse=True)


def _say(args, kind: str, e: BaseException, hint: str = "") -> None:
    """One line on stderr: kind, the message's first line (secrets taken out), a hint."""
    from rich.markup import escape

    msg = str(e).strip() or type(e).__name__
    for s in _secrets(args):
        msg = msg.replace(s, "<redacted>")
    console().print(f"[red]{kind}:[/red] {escape(msg.splitlines()[0])}{hint}", highlight=False, soft_wrap=True)


def main(argv: list[str] | None = None) -> int:
    from engine.errors import ModelLoadError, PromptError
    from prover.receipt import ReceiptError

    try:
        args = build_parser().parse_args(argv)
    except SystemExit as e:  # --help (0) or a bad argument (2): a return code for in-process callers too
        return int(e.code or 0)
    debug = getattr(args, "debug", False) or bool(os.environ.get("OBRAIN_DEBUG"))
    try:
        return args.func(args)
    except (ModelLoadError, PromptError, ReceiptError, UsageError) as e:
        _say(args, "error", e)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        return 130
    except Exception as e:  # a chain failure or a bug: one line, its own exit code
        if debug:
            import traceback

            traceback.print_exc()
        from prover.chain.client import ChainError

        chainish = isinstance(e, ChainError) or type(e).__module__.split(".")[0] in ("web3", "requests", "urllib3")
        kind = f"{'chain' if chainish else 'internal'} failure ({type(e).__name__})"
        _say(args, kind, e, "" if debug else " (--debug prints the traceback)")
        return EXIT_FAILURE


if __name__ == "__main__":
    sys.exit(main())
