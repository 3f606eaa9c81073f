"""The on-chain half of the demo: anvil, deploy, an honest and a dishonest claim, a watcher that catches the
liar through bisection and the one-step, bonds paid out, ledger checked."""
from __future__ import annotations

import time

from rich.table import Table


def run_chain_demo(lm, model_id: str, receipt, bad_receipt, corrupt, log=print) -> tuple[Table, bool]:
    from prover.agent import Agent
    from prover.chain.client import Chain
    from prover.chain.game import ClaimStatus, GameClient
    from prover.chain.node import start_anvil
    from prover.chain.solc import compile_contracts

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
        one = chain.deploy("OneStep")
        gc = GameClient.deploy(chain, min_bond=BOND, challenge_window=WINDOW, move_window=MOVE, k=2,
                               one_step=one.address)
        row("deploy", True, f"OneStep + ClaimRegistry/DisputeGame on {node.url} ({gc.deploy_gas:,} gas)")
        operator, liar, watcher = Agent(gc, lm, 1), Agent(gc, lm, 2, corrupt=corrupt), Agent(gc, lm, 3)
        ok_cid = operator.submit(receipt, BOND)
        bad_cid = liar.submit(bad_receipt, BOND)
        row("submit", True, f"honest claim {ok_cid} and dishonest claim {bad_cid}, bond 0.1 ETH each")
        t1 = time.perf_counter()
        txs, rounds, gas = 0, 0, []
        chain_gas0 = chain.w3.eth.block_number
        while True:
            n = watcher.watch_once() + liar.defend_once(bad_cid) + operator.defend_once(ok_cid, finalize=False)
            txs += n
            if n == 0:
                break
        for b in range(chain_gas0 + 1, chain.w3.eth.block_number + 1):
            for h in chain.w3.eth.get_block(b)["transactions"]:
                gas.append(int(chain.w3.eth.get_transaction_receipt(h)["gasUsed"]))
        games = watcher._games_of(bad_cid)
        slashed = gc.claim(bad_cid).status == ClaimStatus.SLASHED
        row("dispute", slashed, f"watcher challenged claim {bad_cid} only; {len(games)} game, {txs} transactions, "
            f"max {max(gas):,} gas per tx, {sum(gas):,} gas in all, {time.perf_counter() - t1:.1f}s; liar slashed")
        chain.increase_time(WINDOW + 1)
        operator.defend_once(ok_cid)
        final = gc.claim(ok_cid).status == ClaimStatus.FINAL
        row("finalize", final, f"honest claim {ok_cid} final after the challenge window")
        paid = (watcher.withdraw(), operator.withdraw(), liar.withdraw())
        ledger = gc.ledger()
        row("payouts", paid == (2 * BOND, BOND, 0) and ledger == (0, 0, 0),
            f"watcher {paid[0] / 1e18:.1f} ETH (its bond + the liar's), operator {paid[1] / 1e18:.1f} (its bond back), "
            f"liar {paid[2] / 1e18:.1f}; registry holds {ledger[0] / 1e18:.1f} ETH")
    row("on-chain total", ok, f"{time.perf_counter() - t0:.1f}s")
    return t, ok
