"""Chain: a thin web3.py (v8) wrapper for deploying and driving our contracts on any EVM JSON-RPC node.

Written for anvil (the default and the test chain) but only `mine`, `increase_time`, `set_automine`,
`snapshot`/`revert`, `set_balance` and `impersonate` need anvil's dev RPC methods.

    chain = Chain(url)
    h = chain.deploy("FixedPointHarness")               # artifacts from prover.chain.solc
    chain.call(h, "roundShift", 5, 1)                   # eth_call -> 3
    rcpt = chain.transact(reg, "submit", root, value=10**18, sender=1)   # mined receipt; rcpt.gasUsed
    chain.call_many([(h, "roundShift", (5, 1)), ...])   # one JSON-RPC batch of eth_calls

A sender is an index into the node's unlocked accounts (anvil's ten funded dev accounts), an address
the node has unlocked (or `impersonate`d), or an eth_account LocalAccount (signed locally).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import eth_abi
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils.abi import function_abi_to_4byte_selector, get_abi_input_types, get_abi_output_types
from web3 import Web3
from web3.contract import Contract
from web3.exceptions import ContractLogicError, TimeExhausted

from .solc import compile_contracts

ANVIL_MNEMONIC = "test test test test test test test test test test test junk"
ANVIL_ACCOUNTS = 10
ETHER = 10**18


class ChainError(RuntimeError):
    """An RPC error, a reverted call or transaction, or a missing artifact."""


class Reverted(ChainError):
    """A call or transaction reverted; `.data` is the revert data (bytes) when the node returned it."""

    def __init__(self, msg: str, data: bytes = b""):
        super().__init__(msg)
        self.data = data


def anvil_key(i: int) -> LocalAccount:
    """anvil's i-th default dev account (BIP-44 m/44'/60'/0'/0/i of its public test mnemonic)."""
    Account.enable_unaudited_hdwallet_features()
    return Account.from_mnemonic(ANVIL_MNEMONIC, account_path=f"m/44'/60'/0'/0/{i}")


@dataclass(frozen=True)
class _Fn:
    selector: bytes
    inputs: list[str]
    outputs: list[str]


class Chain:
    """A web3.py connection plus our artifacts: deploy/call/transact by name, and anvil's dev controls."""

    def __init__(
        self, url: str, artifacts: dict[str, dict] | None = None, timeout: float = 60.0, receipt_timeout: float = 30.0
    ):
        self.url = url
        self.receipt_timeout = receipt_timeout
        self.w3 = Web3(Web3.HTTPProvider(url, request_kwargs={"timeout": timeout}))
        self._artifacts = artifacts
        self._fns: dict[tuple[int, str, int], _Fn] = {}
        self.chain_id = self.w3.eth.chain_id

    # -- accounts ----------------------------------------------------------------------------
    @cached_property
    def accounts(self) -> list[str]:
        """The node's unlocked accounts (anvil: ten dev accounts funded with 10000 ETH each)."""
        return list(self.w3.eth.accounts)

    @cached_property
    def keys(self) -> list[LocalAccount]:
        """LocalAccounts of anvil's default dev accounts, in the node's order (for signing off-node)."""
        return [anvil_key(i) for i in range(ANVIL_ACCOUNTS)]

    def address(self, who: int | str | LocalAccount | None = None) -> str:
        """Checksummed address of a sender spec (None = accounts[0], int = accounts[i], address, LocalAccount)."""
        if who is None:
            who = 0
        if isinstance(who, int):
            return self.accounts[who]
        if isinstance(who, LocalAccount):
            return who.address
        return Web3.to_checksum_address(who)

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
        art = self.artifact(name)
        code = art["bytecode"]
        if len(code) <= 2:
            raise ChainError(f"{name} has no bytecode (abstract contract or interface?)")
        if "__$" in code:
            raise ChainError(f"{name} needs linking to an external library; make its functions internal")
        factory = self.w3.eth.contract(abi=art["abi"], bytecode=code)
        rcpt = self._send(factory.constructor(*args), sender, value, gas)
        c = self.at(name, rcpt["contractAddress"])
        c.deploy_receipt = rcpt
        return c

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
        tx = {"from": self.address(sender), "to": contract.address, "data": "0x" + data.hex()}
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
            for (c, fn, args), f, r in zip(part, fns, resps):
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
    ):
        """Send contract.fn(*args) as a transaction; the mined receipt (`.gasUsed`, `.logs`), or its hash if not wait.

        Raises Reverted if gas estimation or the mined transaction reverts. With automine off, use
        wait=False (or `mine()` from another thread) or it blocks until the next block.
        """
        return self._send(contract.get_function_by_name(fn)(*args), sender, value, gas, wait=wait)

    def _send(self, fn_or_ctor, sender, value: int, gas: int | None, wait: bool = True):
        tx: dict[str, Any] = {"from": self.address(sender), "value": value}
        if gas is not None:
            tx["gas"] = gas
        try:
            if isinstance(sender, LocalAccount):
                built = fn_or_ctor.build_transaction(
                    {
                        **tx,
                        "nonce": self.w3.eth.get_transaction_count(sender.address, "pending"),
                        "chainId": self.chain_id,
                    }
                )
                tx_hash = self.w3.eth.send_raw_transaction(sender.sign_transaction(built).raw_transaction)
            else:
                tx_hash = fn_or_ctor.transact(tx)
        except ContractLogicError as e:
            raise Reverted(f"transaction would revert: {e}", _as_bytes(getattr(e, "data", None))) from e
        if not wait:
            return tx_hash
        try:
            rcpt = self.w3.eth.wait_for_transaction_receipt(tx_hash, timeout=self.receipt_timeout, poll_latency=0.05)
        except TimeExhausted:
            try:  # a tx anvil accepted but can never include (gas under EIP-7623's floor) blocks its sender
                self.rpc("anvil_dropTransaction", [tx_hash.to_0x_hex()])
            except ChainError:
                pass
            raise ChainError(
                f"transaction {tx_hash.to_0x_hex()} not mined within {self.receipt_timeout}s "
                "(automine off? gas below the intrinsic/calldata floor?); dropped from the pool"
            ) from None
        if rcpt["status"] != 1:
            raise Reverted(
                f"transaction {tx_hash.to_0x_hex()} reverted in block {rcpt['blockNumber']} (gasUsed {rcpt['gasUsed']})"
            )
        return rcpt

    def send_eth(self, to: str, wei: int, sender=None):
        """Plain value transfer; the mined receipt."""
        tx_hash = self.w3.eth.send_transaction({"from": self.address(sender), "to": self.address(to), "value": wei})
        return self.w3.eth.wait_for_transaction_receipt(tx_hash, timeout=self.receipt_timeout, poll_latency=0.05)

    # -- raw RPC & anvil dev controls --------------------------------------------------------
    def rpc(self, method: str, params: list | None = None) -> Any:
        """One raw JSON-RPC request; its `result`, or Reverted/ChainError carrying the node's error."""
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
