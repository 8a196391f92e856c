# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Cron schedules for the watcher role: what is wrong with one, and the systemd calendar that runs it.

The grammar is the one Kubernetes CronJobs accept (robfig/cron v3 ``ParseStandard``): five fields,
``*`` or ``?``, numbers, month and weekday names in any case, ranges, lists, steps (``*/15``,
``1-5/2``, and ``5/20`` meaning from 5 to the end every 20) and the ``@yearly`` ... ``@hourly``
macros. The ``cron`` dialect also takes 7 for Sunday, as classic cron and systemd do; Kubernetes
refuses it. The documentation of each filter is in its sidecar file (cron_problems.yml,
cron_to_oncalendar.yml).
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible.errors import AnsibleFilterError

MACROS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
DIALECTS = ("kubernetes", "cron")
_MONTHS = dict((name, number + 1) for number, name in enumerate("jan feb mar apr may jun jul aug sep oct nov dec".split()))
_WEEKDAYS = dict((name, number) for number, name in enumerate("sun mon tue wed thu fri sat".split()))
_WEEKDAY_NAMES = ("Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat")
# ASCII digits only: str.isdigit() and int() also accept other scripts' digits, which cron does not.
_NUMBER = re.compile(r"[0-9]{1,9}\Z")
_STEP = re.compile(r"[1-9][0-9]{0,8}\Z")
# Fields are separated by spaces or tabs only: a newline inside a schedule would end the line that
# /etc/cron.d gets, so it is a character of a field, and rejected there.
_SEPARATOR = re.compile(r"[ \t]+")
_SHOWN = 40  # a hostile field is quoted in a message, but not at any length


class _Field(object):
    def __init__(self, label, low, high, names=None):
        self.label = label
        self.low = low
        self.high = high
        self.names = names or {}


def _fields(dialect):
    # Kubernetes' day-of-week range is 0-6; classic cron and systemd also read 7 as Sunday.
    return (
        _Field("minute", 0, 59),
        _Field("hour", 0, 23),
        _Field("day of month", 1, 31),
        _Field("month", 1, 12, _MONTHS),
        _Field("day of week", 0, 6 if dialect == "kubernetes" else 7, _WEEKDAYS),
    )


def _shown(text):
    return text if len(text) <= _SHOWN else text[:_SHOWN] + "..."


def _number(text, field):
    if _NUMBER.match(text):
        return int(text)
    return field.names.get(text)


def _parse_item(item, field):
    """(values, star, problem) of one comma-separated item of a field."""
    base, slash, step_text = item.partition("/")
    step = 1
    if slash:
        if not _STEP.match(step_text):
            return None, False, "%s '%s' has a malformed step" % (field.label, _shown(item))
        step = int(step_text)
    if base in ("*", "?"):
        first, last = field.low, field.high
        # As robfig/cron: a star with a step larger than 1 restricts the field (matters for the
        # day fields, where one star means "the other day field decides").
        star = step == 1
    else:
        star = False
        ends = base.split("-")
        numbers = [_number(end, field) for end in ends]
        if len(ends) > 2 or None in numbers:
            what = "a number, a name, a range or *" if field.names else "a number, a range or *"
            return None, False, "%s '%s' is not %s" % (field.label, _shown(item), what)
        first = numbers[0]
        last = numbers[1] if len(numbers) == 2 else (field.high if slash else first)
    if first < field.low or last > field.high:
        return None, False, "%s '%s' is outside %d-%d" % (field.label, _shown(item), field.low, field.high)
    if first > last:
        return None, False, "%s '%s' is a range that ends before it starts" % (field.label, _shown(item))
    return set(range(first, last + 1, step)), star, None


class CronSchedule(object):
    """A valid schedule: per field the set of values it selects (weekdays 0-6, Sunday 0), and
    whether each day field is a star (cron runs a day when EITHER restricted day field matches)."""

    def __init__(self, text, minutes, hours, days, months, weekdays, days_star, weekdays_star):
        self.text = text
        self.minutes = minutes
        self.hours = hours
        self.days = days
        self.months = months
        self.weekdays = weekdays
        self.days_star = days_star
        self.weekdays_star = weekdays_star

    def oncalendar(self):
        """systemd OnCalendar expressions whose union runs exactly when cron would."""
        time = "%s:%s:00" % (_calendar_values(self.hours, 0, 23), _calendar_values(self.minutes, 0, 59))
        month = _calendar_values(self.months, 1, 12)
        days = _calendar_values(self.days, 1, 31)
        every_weekday = self.weekdays == set(range(7))
        weekdays = "" if every_weekday else ",".join(_WEEKDAY_NAMES[d] for d in sorted(self.weekdays)) + " "
        if self.days_star or self.weekdays_star:
            # A star day field lets the other one decide: systemd's AND is cron's meaning.
            return ["%s*-%s-%s %s" % (weekdays, month, days, time)]
        if every_weekday or days == "*":
            # Both restricted, so cron runs when EITHER matches; one of them matches every day.
            return ["*-%s-* %s" % (month, time)]
        # Either of two restricted fields: one systemd calendar (which needs all to match) per field.
        return ["%s*-%s-* %s" % (weekdays, month, time), "*-%s-%s %s" % (month, days, time)]


def _calendar_values(values, low, high):
    if values == set(range(low, high + 1)):
        return "*"
    return ",".join(str(v) for v in sorted(values))


def _kind(value):
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number (quote it)"
    if isinstance(value, (list, tuple)):
        return "a list"
    if isinstance(value, dict):
        return "a dictionary"
    return "a %s" % type(value).__name__


def parse(schedule, dialect="kubernetes"):
    """``(CronSchedule or None, problems)``: every problem is a sentence naming the field and item."""
    if dialect not in DIALECTS:
        raise AnsibleFilterError("dialect must be one of %s, not %r" % (", ".join(DIALECTS), dialect))
    if not isinstance(schedule, str):
        return None, ["the schedule must be a string such as '7 * * * *', not %s" % _kind(schedule)]
    text = schedule.strip().lower()
    if not text:
        return None, ["it is empty; cron needs 5 fields (minute hour day-of-month month day-of-week)"]
    if text.startswith("@"):
        if text not in MACROS:
            return None, ["'%s' is not one of %s" % (_shown(text), ", ".join(MACROS))]
        text = MACROS[text]
    parts = _SEPARATOR.split(text)
    if len(parts) != 5:
        return None, ["it has %d field%s; cron needs 5 (minute hour day-of-month month day-of-week)"
                      % (len(parts), "" if len(parts) == 1 else "s")]
    problems = []
    selected = []
    stars = []
    for part, field in zip(parts, _fields(dialect)):
        values = set()
        star = False
        for item in part.split(","):
            item_values, item_star, problem = _parse_item(item, field)
            if problem:
                problems.append(problem)
                continue
            values |= item_values
            star = star or item_star
        selected.append(values)
        stars.append(star)
    if problems:
        return None, problems
    weekdays = set(day % 7 for day in selected[4])
    return CronSchedule(text, selected[0], selected[1], selected[2], selected[3], weekdays, stars[2], stars[4]), []


def cron_problems(schedule, dialect="kubernetes"):
    return parse(schedule, dialect)[1]


def cron_to_oncalendar(schedule, dialect="kubernetes"):
    parsed, problems = parse(schedule, dialect)
    if problems:
        raise AnsibleFilterError("cron_to_oncalendar: '%s' is not a valid cron schedule: %s" % (_shown(str(schedule)), "; ".join(problems)))
    return parsed.oncalendar()


class FilterModule(object):
    def filters(self):
        return {
            "cron_problems": cron_problems,
            "cron_to_oncalendar": cron_to_oncalendar,
        }
