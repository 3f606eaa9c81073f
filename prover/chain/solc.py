"""Compile contracts/src with the pinned solc-js (npm `solc` 0.8.37) and cache the artifacts.

`compile_contracts()` feeds every ``*.sol`` under ``contracts/src`` (source unit names are their paths
relative to it, so relative imports resolve) to ``node_modules/.bin/solcjs --standard-json`` with the
project's fixed settings, and returns ``{ContractName: {"abi", "bytecode", "deployedBytecode", "source"}}``.
The result is cached in ``contracts/out/artifacts.json`` under a key hashing the compiler version,
the settings and every source; an unchanged tree is never recompiled. ``python -m prover.chain.solc``
builds the artifacts and prints compiler warnings.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
SRC_DIR = REPO_ROOT / "contracts" / "src"
OUT_DIR = REPO_ROOT / "contracts" / "out"
SOLC_VERSION = "0.8.37"
PRAGMA = f"pragma solidity {SOLC_VERSION};"
# anvil 1.7.1 runs the latest hardfork by default ("Bpo1", a blob-parameter-only fork on top of
# Osaka: its EVM is Osaka's). Pinned here so bytecode and gas do not drift with compiler defaults.
EVM_VERSION = "osaka"
SETTINGS = {
    "optimizer": {"enabled": True, "runs": 200},
    "evmVersion": EVM_VERSION,
    "outputSelection": {"*": {"*": ["abi", "evm.bytecode.object", "evm.deployedBytecode.object"]}},
}
SETUP_HINT = "run `make setup` (installs the pinned npm packages @foundry-rs/anvil and solc)"


class SolcError(RuntimeError):
    """solcjs is missing, crashed, or the sources do not compile (the message holds solc's errors)."""


def solcjs_path(root: Path = REPO_ROOT) -> Path:
    """node_modules/.bin/solcjs of the repo, checked to be the pinned version; SolcError if missing."""
    exe = root / "node_modules" / ".bin" / "solcjs"
    pkg = root / "node_modules" / "solc" / "package.json"
    if not exe.exists() or not pkg.exists():
        raise SolcError(f"solcjs not found at {exe}: {SETUP_HINT}")
    version = json.loads(pkg.read_text())["version"]
    if version != SOLC_VERSION:
        raise SolcError(f"node_modules has solc {version}, the project pins {SOLC_VERSION}: {SETUP_HINT}")
    return exe


def read_sources(src_dir: Path = SRC_DIR) -> dict[str, str]:
    """{relative posix path: text} of every .sol file under src_dir; SolcError if one lacks the exact pragma."""
    src_dir = Path(src_dir)
    sources = {p.relative_to(src_dir).as_posix(): p.read_text() for p in sorted(src_dir.rglob("*.sol"))}
    if not sources:
        raise SolcError(f"no .sol files under {src_dir}")
    bad = [name for name, text in sources.items() if not re.search(rf"^\s*{re.escape(PRAGMA)}\s*$", text, re.M)]
    if bad:
        raise SolcError(f"every source must say `{PRAGMA}` exactly; missing in: {', '.join(bad)}")
    return sources


def plugin_sources() -> dict[str, str]:
    """{"plugins/<file>": text} of the Solidity files that op plugins bring (engine.ops: an op outside this
    repository names its family's file in ``solidity_file``); they import core files by their unit names, e.g.
    ``import {OpFamily} from "OpFamily.sol";``."""
    from engine import ops

    out: dict[str, str] = {}
    for op in ops.all_ops().values():
        if op.solidity_file:
            path = Path(op.solidity_file)
            try:
                out[f"plugins/{path.name}"] = path.read_text()
            except OSError as e:
                raise SolcError(f"op {op.name}: cannot read its Solidity file {path}: {e}") from None
    return out


def cache_key(sources: dict[str, str]) -> str:
    """sha256 over compiler version, settings and every (path, text): the artifacts' identity."""
    h = hashlib.sha256(json.dumps([SOLC_VERSION, SETTINGS], sort_keys=True).encode())
    for name in sorted(sources):
        for part in (name, sources[name]):
            b = part.encode()
            h.update(len(b).to_bytes(8, "big") + b)
    return h.hexdigest()


def run_solcjs(sources: dict[str, str], root: Path = REPO_ROOT, timeout: float = 600.0) -> dict:
    """solc's standard-JSON output for these sources; SolcError with solc's messages on any error."""
    exe = solcjs_path(root)
    inp = {"language": "Solidity", "sources": {k: {"content": v} for k, v in sources.items()}, "settings": SETTINGS}
    # Files, not pipes, for stdin/stdout: past 64 KB node's non-blocking pipes fail (EAGAIN) or truncate.
    import tempfile

    with (
        tempfile.TemporaryFile("w+") as fin,
        tempfile.TemporaryFile("w+") as fout,
        tempfile.TemporaryFile("w+") as ferr,
    ):
        fin.write(json.dumps(inp))
        fin.seek(0)
        try:
            proc = subprocess.run(
                [str(exe), "--standard-json"], stdin=fin, stdout=fout, stderr=ferr, text=True, timeout=timeout, cwd=root
            )
        except FileNotFoundError as e:  # e.g. node itself is missing
            raise SolcError(f"cannot run {exe}: {e}: {SETUP_HINT}") from e
        fout.seek(0)
        ferr.seek(0)
        stdout, stderr = fout.read(), ferr.read()
    # solcjs prints ">>> Cannot retry compilation with SMT ..." before the JSON: skip to the first '{' line.
    lines = stdout.splitlines()
    start = next((i for i, line in enumerate(lines) if line.lstrip().startswith("{")), None)
    if start is None:
        raise SolcError(f"solcjs gave no JSON (exit {proc.returncode}):\n{stdout}\n{stderr}")
    out = json.loads("\n".join(lines[start:]))
    errors = [e for e in out.get("errors", []) if e.get("severity") == "error"]
    if errors:
        raise SolcError("solc failed:\n" + "\n".join(e.get("formattedMessage", e.get("message", "")) for e in errors))
    return out


def warnings_of(out: dict) -> list[str]:
    """solc's formatted warning/info messages from a standard-JSON output."""
    return [
        e.get("formattedMessage", e.get("message", "")) for e in out.get("errors", []) if e.get("severity") != "error"
    ]


def artifacts_of(out: dict) -> dict[str, dict]:
    """{name: {"abi", "bytecode", "deployedBytecode", "source"}} (hex with 0x); SolcError on duplicate names."""
    arts: dict[str, dict] = {}
    for source, contracts in sorted(out.get("contracts", {}).items()):
        for name, c in sorted(contracts.items()):
            if name in arts:
                raise SolcError(
                    f"contract name {name} is defined in both {arts[name]['source']} and "
                    f"{source}; names must be unique (artifacts are looked up by name)"
                )
            evm = c.get("evm", {})
            arts[name] = {
                "abi": c.get("abi", []),
                "bytecode": "0x" + evm.get("bytecode", {}).get("object", ""),
                "deployedBytecode": "0x" + evm.get("deployedBytecode", {}).get("object", ""),
                "source": source,
            }
    return arts


def _write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def compile_contracts(
    src_dir: Path | str = SRC_DIR, out_dir: Path | str = OUT_DIR, *, force: bool = False
) -> dict[str, dict]:
    """{contract name: {"abi", "bytecode", "deployedBytecode", "source"}} for every contract under src_dir.

    Reuses out_dir/artifacts.json when its key matches the current sources and settings (unless
    force); otherwise compiles with solcjs and rewrites it atomically. Raises SolcError.
    """
    sources = read_sources(Path(src_dir))
    if Path(src_dir) == SRC_DIR:
        sources.update(plugin_sources())
    key = cache_key(sources)
    cache = Path(out_dir) / "artifacts.json"
    if not force and cache.exists():
        try:
            cached = json.loads(cache.read_text())
            if cached.get("key") == key:
                return cached["contracts"]
        except (OSError, ValueError, KeyError):
            pass
    out = run_solcjs(sources)
    arts = artifacts_of(out)
    _write_atomic(
        cache,
        json.dumps(
            {"key": key, "solc": SOLC_VERSION, "settings": SETTINGS, "warnings": warnings_of(out), "contracts": arts},
            indent=1,
        ),
    )
    return arts


def main(argv: list[str] | None = None) -> int:
    """`python -m prover.chain.solc [--force]`: build contracts/out/artifacts.json, print a summary."""
    argv = sys.argv[1:] if argv is None else argv
    try:
        arts = compile_contracts(force="--force" in argv)
    except SolcError as e:
        print(e, file=sys.stderr)
        return 1
    cached = json.loads((OUT_DIR / "artifacts.json").read_text())
    for w in cached.get("warnings", []):
        print(w, file=sys.stderr)
    for name, a in sorted(arts.items()):
        size = (len(a["deployedBytecode"]) - 2) // 2
        print(f"{name:32s} {a['source']:40s} {size:6d} bytes deployed")
    print(f"{len(arts)} contracts -> {OUT_DIR / 'artifacts.json'} (solc {SOLC_VERSION}, {EVM_VERSION})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
