"""`obrain serve`: the OpenAI-compatible server (prover.serve), with llama-server's flags where they apply."""

from __future__ import annotations

from .common import EXIT_OK, UsageError, console, load_model, nonneg, positive, q16, topk
from .keys import chain_args, game_client


def cmd_serve(a) -> int:
    import signal
    import socket
    from pathlib import Path

    import uvicorn

    from prover.commit.model import model_commitment
    from prover.commit.trace import Corruption
    from prover.dispute.lies import Lie
    from prover.serve.app import build_app
    from prover.serve.openai_api import Served
    from prover.serve.worker import Engine

    if a.model is None:
        raise UsageError("no model: obrain serve -m MODEL (tiny, smollm2, a .gguf path)")
    lie = Lie(
        corruption=Corruption(*a.dishonest) if a.dishonest else None,
        output=tuple(a.dishonest_output) if a.dishonest_output else None,
    )
    gc = game_client(a) if a.submit else None  # a bad deployment, URL or key fails before the model loads
    sender = None
    if gc is not None:
        from .keys import signer

        sender = signer(a, gc.chain)
    lm = load_model(a.model, a.context, a.quiet)
    mc = model_commitment(lm)
    root = "0x" + mc.model_root.hex()
    stop = frozenset(lm.tokenizer.decode([t]) for t in lm.stop_ids)  # the model's own stop set (in its root)
    served = Served(
        model_id=a.model,
        names=frozenset({a.model, Path(a.model).stem, lm.config.name, root}),
        max_tokens=a.max_new_tokens,
        temperature_q16=a.temperature,
        top_k=a.top_k,
        seed=a.seed,
        stop_strings=stop,
    )
    con = console()
    log = lambda m: con.print(f"[dim]{m}[/dim]", soft_wrap=True)  # noqa: E731
    submitter = None
    if gc is not None:
        from prover.serve.submitter import Submitter

        submitter = Submitter(gc, lm, sender, lie=lie, poll=a.poll, log=log).start()
    on_answer = (lambda ans, path, run: submitter.put(ans.rid, path, run)) if submitter else None
    engine = Engine(lm, a.model, Path(a.runs_dir), queue=a.queue, lie=lie, on_answer=on_answer)
    app = build_app(engine, served, model_root=root, context=mc.context, submitting=submitter is not None)
    try:
        sock = socket.create_server((a.host, a.port), family=socket.AF_INET6 if ":" in a.host else socket.AF_INET)
    except OSError as e:
        raise UsageError(f"cannot listen on {a.host}:{a.port}: {e}") from None
    host, port = sock.getsockname()[:2]
    url = f"http://{'[' + host + ']' if ':' in host else host}:{port}"
    print(url, flush=True)  # the first stdout line, for scripts
    con.print(
        f"[green]serving[/green] {a.model} ({root[:14]}..) on {url}/v1 (queue {a.queue}); receipts in {a.runs_dir}"
        + (f"; claims to {gc.address} as {sender.address}" if gc else ""),
        soft_wrap=True,
    )
    if not lie.honest:
        con.print("[yellow]dishonest server (demo/test mode)[/yellow]: every receipt carries the lie")
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=not a.quiet, lifespan="off"))
    # uvicorn stops on SIGINT/SIGTERM, then re-raises the signal under the handlers it found: make those
    # no-ops, so the clean-up below runs and the exit code is 0
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: None)
    try:
        server.run(sockets=[sock])
    finally:
        engine.close()
        if submitter is not None:
            submitter.stop()
            if submitter.open:
                ids = " ".join(str(c) for c in sorted(submitter.open))
                con.print(
                    f"[yellow]claims still open[/yellow]: {ids} (defend them: obrain defend ID --model {a.model})"
                )
    return EXIT_OK


def add_parsers(sub) -> None:
    s = sub.add_parser(
        "serve",
        help="an OpenAI-compatible HTTP server; every answer has a receipt",
        description="Serve one model over the OpenAI API (/v1/models, /v1/chat/completions, /v1/completions, "
        "streaming or not); every answer is a traced run whose receipt id, model root, trace root and input and "
        "output hashes ride in its `receipt` field, with the files a verifier needs at /v1/receipts/{id}. One "
        "request runs at a time; --queue more wait; beyond that the answer is 429 with Retry-After. With "
        "--submit every answer's claim is posted with a bond and defended. Prints its URL on stdout.",
    )
    s.add_argument(
        "-m", "--model", metavar="MODEL", help="'tiny', 'smollm2', a .gguf path, or a native model directory"
    )
    s.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    s.add_argument("--port", type=int, default=8080, help="port (default 8080; 0 picks a free one)")
    s.add_argument(
        "--queue", type=nonneg, default=8, metavar="N", help="requests that may wait behind the running one (default 8)"
    )
    s.add_argument(
        "-n",
        "--max-new-tokens",
        "--n-predict",
        type=positive,
        default=64,
        metavar="N",
        help="default max_tokens (default 64)",
    )
    s.add_argument(
        "-c",
        "--context",
        "--ctx-size",
        type=positive,
        default=None,
        metavar="C",
        help="context length in positions; default and cap: the model's, at most 1024 (the llama template's cap)",
    )
    s.add_argument(
        "--temperature", "--temp", type=q16, default=0, metavar="T", help="default temperature (default 0: greedy)"
    )
    s.add_argument("--top-k", type=topk, default=32, metavar="K", help="default top_k, 1..32 (default 32)")
    s.add_argument("-s", "--seed", type=nonneg, default=0, metavar="S", help="default seed (default 0)")
    s.add_argument(
        "--runs-dir", default="runs/serve", metavar="DIR", help="where run directories go (default runs/serve)"
    )
    s.add_argument("--submit", action="store_true", help="post every answer's claim with a bond and defend it")
    s.add_argument(
        "--dishonest",
        nargs=3,
        type=int,
        metavar=("STEP", "ELEMENT", "DELTA"),
        help="demo/test only: every answer's trace has DELTA added to element ELEMENT of step STEP",
    )
    s.add_argument(
        "--dishonest-output",
        nargs=2,
        type=nonneg,
        metavar=("INDEX", "TOKEN"),
        help="demo/test only: every answer claims generated token INDEX is TOKEN",
    )
    chain_args(s)
    s.set_defaults(func=cmd_serve)
