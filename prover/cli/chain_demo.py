"""The on-chain half of the demo: anvil, deploy, an honest and a dishonest claim, a watcher that catches the
liar through bisection and the one-step, bonds paid out, ledger checked."""

from __future__ import annotations

import tempfile
import time

from rich.table import Table


def run_chain_demo(
    lm, model_id: str, receipt, bad_receipt, corrupt, out_receipt=None, out_lie=None, log=print
) -> tuple[Table, bool]:
    """An honest claim, a claim with a corrupted step (``corrupt``) and optionally one whose claimed output
    differs from its honest trace (``out_lie``, a prover.dispute.lies.Lie): the watcher must slash exactly the liars.
    Beside the dispute, three BLS attesters (docs/quorum.md) sign what the watcher's replays found right, and their
    certificate finalizes the honest claim at once, long before its window closes."""
    from prover.chain.client import Chain
    from prover.chain.node import start_anvil
    from prover.chain.solc import compile_contracts
    from prover.dispute.agent import Agent
    from prover.dispute.protocol import ClaimStatus, Reason, ceil_log2
    from prover.dispute.watcher import Watcher
    from prover.quorum.client import deploy_with_quorum

    BOND, WINDOW, MOVE = 10**17, 3600, 600
    t = Table(title="on chain (anvil)")
    for c in ("step", "result", "detail"):
        t.add_column(c)
    ok = True

    def row(name, good, detail):
        nonlocal ok
        ok &= good
        t.add_row(name, "[green]ok" if good else "[red]FAILED", detail)

    t0 = time.perf_counter()
    with start_anvil() as node:
        chain = Chain(node.url, compile_contracts())
        from prover.chain.deploy import deploy_one_step

        one = deploy_one_step(chain)
        reg = dict(
            claim_bond=BOND,
            challenge_bond=BOND,
            challenge_window=WINDOW,
            replay_micros=1,
            move_window=MOVE,
            k=2,
            one_step=one.address,
        )
        gc, qc = deploy_with_quorum(
            chain, registry=reg, stake=BOND, threshold_bps=6667, withdrawal_delay=2 * WINDOW, slash_tail=100 * MOVE
        )
        row("deploy", True, f"OneStep + ClaimRegistry/DisputeGame + Quorum on {node.url} ({gc.deploy_gas:,} gas)")
        operator, liar = Agent(gc, lm, 1), Agent(gc, lm, 2, corrupt=corrupt)
        watcher = Watcher.in_process(gc, lm, 3)
        attesters = quorum_of(qc, watcher, tempfile.mkdtemp(prefix="obrain-attest-"))
        ok_cid = operator.submit(receipt, BOND)
        bad_cid = liar.submit(bad_receipt, BOND)
        liar2 = Agent(gc, lm, 4, lie=out_lie) if out_receipt is not None else None
        out_cid = liar2.submit(out_receipt, BOND) if liar2 else None
        row(
            "submit",
            True,
            f"honest claim {ok_cid}, wrong-step claim {bad_cid}"
            + (f", wrong-answer claim {out_cid}" if liar2 else "")
            + ", bond 0.1 ETH each",
        )
        t1 = time.perf_counter()
        txs, rounds, gas = 0, 0, []
        chain_gas0 = chain.w3.eth.block_number
        quiet = 0
        fast = None
        while quiet < 3 or not watcher.idle():
            n = watcher.tick() + liar.defend_once(bad_cid) + operator.defend_once(ok_cid, finalize=False)
            if liar2:
                n += liar2.defend_once(out_cid)
            if fast is None and sum(a.sign_right() for a in attesters):
                fast = certify_now(qc, attesters, ok_cid, t1)
            txs += n
            quiet = quiet + 1 if n == 0 else 0
        attested = fast is not None and fast["status"] == ClaimStatus.ATTESTED
        signed = sorted({int(p.name.split("-")[1]) for p in attesters[0].out_dir.glob("claim-*.json")})
        row(
            "fast finality",
            attested and signed == [ok_cid],
            f"3 BLS attesters replayed every claim and signed only claim {', '.join(map(str, signed))}; their "
            f"certificate made claim "
            f"{ok_cid} final {fast['seconds'] if fast else '?'}s after posting, {fast['left'] if fast else '?'}s "
            f"before its window closes ({fast['gas'] if fast else '?':,} gas, one pairing); slashable until then",
        )
        for b in range(chain_gas0 + 1, chain.w3.eth.block_number + 1):
            for h in chain.w3.eth.get_block(b)["transactions"]:
                gas.append(int(chain.w3.eth.get_transaction_receipt(h)["gasUsed"]))
        games = watcher.games_on(bad_cid)
        slashed = gc.claim(bad_cid).status == ClaimStatus.SLASHED
        rounds = bound = "?"
        if games:
            g1 = gc.game(games[0])
            rounds = len(gc.events("Picked", gameId=games[0])) + 2  # picks + (open, dispute) + (leaf, one-step)
            bound = ceil_log2(g1.step_count) + ceil_log2(max(g1.out_leaves, 1)) + 2
        row(
            "dispute",
            slashed,
            f"watcher challenged the wrong claims only; claim {bad_cid}: {len(games)} game "
            f"narrowed to step {gc.game(games[0]).step if games else '?'}, one leaf, recomputed on chain in "
            f"{rounds} rounds (bound {bound}); {txs} transactions in all, max {max(gas):,} gas per tx, "
            f"{sum(gas):,} gas, {time.perf_counter() - t1:.1f}s; liar slashed",
        )
        if liar2:
            g2 = watcher.games_on(out_cid)
            ev = gc.events("GameResolved", gameId=g2[0]) if g2 else []
            why = Reason(ev[0].args["reason"]).name if ev else "?"
            slashed2 = gc.claim(out_cid).status == ClaimStatus.SLASHED and why == "WRONG_OUTPUT_TOKEN"
            row(
                "wrong answer",
                slashed2,
                f"claim {out_cid} committed the honest trace but claimed another token: "
                f"{len(g2)} game, settled by a proof of the wrong output token ({why}); liar slashed",
            )
        disputed = {e.args["claimId"] for e in gc.events("GameOpened")}
        row("no false alarm", ok_cid not in disputed, f"nobody challenged the honest claim {ok_cid}")
        chain.set_next_timestamp(gc.claim(ok_cid).window_end)
        chain.mine()
        operator.defend_once(ok_cid)
        final = gc.claim(ok_cid).status == ClaimStatus.FINAL
        row("finalize", final, f"honest claim {ok_cid} final after the challenge window")
        n_liars = 2 if liar2 else 1
        won = sum(int(e.args["amount"]) for e in gc.events("Withdrawn", who=watcher.address))
        paid = (won, operator.withdraw(), liar.withdraw() + (liar2.withdraw() if liar2 else 0))
        ledger = gc.ledger()
        burned = gc.credit("0x" + "00" * 20)
        row(
            "payouts",
            paid == (n_liars * (BOND + BOND // 2), BOND, 0) and ledger == (burned, 0, burned),
            f"watcher {paid[0] / 1e18:.2f} ETH (its bonds + half the liars'), operator {paid[1] / 1e18:.1f} (its bond "
            f"back), liars {paid[2] / 1e18:.1f}; {burned / 1e18:.2f} ETH burned (the other halves)",
        )
    row("on-chain total", ok, f"{time.perf_counter() - t0:.1f}s")
    return t, ok


def quorum_of(qc, watcher, out_dir: str, owners=(5, 6, 7)) -> list:
    """Three attesters registered with the Quorum, signing through the demo's watcher's replays."""
    from prover.quorum.attester import Attester
    from prover.quorum.client import AttesterKey

    out = []
    for i, owner in enumerate(owners):
        key = AttesterKey(f"demo attester {i}".encode())
        qc.register(key, sender=owner)
        out.append(Attester(watcher, qc, key, out_dir))
    return out


def certify_now(qc, attesters, claim_id: int, t_posted: float) -> dict | None:
    """Aggregate the attesters' signature files for the claim and certify it: status, gas, timing."""
    from prover.quorum.attester import collect

    cert, _ = collect(qc, claim_id, [attesters[0].out_dir])
    if cert is None or qc.verify_certificate(cert) is not None:
        return None
    r = qc.certify(cert, sender=8)
    c = qc.gc.claim(claim_id)
    left = c.window_end - qc.chain.timestamp()
    return {"status": c.status, "gas": r.gas, "seconds": round(time.perf_counter() - t_posted, 1), "left": left}


def play_dispute(gc, lm, prompt, settings, corrupt, *, operator=1, challenger=3, bond=10**17) -> dict:
    """Post a claim made with ``corrupt`` (None: honest) by ``operator``; a watcher replays and, if the claim is
    wrong, challenges and plays to the end. Returns who won, rounds (= picks + 2), the bound
    ceil(log2 steps) + ceil(log2 leaves) + 2 of the disputed step, and every transaction's (function, gas)."""
    import math

    from prover.dispute.agent import Agent
    from prover.dispute.protocol import ClaimStatus
    from prover.dispute.watcher import Watcher
    from prover.runner import make_receipt, traced_generate

    chain = gc.chain
    run = traced_generate(lm, list(prompt), settings, corrupt=corrupt)
    receipt = make_receipt(lm, "bench", None, False, list(prompt), run)
    op = Agent(gc, lm, operator, corrupt=corrupt)
    watcher = Watcher.in_process(gc, lm, challenger, from_block=chain.block_number())
    b0 = chain.w3.eth.block_number
    cid = op.submit(receipt)
    quiet = 0
    while quiet < 3 or not watcher.idle():
        quiet = quiet + 1 if watcher.tick() + op.defend_once(cid, finalize=False) == 0 else 0
    txs = []
    for b in range(b0 + 1, chain.w3.eth.block_number + 1):
        for h in chain.w3.eth.get_block(b)["transactions"]:
            tx = chain.w3.eth.get_transaction(h)
            name = "?"
            for c in (gc.game_contract, gc.registry):
                try:
                    name = c.get_function_by_selector(tx["input"][:4]).fn_name
                    break
                except Exception:
                    continue
            txs.append((name, int(chain.w3.eth.get_transaction_receipt(h)["gasUsed"])))
    games = watcher.games_on(cid)
    status = gc.claim(cid).status
    out = {
        "claim": cid,
        "status": status.name,
        "games": len(games),
        "txs": txs,
        "honest_won": (status == ClaimStatus.SLASHED) if corrupt is not None else not games,
    }
    if games:
        g = gc.game(games[-1])
        picks = sum(1 for n, _ in txs if n == "pick")
        steps = run.tracer.step_count
        n_leaves = 1
        if corrupt is not None:
            from prover.runner import Replayer

            _, _, y = Replayer(lm, run).step(corrupt.step)
            size = y.size if hasattr(y, "size") else 1
            n_leaves = max(1, -(-size * 4 // 256))
        out.update(
            rounds=picks + 2,
            bound=math.ceil(math.log2(max(steps, 1))) + math.ceil(math.log2(n_leaves)) + 2,
            game=games[-1],
            result=g.result.name if hasattr(g, "result") else "",
        )
    return out
