"""Where the active homework's shipped models and data live, and how to load them offline.

This is the one place that knows the layout of a homework's assignments folder (``models/<name>``,
``data/<file>``; HW4's are built by ``tools/build_assets.py``), so notebooks, the reference and the
graders never hard-code a path. The embedded models load with ``from_pretrained(local_path)`` and
never touch the network. A user with a Hugging Face hub cache may point a model at a hub id or
another folder with an environment variable, e.g. ``HW4_MODEL_TINY_LM=gpt2``.
"""
from __future__ import annotations

import functools
import os
from pathlib import Path

from graders.homework import active

_OFFLINE_VARS = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")


def models_dir() -> Path:
    """The active homework's embedded models, one folder per model name."""
    return active().assignments / "models"


def data_dir() -> Path:
    """The active homework's data files."""
    return active().assignments / "data"


def manifest_path() -> Path:
    """What the build script recorded about the models (sizes, hashes, expected outputs)."""
    return models_dir() / "MANIFEST.json"


def _env_var(name: str) -> str:
    """"tiny-lm" -> "HW4_MODEL_TINY_LM"."""
    return "HW4_MODEL_" + name.upper().replace("-", "_")


def model_override(name: str) -> str | None:
    """The user's override for model ``name`` (a hub id or a folder), or None for the embedded one."""
    names = active().models
    if name not in names:
        raise ValueError(f"unknown model {name!r}; expected one of {names}")
    value = os.environ.get(_env_var(name), "").strip()
    return value or None


def model_path(name: str) -> str:
    """What to pass to ``from_pretrained`` for model ``name``: the override if set, else the
    embedded folder ``<assignments>/models/<name>``."""
    override = model_override(name)
    return override if override is not None else str(models_dir() / name)


def data_path(name: str) -> Path:
    """Path of a shipped data file, e.g. ``data_path("part3_test.tsv")``."""
    path = data_dir() / name
    if not path.is_file():
        shipped = sorted(p.name for p in data_dir().glob("*")) if data_dir().is_dir() else []
        raise ValueError(f"unknown data file {name!r}; shipped: {shipped}")
    return path


def _uses_hub() -> bool:
    """True if some override names something that is not a local folder (then it needs the hub)."""
    for name in active().models:
        value = model_override(name)
        if value is not None and not Path(value).exists():
            return True
    return False


def set_offline() -> None:
    """Forbid hub access and silence progress bars, unless an override needs the hub.

    The embedded models never need the network; setting these before transformers is used makes
    an accidental hub lookup fail fast instead of hanging in a sandbox without a network. Progress
    bars go to stderr, which nbgrader counts as a failed cell.
    """
    import sys

    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    offline = not _uses_hub()
    if offline:
        for var in _OFFLINE_VARS:
            os.environ[var] = "1"
    # huggingface_hub and transformers read these variables once, at import: update them if loaded.
    if "huggingface_hub" in sys.modules:
        import huggingface_hub.constants
        import huggingface_hub.utils

        huggingface_hub.utils.disable_progress_bars()
        if offline:
            huggingface_hub.constants.HF_HUB_OFFLINE = True
    if "transformers" in sys.modules:
        import transformers.utils.logging

        transformers.utils.logging.disable_progress_bar()


def load_tokenizer(name: str):
    """The tokenizer of model ``name`` (a fast tokenizer; tiny-lm's has a chat template)."""
    from transformers import AutoTokenizer

    set_offline()
    return AutoTokenizer.from_pretrained(model_path(name))


#: transformers 5 picks a model's loss by its class name; ``GPT2LMHeadModel`` matches none, so every
#: loss computed with ``labels=`` warned "`loss_type=None` was set in the config but it is unrecognized"
#: before falling back to this very loss. The config cannot say it (transformers reads only the class
#: name), so the loaders name it: the same loss, without the warning on every run's terminal.
CAUSAL_LM_LOSS = "ForCausalLM"


def load_causal_lm(name: str):
    """A shipped causal LM in eval mode (HW4's tiny models have dropout 0.1 in training mode)."""
    from transformers import AutoModelForCausalLM

    set_offline()
    model = AutoModelForCausalLM.from_pretrained(model_path(name)).eval()
    model.loss_type = CAUSAL_LM_LOSS
    return model


def load_seq2seq(name: str):
    """A shipped encoder-decoder in eval mode with eager attention: transformers 5 defaults to
    sdpa, which returns no attention weights for ``output_attentions=True``."""
    from transformers import AutoModelForSeq2SeqLM

    set_offline()
    return AutoModelForSeq2SeqLM.from_pretrained(model_path(name), attn_implementation="eager").eval()


@functools.lru_cache(maxsize=None)
def grader_model(name: str, *, seq2seq: bool = False) -> tuple:
    """(model, tokenizer) of model ``name``, loaded once per grading process to choose inputs and
    compute expected values (eval mode; never modified). The kernel loads its own fresh copies."""
    return (load_seq2seq(name) if seq2seq else load_causal_lm(name)), load_tokenizer(name)
