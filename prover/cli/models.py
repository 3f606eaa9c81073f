"""`obrain inspect` and `obrain models`, and the model and chat pieces `obrain run` / `verify` / `submit` use: the
chat options (--system, --messages, --template) and finding a receipt's model by content."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from engine.errors import ModelLoadError, PromptError


def add_chat_args(p) -> None:
    """--system, --messages and --template on ``obrain run`` (each implies --chat)."""
    p.add_argument("--system", metavar="TEXT", help="a system message before the prompt (implies --chat)")
    p.add_argument(
        "--messages",
        metavar="FILE",
        help='the conversation as OpenAI-style JSON [{"role", "content"}, ...] instead of PROMPT (implies --chat)',
    )
    p.add_argument(
        "--template",
        metavar="NAME",
        help="chat template: 'file' (the model file's own, the default when it has one), 'chatml' or 'gemma' "
        "(implies --chat)",
    )


@dataclass(frozen=True)
class ChatRequest:
    """What ``obrain run`` was asked to encode: a plain prompt, or a chat prompt."""

    chat: bool
    prompt: str | None
    system: str | None = None
    messages: list | None = None
    template: str | None = None

    def encode(self, lm, max_new_tokens: int) -> list[int]:
        return lm.encode_prompt(
            self.prompt,
            chat=self.chat,
            max_new_tokens=max_new_tokens,
            system=self.system,
            messages=self.messages,
            template=self.template,
        )

    def receipt_fields(self, lm) -> dict:
        """The InputInfo fields that let a verifier re-encode the prompt (the resolved template name)."""
        if not self.chat:
            return {}
        return {"system": self.system, "messages": self.messages, "template": lm.chat_template(self.template)}


def chat_request(a) -> ChatRequest:
    """The ChatRequest of ``obrain run``'s arguments. PromptError for a missing, doubled or unreadable prompt."""
    messages = None
    if a.messages:
        try:
            messages = json.loads(Path(a.messages).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError) as e:
            raise PromptError(f"cannot read --messages {a.messages}: {e}") from None
        from engine.chat import check_messages

        messages = check_messages(messages)
        if a.prompt is not None or a.system is not None:
            raise PromptError("give either --messages or a PROMPT (and --system), not both")
    elif a.prompt is None:
        raise PromptError("no prompt: give PROMPT or --messages FILE")
    chat = bool(a.chat or a.system is not None or messages is not None or a.template)
    return ChatRequest(chat, a.prompt, a.system, messages, a.template)


def receipt_model(receipt) -> str:
    """What to load to replay ``receipt``: the store's model whose file sha256 is the receipt's. The receipt
    (and its run directory) are untrusted: a path they name is never opened. ModelLoadError if no model in
    the store has that hash."""
    from engine import store
    from engine.loaders import KNOWN_MODELS

    sha = receipt.model.file_sha256
    if not store.looks_like_sha256(sha) or len(sha) != 64:
        raise ModelLoadError(f"the receipt's model.file_sha256 {sha!r:.80} is not a sha256")
    if receipt.model.id in KNOWN_MODELS:  # a bundled name: only a key, its file's content is what must match
        try:
            path = store.bundled_path(receipt.model.id)
        except ModelLoadError:
            path = None
        if path is not None and store.file_sha256(path) == sha:
            return receipt.model.id
    try:
        return str(store.find(sha))
    except ModelLoadError as e:
        raise ModelLoadError(
            f"{e} (the receipt names its model {receipt.model.id!r}; pass --model PATH to replay with a file you trust)"
        ) from None


def cmd_inspect(a) -> int:
    """What a GGUF file holds and every blocker at once. Exit 0 if it runs here, 2 if anything blocks it."""
    from engine.inspect import format_report, inspect_gguf
    from engine.store import BUNDLED, bundled_path

    path = bundled_path(a.file) if a.file in BUNDLED and not Path(a.file).exists() else Path(a.file)
    rep = inspect_gguf(path)
    if a.json:
        print(json.dumps(rep, indent=2))
    else:
        print("\n".join(format_report(rep)))
    return 0 if rep["runnable"] else 2


def cmd_models(a) -> int:
    """List the model store: bundled models and every model under the store folders, with their sha256."""
    from engine import store

    ents = store.entries()
    if a.json:
        print(
            json.dumps({"folders": [str(f) for f in store.folders()], "models": [e.to_dict() for e in ents]}, indent=2)
        )
        return 0
    print("store folders: " + ", ".join(str(f) for f in store.folders()) + "  (OBRAIN_MODELS)")
    for e in ents:
        print(f"{e.sha256[:16]}  {e.size:>12,}  {e.name:<28} {e.path}")
    return 0


def add_parsers(sub) -> None:
    """Add ``inspect`` and ``models`` to the CLI's subcommands."""
    i = sub.add_parser(
        "inspect",
        help="what a GGUF file holds, and every reason it cannot run here",
        description="Architecture, tensor types and sizes, tokenizer, chat template, context, and every blocker "
        "(unsupported architecture, tensor type, tokenizer, missing keys) with what it would take. "
        "Exit 0 if the file runs here, 2 if something blocks it or it cannot be read.",
    )
    i.add_argument("file", help="a .gguf file (or a bundled model's name)")
    i.add_argument("--json", action="store_true", help="print the report as JSON")
    i.set_defaults(func=cmd_inspect)
    m = sub.add_parser(
        "models",
        help="list the model store (bundled models and $OBRAIN_MODELS folders) by sha256",
        description="Every model verify, watch and defend can find by its sha256: the bundled models and the "
        "GGUF files and native model directories under $OBRAIN_MODELS (os.pathsep-separated folders; "
        "default ~/.cache/openbrains/models).",
    )
    m.add_argument("--json", action="store_true", help="print the list as JSON")
    m.set_defaults(func=cmd_models)
