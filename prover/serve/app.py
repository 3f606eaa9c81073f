"""The HTTP side of `obrain serve`: an OpenAI-compatible API (Starlette on uvicorn) whose every answer has a receipt.

    GET  /v1/models                                   the one served model (with its model root)
    POST /v1/chat/completions, /v1/completions        OpenAI bodies (prover.serve.openai_api); "stream": true
                                                      answers in server-sent events, `data: {...}` chunks and
                                                      a final `data: [DONE]`
    GET  /v1/receipts/{id}                            the answer's receipt.json (its `chain` field is filled
                                                      once `--submit` has posted the claim)
    GET  /v1/receipts/{id}/files/{name}               receipt.json, steps.bin, records.bin: what `obrain verify`
                                                      reads (save them in one folder and verify receipt.json)
    GET  /health                                      {"status": "ok", "queue": {...}}

Every answer carries `receipt`: {id, url, model_root, input_hash, output_hash, trace_root, step_count, files};
in a stream it rides on the chunk with the finish_reason. A full queue answers 429 with Retry-After. A client
that goes away (a stream closed early, a request abandoned) cancels its run: the worker moves on to the next.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from .openai_api import ApiError, Served, chat_job, completion_job, parse_body
from .worker import RUN_FILES, Answer, Engine


def receipt_block(a: Answer, submitting: bool) -> dict:
    r = a.receipt
    url = f"/v1/receipts/{a.rid}"
    return {
        "id": a.rid,
        "url": url,
        "model_root": r.model.model_root,
        "input_hash": r.input.input_hash,
        "output_hash": r.output.output_hash,
        "trace_root": r.trace.trace_root,
        "step_count": r.trace.step_count,
        "files": {n: f"{url}/files/{n}" for n in RUN_FILES},
        "claim": "submitting" if submitting else None,
    }


def _usage(a: Answer) -> dict:
    n = len(a.tokens)
    return {"prompt_tokens": a.prompt_tokens, "completion_tokens": n, "total_tokens": a.prompt_tokens + n}


def _err(e: ApiError) -> JSONResponse:
    return JSONResponse(e.body(), status_code=e.status, headers=e.headers)


class Api:
    """The routes over one Engine (``Api(...).app`` is the Starlette app)."""

    def __init__(self, engine: Engine, served: Served, *, model_root: str, context: int, submitting: bool = False):
        self.engine, self.served, self.submitting = engine, served, submitting
        self.model_card = {
            "id": served.model_id,
            "object": "model",
            "created": 0,
            "owned_by": "openbrains",
            "model_root": model_root,
            "context": context,
        }
        routes = [
            Route("/v1/models", self.models),
            Route("/health", self.health),
            Route("/v1/chat/completions", self.chat, methods=["POST"]),
            Route("/v1/completions", self.completions, methods=["POST"]),
            Route("/v1/receipts/{rid}", self.receipt),
            Route("/v1/receipts/{rid}/files/{name}", self.receipt_file),
        ]
        handlers = {HTTPException: self.http_error, Exception: self.internal_error}
        self.app = Starlette(routes=routes, exception_handlers=handlers)

    async def models(self, _req: Request) -> Response:
        return JSONResponse({"object": "list", "data": [self.model_card]})

    async def health(self, _req: Request) -> Response:
        e = self.engine
        return JSONResponse({"status": "ok", "queue": {"admitted": e.admitted, "depth": e.queue}})

    async def chat(self, req: Request) -> Response:
        return await self.complete(req, chat_job, "chat")

    async def completions(self, req: Request) -> Response:
        return await self.complete(req, completion_job, "completion")

    def _admit(self, body: bytes, make_job: Callable):
        """The checked job and its prompt tokens, with a place in the queue; ApiError otherwise."""
        from engine.errors import PromptError

        job = make_job(parse_body(body), self.served)
        try:
            ids = self.engine.encode(job)
        except PromptError as e:
            raise ApiError(400, str(e), param="messages" if job.chat else "prompt", code="invalid_prompt") from None
        if not self.engine.admit():
            raise ApiError(
                429,
                f"busy: one request running and {self.engine.queue} waiting; try again later",
                code="queue_full",
                headers={"Retry-After": str(self.engine.retry_after())},
            )
        return job, ids

    async def complete(self, req: Request, make_job: Callable, kind: str) -> Response:
        try:
            job, ids = self._admit(await req.body(), make_job)
        except ApiError as e:
            return _err(e)
        eng, model = self.engine, self.served.model_id
        loop = asyncio.get_running_loop()
        created, rid = int(time.time()), eng.new_id()
        if not job.stream:
            fut = eng.submit(rid, job, ids)
            fut.add_done_callback(lambda _f: loop.call_soon_threadsafe(eng.release))
            answer = asyncio.wrap_future(fut)
            answer.add_done_callback(lambda f: f.cancelled() or f.exception())  # read, also when nobody awaits it
            gone = asyncio.ensure_future(_disconnected(req))  # a client that leaves frees the worker
            try:
                done, _ = await asyncio.wait({answer, gone}, return_when=asyncio.FIRST_COMPLETED)
                if answer not in done:
                    eng.cancel(rid, fut)
                    return Response(status_code=499)  # nobody reads it
            finally:
                gone.cancel()
            return JSONResponse(_answer(kind, model, created, await answer, self.submitting))
        pieces: asyncio.Queue = asyncio.Queue()
        fut = eng.submit(rid, job, ids, on_piece=lambda p: loop.call_soon_threadsafe(pieces.put_nowait, p))
        fut.add_done_callback(lambda _f: loop.call_soon_threadsafe(eng.release))
        fut.add_done_callback(lambda _f: loop.call_soon_threadsafe(pieces.put_nowait, None))
        return StreamingResponse(
            _cancel_on_exit(
                _events(kind, model, created, rid, pieces, fut, job.include_usage, self.submitting),
                lambda: eng.cancel(rid, fut),
            ),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )

    async def receipt(self, req: Request) -> Response:
        d = self.engine.run_dir(req.path_params["rid"])
        if d is None:
            return _err(ApiError(404, "no such receipt", code="receipt_not_found"))
        return Response((d / "receipt.json").read_bytes(), media_type="application/json")

    async def receipt_file(self, req: Request) -> Response:
        d = self.engine.run_dir(req.path_params["rid"])
        name = req.path_params["name"]
        if d is None or name not in RUN_FILES:
            return _err(ApiError(404, f"no such file (files: {', '.join(RUN_FILES)})", code="file_not_found"))
        kind = "application/json" if name.endswith(".json") else "application/octet-stream"
        return FileResponse(d / name, media_type=kind)

    async def http_error(self, _req: Request, exc: HTTPException) -> Response:
        return _err(ApiError(exc.status_code, str(exc.detail), code="http_error"))

    async def internal_error(self, _req: Request, exc: Exception) -> Response:
        return _err(ApiError(500, f"internal error: {type(exc).__name__}: {exc}", code="internal_error"))


def build_app(engine: Engine, served: Served, **kw) -> Starlette:
    """The Starlette app over one Engine (keywords: model_root, context, submitting)."""
    return Api(engine, served, **kw).app


async def _disconnected(req: Request) -> None:
    """Returns when the client has gone (the ASGI http.disconnect; the body is already read)."""
    while (await req.receive())["type"] != "http.disconnect":
        pass


async def _cancel_on_exit(events, cancel: Callable[[], None]):
    """The SSE events; if they stop before the end (the client went away: Starlette cancels the stream), cancel
    the run, so the worker is free for the next request."""
    finished = False
    try:
        async for ev in events:
            yield ev
        finished = True
    finally:
        if not finished:
            cancel()


def _answer(kind: str, model: str, created: int, a: Answer, submitting: bool) -> dict:
    if kind == "chat":
        choice = {
            "index": 0,
            "message": {"role": "assistant", "content": a.text},
            "finish_reason": a.finish_reason,
            "logprobs": None,
        }
        obj, prefix = "chat.completion", "chatcmpl-"
    else:
        choice = {"index": 0, "text": a.text, "finish_reason": a.finish_reason, "logprobs": None}
        obj, prefix = "text_completion", "cmpl-"
    return {
        "id": prefix + a.rid,
        "object": obj,
        "created": created,
        "model": model,
        "choices": [choice],
        "usage": _usage(a),
        "receipt": receipt_block(a, submitting),
    }


async def _events(kind, model, created, rid, pieces: asyncio.Queue, fut, include_usage: bool, submitting: bool):
    """SSE: a chunk per text piece, the finishing chunk with the receipt, usage if asked, then [DONE]."""
    obj = "chat.completion.chunk" if kind == "chat" else "text_completion"
    cid = ("chatcmpl-" if kind == "chat" else "cmpl-") + rid

    def chunk(choice: dict | None, **extra) -> str:
        body = {"id": cid, "object": obj, "created": created, "model": model, "choices": [choice] if choice else []}
        return "data: " + json.dumps({**body, **extra}) + "\n\n"

    def piece_choice(text: str | None, finish: str | None) -> dict:
        if kind == "chat":
            delta = {} if text is None else {"content": text}
            return {"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}
        return {"index": 0, "text": text or "", "finish_reason": finish, "logprobs": None}

    if kind == "chat":
        yield chunk(
            {"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None, "logprobs": None}
        )
    while True:
        p = await pieces.get()
        if p is None:
            break
        yield chunk(piece_choice(p, None))
    try:
        a: Answer = fut.result()
    except Exception as e:  # the stream has begun: the error goes in-band
        yield "data: " + json.dumps(ApiError(500, f"internal error: {type(e).__name__}: {e}").body()) + "\n\n"
        yield "data: [DONE]\n\n"
        return
    yield chunk(piece_choice(None, a.finish_reason), receipt=receipt_block(a, submitting))
    if include_usage:
        yield chunk(None, usage=_usage(a))
    yield "data: [DONE]\n\n"
