"""Shared pieces of the command line: exit codes, argument types, the console, model loading (chain access: keys.py)."""

from __future__ import annotations

import argparse
from fractions import Fraction

EXIT_OK, EXIT_MISMATCH, EXIT_BAD_INPUT, EXIT_FAILURE = 0, 1, 2, 3


class UsageError(Exception):
    """Bad input that is not a model or prompt problem (unreachable RPC URL, bad key): exit code 2."""


def q16(text: str) -> int:
    """A decimal string such as '0.7' in [0, 32768) as round_half_up(value * 2^16), parsed exactly (no float)."""
    try:
        v = Fraction(text)
    except (ValueError, ZeroDivisionError):
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0 <= v < 1 << 15:
        raise argparse.ArgumentTypeError(f"must be in [0, 32768): {text!r}")
    x = v * (1 << 16) + Fraction(1, 2)
    q = x.numerator // x.denominator
    if q >= 1 << 47:  # the run tensor is int64 and the sampler divides by it: keep it a sane Q16
        raise argparse.ArgumentTypeError(f"must be below 2^31: {text!r}")
    return q


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


def ranged(lo: int, hi: int, what: str = "an integer"):
    """An argparse type: an int in [lo, hi] (decimal or 0x...), else a one-line error."""

    def parse(text: str) -> int:
        try:
            v = int(text, 0)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not {what}: {text!r}") from None
        if not lo <= v <= hi:
            raise argparse.ArgumentTypeError(f"must be in [{lo}, {hi}]: {text!r}")
        return v

    return parse


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
