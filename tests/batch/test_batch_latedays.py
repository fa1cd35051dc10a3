"""Late days: Jalali dates, the deadline, a started day counting as one, the term's free-day budget."""
from __future__ import annotations

import datetime as dt

import pytest

from graders.latedays import (LatePolicy, LatePolicyError, jalali_to_gregorian, parse_time, policy_from_rubric,
                              read_days_used, read_submission_times)
from graders.rubric import load_rubric

TEHRAN = dt.timezone(dt.timedelta(hours=3, minutes=30))
POLICY = LatePolicy.from_mapping({"deadline": "1402-10-15 23:59", "timezone": "+03:30", "free_late_days": 5,
                                  "penalty_per_day_percent": 10, "max_penalty_percent": 100})
DEADLINE = dt.datetime(2024, 1, 5, 23, 59, tzinfo=TEHRAN)


@pytest.mark.parametrize("jalali, gregorian", [
    ((1402, 10, 15), (2024, 1, 5)),     # this homework's deadline
    ((1402, 1, 1), (2023, 3, 21)),      # Nowruz 1402
    ((1403, 1, 1), (2024, 3, 20)),      # Nowruz 1403 (after a leap Gregorian February)
    ((1399, 12, 30), (2021, 3, 20)),    # 1399 is a Jalali leap year
    ((1403, 12, 30), (2025, 3, 20)),    # so is 1403
    ((1357, 11, 22), (1979, 2, 11)),
])
def test_jalali_to_gregorian(jalali, gregorian):
    assert jalali_to_gregorian(*jalali) == dt.date(*gregorian)


def test_days_are_consecutive_across_a_whole_jalali_year():
    days = [jalali_to_gregorian(1402, m, d) for m in range(1, 13) for d in range(1, 32 if m <= 6 else 31 if m <= 11 else 30)]
    assert len(days) == 365
    assert all(b - a == dt.timedelta(days=1) for a, b in zip(days, days[1:]))
    assert jalali_to_gregorian(1403, 1, 1) - days[-1] == dt.timedelta(days=1)


def test_not_a_jalali_date():
    with pytest.raises(LatePolicyError, match="not a Jalali date"):
        jalali_to_gregorian(1402, 12, 30)  # 1402 is not leap


def test_the_rubric_deadline_is_15_dey_1402_2359_tehran():
    policy = policy_from_rubric(load_rubric().raw)
    assert policy.deadline == DEADLINE
    assert policy.deadline.astimezone(dt.timezone.utc) == dt.datetime(2024, 1, 5, 20, 29, tzinfo=dt.timezone.utc)
    assert policy.free_late_days == 5


@pytest.mark.parametrize("submitted, days", [
    ("2024-01-05 23:59", 0),            # exactly at the deadline
    ("2024-01-05 12:00", 0),
    ("2024-01-06 00:00", 1),            # one minute late: a started day counts
    ("2024-01-06 23:59", 1),            # exactly 24 h late
    ("2024-01-07 00:00", 2),
    ("1402-10-16 10:00", 1),            # Jalali, Tehran time
    ("2024-01-05T20:29:00Z", 0),        # the deadline in UTC
    ("2024-01-05T20:30:00Z", 1),        # one minute after it
    ("2024-01-05T23:00:00+04:30", 0),   # 22:00 Tehran
])
def test_late_days_across_the_deadline(submitted, days):
    assert POLICY.late_days(parse_time(submitted, TEHRAN)) == days


@pytest.mark.parametrize("late, prior, free_used, charged, penalty, free_left", [
    (0, 0, 0, 0, 0, 5),
    (3, 0, 3, 0, 0, 2),      # within the budget: free
    (5, 0, 5, 0, 0, 0),      # the whole budget
    (6, 0, 5, 1, 10, 0),     # one day beyond it
    (4, 3, 2, 2, 20, 0),     # 3 used earlier this term: only 2 free left
    (2, 5, 0, 2, 20, 0),     # budget spent before this homework
    (2, 7, 0, 2, 20, 0),     # ledger over budget: nothing free, not negative
    (20, 0, 5, 15, 100, 0),  # penalty capped at 100 %
])
def test_free_day_budget_and_penalty(late, prior, free_used, charged, penalty, free_left):
    submitted = DEADLINE + dt.timedelta(days=late - 1, hours=1) if late else DEADLINE
    c = POLICY.charge(submitted, prior)
    assert (c.late_days, c.free_used, c.charged_days, c.penalty_percent, c.free_left) == \
        (late, free_used, charged, penalty, free_left)
    assert c.apply(80.0) == pytest.approx(80.0 * (1 - penalty / 100))


def test_grace_minutes_and_no_time():
    p = LatePolicy.from_mapping({"deadline": "1402-10-15 23:59", "grace_minutes": 10})
    assert p.late_days(DEADLINE + dt.timedelta(minutes=10)) == 0
    assert p.late_days(DEADLINE + dt.timedelta(minutes=11)) == 1
    unknown = p.charge(None, prior_used=2)  # no trusted submission time: days unknown, nothing charged
    assert (unknown.submitted_at, unknown.late_days, unknown.free_used, unknown.charged_days,
            unknown.penalty_percent, unknown.free_left) == ("", None, None, None, 0.0, 3)
    assert unknown.apply(78.5) == 78.5


def test_policy_validation_names_the_bad_value():
    with pytest.raises(LatePolicyError, match="penalty_per_day_percent"):
        LatePolicy.from_mapping({"deadline": "1402-10-15 23:59", "penalty_per_day_percent": -1})
    with pytest.raises(LatePolicyError, match="unknown key"):
        LatePolicy.from_mapping({"deadline": "1402-10-15 23:59", "free_days": 5})
    with pytest.raises(LatePolicyError, match="UTC offset"):
        LatePolicy.from_mapping({"deadline": "1402-10-15 23:59", "timezone": "Tehran"})


def test_csvs_of_times_and_days_used(tmp_path):
    times = tmp_path / "times.csv"
    times.write_text("Student_ID,Submitted_At\n401,2024-01-06 10:00\n402,1402/10/15 22:00\n401,2024-01-05 10:00\n")
    got = read_submission_times(times, TEHRAN)
    assert got == {"401": dt.datetime(2024, 1, 6, 10, 0, tzinfo=TEHRAN), "402": dt.datetime(2024, 1, 5, 22, 0, tzinfo=TEHRAN)}
    used = tmp_path / "used.csv"
    used.write_text("student_id,days_used\n401,2\n402,1\n401,1\n")
    assert read_days_used(used) == {"401": 3, "402": 1}
    used.write_text("student_id,days_used\n401,two\n")
    with pytest.raises(LatePolicyError, match="used.csv line 2: days used must be a whole number"):
        read_days_used(used)
    times.write_text("student_id,when\n401,2024-01-06\n")
    with pytest.raises(LatePolicyError, match="no submission time column"):
        read_submission_times(times, TEHRAN)
    times.write_text("student_id,submitted_at\n401,yesterday\n")
    with pytest.raises(LatePolicyError, match="line 2: cannot read the date-time 'yesterday'"):
        read_submission_times(times, TEHRAN)
