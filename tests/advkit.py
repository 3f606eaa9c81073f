"""Adversarial scenarios against a real watcher process on a real anvil (tests/test_adversarial.py and
scripts/bench_adversarial.py): the attacker's side of docs/dispute.md, "The adversary".

A scenario deploys a fresh registry (tiny model), starts `obrain watch --json` as its own process (through a
flaky JSON-RPC proxy when asked), and plays an adversary: honest claims (some very long: replay spam), lies of
every kind (a changed step element, the maximal-gas step, a wrong output token), bait the registry must refuse
(an early stop, a whale bond), defenders that answer at the last second of every window or never, a second
identity of the liar racing the watcher, the watcher SIGKILLed mid-game and restarted. Chain time only moves
when the watcher owes nothing (its state file says idle and no game waits for it), so a lost move is the
watcher's own fault. The outcome: every lie slashed, every honest claim final, the watcher's balance at least its
start minus its gas, no stall (a missed window or a game lost by timeout), the worst move latency.
"""

from __future__ import annotations

import contextlib
import json
import random
import signal
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.request import Request, urlopen

from engine.generate import GenSettings
from prover.chain import Chain
from prover.chain.deploy import deploy_one_step
from prover.chain.registry import GameClient, Refused
from prover.commit.model import model_commitment
from prover.commit.trace import Corruption
from prover.dispute.agent import Agent
from prover.dispute.lies import Lie
from prover.dispute.party import EngineParty
from prover.dispute.player import HonestPlayer
from prover.dispute.protocol import ClaimStatus, Phase, Reason, Result, pack_tokens
from prover.runner import make_receipt, traced_generate

ROOT = Path(__file__).resolve().parents[1]
BOND = 10**16
WINDOW, MOVE = 300, 300  # seconds of chain time (warped while the watcher is idle): base window, move window
OP, LIAR, SYBIL, WATCHER = 1, 2, 4, 3  # anvil dev accounts
LIE_KINDS = ("step", "maxgas", "output")


@dataclass
class Scenario:
    seed: int
    honest: int = 1  # honest claims
    lies: tuple = ("step",)  # one lie per entry: "step" | "maxgas" | "output"
    spam: int = 0  # long honest claims posted first (replay spam)
    defender: str = "normal"  # how liars defend: "normal" | "last_second" | "stall"
    sybil: str = ""  # the liar's second identity challenges its own lie: "" | "win" | "stall"
    flaky: float = 0.0  # share of the watcher's RPC requests the proxy fails
    kill: bool = False  # SIGKILL the watcher after its first move, then start it again
    bait: bool = True  # try an early-stop claim and a whale bond (both must be refused)

    @classmethod
    def random(cls, seed: int) -> Scenario:
        r = random.Random(seed)
        return cls(
            seed=seed,
            honest=r.randint(0, 2),
            lies=tuple(r.choice(LIE_KINDS) for _ in range(r.randint(1, 3))),
            spam=r.choice([0, 0, 1, 3]),
            defender=r.choice(["normal", "last_second", "stall"]),
            sybil=r.choice(["", "", "win", "stall"]),
            flaky=r.choice([0.0, 0.0, 0.15]),
            kill=r.random() < 0.25,
        )


@dataclass
class Outcome:
    scenario: dict
    lies: int = 0
    lies_finalized: int = 0
    honest: int = 0
    honest_slashed: int = 0
    honest_final: int = 0
    refused_posts: int = 0
    watcher_stalls: int = 0
    watcher_errors: int = 0
    worst_move_latency_s: int = 0
    move_window_s: int = MOVE
    watcher_gas_wei: int = 0
    watcher_balance_change_wei: int = 0
    seconds: float = 0.0
    problems: list = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


class FlakyProxy:
    """A JSON-RPC proxy in front of anvil that fails a share of requests (HTTP 502), seeded."""

    def __init__(self, target: str, fail: float, seed: int):
        rng, lock = random.Random(seed), threading.Lock()

        class H(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with lock:
                    drop = rng.random() < fail
                if drop:
                    self.send_response(502)
                    self.end_headers()
                    return
                req = Request(target, body, {"Content-Type": "application/json"})
                with urlopen(req, timeout=60) as r:
                    data = r.read()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *a):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()


class WatcherProcess:
    """`obrain watch --json` as its own process; its event lines collected by a reader thread."""

    def __init__(self, deployment: Path, state: Path, rpc_url: str):
        self.args = [
            sys.executable,
            "-m",
            "prover.cli",
            "watch",
            "--model",
            "tiny",
            "--deployment",
            str(deployment),
            "--rpc-url",
            rpc_url,
            "--dev-account",
            str(WATCHER),
            "--state-dir",
            str(state),
            "--poll",
            "0.1",
            "--json",
        ]
        self.state = state
        self.events: list[dict] = []
        self.proc = None
        self.start()

    def start(self) -> None:
        self.state.mkdir(parents=True, exist_ok=True)
        with open(self.state / "stderr.log", "a") as err:  # the child holds its own descriptor
            self.proc = subprocess.Popen(self.args, cwd=ROOT, stdout=subprocess.PIPE, stderr=err, text=True)
        threading.Thread(target=self._read, args=(self.proc,), daemon=True).start()

    def _read(self, proc) -> None:
        for line in proc.stdout:
            with contextlib.suppress(ValueError):
                self.events.append(json.loads(line))

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()

    def liveness(self) -> str:
        code = self.proc.poll()
        return "running" if code is None else f"exited {code}"

    def status(self) -> dict:
        try:
            return json.loads((self.state / "state.json").read_text())
        except (OSError, ValueError):
            return {}


def _deploy(chain: Chain, lm) -> GameClient:
    one = deploy_one_step(chain)
    gc = GameClient.deploy(
        chain,
        claim_bond=BOND,
        challenge_bond=BOND,
        challenge_window=WINDOW,
        replay_micros=10_000,
        move_window=MOVE,
        k=2,
        one_step=one.address,
    )
    return gc


def _lie(lm, kind: str, rng: random.Random, prompt, settings) -> tuple[Lie, object]:
    """(a lie, the run it is committed over) of the given kind for (prompt, settings)."""
    honest = traced_generate(lm, prompt, settings)
    S = lm.program.steps_per_token
    steps = honest.tracer.step_count
    if kind == "output":
        j = rng.randrange(len(honest.result.tokens))
        tok = (honest.result.tokens[j] + 1 + rng.randrange(50)) % lm.config.vocab_size
        if tok in lm.stop_ids:
            tok = (tok + 1) % lm.config.vocab_size
        return Lie(output=(j, tok)), honest
    if kind == "maxgas":  # the logits of the last position: the widest linear, whose one-step costs most
        step = steps - S + lm.program.index["logits"]
    else:
        step = rng.randrange(steps - 1)
    corr = Corruption.at(lm.program, step, 1 + rng.randrange(5))
    return Lie(corruption=corr), traced_generate(lm, prompt, settings, corrupt=corr)


def run_scenario(sc: Scenario, node_url: str, artifacts: dict, lm, workdir: Path, deadline_s: float = 300) -> Outcome:
    t0 = time.monotonic()
    rng = random.Random(sc.seed)
    out = Outcome(scenario=asdict(sc))
    chain = Chain(node_url, artifacts)
    gc = _deploy(chain, lm)
    first_block = chain.block_number() + 1
    dep = workdir / "deployment.json"
    dep.write_text(
        json.dumps(
            {"chain_id": chain.chain_id, "rpc_url": node_url, "registry": gc.address, "deploy_block": first_block}
        )
    )
    op = Agent(gc, lm, OP)
    gc.register_model(model_commitment(lm), uri="engine://tiny", sender=OP)
    w_start = chain.balance(WATCHER)
    proxy = FlakyProxy(node_url, sc.flaky, sc.seed) if sc.flaky else None
    watcher = WatcherProcess(dep, workdir / "watch", proxy.url if proxy else node_url)
    try:
        claims, liars = _post_claims(sc, gc, lm, op, rng)
        if sc.bait:
            out.refused_posts += _bait(gc, lm, rng, model_commitment(lm).model_root)
        out.lies = sum(1 for v in claims.values() if v == "lie")
        out.honest = len(claims) - out.lies
        _play_out(sc, gc, chain, op, claims, liars, watcher, out, t0 + deadline_s)
    finally:
        watcher.stop()
        if proxy:
            proxy.close()
    # withdraw what the watcher is still owed (it withdraws as it goes; a last credit may be left)
    if gc.credit(WATCHER):
        gc.withdraw(sender=WATCHER)
    _judge(out, gc, chain, claims, watcher, w_start, first_block)
    out.seconds = round(time.monotonic() - t0, 1)
    return out


def _post_claims(sc: Scenario, gc, lm, op: Agent, rng) -> tuple[dict[int, str], dict[int, Agent]]:
    """Spam first, then the honest claims and the lies (each a different prompt); the liar's second identity
    challenges each lie first when the scenario says so. ({claim: "honest" | "lie"}, {lie: its liar})."""
    from prover.dispute.lies import apply_to_receipt

    settings = GenSettings(max_new_tokens=3)
    claims: dict[int, str] = {}
    liars: dict[int, Agent] = {}
    lengths = [200] * sc.spam + [rng.randint(2, 12) for _ in range(sc.honest)]
    for n in lengths:
        prompt = [rng.randrange(3, 300) for _ in range(n)]
        rc = make_receipt(lm, "tiny", None, False, prompt, traced_generate(lm, prompt, settings))
        claims[op.submit(rc)] = "honest"
    for kind in sc.lies:
        prompt = [rng.randrange(3, 300) for _ in range(rng.randint(2, 12))]
        lie, run = _lie(lm, kind, rng, prompt, settings)
        rc = apply_to_receipt(make_receipt(lm, "tiny", None, False, prompt, run), lie, lm)
        liar = Agent(gc, lm, LIAR, lie=lie)
        cid = liar.submit(rc)
        claims[cid], liars[cid] = "lie", liar
        if sc.sybil:
            gid = gc.challenge(cid, bond=BOND, sender=SYBIL).game_id
            liar.sybil = (gid, HonestPlayer(gc, EngineParty(lm, traced_generate(lm, prompt, settings)), SYBIL))
    return claims, liars


def _play_out(sc: Scenario, gc, chain, op: Agent, claims: dict, liars: dict, watcher, out: Outcome, until: float):
    """Every party acts until every claim is settled; chain time moves only while the watcher owes nothing."""
    killed = not sc.kill
    last_tick = watcher.status().get("ticks", 0)  # ticks before the claims were posted do not count
    while True:
        if time.monotonic() > until:
            tail = (watcher.state / "stderr.log").read_text().strip().splitlines()[-1:]
            out.problems.append(f"scenario timed out (watcher {watcher.liveness()}; its last stderr line: {tail})")
            return
        # the liar's last-second answers warp time too, under the same rule as _advance_time: only while the
        # watcher is idle and owes nothing, and never past another game's deadline or a claim's window end
        st = watcher.status()
        quiet = bool(st.get("idle")) and st.get("ticks", 0) > last_tick + 2 and not _watcher_owes(gc, chain)
        horizon = min(_targets(gc, chain, claims), default=None) if quiet else None
        sent = sum(_adversary_moves(sc, gc, chain, liar, cid, horizon) for cid, liar in liars.items())
        sent += sum(op.defend_once(cid) for cid, kind in claims.items() if kind == "honest")
        if sent and quiet:
            last_tick = st["ticks"]  # the watcher looks at what was sent before time may jump again
        if not killed and any(e.get("event") == "move" for e in watcher.events):
            watcher.kill()
            time.sleep(0.5)
            watcher.start()
            killed = True
        if all(gc.claim(c).status != ClaimStatus.PENDING for c in claims):
            return
        st = watcher.status()
        if sent == 0 and st.get("idle") and st.get("ticks", 0) > last_tick + 2 and not _watcher_owes(gc, chain):
            last_tick = st["ticks"]
            _advance_time(gc, chain, claims, sc.defender)
        time.sleep(0.05)


def _adversary_moves(sc: Scenario, gc, chain, liar: Agent, cid: int, horizon: int | None) -> int:
    """The liar defends its lie (as the scenario says); its second identity plays its own game to win."""
    sent = _defend(gc, chain, liar, cid, sc.defender, horizon)
    sybil = getattr(liar, "sybil", None)
    if sybil and sc.sybil == "win":
        g = gc.game(sybil[0])
        if not g.over and g.to_move == sybil[1].address:
            with contextlib.suppress(Exception):  # a refused move: it tries again next round
                sybil[1].move(sybil[0])
                sent += 1
    return sent


def _bait(gc: GameClient, lm, rng, root: bytes) -> int:
    """An early-stop claim (a true prefix of an honest run, no stop token) and a whale bond: both refused."""
    prompt = [rng.randrange(3, 300) for _ in range(4)]
    run = traced_generate(lm, prompt, GenSettings(max_new_tokens=8))
    if run.result.stopped != "length":
        return 0
    n = len(prompt)
    refused = 0
    for m, bond in ((3, BOND), (8, 100 * BOND)):
        try:
            gc.post_claim(
                root,
                prompt,
                [0, 1, 0, 8],
                run.result.tokens[:m],
                run.tracer.root(),
                (n + m - 1) * lm.program.steps_per_token,
                bond=bond,
                sender=LIAR,
            )
        except Refused as e:
            refused += e.error in ("UnfinishedOutput", "WrongBond", "BadStepCount")
    return refused


def _defend(gc, chain, liar: Agent, cid: int, how: str, horizon: int | None) -> int:
    """The liar's move in its lie's games. A last-second defender waits until time may jump to the last second
    of its window (``horizon``: the earliest thing that can happen, None while the watcher is busy or owes a
    move): a jump past another deadline would take time from the watcher that real time would have given it."""
    if how == "stall":
        return 0
    if how == "last_second":
        for gid in liar._games_of(cid):
            g = gc.game(gid)
            if not g.over and g.to_move == liar.address and chain.timestamp() < g.deadline - 1:
                if horizon is None or g.deadline - 1 > horizon:
                    return 0
                chain.set_next_timestamp(g.deadline - 1)  # the move lands in the last second of its window
                break
    try:
        return liar.defend_once(cid)  # and finalizes its lie if the watcher let the window pass
    except Exception:
        return 0


def _watcher_owes(gc: GameClient, chain) -> bool:
    """A game waits for the watcher's move (time must not move then)."""
    addr = chain.address(WATCHER)
    n = gc.chain.call(gc.game_contract, "gameCount")
    return any(gc.turn(g)[0] == addr for g in range(1, n + 1))


def _targets(gc: GameClient, chain, claims: dict) -> list[int]:
    """The chain times at which something can happen next: open games' move deadlines, pending claims' window ends."""
    now = chain.timestamp()
    targets = []
    n = gc.chain.call(gc.game_contract, "gameCount")
    for g in range(1, n + 1):
        who, dl = gc.turn(g)
        if int(who, 16) and dl > now:
            targets.append(dl)
    for c in claims:
        cl = gc.claim(c)
        if cl.status == ClaimStatus.PENDING and cl.window_end > now:
            targets.append(cl.window_end)
    return targets


def _advance_time(gc: GameClient, chain, claims: dict, defender: str) -> None:
    """Move chain time to the next thing that can happen: a deadline of the other side, or a window's end."""
    targets = _targets(gc, chain, claims)
    chain.set_next_timestamp(min(targets) if targets else chain.timestamp() + 1)
    chain.mine()


def _judge(out: Outcome, gc: GameClient, chain, claims: dict, watcher: WatcherProcess, w_start: int, first: int):
    for cid, kind in claims.items():
        st = gc.claim(cid).status
        if kind == "lie" and st != ClaimStatus.SLASHED:
            out.lies_finalized += st == ClaimStatus.FINAL
            out.problems.append(f"lie {cid} is {st.name}")
        if kind == "honest":
            out.honest_slashed += st == ClaimStatus.SLASHED
            out.honest_final += st == ClaimStatus.FINAL
            if st != ClaimStatus.FINAL:
                out.problems.append(f"honest claim {cid} is {st.name}")
    addr = chain.address(WATCHER)
    gas = 0
    for b in range(first, chain.block_number() + 1):
        for h in chain.w3.eth.get_block(b)["transactions"]:
            tx = chain.w3.eth.get_transaction(h)
            if tx["from"] == addr:
                r = chain.w3.eth.get_transaction_receipt(h)
                gas += int(r["gasUsed"]) * int(r["effectiveGasPrice"])
    out.watcher_gas_wei = gas
    out.watcher_balance_change_wei = chain.balance(WATCHER) - w_start
    if out.watcher_balance_change_wei < -gas:
        out.problems.append(f"the watcher lost more than its gas: {out.watcher_balance_change_wei} < -{gas}")
    ev = watcher.events
    out.watcher_errors = sum(1 for e in ev if e.get("event") == "error")
    out.watcher_stalls = sum(1 for e in ev if e.get("event") == "missed")
    for e in gc.events("GameResolved", from_block=first):
        g = gc.game(int(e.args["gameId"]))
        if g.challenger == addr and Reason(e.args["reason"]) == Reason.TIMEOUT and g.result == Result.DEFENDER_WON:
            out.watcher_stalls += 1
    if out.watcher_stalls:
        out.problems.append(f"{out.watcher_stalls} watcher stalls")
    out.worst_move_latency_s = _worst_latency(gc, chain, addr, first)
    if out.worst_move_latency_s >= MOVE:
        out.problems.append(f"a watcher move took {out.worst_move_latency_s} s of a {MOVE} s window")


def _worst_latency(gc: GameClient, chain, addr: str, first: int) -> int:
    """The longest chain time between a move of the other side (or the game's opening) and the watcher's answer."""
    worst = 0
    names = ("GameOpened", "Revealed", "Picked", "StepOpened", "OutputDisputed", "LeafRevealed", "GameResolved")
    moves: dict[int, list] = {}
    for n in names:
        for e in gc.events(n, from_block=first):
            ts = int(chain.w3.eth.get_block(e.block)["timestamp"])
            tx = chain.w3.eth.get_transaction(e.tx)
            moves.setdefault(int(e.args["gameId"]), []).append((e.block, ts, tx["from"]))
    for gid, ms in moves.items():
        if gc.game(gid).challenger != addr:
            continue
        ms.sort()
        for (_, t_prev, who_prev), (_, t, who) in zip(ms, ms[1:]):
            if who == addr and who_prev != addr:
                worst = max(worst, t - t_prev)
    return worst


__all__ = ["Outcome", "Phase", "Scenario", "pack_tokens", "run_scenario"]
