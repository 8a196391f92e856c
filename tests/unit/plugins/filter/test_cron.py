# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The cron filters: what each schedule is refused for, the systemd calendars of the valid ones, and,
for generated schedules, that those calendars run on exactly the days and times cron would.

The rendered timer is checked with systemd's own calendar parser in
tests/integration/test_role_watcher.py.
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ansible.errors import AnsibleFilterError

from ansible_collections.nodewatch.k8s.plugins.filter.cron import FilterModule, cron_problems, cron_to_oncalendar

VALID = [
    # (schedule, dialect, calendars)
    ("7 * * * *", "kubernetes", ["*-*-* *:7:00"]),
    ("*/15 2-4 * * *", "kubernetes", ["*-*-* 2,3,4:0,15,30,45:00"]),
    ("0 0 1,15 * *", "kubernetes", ["*-*-1,15 0:0:00"]),
    ("30 6 * * mon-fri", "kubernetes", ["Mon,Tue,Wed,Thu,Fri *-*-* 6:30:00"]),
    ("0 12 1 jan,jul *", "kubernetes", ["*-1,7-1 12:0:00"]),
    ("15 3 1 * sun", "kubernetes", ["Sun *-*-* 3:15:00", "*-*-1 3:15:00"]),
    ("0 0 13 * 5", "kubernetes", ["Fri *-*-* 0:0:00", "*-*-13 0:0:00"]),
    ("5/20 1 * * *", "kubernetes", ["*-*-* 1:5,25,45:00"]),
    ("0 22 * * 1-5/2", "kubernetes", ["Mon,Wed,Fri *-*-* 22:0:00"]),
    ("0 0 ? * ?", "kubernetes", ["*-*-* 0:0:00"]),
    ("0 0 ?/10 * *", "kubernetes", ["*-*-1,11,21,31 0:0:00"]),
    ("0-59 0-23 1-31 1-12 0-6", "kubernetes", ["*-*-* *:*:00"]),
    ("0 0 * JAN,Dec SUN", "kubernetes", ["Sun *-1,12-* 0:0:00"]),
    ("\t1  2\t3 4 5 ", "kubernetes", ["Fri *-4-* 2:1:00", "*-4-3 2:1:00"]),
    ("@daily", "kubernetes", ["*-*-* 0:0:00"]),
    ("@midnight", "kubernetes", ["*-*-* 0:0:00"]),
    ("@hourly", "kubernetes", ["*-*-* *:0:00"]),
    ("@weekly", "kubernetes", ["Sun *-*-* 0:0:00"]),
    ("@monthly", "kubernetes", ["*-*-1 0:0:00"]),
    ("@Yearly", "kubernetes", ["*-1-1 0:0:00"]),
    ("@annually", "kubernetes", ["*-1-1 0:0:00"]),
    # A star with a step restricts the day (robfig/cron drops the star): either day field decides.
    ("0 0 */2 * mon", "kubernetes", ["Mon *-*-* 0:0:00", "*-*-1,3,5,7,9,11,13,15,17,19,21,23,25,27,29,31 0:0:00"]),
    # ... a star with step 1 does not.
    ("0 0 */1 * mon", "kubernetes", ["Mon *-*-* 0:0:00"]),
    # 7 is Sunday in classic cron (and systemd), not in Kubernetes.
    ("5/20 1 * * 7", "cron", ["Sun *-*-* 1:5,25,45:00"]),
    ("0 0 * * 5-7", "cron", ["Sun,Fri,Sat *-*-* 0:0:00"]),
    ("0 0 * * 0,7", "cron", ["Sun *-*-* 0:0:00"]),
]


@pytest.mark.parametrize("schedule, dialect, calendars", VALID)
def test_a_valid_schedule_has_no_problem_and_becomes_calendars(schedule, dialect, calendars):
    assert cron_problems(schedule, dialect) == []
    assert cron_to_oncalendar(schedule, dialect) == calendars


INVALID = [
    # (schedule, dialect, problems)
    ("61 * * * *", "kubernetes", ["minute '61' is outside 0-59"]),
    ("0 3 * *", "kubernetes", ["it has 4 fields; cron needs 5 (minute hour day-of-month month day-of-week)"]),
    ("0 0 0 * * *", "kubernetes", ["it has 6 fields; cron needs 5 (minute hour day-of-month month day-of-week)"]),
    ("daily", "kubernetes", ["it has 1 field; cron needs 5 (minute hour day-of-month month day-of-week)"]),
    ("", "kubernetes", ["it is empty; cron needs 5 fields (minute hour day-of-month month day-of-week)"]),
    (" \t ", "kubernetes", ["it is empty; cron needs 5 fields (minute hour day-of-month month day-of-week)"]),
    ("@reboot", "kubernetes", ["'@reboot' is not one of @yearly, @annually, @monthly, @weekly, @daily, @midnight, @hourly"]),
    ("@every 1h", "kubernetes", ["'@every 1h' is not one of @yearly, @annually, @monthly, @weekly, @daily, @midnight, @hourly"]),
    ("0 24 * * *", "kubernetes", ["hour '24' is outside 0-23"]),
    ("0 0 0 * *", "kubernetes", ["day of month '0' is outside 1-31"]),
    ("0 0 32 * *", "kubernetes", ["day of month '32' is outside 1-31"]),
    ("0 0 * 13 *", "kubernetes", ["month '13' is outside 1-12"]),
    ("0 0 * 0 *", "kubernetes", ["month '0' is outside 1-12"]),
    ("0 0 * * 7", "kubernetes", ["day of week '7' is outside 0-6"]),
    ("0 0 * * 5-7", "kubernetes", ["day of week '5-7' is outside 0-6"]),
    ("0 0 * * 8", "cron", ["day of week '8' is outside 0-7"]),
    ("*/0 * * * *", "kubernetes", ["minute '*/0' has a malformed step"]),
    ("*/ * * * *", "kubernetes", ["minute '*/' has a malformed step"]),
    ("1/2/3 * * * *", "kubernetes", ["minute '1/2/3' has a malformed step"]),
    ("*/-1 * * * *", "kubernetes", ["minute '*/-1' has a malformed step"]),
    ("5-1 * * * *", "kubernetes", ["minute '5-1' is a range that ends before it starts"]),
    ("0 0 * * fri-mon", "kubernetes", ["day of week 'fri-mon' is a range that ends before it starts"]),
    ("1-2-3 * * * *", "kubernetes", ["minute '1-2-3' is not a number, a range or *"]),
    ("-5 * * * *", "kubernetes", ["minute '-5' is not a number, a range or *"]),
    ("5- * * * *", "kubernetes", ["minute '5-' is not a number, a range or *"]),
    ("1,,2 * * * *", "kubernetes", ["minute '' is not a number, a range or *"]),
    ("mon * * * *", "kubernetes", ["minute 'mon' is not a number, a range or *"]),
    ("0 0 * foo *", "kubernetes", ["month 'foo' is not a number, a name, a range or *"]),
    ("0 0 * * monday", "kubernetes", ["day of week 'monday' is not a number, a name, a range or *"]),
    ("+5 * * * *", "kubernetes", ["minute '+5' is not a number, a range or *"]),
    ("0x1 * * * *", "kubernetes", ["minute '0x1' is not a number, a range or *"]),
    ("1.5 * * * *", "kubernetes", ["minute '1.5' is not a number, a range or *"]),
    # Digits of other scripts: int() reads them, cron does not.
    ("\u0665 * * * *", "kubernetes", ["minute '\u0665' is not a number, a range or *"]),
    ("\uff15 * * * *", "kubernetes", ["minute '\uff15' is not a number, a range or *"]),
    # Every problem is reported, not only the first.
    ("61 25 * * *", "kubernetes", ["minute '61' is outside 0-59", "hour '25' is outside 0-23"]),
    ("1,99,x * * * *", "kubernetes", ["minute '99' is outside 0-59", "minute 'x' is not a number, a range or *"]),
    # A newline would end the line /etc/cron.d gets: it is part of a field, never a separator.
    ("0 0 * * *\n* * * * * root sh", "kubernetes", ["it has 11 fields; cron needs 5 (minute hour day-of-month month day-of-week)"]),
    ("0 0 * *\n*", "kubernetes", ["it has 4 fields; cron needs 5 (minute hour day-of-month month day-of-week)"]),
    ("0 0 * * *\n1", "kubernetes", ["day of week '*\n1' is not a number, a name, a range or *"]),
    # A number too long for int() to read quickly is simply not a number.
    ("9" * 5000 + " * * * *", "kubernetes", ["minute '%s...' is not a number, a range or *" % ("9" * 40)]),
    ("TZ=UTC 0 * * * *", "kubernetes", ["it has 6 fields; cron needs 5 (minute hour day-of-month month day-of-week)"]),
]


@pytest.mark.parametrize("schedule, dialect, problems", INVALID)
def test_an_invalid_schedule_is_refused_with_sentences_naming_field_and_item(schedule, dialect, problems):
    assert cron_problems(schedule, dialect) == problems
    with pytest.raises(AnsibleFilterError) as failure:
        cron_to_oncalendar(schedule, dialect)
    assert "is not a valid cron schedule: " + "; ".join(problems) in str(failure.value)


@pytest.mark.parametrize("value, kind", [
    (None, "nothing (null)"), (5, "a number (quote it)"), (1.5, "a number (quote it)"), (True, "a boolean"),
    (["7", "*", "*", "*", "*"], "a list"), ({"minute": 7}, "a dictionary"), (b"7 * * * *", "a bytes"),
])
def test_a_value_that_is_not_a_string_is_a_problem_not_a_crash(value, kind):
    assert cron_problems(value) == ["the schedule must be a string such as '7 * * * *', not %s" % kind]
    with pytest.raises(AnsibleFilterError, match="must be a string"):
        cron_to_oncalendar(value)


def test_an_unknown_dialect_fails_naming_the_choices():
    with pytest.raises(AnsibleFilterError, match="dialect must be one of kubernetes, cron, not 'vixie'"):
        cron_problems("7 * * * *", "vixie")


def test_the_filters_are_registered_under_their_documented_names():
    assert FilterModule().filters() == {"cron_problems": cron_problems, "cron_to_oncalendar": cron_to_oncalendar}


# -- generated schedules: the calendars run exactly when cron does ---------------------------------

_BOUNDS = [(0, 59), (0, 23), (1, 31), (1, 12), (0, 6)]


@st.composite
def _items(draw, low, high):
    kind = draw(st.sampled_from(["star", "star_step", "number", "range", "range_step", "number_step"]))
    a = draw(st.integers(low, high))
    b = draw(st.integers(a, high))
    step = draw(st.integers(1, high - low + 1))
    return {"star": "*", "star_step": "*/%d" % step, "number": "%d" % a, "range": "%d-%d" % (a, b),
            "range_step": "%d-%d/%d" % (a, b, step), "number_step": "%d/%d" % (a, step)}[kind]


@st.composite
def _schedules(draw):
    fields = []
    for low, high in _BOUNDS:
        fields.append(",".join(draw(st.lists(_items(low, high), min_size=1, max_size=3))))
    return " ".join(fields)


def _cron_field(text, low, high):
    """(values, star) of one field, read the way robfig/cron reads it (written apart from the plugin)."""
    values, star = set(), False
    for item in text.split(","):
        base, step = (item.split("/") + [None])[:2]
        step = int(step) if step else 1
        if base == "*":
            first, last = low, high
            star = star or step == 1
        elif "-" in base:
            first, last = [int(x) for x in base.split("-")]
        else:
            first = int(base)
            last = high if "/" in item else first
        values.update(range(first, last + 1, step))
    return values, star


def _cron_runs_on(fields, day):
    days, days_star = _cron_field(fields[2], 1, 31)
    weekdays, weekdays_star = _cron_field(fields[4], 0, 6)
    months = _cron_field(fields[3], 1, 12)[0]
    weekday = (day.weekday() + 1) % 7
    if days_star or weekdays_star:
        day_ok = day.day in days and weekday in weekdays
    else:
        day_ok = day.day in days or weekday in weekdays
    return day.month in months and day_ok


_CALENDAR = re.compile(r"(?:(?P<weekdays>[A-Za-z,]+) )?\*-(?P<months>[0-9,*]+)-(?P<days>[0-9,*]+) (?P<hours>[0-9,*]+):(?P<minutes>[0-9,*]+):00\Z")
_WEEKDAY = {"Sun": 0, "Mon": 1, "Tue": 2, "Wed": 3, "Thu": 4, "Fri": 5, "Sat": 6}


def _calendar_values(text, low, high):
    return set(range(low, high + 1)) if text == "*" else set(int(v) for v in text.split(","))


def _calendar_runs_on(calendar, day):
    parts = _CALENDAR.match(calendar)
    assert parts, calendar
    weekdays = set(_WEEKDAY[w] for w in parts.group("weekdays").split(",")) if parts.group("weekdays") else set(range(7))
    return (day.month in _calendar_values(parts.group("months"), 1, 12)
            and day.day in _calendar_values(parts.group("days"), 1, 31)
            and (day.weekday() + 1) % 7 in weekdays)


_DAYS = [datetime.date(2024, 1, 1) + datetime.timedelta(days=n) for n in range(366 + 365 + 365 + 365)]


@settings(max_examples=150, deadline=None)
@given(_schedules())
def test_generated_schedules_run_on_the_days_and_times_cron_would(schedule):
    fields = schedule.split()
    assert cron_problems(schedule) == []
    calendars = cron_to_oncalendar(schedule)
    assert 1 <= len(calendars) <= 2
    for calendar in calendars:
        parts = _CALENDAR.match(calendar)
        assert parts, calendar
        assert _calendar_values(parts.group("minutes"), 0, 59) == _cron_field(fields[0], 0, 59)[0]
        assert _calendar_values(parts.group("hours"), 0, 23) == _cron_field(fields[1], 0, 23)[0]
    # Four years, a leap year included: every day the calendars run is a day cron runs, and back.
    assert [d for d in _DAYS if any(_calendar_runs_on(c, d) for c in calendars)] == \
        [d for d in _DAYS if _cron_runs_on(fields, d)]


@given(st.text(max_size=60))
def test_any_text_gets_an_answer_never_a_crash(text):
    problems = cron_problems(text)
    assert isinstance(problems, list) and all(isinstance(p, str) and p for p in problems)
    if problems:
        with pytest.raises(AnsibleFilterError):
            cron_to_oncalendar(text)
    else:
        assert cron_to_oncalendar(text)


def test_a_hostile_item_is_quoted_but_not_at_any_length():
    problem = cron_problems("x" * 100000 + " * * * *")[0]
    assert len(problem) < 120 and problem.startswith("minute '" + "x" * 40 + "...'")
