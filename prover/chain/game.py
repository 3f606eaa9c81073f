"""The claim registry and dispute game from Python: a typed client, tree helpers, and honest play.

    gc = GameClient.deploy(chain, min_bond=10**16, challenge_window=3600, move_window=600, k=4,
                           one_step=one_step_address)
    gc.register_model(mc, uri="ipfs://...")                       # a prover.commit.ModelCommitment
    claim_id = gc.post_claim(model_root, prompt, run, output, trace_root, step_count, bond=10**16,
                             sender=operator).claim_id
    game_id = gc.challenge(claim_id, bond=10**16, sender=challenger).game_id
    g = gc.game(game_id)                                            # a Game: phase, node, height, ...
    gc.reveal(game_id, children, sender=operator)                   # ... every move; see GameClient
    gc.withdraw(sender=challenger)

Contracts (contracts/src): ``ClaimRegistry`` holds models, claims and every wei (pull payments) and
deploys ``DisputeGame``, which plays the games (docs/dispute.md) and books each outcome in the registry.
A refused move raises ``Refused`` whose ``.error`` is the contract's custom error name.

Pieces for agents (watch / defend / verify):
* ``HashTree`` / ``TensorTree``: the children a defender reveals, the child an honest challenger picks,
  proofs of records, tokens and template leaves (trees of docs/encoding.md, padded with Z_h).
* ``StepOpening``: a step record's preimage; ``opening_diff`` says which way an honest challenger wins.
* ``Party`` (protocol) and ``HonestPlayer``: the honest move for either side, given a party's own trace
  and model knowledge; ``SyntheticRun`` is a complete Party for tests, computing elements as
  contracts/src/test/MockOneStep.sol does (``mock_element``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from enum import IntEnum
from typing import Any, Optional, Protocol
from collections.abc import Callable, Sequence

import numpy as np
from eth_abi import encode as abi_encode
from eth_utils import keccak as _keccak_fn
from web3 import Web3
from web3.exceptions import TransactionNotFound

from .. import merkle
from ..commit import KIND_CODE, ModelCommitment, run_root, step_record, token_root
from .client import Chain, ChainError, Reverted

LEAF = merkle.LEAF_BYTES
Gas = Optional[int]  # an explicit gas limit sends without estimation (e.g. a move at an exact timestamp)
DTYPE_WIDTH = {merkle.DTYPE_CODES[n]: w for n, w in merkle.DTYPE_WIDTH.items()}  # by dtype code
TOKENS_PER_LEAF = LEAF // 4


class Phase(IntEnum):
    NONE = 0
    TRACE_REVEAL = 1  # defender: reveal
    TRACE_PICK = 2  # challenger: pick (or prove_wrong_output_token)
    STEP_OPEN = 3  # defender: open_step
    STEP_OPENED = 4  # challenger: prove_* or dispute_output
    OUT_REVEAL = 5  # defender: reveal
    OUT_PICK = 6  # challenger: pick (or prove_*)
    LEAF_REVEAL = 7  # defender: reveal_leaf
    LEAF_REVEALED = 8  # challenger: one_step (or prove_*)

    @property
    def defender_moves(self) -> bool:
        return self in (Phase.TRACE_REVEAL, Phase.STEP_OPEN, Phase.OUT_REVEAL, Phase.LEAF_REVEAL)


class Result(IntEnum):
    NONE = 0
    DEFENDER_WON = 1
    CHALLENGER_WON = 2
    CLOSED = 3


class Reason(IntEnum):
    TIMEOUT = 0
    WRONG_INSTRUCTION = 1
    WRONG_OPERAND_COUNT = 2
    WRONG_OPERAND = 3
    WRONG_OUTPUT_HEADER = 4
    WRONG_ELEMENT = 5
    ELEMENT_CORRECT = 6
    WRONG_OUTPUT_TOKEN = 7


class ClaimStatus(IntEnum):
    NONE = 0
    PENDING = 1
    FINAL = 2
    SLASHED = 3


def ceil_log2(x: int) -> int:
    """ceil(log2(x)) for x >= 1 (0 for x <= 1), as the contracts' _ceilLog2."""
    return max(0, (int(x) - 1).bit_length())


def keccak(data: bytes) -> bytes:
    return merkle.keccak(data)


def pack_tokens(tokens: Sequence[int]) -> bytes:
    """Tokens as int32 big-endian, concatenated (what postClaim takes)."""
    return b"".join(int(t).to_bytes(4, "big", signed=True) for t in tokens)


def unpack_tokens(packed: bytes) -> list[int]:
    return [int.from_bytes(packed[i : i + 4], "big", signed=True) for i in range(0, len(packed), 4)]


def input_hash(prompt: Sequence[int], run: Sequence[int]) -> bytes:
    """keccak256("input" || tensor_root(prompt, i32, (n,)) || tensor_root(run, i64, (4,)));
    the same as prover.commit.input_hash."""
    p = np.asarray(list(prompt), dtype=np.int64)
    return keccak(b"input" + merkle.tensor_root(p, "i32", p.shape) + run_root(np.asarray(run, dtype=np.int64)))


def output_hash(tokens: Sequence[int]) -> bytes:
    t = np.asarray(list(tokens), dtype=np.int64)
    return keccak(b"output" + merkle.tensor_root(t, "i32", t.shape))


def claim_hash(
    chain_id: int,
    registry: str,
    claim_id: int,
    model_root: bytes,
    in_hash: bytes,
    out_hash: bytes,
    step_count: int,
    trace_root: bytes,
) -> bytes:
    """keccak256("claim" || u256 chainid || registry || u256 claimId || modelRoot || inputHash || outputHash ||
    u64 stepCount || traceRoot): a claim bound to one chain and one registry."""
    return keccak(
        b"claim"
        + chain_id.to_bytes(32, "big")
        + bytes.fromhex(registry[2:])
        + claim_id.to_bytes(32, "big")
        + model_root
        + in_hash
        + out_hash
        + step_count.to_bytes(8, "big")
        + trace_root
    )


def instr_hash(instr_bytes: bytes) -> bytes:
    return keccak(b"instr" + instr_bytes)


def decode_operands(instr_bytes: bytes) -> list[tuple[int, int]]:
    """[(kind code, idx)] of an instruction's operands (instr_bytes = abi.encode(opcode, operands, params))."""
    from eth_abi import decode as abi_decode

    _, ops, _ = abi_decode(["uint256", "uint256[]", "int256[]"], instr_bytes)
    return [(o >> 32, o & 0xFFFFFFFF) for o in ops]


# -- trees ---------------------------------------------------------------------------------------------


class HashTree:
    """The docs' tree over 32-byte leaves (records, instruction hashes, weight roots, leaf hashes), padded
    with Z_h: nodes, the children a defender reveals, the child an honest challenger picks, proofs."""

    def __init__(self, leaves: Sequence[bytes]):
        self.count = max(1, len(leaves))
        self.levels = merkle.tree_levels(list(leaves))
        self.depth = len(self.levels) - 1

    @property
    def root(self) -> bytes:
        return self.levels[-1][0]

    def node(self, height: int, index: int) -> bytes:
        lvl = self.levels[height]
        return lvl[index] if index < len(lvl) else merkle.zero_hash(height)

    def children(self, height: int, index: int, k: int) -> list[bytes]:
        """The children of node (height, index) one reveal shows: 2^min(log2 k, height) nodes."""
        levels = min(ceil_log2(k), height)
        h = height - levels
        first = index << levels
        return [self.node(h, first + p) for p in range(1 << levels)]

    def proof(self, i: int) -> list[bytes]:
        return merkle.proof_from_levels(self.levels, i)


class TensorTree(HashTree):
    """The Merkle tree of a packed tensor's 256-byte leaves (phase 2), with the leaves' bytes."""

    def __init__(self, packed: bytes):
        self.packed = merkle.pad_to_leaves(bytes(packed))
        super().__init__(merkle.leaf_hashes(self.packed))
        self.count = merkle.n_leaves(len(self.packed))

    def leaf(self, i: int) -> bytes:
        return merkle.leaf_bytes(self.packed, i)


class RevealedTree:
    """The defender's trace tree as a challenger knows it at the bottom of phase 1: every node entirely left
    of the disputed step i is agreed (taken from the challenger's own tree), every node the defender revealed
    is known, and the rest hash up from those. Gives proofs of agreed records k < i in the defender's tree."""

    def __init__(self, mine: HashTree, revealed: dict[tuple[int, int], bytes], i: int, depth: int):
        self.mine, self.revealed, self.i, self.depth = mine, dict(revealed), i, depth

    def node(self, h: int, idx: int) -> bytes:
        key = (h, idx)
        if key in self.revealed:
            return self.revealed[key]
        if (idx + 1) << h <= self.i:
            return self.mine.node(h, idx)
        if h == 0:
            raise ChainError(f"leaf {idx} of the defender's trace is neither agreed nor revealed")
        v = merkle.node_hash(self.node(h - 1, 2 * idx), self.node(h - 1, 2 * idx + 1))
        self.revealed[key] = v
        return v

    def proof(self, k: int) -> list[bytes]:
        return [self.node(h, (k >> h) ^ 1) for h in range(self.depth)]


def leftmost_diff(
    revealed: Sequence[bytes], mine: Sequence[bytes], first: int, child_height: int, count: int
) -> int | None:
    """The child an honest challenger picks: the leftmost revealed child (within the tree's `count`
    leaves) that differs from its own; None if all agree."""
    for p, (a, b) in enumerate(zip(revealed, mine)):
        if ((first + p) << child_height) >= count:
            break
        if a != b:
            return p
    return None


# -- step openings ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StepOpening:
    """A step record's preimage: instruction hash, operand roots and the output header."""

    instr_hash: bytes
    operand_roots: tuple[bytes, ...]
    dtype: int
    shape: tuple[int, ...]
    merkle_root: bytes

    @property
    def output_root(self) -> bytes:
        return merkle.tensor_root_hash(self.dtype, self.shape, self.merkle_root)

    def record(self, i: int) -> bytes:
        return step_record(i, self.instr_hash, list(self.operand_roots), self.output_root)

    def as_source(self) -> tuple:
        """The (instrHash, operandRoots, outputRoot) tuple the prove_* functions take for a source step."""
        return (self.instr_hash, list(self.operand_roots), self.output_root)


def opening_diff(mine: StepOpening, theirs: StepOpening) -> tuple | None:
    """How an honest challenger (mine = the true opening) wins against theirs:
    ("instruction",) | ("operand_count",) | ("operand", m) | ("header",) | ("output",) | None (equal)."""
    if mine.instr_hash != theirs.instr_hash:
        return ("instruction",)
    if len(mine.operand_roots) != len(theirs.operand_roots):
        return ("operand_count",)
    for m, (a, b) in enumerate(zip(mine.operand_roots, theirs.operand_roots)):
        if a != b:
            return ("operand", m)
    if mine.dtype != theirs.dtype or tuple(mine.shape) != tuple(theirs.shape):
        return ("header",)
    if mine.merkle_root != theirs.merkle_root:
        return ("output",)
    return None


# -- chain-side types ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Model:
    registered: bool
    numerics_version: int
    steps_per_token: int
    context: int
    template_root: bytes
    weights_root: bytes


@dataclass(frozen=True)
class Claim:
    operator: str
    posted_at: int
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
        self.min_bond = chain.call(self.registry, "minBond")
        self._errors = self._error_table()
        self._events = {}
        for c in (self.registry, self.game_contract):
            for e in c.abi:
                if e.get("type") == "event":
                    self._events[(c.address, e["name"])] = getattr(c.events, e["name"])

    # -- deployment ---------------------------------------------------------------------------------
    @classmethod
    def deploy(
        cls, chain: Chain, *, min_bond: int, challenge_window: int, move_window: int, k: int, one_step: str, sender=None
    ) -> GameClient:
        """Deploy a ClaimRegistry (which deploys its DisputeGame) and return a client for it."""
        reg = chain.deploy("ClaimRegistry", min_bond, challenge_window, move_window, k, one_step, sender=sender)
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

    def events(self, name: str, from_block: int = 0, to_block: int | str = "latest", **filters) -> list[Event]:
        """All past events `name` (of the registry or the game), optionally filtered by indexed args."""
        out = []
        for (addr, n), ev in self._events.items():
            if n != name:
                continue
            for d in ev().get_logs(from_block=from_block, to_block=to_block, argument_filters=filters or None):
                out.append(Event(name, dict(d["args"]), addr, int(d["blockNumber"]), d["transactionHash"].to_0x_hex()))
        return out

    def _tx(self, contract, fn: str, *args, sender=None, value: int = 0, gas: Gas = None) -> TxResult:
        """Send contract.fn(*args); the mined TxResult, or Refused naming the custom error (also for a
        transaction that estimated fine but reverted when mined: it is replayed at its block to name it)."""
        try:
            tx_hash = self.chain.transact(contract, fn, *args, sender=sender, value=value, gas=gas, wait=False)
        except Reverted as e:
            name, eargs = self.decode_error(e.data)
            raise Refused(f"{fn} refused: {name or e}{eargs if eargs else ''}", e.data, name, eargs) from None
        rcpt = self._receipt(tx_hash)
        if rcpt["status"] != 1:
            data = self._replay_revert(rcpt)
            name, eargs = self.decode_error(data)
            raise Refused(
                f"{fn} reverted in block {rcpt['blockNumber']}: {name or '(no data)'}{eargs or ''}", data, name, eargs
            )
        return TxResult(rcpt, self.decode_events(rcpt))

    def _receipt(self, tx_hash):
        """Wait for a receipt, polling every few milliseconds (web3's default poll is 50 ms)."""
        deadline = time.monotonic() + self.chain.receipt_timeout
        pause = 0.001
        while True:
            try:
                return self.chain.w3.eth.get_transaction_receipt(tx_hash)
            except TransactionNotFound:
                if time.monotonic() > deadline:
                    raise ChainError(
                        f"transaction {tx_hash.to_0x_hex()} not mined within "
                        f"{self.chain.receipt_timeout}s (automine off?)"
                    ) from None
                time.sleep(pause)
                pause = min(2 * pause, 0.05)

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
        tx = {"from": self.chain.address(sender), "to": contract.address, "data": "0x" + data.hex()}
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
        return Model(r[0], r[1], r[2], r[3], _b32(r[4]), _b32(r[5]))

    def claim(self, claim_id: int) -> Claim:
        r = self.chain.call(self.registry, "getClaim", claim_id)
        return Claim(_addr(r[0]), r[1], r[2], ClaimStatus(r[3]), r[4], r[5], r[6], r[7], *[_b32(x) for x in r[8:16]])

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


# -- parties and honest play --------------------------------------------------------------------------


class Party(Protocol):
    """What a player knows: its own trace (honest or not) and the model (template, weights)."""

    k: int
    prompt: Sequence[int]
    output: Sequence[int]
    steps_per_token: int

    @property
    def step_count(self) -> int: ...
    def trace_tree(self) -> HashTree: ...
    def opening(self, i: int) -> StepOpening: ...
    def output_tree(self, i: int) -> TensorTree: ...
    def instr_bytes(self, idx: int) -> bytes: ...
    def template_tree(self) -> HashTree: ...
    def weight_header(self, widx: int) -> tuple: ...
    def weights_tree(self) -> HashTree: ...
    def operand_headers(self, i: int) -> list[tuple]: ...
    def one_step_operands(self, i: int, e: int) -> list[tuple]: ...


class HonestPlayer:
    """Plays one side of a game truthfully from a Party's own trace: `move(game_id)` makes the move the
    game waits for if it is this player's turn (and returns the TxResult), else returns None."""

    def __init__(self, gc: GameClient, party: Party, sender):
        self.gc, self.party, self.sender = gc, party, sender
        self.address = gc.chain.address(sender)
        self._tt: HashTree | None = None

    @property
    def tt(self) -> HashTree:
        if self._tt is None:
            self._tt = self.party.trace_tree()
        return self._tt

    def move(self, game_id: int) -> TxResult | None:
        g = self.gc.game(game_id)
        if g.over or g.to_move != self.address:
            return None
        return self.defend(game_id, g) if g.phase.defender_moves else self.attack(game_id, g)

    # defender ------------------------------------------------------------------------------------
    def defend(self, game_id: int, g: Game) -> TxResult:
        p, s = self.party, self.sender
        if g.phase == Phase.TRACE_REVEAL:
            return self.gc.reveal(game_id, self.tt.children(g.height, g.index, self.gc.k), sender=s)
        if g.phase == Phase.STEP_OPEN:
            return self.gc.open_step(game_id, p.opening(g.index), sender=s)
        ot = p.output_tree(g.step)
        if g.phase == Phase.OUT_REVEAL:
            return self.gc.reveal(game_id, ot.children(g.height, g.index, self.gc.k), sender=s)
        if g.phase == Phase.LEAF_REVEAL:
            return self.gc.reveal_leaf(game_id, ot.leaf(g.index), sender=s)
        raise ChainError(f"no defender move in phase {g.phase!r}")

    # challenger ----------------------------------------------------------------------------------
    def attack(self, game_id: int, g: Game) -> TxResult:
        p, s = self.party, self.sender
        if g.phase == Phase.TRACE_PICK:
            if g.trace_root == self.tt.root:  # same trace: then the claimed output must differ from it
                return self.prove_output_token(game_id, g)
            child = self._pick(g, self.tt, g.step_count)
            return self.gc.pick(game_id, child, sender=s)
        if g.phase == Phase.STEP_OPENED:
            return self.prove_step(game_id, g)
        if g.phase == Phase.OUT_PICK:
            return self.gc.pick(game_id, self._pick(g, p.output_tree(g.step), g.out_leaves), sender=s)
        if g.phase == Phase.LEAF_REVEALED:
            mine = p.output_tree(g.step).leaf(g.index)
            w = DTYPE_WIDTH[g.out_dtype]
            j = next((j for j in range(LEAF // w) if mine[j * w : (j + 1) * w] != g.leaf[j * w : (j + 1) * w]), 0)
            e = g.index * (LEAF // w) + j
            i = g.step
            return self.gc.one_step(
                game_id, p.instr_bytes(i % p.steps_per_token), p.one_step_operands(i, e), j, sender=s
            )
        raise ChainError(f"no challenger move in phase {g.phase!r}")

    def _pick(self, g: Game, tree: HashTree, count: int) -> int:
        levels = ceil_log2(len(g.children))
        ch = g.height - levels
        mine = tree.children(g.height, g.index, 1 << levels)
        p = leftmost_diff(g.children, mine, g.index << levels, ch, count)
        if p is None:
            raise ChainError("the revealed children all agree with mine: nothing to dispute here")
        return p

    def prove_output_token(self, game_id: int, g: Game) -> TxResult:
        p = self.party
        claimed = self._claimed_output(g.claim_id)  # find a claimed token that differs from my trace's
        S = p.steps_per_token
        n = len(p.prompt)
        for j, tok in enumerate(claimed):
            src = (n + j) * S - 1
            if token_root(tok) != p.opening(src).output_root:
                ct = TensorTree(pack_tokens(claimed))
                return self.gc.prove_wrong_output_token(
                    game_id,
                    j,
                    ct.leaf(j // TOKENS_PER_LEAF),
                    ct.proof(j // TOKENS_PER_LEAF),
                    p.opening(src),
                    self.tt.proof(src),
                    sender=self.sender,
                )
        raise ChainError("same trace and same output: nothing to dispute")

    def _claimed_output(self, claim_id: int) -> list[int]:
        ev = self.gc.events("ClaimPosted", claimId=claim_id)
        return unpack_tokens(bytes(ev[0].args["outputPacked"]))

    def prove_step(self, game_id: int, g: Game) -> TxResult:
        p, s, i = self.party, self.sender, g.step
        S = p.steps_per_token
        t, idx = divmod(i, S)
        mine = p.opening(i)
        d = opening_diff(mine, g.opening)
        if d is None:
            raise ChainError(f"step {i}: the opening agrees with mine")
        ib = p.instr_bytes(idx)
        if d[0] == "instruction":
            tt = p.template_tree()
            return self.gc.prove_wrong_instruction(game_id, tt.node(0, idx), tt.proof(idx), sender=s)
        if d[0] == "operand_count":
            return self.gc.prove_wrong_operand_count(game_id, ib, sender=s)
        if d[0] == "header":
            return self.gc.prove_wrong_output_header(game_id, ib, p.operand_headers(i), sender=s)
        if d[0] == "output":
            return self.gc.dispute_output(game_id, sender=s)
        m = d[1]
        kind, src = decode_operands(ib)[m]
        if kind == KIND_CODE["weight"]:
            wt = p.weights_tree()
            return self.gc.prove_operand_weight(game_id, ib, m, p.weight_header(src), wt.proof(src), sender=s)
        if kind == KIND_CODE["run"]:
            return self.gc.prove_operand_run(game_id, ib, m, sender=s)
        if kind == KIND_CODE["token"] and t < len(p.prompt):
            pt = TensorTree(pack_tokens(p.prompt))
            return self.gc.prove_operand_prompt_token(
                game_id, ib, m, pt.leaf(t // TOKENS_PER_LEAF), pt.proof(t // TOKENS_PER_LEAF), sender=s
            )
        if kind == KIND_CODE["state"] and t == 0:
            tt = p.template_tree()
            return self.gc.prove_operand_empty_state(game_id, ib, m, p.instr_bytes(src), tt.proof(src), sender=s)
        if kind == KIND_CODE["local"]:
            k_ = t * S + src
        elif kind == KIND_CODE["state"]:
            k_ = (t - 1) * S + src
        else:  # a generated token: the sampler of position t-1
            k_ = t * S - 1
        return self.gc.prove_operand_from_step(
            game_id, ib, m, p.opening(k_), self.defender_proof(game_id, g, k_), sender=s
        )

    def defender_proof(self, game_id: int, g: Game, k: int) -> list[bytes]:
        """Proof of agreed record k (< the disputed step) in the defender's trace tree (see RevealedTree)."""
        revealed: dict[tuple[int, int], bytes] = {}
        for e in self.gc.events("Revealed", gameId=game_id):
            if Phase(e.args["phase"]) != Phase.TRACE_PICK:
                continue
            levels = ceil_log2(len(e.args["children"]))
            h = e.args["height"] - levels
            for p_, c in enumerate(e.args["children"]):
                revealed[(h, (e.args["index"] << levels) + p_)] = bytes(c)
        revealed[(0, g.step)] = g.opening.record(g.step)
        return RevealedTree(self.tt, revealed, g.step, ceil_log2(g.step_count)).proof(k)


def play(
    gc: GameClient,
    game_id: int,
    players: Sequence[Any],
    max_moves: int = 10_000,
    on_move: Callable[[Game, TxResult], None] | None = None,
) -> Game:
    """Let the players (objects with .address and .move(game_id)) move in turn until the game ends; a
    player that returns None on its turn stalls, and then the other side claims the timeout."""
    for _ in range(max_moves):
        g = gc.game(game_id)
        if g.over:
            return g
        who = next((pl for pl in players if pl.address == g.to_move), None)
        r = who.move(game_id) if who is not None else None
        if r is None:  # stall: let the deadline pass and claim it
            gc.chain.increase_time(gc.move_window)
            r = gc.timeout(game_id)
        if on_move is not None:
            on_move(g, r)
    raise ChainError(f"game {game_id} not over after {max_moves} moves")


# -- a synthetic model and run (mirrors MockOneStep) -----------------------------------------------------


def mock_element(instr_bytes: bytes, position: int, j: int) -> int:
    """MockOneStep.element: the low 32 bits, signed, of keccak256("mock" || instrBytes || u256 position || u256 j)."""
    h = keccak(b"mock" + instr_bytes + position.to_bytes(32, "big") + j.to_bytes(32, "big"))
    v = int.from_bytes(h[-4:], "big")
    return v - (1 << 32) if v >= 1 << 31 else v


@dataclass(frozen=True)
class SynthInstr:
    opcode: int
    operands: tuple[tuple[str, int], ...]  # (kind name, idx)
    shape: tuple[int, ...]  # the mock's output (and empty-state) shape = the params

    def encode(self) -> bytes:
        ops = [(KIND_CODE[k] << 32) | i for k, i in self.operands]
        return abi_encode(["uint256", "uint256[]", "int256[]"], [self.opcode, ops, list(self.shape)])


DEFAULT_TEMPLATE = (
    SynthInstr(1, (("token", 0), ("weight", 0)), (3,)),
    SynthInstr(2, (("local", 0), ("state", 3)), (70,)),
    SynthInstr(3, (("local", 1), ("weight", 1), ("run", 0)), (2, 40)),
    SynthInstr(4, (("state", 3), ("local", 2)), (4, 100)),
    SynthInstr(5, (("local", 2), ("run", 0)), (1,)),  # the sampler: the template's last instruction
)


@dataclass(frozen=True)
class Lie:
    """A dishonest defender's edit of its trace at `step`. kind: "element" (add 1 to output element
    `at`; it propagates), "instr" (a wrong instruction hash), "operand" (operand root `at` replaced),
    "operand_count" (an extra operand root), "shape" (the same bytes under another shape), "padding"
    (a nonzero byte in the output's last leaf past its elements)."""

    step: int
    kind: str = "element"
    at: int = 0


class SyntheticRun:
    """A complete Party for tests: a small template (mock ops), two weights, a prompt and a run whose
    every element is mock_element; `lie` makes it a dishonest trace (consistently recommitted after it)."""

    def __init__(
        self,
        prompt: Sequence[int],
        run: Sequence[int],
        new_tokens: int,
        *,
        k: int = 2,
        template: Sequence[SynthInstr] = DEFAULT_TEMPLATE,
        context: int = 512,
        lie: Lie | None = None,
        numerics_version: int = 1,
    ):
        self.k, self.prompt, self.run = k, list(prompt), [int(x) for x in run]
        self.template = list(template)
        self.steps_per_token = len(self.template)
        self.context = context
        self.lie = lie
        self.instr = [ins.encode() for ins in self.template]
        ihs = [instr_hash(b) for b in self.instr]
        self._template_tree = HashTree(ihs)
        w0 = bytes(range(32))
        w1 = np.arange(5, dtype=np.int64) - 2
        self.weights = [("raw", (4, 8), merkle.pack(w0, "raw")), ("i32", (5,), merkle.pack(w1, "i32"))]
        self.weight_roots = [merkle.tensor_root_hash(d, s, merkle.merkle_root(pk)) for d, s, pk in self.weights]
        self._weights_tree = HashTree(self.weight_roots)
        self.model_root = keccak(
            b"model"
            + numerics_version.to_bytes(4, "big")
            + self.steps_per_token.to_bytes(4, "big")
            + context.to_bytes(4, "big")
            + self._template_tree.root
            + self._weights_tree.root
        )
        self.numerics_version = numerics_version
        self.run_root = run_root(np.asarray(self.run, dtype=np.int64))
        self._build(len(self.prompt) + new_tokens - 1)

    # building --------------------------------------------------------------------------------------
    def _empty_root(self, idx: int) -> bytes:
        shape = self.template[idx].shape
        nbytes = int(np.prod(shape)) * 4
        return merkle.tensor_root_hash("i32", shape, merkle.zero_hash(ceil_log2(max(1, -(-nbytes // LEAF)))))

    def _build(self, positions: int) -> None:
        S, lie = self.steps_per_token, self.lie
        self.openings: list[StepOpening] = []
        self.packed: list[bytes] = []
        self.output: list[int] = []
        self.tokens_in: list[int] = []  # the token operand of each position
        tok = self.prompt[0]
        prev: dict[int, bytes] = {}
        for t in range(positions):
            self.tokens_in.append(tok)
            cur: dict[int, bytes] = {}
            for idx, ins in enumerate(self.template):
                i = t * S + idx
                roots = []
                for kind, src in ins.operands:
                    if kind == "weight":
                        roots.append(self.weight_roots[src])
                    elif kind == "token":
                        roots.append(token_root(tok))
                    elif kind == "local":
                        roots.append(cur[src])
                    elif kind == "state":
                        roots.append(prev[src] if t > 0 else self._empty_root(src))
                    else:
                        roots.append(self.run_root)
                numel = int(np.prod(ins.shape))
                vals = [mock_element(self.instr[idx], t, j) for j in range(numel)]
                shape = ins.shape
                ih = instr_hash(self.instr[idx])
                if lie is not None and lie.step == i:
                    if lie.kind == "element":
                        vals[lie.at] += 1
                    elif lie.kind == "instr":
                        ih = keccak(b"not the instruction")
                    elif lie.kind == "operand":
                        roots[lie.at] = keccak(b"not the operand")
                    elif lie.kind == "operand_count":
                        roots.append(keccak(b"one operand too many"))
                    elif lie.kind == "shape":
                        shape = (1,) + tuple(shape)
                packed = merkle.pack(np.asarray(vals, dtype=np.int64), "i32")
                if lie is not None and lie.step == i and lie.kind == "padding":
                    if len(packed) == numel * 4:
                        raise ValueError("no padding in this step's output")
                    packed = packed[:-1] + b"\x01"
                op = StepOpening(ih, tuple(roots), merkle.DTYPE_CODES["i32"], tuple(shape), merkle.merkle_root(packed))
                self.openings.append(op)
                self.packed.append(packed)
                cur[idx] = op.output_root
                if idx == S - 1:
                    sampled = vals[0]
                    if t >= len(self.prompt) - 1:
                        self.output.append(sampled)
                    tok = self.prompt[t + 1] if t + 1 < len(self.prompt) else sampled
            prev = cur
        self._trace = HashTree([op.record(i) for i, op in enumerate(self.openings)])

    # Party ---------------------------------------------------------------------------------------------
    @property
    def step_count(self) -> int:
        return len(self.openings)

    @property
    def trace_root(self) -> bytes:
        return self._trace.root

    def trace_tree(self) -> HashTree:
        return self._trace

    def opening(self, i: int) -> StepOpening:
        return self.openings[i]

    def output_tree(self, i: int) -> TensorTree:
        return TensorTree(self.packed[i])

    def instr_bytes(self, idx: int) -> bytes:
        return self.instr[idx]

    def template_tree(self) -> HashTree:
        return self._template_tree

    def weight_header(self, widx: int) -> tuple:
        d, s, pk = self.weights[widx]
        return (merkle.DTYPE_CODES[d], tuple(s), merkle.merkle_root(pk))

    def weights_tree(self) -> HashTree:
        return self._weights_tree

    def operand_headers(self, i: int) -> list[tuple]:
        """(dtype, shape, merkle_root) of each operand of step i, in this party's trace."""
        S = self.steps_per_token
        t, idx = divmod(i, S)
        out = []
        for kind, src in self.template[idx].operands:
            if kind == "weight":
                out.append(self.weight_header(src))
            elif kind == "token":
                tok = self.tokens_in[t]
                out.append((3, (1,), merkle.merkle_root(merkle.pack([tok], "i32"))))
            elif kind == "run":
                out.append((4, (4,), merkle.merkle_root(merkle.pack(self.run, "i64"))))
            elif kind == "state" and t == 0:
                sh = self.template[src].shape
                out.append((3, sh, merkle.zero_hash(ceil_log2(max(1, -(-int(np.prod(sh)) * 4 // LEAF))))))
            else:
                o = self.openings[t * S + src if kind == "local" else (t - 1) * S + src]
                out.append((o.dtype, o.shape, o.merkle_root))
        return out

    def one_step_operands(self, i: int, e: int) -> list[tuple]:
        """A witness the mock accepts: each operand's header and no leaves (the mock reads none)."""
        return [(d, list(s), r, [], b"", []) for d, s, r in self.operand_headers(i)]

    # chain ---------------------------------------------------------------------------------------------
    def register(self, gc: GameClient, sender=None, gas: Gas = None) -> TxResult:
        return gc.register_model_raw(
            self.model_root,
            self.numerics_version,
            self.steps_per_token,
            self.context,
            self._template_tree.root,
            self._weights_tree.root,
            "synthetic://mock",
            sender=sender,
            gas=gas,
        )

    def post(self, gc: GameClient, *, bond: int, sender=None, output: Sequence[int] | None = None) -> TxResult:
        return gc.post_claim(
            self.model_root,
            self.prompt,
            self.run,
            self.output if output is None else output,
            self.trace_root,
            self.step_count,
            bond=bond,
            sender=sender,
        )

    def with_lie(self, lie: Lie | None) -> SyntheticRun:
        return SyntheticRun(
            self.prompt,
            self.run,
            len(self.output),
            k=self.k,
            template=self.template,
            context=self.context,
            lie=lie,
            numerics_version=self.numerics_version,
        )
