#!/usr/bin/env python3
"""Verify a receipt from a script: replay the run and check every commitment.

    scripts/verify_trace.py RECEIPT [--model M] [--json]

Exit 0 valid, 1 a mismatch (names the first differing step: token, layer, op, leaf), 2 bad input.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from prover.cli import main

if __name__ == "__main__":
    sys.exit(main(["verify", *sys.argv[1:]]))
