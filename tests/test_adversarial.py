"""The attacker's side, on a real anvil against `obrain watch` running as its own process (tests/advkit.py):
each scenario ends with every lie slashed, every honest claim final, the watcher's balance at least its start
minus its gas, no stall, and every watcher move well inside its window."""

from __future__ import annotations

import pytest
from advkit import Scenario, run_scenario

pytestmark = pytest.mark.chain

SCENARIOS = {
    # a lie beside early-stop bait and a whale bond (the first two strategies of issue 11 are now unpostable)
    "bait-and-lie": Scenario(seed=1, honest=1, lies=("step",), bait=True),
    # replay spam: long honest claims posted before the lie (the verification queue spaces their windows)
    "replay-spam": Scenario(seed=2, honest=0, lies=("step", "output"), spam=3),
    # a defender answering in the last second of every window, and the maximal-gas one-step
    "last-second": Scenario(seed=3, honest=1, lies=("maxgas",), defender="last_second"),
    # the liar's second identity races the watcher and wins its own lie's bond back; another lie stalls
    "sybil-race": Scenario(seed=4, honest=1, lies=("step", "output"), sybil="win", defender="normal"),
    # an RPC that fails 15% of the watcher's calls, and the watcher SIGKILLed mid-game and restarted
    "flaky-and-killed": Scenario(seed=5, honest=1, lies=("step", "step"), flaky=0.15, kill=True),
    # a flood: several lies and honest claims at once, the liar never answering
    "flood-stall": Scenario(seed=6, honest=2, lies=("step", "output", "maxgas"), defender="stall"),
}


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_no_liar_beats_the_watcher(name, anvil, artifacts, lm, tmp_path):
    out = run_scenario(SCENARIOS[name], anvil.url, artifacts, lm, tmp_path)
    assert out.ok, (name, out.problems, out)
    assert out.lies_finalized == 0 and out.honest_slashed == 0 and out.watcher_stalls == 0
    if SCENARIOS[name].bait:
        assert out.refused_posts == 2
