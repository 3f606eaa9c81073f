"""Example counts of the property tests: each test's own count in `make test`; in the fast tier (`make test-fast`
sets OBRAIN_TEST_TIER=fast) a fifth of it, at least 10, and 20 for a test that names no count (profile "fast")."""

from __future__ import annotations

import os

from hypothesis import settings

FAST = os.environ.get("OBRAIN_TEST_TIER") == "fast"

settings.register_profile("fast", max_examples=20)
if FAST:
    settings.load_profile("fast")


def examples(n: int) -> int:
    """max_examples for a property test whose full count is n."""
    return max(10, n // 5) if FAST else n
