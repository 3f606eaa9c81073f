"""Test doubles for the dispute game: a synthetic model and run whose every element is what
contracts/src/test/MockOneStep.sol computes (``mock_element``), honest or with one planted lie.

``SyntheticRun`` is a complete Party (prover.dispute.player.Party) with a small template of mock ops, two
weights, a prompt and a run; tests play whole games with it in milliseconds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from eth_abi import encode as abi_encode

from prover.chain.registry import GameClient, Gas, TxResult
from prover.commit import merkle
from prover.commit.model import KIND_CODE, model_root, run_root, token_root
from prover.dispute.protocol import LEAF, ceil_log2, instr_hash, keccak
from prover.dispute.trees import HashTree, StepOpening, TensorTree


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
class SynthLie:
    """A dishonest defender's edit of its trace at `step`. kind: "element" (add 1 to output element
    `at`; it propagates), "instr" (a wrong instruction hash), "operand" (operand root `at` replaced),
    "operand_count" (an extra operand root), "shape" (the same bytes under another shape), "padding"
    (a nonzero byte in the output's last leaf past its elements)."""

    step: int
    kind: str = "element"
    at: int = 0


# The synthetic model's stop token: the mock sampler's outputs are random int32s, so its claims end by length
# (their run's max_new_tokens is their output length: a claim must end as a generation ends).
STOP_IDS = (2**31 - 1,)


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
        lie: SynthLie | None = None,
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
        self.stop_ids = STOP_IDS
        self.model_root = model_root(
            numerics_version, self.steps_per_token, context, self._template_tree.root, self._weights_tree.root,
            self.stop_ids,
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
            self.stop_ids,
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

    def with_lie(self, lie: SynthLie | None) -> SyntheticRun:
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
