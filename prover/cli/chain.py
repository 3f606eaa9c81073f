"""`obrain node | deploy | submit | defend | watch | claims`: the chain side."""

from __future__ import annotations

from .common import (
    EXIT_OK,
    UsageError,
    chain_args,
    console,
    game_client,
    load_model,
    make_agent,
    nonneg,
    open_chain,
    positive,
    wei,
)
from .keys import key_args, rpc_url, signer, storable_url


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
    """Deploy OneStep and the ClaimRegistry (with its DisputeGame), register models, write a deployment JSON."""
    import json
    from pathlib import Path

    from prover.chain.registry import GameClient
    from prover.commit.model import model_commitment

    url = rpc_url(a)
    chain = open_chain(a, url)
    sender = signer(a, chain)
    first_block = int(chain.w3.eth.block_number) + 1  # no event of these contracts can be older
    from prover.chain.deploy import deploy_one_step

    one = deploy_one_step(chain, sender=sender)
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
        "rpc_url": storable_url(url),  # a loopback URL only: a provider's URL carries its API key
        "one_step": one.address,
        "registry": gc.address,
        "game": gc.game_contract.address,
        "deployer": sender.address,
        "min_bond_wei": a.min_bond,
        "challenge_window_s": a.challenge_window,
        "move_window_s": a.move_window,
        "k": a.k,
        "deploy_block": first_block,
        "models": models,
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
    lm = load_model(lie.computed_with or r.model.id, r.model.context, a.quiet)
    agent = make_agent(a, gc, lm, lie)
    bond = a.bond if a.bond is not None else gc.min_bond
    try:
        cid = agent.submit(r, bond)
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


def cmd_watch(a) -> int:
    gc = game_client(a)
    lm = load_model(a.model, None, a.quiet)
    make_agent(a, gc, lm).watch(bond=a.bond or 0, poll=a.poll, max_polls=a.max_polls)
    return EXIT_OK


def claims_table(gc) -> list[dict]:
    """Every claim on the registry (from its deployment block) with its status and number of games."""
    games: dict[int, int] = {}
    for e in gc.events("GameOpened"):
        games[e.args["claimId"]] = games.get(e.args["claimId"], 0) + 1
    rows = []
    for e in gc.events("ClaimPosted"):
        cid = e.args["claimId"]
        c = gc.claim(cid)
        rows.append(
            {
                "id": cid,
                "operator": c.operator,
                "status": c.status.name,
                "model_root": "0x" + c.model_root.hex(),
                "trace_root": "0x" + c.trace_root.hex(),
                "step_count": c.step_count,
                "bond_wei": c.bond,
                "posted_at": c.posted_at,
                "games": games.get(cid, 0),
                "block": e.block,
            }
        )
    return rows


def cmd_claims(a) -> int:
    import json

    from rich.table import Table

    gc = game_client(a)
    rows = claims_table(gc)
    if a.json:
        print(json.dumps({"chain_id": gc.chain.chain_id, "registry": gc.address, "claims": rows}, indent=2))
        return EXIT_OK
    t = Table(title=f"claims on {gc.address}")
    for c in ("id", "operator", "status", "steps", "trace root", "games"):
        t.add_column(c)
    for r in rows:
        t.add_row(
            str(r["id"]),
            r["operator"][:10] + "..",
            r["status"],
            str(r["step_count"]),
            r["trace_root"][:14] + "..",
            str(r["games"]),
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
    n.add_argument("--port", type=int, default=8545, help="port (default 8545; 0 picks a free one)")
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
    dp.add_argument("--min-bond", type=wei, default=10**17, metavar="ETH", help="minimum bond (default 0.1)")
    dp.add_argument("--challenge-window", type=positive, default=3600, metavar="S", help="seconds (default 3600)")
    dp.add_argument("--move-window", type=positive, default=600, metavar="S", help="seconds per move (default 600)")
    dp.add_argument("--k", type=int, choices=(2, 4, 8, 16), default=2, help="dissection arity (default 2)")
    dp.add_argument("--model", action="append", help="register this model (repeatable): tiny, smollm2, a path")
    dp.add_argument("-q", "--quiet", action="store_true")
    dp.set_defaults(func=cmd_deploy)

    sb = sub.add_parser("submit", help="post a receipt's claim with a bond (and optionally defend it)")
    sb.add_argument("receipt")
    sb.add_argument("--bond", type=wei, default=None, metavar="ETH", help="bond (default: the registry minimum)")
    sb.add_argument("--serve", action="store_true", help="stay and defend the claim until it is final")
    chain_args(sb)
    sb.set_defaults(func=cmd_submit)

    df = sub.add_parser("defend", help="answer every dispute game on one of your claims until it is final")
    df.add_argument("claim_id", type=int)
    df.add_argument("--model", default="smollm2")
    chain_args(df)
    df.set_defaults(func=cmd_defend)

    w = sub.add_parser("watch", help="honest challenger: replay every claim, dispute the wrong ones")
    w.add_argument("--model", default="smollm2")
    w.add_argument("--bond", type=wei, default=None, metavar="ETH", help="challenge bond (default: the claim's)")
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
    cl.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    chain_args(cl)
    cl.set_defaults(func=cmd_claims)

    wd = sub.add_parser("withdraw", help="withdraw your credit (bonds won or returned) from the registry")
    wd.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    chain_args(wd)
    wd.set_defaults(func=cmd_withdraw)
