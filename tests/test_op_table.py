"""The op table (engine/ops) is the one source of truth for both languages.

For every registered op (core and plugins): its family's Solidity file declares ``OP_<NAME>`` = its opcode and
``<NAME>_<PARAM>`` = the index of each param in ascending name order (the order instruction bytes carry them);
the deployed router sends the opcode to that family's contract, whose arity is the op's operand count; templates
that break the table are refused before they run. A plugin op brought by ``OBRAIN_OP_PLUGINS`` (tests/plugins)
passes the same one-step coverage check as the core ops, in its own process.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from engine import ops
from engine.program import TOKEN, L, W, instr
from prover.chain.deploy import deploy_one_step, family_table
from prover.chain.solc import SRC_DIR

ROOT = Path(__file__).resolve().parents[1]
CONST = re.compile(r"uint256\s+internal\s+constant\s+(\w+)\s*=\s*(0x[0-9a-fA-F]+|\d+)\s*;")


def solidity_constants(artifacts, op) -> dict[str, int]:
    src = artifacts[op.solidity]["source"]
    path = Path(op.solidity_file) if src.startswith("plugins/") else SRC_DIR / src
    return {k: int(v, 0) for k, v in CONST.findall(path.read_text())}


def test_every_op_row_is_well_formed():
    rows = ops.table()
    assert len({r["opcode"] for r in rows}) == len(rows)
    for r in rows:
        assert r["operands"] and r["solidity"], r
        for _, kinds in r["operands"]:
            assert set(kinds) <= {"weight", "token", "local", "state", "run"}


def test_solidity_reads_params_by_the_python_table(artifacts):
    """A param renamed, added or reordered in Python without the same change in Solidity fails here."""
    for op in ops.all_ops().values():
        c = solidity_constants(artifacts, op)
        up = op.name.upper()
        assert c.get(f"OP_{up}") == op.opcode, (op.name, op.solidity)
        for i, p in enumerate(sorted(x.name for x in op.params)):
            assert c.get(f"{up}_{p.upper()}") == i, (op.name, p, i)


@pytest.mark.chain
def test_router_sends_each_opcode_to_its_family(chain):
    one = deploy_one_step(chain)
    fams = family_table()
    assert sorted(chain.call(one, "opcodes")) == sorted(op.opcode for op in ops.all_ops().values())
    for op in ops.all_ops().values():
        assert chain.call(one, "family", op.opcode) == one.families[op.solidity]
        assert chain.call(one, "arity", op.opcode) == len(op.operands), op.name
        assert op.opcode in fams[op.solidity]
    assert chain.call(one, "arity", 0xFFFF) == 0


def test_templates_that_break_the_table_are_refused():
    from engine.executor import Executor
    from engine.program import Program

    good = dict(f=16, width=32, wtype=8)
    bad = [
        (dict(good, extra=1), "unknown"),
        ({k: v for k, v in good.items() if k != "wtype"}, "missing"),
        (dict(good, width=65), "outside"),
        (dict(good, f="16"), "not an int"),
    ]
    for params, why in bad:
        prog = Program("t", (instr("e", "embed", [TOKEN, W("emb")], **params),), 4, "e")
        with pytest.raises(ValueError, match=why):
            Executor(prog, {"emb": None})
    prog = Program("t", (instr("e", "embed", [W("emb"), W("emb")], **good),), 4, "e")
    with pytest.raises(ValueError, match="operand token is weight"):
        Executor(prog, {"emb": None})
    with pytest.raises(ValueError, match="operands"):
        Executor(Program("t", (instr("e", "embed", [TOKEN], **good),), 4, "e"), {})
    assert L("x").kind == "local"


@pytest.mark.chain
def test_a_plugin_op_passes_the_core_coverage_check():
    """tests/plugins/square_op.py + SquareFamily.sol, loaded by OBRAIN_OP_PLUGINS in a fresh process: compiled
    with the core contracts, routed by the deployed verifier, and its examples agree on chain with Python."""
    env = dict(os.environ, OBRAIN_OP_PLUGINS="square_op", PYTHONPATH=f"{ROOT / 'tests' / 'plugins'}:{ROOT / 'tests'}")
    r = subprocess.run(
        [sys.executable, str(ROOT / "tests" / "plugins" / "check_plugin.py")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    m = re.search(r"square: (\d+) elements agree", r.stdout)
    assert m and int(m.group(1)) >= 8, r.stdout
