"""Chain: a thin web3.py (v8) wrapper for deploying and driving our contracts on any EVM JSON-RPC node.

    chain = Chain(url)
    h = chain.deploy("FixedPointHarness", sender=key)   # artifacts from prover.chain.solc
    chain.call(h, "roundShift", 5, 1)                   # eth_call -> 3
    rcpt = chain.transact(reg, "submit", root, value=10**18, sender=key)   # mined receipt; rcpt.gasUsed
    chain.call_many([(h, "roundShift", (5, 1)), ...])   # one JSON-RPC batch of eth_calls
    chain.logs(fetch, from_block, to_block)             # eth_getLogs in bounded chunks

The sender is always the signer: every transaction is built, signed by an eth_account ``LocalAccount`` and
sent raw (``eth_sendRawTransaction``), with the nonce from the node's pending count and EIP-1559 fees from
``FeePolicy`` (prover.chain.fees). Nothing assumes the node holds a key.

Dev chains (anvil with its default chain id 31337: ``dev``) add what only they have: a sender may be an
int i (anvil's i-th dev key, derived from its public test mnemonic, signed locally too) or None (dev key 0),
or an address the node has unlocked or impersonated (the node signs); and the anvil_* / evm_* methods
(`mine`, `increase_time`, `set_automine`, `snapshot`/`revert`, `set_balance`, `impersonate`) work. On any
other chain those raise ChainError, and a sender must be a LocalAccount.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import eth_abi
import requests
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils.abi import function_abi_to_4byte_selector, get_abi_input_types, get_abi_output_types
from web3 import Web3
from web3.contract import Contract
from web3.exceptions import ContractLogicError, TransactionNotFound, Web3RPCError
from web3.providers.rpc.utils import ExceptionRetryConfiguration

from .fees import FeePolicy, bump
from .solc import compile_contracts

ANVIL_MNEMONIC = "test test test test test test test test test test test junk"
ANVIL_ACCOUNTS = 10
ANVIL_CHAIN_ID = 31337
ETHER = 10**18
LOG_CHUNK = 2000  # blocks per eth_getLogs request (providers cap ranges at 1k-10k blocks or 10k results)


class ChainError(RuntimeError):
    """An RPC error, a reverted call or transaction, or a missing artifact."""


class Reverted(ChainError):
    """A call or transaction reverted; `.data` is the revert data (bytes) when the node returned it."""

    def __init__(self, msg: str, data: bytes = b""):
        super().__init__(msg)
        self.data = data


_DEV_KEYS: dict[int, LocalAccount] = {}


def anvil_key(i: int) -> LocalAccount:
    """anvil's i-th default dev account (BIP-44 m/44'/60'/0'/0/i of its public test mnemonic)."""
    if i not in _DEV_KEYS:
        Account.enable_unaudited_hdwallet_features()
        _DEV_KEYS[i] = Account.from_mnemonic(ANVIL_MNEMONIC, account_path=f"m/44'/60'/0'/0/{i}")
    return _DEV_KEYS[i]


@dataclass(frozen=True)
class _Fn:
    selector: bytes
    inputs: list[str]
    outputs: list[str]


class Chain:
    """A web3.py connection plus our artifacts: deploy/call/transact by name, signed locally; dev controls on anvil.

    timeout: seconds per HTTP request (a read is retried ``rpc_retries`` times on a connection error or
    timeout); receipt_timeout: seconds to wait for a transaction to be mined (default 30 on a dev chain, 120
    elsewhere) before it is re-sent with the same nonce and 25% higher fees, at most ``tx_retries`` times
    (default 0 on a dev chain, 2 elsewhere);
    dev: force dev-chain behaviour on or off (default: detected, see ``is_dev``); fees: a FeePolicy (default:
    from the node's fee history); log_chunk: blocks per eth_getLogs request.
    """

    def __init__(
        self,
        url: str,
        artifacts: dict[str, dict] | None = None,
        timeout: float = 60.0,
        receipt_timeout: float | None = None,
        *,
        dev: bool | None = None,
        fees: FeePolicy | None = None,
        tx_retries: int | None = None,
        rpc_retries: int = 3,
        log_chunk: int = LOG_CHUNK,
    ):
        self.url = url
        self.fees = fees or FeePolicy()
        self.log_chunk = log_chunk
        # web3 retries only idempotent reads (its allowlist); a send is never repeated blindly
        errors = (requests.ConnectionError, requests.HTTPError, requests.Timeout)
        retry = ExceptionRetryConfiguration(errors=errors, retries=rpc_retries) if rpc_retries > 0 else None
        self.w3 = Web3(Web3.HTTPProvider(url, request_kwargs={"timeout": timeout}, exception_retry_configuration=retry))
        self._artifacts = artifacts
        self._fns: dict[tuple[int, str, int], _Fn] = {}
        self.chain_id = self.w3.eth.chain_id
        self.dev = self.is_dev() if dev is None else dev
        # on anvil an unmined transaction is stuck for good (a fee bump cannot help): give up sooner, at once
        self.receipt_timeout = receipt_timeout if receipt_timeout is not None else (30.0 if self.dev else 120.0)
        self.tx_retries = tx_retries if tx_retries is not None else (0 if self.dev else 2)

    def is_dev(self) -> bool:
        """A dev chain: anvil (web3_clientVersion 'anvil/...') with its default chain id 31337. anvil started with
        another chain id stands in for a public chain (as the tests run it) and is treated as one."""
        # A node that does not answer the method is no dev chain; a transport failure is not an answer (a
        # flaky provider once made a watcher on anvil refuse its own --dev-account and exit).
        for attempt in range(4):
            try:
                r = self.w3.provider.make_request("web3_clientVersion", [])
                break
            except (requests.ConnectionError, requests.HTTPError, requests.Timeout) as e:
                if attempt == 3:
                    raise ChainError(f"{self.url} did not answer web3_clientVersion: {e}") from None
                time.sleep(0.2 * 2**attempt)
        client = str(r.get("result", "")) if isinstance(r, dict) else ""
        return client.lower().startswith("anvil") and self.chain_id == ANVIL_CHAIN_ID

    def _need_dev(self, what: str) -> None:
        if not self.dev:
            raise ChainError(
                f"{what} needs a dev chain (anvil, chain id {ANVIL_CHAIN_ID}); {self.url} is chain {self.chain_id}"
            )

    # -- accounts ----------------------------------------------------------------------------
    @cached_property
    def accounts(self) -> list[str]:
        """The node's unlocked accounts (anvil: ten dev accounts funded with 10000 ETH each)."""
        self._need_dev("the node's unlocked accounts")
        return list(self.w3.eth.accounts)

    @cached_property
    def keys(self) -> list[LocalAccount]:
        """LocalAccounts of anvil's default dev accounts, in the node's order (for signing off-node)."""
        return [anvil_key(i) for i in range(ANVIL_ACCOUNTS)]

    def signer(self, who: int | str | LocalAccount | None = None) -> LocalAccount | str:
        """Who signs a sender spec: a LocalAccount itself; on a dev chain only, None = dev key 0, int i = dev key
        i, and an address string the node signs for (unlocked or impersonated). ChainError otherwise."""
        if isinstance(who, LocalAccount):
            return who
        if who is None or isinstance(who, int):
            self._need_dev("a dev-account sender" if who is not None else "a default sender (no key given)")
            return anvil_key(0 if who is None else who)
        self._need_dev(f"sending from address {who} without its key")
        return Web3.to_checksum_address(who)

    def address(self, who: int | str | LocalAccount | None = None) -> str:
        """Checksummed address of a sender spec (see ``signer``) or of a plain address string."""
        if isinstance(who, str):
            return Web3.to_checksum_address(who)
        s = self.signer(who)
        return s.address if isinstance(s, LocalAccount) else s

    def _from(self, who) -> str | None:
        """The `from` of an eth_call: the sender's address; none for no sender off dev chains."""
        if who is None and not self.dev:
            return None
        return self.address(who)

    # -- artifacts & contracts ---------------------------------------------------------------
    @property
    def artifacts(self) -> dict[str, dict]:
        """Compiled artifacts (compiled, or read from the cache, on first use)."""
        if self._artifacts is None:
            self._artifacts = compile_contracts()
        return self._artifacts

    def artifact(self, name: str) -> dict:
        """The artifact of contract `name`; ChainError listing the known names if absent."""
        try:
            return self.artifacts[name]
        except KeyError:
            raise ChainError(f"no artifact {name!r}; have: {', '.join(sorted(self.artifacts))}") from None

    def at(self, name: str, address: str) -> Contract:
        """A web3 Contract for artifact `name` at `address`."""
        return self.w3.eth.contract(address=Web3.to_checksum_address(address), abi=self.artifact(name)["abi"])

    def deploy(
        self,
        name: str,
        *args: Any,
        sender: int | str | LocalAccount | None = None,
        value: int = 0,
        gas: int | None = None,
    ) -> Contract:
        """Deploy artifact `name` with constructor args, wait for it; the Contract has `.deploy_receipt`."""
        rcpt = self._send(self._factory(name).constructor(*args), sender, value, gas)
        c = self.at(name, rcpt["contractAddress"])
        c.deploy_receipt = rcpt
        return c

    def deploy_many(self, specs: Sequence[tuple[str, Sequence[Any]]], sender=None) -> list[Contract]:
        """Deploy every (name, constructor args) from one sender without waiting between them (consecutive
        nonces, all in the pool at once: on a chain with a block time they share blocks); in order."""
        pending = [
            (name, self._send(self._factory(name).constructor(*args), sender, 0, None, wait=False))
            for name, args in specs
        ]
        out = []
        for name, p in pending:
            rcpt = self.wait(p)
            c = self.at(name, rcpt["contractAddress"])
            c.deploy_receipt = rcpt
            out.append(c)
        return out

    def _factory(self, name: str):
        art = self.artifact(name)
        code = art["bytecode"]
        if len(code) <= 2:
            raise ChainError(f"{name} has no bytecode (abstract contract or interface?)")
        if "__$" in code:
            raise ChainError(f"{name} needs linking to an external library; make its functions internal")
        return self.w3.eth.contract(abi=art["abi"], bytecode=code)

    # -- calls -------------------------------------------------------------------------------
    def _fn(self, contract: Contract, fn: str, nargs: int) -> _Fn:
        key = (id(contract.abi), fn, nargs)
        f = self._fns.get(key)
        if f is None:
            cands = [
                e
                for e in contract.abi
                if e.get("type") == "function" and e["name"] == fn and len(e.get("inputs", [])) == nargs
            ]
            if len(cands) != 1:
                raise ChainError(f"{len(cands)} functions {fn} with {nargs} inputs in this ABI")
            e = cands[0]
            f = _Fn(function_abi_to_4byte_selector(e), list(get_abi_input_types(e)), list(get_abi_output_types(e)))
            self._fns[key] = f
        return f

    def calldata(self, contract: Contract, fn: str, *args: Any) -> bytes:
        """ABI-encoded calldata of contract.fn(*args)."""
        f = self._fn(contract, fn, len(args))
        return f.selector + eth_abi.encode(f.inputs, list(args))

    def _decode(self, f: _Fn, raw: bytes) -> Any:
        out = [_checksum(t, v) for t, v in zip(f.outputs, eth_abi.decode(f.outputs, raw))]
        return out[0] if len(out) == 1 else (None if not out else tuple(out))

    def _tx_fields(self, contract: Contract, data: bytes, sender, value: int, gas: int | None) -> dict:
        tx = {"to": contract.address, "data": "0x" + data.hex()}
        frm = self._from(sender)
        if frm is not None:
            tx["from"] = frm
        if value:
            tx["value"] = hex(value)
        if gas is not None:
            tx["gas"] = hex(gas)
        return tx

    def call(
        self,
        contract: Contract,
        fn: str,
        *args: Any,
        sender=None,
        value: int = 0,
        gas: int | None = None,
        block: str | int = "latest",
    ) -> Any:
        """eth_call of contract.fn(*args): the decoded result (one value, or a tuple); Reverted on revert."""
        f = self._fn(contract, fn, len(args))
        data = f.selector + eth_abi.encode(f.inputs, list(args))
        tx = self._tx_fields(contract, data, sender, value, gas)
        raw = self.rpc("eth_call", [tx, block if isinstance(block, str) else hex(block)])
        return self._decode(f, bytes.fromhex(raw[2:]))

    def call_many(
        self,
        calls: Iterable[tuple[Contract, str, Sequence[Any]]],
        *,
        sender=None,
        block: str = "latest",
        chunk: int = 500,
        strict: bool = True,
    ) -> list[Any]:
        """eth_call every (contract, fn, args) in JSON-RPC batches of `chunk`; results in order.

        strict: a reverted call raises Reverted; otherwise its slot holds the Reverted instance.
        """
        calls = list(calls)
        out: list[Any] = []
        for lo in range(0, len(calls), chunk):
            part = calls[lo : lo + chunk]
            fns, reqs = [], []
            for c, fn, args in part:
                f = self._fn(c, fn, len(args))
                data = f.selector + eth_abi.encode(f.inputs, list(args))
                fns.append(f)
                reqs.append(("eth_call", [self._tx_fields(c, data, sender, 0, None), block]))
            resps = self.w3.provider.make_batch_request(reqs)
            if not isinstance(resps, list):
                raise ChainError(f"batch of {len(reqs)} eth_calls failed: {resps.get('error', resps)}")
            for (_c, fn, args), f, r in zip(part, fns, resps):
                if "error" in r:
                    err = Reverted(f"{fn}{tuple(args)} reverted: {r['error']}", _err_data(r["error"]))
                    if strict:
                        raise err
                    out.append(err)
                else:
                    out.append(self._decode(f, bytes.fromhex(r["result"][2:])))
        return out

    def estimate_gas(self, contract: Contract, fn: str, *args: Any, sender=None, value: int = 0) -> int:
        """eth_estimateGas of a transaction calling contract.fn(*args) (includes the 21000 base and calldata)."""
        data = self.calldata(contract, fn, *args)
        return int(self.rpc("eth_estimateGas", [self._tx_fields(contract, data, sender, value, None)]), 16)

    # -- transactions ------------------------------------------------------------------------
    def transact(
        self,
        contract: Contract,
        fn: str,
        *args: Any,
        sender=None,
        value: int = 0,
        gas: int | None = None,
        wait: bool = True,
        check: bool = True,
    ):
        """Send contract.fn(*args) as a transaction; the mined receipt (`.gasUsed`, `.logs`), or its hash if not
        wait (``wait(hash)`` waits for it later, without re-sends).

        Raises Reverted if gas estimation reverts, or (check) if the mined transaction reverted. With automine
        off, use wait=False (or `mine()` from another thread) or it blocks until the next block.
        """
        out = self._send(contract.get_function_by_name(fn)(*args), sender, value, gas, wait=wait, check=check)
        return out if wait else out.hash

    def _send(self, fn_or_ctor, sender, value: int, gas: int | None, wait: bool = True, check: bool = True):
        who = self.signer(sender)
        tx: dict[str, Any] = {"from": who if isinstance(who, str) else who.address, "value": value}
        if gas is not None:
            tx["gas"] = gas
        try:
            if isinstance(who, LocalAccount):
                fees = self.fees.fields(self.rpc)
                tx.update(fees, nonce=self.w3.eth.get_transaction_count(who.address, "pending"), chainId=self.chain_id)
                built = fn_or_ctor.build_transaction(tx)  # estimates gas: raises here if it would revert
                pending = Pending(self._send_raw(who, built), who, built, fees)
            else:  # dev chain only: an address the node signs for
                pending = Pending(fn_or_ctor.transact(tx), None, None, None)
        except ContractLogicError as e:
            raise Reverted(f"transaction would revert: {e}", _as_bytes(getattr(e, "data", None))) from e
        except Web3RPCError as e:  # e.g. no funds: the node cannot even estimate it
            bal = self.w3.eth.get_balance(tx["from"])
            raise ChainError(f"the node refused a transaction from {tx['from']} (balance {bal} wei): {e}") from e
        if not wait:
            return pending
        return self.wait(pending, check=check)

    def _send_raw(self, who: LocalAccount, tx: dict) -> bytes:
        return self.w3.eth.send_raw_transaction(who.sign_transaction(tx).raw_transaction)

    def wait(self, pending, check: bool = True):
        """The receipt of a sent transaction. Polls every few ms (up to 50 ms on a dev chain, 1 s elsewhere); after
        each ``receipt_timeout`` seconds unmined, ``replace``s it (at most ``tx_retries`` times; whichever
        version is mined counts). Then ChainError (on a dev chain the stuck transactions are dropped from
        anvil's pool first; elsewhere they may still be mined later). check: Reverted if it reverted.
        ``pending``: a Pending (from ``_send``), or a bare transaction hash (not re-sent)."""
        if not isinstance(pending, Pending):
            pending = Pending(pending, None, None, None)
        cap = 0.05 if self.dev else 1.0
        for attempt in range(self.tx_retries + 1):
            deadline, pause = time.monotonic() + self.receipt_timeout, 0.001
            while time.monotonic() < deadline:
                rcpt = self.receipt(pending)
                if rcpt is not None:
                    if check and rcpt["status"] != 1:
                        raise Reverted(
                            f"transaction {rcpt['transactionHash'].to_0x_hex()} reverted in block "
                            f"{rcpt['blockNumber']} (gasUsed {rcpt['gasUsed']})"
                        )
                    return rcpt
                time.sleep(pause)
                pause = min(2 * pause, cap)
            if pending.account is None or attempt == self.tx_retries:
                break
            self.replace(pending)
        names = ", ".join(h.to_0x_hex() for h in pending.hashes)
        if self.dev:  # a tx anvil accepted but can never include (gas under EIP-7623's floor) blocks its sender
            for h in pending.hashes:
                with contextlib.suppress(ChainError):
                    self.rpc("anvil_dropTransaction", [h.to_0x_hex()])
            raise ChainError(
                f"transaction {names} not mined within {self.receipt_timeout}s "
                "(automine off? gas below the intrinsic/calldata floor?); dropped from the pool"
            )
        raise ChainError(
            f"transaction {names} not mined after {self.tx_retries + 1} tries of {self.receipt_timeout}s each "
            "(fees too low? raise --max-fee-gwei / --priority-fee-gwei); it may still be mined later"
        )

    def receipt(self, pending: Pending):
        """The receipt of whichever version of the transaction was mined; None while none is."""
        for h in pending.hashes:
            try:
                return self.w3.eth.get_transaction_receipt(h)
            except TransactionNotFound:
                continue
        return None

    def replace(self, pending: Pending) -> bool:
        """Re-send a locally signed transaction with the same nonce and 25% higher fees (fees.bump); True if the
        node took it. A refusal (the nonce is used: an earlier version was mined; or still underpriced) is no
        error: the versions already sent are still watched."""
        if pending.account is None:
            return False
        pending.fees = bump(pending.fees)
        pending.tx = {**pending.tx, **pending.fees}
        try:
            pending.hashes.append(self._send_raw(pending.account, pending.tx))
        except Web3RPCError:
            return False
        return True

    def send_eth(self, to: str, wei: int, sender=None):
        """Plain value transfer, signed like every transaction; the mined receipt."""
        who = self.signer(sender)
        frm = who if isinstance(who, str) else who.address
        tx: dict[str, Any] = {"from": frm, "to": self.address(to), "value": wei}
        if isinstance(who, str):
            return self.wait(Pending(self.w3.eth.send_transaction(tx), None, None, None))
        fees = self.fees.fields(self.rpc)
        nonce = self.w3.eth.get_transaction_count(frm, "pending")
        tx.update(fees, gas=21000, nonce=nonce, chainId=self.chain_id)
        return self.wait(Pending(self._send_raw(who, tx), who, tx, fees))

    def logs(self, fetch: Callable[[int, int], Iterable], from_block: int = 0, to_block: int | str = "latest") -> list:
        """Every item ``fetch(lo, hi)`` returns over blocks [from_block, to_block], asked ``log_chunk`` blocks at a
        time in ascending order; a range the node refuses (providers cap ranges and result counts) is halved
        and asked again, down to one block, whose refusal is a ChainError."""
        end = self.block_number() if to_block == "latest" else int(to_block)
        out: list = []
        lo, size = int(from_block), max(1, self.log_chunk)
        while lo <= end:
            hi = min(lo + size - 1, end)
            try:
                out.extend(fetch(lo, hi))
            except Web3RPCError as e:
                if hi == lo:
                    raise ChainError(f"eth_getLogs refused block {lo}: {e}") from None
                size = max(1, (hi - lo + 1) // 2)
                continue
            lo = hi + 1
        return out

    # -- raw RPC & anvil dev controls --------------------------------------------------------
    def rpc(self, method: str, params: list | None = None) -> Any:
        """One raw JSON-RPC request; its `result`, or Reverted/ChainError carrying the node's error."""
        if method.startswith(("anvil_", "evm_")):
            self._need_dev(method)
        r = self.w3.provider.make_request(method, params or [])
        if "error" in r:
            err = r["error"]
            msg = f"{method}: {err.get('message', err) if isinstance(err, dict) else err}"
            if isinstance(err, dict) and ("revert" in str(err.get("message", "")).lower() or "data" in err):
                raise Reverted(msg, _err_data(err))
            raise ChainError(msg)
        return r["result"]

    def set_automine(self, on: bool) -> None:
        """Turn automine (one block per transaction) on or off (evm_setAutomine)."""
        self.rpc("evm_setAutomine", [bool(on)])

    def automine(self) -> bool:
        """Whether automine is on (anvil_getAutomine)."""
        return bool(self.rpc("anvil_getAutomine"))

    def mine(self, blocks: int = 1, timestamp: int | None = None) -> None:
        """Mine `blocks` blocks now (the first at `timestamp` if given)."""
        if timestamp is not None:
            self.rpc("evm_mine", [timestamp])
            blocks -= 1
        if blocks > 0:
            self.rpc("anvil_mine", [hex(blocks)])

    def increase_time(self, seconds: int) -> int:
        """Advance the clock by `seconds` and mine a block carrying it; returns the new block timestamp."""
        self.rpc("evm_increaseTime", [int(seconds)])
        self.rpc("evm_mine", [])
        return self.timestamp()

    def set_next_timestamp(self, ts: int) -> None:
        """The next mined block gets timestamp ts (evm_setNextBlockTimestamp)."""
        self.rpc("evm_setNextBlockTimestamp", [int(ts)])

    def timestamp(self) -> int:
        """Timestamp of the latest block."""
        return int(self.w3.eth.get_block("latest")["timestamp"])

    def block_number(self) -> int:
        """Number of the latest block."""
        return int(self.w3.eth.block_number)

    def snapshot(self) -> str:
        """Snapshot the whole chain state; revert(id) returns to it (each id is usable once)."""
        return self.rpc("evm_snapshot")

    def revert(self, snapshot_id: str) -> bool:
        """Return to a snapshot taken by snapshot(); True if the node accepted it."""
        return bool(self.rpc("evm_revert", [snapshot_id]))

    def balance(self, who=None) -> int:
        """Balance in wei of a sender spec or address."""
        return int(self.w3.eth.get_balance(self.address(who)))

    def set_balance(self, who, wei: int) -> None:
        """Set a balance outright (anvil_setBalance)."""
        self.rpc("anvil_setBalance", [self.address(who), hex(wei)])

    def impersonate(self, who: str) -> None:
        """Let transactions be sent `from` any address without its key (anvil_impersonateAccount)."""
        self.rpc("anvil_impersonateAccount", [self.address(who)])

    def code(self, address: str) -> bytes:
        """Deployed code at address (b'' if none)."""
        return bytes(self.w3.eth.get_code(Web3.to_checksum_address(address)))


@dataclass
class Pending:
    """A sent transaction: every version's hash (a replacement appends one) and, when signed here, what it
    takes to re-send it with higher fees."""

    hash: Any
    account: LocalAccount | None
    tx: dict | None
    fees: dict | None
    hashes: list = field(default_factory=list)

    def __post_init__(self):
        if not self.hashes:
            self.hashes = [self.hash]

    def to_0x_hex(self) -> str:
        return self.hash.to_0x_hex()


def _checksum(typ: str, v: Any) -> Any:
    """Addresses (also inside address arrays) checksummed, as web3's own calls return them."""
    if typ == "address":
        return Web3.to_checksum_address(v)
    if typ.startswith("address["):
        return type(v)(_checksum(typ.rsplit("[", 1)[0], x) for x in v)
    return v


def _as_bytes(data: Any) -> bytes:
    if isinstance(data, (bytes, bytearray)):
        return bytes(data)
    if isinstance(data, str) and data.startswith("0x"):
        try:
            return bytes.fromhex(data[2:])
        except ValueError:
            return b""
    return b""


def _err_data(err: Any) -> bytes:
    return _as_bytes(err.get("data")) if isinstance(err, dict) else b""
