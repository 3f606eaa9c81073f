"""Shared plumbing of the benchmark scripts: repo on sys.path, rich tables, the --json contract.

Every benchmark takes --json and then prints exactly one JSON object {"rows": [...], "summary": {...}}
with its headline figures in ``summary`` under stable snake_case keys.
"""

from __future__ import annotations

import json
import os
import resource
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)


def emit(title: str, rows: list[dict], summary: dict, as_json: bool) -> None:
    if as_json:
        print(json.dumps({"rows": rows, "summary": summary}, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    con = Console()
    if rows:
        t = Table(title=title)
        for k in rows[0]:
            t.add_column(k)
        for r in rows:
            t.add_row(*[_fmt(r.get(k)) for k in rows[0]])
        con.print(t)
    s = Table(title="summary")
    s.add_column("key")
    s.add_column("value")
    for k, v in summary.items():
        s.add_row(k, _fmt(v))
    con.print(s)


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:.3g}" if abs(v) < 1000 else f"{v:.0f}"
    return str(v)


def peak_rss_mb(children: bool = False) -> float:
    who = resource.RUSAGE_CHILDREN if children else resource.RUSAGE_SELF
    return resource.getrusage(who).ru_maxrss / 1024.0
