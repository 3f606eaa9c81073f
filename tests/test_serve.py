"""`obrain serve` through the real `openai` client: chat, streaming chat, completion; every receipt verifies; the
refusals (400), the unknown (404) and the busy answer (429 with Retry-After)."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import openai
import pytest
import uvicorn

from prover.cli import main as cli
from prover.serve.app import build_app
from prover.serve.openai_api import Served
from prover.serve.worker import RUN_FILES, Engine


def _served(lm, root: str) -> Served:
    return Served(
        model_id="tiny",
        names=frozenset({"tiny", root}),
        max_tokens=8,
        temperature_q16=0,
        top_k=32,
        seed=0,
        stop_strings=frozenset(lm.tokenizer.decode([t]) for t in lm.stop_ids),
    )


@contextlib.contextmanager
def serving(lm, engine: Engine):
    """The app over engine, on uvicorn in a thread, on a free port: (url, root)."""
    import socket

    from prover.commit.model import model_commitment

    root = "0x" + model_commitment(lm).model_root.hex()
    app = build_app(engine, _served(lm, root), model_root=root, context=lm.program.context)
    sock = socket.create_server(("127.0.0.1", 0))
    srv = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    th = threading.Thread(target=srv.run, kwargs={"sockets": [sock]}, daemon=True)
    th.start()
    while not srv.started:
        th.join(0.01)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}", root
    finally:
        srv.should_exit = True
        th.join(30)
        engine.close()


@pytest.fixture(scope="module")
def server(lm, tmp_path_factory):
    """The app over the session's tiny model, on uvicorn in a thread, on a free port."""
    engine = Engine(lm, "tiny", tmp_path_factory.mktemp("serve-runs"), queue=0)
    with serving(lm, engine) as (url, root):
        yield url, engine, root


@pytest.fixture(scope="module")
def client(server):
    return openai.OpenAI(base_url=server[0] + "/v1", api_key="unused", max_retries=0)


def fetch_and_verify(url: str, block: dict, dest: Path) -> dict:
    """Download a receipt's files as a verifier would and run `obrain verify` on them; the receipt JSON."""
    dest.mkdir(parents=True)
    for name in RUN_FILES:
        with urllib.request.urlopen(url + block["files"][name]) as r:
            (dest / name).write_bytes(r.read())
    rc = json.loads((dest / "receipt.json").read_text())
    with urllib.request.urlopen(url + block["url"]) as r:
        assert json.loads(r.read()) == rc
    assert cli(["verify", str(dest / "receipt.json"), "-q"]) == 0
    for field, path in [("model_root", ("model", "model_root")), ("trace_root", ("trace", "trace_root"))]:
        assert block[field] == rc[path[0]][path[1]]
    assert (block["input_hash"], block["output_hash"]) == (rc["input"]["input_hash"], rc["output"]["output_hash"])
    assert block["step_count"] == rc["trace"]["step_count"]
    return rc


def test_models(client, server):
    ms = client.models.list().data
    assert [m.id for m in ms] == ["tiny"] and ms[0].model_extra["model_root"] == server[2]


def test_chat_completion_has_a_receipt_that_verifies(client, server, tmp_path, capsys):
    r = client.chat.completions.create(
        model="tiny",
        messages=[{"role": "user", "content": "hello"}],
        max_tokens=5,
        temperature=0.7,
        seed=11,
        extra_body={"top_k": 5},
    )
    block = r.model_extra["receipt"]
    assert r.id == "chatcmpl-" + block["id"] and r.choices[0].finish_reason in ("stop", "length")
    rc = fetch_and_verify(server[0], block, tmp_path / "chat")
    assert r.choices[0].message.content == rc["output"]["text"]
    # the request's settings, exactly: 0.7 is the decimal 0.7, rounded half up to Q16 (45875.2 -> 45875)
    assert rc["settings"] == {"max_new_tokens": 5, "temperature_q16": 45875, "top_k": 5, "seed": 11}
    assert rc["input"]["chat"] is True and rc["input"]["messages"] == [{"role": "user", "content": "hello"}]
    assert r.usage.completion_tokens == len(rc["output"]["tokens"])
    assert cli(["verify", server[0] + block["url"], "-q"]) == 0  # `obrain verify URL` fetches the files itself


def test_a_conversation_with_a_system_message_verifies(client, server, tmp_path, capsys):
    msgs = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "hello"},
        {"role": "user", "content": [{"type": "text", "text": "bye"}]},
    ]
    r = client.chat.completions.create(model="tiny", messages=msgs, max_tokens=3)
    rc = fetch_and_verify(server[0], r.model_extra["receipt"], tmp_path / "conv")
    assert rc["input"]["messages"][0] == {"role": "system", "content": "Be brief."}
    assert rc["input"]["messages"][3] == {"role": "user", "content": "bye"}


def test_streaming_chat_adds_up_to_its_receipt(client, server, tmp_path, capsys):
    stream = client.chat.completions.create(
        model="tiny",
        messages=[{"role": "user", "content": "hello there"}],
        max_tokens=6,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    finals = [c for c in chunks if c.choices and c.choices[0].finish_reason]
    assert len(finals) == 1 and len({c.id for c in chunks}) == 1
    block = finals[0].model_extra["receipt"]
    assert chunks[-1].usage.completion_tokens >= 1  # include_usage: the last chunk
    rc = fetch_and_verify(server[0], block, tmp_path / "stream")
    assert text == rc["output"]["text"]
    # the same request unstreamed gives the same answer and the same trace
    r = client.chat.completions.create(
        model="tiny", messages=[{"role": "user", "content": "hello there"}], max_tokens=6
    )
    assert r.choices[0].message.content == text and r.model_extra["receipt"]["trace_root"] == block["trace_root"]


def test_completion_and_streaming_completion(client, server, tmp_path, capsys):
    r = client.completions.create(model="tiny", prompt="once upon", max_tokens=4)
    rc = fetch_and_verify(server[0], r.model_extra["receipt"], tmp_path / "cmpl")
    assert r.choices[0].text == rc["output"]["text"] and rc["input"]["chat"] is False
    parts = list(client.completions.create(model="tiny", prompt="once upon", max_tokens=4, stream=True))
    assert "".join(p.choices[0].text for p in parts) == r.choices[0].text
    assert parts[-1].model_extra["receipt"]["trace_root"] == r.model_extra["receipt"]["trace_root"]


@pytest.mark.parametrize(
    "extra, param",
    [
        ({"stop": ["\n"]}, "stop"),
        ({"n": 2}, "n"),
        ({"top_p": 0.5}, "top_p"),
        ({"presence_penalty": 1}, "presence_penalty"),
        ({"logprobs": True}, "logprobs"),
        ({"top_k": 33}, "top_k"),
        ({"temperature": -1}, "temperature"),
        ({"seed": -1}, "seed"),
        ({"max_tokens": 0}, "max_tokens"),
        ({"frobnicate": 1}, "frobnicate"),
    ],
)
def test_unsupported_fields_are_refused_with_400(client, extra, param):
    with pytest.raises(openai.BadRequestError) as e:
        client.chat.completions.create(
            model="tiny", messages=[{"role": "user", "content": "hi"}], max_tokens=2, extra_body=extra
        )
    assert e.value.status_code == 400 and e.value.body["param"] == param


def test_the_models_own_stop_set_is_accepted(client, lm):
    stops = [lm.tokenizer.decode([t]) for t in lm.stop_ids]
    r = client.chat.completions.create(
        model="tiny", messages=[{"role": "user", "content": "hi"}], max_tokens=2, stop=stops
    )
    assert r.model_extra["receipt"]["step_count"] > 0


def test_other_requests_refused(client, server):
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}])
    for msgs in ([], [{"role": "user", "content": "hi", "name": "x"}], [{"role": "wizard", "content": "hi"}]):
        with pytest.raises(openai.BadRequestError):
            client.chat.completions.create(model="tiny", messages=msgs)
    with pytest.raises(openai.BadRequestError, match="context"):
        client.completions.create(model="tiny", prompt="word " * 400, max_tokens=2)
    url = server[0]
    for path in ("/v1/receipts/" + "0" * 24, "/v1/receipts/..%2F..%2Fetc", "/v1/receipts/abc/files/operator.json"):
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(url + path)
        assert e.value.code == 404
    req = urllib.request.Request(url + "/v1/completions", data=b"{not json", method="POST")
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(req)
    assert e.value.code == 400 and json.loads(e.value.read())["error"]["code"] == "invalid_json"


def test_a_full_queue_answers_429_with_retry_after(client, server):
    """--queue 0: while one request holds the only place, the next is refused with 429 and Retry-After."""
    _, engine, _ = server
    assert engine.admit()  # the place a running request would hold
    try:
        with pytest.raises(openai.RateLimitError) as e:
            client.completions.create(model="tiny", prompt="hi", max_tokens=2)
        assert e.value.status_code == 429 and int(e.value.response.headers["Retry-After"]) >= 1
        assert e.value.body["code"] == "queue_full"
    finally:
        engine.release()
    assert client.completions.create(model="tiny", prompt="hi", max_tokens=2).choices[0].text is not None


def test_admission_counts_running_and_waiting(lm, tmp_path):
    e = Engine(lm, "tiny", tmp_path, queue=2)
    assert [e.admit() for _ in range(4)] == [True, True, True, False]  # one running + two waiting
    e.release()
    assert e.admit() and not e.admit()
    e.close()


def test_the_event_loop_answers_while_the_engine_thread_is_busy(client, server):
    """The worker thread held on an Event: /v1/models and /health still answer, and a request waits its turn."""
    url, engine, _ = server
    go = threading.Event()
    engine.pool.submit(go.wait)  # the engine thread is busy until go is set
    try:
        assert [m.id for m in client.models.list().data] == ["tiny"]
        with urllib.request.urlopen(url + "/health") as r:
            assert json.loads(r.read())["status"] == "ok"
        out: list = []
        t = threading.Thread(
            target=lambda: out.append(client.completions.create(model="tiny", prompt="hi", max_tokens=2))
        )
        t.start()
        t.join(0.5)
        assert not out  # queued behind the busy engine thread, not answered
    finally:
        go.set()
    t.join(120)
    assert out and out[0].model_extra["receipt"]["step_count"] > 0


def _open_client(url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=url + "/v1", api_key="unused", max_retries=0)


def test_a_dishonest_stream_shows_what_it_commits(client, server, lm, tmp_path):
    """--dishonest-output: the streamed text is the claimed output's (the receipt's), not the computed one, for
    chat and completion streams alike."""
    from prover.dispute.lies import Lie

    msgs = [{"role": "user", "content": "hello there"}]
    honest = client.chat.completions.create(model="tiny", messages=msgs, max_tokens=6)
    rc = json.loads(urllib.request.urlopen(server[0] + honest.model_extra["receipt"]["url"]).read())
    toks = rc["output"]["tokens"]
    stops = set(lm.stop_ids)
    tok = next(t for t in range(100, 200) if t != toks[1] and t not in stops)  # an ordinary token, not its own
    engine = Engine(lm, "tiny", tmp_path / "runs", queue=0, lie=Lie(output=(1, tok)))
    with serving(lm, engine) as (url, _):
        liar = _open_client(url)
        chunks = list(liar.chat.completions.create(model="tiny", messages=msgs, max_tokens=6, stream=True))
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        block = next(c for c in chunks if c.choices and c.choices[0].finish_reason).model_extra["receipt"]
        lied = json.loads(urllib.request.urlopen(url + block["url"]).read())
        assert lied["output"]["tokens"][1] == tok and lied["output"]["tokens"] != toks
        assert text == lied["output"]["text"] != honest.choices[0].message.content
        parts = list(liar.completions.create(model="tiny", prompt="once upon", max_tokens=4, stream=True))
        lied = json.loads(urllib.request.urlopen(url + parts[-1].model_extra["receipt"]["url"]).read())
        assert "".join(p.choices[0].text for p in parts) == lied["output"]["text"]
        assert (
            liar.completions.create(model="tiny", prompt="once upon", max_tokens=4).choices[0].text
            == (lied["output"]["text"])
        )


@contextlib.contextmanager
def _held_runs(engine: Engine, monkeypatch):
    """Every run waits at its start until the engine has been asked to cancel it (or 60 s pass): a client can
    leave while its request is surely running."""
    import prover.runner as runner

    real = runner.traced_generate
    started = threading.Event()

    def held(*a, **kw):
        started.set()
        t0 = time.monotonic()
        while engine.cancelled == before and time.monotonic() - t0 < 60:
            time.sleep(0.01)
        return real(*a, **kw)

    before = engine.cancelled
    monkeypatch.setattr(runner, "traced_generate", held)
    yield started
    monkeypatch.setattr(runner, "traced_generate", real)


def _wait(cond, limit: float = 60.0) -> None:
    t0 = time.monotonic()
    while not cond() and time.monotonic() - t0 < limit:
        time.sleep(0.01)


def test_a_client_that_leaves_a_stream_cancels_its_run(client, server, monkeypatch):
    """The openai client closes a streamed chat after its first chunk: the run stops (no receipt), its place in
    the queue is freed, and the next request is answered."""
    url, engine, _ = server
    runs = set(engine.runs_dir.iterdir())
    before = engine.cancelled
    with _held_runs(engine, monkeypatch) as started:
        stream = client.chat.completions.create(
            model="tiny", messages=[{"role": "user", "content": "tell me a story"}], max_tokens=100, stream=True
        )
        first = next(iter(stream))
        assert first.choices[0].delta.role == "assistant"
        assert started.wait(60)
        stream.close()
        _wait(lambda: engine.admitted == 0)
    assert engine.cancelled == before + 1 and engine.admitted == 0
    assert set(engine.runs_dir.iterdir()) == runs  # no run directory: the run stopped before its receipt
    assert client.completions.create(model="tiny", prompt="hi", max_tokens=2).choices[0].text is not None


def test_a_client_that_abandons_a_request_cancels_its_run(server, monkeypatch):
    """A non-streamed request whose client hangs up mid-run: the run is cancelled and the worker freed."""
    url, engine, _ = server
    before = engine.cancelled
    host, port = url.removeprefix("http://").split(":")
    body = json.dumps({"model": "tiny", "prompt": "once upon", "max_tokens": 50}).encode()
    with _held_runs(engine, monkeypatch) as started:
        s = socket.create_connection((host, int(port)))
        s.sendall(
            b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            + f"Content-Length: {len(body)}\r\n\r\n".encode()
            + body
        )
        assert started.wait(60)
        s.close()
        _wait(lambda: engine.admitted == 0)
    assert engine.cancelled == before + 1 and engine.admitted == 0


def test_submit_runs_each_answer_once(chain, lm, tmp_path, monkeypatch):
    """`serve --submit`: an answer's claim is posted from the answer's own run (its digest), and a game an adversary
    opens on it is won from that digest: one engine run in all."""
    from gamekit import Adversary, quiet

    import prover.dispute.agent as agent_mod
    import prover.runner as runner
    from engine.generate import GenSettings
    from prover.chain.deploy import deploy_one_step
    from prover.chain.registry import GameClient
    from prover.commit.trace import Corruption
    from prover.dispute.protocol import ClaimStatus, Result
    from prover.serve.openai_api import completion_job
    from prover.serve.submitter import Submitter

    bond = 10**15
    gc = GameClient.deploy(
        chain,
        claim_bond=bond,
        challenge_bond=bond,
        challenge_window=10**5,
        replay_micros=1,
        move_window=10**4,
        k=2,
        one_step=deploy_one_step(chain).address,
    )
    logs: list[str] = []
    sub = Submitter(gc, lm, 1, poll=0, log=logs.append)  # stepped by hand: no thread
    engine = Engine(lm, "tiny", tmp_path / "runs", on_answer=lambda a, path, run: sub.put(a.rid, path, run))
    job = completion_job({"prompt": "once upon", "max_tokens": 3}, _served(lm, "0x"))
    ids = engine.encode(job)
    adv = Adversary(gc, lm, 2, ids, GenSettings(max_new_tokens=3), Corruption(30, 0, 1))  # before the count
    runs = [0]
    for mod in (runner, agent_mod):
        real = mod.traced_generate

        def counted(*a, real=real, **kw):
            runs[0] += 1
            return real(*a, **kw)

        monkeypatch.setattr(mod, "traced_generate", counted)
    ans = engine.submit(engine.new_id(), job, ids).result()
    sub.step()
    cid = sub.claims[ans.rid]
    assert runs[0] == 1, logs  # the answer's run; posting it ran nothing
    gid = adv.open(cid)
    for _ in range(4):
        quiet(sub.step, adv)
        if gc.game(gid).over:
            break
        gc.chain.increase_time(gc.move_window + 1)
    assert Result(gc.game(gid).result) == Result.DEFENDER_WON, logs
    assert runs[0] == 1 and gc.claim(cid).status == ClaimStatus.PENDING
    engine.close()
