#!/usr/bin/env python
"""Benchmark the fixed-point numerics: exact integer matmul against float64 BLAS, and the nonlinear kernels.

Run from the repo root:  .venv/bin/python scripts/bench_fixedpoint.py [--json] [--repeat N]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np

from fixedpoint import vec
from fixedpoint.vec import matmul as vmm

# (name, n, k, m, activation bound, weight bound): a is n x k, the weight b is k x m; names give k x m.
# Realistic magnitudes for the engine (|a| < 2^20, |b| < 2^15, so K*|a|*|b| < 2^53: one float64 GEMM);
# the "wide" row has |a| < 2^36 and needs limbs.
MATMULS = [
    ("576x576", 576, 576, 576, 1 << 20, 1 << 15),
    ("576x1536", 576, 576, 1536, 1 << 20, 1 << 15),
    ("1536x576", 576, 1536, 576, 1 << 20, 1 << 15),
    ("576x1536 wide", 576, 576, 1536, 1 << 36, 1 << 15),
]

N_ELEMS = 1 << 16  # elements per nonlinear kernel call
SOFTMAX_ROW = 512
Q16, Q32 = 1 << 16, 1 << 32


def _kernels(rng):
    """(name, input description, elements, call) for each nonlinear kernel; call() runs it once."""
    x16 = rng.integers(-8 * Q16, 8 * Q16, N_ELEMS, dtype=np.int64)
    xneg = -rng.integers(0, 16 * Q16, N_ELEMS, dtype=np.int64, endpoint=True)
    xsq = rng.integers(0, 1 << 40, N_ELEMS, dtype=np.int64)
    logits = rng.integers(-8 * Q16, 8 * Q16, (N_ELEMS // SOFTMAX_ROW, SOFTMAX_ROW), dtype=np.int64)
    angles = rng.integers(-4 * Q32, 4 * Q32, N_ELEMS, dtype=np.int64)
    ma, mb = rng.integers(-(1 << 24), 1 << 24, (2, N_ELEMS), dtype=np.int64)
    big = rng.integers(-(1 << 40), 1 << 40, N_ELEMS, dtype=np.int64)
    return [
        ("exp_neg", "Q16 x in [-16, 0]", N_ELEMS, lambda f: f(xneg)),
        ("sigmoid", "Q16 x in [-8, 8)", N_ELEMS, lambda f: f(x16)),
        ("silu", "Q16 x in [-8, 8)", N_ELEMS, lambda f: f(x16)),
        ("isqrt", "x in [0, 2^40)", N_ELEMS, lambda f: f(xsq)),
        ("softmax", f"Q16 logits, rows of {SOFTMAX_ROW}", N_ELEMS, lambda f: f(logits)),
        ("sin_cos", "Q32 angle in [-4, 4) rad", N_ELEMS, lambda f: f(angles)),
        ("mul_round_shift", "|a|,|b| < 2^24, s = 16", N_ELEMS, lambda f: f(ma, mb, 16)),
        ("round_shift", "|x| < 2^40, s = 16", N_ELEMS, lambda f: f(big, 16)),
    ]


def best_of(fn, repeat: int) -> float:
    """Smallest wall time of `repeat` calls, in seconds (time.perf_counter)."""
    return best_of_each([fn], repeat)[0]


def best_of_each(fns, repeat: int) -> list[float]:
    """Smallest wall time of each function over `repeat` rounds, the functions interleaved within a round
    so that load from other processes on a shared machine hits all of them alike."""
    best = [float("inf")] * len(fns)
    for _ in range(repeat):
        for i, fn in enumerate(fns):
            t0 = time.perf_counter()
            fn()
            best[i] = min(best[i], time.perf_counter() - t0)
    return best


def path_of(a: np.ndarray, b: np.ndarray) -> str:
    k = a.shape[1]
    alo, ahi, blo, bhi = int(a.min()), int(a.max()), int(b.min()), int(b.max())
    if vec.matmul_bound_ok(k, max(-alo, ahi), max(-blo, bhi)):
        return "fast (1 GEMM)"
    plan = vmm._limb_plan(k, alo, ahi, blo, bhi)
    if plan is None:
        return "python ints"
    (na, _), (nb, _) = plan
    return f"limbs {na}x{nb} ({na * nb} GEMMs)"


def bench_matmul(repeat: int, int64_repeat: int, seed: int) -> list[dict]:
    rng = np.random.default_rng(seed)
    rows = []
    for name, n, k, m, abound, bbound in MATMULS:
        a = rng.integers(-abound + 1, abound, (n, k), dtype=np.int64)
        b = rng.integers(-bbound + 1, bbound, (k, m), dtype=np.int64)
        af, bf = a.astype(np.float64), b.astype(np.float64)
        exact = vec.matmul_exact(a, b)  # warm-up, and the value checked below
        np.matmul(af, bf)
        exact_call, blas_call = (lambda a=a, b=b: vec.matmul_exact(a, b)), (lambda af=af, bf=bf: np.matmul(af, bf))
        t_exact, t_blas = best_of_each([exact_call, blas_call], repeat)
        row = {
            "kind": "matmul",
            "name": name,
            "n": n,
            "k": k,
            "m": m,
            "a_bits": abound.bit_length() - 1,
            "b_bits": bbound.bit_length() - 1,
            "path": path_of(a, b),
            "exact_ms": t_exact * 1e3,
            "blas_f64_ms": t_blas * 1e3,
            "vs_blas": t_blas / t_exact,
            "exact_ns_per_out": t_exact * 1e9 / (n * m),
            "int64_ms": None,
            "vs_int64": None,
            "check": None,
        }
        if int64_repeat > 0:
            ref64 = np.matmul(a, b)  # no wraparound here: |entries| <= K*|a|*|b| < 2^63 for every row above
            row["check"] = bool(np.array_equal(exact, ref64))
            t_int = best_of(lambda a=a, b=b: np.matmul(a, b), int64_repeat)
            row["int64_ms"], row["vs_int64"] = t_int * 1e3, t_int / t_exact
        rows.append(row)
    return rows


def bench_kernels(repeat: int, seed: int) -> list[dict]:
    rng = np.random.default_rng(seed)
    rows = []
    for name, desc, count, call in _kernels(rng):
        row = {
            "kind": "kernel",
            "name": name,
            "input": desc,
            "elements": count,
            "ms": None,
            "ns_per_element": None,
            "note": "",
        }
        f = getattr(vec, name, None)
        if f is None:
            row["note"] = "n/a: not in fixedpoint.vec"
        else:
            try:
                call(f)  # warm-up; also proves the call signature and input range are accepted
                t = best_of(lambda call=call, f=f: call(f), repeat)
                row["ms"], row["ns_per_element"] = t * 1e3, t * 1e9 / count
            except Exception as e:
                row["note"] = f"n/a: {type(e).__name__}: {str(e)[:60]}"
        rows.append(row)
    return rows


def _fmt(v, spec: str) -> str:
    return "n/a" if v is None else format(v, spec)


def print_tables(mrows: list[dict], krows: list[dict], summary: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    con = Console(width=None if sys.stdout.isatty() else 150)  # pipes default to 80 columns
    t = Table(title="Exact integer matmul (fixedpoint.vec.matmul_exact) vs float64 BLAS and int64 numpy")
    for col, just in [
        ("name", "left"),
        ("n,k,m", "right"),
        ("|a|,|b| <", "right"),
        ("path", "left"),
        ("exact ms", "right"),
        ("f64 BLAS ms", "right"),
        ("vs BLAS", "right"),
        ("int64 ms", "right"),
        ("vs int64", "right"),
        ("ns/out", "right"),
        ("== int64", "center"),
    ]:
        t.add_column(col, justify=just)
    for r in mrows:
        t.add_row(
            r["name"],
            f"{r['n']},{r['k']},{r['m']}",
            f"2^{r['a_bits']},2^{r['b_bits']}",
            r["path"],
            _fmt(r["exact_ms"], ".2f"),
            _fmt(r["blas_f64_ms"], ".2f"),
            _fmt(r["vs_blas"], ".2f") + "x",
            _fmt(r["int64_ms"], ".0f"),
            _fmt(r["vs_int64"], ".0f") + ("x" if r["vs_int64"] else ""),
            _fmt(r["exact_ns_per_out"], ".1f"),
            "n/a" if r["check"] is None else ("ok" if r["check"] else "[red]MISMATCH[/red]"),
        )
    con.print(t)
    k = Table(title=f"Nonlinear kernels in fixedpoint.vec ({N_ELEMS} elements per call)")
    for col, just in [
        ("kernel", "left"),
        ("input", "left"),
        ("ms", "right"),
        ("ns/element", "right"),
        ("note", "left"),
    ]:
        k.add_column(col, justify=just)
    for r in krows:
        k.add_row(r["name"], r["input"], _fmt(r["ms"], ".3f"), _fmt(r["ns_per_element"], ".2f"), r["note"])
    con.print(k)
    con.print(
        f"target: matmul_576x1536_vs_blas >= 0.5, measured {summary['matmul_576x1536_vs_blas']:.2f} "
        f"(numpy {np.__version__}, OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS', 'unset')}, "
        f"best of {summary['repeat']})"
    )


HELP_EPILOG = """\
matmul table columns:
  name         shape name: the weight shape k x m ("wide": larger activations, needs limbs)
  n,k,m        a is n x k (activations), b is k x m (weights); the product is n x m
  |a|,|b| <    entry magnitude bounds of the random operands
  path         how matmul_exact computes it: "fast (1 GEMM)" when K*max|a|*max|b| < 2^53 (one float64
               GEMM, exact), else "limbs AxB" (operands split into A and B limbs, A*B partial GEMMs)
  exact ms     best-of-N wall time of fixedpoint.vec.matmul_exact(a, b) on int64 arrays, all checks and
               conversions included
  f64 BLAS ms  best-of-N wall time of np.matmul on float64 copies of the same operands (conversion excluded)
  vs BLAS      f64 BLAS time / exact time (higher is better; 1.0 = as fast as float64 BLAS; target >= 0.5)
  int64 ms     wall time of np.matmul on the int64 arrays (numpy's non-BLAS integer loop), best of
               --int64-repeat runs
  vs int64     int64 time / exact time: how much faster the exact path is than plain int64 numpy
  ns/out       exact time per output element, in nanoseconds
  == int64     exact result equals numpy's int64 product bit for bit ("n/a" with --int64-repeat 0)

kernel table columns:
  kernel       function name in fixedpoint.vec ("n/a" with the reason if it is missing or refuses the input)
  input        the fixed-point format and range of the random inputs
  ms           best-of-N wall time of one call over all elements
  ns/element   ms converted to nanoseconds per input element (softmax: per logit, rows of 512)

--json prints exactly one JSON object {"rows": [...], "summary": {...}} instead of the tables; the summary
holds matmul_<name>_vs_blas for 576x576, 576x1536, 1536x576 and the wide row.
"""


def main(argv=None) -> int:
    p = argparse.ArgumentParser(
        description="Benchmark exact integer matmul and the nonlinear integer kernels.",
        epilog=HELP_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--json", action="store_true", help="print one JSON object instead of tables")
    p.add_argument("--repeat", type=int, default=7, help="best-of-N repetitions per timing (default 7)")
    p.add_argument(
        "--int64-repeat",
        type=int,
        default=1,
        help="repetitions of the slow int64 numpy matmul (about 2 s each at 576x1536); 0 skips it",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the random operands (default 0)")
    args = p.parse_args(argv)
    if args.repeat < 1 or args.int64_repeat < 0:
        p.error("--repeat must be >= 1 and --int64-repeat >= 0")

    mrows = bench_matmul(args.repeat, args.int64_repeat, args.seed)
    krows = bench_kernels(args.repeat, args.seed)
    summary = {f"matmul_{r['name'].replace(' ', '_')}_vs_blas": r["vs_blas"] for r in mrows}
    summary.update(
        repeat=args.repeat,
        numpy=np.__version__,
        blas_threads=os.environ.get("OPENBLAS_NUM_THREADS"),
        all_checks_ok=all(r["check"] is not False for r in mrows),
    )
    if args.json:
        print(json.dumps({"rows": mrows + krows, "summary": summary}))
    else:
        print_tables(mrows, krows, summary)
    return 0 if summary["all_checks_ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
