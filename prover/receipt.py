"""Receipts: the JSON a run writes and anyone can verify by replay.

A receipt commits to the model (model_root), the input (prompt tokens + every generation setting:
input_hash), the output (output_hash) and the trace (trace_root, step_count). Timings are information
only; chain fields are filled by ``obrain submit``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

FORMAT: Final = "openbrains.receipt"
FORMAT_VERSION = 2  # 2: input.system / messages / template (version 1 receipts still load)


class ReceiptError(Exception):
    """The receipt file cannot be used (unreadable, not JSON, wrong schema, newer format): exit code 2."""


Hex32 = Annotated[str, Field(pattern=r"^0x[0-9a-f]{64}$")]  # "0x" + 64 lowercase hex digits
# The ranges the chain holds them in (postClaim: int32 tokens, int64 run settings, u32 sizes, u64 step counts):
# a receipt outside them can be no claim's, and is refused when read (exit 2), before anything is computed.
Token = Annotated[int, Field(ge=-(2**31), le=2**31 - 1)]
I64 = Annotated[int, Field(ge=-(2**63), le=2**63 - 1)]
U32 = Annotated[int, Field(ge=1, le=2**32 - 1)]
U64 = Annotated[int, Field(ge=0, le=2**64 - 1)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ModelInfo(_Strict):
    # the model is named by content: file_sha256 (the GGUF file, or a native model's manifest) and model_root;
    # verify finds the file by file_sha256 in the model store (engine.store), never by this informational id
    id: str = Field(description="informational: the bundled model's name, or the file's name")
    name: str
    file_sha256: str
    model_root: Hex32
    steps_per_token: U32
    context: U32


class ChatMessage(_Strict):
    role: str
    content: str


class InputInfo(_Strict):
    prompt_text: str | None = None  # the user's message (None with messages)
    chat: bool = False
    prompt_tokens: list[Token] = Field(min_length=1)
    input_hash: Hex32
    system: str | None = None  # the system message before prompt_text (chat only)
    messages: list[ChatMessage] | None = None  # the whole conversation instead of system + prompt_text
    # the chat template: "file" (the model file's own) or a fallback name (engine.chat.TEMPLATES); None with
    # chat means "chatml" (receipts from before templates were read from the file)
    template: str | None = None


class OutputInfo(_Strict):
    tokens: list[Token] = Field(min_length=1)
    text: str
    output_hash: Hex32
    stopped: str


class TraceInfo(_Strict):
    trace_root: Hex32
    step_count: U64


class Settings(_Strict):
    max_new_tokens: I64
    temperature_q16: I64
    top_k: I64
    seed: I64


class Timings(_Strict):
    load_s: float = 0.0
    prompt_s: float = 0.0
    decode_s: float = 0.0
    trace_s: float = 0.0


class ChainInfo(_Strict):
    chain_id: int
    registry: str
    claim_id: int
    tx_hash: str
    bond_wei: int = 0


class Receipt(_Strict):
    format: Literal["openbrains.receipt"] = FORMAT
    format_version: int = FORMAT_VERSION
    numerics_version: int
    engine_version: str
    model: ModelInfo
    input: InputInfo
    output: OutputInfo
    trace: TraceInfo
    settings: Settings
    timings: Timings = Timings()
    chain: ChainInfo | None = None

    def to_json(self) -> str:
        return self.model_dump_json(indent=2) + "\n"

    def save(self, path: str | Path) -> None:
        p = Path(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        tmp = p.with_suffix(p.suffix + ".tmp")
        tmp.write_text(self.to_json())
        tmp.replace(p)  # atomic: a crash never leaves half a receipt

    @classmethod
    def load(cls, path: str | Path) -> Receipt:
        p = Path(path)
        try:
            text = p.read_text()
        except (OSError, UnicodeDecodeError) as e:
            raise ReceiptError(f"cannot read receipt {p}: {e}") from None
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as e:
            raise ReceiptError(f"{p} is not JSON (truncated?): {e}") from None
        if not isinstance(obj, dict) or obj.get("format") != FORMAT:
            got = obj.get("format") if isinstance(obj, dict) else None
            raise ReceiptError(f"{p} is not an openbrains receipt (format field is {got!r})")
        v = obj.get("format_version")
        if not isinstance(v, int):
            raise ReceiptError(f"{p}: format_version is missing or not an integer")
        if v > FORMAT_VERSION:
            raise ReceiptError(
                f"{p} has receipt format version {v}, newer than this obrain supports "
                f"({FORMAT_VERSION}); upgrade openbrains"
            )
        if v < 1:
            raise ReceiptError(f"{p}: unknown receipt format version {v}")
        try:
            return cls.model_validate(obj)
        except ValidationError as e:
            first = e.errors()[0]
            where = ".".join(str(x) for x in first["loc"])
            raise ReceiptError(f"{p}: invalid receipt field {where}: {first['msg']}") from None
