"""Keys and chain options shared by every chain command, and `obrain keystore new | import | address`.

Where the signing key comes from, first match wins:
  --keystore FILE      an encrypted JSON keystore (eth-account's format, as geth and Foundry write it); the
                       password from --password-file FILE, else a prompt on the terminal
  --key HEX            works, but the key is visible to every user of the machine (ps, shell history): warned
  --dev-account N      anvil's N-th public dev key; dev chains only (anvil with chain id 31337)
  OBRAIN_PRIVATE_KEY, then ETH_PRIVATE_KEY in the environment
  none of these        on a dev chain, dev key 0; elsewhere a usage error (exit 2)
The RPC URL: --rpc-url, else ETH_RPC_URL, else the deployment file's (only a loopback URL is ever stored
there), else http://127.0.0.1:8545.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
from pathlib import Path
from urllib.parse import urlsplit

from .common import EXIT_OK, UsageError, console

KEY_ENV = ("OBRAIN_PRIVATE_KEY", "ETH_PRIVATE_KEY")
DEFAULT_RPC = "http://127.0.0.1:8545"


def gwei(text: str) -> int:
    """argparse type: a decimal number of gwei as exact wei."""
    from prover.chain.fees import gwei_to_wei

    try:
        return gwei_to_wei(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def seconds(text: str) -> float:
    try:
        v = float(text)  # a wait time, never committed
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not 0 < v < 10**6:
        raise argparse.ArgumentTypeError(f"must be in (0, 10^6) seconds: {text!r}")
    return v


def key_args(p, *, rpc_help: str = "JSON-RPC URL (default: $ETH_RPC_URL, else the deployment file's, else local)"):
    """The options every chain command shares: RPC URL, key source, fees, receipt waits."""
    g = p.add_argument_group("chain and key (see `obrain keystore --help`)")
    g.add_argument("--rpc-url", default=None, help=rpc_help)
    g.add_argument("--keystore", metavar="FILE", help="sign with this encrypted keystore (eth-account JSON)")
    g.add_argument("--password-file", metavar="FILE", help="the keystore's password (first line); else a prompt")
    g.add_argument(
        "--key",
        metavar="HEX",
        help="private key (visible in ps and shell history: prefer $ETH_PRIVATE_KEY or --keystore)",
    )
    g.add_argument("--dev-account", type=int, metavar="N", help="anvil's dev key N (dev chains only)")
    g.add_argument("--account", type=int, dest="dev_account", help=argparse.SUPPRESS)  # the old name
    g.add_argument("--max-fee-gwei", type=gwei, metavar="G", help="EIP-1559 fee cap (default: 2 x base fee + tip)")
    g.add_argument(
        "--priority-fee-gwei", type=gwei, metavar="G", help="EIP-1559 tip (default: the median of recent blocks')"
    )
    g.add_argument(
        "--receipt-timeout",
        type=seconds,
        default=None,
        metavar="S",
        help="seconds to wait for a transaction to be mined before re-sending it with 25%% higher fees "
        "(default 120; 30 on anvil)",
    )
    g.add_argument(
        "--tx-retries",
        type=int,
        default=None,
        metavar="N",
        help="re-sends of a stuck transaction (default 2; 0 on anvil)",
    )


def rpc_url(a, stored: str | None = None) -> str:
    return a.rpc_url or os.environ.get("ETH_RPC_URL") or stored or DEFAULT_RPC


def storable_url(url: str) -> str | None:
    """The RPC URL as a deployment file may keep it: only a loopback URL with no credentials, path or query
    (a provider's URL usually carries an API key in its path or query); None otherwise."""
    try:
        u = urlsplit(url)
    except ValueError:
        return None
    loopback = (u.hostname or "") in ("127.0.0.1", "localhost", "::1")
    if not loopback or u.username or u.password or u.query or u.fragment or u.path not in ("", "/"):
        return None
    return url


def open_chain(a, url: str):
    """A Chain on url with the command's fee and receipt options; UsageError if it cannot be reached."""
    from prover.chain.client import Chain
    from prover.chain.fees import FeePolicy
    from prover.chain.solc import compile_contracts

    fees = FeePolicy(
        max_fee_wei=getattr(a, "max_fee_gwei", None), priority_fee_wei=getattr(a, "priority_fee_gwei", None)
    )
    shown = storable_url(url) or _redacted(url)
    try:
        return Chain(
            url,
            compile_contracts(),
            receipt_timeout=getattr(a, "receipt_timeout", None),
            tx_retries=getattr(a, "tx_retries", None),
            fees=fees,
        )
    except Exception as e:  # connection refused, bad URL: bad input, not a crash
        raise UsageError(f"cannot use the chain at {shown}: {_scrub(str(e), url)}") from None


def _redacted(url: str) -> str:
    """scheme://host/... : enough to recognise the endpoint, without a key in its path, query or userinfo."""
    try:
        u = urlsplit(url)
        return f"{u.scheme}://{u.hostname}{':' + str(u.port) if u.port else ''}/..."
    except ValueError:
        return "<rpc url>"


def secret_parts(url: str) -> list[str]:
    """The pieces of an RPC URL that may carry a key (the URL, its path and query, its password): never printed."""
    try:
        u = urlsplit(url)
    except ValueError:
        return [url]
    parts = [url, u.path + ("?" + u.query if u.query else ""), u.query, u.password or ""]
    if len(u.path) > 1:
        parts.append(u.path)
    return sorted({p for p in parts if len(p) > 3}, key=len, reverse=True)


def _scrub(text: str, url: str) -> str:
    """An error message with the URL (which may carry an API key) taken out."""
    for p in secret_parts(url):
        text = text.replace(p, "<redacted>")
    return text


def signer(a, chain):
    """The LocalAccount the command signs with (see the module docstring for the order)."""
    from prover.chain.client import anvil_key

    given = [n for n in ("keystore", "key") if getattr(a, n, None)]
    if getattr(a, "dev_account", None) is not None:
        given.append("dev_account")
    if len(given) > 1:
        raise UsageError("give one key source: " + ", ".join("--" + g.replace("_", "-") for g in given))
    if getattr(a, "keystore", None):
        return load_keystore(a.keystore, getattr(a, "password_file", None))
    if getattr(a, "key", None):
        console().print(
            "[yellow]warning:[/yellow] --key puts the key where `ps` shows it; use $ETH_PRIVATE_KEY or --keystore"
        )
        return _from_hex(a.key, "--key")
    if getattr(a, "dev_account", None) is not None:
        if not chain.dev:
            raise UsageError(f"--dev-account is for dev chains (anvil, chain id 31337); this is chain {chain.chain_id}")
        if not 0 <= a.dev_account < 2**31:
            raise UsageError(f"--dev-account {a.dev_account}: not a dev account index")
        return anvil_key(a.dev_account)
    for var in KEY_ENV:
        if os.environ.get(var):
            return _from_hex(os.environ[var], var)
    if chain.dev:
        return anvil_key(0)
    raise UsageError(
        f"no key to sign with on chain {chain.chain_id}: set ETH_PRIVATE_KEY, or pass --keystore FILE "
        "(make one with `obrain keystore new` or `obrain keystore import`)"
    )


def _from_hex(text: str, where: str):
    from eth_account import Account

    try:
        return Account.from_key(text.strip())
    except Exception:
        raise UsageError(f"{where} is not a valid private key (64 hex digits)") from None


def _password(path: str | None, *, confirm: bool = False) -> str:
    if path:
        try:
            lines = Path(path).read_text().splitlines()
        except (OSError, UnicodeDecodeError) as e:
            raise UsageError(f"cannot read the password file {path}: {e}") from None
        return lines[0] if lines else ""
    if not sys.stdin.isatty():
        raise UsageError("no terminal to ask for the keystore password: pass --password-file FILE")
    pw = getpass.getpass("keystore password: ")
    if confirm and getpass.getpass("again: ") != pw:
        raise UsageError("the passwords differ")
    return pw


def load_keystore(path: str, password_file: str | None):
    """The LocalAccount in an encrypted keystore file; UsageError for an unreadable file or a wrong password."""
    from eth_account import Account

    try:
        ks = json.loads(Path(path).read_text())
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise UsageError(f"cannot read the keystore {path}: {e}") from None
    if not isinstance(ks, dict) or "crypto" not in ks and "Crypto" not in ks:
        raise UsageError(f"{path} is not a keystore (no crypto section)")
    pw = _password(password_file)
    try:
        return Account.from_key(Account.decrypt(ks, pw))
    except ValueError:
        raise UsageError(f"cannot decrypt {path}: wrong password, or not an eth-account keystore") from None


def _write_keystore(acct, out: str, password: str) -> None:
    from eth_account import Account

    p = Path(out)
    if p.exists():
        raise UsageError(f"{out} exists: not overwriting a keystore")
    p.parent.mkdir(parents=True, exist_ok=True)
    data = json.dumps(Account.encrypt(acct.key, password), indent=2) + "\n"
    fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)  # owner-only, like geth's
    with os.fdopen(fd, "w") as f:
        f.write(data)


def cmd_keystore(a) -> int:
    from eth_account import Account

    if a.action == "address":
        ks = _read_json(a.file)
        addr = ks.get("address") if isinstance(ks, dict) else None
        if not addr:
            raise UsageError(f"{a.file} names no address (decrypt it with a chain command to see it)")
        print("0x" + addr.removeprefix("0x"))
        return EXIT_OK
    if a.action == "new":
        acct = Account.create()
    else:  # import: the key from stdin or the environment, never from the command line
        text = next((os.environ[v] for v in KEY_ENV if os.environ.get(v)), None)
        if text is None:
            text = getpass.getpass("private key (hex): ") if sys.stdin.isatty() else sys.stdin.readline()
        acct = _from_hex(text, "the key to import")
    _write_keystore(acct, a.out, _password(a.password_file, confirm=True))
    print(acct.address)
    console().print(f"[green]keystore[/green] {a.out} holds {acct.address} (scrypt, eth-account format)")
    return EXIT_OK


def _read_json(path: str):
    try:
        return json.loads(Path(path).read_text())
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise UsageError(f"cannot read {path}: {e}") from None


def add_parsers(sub) -> None:
    k = sub.add_parser(
        "keystore",
        help="make or import an encrypted key file (for --keystore)",
        description="`new` makes a fresh key, `import` encrypts an existing one (read from $OBRAIN_PRIVATE_KEY, "
        "$ETH_PRIVATE_KEY or standard input, never from the command line); both print the address on stdout. "
        "`address FILE` prints a keystore's address without decrypting it. Files are eth-account's "
        "(geth's and Foundry's) format, scrypt-encrypted, mode 0600.",
    )
    k.add_argument("action", choices=("new", "import", "address"))
    k.add_argument("file", nargs="?", help="for `address`: the keystore file")
    k.add_argument("--out", metavar="FILE", help="for new/import: where to write the keystore (must not exist)")
    k.add_argument("--password-file", metavar="FILE", help="the password (first line); else a prompt, twice")
    k.set_defaults(func=_keystore_checked)


def _keystore_checked(a) -> int:
    if a.action == "address" and not a.file:
        raise UsageError("keystore address needs the FILE")
    if a.action != "address" and not a.out:
        raise UsageError(f"keystore {a.action} needs --out FILE")
    return cmd_keystore(a)


# -- the chain a command talks to: its deployment, client, agent and options --------------------------------
def game_client(a):
    """The deployment's GameClient on the chain the options name (--rpc-url, $ETH_RPC_URL, the file's URL)."""
    from prover.chain.registry import GameClient

    try:
        dep = json.loads(Path(a.deployment).read_text())
    except (OSError, ValueError) as e:
        raise UsageError(f"cannot read the deployment file {a.deployment}: {e} (run `obrain deploy`)") from None
    chain = open_chain(a, rpc_url(a, dep.get("rpc_url")))
    if chain.chain_id != dep.get("chain_id"):
        raise UsageError(f"{a.deployment} is for chain {dep.get('chain_id')}, the RPC serves chain {chain.chain_id}")
    gc = GameClient(chain, dep["registry"])
    fb = getattr(a, "from_block", None)
    gc.first_block = int(fb if fb is not None else dep.get("deploy_block", 0))
    return gc


def make_agent(a, gc, lm, lie=None):
    from prover.dispute.agent import Agent

    sender = signer(a, gc.chain)
    con = console()
    return Agent(
        gc, lm, sender, lie=lie, log=lambda m: con.print(f"[dim]{m}[/dim]"), from_block=getattr(gc, "first_block", 0)
    )


def chain_args(p) -> None:

    p.add_argument("--deployment", default="deployment.json", help="deployment JSON from `obrain deploy`")
    key_args(p)
    p.add_argument("--poll", type=float, default=1.0, help="seconds between chain polls")
    p.add_argument("--max-polls", type=int, default=None, help="stop after N polls (default: run until done)")
    if not any(act.dest == "quiet" for act in p._actions):
        p.add_argument("-q", "--quiet", action="store_true")
