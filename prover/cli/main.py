"""``obrain``: run models in integers, write receipts, and check them on chain.

Exit codes: 0 success; 1 a verification found a mismatch; 2 bad input (unreadable or unknown model, empty
or too-long prompt, bad arguments, no key, unreachable RPC URL); 3 a chain or internal failure (a refused or
unmined transaction, an RPC error mid-way, a bug: one line, `--debug` prints the traceback).
"""

from __future__ import annotations

import argparse
import os
import sys

from . import chain, demo, keys, run, serve
from .common import EXIT_BAD_INPUT, EXIT_FAILURE, UsageError, console

EPILOG = (
    "Exit codes: 0 ok, 1 mismatch found, 2 bad input (arguments, model, prompt, receipt, key, RPC URL), "
    "3 chain or internal failure (one line; --debug prints the traceback)."
)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="obrain",
        description=__doc__.split("\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=EPILOG,
    )
    p.add_argument("--debug", action="store_true", help="print the traceback of an unexpected error")
    sub = p.add_subparsers(dest="cmd", required=True, metavar="COMMAND")
    for mod in (run, serve, chain, keys, demo):
        mod.add_parsers(sub)
    for sp in sub.choices.values():
        sp.epilog = sp.epilog or EPILOG
        if not any(act.dest == "debug" for act in sp._actions):
            sp.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    return p


def _secrets(args) -> list[str]:
    """Strings never to print: RPC URLs (a provider's carries its API key) and keys."""
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
    console().print(f"[red]{kind}:[/red] {escape(msg.splitlines()[0])}{hint}", soft_wrap=True)


def main(argv: list[str] | None = None) -> int:
    from engine.errors import ModelLoadError, PromptError
    from prover.receipt import ReceiptError

    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (ModelLoadError, PromptError, ReceiptError, UsageError) as e:
        _say(args, "error", e)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        return 130
    except Exception as e:
        if getattr(args, "debug", False):
            import traceback

            traceback.print_exc()
        from prover.chain.client import ChainError

        chainish = isinstance(e, ChainError) or type(e).__module__.split(".")[0] in ("web3", "requests", "urllib3")
        hint = "" if getattr(args, "debug", False) else " (--debug prints the traceback)"
        _say(args, "chain error" if chainish else f"internal error ({type(e).__name__})", e, hint)
        return EXIT_FAILURE


if __name__ == "__main__":
    sys.exit(main())
