"""`obrain run` and `obrain verify`: a run in pure integers with its receipt, and a receipt checked by replay."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from fixedpoint.errors import FixedPointOverflow

from .common import (
    EXIT_BAD_INPUT,
    EXIT_MISMATCH,
    EXIT_OK,
    UsageError,
    console,
    load_model,
    nonneg,
    positive,
    q16,
    ranged,
    topk,
)
from .keys import chain_args, game_client, signer

# engine.models.llama.MAX_CONTEXT, not imported for --help's sake (tests/test_cli.py checks they agree)
MAX_CONTEXT = 1024


def run_inputs(a) -> tuple[str, str | None]:
    """(model, prompt text) from the llama.cpp-style flags or the positionals: ``-m MODEL`` or the first
    positional; exactly one of ``-p TEXT``, ``-f FILE`` (``-`` = stdin) or the prompt positional (``-`` = stdin);
    none with ``--messages`` (prompt None)."""
    pos = [x for x in (a.model_pos, a.prompt_pos) if x is not None]
    model = a.m
    if model is None:
        if not pos:
            raise UsageError("no model: give MODEL (tiny, smollm2, a .gguf path) or -m MODEL")
        model = pos.pop(0)
    if len(pos) > 1:
        raise UsageError(f"too many positionals: {pos!r} (MODEL PROMPT, or -m MODEL with PROMPT)")
    sources = [("-p", a.p), ("-f", a.f), ("PROMPT", pos[0] if pos else None)]
    given = [(n, v) for n, v in sources if v is not None]
    if not given and getattr(a, "messages", None):
        return model, None  # the conversation is the prompt (prover.cli.models.chat_request)
    if len(given) != 1:
        raise UsageError(
            "give the prompt once: PROMPT, -p TEXT or -f FILE ('-' reads stdin)"
            + (f"; got {', '.join(n for n, _ in given)}" if given else "")
        )
    name, value = given[0]
    if name == "-p":
        return model, value
    if value == "-":
        return model, sys.stdin.read()
    if name == "PROMPT":
        return model, value
    try:
        return model, Path(value).read_text()
    except (OSError, UnicodeDecodeError) as e:
        raise UsageError(f"cannot read the prompt file {value}: {e}") from None


def cmd_run(a) -> int:
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from engine.generate import GenSettings

    from .models import chat_request

    a.model, a.prompt = run_inputs(a)
    run_dir, path = _receipt_path(a) if not a.no_receipt else (None, None)
    t0 = time.perf_counter()
    req = chat_request(a)
    lm = load_model(a.model, a.context, a.quiet)
    ids = req.encode(lm, a.max_new_tokens)
    settings = GenSettings(max_new_tokens=a.max_new_tokens, temperature_q16=a.temperature, top_k=a.top_k, seed=a.seed)
    t_load = time.perf_counter() - t0
    from engine.tokenizer import StreamDecoder

    stream = StreamDecoder(lm.tokenizer)
    out = sys.stdout
    times: dict[str, float] = {}

    def on_token(tok: int) -> None:
        if tok in lm.stop_ids or a.json:  # --json: the text goes into the one object at the end
            return
        piece = stream.push(tok)
        if piece:
            out.write(piece)
            out.flush()

    traced = None
    with Progress(
        TextColumn("[dim]prompt"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total} tokens"),
        TimeElapsedColumn(),
        console=console(),
        transient=True,
        disable=a.quiet,
    ) as prog:
        task = prog.add_task("prompt", total=len(ids))
        t1 = time.perf_counter()

        def on_prompt(done, total):
            prog.update(task, completed=done)
            if done == total:
                times["prompt"] = time.perf_counter() - t1
                prog.stop()

        if a.no_receipt:
            res = lm.generate(ids, settings, on_token=on_token, on_prompt_progress=on_prompt)
        else:
            traced = _traced(a, lm, ids, settings, on_token, on_prompt)
            res = traced.result
    tail = stream.flush()
    if not a.json:
        out.write(tail + "\n")
        out.flush()
    t_all = time.perf_counter() - t1
    receipt = _write_receipt(a, lm, req, ids, traced, run_dir, path, t_load) if traced is not None else None
    n_dec = max(len(res.tokens) - 1, 0)
    dec = t_all - times.get("prompt", 0.0)
    speed = n_dec / dec if dec > 0 and n_dec else 0.0
    if a.json:
        print(json.dumps(_run_json(a, lm, ids, res, receipt, path, t_load, times.get("prompt", 0.0), speed), indent=2))
    if not a.quiet:
        console().print(
            f"[dim]{len(ids)} prompt tokens, {len(res.tokens)} generated ({res.stopped}); "
            f"load {t_load:.1f}s, prompt {times.get('prompt', 0):.1f}s, decode {speed:.1f} tok/s[/dim]"
        )
    return EXIT_OK


def _traced(a, lm, ids, settings, on_token, on_prompt):
    """The traced run (with the --dishonest corruption, checked: in range and inside the run; UsageError)."""
    from prover.commit.trace import Corruption
    from prover.runner import traced_generate

    if a.dishonest and (a.dishonest[0] < 0 or a.dishonest[1] < 0 or not -(2**31) <= a.dishonest[2] < 2**31):
        raise UsageError(
            f"--dishonest {' '.join(map(str, a.dishonest))}: STEP and ELEMENT must be >= 0, DELTA in [-2^31, 2^31)"
        )
    corrupt = Corruption(*a.dishonest) if a.dishonest else None
    try:
        traced = traced_generate(lm, ids, settings, corrupt=corrupt, on_token=on_token, on_prompt_progress=on_prompt)
    except (ValueError, FixedPointOverflow) as e:
        if corrupt is None:
            raise
        raise UsageError(f"--dishonest {' '.join(map(str, a.dishonest))}: {e}") from None
    if corrupt is not None and corrupt.step >= traced.tracer.step_count:
        raise UsageError(
            f"--dishonest step {corrupt.step} is past the run's {traced.tracer.step_count} steps: nothing "
            "would be changed (no receipt written)"
        )
    return traced


def _write_receipt(a, lm, req, ids, traced, run_dir, path, t_load: float):
    """The run's receipt (with the --dishonest* lie applied), written with its run directory."""
    from prover.runner import make_receipt, write_run_dir

    receipt = make_receipt(
        lm, a.model, req.prompt, req.chat, ids, traced, load_s=t_load, chat_input=req.receipt_fields(lm)
    )
    lie = _lie_of_run(a, lm, traced)
    if not lie.honest:
        from prover.dispute.lies import apply_to_receipt

        claimed_lm = load_model(lie.model_id, a.context, True) if lie.model_root is not None else None
        try:
            receipt = apply_to_receipt(receipt, lie, lm, claimed_lm)
        except ValueError as e:
            raise UsageError(str(e)) from None
        if not a.quiet:
            console().print(f"[yellow]dishonest receipt (demo/test mode)[/yellow]: {_describe_lie(lie)}")
    write_run_dir(run_dir, receipt, traced, lie)
    if path.name != "receipt.json":
        receipt.save(path)
    if not a.quiet:
        console().print(
            f"[dim]receipt {path}  trace root {receipt.trace.trace_root[:18]}..  {receipt.trace.step_count} steps[/dim]"
        )
    return receipt


def _run_json(a, lm, ids, res, receipt, path, t_load: float, t_prompt: float, speed: float) -> dict:
    """`obrain run --json`: the answer and, with a receipt, what it commits to (the receipt's own values)."""
    from engine.runtime import output_text

    out = {
        "model": a.model,
        "text": receipt.output.text if receipt else output_text(lm, res.tokens),
        "tokens": list(receipt.output.tokens) if receipt else list(res.tokens),
        "stopped": res.stopped,
        "prompt_tokens": len(ids),
        "receipt": str(path) if path else None,
        "seconds": {"load": round(t_load, 3), "prompt": round(t_prompt, 3)},
        "decode_tok_s": round(speed, 2),
    }
    if receipt is not None:
        out.update(
            model_root=receipt.model.model_root,
            input_hash=receipt.input.input_hash,
            output_hash=receipt.output.output_hash,
            trace_root=receipt.trace.trace_root,
            step_count=receipt.trace.step_count,
        )
    return out


def _receipt_path(a):
    """(run directory, receipt path) for --receipt / --runs-dir, checked before anything runs: a directory is not a
    receipt path, and another run's directory is not overwritten without --force (UsageError, exit 2)."""
    from pathlib import Path

    if a.receipt:
        path = Path(a.receipt)
        if path.is_dir():
            raise UsageError(f"--receipt {path} is a directory; name the receipt file (e.g. {path / 'receipt.json'})")
        run_dir = path.parent
    else:
        run_dir = Path(a.runs_dir) / (time.strftime("%Y%m%d-%H%M%S") + "-" + Path(a.model).stem)
        path = run_dir / "receipt.json"
    taken = [n for n in ("receipt.json", "steps.bin", "records.bin", "operator.json") if (run_dir / n).exists()]
    if (taken or path.exists()) and not a.force:
        raise UsageError(
            f"{run_dir} already holds a run ({', '.join(taken) or path.name}); use another --receipt "
            "path or --force to overwrite it"
        )
    if run_dir.exists() and not run_dir.is_dir():
        raise UsageError(f"{run_dir} is a file, not a directory")
    return run_dir, path


def _lie_of_run(a, lm, traced):
    """The Lie the --dishonest* flags ask for (an empty Lie: honest)."""
    from pathlib import Path

    from prover.commit.model import model_commitment
    from prover.dispute.lies import Lie

    out = tuple(a.dishonest_output) if a.dishonest_output else None
    if not a.dishonest_model:
        return Lie(corruption=traced.tracer.corrupt, output=out)
    claimed = load_model(a.dishonest_model, a.context, True)
    root = model_commitment(claimed).model_root
    if root == model_commitment(lm).model_root:
        raise UsageError(f"--dishonest-model {a.dishonest_model} is the model that ran: that is no lie")
    here = Path(a.model)
    return Lie(
        corruption=traced.tracer.corrupt,
        output=out,
        model_root=root,
        model_id=a.dishonest_model,
        computed_with=str(here.resolve()) if here.exists() else a.model,
    )


def _describe_lie(lie) -> str:
    parts = []
    if lie.corruption is not None:
        c = lie.corruption
        parts.append(f"step {c.step} element {c.element} changed by {c.delta}")
    if lie.output is not None:
        parts.append(f"generated token {lie.output[0]} claimed to be {lie.output[1]}")
    if lie.model_root is not None:
        parts.append(
            f"claims model {lie.model_id} (0x{lie.model_root.hex()[:12]}..), computed with {lie.computed_with}"
        )
    return "; ".join(parts)


def fetch_receipt(url: str, dest: Path) -> Path:
    """Download a served receipt (`obrain serve`'s /v1/receipts/{id}) and the trace files a verifier reads into
    dest; the local receipt.json. UsageError if the server does not have them."""
    import urllib.error
    import urllib.request

    from prover.serve.worker import RUN_FILES

    base = url.rstrip("/")
    base = base.removesuffix("/files/receipt.json")
    dest.mkdir(parents=True, exist_ok=True)
    for name in RUN_FILES:
        try:
            with urllib.request.urlopen(f"{base}/files/{name}", timeout=60) as f:
                (dest / name).write_bytes(f.read())
        except (urllib.error.URLError, OSError, ValueError) as e:
            raise UsageError(f"cannot fetch {name} of {url}: {e}") from None
    return dest / "receipt.json"


def cmd_verify(a) -> int:
    import tempfile

    if a.receipt.startswith(("http://", "https://")):
        with tempfile.TemporaryDirectory(prefix="obrain-verify-") as d:
            a.receipt = str(fetch_receipt(a.receipt, Path(d)))
            return _verify(a)
    return _verify(a)


def _verify(a) -> int:
    from fixedpoint import NUMERICS_VERSION
    from prover.receipt import Receipt
    from prover.runner import operator_notes, verify

    r = Receipt.load(a.receipt)
    if r.numerics_version != NUMERICS_VERSION:
        console().print(
            f"[red]error:[/red] receipt uses numerics version {r.numerics_version}; this obrain "
            f"implements {NUMERICS_VERSION} and cannot replay it"
        )
        return EXIT_BAD_INPUT
    from .models import receipt_model

    run_dir = Path(a.receipt).parent
    operator_notes(run_dir)  # an unreadable or malformed operator.json beside it: exit 2 before any work
    lm = load_model(a.model or receipt_model(r), r.model.context, a.quiet)
    positions = len(r.input.prompt_tokens) + len(r.output.tokens) - 1
    if positions > lm.program.context:
        raise UsageError(
            f"the receipt's {len(r.input.prompt_tokens)} prompt and {len(r.output.tokens)} output tokens need "
            f"{positions} positions; the model's context holds {lm.program.context}: no run can have made it"
        )
    rep = verify(r, lm, run_dir=run_dir if (run_dir / "steps.bin").exists() else None)
    if a.json:
        print(
            json.dumps(
                {
                    "ok": rep.ok,
                    "mismatches": [vars(m) for m in rep.mismatches],
                    "first_step": rep.first_step,
                    "seconds": round(rep.seconds, 3),
                },
                indent=2,
            )
        )
    else:
        con = console()
        if rep.ok:
            con.print(
                f"[green]valid[/green]: model, input, output, {r.trace.step_count} steps and the trace "
                f"root all replay exactly ({rep.seconds:.1f}s)"
            )
        for m in rep.mismatches:
            con.print(f"[red]mismatch[/red] {m.field}: {m.detail}")
        if rep.first_step:
            fs = rep.first_step
            con.print(
                f"[red]first differing step[/red] {fs['step']}: token {fs['token']}, layer {fs['layer']}, "
                f"op {fs['op']} ({fs['instr']}), leaf {fs.get('leaf')}, element {fs.get('element')}"
            )
    if a.challenge and not rep.ok:
        if r.chain is None:
            raise UsageError("the receipt has no chain fields (it was never submitted): nothing to challenge")

        from prover.dispute.watcher import Watcher

        from .chain import event_printer, watch_state_dir

        gc = game_client(a)
        cid = r.chain.claim_id
        sender = signer(a, gc.chain)
        w = Watcher.in_process(
            gc,
            lm,
            sender,
            state_dir=watch_state_dir(a, gc),
            from_block=getattr(gc, "first_block", 0),
            only={cid},
            log=event_printer(False),
        )
        try:
            for _ in range(a.max_polls if a.max_polls is not None else 10**9):
                w.tick()
                games = w.games_on(cid)
                if not gc.claim(cid).status.unsettled and all(gc.game(g).over for g in games):
                    break
                time.sleep(a.poll)
            w.tick()  # the last withdrawal
        finally:
            w.close()
        console().print(f"claim {cid}: {gc.claim(cid).status.name}; watcher state in {w.state_dir}")
    return EXIT_OK if rep.ok else EXIT_MISMATCH


def add_parsers(sub) -> None:
    r = sub.add_parser(
        "run",
        help="run a model in pure integers and print the answer",
        description="Run MODEL on PROMPT with the integer engine; streams the text to stdout (progress and "
        "timings on stderr) and writes a receipt. llama.cpp's flags work too: `obrain run -m tiny -p hello -n 8`, "
        "`-f prompt.txt`, `-` for standard input.",
    )
    r.add_argument(
        "model_pos",
        nargs="?",
        metavar="MODEL",
        help="a bundled model (tiny, smollm2, ...), a .gguf path, a native model directory or a sha256",
    )
    r.add_argument("prompt_pos", nargs="?", metavar="PROMPT", help="the prompt text ('-': standard input)")
    r.add_argument("-m", "--model", dest="m", metavar="MODEL", help="the model (instead of the MODEL positional)")
    r.add_argument("-p", "--prompt", dest="p", metavar="TEXT", help="the prompt (instead of the PROMPT positional)")
    r.add_argument("-f", "--file", dest="f", metavar="FILE", help="read the prompt from FILE ('-': standard input)")
    r.add_argument(
        "-n",
        "--max-new-tokens",
        "--n-predict",
        type=positive,
        default=32,
        metavar="N",
        help="tokens to generate (default 32)",
    )
    r.add_argument("--chat", action="store_true", help="wrap the prompt in the model's chat template")
    from .models import add_chat_args

    add_chat_args(r)
    r.add_argument(
        "--temperature",
        "--temp",
        type=q16,
        default=0,
        metavar="T",
        help="sampling temperature, 0 <= T < 32768 (decimal, parsed exactly to Q16); 0 = greedy (default)",
    )
    r.add_argument(
        "--top-k",
        type=topk,
        default=32,
        metavar="K",
        help="with --temperature: sample among the K best, 1..32 (default 32)",
    )
    r.add_argument("-s", "--seed", type=nonneg, default=0, metavar="S", help="sampling seed, 0 <= S < 2^63 (default 0)")
    r.add_argument(
        "-c",
        "--context",
        "--ctx-size",
        type=positive,
        default=None,
        metavar="C",
        help=f"context length in positions (prompt + answer); default and cap: the model's, at most {MAX_CONTEXT} "
        "(the llama template's cap; a larger C is capped)",
    )
    r.add_argument("--json", action="store_true", help="print one JSON object (text, tokens, receipt, roots) on stdout")
    r.add_argument(
        "--receipt",
        metavar="PATH",
        help="write the receipt here (its folder becomes the run directory); default runs/<time>-<model>/receipt.json",
    )
    r.add_argument("--runs-dir", default="runs", metavar="DIR", help="where default run directories go")
    r.add_argument("--no-receipt", action="store_true", help="do not trace or write a receipt (faster)")
    r.add_argument("--force", action="store_true", help="overwrite the run directory if it already holds a run")
    r.add_argument(
        "--dishonest",
        nargs=3,
        type=ranged(-(2**31), 2**63 - 1),
        metavar=("STEP", "ELEMENT", "DELTA"),
        help="demo/test only: add DELTA to element ELEMENT of step STEP's output before committing (STEP and "
        "ELEMENT inside the run, DELTA in [-2^31, 2^31))",
    )
    r.add_argument(
        "--dishonest-output",
        nargs=2,
        type=ranged(0, 2**31 - 1),
        metavar=("INDEX", "TOKEN"),
        help="demo/test only: claim generated token INDEX is TOKEN (the trace stays honest)",
    )
    r.add_argument(
        "--dishonest-model",
        metavar="MODEL",
        help="demo/test only: claim the run was made by MODEL (its root goes into the receipt)",
    )
    r.add_argument("-q", "--quiet", action="store_true", help="no progress bars or timing line")
    r.set_defaults(func=cmd_run)

    v = sub.add_parser(
        "verify",
        help="replay a receipt and check every commitment",
        description="Replay the run a receipt describes and compare model root, input, output, "
        "step count and trace root. Exit 0 valid, 1 mismatch (names the first differing step "
        "when the run directory is at hand), 2 bad input.",
    )
    v.add_argument(
        "receipt",
        help="a receipt.json (its folder's steps.bin names the first differing step), or a served "
        "receipt's URL (http://HOST/v1/receipts/ID: its files are fetched)",
    )
    v.add_argument("--model", help="model to replay with (default: the store's model with the receipt's file sha256)")
    v.add_argument("--json", action="store_true", help="print the report as JSON")
    v.add_argument(
        "--challenge",
        action="store_true",
        help="if the receipt's claim is wrong, challenge it on chain "
        "(its chain fields say where) and play the game to the end",
    )
    v.add_argument(
        "--state-dir",
        default=None,
        metavar="DIR",
        help="with --challenge: the watcher's state dir (default .obrain/watch/REGISTRY)",
    )
    v.add_argument("-q", "--quiet", action="store_true")
    chain_args(v)
    v.set_defaults(func=cmd_verify)
