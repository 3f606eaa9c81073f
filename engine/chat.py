"""Chat prompts from the model's own template: ``tokenizer.chat_template`` rendered the way transformers'
``apply_chat_template`` renders it, or a named fallback for files without one.

Rendering: jinja2's ImmutableSandboxedEnvironment with ``trim_blocks`` and ``lstrip_blocks`` and the loop
controls extension; globals ``raise_exception`` (a template's own error, e.g. "roles must alternate", becomes
a PromptError); filter ``tojson``; variables ``messages`` (a list of {"role", "content"}),
``add_generation_prompt`` (True for a prompt) and the special tokens' texts ``bos_token``, ``eos_token``,
``unk_token``, ``pad_token``. No ``strftime_now``: templates that use it to print today's date fall back to
their fixed date, so a prompt renders the same tomorrow and its receipt still verifies.

Tokenizing: message contents are user text. Control-token text inside them stays text, and never merges
into a control token either (a message cannot forge a turn); otherwise the prompt's tokens equal
``tokenizer.encode(rendered)``. To find the contents
inside the rendered text, the template is rendered a second time with each content replaced by a sentinel;
the literal parts between sentinels must be identical in both renderings and each content must appear as
itself or stripped of whitespace (templates ``trim`` it), else PromptError. If the vocabulary adds BOS and
the rendered prompt does not start with it, BOS is prepended (llama.cpp's rule; never twice).

The end-of-turn token of a template is the control token rendered right after an assistant message's
content (``<|im_end|>``, ``<end_of_turn>``, ``<|eot_id|>``, ``</s>``); it joins the model's stop set.
"""

from __future__ import annotations

import json
import re
from typing import Any

from engine.errors import ModelLoadError, PromptError

# ChatML without a default system turn: for one user message exactly the prompt `obrain run --chat` gave
# before templates were read from files (SmolLM2's golden prompt).
CHATML = (
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + "
    "'\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
# Gemma's turn format (as Gemma 3's template, text only): a system message becomes the first user turn's
# prefix; the assistant's role is "model"; roles must alternate.
GEMMA = (
    "{{ bos_token }}"
    "{%- if messages[0]['role'] == 'system' -%}"
    "{%- set first_user_prefix = messages[0]['content'] + '\n\n' -%}{%- set loop_messages = messages[1:] -%}"
    "{%- else -%}{%- set first_user_prefix = '' -%}{%- set loop_messages = messages -%}{%- endif -%}"
    "{%- for message in loop_messages -%}"
    "{%- if (message['role'] == 'user') != (loop.index0 % 2 == 0) -%}"
    "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{%- endif -%}"
    "{%- set role = 'model' if message['role'] == 'assistant' else message['role'] -%}"
    "{{ '<start_of_turn>' + role + '\n' + (first_user_prefix if loop.first else '') }}"
    "{{ message['content'] | trim }}{{ '<end_of_turn>\n' }}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{ '<start_of_turn>model\n' }}{%- endif -%}"
)
TEMPLATES = {"chatml": CHATML, "gemma": GEMMA}
FILE = "file"  # the template name that means "the model file's own tokenizer.chat_template"
ROLES = ("system", "user", "assistant", "tool")
_SENTINEL = "\ue000{}\ue001"
_SENTINEL_RE = re.compile("\ue000(\\d+)\ue001")


class _TemplateError(Exception):
    pass


def _raise(msg: Any) -> None:
    raise _TemplateError(str(msg))


def _tojson(x: Any, ensure_ascii: bool = False, indent: int | None = None, separators=None, sort_keys=False):
    return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)


_ENV = None


def _env():
    global _ENV
    if _ENV is None:
        from jinja2.ext import loopcontrols
        from jinja2.sandbox import ImmutableSandboxedEnvironment

        env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols])
        env.filters["tojson"] = _tojson
        env.globals["raise_exception"] = _raise
        _ENV = env
    return _ENV


def fallback(architecture: str | None) -> str | None:
    """The chat template name for files of ``architecture`` without tokenizer.chat_template: its module's
    ``CHAT_FALLBACK`` (engine.models), None if it has none or the architecture is not registered."""
    from engine.models import architectures

    mod = architectures().get(architecture or "")
    return getattr(mod, "CHAT_FALLBACK", None)


def template_source(tok, name: str | None = None) -> tuple[str, str]:
    """(name, jinja source) of the template to use: ``name`` "file" (the file's own), a key of
    ``TEMPLATES``, or None: the file's if it has one, else the fallback for the tokenizer's architecture.
    ModelLoadError if there is none."""
    own = tok.meta.chat_template
    if name is None:
        if own:
            return FILE, own
        name = fallback(getattr(tok, "architecture", "llama"))  # a tokenizer made outside a model: as before
        if name is None:
            raise ModelLoadError("the model file has no chat template and its architecture has no fallback")
    if name == FILE:
        if not own:
            raise ModelLoadError("the model file has no chat template (tokenizer.chat_template)")
        return FILE, own
    if name not in TEMPLATES:
        raise PromptError(f"unknown chat template {name!r} (known: {FILE}, {', '.join(TEMPLATES)})")
    return name, TEMPLATES[name]


def render(tok, source: str, messages: list[dict[str, str]], add_generation_prompt: bool = True) -> str:
    """The template rendered for ``messages``. PromptError if the template rejects them."""
    import jinja2

    def text(i):
        return tok.meta.tokens[i] if i is not None else ""

    try:
        t = _env().from_string(source)
    except jinja2.TemplateError as e:
        raise ModelLoadError(f"the chat template does not compile: {e}") from None
    try:
        return t.render(
            messages=messages,
            add_generation_prompt=add_generation_prompt,
            bos_token=text(tok.meta.bos_id),
            eos_token=text(tok.meta.eos_id),
            unk_token=text(tok.meta.unk_id),
            pad_token=text(tok.meta.pad_id),
        )
    except _TemplateError as e:
        raise PromptError(f"the chat template refuses these messages: {e}") from None
    except jinja2.TemplateError as e:
        raise PromptError(f"the chat template failed on these messages: {e}") from None
    except (TypeError, ValueError, KeyError, IndexError, AttributeError) as e:
        raise PromptError(f"the chat template failed on these messages: {type(e).__name__}: {e}") from None


def check_messages(messages: Any) -> list[dict[str, str]]:
    """``messages`` as a fresh list of {"role", "content"} dicts; PromptError unless it is a non-empty list
    of objects with a known role and string content."""
    if not isinstance(messages, list) or not messages:
        raise PromptError('messages must be a non-empty list of {"role", "content"} objects')
    out = []
    for i, m in enumerate(messages):
        if not isinstance(m, dict) or set(m) != {"role", "content"}:
            raise PromptError(f'message {i} must be an object with exactly the keys "role" and "content"')
        if m["role"] not in ROLES or not isinstance(m["content"], str):
            raise PromptError(f"message {i}: role must be one of {', '.join(ROLES)} and content a string")
        out.append({"role": m["role"], "content": m["content"]})
    return out


def build_messages(prompt: str | None, system: str | None = None, messages: Any = None) -> list[dict[str, str]]:
    """The conversation: ``messages`` if given (then ``prompt`` and ``system`` must be None), else an optional
    system message and the user's ``prompt``. PromptError on an empty prompt or bad messages."""
    if messages is not None:
        if prompt is not None or system is not None:
            raise PromptError("give either messages or a prompt (and system text), not both")
        return check_messages(messages)
    if not isinstance(prompt, str):
        raise PromptError(f"prompt must be text, got {type(prompt).__name__}")
    if not prompt.strip():
        raise PromptError("prompt is empty")
    out = [{"role": "system", "content": system}] if system is not None else []
    return check_messages([*out, {"role": "user", "content": prompt}])


def prompt_segments(tok, source: str, messages: list[dict[str, str]]) -> list[tuple[str, bool]]:
    """The rendered prompt as (text, special) segments: template text with special=True, message contents
    with special=False. PromptError if the contents cannot be located (see module docstring)."""
    real = render(tok, source, messages)
    marked = [{"role": m["role"], "content": _SENTINEL.format(i)} for i, m in enumerate(messages)]
    parts = _SENTINEL_RE.split(render(tok, source, marked))
    literals, slots = parts[0::2], [int(k) for k in parts[1::2]]
    segs: list[tuple[str, bool]] = []
    pos = 0
    for k, lit in enumerate(literals):
        if not real.startswith(lit, pos):
            raise PromptError("the chat template renders differently depending on the message text: not supported")
        segs.append((lit, True))
        pos += len(lit)
        if k == len(slots):
            break
        c, after = messages[slots[k]]["content"], literals[k + 1]
        for x in dict.fromkeys((c, c.strip(), c.lstrip(), c.rstrip())):
            if real.startswith(x, pos) and real.startswith(after, pos + len(x)):
                segs.append((x, False))
                pos += len(x)
                break
        else:
            raise PromptError("the chat template changes message text beyond trimming it: not supported")
    if pos != len(real):
        raise PromptError("the chat template renders differently depending on the message text: not supported")
    return [s for s in segs if s[0]]


def chat_ids(
    tok,
    prompt: str | None = None,
    *,
    system: str | None = None,
    messages: Any = None,
    template: str | None = None,
) -> list[int]:
    """Token ids of the chat prompt for ``prompt`` (or ``messages``) with the generation prompt appended.
    PromptError if the prompt is empty, a message is malformed, the template rejects the conversation, or
    (with the tokenizer's context length) no room is left to generate; ModelLoadError if there is no
    template."""
    msgs = build_messages(prompt, system, messages)
    _, source = template_source(tok, template)
    ids = tok.encode_segments(prompt_segments(tok, source, msgs), guard=True)
    bos = tok.meta.bos_id
    if tok.meta.add_bos and bos is not None and (not ids or ids[0] != bos):
        ids.insert(0, bos)
    n = tok.context_length
    if n is not None and len(ids) >= n:
        raise PromptError(
            f"prompt is too long: {len(ids)} tokens with the chat template, but the model's "
            f"context holds {n} (at most {n - 1} leave room for an answer)"
        )
    return ids


def end_of_turn_ids(tok, source: str) -> tuple[int, ...]:
    """The control token the template renders right after an assistant message (only whitespace between),
    as a 0- or 1-tuple; () if the template renders no such token or refuses the probe conversation."""
    probe = "\ue002"
    try:
        out = render(
            tok,
            source,
            [{"role": "user", "content": "hi"}, {"role": "assistant", "content": probe}],
            add_generation_prompt=False,
        )
    except PromptError:
        return ()
    k = out.find(probe)
    if k < 0:
        return ()
    after = out[k + len(probe) :].lstrip()
    best = None
    for i in tok.special_ids:
        t = tok.meta.tokens[i]
        if after.startswith(t) and (best is None or len(t) > len(tok.meta.tokens[best])):
            best = i
    return () if best is None else (best,)
