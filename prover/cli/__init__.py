"""``obrain``: the command line (prover.cli.main holds the parser and the commands)."""

from .main import build_parser, main

__all__ = ["build_parser", "main"]
