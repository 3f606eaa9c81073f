"""The integer language model as a user sees it: load by name or path, encode a prompt, run, decode.

Architectures are plugins (engine.models: a module per architecture, from the package or an ``openbrains.models``
entry point); this module only asks ``get_architecture`` for the config's.
"""

from __future__ import annotations

from collections.abc import Callable

from . import ops
from .errors import PromptError
from .executor import Executor, StepObserver
from .generate import GenResult, GenSettings, generate


from .models import architectures, get_architecture  # noqa: F401  (re-exported: callers use runtime's)


def output_text(lm: IntegerLM, tokens) -> str:
    """The text of generated tokens (stop tokens left out). A dishonest run may carry an out-of-vocabulary
    "token" (the trace defines it: a zero embedding); it shows as U+FFFD rather than failing."""
    vocab = lm.config.vocab_size
    stops = set(lm.stop_ids)
    toks = [int(t) for t in tokens if t not in stops]
    if all(0 <= t < vocab for t in toks):
        return lm.tokenizer.decode(toks)
    return "".join(lm.tokenizer.decode([t]) if 0 <= t < vocab else "\ufffd" for t in toks)


class IntegerLM:
    """A loaded model, its integer program and exactly-imported weights, and its tokenizer."""

    def __init__(self, loaded, context: int | None = None, progress: Callable[[int, int], None] | None = None):
        from .tokenizer import Tokenizer

        arch = loaded.config.architecture
        self.arch = get_architecture(arch)
        self.loaded = loaded
        self.config = loaded.config
        from .loaders import GGML_TYPES

        wtypes = {n: GGML_TYPES[t.ggml_type][0] for n, t in loaded.tensors.items()}
        self.program = self.arch.build_program(self.config, context, wtypes)
        self.weights = self.arch.build_weights(loaded, self.program, progress)
        self.plans = ops.build_plans(self.program, self.weights)
        from .weights import release_file_pages

        release_file_pages(self.weights)  # the prepared forms are built: the file's pages need not stay resident
        self.tokenizer = Tokenizer.from_meta(loaded.tokenizer_meta)
        self.tokenizer.architecture = arch

    @property
    def stop_ids(self) -> tuple[int, ...]:
        """The token ids that end a generation, sorted (committed in the model root: the judging rule's stop set).
        The config's ``stop_ids`` when it has them (eos, end-of-turn tokens), else its eos alone."""
        ids = getattr(self.config, "stop_ids", None) or (self.config.eos_id,)
        return tuple(sorted({int(i) for i in ids}))

    @classmethod
    def load(cls, name_or_path: str, context: int | None = None, progress=None) -> IntegerLM:
        from .store import resolve_model

        return cls(resolve_model(name_or_path), context, progress)

    def encode_prompt(
        self,
        prompt: str | None,
        chat: bool = False,
        max_new_tokens: int = 0,
        *,
        system: str | None = None,
        messages: list | None = None,
        template: str | None = None,
    ) -> list[int]:
        """Token ids for ``prompt``, or with ``chat`` for the chat prompt of ``prompt`` (after an optional
        ``system`` message) or of ``messages``, rendered with ``template`` (engine.chat.template_source: the
        file's own by default). PromptError if empty or too long."""
        if chat:
            ids = self.tokenizer.chat(prompt, system=system, messages=messages, template=template)
        else:
            if not prompt or not prompt.strip():
                raise PromptError("empty prompt")
            ids = self.tokenizer.encode_plain(prompt)  # BOS first if the file asks for it, as llama.cpp
        if not ids:
            raise PromptError("the prompt encodes to no tokens")
        room = self.program.context - max(max_new_tokens - 1, 0)
        if len(ids) > room:
            raise PromptError(
                f"prompt is {len(ids)} tokens; with {max_new_tokens} new tokens the context of "
                f"{self.program.context} leaves room for {max(room, 0)}"
            )
        vocab = self.config.vocab_size
        bad = [t for t in ids if not 0 <= t < vocab]
        if bad:
            raise PromptError(f"token ids {bad[:5]} are outside the vocabulary of {vocab}")
        return ids

    def chat_template(self, template: str | None = None) -> str:
        """The name of the chat template ``template`` resolves to: "file" (the file's own) or a fallback."""
        from .chat import template_source

        return template_source(self.tokenizer, template)[0]

    def executor(self, observer: StepObserver | None = None) -> Executor:
        return Executor(self.program, self.weights, observer, self.plans)

    def generate(
        self,
        prompt_ids: list[int],
        settings: GenSettings,
        observer: StepObserver | None = None,
        on_token=None,
        on_prompt_progress=None,
    ) -> GenResult:
        ex = self.executor(observer)
        return generate(
            ex,
            prompt_ids,
            settings,
            stop_ids=self.stop_ids,
            on_token=on_token,
            on_prompt_progress=on_prompt_progress,
        )
