"""How a kernel is launched: the command prefix that confines it, and its environment.

The kernel command is wrapped by ``python -m graders.launch`` which applies rlimits (address
space, processes, file size, core dumps) and then execs the kernel. The environment handed to
the kernel is built from scratch-ish: the grader's secrets (``HW4_HIDDEN_SEED``) never reach it,
hub access is off, and HOME and caches point into the kernel's own working folder.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

from graders.rubric import Limits

SECRET_ENV = ("HW4_HIDDEN_SEED",)


def kernel_prefix(limits: Limits) -> list[str]:
    return [sys.executable, "-m", "graders.launch",
            "--memory-mb", str(limits.memory_mb),
            "--processes", str(limits.processes),
            "--file-size-mb", str(limits.file_size_mb),
            "--"]


def kernel_env(workdir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in SECRET_ENV and not k.startswith(("PYTHONPATH", "JPY_", "JUPYTER_"))}
    env.update({
        "HOME": str(workdir),
        "MPLBACKEND": "Agg",
        "MPLCONFIGDIR": str(workdir / ".config" / "matplotlib"),
        "HF_HOME": str(workdir / ".cache" / "huggingface"),
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "HF_HUB_DISABLE_PROGRESS_BARS": "1",
        "HF_HUB_DISABLE_TELEMETRY": "1",
        "TOKENIZERS_PARALLELISM": "false",
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "PYTHONHASHSEED": "0",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYDEVD_DISABLE_FILE_VALIDATION": "1",
    })
    for key in [k for k in env if k.startswith("HW4_MODEL_")]:
        env.pop(key) if not env[key] else None
    return env
