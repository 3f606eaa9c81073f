"""User-facing engine errors. The CLI maps both to exit code 2 and prints the message, never a traceback.

Everything that can go wrong because of a user's input (a bad file, a missing package, a bad prompt)
raises one of these with a message that says what is wrong and where; anything else is a bug.
"""


class ModelLoadError(Exception):
    """A model cannot be loaded: missing/unreadable/corrupt/truncated file, unsupported architecture,
    tensor type or tokenizer, missing or misshapen tensor, or the model package is not installed.
    The message names the file (or model name) and the offending item."""


class PromptError(Exception):
    """A prompt cannot be run: empty (or whitespace only), not valid Unicode, or too long for the
    model's context window."""


# what a file with an unsupported block type would take (obrain inspect's advice, and the loaders')
FIX_TYPE = (
    "its exact integer import: a block decoder in fixedpoint (ref and vec twins, engine/loaders GGML_TYPES) and "
    "in the one-step verifier (contracts), with shared vectors"
)
