"""Reasons a student reads: the grader's words, with every value that may be secret in a marked slot.

A check's reason is written once, as a sentence. Whatever in it may carry a hidden input, an
expected value or anything a kernel sent (its values, text, type names, messages) is put in a slot
with ``hidden(value, shown=...)``; everything else — the grader's words, shapes, the names of the
student's functions and arguments — is plain text. A public check shows every slot's value; a check
with hidden inputs shows each slot's ``shown`` words instead ("…" unless the sentence needs
another), so a hidden reason is the same sentence with its values left out, never a finished
sentence edited afterwards::

    reason = f"your hypothesis {hidden(repr(text), shown='(one of yours)')} is not among the best {k}"
    render(reason, hide=False)  # "your hypothesis 'The king …' is not among the best 3"
    render(reason, hide=True)   # "your hypothesis (one of yours) is not among the best 3"

Slots are marked with private-use characters that no slot's value and no rendered reason can carry.

``leaks(text, sources)`` is the net under a hidden check's rendered reason: if any text a
kernel sent (or a hidden input's text) still appears in it — a value that missed its slot — the
check shows a reason of its own instead (``graders.checks.base``).
"""
from __future__ import annotations

import re
from typing import Any, Iterable, Iterator, Mapping

OPEN, MIDDLE, CLOSE = "\ue000", "\ue001", "\ue002"
_MARKS = re.compile(f"[{OPEN}{MIDDLE}{CLOSE}]")
_SLOT = re.compile(f"{OPEN}([^{OPEN}{MIDDLE}{CLOSE}]*){MIDDLE}([^{OPEN}{MIDDLE}{CLOSE}]*){CLOSE}")
#: a hidden check's reason shows no run of this many characters of any text a kernel sent
LEAK_RUN = 12


def hidden(value: Any, shown: str = "…") -> str:
    """A slot: ``value`` (as ``str``) on a public check, ``shown`` on a check with hidden inputs."""
    text = render(value if isinstance(value, str) else str(value), hide=False)  # a slot inside shows its value
    return f"{OPEN}{render(shown, hide=True)}{MIDDLE}{text}{CLOSE}"


def render(reason: str, *, hide: bool) -> str:
    """The reason as a person reads it: slots show their value, or (``hide``) their ``shown`` words."""
    text = _SLOT.sub(lambda m: m.group(1) if hide else m.group(2), reason)
    return _MARKS.sub("", text)


def has_slots(reason: str) -> bool:
    return OPEN in reason


def kernel_texts(outcomes: Iterable[Any]) -> Iterator[str]:
    """The text a kernel sent in ``outcomes`` that a reason could repeat: values (nested) and messages.
    Type names, dict keys and field names are not included: they are the contract's names
    ("attention_mask", "p_not_matching"), which reasons say; a reason names a notebook's own through
    ``hidden``."""
    for outcome in outcomes:
        yield from texts_in(getattr(outcome, "value", None), keys=False)
        message = getattr(outcome, "message", "")
        if isinstance(message, str) and message:
            yield message


def texts_in(value: Any, depth: int = 0, *, keys: bool = True) -> Iterator[str]:
    """The strings in ``value`` (nested containers and kernel records included; their keys and field
    names too unless ``keys=False``)."""
    if depth > 20:
        return
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for k, v in value.items():
            if keys:
                yield from texts_in(k, depth + 1)
            yield from texts_in(v, depth + 1, keys=keys)
    elif isinstance(value, (list, tuple, set, frozenset)):
        for v in value:
            yield from texts_in(v, depth + 1, keys=keys)
    else:
        fields = getattr(value, "fields", None)  # a Record (namedtuple or dataclass) from the kernel
        if isinstance(fields, Mapping):
            yield from texts_in(fields, depth + 1, keys=keys)


def leaks(text: str, sources: Iterable[str], *, names: Iterable[str] = (), budget: int = 2_000_000) -> bool:
    """Does ``text`` show a run of ``LEAK_RUN`` characters of any of ``sources``? The grader's own
    ``names`` (the functions a check calls), which a kernel's messages repeat, are not counted."""
    for name in sorted(names, key=len, reverse=True):
        text = text.replace(name, " ")
    folded = text.casefold()
    runs = {folded[i:i + LEAK_RUN] for i in range(max(0, len(folded) - LEAK_RUN + 1))}
    for source in sources:
        if budget <= 0:
            break
        source = source[:budget].casefold()
        budget -= len(source)
        if any(source[i:i + LEAK_RUN] in runs for i in range(len(source) - LEAK_RUN + 1)):
            return True
    return False
