"""`obrain node | deploy | submit | defend | watch | claims | withdraw`: the chain side."""

from __future__ import annotations

from .common import (
    EXIT_OK,
    UsageError,
    console,
    load_model,
    nonneg,
    positive,
    ranged,
    wei,
)
from .keys import chain_args, game_client, key_args, make_agent, open_chain, rpc_url, signer, storable_url


def cmd_node(a) -> int:
    """Start anvil and keep it running until interrupted."""
    import signal

    from prover.chain.node import start_anvil

    stop = {signal.SIGINT, signal.SIGTERM}
    signal.pthread_sigmask(signal.SIG_BLOCK, stop)  # so sigwait receives them and we stop anvil cleanly
    node = start_anvil(port=a.port or None, block_time=a.block_time)
    try:
        print(node.url, flush=True)
        console().print(
            f"[green]anvil[/green] on {node.url} (chain id {node.chain_id}); log {node.log_path}; Ctrl-C stops it"
        )
        signal.sigwait(stop)
    finally:
        node.stop()
    return EXIT_OK


def cmd_deploy(a) -> int:
    """Deploy the one-step verifier, the ClaimRegistry (with its DisputeGame), register models, write a deployment
    JSON. Refuses bonds and windows that cannot protect claims on the models it registers (prover.dispute.timing)."""
    import json
    from pathlib import Path

    from prover.chain.deploy import deploy_one_step
    from prover.chain.registry import GameClient
    from prover.commit.model import model_commitment
    from prover.dispute import timing

    lms = {name: load_model(name, None, a.quiet) for name in a.model or []}
    names = [timing_name(n) for n in lms] or ["smollm2"]
    max_ctx = max([lm.program.context for lm in lms.values()] or [1024])
    steps = max([lm.program.steps_per_token for lm in lms.values()] or [402])
    gas_price = a.max_gas_price_gwei * 10**9
    floor = timing.bond_floor(max_ctx * steps, timing.MAX_OUTPUT_LEAVES, a.k, gas_price)
    sched = timing.Schedule(
        claim_bond=a.claim_bond if a.claim_bond is not None else 2 * floor,
        challenge_bond=a.challenge_bond if a.challenge_bond is not None else floor,
        challenge_window=a.challenge_window,
        move_window=a.move_window
        if a.move_window is not None
        else max(timing.move_window_for(names), timing.DEFAULT_MOVE_WINDOW_S),
        replay_micros=a.replay_micros if a.replay_micros is not None else timing.replay_micros_for(names),
        k=a.k,
    )
    why = timing.check(
        sched,
        names,
        max_context=max_ctx,
        steps_per_token=steps,
        leaves=timing.MAX_OUTPUT_LEAVES,
        max_gas_price_wei=gas_price,
    )
    if why and not a.unsafe_windows:
        raise UsageError("refusing to deploy: " + "; ".join(why) + " (--unsafe-windows for a throwaway dev chain)")
    for w in why:
        console().print(f"[yellow]warning:[/yellow] {w}")
    url = rpc_url(a)
    chain = open_chain(a, url)
    sender = signer(a, chain)
    first_block = int(chain.w3.eth.block_number) + 1  # no event of these contracts can be older
    one = deploy_one_step(chain, sender=sender)
    registry = dict(
        claim_bond=sched.claim_bond,
        challenge_bond=sched.challenge_bond,
        challenge_window=sched.challenge_window,
        replay_micros=sched.replay_micros,
        move_window=sched.move_window,
        k=a.k,
        one_step=one.address,
    )
    if a.quorum_stake is None:
        gc, quorum = GameClient.deploy(chain, **registry, sender=sender), None
    else:
        from .quorum_deploy import deploy_quorum

        gc, quorum = deploy_quorum(a, chain, registry, sender)
    models = {}
    for name, lm in lms.items():
        mc = model_commitment(lm)
        gc.register_model(mc, uri=f"openbrains:{name}", sender=sender)
        models[name] = "0x" + mc.model_root.hex()
    out = {
        "chain_id": chain.chain_id,
        "rpc_url": storable_url(url),  # a loopback URL only: a provider's URL carries its API key
        "one_step": one.address,
        "registry": gc.address,
        "game": gc.game_contract.address,
        "deployer": sender.address,
        "claim_bond_wei": sched.claim_bond,
        "challenge_bond_wei": sched.challenge_bond,
        "challenge_window_s": sched.challenge_window,
        "replay_micros": sched.replay_micros,
        "move_window_s": sched.move_window,
        "k": a.k,
        "deploy_block": first_block,
        "models": models,
        **({"quorum": quorum} if quorum else {}),
    }
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(a.out).with_suffix(".tmp")
    tmp.write_text(json.dumps(out, indent=2) + "\n")
    tmp.replace(a.out)
    if a.json:
        print(json.dumps({**out, "deployment_file": str(a.out)}, indent=2))
    console().print(
        f"[green]deployed[/green] registry {gc.address}, game {gc.game_contract.address}, "
        f"one-step {one.address} on chain {chain.chain_id} -> {a.out}"
    )
    return EXIT_OK


def timing_name(model: str) -> str:
    """The name prover.dispute.timing knows a model by ('tiny', 'smollm2', or the file's stem)."""
    from pathlib import Path

    return Path(model).stem if model.endswith(".gguf") else model


def cmd_submit(a) -> int:
    """Post a receipt's claim with a bond; write the chain fields into the receipt; optionally defend it."""
    import json
    from pathlib import Path

    from prover.dispute.lies import Lie
    from prover.receipt import ChainInfo, Receipt

    r = Receipt.load(a.receipt)
    gc = game_client(a)
    op = Path(a.receipt).parent / "operator.json"  # a dishonest run's notes: what it lied about
    lie = Lie.from_json(json.loads(op.read_text()) if op.exists() else None)
    from .models import receipt_model

    lm = load_model(lie.computed_with or receipt_model(r), r.model.context, a.quiet)
    agent = make_agent(a, gc, lm, lie)
    bond = gc.claim_bond
    try:
        cid = agent.submit(r)
    except ValueError as e:
        raise UsageError(str(e)) from None
    info = ChainInfo(chain_id=gc.chain.chain_id, registry=gc.address, claim_id=cid, tx_hash="", bond_wei=bond)
    r.model_copy(update={"chain": info}).save(a.receipt)
    console().print(f"[green]claim {cid}[/green] posted to {gc.address} (bond {bond / 1e18} ETH); receipt updated")
    if a.serve:
        status = agent.defend(cid, poll=a.poll)
        console().print(f"claim {cid}: {status.name}")
    return EXIT_OK


def cmd_defend(a) -> int:
    gc = game_client(a)
    lm = load_model(a.model, None, a.quiet)
    status = make_agent(a, gc, lm).defend(a.claim_id, poll=a.poll, max_polls=a.max_polls)
    console().print(f"claim {a.claim_id}: {status.name}")
    return EXIT_OK


def watch_models(a, gc) -> dict[str, str]:
    """{model root: model id} of the --model options (each loaded once here to learn its root)."""
    from prover.commit.model import model_commitment

    out = {}
    for name in a.model or ["smollm2"]:
        out["0x" + model_commitment(load_model(name, None, True)).model_root.hex()] = name
    return out


def make_watcher(a, gc, *, only=None, inline=False):

    from prover.dispute.watcher import Watcher

    sender = signer(a, gc.chain)
    return Watcher(
        gc,
        watch_models(a, gc),
        sender,
        watch_state_dir(a, gc),
        from_block=getattr(gc, "first_block", 0),
        budget=getattr(a, "budget", None),
        max_bond=getattr(a, "max_bond", None),
        replay_workers=getattr(a, "replay_workers", 1),
        inline=inline,
        only=only,
        log=event_printer(getattr(a, "json", False)),
    )


def watch_state_dir(a, gc):
    from pathlib import Path

    return Path(a.state_dir) if getattr(a, "state_dir", None) else Path(".obrain") / "watch" / gc.address


def event_printer(as_json: bool):
    """One line per watcher event: a JSON object (--json, on stdout) or a readable line on stderr."""
    import json
    import sys
    import time

    con = console()

    def emit(ev: dict) -> None:
        ev = {"time": round(time.time(), 3), **ev}
        if as_json:
            sys.stdout.write(json.dumps(ev) + "\n")
            sys.stdout.flush()
        else:
            rest = " ".join(f"{k}={v}" for k, v in ev.items() if k not in ("time", "event"))
            style = "red" if ev["event"] in ("error", "missed", "cannot_afford") else "dim"
            con.print(f"[{style}]{ev['event']}[/{style}] {rest}")

    return emit


def cmd_watch(a) -> int:
    import time

    gc = game_client(a)
    w = make_watcher(a, gc)
    try:
        n = 0
        while a.max_polls is None or n < a.max_polls:
            w.tick()
            n += 1
            time.sleep(a.poll)
    finally:
        w.close()
    return EXIT_OK


def cmd_claims(a) -> int:
    import json

    from rich.table import Table

    from prover.dispute.watcher import read_flags

    gc = game_client(a)
    flags = read_flags(a.watch_state) if a.watch_state else {}
    rows = []
    head = gc.chain.block_number()
    lo = getattr(gc, "first_block", 0)
    while lo <= head:
        hi = min(head, lo + 1999)
        for e in gc.events("ClaimPosted", from_block=lo, to_block=hi):
            cid = int(e.args["claimId"])
            c = gc.claim(cid)
            games = len(gc.events("GameOpened", from_block=e.block, claimId=cid))
            rows.append(
                {
                    "id": cid,
                    "operator": c.operator,
                    "status": c.status.name,
                    "steps": c.step_count,
                    "trace_root": "0x" + c.trace_root.hex(),
                    "window_end": c.window_end,
                    "games": games,
                    "flag": flags.get(cid, ""),
                }
            )
        lo = hi + 1
    if a.json:
        print(json.dumps({"registry": gc.address, "claims": rows}, indent=2))
        return EXIT_OK
    t = Table(title=f"claims on {gc.address}")
    for col in ("id", "operator", "status", "steps", "trace root", "window end", "games", "flag"):
        t.add_column(col)
    for r in rows:
        t.add_row(
            str(r["id"]),
            r["operator"][:10] + "..",
            r["status"],
            str(r["steps"]),
            r["trace_root"][:14] + "..",
            str(r["window_end"]),
            str(r["games"]),
            r["flag"],
        )
    console().print(t)
    return EXIT_OK


def cmd_withdraw(a) -> int:
    """Withdraw this key's credit (bonds won or returned) from the registry."""
    import json

    gc = game_client(a)
    who = signer(a, gc.chain)
    amount = gc.credit(who.address)
    tx = gc.withdraw(sender=who).receipt["transactionHash"].to_0x_hex() if amount else None
    if a.json:
        print(json.dumps({"address": who.address, "withdrawn_wei": amount, "tx": tx}))
    console().print(
        f"{who.address}: withdrew {amount / 1e18} ETH" if amount else f"{who.address}: no credit to withdraw"
    )
    return EXIT_OK


def add_parsers(sub) -> None:
    n = sub.add_parser(
        "node",
        help="start a local testnet (anvil) and keep it running",
        description="Start anvil from node_modules (or PATH); prints its URL; Ctrl-C stops it.",
    )
    n.add_argument(
        "--port", type=ranged(0, 65535, "a port"), default=8545, help="port (default 8545; 0 picks a free one)"
    )
    n.add_argument("--block-time", type=float, default=None, help="seconds per block (default: automine)")
    n.set_defaults(func=cmd_node)

    dp = sub.add_parser(
        "deploy",
        help="deploy the contracts and write a deployment JSON",
        description="Deploy OneStep and the ClaimRegistry (which deploys its DisputeGame) to any "
        "EVM chain (anvil by default), optionally register models, and write a deployment JSON.",
    )
    key_args(dp, rpc_help="JSON-RPC URL (default: $ETH_RPC_URL, else http://127.0.0.1:8545)")
    dp.add_argument("--out", default="deployment.json", help="where to write the deployment JSON")
    dp.add_argument("--json", action="store_true", help="print the deployment as one JSON object on stdout")
    dp.add_argument(
        "--claim-bond",
        type=wei,
        default=None,
        metavar="ETH",
        help="every claim's bond (default: 2 x the challenge bond; half of a slashed one is burned)",
    )
    dp.add_argument(
        "--challenge-bond",
        type=wei,
        default=None,
        metavar="ETH",
        help="every challenge's bond (default and floor: an honest side's worst-case game gas at --max-gas-price-gwei)",
    )
    dp.add_argument(
        "--max-gas-price-gwei",
        type=positive,
        default=50,
        metavar="G",
        help="the gas price the bonds must cover (default 50)",
    )
    dp.add_argument(
        "--challenge-window",
        type=positive,
        default=300,
        metavar="S",
        help="seconds a claim stays open after the verification queue reaches it (default 300)",
    )
    dp.add_argument(
        "--replay-micros",
        type=positive,
        default=None,
        metavar="US",
        help="verification queue rate, microseconds a position (default and floor: the slowest "
        "registered model's worst-case replay on a 2-core machine)",
    )
    dp.add_argument(
        "--move-window",
        type=positive,
        default=None,
        metavar="S",
        help="seconds per move (default and floor: an honest move's worst case for these models)",
    )
    dp.add_argument(
        "--unsafe-windows",
        action="store_true",
        help="deploy even if the bonds or windows are below the floors (throwaway dev chains only)",
    )
    dp.add_argument("--k", type=int, choices=(2, 4, 8, 16), default=2, help="dissection arity (default 2)")
    from .quorum_deploy import quorum_deploy_args

    quorum_deploy_args(dp)
    dp.add_argument("--model", action="append", help="register this model (repeatable): tiny, smollm2, a path")
    dp.add_argument("-q", "--quiet", action="store_true")
    dp.set_defaults(func=cmd_deploy)

    sb = sub.add_parser("submit", help="post a receipt's claim with a bond (and optionally defend it)")
    sb.add_argument("receipt")
    sb.add_argument("--serve", action="store_true", help="stay and defend the claim until it is final")
    chain_args(sb)
    sb.set_defaults(func=cmd_submit)

    df = sub.add_parser("defend", help="answer every dispute game on one of your claims until it is final")
    df.add_argument("claim_id", type=int)
    df.add_argument("--model", default="smollm2")
    chain_args(df)
    df.set_defaults(func=cmd_defend)

    w = sub.add_parser("watch", help="honest challenger: replay every claim, dispute the wrong ones")
    w.add_argument("--model", action="append", help="watch claims on this model (repeatable; default smollm2)")
    w.add_argument(
        "--state-dir",
        default=None,
        metavar="DIR",
        help="where the watcher keeps its state and replays (default .obrain/watch/REGISTRY)",
    )
    w.add_argument(
        "--budget",
        type=wei,
        default=None,
        metavar="ETH",
        help="most ETH locked in challenge bonds at once (default: the balance)",
    )
    w.add_argument(
        "--max-bond",
        type=wei,
        default=None,
        metavar="ETH",
        help="refuse to challenge on a registry whose challenge bond is higher",
    )
    w.add_argument("--replay-workers", type=positive, default=1, metavar="N", help="replay processes (default 1)")
    w.add_argument("--json", action="store_true", help="one JSON object per event line on stdout")
    w.add_argument(
        "--from-block",
        type=nonneg,
        default=None,
        metavar="B",
        help="scan claims from block B (default: the deployment file's deploy_block); later polls read only new blocks",
    )
    chain_args(w)
    w.set_defaults(func=cmd_watch)

    cl = sub.add_parser("claims", help="list claims and their status")
    cl.add_argument("--json", action="store_true", help="print the claims as JSON")
    cl.add_argument("--watch-state", default=None, metavar="DIR", help="show the flags of a watcher's state dir")
    chain_args(cl)
    cl.set_defaults(func=cmd_claims)

    wd = sub.add_parser("withdraw", help="withdraw your credit (bonds won or returned) from the registry")
    wd.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    chain_args(wd)
    wd.set_defaults(func=cmd_withdraw)
