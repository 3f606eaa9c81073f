"""`obrain ARGS` run in this process (prover.cli's main), seen as a subprocess would see it.

A subprocess per command costs a fresh interpreter, its imports and its own model load (seconds each); the
command line is the same function either way (``python -m prover.cli`` is ``sys.exit(main())``). The run has
the repository (or ``cwd``) as its working directory, ``input`` (default: nothing) as a non-terminal stdin,
the environment with ``drop`` removed and ``env`` added, and its stdout and stderr captured; all of it is
restored afterwards. tests/test_cli.py keeps one true subprocess run (the entry point, a fresh process).
"""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path

from prover.cli import main

ROOT = Path(__file__).resolve().parent.parent


@contextlib.contextmanager
def _environment(env: dict[str, str] | None, drop: Iterable[str]) -> Iterator[None]:
    saved = dict(os.environ)
    try:
        for k in drop:
            os.environ.pop(k, None)
        os.environ.update(env or {})
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


@contextlib.contextmanager
def _cwd_and_stdin(cwd: Path, text: str) -> Iterator[None]:
    old_cwd, old_stdin = os.getcwd(), sys.stdin
    os.chdir(cwd)
    sys.stdin = io.StringIO(text)
    try:
        yield
    finally:
        sys.stdin = old_stdin
        os.chdir(old_cwd)


def obrain(
    *args: str,
    env: dict[str, str] | None = None,
    input: str | None = None,
    drop: Iterable[str] = (),
    cwd: Path = ROOT,
) -> subprocess.CompletedProcess[str]:
    """The exit code, stdout and stderr of `obrain ARGS` run in ``cwd`` as a CompletedProcess."""
    out, err = io.StringIO(), io.StringIO()
    with (
        _environment(env, drop),
        _cwd_and_stdin(cwd, input or ""),
        contextlib.redirect_stdout(out),
        contextlib.redirect_stderr(err),
    ):
        try:
            code = main(list(args))
        except SystemExit as e:  # what the interpreter would turn into the exit code
            code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    return subprocess.CompletedProcess(["obrain", *args], code, out.getvalue(), err.getvalue())
