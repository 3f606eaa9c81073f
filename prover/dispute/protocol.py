"""The dispute protocol's vocabulary, once: phases, results, reasons, claim status, and the hashes and
encodings both sides of a game compute (docs/dispute.md, docs/encoding.md).

Nothing here talks to a chain: ``prover.chain.registry`` (the typed client), ``prover.dispute.trees`` and
``prover.dispute.player`` build on it.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import IntEnum

from eth_abi import decode as abi_decode

from ..commit import merkle
from ..commit.model import input_hash, output_hash  # noqa: F401  (one definition, re-exported for clients)

LEAF = merkle.LEAF_BYTES
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
    ATTESTED = 4  # final by a quorum certificate (docs/quorum.md), still challengeable in its window

    @property
    def unsettled(self) -> bool:
        """Pending or attested: its window may still be open, its bond is locked, a game may slash it."""
        return self in (ClaimStatus.PENDING, ClaimStatus.ATTESTED)


def ceil_log2(x: int) -> int:
    """ceil(log2(x)) for x >= 1 (0 for x <= 1), as the contracts' _ceilLog2; also a tree's depth over x leaves."""
    return max(0, (int(x) - 1).bit_length())


def keccak(data: bytes) -> bytes:
    return merkle.keccak(data)


def pack_tokens(tokens: Sequence[int]) -> bytes:
    """Tokens as int32 big-endian, concatenated (what postClaim takes)."""
    return b"".join(int(t).to_bytes(4, "big", signed=True) for t in tokens)


def unpack_tokens(packed: bytes) -> list[int]:
    return [int.from_bytes(packed[i : i + 4], "big", signed=True) for i in range(0, len(packed), 4)]


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
    _, ops, _ = abi_decode(["uint256", "uint256[]", "int256[]"], instr_bytes)
    return [(o >> 32, o & 0xFFFFFFFF) for o in ops]
