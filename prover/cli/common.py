"""Shared pieces of the command line: exit codes, argument types, the console, model loading, chain access."""

from __future__ import annotations

import argparse
from fractions import Fraction

EXIT_OK, EXIT_MISMATCH, EXIT_BAD_INPUT, EXIT_FAILURE = 0, 1, 2, 3


class UsageError(Exception):
    """Bad input that is not a model or prompt problem (unreachable RPC URL, bad key): exit code 2."""


def q16(text: str) -> int:
    """A decimal string such as '0.7' as round_half_up(value * 2^16), parsed exactly (no float)."""
    try:
        v = Fraction(text)
    except (ValueError, ZeroDivisionError):
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if v < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0: {text!r}")
    x = v * (1 << 16) + Fraction(1, 2)
    return x.numerator // x.denominator


def positive(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1: {text!r}")
    return v


def topk(text: str) -> int:
    from engine.models.llama import TOPK

    v = positive(text)
    if v > TOPK:
        raise argparse.ArgumentTypeError(f"must be at most {TOPK}: {text!r}")
    return v


def nonneg(text: str) -> int:
    try:
        v = int(text, 0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if not 0 <= v < 2**63:
        raise argparse.ArgumentTypeError(f"must be in [0, 2^63): {text!r}")
    return v


def console():
    from rich.console import Console

    return Console(stderr=True)


def load_model(name: str, context: int | None = None, quiet: bool = False):
    """Load a model with a progress bar on stderr (weights are imported exactly, matrix by matrix)."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from engine.runtime import IntegerLM

    if quiet:
        return IntegerLM.load(name, context)
    with Progress(
        TextColumn("[dim]importing weights"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=console(),
        transient=True,
    ) as prog:
        task = prog.add_task("load", total=None)

        def cb(done, total):
            prog.update(task, completed=done, total=total)

        return IntegerLM.load(name, context, progress=cb)


def wei(text: str) -> int:
    """An ETH amount such as '0.5' in wei, parsed exactly."""
    try:
        v = Fraction(text) * 10**18
    except (ValueError, ZeroDivisionError):
        raise argparse.ArgumentTypeError(f"not an amount of ETH: {text!r}") from None
    if v < 0 or v.denominator != 1:
        raise argparse.ArgumentTypeError(f"not a whole number of wei: {text!r}")
    return int(v)


def open_chain(rpc_url: str):
    from prover.chain.client import Chain
    from prover.chain.solc import compile_contracts

    try:
        return Chain(rpc_url, compile_contracts())
    except Exception as e:  # connection refused, bad URL: bad input, not a crash
        raise UsageError(f"cannot use the chain at {rpc_url}: {e}") from None


def signer(chain, key: str | None):
    if not key:
        return None
    from eth_account import Account

    try:
        return Account.from_key(key)
    except Exception:
        raise UsageError("--key is not a valid private key") from None


def game_client(a):
    import json
    from pathlib import Path

    from prover.chain.registry import GameClient

    try:
        dep = json.loads(Path(a.deployment).read_text())
    except (OSError, ValueError) as e:
        raise UsageError(f"cannot read the deployment file {a.deployment}: {e} (run `obrain deploy`)") from None
    chain = open_chain(a.rpc_url or dep.get("rpc_url", "http://127.0.0.1:8545"))
    if chain.chain_id != dep.get("chain_id"):
        raise UsageError(f"{a.deployment} is for chain {dep.get('chain_id')}, the RPC serves chain {chain.chain_id}")
    gc = GameClient(chain, dep["registry"])
    fb = getattr(a, "from_block", None)
    gc.first_block = int(fb if fb is not None else dep.get("deploy_block", 0))
    return gc


def make_agent(a, gc, lm, lie=None):
    from prover.dispute.agent import Agent

    sender = signer(gc.chain, a.key) if a.key else a.account
    con = console()
    return Agent(
        gc, lm, sender, lie=lie, log=lambda m: con.print(f"[dim]{m}[/dim]"), from_block=getattr(gc, "first_block", 0)
    )


def chain_args(p) -> None:
    p.add_argument("--rpc-url", default=None, help="JSON-RPC URL (default: the deployment file's)")
    p.add_argument("--deployment", default="deployment.json", help="deployment JSON from `obrain deploy`")
    p.add_argument("--key", default=None, help="private key to act with")
    p.add_argument("--account", type=int, default=0, help="else anvil's dev account N (default 0)")
    p.add_argument("--poll", type=float, default=1.0, help="seconds between chain polls")
    p.add_argument("--max-polls", type=int, default=None, help="stop after N polls (default: run until done)")
    if not any(act.dest == "quiet" for act in p._actions):
        p.add_argument("-q", "--quiet", action="store_true")
