"""Late days: the deadline, the free-day budget and the penalty, from ``late_policy`` in rubric.yaml.

The rule, in one place (``charge``):

* ``late_days`` = whole days after the deadline, any started day counting as one
  (``ceil((submitted − deadline) / 24 h)``; on time or early = 0; ``grace_minutes`` after the
  deadline still count as on time).
* The term allows ``free_late_days`` (5). Days already used this term (``prior_used``, from the
  course's ledger CSV) come off the budget first; this homework then uses
  ``free_used = min(late_days, max(0, free − prior_used))``.
* ``charged_days = late_days − free_used``; ``penalty_percent = min(max_penalty_percent,
  charged_days × penalty_per_day_percent)``, taken off the homework's total (automatic + manual):
  ``final = total × (1 − penalty_percent / 100)``.

Dates: the deadline is written in the Jalali (Solar Hijri) calendar with a UTC offset
(``1402-10-15 23:59`` at ``+03:30`` = 2024-01-05 23:59 Tehran time); ``jalali_to_gregorian``
converts it (the arithmetic of the jalaali algorithm — no dependency). Submission times are read
from the course platform's CSV (ISO 8601 with an offset, or a naive Gregorian or Jalali date-time
taken in the deadline's zone).

**Only a trusted time is charged.** The platform's CSV is the one source a TA can trust. A file's
modification time is not one: a clone, a copy or a download dates the files to that day (a fresh
clone made every submission 1,067 days late). Neither are a zip's member times (the student's own
machine wrote them: any clock, any ``touch``, no time zone). Without a trusted time
``charge(None)`` gives unknown late days and no penalty; the gradebook says so.
"""
from __future__ import annotations

import csv
import datetime as dt
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping


class LatePolicyError(ValueError):
    """The late policy or a CSV of times/days is malformed: a message for the TA."""


# --- Jalali calendar -------------------------------------------------------------------------

_BREAKS = (-61, 9, 38, 199, 426, 686, 756, 818, 1111, 1181, 1210, 1635, 2060, 2097, 2192, 2262,
           2324, 2394, 2456, 3178)


def _div(a: int, b: int) -> int:
    return int(a / b)  # truncation, as in the reference algorithm


def _mod(a: int, b: int) -> int:
    return a - _div(a, b) * b


def _jal_cal(jy: int) -> tuple[int, int, int]:
    """(leap, Gregorian year, March day of Farvardin 1) for Jalali year ``jy``."""
    if not _BREAKS[0] <= jy < _BREAKS[-1]:
        raise LatePolicyError(f"Jalali year {jy} is out of range")
    gy = jy + 621
    leap_j = -14
    jp = _BREAKS[0]
    jump = 0
    for jm in _BREAKS[1:]:
        jump = jm - jp
        if jy < jm:
            break
        leap_j += _div(jump, 33) * 8 + _div(_mod(jump, 33), 4)
        jp = jm
    n = jy - jp
    leap_j += _div(n, 33) * 8 + _div(_mod(n, 33) + 3, 4)
    if _mod(jump, 33) == 4 and jump - n == 4:
        leap_j += 1
    leap_g = _div(gy, 4) - _div((_div(gy, 100) + 1) * 3, 4) - 150
    march = 20 + leap_j - leap_g
    if jump - n < 6:
        n = n - jump + _div(jump + 4, 33) * 33
    leap = _mod(_mod(n + 1, 33) - 1, 4)
    if leap == -1:
        leap = 4
    return leap, gy, march


def jalali_month_length(jy: int, jm: int) -> int:
    if jm <= 6:
        return 31
    if jm <= 11:
        return 30
    return 30 if _jal_cal(jy)[0] == 0 else 29


def jalali_to_gregorian(jy: int, jm: int, jd: int) -> dt.date:
    """``jalali_to_gregorian(1402, 10, 15)`` → ``date(2024, 1, 5)``."""
    if not 1 <= jm <= 12 or not 1 <= jd <= jalali_month_length(jy, jm):
        raise LatePolicyError(f"{jy}-{jm:02d}-{jd:02d} is not a Jalali date")
    _, gy, march = _jal_cal(jy)
    offset = (jm - 1) * 31 if jm <= 7 else 6 * 31 + (jm - 7) * 30
    return dt.date(gy, 3, march) + dt.timedelta(days=offset + jd - 1)


# --- parsing times ---------------------------------------------------------------------------

_OFFSET = re.compile(r"^(?P<sign>[+-])(?P<h>\d{1,2}):?(?P<m>\d{2})$")
_DATETIME = re.compile(r"^\s*(?P<y>\d{4})[-/](?P<mo>\d{1,2})[-/](?P<d>\d{1,2})"
                       r"(?:[ T](?P<H>\d{1,2}):(?P<M>\d{2})(?::(?P<S>\d{2})(?:\.\d+)?)?)?"
                       r"\s*(?P<tz>Z|[+-]\d{1,2}:?\d{2})?\s*$")


def parse_offset(text: str) -> dt.timezone:
    """``"+03:30"`` → a fixed-offset timezone (IANA names are not used: no tz database needed)."""
    m = _OFFSET.match(str(text).strip())
    if not m:
        raise LatePolicyError(f"timezone must be a UTC offset like +03:30, got {text!r}")
    delta = dt.timedelta(hours=int(m.group("h")), minutes=int(m.group("m")))
    return dt.timezone(-delta if m.group("sign") == "-" else delta)


def parse_time(text: str, tz: dt.timezone) -> dt.datetime:
    """A date-time from a CSV or the rubric, aware.

    ``2024-01-06T10:00:00+03:30`` (ISO 8601), ``2024-01-06 10:00`` (taken in ``tz``) or a Jalali
    date ``1402/10/16 10:00`` (any year before 1700 is Jalali). A date alone means 23:59 that day.
    """
    m = _DATETIME.match(str(text))
    if not m:
        raise LatePolicyError(f"cannot read the date-time {text!r} (expected e.g. 2024-01-06 10:00 or 1402-10-16 10:00)")
    y, mo, d = int(m.group("y")), int(m.group("mo")), int(m.group("d"))
    date = jalali_to_gregorian(y, mo, d) if y < 1700 else _gregorian(y, mo, d, text)
    if m.group("H") is None:
        hh, mm, ss = 23, 59, 0
    else:
        hh, mm, ss = int(m.group("H")), int(m.group("M")), int(m.group("S") or 0)
    if hh > 23 or mm > 59 or ss > 59:
        raise LatePolicyError(f"{text!r}: not a valid time of day")
    tzinfo = tz
    if m.group("tz"):
        tzinfo = dt.timezone.utc if m.group("tz") == "Z" else parse_offset(m.group("tz"))
    return dt.datetime(date.year, date.month, date.day, hh, mm, ss, tzinfo=tzinfo)


def _gregorian(y: int, mo: int, d: int, text: str) -> dt.date:
    try:
        return dt.date(y, mo, d)
    except ValueError:
        raise LatePolicyError(f"{text!r} is not a valid date") from None


# --- the policy ------------------------------------------------------------------------------

@dataclass(frozen=True)
class LatePolicy:
    """``late_policy`` of rubric.yaml, validated."""

    deadline: dt.datetime
    free_late_days: int = 5
    penalty_per_day_percent: float = 10.0
    max_penalty_percent: float = 100.0
    grace_minutes: float = 0.0
    timezone: dt.timezone = dt.timezone(dt.timedelta(hours=3, minutes=30))

    @classmethod
    def from_mapping(cls, raw: Mapping) -> "LatePolicy":
        if not isinstance(raw, Mapping) or "deadline" not in raw:
            raise LatePolicyError("late_policy needs at least a 'deadline'")
        known = {"deadline", "timezone", "free_late_days", "penalty_per_day_percent", "max_penalty_percent",
                 "grace_minutes", "note"}
        unknown = set(raw) - known
        if unknown:
            raise LatePolicyError(f"late_policy: unknown key(s) {sorted(unknown)}")
        tz = parse_offset(raw.get("timezone", "+03:30"))
        deadline = parse_time(str(raw["deadline"]), tz)
        values = {}
        for key in ("free_late_days", "penalty_per_day_percent", "max_penalty_percent", "grace_minutes"):
            if key in raw:
                v = raw[key]
                if isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0:
                    raise LatePolicyError(f"late_policy.{key} must be a non-negative number, got {v!r}")
                values[key] = v
        if "free_late_days" in values:
            values["free_late_days"] = int(values["free_late_days"])
        if values.get("max_penalty_percent", 100) > 100:
            raise LatePolicyError("late_policy.max_penalty_percent cannot exceed 100")
        return cls(deadline=deadline, timezone=tz, **values)

    def late_days(self, submitted: dt.datetime) -> int:
        """Whole days after the deadline, a started day counting as one."""
        late = submitted - self.deadline - dt.timedelta(minutes=self.grace_minutes)
        if late <= dt.timedelta(0):
            return 0
        return math.ceil(late / dt.timedelta(days=1))

    def charge(self, submitted: dt.datetime | None, prior_used: int = 0) -> "LateCharge":
        """The late days and penalty of one student for this homework.

        ``submitted`` None (no trusted time known): the days are unknown (None) and nothing is
        charged — a guessed time would punish or spare students at random.
        """
        if prior_used < 0:
            raise LatePolicyError(f"days already used cannot be negative ({prior_used})")
        remaining = max(0, self.free_late_days - prior_used)
        if submitted is None:
            return LateCharge("", None, prior_used, None, None, 0.0, remaining)
        days = self.late_days(submitted)
        free_used = min(days, remaining)
        charged = days - free_used
        penalty = min(self.max_penalty_percent, charged * self.penalty_per_day_percent)
        return LateCharge(submitted.isoformat(), days, prior_used, free_used, charged, float(penalty),
                          remaining - free_used)


@dataclass(frozen=True)
class LateCharge:
    #: ISO 8601; "" when no trusted time is known (then the day counts are None and nothing is charged)
    submitted_at: str
    late_days: int | None
    prior_used: int
    free_used: int | None
    charged_days: int | None
    penalty_percent: float
    #: free days left for the rest of the term after this homework
    free_left: int

    def apply(self, total: float) -> float:
        return round(total * (1 - self.penalty_percent / 100), 6)


@dataclass(frozen=True)
class Standing:
    """One submission's late days and final score as the gradebook holds them: what its feedback shows."""

    final: float
    max: float
    #: None: no trusted submission time is known (then nothing is charged)
    late_days: int | None
    free_used: int | None
    charged_days: int | None
    penalty_percent: float
    #: False when the rubric has no late policy
    policy: bool = True


def policy_from_rubric(raw: Mapping) -> LatePolicy | None:
    """The rubric's ``late_policy`` (None when the rubric has none)."""
    lp = raw.get("late_policy") if isinstance(raw, Mapping) else None
    return LatePolicy.from_mapping(lp) if lp is not None else None


# --- CSVs ------------------------------------------------------------------------------------

_ID_COLUMNS = ("student_id", "std_number", "student_number", "id", "sid")
_TIME_COLUMNS = ("submitted_at", "submission_time", "submitted", "time", "timestamp")
_DAYS_COLUMNS = ("days_used", "late_days_used", "used", "late_days")


def _column(header: list[str], choices: tuple[str, ...], path: Path, what: str) -> str:
    lowered = {h.strip().lower(): h for h in header}
    for c in choices:
        if c in lowered:
            return lowered[c]
    raise LatePolicyError(f"{path}: no {what} column (expected one of {', '.join(choices)}; found {header})")


def _rows(path: Path) -> tuple[list[str], list[dict]]:
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh)
            rows = list(reader)
            return list(reader.fieldnames or []), rows
    except OSError as exc:
        raise LatePolicyError(f"cannot read {path}: {exc.strerror}") from None


def read_submission_times(path: Path, tz: dt.timezone) -> dict[str, dt.datetime]:
    """student id → submission time, from the course platform's CSV (latest time if repeated)."""
    path = Path(path)
    header, rows = _rows(path)
    sid_col = _column(header, _ID_COLUMNS, path, "student id")
    time_col = _column(header, _TIME_COLUMNS, path, "submission time")
    times: dict[str, dt.datetime] = {}
    errors = []
    for n, row in enumerate(rows, 2):
        sid = (row.get(sid_col) or "").strip()
        raw = (row.get(time_col) or "").strip()
        if not sid:
            continue
        try:
            t = parse_time(raw, tz)
        except LatePolicyError as exc:
            errors.append(f"{path.name} line {n}: {exc}")
            continue
        times[sid] = max(t, times[sid]) if sid in times else t
    if errors:
        raise LatePolicyError("\n".join(errors[:20]))
    return times


def read_days_used(path: Path) -> dict[str, int]:
    """student id → late days already used this term (summed if a student appears on several lines)."""
    path = Path(path)
    header, rows = _rows(path)
    sid_col = _column(header, _ID_COLUMNS, path, "student id")
    days_col = _column(header, _DAYS_COLUMNS, path, "days used")
    used: dict[str, int] = {}
    errors = []
    for n, row in enumerate(rows, 2):
        sid = (row.get(sid_col) or "").strip()
        raw = (row.get(days_col) or "").strip()
        if not sid:
            continue
        try:
            days = int(raw)
            if days < 0:
                raise ValueError
        except ValueError:
            errors.append(f"{path.name} line {n}: days used must be a whole number ≥ 0, got {raw!r}")
            continue
        used[sid] = used.get(sid, 0) + days
    if errors:
        raise LatePolicyError("\n".join(errors[:20]))
    return used
