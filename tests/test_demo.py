"""The README's main job runs end to end (the demo), on SmolLM2."""

import pytest

from prover.cli import main as cli


@pytest.mark.slow
def test_demo_passes(tmp_path, capsys):
    assert cli(["demo", "--workdir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "The capital of France is Paris." in out
    assert "FAILED" not in out
