"""OpenAI-compatible request bodies, checked and turned into engine jobs; and the answers' JSON shapes.

A body is parsed with exact decimals (``temperature: 0.7`` is the decimal 0.7, rounded half up to Q16 as on
the command line: no float touches a committed value). Every field either maps to a committed generation
setting, is a no-op at its default, or is refused with a 400 that names it:

| field | meaning |
|---|---|
| model | the served model's id (as given to `-m`), its name, or its model root; absent: the served model |
| messages (chat) | {role, content} each (system/user/assistant/tool; text), in the model file's own chat template |
| prompt (completions) | one string (or a list holding one), used as is (no template) |
| temperature | 0 <= T < 32768 (default: the server's `--temp`); 0 = greedy |
| top_k (extra body) | 1..32 (default: the server's `--top-k`) |
| seed | 0 <= S < 2^63 (default: the server's `--seed`) |
| max_tokens, max_completion_tokens | 1.. (default: the server's `-n`); both given: equal |
| stop | only the model's own stop set (e.g. "<\\|im_end\\|>"): the claim commits to that rule and no other |
| n, best_of | 1 only |
| stream, stream_options.include_usage | server-sent events |
| user | ignored (it does not change the answer) |
| top_p 1, frequency_penalty 0, presence_penalty 0, logprobs false, echo false, logit_bias {}, suffix null, |  |
| response_format text, tools [] | accepted as the no-ops they are; any other value is refused |
| anything else | refused |
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from typing import Any

from engine.generate import GenSettings

TOPK_MAX = 32  # engine.models.llama.TOPK
NOOP_DEFAULTS: dict[str, tuple] = {
    "top_p": (1,),
    "frequency_penalty": (0,),
    "presence_penalty": (0,),
    "logprobs": (False, None),
    "top_logprobs": (None, 0),
    "echo": (False,),
    "logit_bias": (None,),
    "suffix": (None,),
    "tools": (None,),
    "tool_choice": (None, "none"),
    "parallel_tool_calls": (None,),
    "response_format": (None,),
}
COMMON = {"model", "stream", "stream_options", "user", "n", "temperature", "top_k", "seed", "max_tokens", "stop"}
CHAT_FIELDS = COMMON | {"messages", "max_completion_tokens"}
COMPLETION_FIELDS = COMMON | {"prompt", "best_of"}


class ApiError(Exception):
    """An answer other than 200: status, OpenAI-style error body (message, type, param, code); headers."""

    def __init__(self, status: int, message: str, *, param: str | None = None, code: str | None = None, headers=None):
        super().__init__(message)
        self.status, self.message, self.param, self.code = status, message, param, code
        self.headers = headers or {}

    def body(self) -> dict:
        kind = {400: "invalid_request_error", 404: "not_found_error", 429: "server_busy"}.get(
            self.status, "server_error"
        )
        return {"error": {"message": self.message, "type": kind, "param": self.param, "code": self.code}}


def bad(message: str, param: str | None = None, code: str = "invalid_value") -> ApiError:
    return ApiError(400, message, param=param, code=code)


@dataclass(frozen=True)
class Served:
    """What the server offers: the model and the defaults of every setting a request may leave out."""

    model_id: str
    names: frozenset[str]  # every name a request's `model` may use
    max_tokens: int
    temperature_q16: int
    top_k: int
    seed: int
    stop_strings: frozenset[str]


@dataclass(frozen=True)
class Job:
    """One request, checked: what to run and how to answer."""

    kind: str  # "chat" | "completion"
    prompt_text: str | None  # completions: the prompt; chat: None (the messages are the prompt)
    chat: bool
    messages: list[dict[str, str]] | None
    settings: GenSettings
    stream: bool
    include_usage: bool


def parse_body(raw: bytes) -> dict:
    """A JSON object with exact decimals (Decimal, never float); ApiError 400 otherwise."""

    def no_constant(name):
        raise ValueError(f"{name} is not a number JSON allows")

    try:
        body = json.loads(raw, parse_float=Decimal, parse_constant=no_constant)
    except (ValueError, UnicodeDecodeError) as e:
        raise bad(f"the body is not JSON: {e}", code="invalid_json") from None
    if not isinstance(body, dict):
        raise bad("the body must be a JSON object", code="invalid_json")
    return body


def _int(body: dict, name: str, lo: int, hi: int) -> int | None:
    v = body.get(name)
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, (int, Decimal)) or (isinstance(v, Decimal) and v != v.to_integral()):
        raise bad(f"{name} must be an integer", name)
    v = int(v)
    if not lo <= v <= hi:
        raise bad(f"{name} must be in [{lo}, {hi}], got {v}", name)
    return v


def temperature_q16(v: Any) -> int:
    """round_half_up(T * 2^16) of an exact JSON number T in [0, 32768)."""
    if isinstance(v, bool) or not isinstance(v, (int, Decimal)):
        raise bad("temperature must be a number", "temperature")
    t = Fraction(v)
    if not 0 <= t < 1 << 15:
        raise bad(f"temperature must be in [0, 32768), got {v}", "temperature")
    x = t * (1 << 16) + Fraction(1, 2)
    return x.numerator // x.denominator


def _check_fields(body: dict, allowed: set[str]) -> None:
    for name, v in body.items():
        if name in allowed:
            continue
        if name in NOOP_DEFAULTS:
            ok = v in NOOP_DEFAULTS[name] or (name == "logit_bias" and v == {}) or (name == "tools" and v == [])
            ok = ok or (name == "response_format" and isinstance(v, dict) and v.get("type") == "text")
            if not ok:
                raise bad(
                    f"{name}={_show(v)} is not supported: the engine has no such setting", name, "unsupported_value"
                )
            continue
        raise bad(f"unsupported field {name!r}", name, "unsupported_field")


def _common(body: dict, served: Served) -> tuple[GenSettings, bool, bool]:
    m = body.get("model")
    if m is not None and m not in served.names:
        raise ApiError(
            404,
            f"model {m!r} is not served here; this server runs {served.model_id!r}",
            param="model",
            code="model_not_found",
        )
    for name in ("n", "best_of"):
        if body.get(name) not in (None, 1):
            raise bad(f"{name} must be 1: one answer per request", name, "unsupported_value")
    stop = body.get("stop")
    stops = [stop] if isinstance(stop, str) else stop
    if stops is not None:
        if not isinstance(stops, list) or not all(isinstance(x, str) for x in stops):
            raise bad("stop must be a string or a list of strings", "stop")
        other = [x for x in stops if x not in served.stop_strings]
        if other:
            raise bad(
                f"stop {other!r} is not supported: generation stops only at the model's own stop set "
                f"{sorted(served.stop_strings)!r} (the claim commits to that rule, and no other)",
                "stop",
                "unsupported_value",
            )
    n_max = [_int(body, k, 1, 2**31) for k in ("max_tokens", "max_completion_tokens")]
    given = [v for v in n_max if v is not None]
    if len(set(given)) > 1:
        raise bad("max_tokens and max_completion_tokens differ", "max_tokens")
    temp = body.get("temperature")
    settings = GenSettings(
        max_new_tokens=given[0] if given else served.max_tokens,
        temperature_q16=served.temperature_q16 if temp is None else temperature_q16(temp),
        top_k=_or(_int(body, "top_k", 1, TOPK_MAX), served.top_k),
        seed=_or(_int(body, "seed", 0, 2**63 - 1), served.seed),
    )
    stream = body.get("stream") or False
    if not isinstance(stream, bool):
        raise bad("stream must be true or false", "stream")
    so = body.get("stream_options") or {}
    if not isinstance(so, dict) or set(so) - {"include_usage"}:
        raise bad("stream_options supports include_usage only", "stream_options")
    return settings, stream, bool(so.get("include_usage"))


def _show(v: Any) -> str:
    return json.dumps(v, default=str)


def _or(v, default):
    return default if v is None else v


def _text(content: Any, where: str) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list) and all(isinstance(p, dict) and p.get("type") == "text" for p in content):
        return "".join(str(p.get("text", "")) for p in content)
    raise bad(f"{where} must be a string or a list of text parts", where)


def chat_job(body: dict, served: Served) -> Job:
    _check_fields(body, CHAT_FIELDS)
    settings, stream, usage = _common(body, served)
    msgs = body.get("messages")
    if not isinstance(msgs, list) or not msgs:
        raise bad("messages must be a non-empty list", "messages")
    out = []
    for i, m in enumerate(msgs):
        if not isinstance(m, dict) or set(m) - {"role", "content"}:
            extra = sorted(set(m) - {"role", "content"}) if isinstance(m, dict) else m
            raise bad(f"messages[{i}]: only role and content are supported (got {extra})", "messages")
        out.append({"role": m.get("role"), "content": _text(m.get("content"), f"messages[{i}].content")})
    return Job("chat", None, True, out, settings, stream, usage)


def completion_job(body: dict, served: Served) -> Job:
    _check_fields(body, COMPLETION_FIELDS)
    settings, stream, usage = _common(body, served)
    p = body.get("prompt")
    if isinstance(p, list) and len(p) == 1 and isinstance(p[0], str):
        p = p[0]
    if not isinstance(p, str):
        raise bad("prompt must be one string (token-id prompts and batches are not supported)", "prompt")
    return Job("completion", p, False, None, settings, stream, usage)
