"""Fixtures shared across modules: one anvil and one compile per session (chain tests), and the tiny model.

A missing anvil or solcjs FAILS the test (with "run `make setup`"); chain tests are never skipped.
"""

from __future__ import annotations

import hypo  # noqa: F401  (loads the fast tier's hypothesis profile before any test module is imported)
import pytest

from prover.chain import AnvilError, Chain, SolcError, compile_contracts, start_anvil


@pytest.fixture(scope="session")
def artifacts() -> dict[str, dict]:
    """Every contract under contracts/src compiled once (cached in contracts/out by source hash)."""
    try:
        return compile_contracts()
    except SolcError as e:
        pytest.fail(f"cannot compile contracts/src: {e}", pytrace=False)


@pytest.fixture(scope="session")
def anvil():
    """One anvil on a free port for the whole session; stopped (and reaped) at the end."""
    try:
        node = start_anvil()
    except AnvilError as e:
        pytest.fail(f"cannot start anvil: {e}", pytrace=False)
    yield node
    node.stop()


@pytest.fixture(scope="session")
def chain(anvil, artifacts) -> Chain:
    """A Chain client on the session's anvil with the session's artifacts."""
    return Chain(anvil.url, artifacts)


@pytest.fixture(scope="session")
def lm():
    """The tiny model (a GGUF built in code from a fixed seed), loaded once for every module that uses it."""
    from engine.runtime import IntegerLM

    return IntegerLM.load("tiny")


CHAIN_FIXTURES = {"anvil", "chain", "artifacts"}


def pytest_collection_modifyitems(config, items):
    """Marks that match what each test needs: `chain` for every test that uses anvil or the compiled contracts by
    its fixtures (a module that starts its own anvil says `pytestmark = pytest.mark.chain`), so `make test-fast`
    (-m "not slow and not chain") runs without either."""
    for item in items:
        if CHAIN_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.chain)
