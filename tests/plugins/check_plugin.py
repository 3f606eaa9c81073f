"""Run in its own process by tests/test_op_table.py with OBRAIN_OP_PLUGINS=square_op: the plugin's op compiles
with the core contracts, the verifier deployed from the op table routes it, and its examples agree on chain."""

from __future__ import annotations

import sys

from coverage_kit import all_examples_ok

from engine import ops
from prover.chain import Chain, compile_contracts, start_anvil
from prover.chain.deploy import deploy_one_step


def main() -> int:
    assert "square" in ops.all_ops(), "the plugin was not loaded"
    with start_anvil() as node:
        chain = Chain(node.url, compile_contracts())
        one = deploy_one_step(chain)
        n = all_examples_ok(chain, one, ["square"])["square"]
    print(f"square: {n} elements agree")
    return 0


if __name__ == "__main__":
    sys.exit(main())
