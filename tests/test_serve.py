"""`obrain serve` through the real `openai` client: chat, streaming chat, completion; every receipt verifies; the
refusals (400), the unknown (404) and the busy answer (429 with Retry-After)."""

from __future__ import annotations

import json
import threading
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


@pytest.fixture(scope="module")
def server(lm, tmp_path_factory):
    """The app over the session's tiny model, on uvicorn in a thread, on a free port."""
    import socket

    from prover.commit.model import model_commitment

    runs = tmp_path_factory.mktemp("serve-runs")
    root = "0x" + model_commitment(lm).model_root.hex()
    served = Served(
        model_id="tiny",
        names=frozenset({"tiny", root}),
        max_tokens=8,
        temperature_q16=0,
        top_k=32,
        seed=0,
        stop_strings=frozenset(lm.tokenizer.decode([t]) for t in lm.stop_ids),
    )
    engine = Engine(lm, "tiny", runs, queue=0)
    app = build_app(engine, served, model_root=root, context=lm.program.context)
    sock = socket.create_server(("127.0.0.1", 0))
    srv = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    th = threading.Thread(target=srv.run, kwargs={"sockets": [sock]}, daemon=True)
    th.start()
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    while not srv.started:
        th.join(0.01)
    yield url, engine, root
    srv.should_exit = True
    th.join(30)
    engine.close()


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
