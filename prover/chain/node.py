"""Local anvil testnet: start_anvil() runs one anvil process on a free port and stops it cleanly.

anvil comes from the npm package ``@foundry-rs/anvil`` (pinned in package.json, installed by
``make setup``). We run its native binary directly when we can find it (no node wrapper in between,
so a signal reaches the process that owns the port), else ``node_modules/.bin/anvil``, else ``anvil``
on PATH. The process lives in its own session (its own process group), logs to a temp file, is
stopped by ``stop()`` / the context manager / interpreter exit, and on Linux also receives SIGTERM if
the starting thread dies (PR_SET_DEATHSIG), so no anvil outlives the test run that started it.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import weakref
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
SETUP_HINT = "run `make setup` (installs the pinned npm packages @foundry-rs/anvil and solc)"


class AnvilError(RuntimeError):
    """anvil is missing, did not start, or did not answer in time."""


def _native_binary(root: Path) -> Path | None:
    """The platform binary that @foundry-rs/anvil's node wrapper would spawn, if installed."""
    arch = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(
        platform.machine().lower(), platform.machine().lower()
    )
    osname = {"linux": "linux", "darwin": "darwin", "win32": "win32"}.get(sys.platform, sys.platform)
    exe = "anvil.exe" if osname == "win32" else "anvil"
    p = root / "node_modules" / "@foundry-rs" / f"anvil-{osname}-{arch}" / "bin" / exe
    return p if p.is_file() and os.access(p, os.X_OK) else None


def find_anvil(root: Path = REPO_ROOT) -> list[str]:
    """The command that runs anvil: native npm binary, else node_modules/.bin/anvil, else PATH; AnvilError if none."""
    native = _native_binary(root)
    if native:
        return [str(native)]
    wrapper = root / "node_modules" / ".bin" / "anvil"
    if wrapper.exists():
        return [str(wrapper)]
    on_path = shutil.which("anvil")
    if on_path:
        return [on_path]
    raise AnvilError(f"anvil not found in {root / 'node_modules'} nor on PATH: {SETUP_HINT}")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rpc(url: str, method: str, params: list | None = None, timeout: float = 5.0):
    """One raw JSON-RPC request (stdlib only); returns `result` or raises AnvilError with the RPC error."""
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params or []}).encode()
    req = urllib.request.Request(url, body, {"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        out = json.loads(r.read())
    if "error" in out:
        raise AnvilError(f"{method}: {out['error']}")
    return out["result"]


def _die_with_parent() -> None:  # runs in the child between fork and exec
    with contextlib.suppress(OSError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_DEATHSIG


_LIVE: weakref.WeakSet[AnvilProcess] = weakref.WeakSet()


class AnvilProcess:
    """A running anvil: `.url`, `.port`, `.chain_id`, `.log_path`; `stop()` (idempotent); a context manager."""

    def __init__(self, proc: subprocess.Popen, port: int, chain_id: int, log_path: str):
        self.proc = proc
        self.port = port
        self.chain_id = chain_id
        self.log_path = log_path
        self.url = f"http://127.0.0.1:{port}"
        _LIVE.add(self)

    def alive(self) -> bool:
        """True while the process has not exited."""
        return self.proc.poll() is None

    def log_tail(self, n: int = 40) -> str:
        """The last n lines anvil wrote to its log file ('' if gone)."""
        try:
            return "\n".join(Path(self.log_path).read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""

    def stop(self, timeout: float = 5.0) -> None:
        """SIGTERM the process group, SIGKILL after `timeout` s, reap it, delete the log; safe to call twice."""
        if self.proc.returncode is None:
            for sig in (signal.SIGTERM, signal.SIGKILL):
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, sig)
                try:
                    self.proc.wait(timeout=timeout)
                    break
                except subprocess.TimeoutExpired:
                    continue
            else:
                self.proc.wait()
        with contextlib.suppress(OSError):
            os.unlink(self.log_path)
        _LIVE.discard(self)

    def __enter__(self) -> AnvilProcess:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self.alive() else f"exited {self.proc.returncode}"
        return f"AnvilProcess(url={self.url!r}, pid={self.proc.pid}, {state})"


@atexit.register
def _stop_all() -> None:
    for a in list(_LIVE):
        a.stop(timeout=2.0)


def start_anvil(
    port: int | None = None,
    block_time: float | None = None,
    chain_id: int = 31337,
    *,
    tx_gas_limit: bool = True,
    timeout: float = 30.0,
    extra_args: tuple[str, ...] = (),
) -> AnvilProcess:
    """Start anvil on 127.0.0.1:port (a free port if None) and return once eth_chainId answers chain_id.

    block_time None means automine (a block per transaction); tx_gas_limit enforces EIP-7825's
    per-transaction cap of 2^24 gas, as mainnet does since Osaka. Raises AnvilError with anvil's log
    if it exits or does not answer within `timeout` seconds; a port taken by someone else is retried
    on a fresh port when the port was ours to choose.
    """
    cmd0 = find_anvil()
    attempts = 1 if port is not None else 5
    last = ""
    for _ in range(attempts):
        p = port if port is not None else free_port()
        # --max-persisted-states 0: anvil otherwise writes every evicted historical state under
        # ~/.foundry/anvil/tmp (measured: ~8 GB per test session, never cleaned); recent states stay in memory
        cmd = cmd0 + [
            "--host",
            "127.0.0.1",
            "--port",
            str(p),
            "--chain-id",
            str(chain_id),
            "--max-persisted-states",
            "0",
        ]
        if block_time is not None:
            cmd += ["--block-time", str(block_time)]
        if tx_gas_limit:
            cmd += ["--enable-tx-gas-limit"]
        cmd += list(extra_args)
        fd, log_path = tempfile.mkstemp(prefix=f"anvil-{p}-", suffix=".log")
        main_thread = threading.current_thread() is threading.main_thread()
        with os.fdopen(fd, "wb") as log:
            proc = subprocess.Popen(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_die_with_parent if (sys.platform == "linux" and main_thread) else None,
            )
        node = AnvilProcess(proc, p, chain_id, log_path)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not node.alive():
                break
            try:
                got = int(rpc(node.url, "eth_chainId", timeout=1.0), 16)
            except (OSError, urllib.error.URLError, ValueError, AnvilError):
                time.sleep(0.05)
                continue
            if got != chain_id:
                node.stop()
                raise AnvilError(f"{node.url} answered chain id {got}, expected {chain_id} (port in use?)")
            return node
        last = node.log_tail()
        timed_out = node.alive()
        node.stop()
        if timed_out:
            raise AnvilError(f"anvil ({' '.join(cmd)}) did not answer within {timeout}s; log:\n{last}")
        if "in use" not in last.lower():
            break
    raise AnvilError(f"anvil ({' '.join(cmd0)}) exited at start; log:\n{last}\n({SETUP_HINT} if it is missing)")
