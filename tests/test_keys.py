"""Where a chain command's key comes from (keystore, environment, --key, --dev-account), and what is never stored."""

from __future__ import annotations

import argparse
from types import SimpleNamespace

import clikit
import pytest
from eth_account import Account

from prover.chain.client import anvil_key
from prover.cli.common import UsageError
from prover.cli.keys import signer, storable_url

KEY = "0x" + "4c" * 32


def obrain(*args, env=None, stdin=None):
    """`obrain ARGS` in this process (tests/clikit.py), with no key or RPC URL from the caller's environment."""
    return clikit.obrain(*args, env=env, input=stdin, drop=("ETH_PRIVATE_KEY", "OBRAIN_PRIVATE_KEY", "ETH_RPC_URL"))


def args(**kw):
    base = {"keystore": None, "password_file": None, "key": None, "dev_account": None}
    return argparse.Namespace(**{**base, **kw})


DEV = SimpleNamespace(dev=True, chain_id=31337)
PUBLIC = SimpleNamespace(dev=False, chain_id=11155111)


@pytest.fixture()
def light_kdf(monkeypatch):
    """Keystores written with scrypt n = 2^10 instead of eth-account's default 2^18 (0.8 CPU-s per encryption and
    per decryption), after checking that the code asks for the default: it passes no kdf and no iterations."""
    encrypt = Account.encrypt

    def light(private_key, password, kdf=None, iterations=None):
        assert kdf is None and iterations is None, "keystores use eth-account's default scrypt strength"
        return encrypt(private_key, password, kdf="scrypt", iterations=1 << 10)

    monkeypatch.setattr(Account, "encrypt", staticmethod(light))


@pytest.fixture()
def clean_env(monkeypatch):
    for v in ("ETH_PRIVATE_KEY", "OBRAIN_PRIVATE_KEY"):
        monkeypatch.delenv(v, raising=False)
    return monkeypatch


def test_key_sources_in_order(clean_env, capsys):
    env_key = Account.create()
    assert signer(args(), DEV).address == anvil_key(0).address  # a dev chain's default
    with pytest.raises(UsageError, match="no key to sign with"):
        signer(args(), PUBLIC)  # never a default elsewhere
    clean_env.setenv("ETH_PRIVATE_KEY", env_key.key.hex())
    assert signer(args(), PUBLIC).address == env_key.address
    other = Account.create()
    clean_env.setenv("OBRAIN_PRIVATE_KEY", "0x" + other.key.hex())
    assert signer(args(), PUBLIC).address == other.address  # OBRAIN_ before ETH_
    assert signer(args(key=KEY), PUBLIC).address == Account.from_key(KEY).address  # a flag beats the environment
    assert "ps" in capsys.readouterr().err  # --key is warned about
    assert signer(args(dev_account=3), DEV).address == anvil_key(3).address
    with pytest.raises(UsageError, match="dev chains"):
        signer(args(dev_account=3), PUBLIC)
    with pytest.raises(UsageError, match="one key source"):
        signer(args(key=KEY, dev_account=1), DEV)
    with pytest.raises(UsageError, match="not a valid private key"):
        signer(args(key="0x1234"), PUBLIC)


def test_keystore_new_import_address_and_signing(tmp_path, clean_env, light_kdf):
    pw = tmp_path / "pw"
    pw.write_text("correct horse\n")
    ks = tmp_path / "new.json"
    r = obrain("keystore", "new", "--out", str(ks), "--password-file", str(pw))
    assert r.returncode == 0, r.stderr
    addr = r.stdout.strip()
    assert addr.startswith("0x") and len(addr) == 42
    assert oct(ks.stat().st_mode & 0o777) == "0o600"
    assert obrain("keystore", "address", str(ks)).stdout.strip().lower() == addr.lower()
    assert signer(args(keystore=str(ks), password_file=str(pw)), PUBLIC).address == addr
    again = obrain("keystore", "new", "--out", str(ks), "--password-file", str(pw))
    assert again.returncode == 2 and "exists" in again.stderr  # never overwritten
    wrong = tmp_path / "wrong"
    wrong.write_text("battery staple\n")
    with pytest.raises(UsageError, match="wrong password"):
        signer(args(keystore=str(ks), password_file=str(wrong)), PUBLIC)
    with pytest.raises(UsageError, match="password-file"):  # no terminal here to prompt on
        signer(args(keystore=str(ks)), PUBLIC)

    imp = tmp_path / "imported.json"
    r = obrain("keystore", "import", "--out", str(imp), "--password-file", str(pw), stdin=KEY + "\n")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == Account.from_key(KEY).address
    assert KEY[2:] not in imp.read_text()  # encrypted
    assert signer(args(keystore=str(imp), password_file=str(pw)), PUBLIC).address == Account.from_key(KEY).address


def test_bad_key_material_exits_2_without_a_traceback(tmp_path):
    junk = tmp_path / "junk.json"
    junk.write_text("{not json")
    for r in (
        obrain("keystore", "import", "--out", str(tmp_path / "x.json"), "--password-file", str(junk), stdin="zz\n"),
        obrain("claims", "--deployment", str(junk)),
        obrain("keystore", "address", str(tmp_path / "missing.json")),
    ):
        assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr


@pytest.mark.parametrize(
    "url, kept",
    [
        ("http://127.0.0.1:8545", True),
        ("http://localhost:8545/", True),
        ("https://eth-sepolia.example.org/v2/SECRETKEY", False),
        ("http://127.0.0.1:8545/?apikey=SECRET", False),
        ("http://user:SECRET@127.0.0.1:8545", False),
        ("https://rpc.example.org", False),
    ],
)
def test_only_a_loopback_url_without_secrets_is_stored(url, kept):
    assert (storable_url(url) == url) is kept


@pytest.mark.chain  # starts its own anvil
def test_no_key_on_a_public_chain_is_bad_input_and_nothing_leaks(tmp_path):
    """deploy to a chain that is not anvil's dev chain, with no key: exit 2, the URL's secret never printed."""
    from prover.chain import start_anvil

    with start_anvil(chain_id=11155111, extra_args=("--accounts", "0")) as node:
        url = node.url + "/?apikey=SUPERSECRET"
        r = obrain("deploy", "--out", str(tmp_path / "d.json"), "-q", env={"ETH_RPC_URL": url})
        assert r.returncode == 2 and "no key to sign with" in r.stderr and "Traceback" not in r.stderr
        r = obrain("deploy", "--dev-account", "1", "--out", str(tmp_path / "d.json"), "-q", env={"ETH_RPC_URL": url})
        assert r.returncode == 2 and "dev chains" in r.stderr
        # an unfunded key: the chain refuses; exit 3, one line, the URL's key nowhere
        r = obrain("deploy", "--out", str(tmp_path / "d.json"), "-q", env={"ETH_RPC_URL": url, "ETH_PRIVATE_KEY": KEY})
        assert r.returncode == 3, r.stderr
        assert "Traceback" not in r.stderr and "SUPERSECRET" not in r.stderr and KEY[2:] not in r.stderr
        assert len([ln for ln in r.stderr.splitlines() if ln.strip()]) == 1, r.stderr
        assert not (tmp_path / "d.json").exists()
    r = obrain(
        "claims", "--deployment", str(tmp_path / "d.json"), env={"ETH_RPC_URL": "http://127.0.0.1:9/v3/SUPERSECRET"}
    )
    assert r.returncode == 2 and "SUPERSECRET" not in r.stderr
    (tmp_path / "d.json").write_text('{"chain_id": 1, "registry": "0x' + "00" * 20 + '"}')
    r = obrain(
        "claims", "--deployment", str(tmp_path / "d.json"), env={"ETH_RPC_URL": "http://127.0.0.1:9/v3/SUPERSECRET"}
    )
    assert r.returncode == 2 and "SUPERSECRET" not in r.stderr and "cannot use the chain" in r.stderr
