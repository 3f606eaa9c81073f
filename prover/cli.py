"""``obrain``: run models in integers, write receipts, and check them on chain.

Exit codes: 0 success; 1 a verification found a mismatch; 2 bad input (unreadable or unknown model, empty
or too-long prompt, bad arguments).
"""

from __future__ import annotations

import argparse
import sys
import time
from fractions import Fraction

EXIT_OK, EXIT_MISMATCH, EXIT_BAD_INPUT = 0, 1, 2


class UsageError(Exception):
    """Bad input that is not a model or prompt problem (unreachable RPC URL, bad key): exit code 2."""


def _q16(text: str) -> int:
    """A decimal string such as '0.7' as round_half_up(value * 2^16), parsed exactly (no float)."""
    try:
        v = Fraction(text)
    except (ValueError, ZeroDivisionError):
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if v < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0: {text!r}")
    x = v * (1 << 16) + Fraction(1, 2)
    return x.numerator // x.denominator


def _positive(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1: {text!r}")
    return v


def _topk(text: str) -> int:
    from engine.models.llama import TOPK

    v = _positive(text)
    if v > TOPK:
        raise argparse.ArgumentTypeError(f"must be at most {TOPK}: {text!r}")
    return v


def _nonneg(text: str) -> int:
    try:
        v = int(text, 0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if not 0 <= v < 2**63:
        raise argparse.ArgumentTypeError(f"must be in [0, 2^63): {text!r}")
    return v


def _console():
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
        console=_console(),
        transient=True,
    ) as prog:
        task = prog.add_task("load", total=None)

        def cb(done, total):
            prog.update(task, completed=done, total=total)

        return IntegerLM.load(name, context, progress=cb)


def cmd_run(a) -> int:
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from engine.generate import GenSettings

    from prover.cli_models import chat_request

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
        if tok in lm.config.stop_ids:
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
        console=_console(),
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
            from prover.runner import traced_generate
            from prover.trace import Corruption

            corrupt = Corruption(*a.dishonest) if a.dishonest else None
            traced = traced_generate(
                lm, ids, settings, corrupt=corrupt, on_token=on_token, on_prompt_progress=on_prompt
            )
            res = traced.result
    tail = stream.flush()
    if tail:
        out.write(tail)
    out.write("\n")
    out.flush()
    t_all = time.perf_counter() - t1
    if traced is not None:
        from pathlib import Path

        from prover.runner import make_receipt, write_run_dir

        receipt = make_receipt(
            lm, a.model, req.prompt, req.chat, ids, traced, load_s=t_load, chat_input=req.receipt_fields(lm)
        )
        lie = _lie_of_run(a, lm, traced)
        if not lie.honest:
            from prover.lies import apply_to_receipt

            claimed_lm = load_model(lie.model_id, a.context, True) if lie.model_root is not None else None
            try:
                receipt = apply_to_receipt(receipt, lie, lm, claimed_lm)
            except ValueError as e:
                raise UsageError(str(e)) from None
            if not a.quiet:
                _console().print(f"[yellow]dishonest receipt (demo/test mode)[/yellow]: {_describe_lie(lie)}")
        if a.receipt:
            path = Path(a.receipt)
            run_dir = path.parent
        else:
            run_dir = Path(a.runs_dir) / (time.strftime("%Y%m%d-%H%M%S") + "-" + Path(a.model).stem)
            path = run_dir / "receipt.json"
        write_run_dir(run_dir, receipt, traced, lie)
        if path.name != "receipt.json":
            receipt.save(path)
        if not a.quiet:
            _console().print(
                f"[dim]receipt {path}  trace root {receipt.trace.trace_root[:18]}..  "
                f"{receipt.trace.step_count} steps[/dim]"
            )
    if not a.quiet:
        n_dec = max(len(res.tokens) - 1, 0)
        dec = t_all - times.get("prompt", 0.0)
        _console().print(
            f"[dim]{len(ids)} prompt tokens, {len(res.tokens)} generated ({res.stopped}); "
            f"load {t_load:.1f}s, prompt {times.get('prompt', 0):.1f}s, "
            f"decode {n_dec / dec if dec > 0 and n_dec else 0:.1f} tok/s[/dim]"
        )
    return EXIT_OK


def _lie_of_run(a, lm, traced):
    """The Lie the --dishonest* flags ask for (an empty Lie: honest)."""
    from pathlib import Path

    from prover.lies import Lie
    from prover.runner import model_commitment

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


def cmd_verify(a) -> int:
    import json
    from pathlib import Path

    from fixedpoint import NUMERICS_VERSION
    from prover.receipt import Receipt
    from prover.runner import verify

    r = Receipt.load(a.receipt)
    if r.numerics_version != NUMERICS_VERSION:
        _console().print(
            f"[red]error:[/red] receipt uses numerics version {r.numerics_version}; this obrain "
            f"implements {NUMERICS_VERSION} and cannot replay it"
        )
        return EXIT_BAD_INPUT
    from prover.cli_models import receipt_model

    lm = load_model(a.model or receipt_model(r), r.model.context, a.quiet)
    run_dir = Path(a.receipt).parent
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
        con = _console()
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
        from prover.chain.game import ClaimStatus

        gc = _game_client(a)
        agent = _agent(a, gc, lm)
        for _ in range(a.max_polls if a.max_polls is not None else 10**9):
            agent.watch_once(bond=0, only={r.chain.claim_id})
            st = gc.claim(r.chain.claim_id).status
            if st != ClaimStatus.PENDING or not agent._games_of(r.chain.claim_id):
                break
            open_games = [g for g in agent._games_of(r.chain.claim_id) if not gc.game(g).over]
            if not open_games:
                break
            time.sleep(a.poll)
        _console().print(
            f"claim {r.chain.claim_id}: {gc.claim(r.chain.claim_id).status.name}; "
            f"withdrew {agent.withdraw() / 1e18} ETH"
        )
    return EXIT_OK if rep.ok else EXIT_MISMATCH


def _wei(text: str) -> int:
    """An ETH amount such as '0.5' in wei, parsed exactly."""
    try:
        v = Fraction(text) * 10**18
    except (ValueError, ZeroDivisionError):
        raise argparse.ArgumentTypeError(f"not an amount of ETH: {text!r}") from None
    if v < 0 or v.denominator != 1:
        raise argparse.ArgumentTypeError(f"not a whole number of wei: {text!r}")
    return int(v)


def cmd_node(a) -> int:
    """Start anvil and keep it running until interrupted."""
    import signal

    from prover.chain.node import start_anvil

    stop = {signal.SIGINT, signal.SIGTERM}
    signal.pthread_sigmask(signal.SIG_BLOCK, stop)  # so sigwait receives them and we stop anvil cleanly
    node = start_anvil(port=a.port or None, block_time=a.block_time)
    try:
        print(node.url, flush=True)
        _console().print(
            f"[green]anvil[/green] on {node.url} (chain id {node.chain_id}); log {node.log_path}; Ctrl-C stops it"
        )
        signal.sigwait(stop)
    finally:
        node.stop()
    return EXIT_OK


def _chain(rpc_url: str):
    from prover.chain.client import Chain
    from prover.chain.solc import compile_contracts

    try:
        return Chain(rpc_url, compile_contracts())
    except Exception as e:  # connection refused, bad URL: bad input, not a crash
        raise UsageError(f"cannot use the chain at {rpc_url}: {e}") from None


def _sender(chain, key: str | None):
    if not key:
        return None
    from eth_account import Account

    try:
        return Account.from_key(key)
    except Exception:
        raise UsageError("--key is not a valid private key") from None


def cmd_deploy(a) -> int:
    """Deploy OneStep and the ClaimRegistry (with its DisputeGame), register models, write a deployment JSON."""
    import json
    from pathlib import Path

    from prover.chain.game import GameClient
    from prover.runner import model_commitment

    chain = _chain(a.rpc_url)
    sender = _sender(chain, a.key)
    first_block = int(chain.w3.eth.block_number) + 1  # no event of these contracts can be older
    one = chain.deploy("OneStep", sender=sender)
    gc = GameClient.deploy(
        chain,
        min_bond=a.min_bond,
        challenge_window=a.challenge_window,
        move_window=a.move_window,
        k=a.k,
        one_step=one.address,
        sender=sender,
    )
    models = {}
    for name in a.model or []:
        lm = load_model(name, None, a.quiet)
        mc = model_commitment(lm)
        gc.register_model(mc, uri=f"openbrains:{name}", sender=sender)
        models[name] = "0x" + mc.model_root.hex()
    out = {
        "chain_id": chain.chain_id,
        "rpc_url": a.rpc_url,
        "one_step": one.address,
        "registry": gc.address,
        "game": gc.game_contract.address,
        "min_bond_wei": a.min_bond,
        "challenge_window_s": a.challenge_window,
        "move_window_s": a.move_window,
        "k": a.k,
        "deploy_block": first_block,
        "models": models,
    }
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(out, indent=2) + "\n")
    _console().print(
        f"[green]deployed[/green] registry {gc.address}, game {gc.game_contract.address}, "
        f"one-step {one.address} on chain {chain.chain_id} -> {a.out}"
    )
    return EXIT_OK


def _game_client(a):
    import json
    from pathlib import Path

    from prover.chain.game import GameClient

    try:
        dep = json.loads(Path(a.deployment).read_text())
    except (OSError, ValueError) as e:
        raise UsageError(f"cannot read the deployment file {a.deployment}: {e} (run `obrain deploy`)") from None
    chain = _chain(a.rpc_url or dep.get("rpc_url", "http://127.0.0.1:8545"))
    if chain.chain_id != dep.get("chain_id"):
        raise UsageError(f"{a.deployment} is for chain {dep.get('chain_id')}, the RPC serves chain {chain.chain_id}")
    gc = GameClient(chain, dep["registry"])
    fb = getattr(a, "from_block", None)
    gc.first_block = int(fb if fb is not None else dep.get("deploy_block", 0))
    return gc


def _agent(a, gc, lm, lie=None):
    from prover.agent import Agent

    sender = _sender(gc.chain, a.key) if a.key else a.account
    con = _console()
    return Agent(
        gc, lm, sender, lie=lie, log=lambda m: con.print(f"[dim]{m}[/dim]"), from_block=getattr(gc, "first_block", 0)
    )


def cmd_submit(a) -> int:
    """Post a receipt's claim with a bond; write the chain fields into the receipt; optionally defend it."""
    import json
    from pathlib import Path

    from prover.lies import Lie
    from prover.receipt import ChainInfo, Receipt

    r = Receipt.load(a.receipt)
    gc = _game_client(a)
    op = Path(a.receipt).parent / "operator.json"  # a dishonest run's notes: what it lied about
    lie = Lie.from_json(json.loads(op.read_text()) if op.exists() else None)
    from prover.cli_models import receipt_model

    lm = load_model(lie.computed_with or receipt_model(r), r.model.context, a.quiet)
    agent = _agent(a, gc, lm, lie)
    bond = a.bond if a.bond is not None else gc.min_bond
    try:
        cid = agent.submit(r, bond)
    except ValueError as e:
        raise UsageError(str(e)) from None
    info = ChainInfo(chain_id=gc.chain.chain_id, registry=gc.address, claim_id=cid, tx_hash="", bond_wei=bond)
    r.model_copy(update={"chain": info}).save(a.receipt)
    _console().print(f"[green]claim {cid}[/green] posted to {gc.address} (bond {bond / 1e18} ETH); receipt updated")
    if a.serve:
        status = agent.defend(cid, poll=a.poll)
        _console().print(f"claim {cid}: {status.name}")
    return EXIT_OK


def cmd_defend(a) -> int:
    gc = _game_client(a)
    lm = load_model(a.model, None, a.quiet)
    status = _agent(a, gc, lm).defend(a.claim_id, poll=a.poll, max_polls=a.max_polls)
    _console().print(f"claim {a.claim_id}: {status.name}")
    return EXIT_OK


def cmd_watch(a) -> int:
    gc = _game_client(a)
    lm = load_model(a.model, None, a.quiet)
    _agent(a, gc, lm).watch(bond=a.bond or 0, poll=a.poll, max_polls=a.max_polls)
    return EXIT_OK


def cmd_claims(a) -> int:
    from rich.table import Table

    gc = _game_client(a)
    t = Table(title=f"claims on {gc.address}")
    for c in ("id", "operator", "status", "steps", "trace root", "games"):
        t.add_column(c)
    for e in gc.events("ClaimPosted"):
        cid = e.args["claimId"]
        c = gc.claim(cid)
        games = len(gc.events("GameOpened", claimId=cid))
        t.add_row(
            str(cid),
            c.operator[:10] + "..",
            c.status.name,
            str(c.step_count),
            "0x" + c.trace_root.hex()[:12] + "..",
            str(games),
        )
    _console().print(t)
    return EXIT_OK


def cmd_demo(a) -> int:
    """The main job, end to end (grows as the product does)."""
    from prover.demo import run_demo

    return run_demo(a)


def _chain_args(p) -> None:
    p.add_argument("--rpc-url", default=None, help="JSON-RPC URL (default: the deployment file's)")
    p.add_argument("--deployment", default="deployment.json", help="deployment JSON from `obrain deploy`")
    p.add_argument("--key", default=None, help="private key to act with")
    p.add_argument("--account", type=int, default=0, help="else anvil's dev account N (default 0)")
    p.add_argument("--poll", type=float, default=1.0, help="seconds between chain polls")
    p.add_argument("--max-polls", type=int, default=None, help="stop after N polls (default: run until done)")
    if not any(act.dest == "quiet" for act in p._actions):
        p.add_argument("-q", "--quiet", action="store_true")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="obrain",
        description=__doc__.split("\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Exit codes: 0 ok, 1 mismatch found, 2 bad input.",
    )
    sub = p.add_subparsers(dest="cmd", required=True, metavar="COMMAND")

    r = sub.add_parser(
        "run",
        help="run a model in pure integers and print the answer",
        description="Run MODEL on PROMPT with the integer engine; streams the text to stdout.",
    )
    r.add_argument(
        "model", help="a bundled model (tiny, smollm2, ...), a .gguf path, a native model directory or a sha256"
    )
    r.add_argument("prompt", nargs="?", help="the prompt text (or --messages FILE)")
    r.add_argument("--max-new-tokens", type=_positive, default=32, metavar="N", help="tokens to generate (default 32)")
    r.add_argument("--chat", action="store_true", help="wrap the prompt in the model's chat template")
    from prover.cli_models import add_chat_args, register

    add_chat_args(r)
    r.add_argument(
        "--temperature",
        type=_q16,
        default=0,
        metavar="T",
        help="sampling temperature (decimal, parsed exactly to Q16); 0 = greedy (default)",
    )
    r.add_argument(
        "--top-k",
        type=_topk,
        default=32,
        metavar="K",
        help="with --temperature: sample among the K best, 1..32 (default 32)",
    )
    r.add_argument("--seed", type=_nonneg, default=0, metavar="S", help="sampling seed (default 0)")
    r.add_argument(
        "--context",
        type=_positive,
        default=None,
        metavar="C",
        help="cap the context length (positions); default: the model's, up to 8192",
    )
    r.add_argument(
        "--receipt",
        metavar="PATH",
        help="write the receipt here (its folder becomes the run directory); default runs/<time>-<model>/receipt.json",
    )
    r.add_argument("--runs-dir", default="runs", metavar="DIR", help="where default run directories go")
    r.add_argument("--no-receipt", action="store_true", help="do not trace or write a receipt (faster)")
    r.add_argument(
        "--dishonest",
        nargs=3,
        type=int,
        metavar=("STEP", "ELEMENT", "DELTA"),
        help="demo/test only: add DELTA to element ELEMENT of step STEP's output before committing",
    )
    r.add_argument(
        "--dishonest-output",
        nargs=2,
        type=_nonneg,
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
    v.add_argument("receipt", help="path to a receipt.json")
    v.add_argument("--model", help="model to replay with (default: the store's model with the receipt's file sha256)")
    v.add_argument("--json", action="store_true", help="print the report as JSON")
    v.add_argument(
        "--challenge",
        action="store_true",
        help="if the receipt's claim is wrong, challenge it on chain "
        "(its chain fields say where) and play the game to the end",
    )
    v.add_argument("-q", "--quiet", action="store_true")
    _chain_args(v)
    v.set_defaults(func=cmd_verify)

    n = sub.add_parser(
        "node",
        help="start a local testnet (anvil) and keep it running",
        description="Start anvil from node_modules (or PATH); prints its URL; Ctrl-C stops it.",
    )
    n.add_argument("--port", type=int, default=8545, help="port (default 8545; 0 picks a free one)")
    n.add_argument("--block-time", type=float, default=None, help="seconds per block (default: automine)")
    n.set_defaults(func=cmd_node)

    dp = sub.add_parser(
        "deploy",
        help="deploy the contracts and write a deployment JSON",
        description="Deploy OneStep and the ClaimRegistry (which deploys its DisputeGame) to any "
        "EVM chain (anvil by default), optionally register models, and write a deployment JSON.",
    )
    dp.add_argument("--rpc-url", default="http://127.0.0.1:8545", help="JSON-RPC URL (default: local anvil)")
    dp.add_argument("--key", default=None, help="deployer private key (default: anvil's first dev account)")
    dp.add_argument("--out", default="deployment.json", help="where to write the deployment JSON")
    dp.add_argument("--min-bond", type=_wei, default=10**17, metavar="ETH", help="minimum bond (default 0.1)")
    dp.add_argument("--challenge-window", type=_positive, default=3600, metavar="S", help="seconds (default 3600)")
    dp.add_argument("--move-window", type=_positive, default=600, metavar="S", help="seconds per move (default 600)")
    dp.add_argument("--k", type=int, choices=(2, 4, 8, 16), default=2, help="dissection arity (default 2)")
    dp.add_argument("--model", action="append", help="register this model (repeatable): tiny, smollm2, a path")
    dp.add_argument("-q", "--quiet", action="store_true")
    dp.set_defaults(func=cmd_deploy)

    sb = sub.add_parser("submit", help="post a receipt's claim with a bond (and optionally defend it)")
    sb.add_argument("receipt")
    sb.add_argument("--bond", type=_wei, default=None, metavar="ETH", help="bond (default: the registry minimum)")
    sb.add_argument("--serve", action="store_true", help="stay and defend the claim until it is final")
    _chain_args(sb)
    sb.set_defaults(func=cmd_submit)

    df = sub.add_parser("defend", help="answer every dispute game on one of your claims until it is final")
    df.add_argument("claim_id", type=int)
    df.add_argument("--model", default="smollm2")
    _chain_args(df)
    df.set_defaults(func=cmd_defend)

    w = sub.add_parser("watch", help="honest challenger: replay every claim, dispute the wrong ones")
    w.add_argument("--model", default="smollm2")
    w.add_argument("--bond", type=_wei, default=None, metavar="ETH", help="challenge bond (default: the claim's)")
    w.add_argument(
        "--from-block",
        type=_nonneg,
        default=None,
        metavar="B",
        help="scan claims from block B (default: the deployment file's deploy_block); later polls read only new blocks",
    )
    _chain_args(w)
    w.set_defaults(func=cmd_watch)

    cl = sub.add_parser("claims", help="list claims and their status")
    _chain_args(cl)
    cl.set_defaults(func=cmd_claims)

    d = sub.add_parser("demo", help="the main job end to end (see README)")
    d.add_argument("--model", default="smollm2", help="model for the demo run (default smollm2)")
    d.add_argument("--workdir", default=None, help="where to write the demo's run directories (default: a temp dir)")
    d.add_argument("--offline", action="store_true", help="skip the on-chain part")
    d.set_defaults(func=cmd_demo)
    register(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    from engine.errors import ModelLoadError, PromptError
    from prover.receipt import ReceiptError

    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (ModelLoadError, PromptError, ReceiptError, UsageError) as e:
        _console().print(f"[red]error:[/red] {e}")
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
