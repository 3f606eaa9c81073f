"""Chain toolchain: compile (solc-js), run a local node (anvil), talk to it (web3.py).

    from prover.chain import compile_contracts, start_anvil, Chain
    with start_anvil() as node:
        chain = Chain(node.url)
        c = chain.deploy("FixedPointHarness")

Names resolve lazily, so `python -m prover.chain.solc` does not import its own module twice.
"""

from importlib import import_module

_WHERE = {
    "Chain": "client",
    "ChainError": "client",
    "Reverted": "client",
    "ETHER": "client",
    "anvil_key": "client",
    "AnvilError": "node",
    "AnvilProcess": "node",
    "find_anvil": "node",
    "start_anvil": "node",
    "SolcError": "solc",
    "compile_contracts": "solc",
}
__all__ = list(_WHERE)


def __getattr__(name: str):
    if name not in _WHERE:
        raise AttributeError(f"module 'prover.chain' has no attribute {name!r}")
    return getattr(import_module(f".{_WHERE[name]}", __name__), name)
