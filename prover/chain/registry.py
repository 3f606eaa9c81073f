"""The claim registry and dispute game from Python: a typed client for every function, event and error.

    gc = GameClient.deploy(chain, claim_bond=10**16, challenge_bond=10**16, challenge_window=600,
                           replay_micros=400_000, move_window=600, k=4, one_step=one_step_address)
    gc.register_model(mc, uri="ipfs://...")                       # a prover.commit.model.ModelCommitment
    claim_id = gc.post_claim(model_root, prompt, run, output, trace_root, step_count, bond=10**16,
                             sender=operator).claim_id
    game_id = gc.challenge(claim_id, bond=10**16, sender=challenger).game_id
    g = gc.game(game_id)                                            # a Game: phase, node, height, ...
    gc.reveal(game_id, children, sender=operator)                   # ... every move; see GameClient
    gc.withdraw(sender=challenger)

Contracts (contracts/src): ``ClaimRegistry`` holds models, claims and every wei (pull payments) and
deploys ``DisputeGame``, which plays the games (docs/dispute.md) and books each outcome in the registry.
A refused move raises ``Refused`` whose ``.error`` is the contract's custom error name.

(Over 600 lines on purpose: one typed method per function, event and view of the two contracts, each a few lines;
split, the client would no longer read as the contracts' ABI does.)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from eth_utils import keccak as _keccak_fn
from web3 import Web3

from ..commit.model import ModelCommitment
from ..dispute.protocol import ClaimStatus, Phase, Result, pack_tokens
from ..dispute.trees import StepOpening
from .client import Chain, ChainError, Reverted

ZERO_ADDRESS = "0x" + "00" * 20
Gas = int | None  # an explicit gas limit sends without estimation (e.g. a move at an exact timestamp)


# -- chain-side types ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Model:
    registered: bool
    numerics_version: int
    steps_per_token: int
    context: int
    template_root: bytes
    weights_root: bytes
    stop_tokens: tuple[int, ...] = ()


@dataclass(frozen=True)
class Claim:
    operator: str
    posted_at: int
    window_end: int  # challenges are accepted while block.timestamp < window_end; finalize at or after it
    open_games: int
    status: ClaimStatus
    step_count: int
    prompt_len: int
    output_len: int
    bond: int
    model_root: bytes
    prompt_merkle_root: bytes
    run_root: bytes
    output_merkle_root: bytes
    trace_root: bytes
    input_hash: bytes
    output_hash: bytes
    claim_hash: bytes


@dataclass(frozen=True)
class Game:
    claim_id: int
    defender: str
    deadline: int
    phase: Phase
    result: Result
    height: int
    challenger: str
    step_count: int
    steps_per_token: int
    bond: int
    trace_root: bytes
    index: int
    node: bytes
    step: int
    out_dtype: int
    instr_hash: bytes
    out_merkle_root: bytes
    out_leaves: int
    out_numel: int
    operand_roots: tuple[bytes, ...]
    out_shape: tuple[int, ...]
    children: tuple[bytes, ...]
    leaf: bytes

    @property
    def over(self) -> bool:
        return self.result != Result.NONE

    @property
    def to_move(self) -> str:
        """Address of the party to move (defender or challenger)."""
        return self.defender if self.phase.defender_moves else self.challenger

    @property
    def in_trace(self) -> bool:
        return self.phase in (Phase.TRACE_REVEAL, Phase.TRACE_PICK)

    @property
    def opening(self) -> StepOpening:
        return StepOpening(self.instr_hash, self.operand_roots, self.out_dtype, self.out_shape, self.out_merkle_root)


@dataclass(frozen=True)
class Event:
    name: str
    args: dict
    address: str
    block: int
    tx: str


@dataclass
class TxResult:
    """A mined transaction: its receipt, gas and decoded events (of the registry and the game)."""

    receipt: Any
    events: list[Event]

    @property
    def gas(self) -> int:
        return int(self.receipt["gasUsed"])

    def event(self, name: str) -> Event:
        found = [e for e in self.events if e.name == name]
        if len(found) != 1:
            raise ChainError(f"{len(found)} {name} events in this transaction (have {[e.name for e in self.events]})")
        return found[0]

    @property
    def claim_id(self) -> int:
        return self.event("ClaimPosted").args["claimId"]

    @property
    def game_id(self) -> int:
        return self.event("GameOpened").args["gameId"]


class Refused(Reverted):
    """A transaction the contracts refused: `.error` is the custom error's name ('' if undecodable),
    `.error_args` its arguments."""

    def __init__(self, msg: str, data: bytes, error: str, error_args: tuple = ()):
        super().__init__(msg, data)
        self.error = error
        self.error_args = error_args


def _b32(x) -> bytes:
    return bytes(x)


def _addr(x: str) -> str:
    return Web3.to_checksum_address(x)


class GameClient:
    """A ClaimRegistry (and the DisputeGame it deployed) on a Chain: every function, typed."""

    def __init__(self, chain: Chain, registry_address: str):
        self.chain = chain
        self.registry = chain.at("ClaimRegistry", registry_address)
        self.game_contract = chain.at("DisputeGame", chain.call(self.registry, "game"))
        self.k = chain.call(self.game_contract, "k")
        self.move_window = chain.call(self.game_contract, "moveWindow")
        self.challenge_window = chain.call(self.registry, "challengeWindow")
        self.claim_bond = chain.call(self.registry, "claimBond")
        self.challenge_bond = chain.call(self.registry, "challengeBond")
        self.replay_micros = chain.call(self.registry, "replayMicros")
        self.first_block = 0  # where event scans start by default (`obrain` sets the deployment's block)
        self._errors = self._error_table()
        self._events = {}
        for c in (self.registry, self.game_contract):
            for e in c.abi:
                if e.get("type") == "event":
                    self._events[(c.address, e["name"])] = getattr(c.events, e["name"])

    # -- deployment ---------------------------------------------------------------------------------
    @classmethod
    def deploy(
        cls,
        chain: Chain,
        *,
        claim_bond: int,
        challenge_bond: int,
        challenge_window: int,
        replay_micros: int,
        move_window: int,
        k: int,
        one_step: str,
        quorum: str = ZERO_ADDRESS,
        sender=None,
    ) -> GameClient:
        """Deploy a ClaimRegistry (which deploys its DisputeGame) and return a client for it. Bonds in wei, windows
        in seconds, replay_micros the verification rate a claim's window allows per position (docs/dispute.md);
        quorum: a Quorum deployed for this registry's address (prover.quorum.client.deploy_with_quorum), or none."""
        reg = chain.deploy(
            "ClaimRegistry",
            claim_bond,
            challenge_bond,
            challenge_window,
            replay_micros,
            move_window,
            k,
            one_step,
            quorum,
            sender=sender,
        )
        gc = cls(chain, reg.address)
        gc.deploy_gas = int(reg.deploy_receipt["gasUsed"])
        return gc

    @property
    def address(self) -> str:
        return self.registry.address

    # -- errors and events ------------------------------------------------------------------------------
    def _error_table(self) -> dict[bytes, tuple[str, list[str]]]:
        table = {}
        for art in self.chain.artifacts.values():
            for e in art["abi"]:
                if e.get("type") == "error":
                    types = [i["type"] for i in e.get("inputs", [])]
                    sel = _keccak_fn(text=f"{e['name']}({','.join(types)})")[:4]
                    table.setdefault(sel, (e["name"], types))
        return table

    def decode_error(self, data: bytes) -> tuple[str, tuple]:
        """(error name, args) of revert data from any of our contracts; ('', ()) if unknown."""
        from eth_abi import decode as abi_decode

        if len(data) < 4 or data[:4] not in self._errors:
            return "", ()
        name, types = self._errors[data[:4]]
        try:
            return name, tuple(abi_decode(types, data[4:]))
        except Exception:
            return name, ()

    def decode_events(self, receipt) -> list[Event]:
        """Every event of the registry and the game in a receipt, in log order."""
        out = []
        for log in receipt["logs"]:
            addr = Web3.to_checksum_address(log["address"])
            for (a, name), ev in self._events.items():
                if a != addr:
                    continue
                try:
                    d = ev().process_log(log)
                except Exception:
                    continue
                out.append(
                    Event(name, dict(d["args"]), addr, int(log["blockNumber"]), log["transactionHash"].to_0x_hex())
                )
                break
        return out

    def events(
        self, name: str, from_block: int | None = None, to_block: int | str = "latest", **filters
    ) -> list[Event]:
        """All past events `name` (of the registry or the game), optionally filtered by indexed args, from
        ``from_block`` (default ``first_block``: the deployment's block when set, else 0), read in bounded
        eth_getLogs chunks (Chain.logs)."""
        lo = self.first_block if from_block is None else from_block
        out = []
        for (addr, n), ev in self._events.items():
            if n != name:
                continue

            def fetch(a, b, ev=ev):
                return ev().get_logs(from_block=a, to_block=b, argument_filters=filters or None)

            for d in self.chain.logs(fetch, lo, to_block):
                out.append(Event(name, dict(d["args"]), addr, int(d["blockNumber"]), d["transactionHash"].to_0x_hex()))
        return out

    def _tx(self, contract, fn: str, *args, sender=None, value: int = 0, gas: Gas = None) -> TxResult:
        """Send contract.fn(*args); the mined TxResult, or Refused naming the custom error (also for a
        transaction that estimated fine but reverted when mined: it is replayed at its block to name it)."""
        try:
            rcpt = self.chain.transact(contract, fn, *args, sender=sender, value=value, gas=gas, check=False)
        except Reverted as e:
            name, eargs = self.decode_error(e.data)
            raise Refused(f"{fn} refused: {name or e}{eargs if eargs else ''}", e.data, name, eargs) from None
        if rcpt["status"] != 1:
            data = self._replay_revert(rcpt)
            name, eargs = self.decode_error(data)
            raise Refused(
                f"{fn} reverted in block {rcpt['blockNumber']}: {name or '(no data)'}{eargs or ''}", data, name, eargs
            )
        return TxResult(rcpt, self.decode_events(rcpt))

    def _replay_revert(self, rcpt) -> bytes:
        """Revert data of a mined, reverted transaction: its eth_call at the parent block with its block's time."""
        tx = self.chain.w3.eth.get_transaction(rcpt["transactionHash"])
        blk = self.chain.w3.eth.get_block(rcpt["blockNumber"])
        call = {
            "from": tx["from"],
            "to": tx["to"],
            "data": tx["input"].to_0x_hex(),
            "value": hex(tx["value"]),
            "gas": hex(tx["gas"]),
        }
        try:
            self.chain.rpc("eth_call", [call, hex(rcpt["blockNumber"] - 1), {}, {"time": hex(blk["timestamp"])}])
        except Reverted as e:
            return e.data
        except ChainError:
            pass
        return b""

    def dry_run(self, fn: str, *args, sender=None, value: int = 0, at_time: int | None = None) -> str | None:
        """eth_call registry-or-game function `fn` (found by name) as `sender`, optionally with block.timestamp
        = at_time: None if it would be accepted, else the custom error's name ('' if unknown)."""
        contract = self.game_contract if any(e.get("name") == fn for e in self.game_contract.abi) else self.registry
        data = self.chain.calldata(contract, fn, *args)
        tx = {"to": contract.address, "data": "0x" + data.hex()}
        frm = self.chain._from(sender)
        if frm is not None:
            tx["from"] = frm
        if value:
            tx["value"] = hex(value)
        params: list = [tx, "latest"]
        if at_time is not None:
            params += [{}, {"time": hex(at_time)}]
        try:
            self.chain.rpc("eth_call", params)
        except Reverted as e:
            return self.decode_error(e.data)[0]
        return None

    # -- models and claims ----------------------------------------------------------------------------
    def register_model(
        self,
        mc: ModelCommitment,
        *,
        numerics_version: int | None = None,
        uri: str = "",
        sender=None,
        gas: Gas = None,
    ) -> TxResult:
        """registerModel from a ModelCommitment (numerics version defaults to fixedpoint.NUMERICS_VERSION)."""
        if numerics_version is None:
            from fixedpoint import NUMERICS_VERSION as numerics_version
        return self.register_model_raw(
            mc.model_root,
            numerics_version,
            mc.steps_per_token,
            mc.context,
            mc.template_root,
            mc.weights_root,
            mc.stop_ids,
            uri,
            sender=sender,
            gas=gas,
        )

    def register_model_raw(
        self,
        model_root: bytes,
        numerics_version: int,
        steps_per_token: int,
        context: int,
        template_root: bytes,
        weights_root: bytes,
        stop_tokens: Sequence[int],
        uri: str = "",
        sender=None,
        gas: Gas = None,
    ) -> TxResult:
        return self._tx(
            self.registry,
            "registerModel",
            model_root,
            numerics_version,
            steps_per_token,
            context,
            template_root,
            weights_root,
            [int(t) for t in stop_tokens],
            uri,
            sender=sender,
            gas=gas,
        )

    def post_claim(
        self,
        model_root: bytes,
        prompt: Sequence[int],
        run: Sequence[int],
        output: Sequence[int],
        trace_root: bytes,
        step_count: int,
        *,
        bond: int,
        sender=None,
        gas: Gas = None,
    ) -> TxResult:
        """postClaim: prompt/output tokens (ints), run = [temperature Q16, top_k, seed, max_new_tokens]."""
        return self.post_claim_raw(
            model_root,
            pack_tokens(prompt),
            [int(x) for x in run],
            pack_tokens(output),
            trace_root,
            step_count,
            bond=bond,
            sender=sender,
            gas=gas,
        )

    def post_claim_raw(
        self,
        model_root: bytes,
        prompt_packed: bytes,
        run: Sequence[int],
        output_packed: bytes,
        trace_root: bytes,
        step_count: int,
        *,
        bond: int,
        sender=None,
        gas: Gas = None,
    ) -> TxResult:
        return self._tx(
            self.registry,
            "postClaim",
            model_root,
            prompt_packed,
            list(run),
            output_packed,
            trace_root,
            step_count,
            sender=sender,
            value=bond,
            gas=gas,
        )

    def post_receipt(self, receipt, *, bond: int, sender=None, gas: Gas = None) -> TxResult:
        """postClaim from a prover.receipt.Receipt's fields."""
        s = receipt.settings
        return self.post_claim(
            bytes.fromhex(receipt.model.model_root[2:]),
            receipt.input.prompt_tokens,
            [s.temperature_q16, s.top_k, s.seed, s.max_new_tokens],
            receipt.output.tokens,
            bytes.fromhex(receipt.trace.trace_root[2:]),
            receipt.trace.step_count,
            bond=bond,
            sender=sender,
            gas=gas,
        )

    def finalize(self, claim_id: int, sender=None, gas: Gas = None) -> TxResult:
        return self._tx(self.registry, "finalize", claim_id, sender=sender, gas=gas)

    def challenge(self, claim_id: int, *, bond: int, sender=None, gas: Gas = None) -> TxResult:
        return self._tx(self.registry, "challenge", claim_id, sender=sender, value=bond, gas=gas)

    def withdraw(self, sender=None, gas: Gas = None) -> TxResult:
        return self._tx(self.registry, "withdraw", sender=sender, gas=gas)

    def withdraw_to(self, to: str, sender=None, gas: Gas = None) -> TxResult:
        return self._tx(self.registry, "withdrawTo", self.chain.address(to), sender=sender, gas=gas)

    # -- moves ----------------------------------------------------------------------------------------
    def reveal(self, game_id: int, children: Sequence[bytes], sender=None, gas: Gas = None) -> TxResult:
        return self._tx(self.game_contract, "reveal", game_id, list(children), sender=sender, gas=gas)

    def pick(self, game_id: int, child: int, sender=None, gas: Gas = None) -> TxResult:
        return self._tx(self.game_contract, "pick", game_id, child, sender=sender, gas=gas)

    def open_step(self, game_id: int, op: StepOpening, sender=None, gas: Gas = None) -> TxResult:
        return self._tx(
            self.game_contract,
            "openStep",
            game_id,
            op.instr_hash,
            list(op.operand_roots),
            op.dtype,
            list(op.shape),
            op.merkle_root,
            sender=sender,
            gas=gas,
        )

    def dispute_output(self, game_id: int, sender=None, gas: Gas = None) -> TxResult:
        return self._tx(self.game_contract, "disputeOutput", game_id, sender=sender, gas=gas)

    def reveal_leaf(self, game_id: int, leaf: bytes, sender=None, gas: Gas = None) -> TxResult:
        return self._tx(self.game_contract, "revealLeaf", game_id, leaf, sender=sender, gas=gas)

    def one_step(
        self, game_id: int, instr_bytes: bytes, operands: Sequence[tuple], j: int, sender=None, gas: Gas = None
    ) -> TxResult:
        """oneStep: operands are (dtype, shape, merkleRoot, indices, leaves, proof) tuples (OneStep.sol's Operand)."""
        return self._tx(
            self.game_contract, "oneStep", game_id, instr_bytes, [tuple(o) for o in operands], j, sender=sender, gas=gas
        )

    def prove_wrong_instruction(
        self, game_id: int, template_leaf: bytes, proof: Sequence[bytes], sender=None, gas: Gas = None
    ) -> TxResult:
        return self._tx(
            self.game_contract, "proveWrongInstruction", game_id, template_leaf, list(proof), sender=sender, gas=gas
        )

    def prove_wrong_operand_count(self, game_id: int, instr_bytes: bytes, sender=None, gas: Gas = None) -> TxResult:
        return self._tx(self.game_contract, "proveWrongOperandCount", game_id, instr_bytes, sender=sender, gas=gas)

    def prove_operand_from_step(
        self,
        game_id: int,
        instr_bytes: bytes,
        m: int,
        src: StepOpening,
        trace_proof: Sequence[bytes],
        sender=None,
        gas: Gas = None,
    ) -> TxResult:
        return self._tx(
            self.game_contract,
            "proveOperandFromStep",
            game_id,
            instr_bytes,
            m,
            src.as_source(),
            list(trace_proof),
            sender=sender,
            gas=gas,
        )

    def prove_operand_empty_state(
        self,
        game_id: int,
        instr_bytes: bytes,
        m: int,
        src_instr_bytes: bytes,
        template_proof: Sequence[bytes],
        sender=None,
        gas: Gas = None,
    ) -> TxResult:
        return self._tx(
            self.game_contract,
            "proveOperandEmptyState",
            game_id,
            instr_bytes,
            m,
            src_instr_bytes,
            list(template_proof),
            sender=sender,
            gas=gas,
        )

    def prove_operand_weight(
        self,
        game_id: int,
        instr_bytes: bytes,
        m: int,
        header: tuple,
        proof: Sequence[bytes],
        sender=None,
        gas: Gas = None,
    ) -> TxResult:
        """header = (dtype code, shape, merkle_root) of the true weight tensor."""
        d, s, r = header
        return self._tx(
            self.game_contract,
            "proveOperandWeight",
            game_id,
            instr_bytes,
            m,
            (d, list(s), r),
            list(proof),
            sender=sender,
            gas=gas,
        )

    def prove_operand_prompt_token(
        self,
        game_id: int,
        instr_bytes: bytes,
        m: int,
        prompt_leaf: bytes,
        proof: Sequence[bytes],
        sender=None,
        gas: Gas = None,
    ) -> TxResult:
        return self._tx(
            self.game_contract,
            "proveOperandPromptToken",
            game_id,
            instr_bytes,
            m,
            prompt_leaf,
            list(proof),
            sender=sender,
            gas=gas,
        )

    def prove_operand_run(self, game_id: int, instr_bytes: bytes, m: int, sender=None, gas: Gas = None) -> TxResult:
        return self._tx(self.game_contract, "proveOperandRun", game_id, instr_bytes, m, sender=sender, gas=gas)

    def prove_wrong_output_header(
        self, game_id: int, instr_bytes: bytes, operand_headers: Sequence[tuple], sender=None, gas: Gas = None
    ) -> TxResult:
        hs = [(d, list(s), r) for d, s, r in operand_headers]
        return self._tx(self.game_contract, "proveWrongOutputHeader", game_id, instr_bytes, hs, sender=sender, gas=gas)

    def prove_wrong_output_token(
        self,
        game_id: int,
        j: int,
        out_leaf: bytes,
        out_proof: Sequence[bytes],
        src: StepOpening,
        trace_proof: Sequence[bytes],
        sender=None,
        gas: Gas = None,
    ) -> TxResult:
        return self._tx(
            self.game_contract,
            "proveWrongOutputToken",
            game_id,
            j,
            out_leaf,
            list(out_proof),
            src.as_source(),
            list(trace_proof),
            sender=sender,
            gas=gas,
        )

    def timeout(self, game_id: int, sender=None, gas: Gas = None) -> TxResult:
        return self._tx(self.game_contract, "timeout", game_id, sender=sender, gas=gas)

    def close(self, game_id: int, sender=None, gas: Gas = None) -> TxResult:
        return self._tx(self.game_contract, "close", game_id, sender=sender, gas=gas)

    # -- reading state --------------------------------------------------------------------------------
    def model(self, model_root: bytes) -> Model:
        r = self.chain.call(self.registry, "getModel", model_root)
        return Model(r[0], r[1], r[2], r[3], _b32(r[4]), _b32(r[5]), tuple(r[6]))

    def status_of(self, claim_id: int) -> ClaimStatus:
        return ClaimStatus(self.chain.call(self.registry, "statusOf", claim_id))

    def quorum_address(self) -> str | None:
        """The Quorum this registry was deployed with (docs/quorum.md), or None."""
        a = self.chain.call(self.registry, "quorum")
        return None if int(a, 16) == 0 else a

    def claim(self, claim_id: int) -> Claim:
        r = self.chain.call(self.registry, "getClaim", claim_id)
        return Claim(_addr(r[0]), *r[1:4], ClaimStatus(r[4]), *r[5:9], *[_b32(x) for x in r[9:17]])

    def game(self, game_id: int) -> Game:
        r = self.chain.call(self.game_contract, "getGame", game_id)
        return Game(
            r[0],
            _addr(r[1]),
            r[2],
            Phase(r[3]),
            Result(r[4]),
            r[5],
            _addr(r[6]),
            r[7],
            r[8],
            r[9],
            _b32(r[10]),
            r[11],
            _b32(r[12]),
            r[13],
            r[14],
            _b32(r[15]),
            _b32(r[16]),
            r[17],
            r[18],
            tuple(_b32(x) for x in r[19]),
            tuple(r[20]),
            tuple(_b32(x) for x in r[21]),
            bytes(r[22]),
        )

    def turn(self, game_id: int) -> tuple[str, int]:
        """(address to move, deadline); the zero address once the game is over."""
        return self.chain.call(self.game_contract, "turn", game_id)

    def claim_id_of(self, claim_hash: bytes) -> int:
        return self.chain.call(self.registry, "claimIdOf", claim_hash)

    def claim_hash_of(
        self, claim_id: int, model_root: bytes, in_hash: bytes, out_hash: bytes, step_count: int, trace_root: bytes
    ) -> bytes:
        return _b32(
            self.chain.call(
                self.registry, "claimHashOf", claim_id, model_root, in_hash, out_hash, step_count, trace_root
            )
        )

    def credit(self, who) -> int:
        return self.chain.call(self.registry, "credit", self.chain.address(who))

    def slashed(self, claim_id: int) -> bool:
        return self.chain.call(self.game_contract, "slashed", claim_id)

    def ledger(self) -> tuple[int, int, int]:
        """(registry balance, totalLocked, totalCredit); solvency: balance == locked + credit."""
        return (
            self.chain.balance(self.registry.address),
            self.chain.call(self.registry, "totalLocked"),
            self.chain.call(self.registry, "totalCredit"),
        )
