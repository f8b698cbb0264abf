"""Plausibility bounds on the numbers a user types: fractions, doses, intervals, prescriptions, dates.

These are **absolute plausibility limits, not clinical limits**. They refuse values that cannot be
meant (a dose in cGy typed as Gy, a total typed as a fraction count, a date of year 20224, ``1e23``
fractions) before they reach the LQ arithmetic, where they would give numbers that look valid. The
clinical limits (the isotoxic maximum, the OAR limits) are the protocol's: a prescription above the
protocol's maximum is a ``stop`` finding of :mod:`reirrad.eligibility`, which a recorded reason may
override; a value outside these bounds is refused (:class:`reirrad.errors.InputError`, exit 2) and no
override lifts it. Every bound is a module constant; ``docs/input-files.md`` gives the rationale.

=============================  ===========  ===================================================
bound                          value        why
=============================  ===========  ===================================================
fractions per course           1 … 60       conventional pelvic courses have at most ~40 (78 Gy
                                            in 39); 60 leaves room for any twice-daily course
dose per fraction (physical)   ≤ 35 Gy      the largest single-fraction regimen in use is 34 Gy
                                            (peripheral lung SABR); more is cGy or a total
dose per course (physical)     ≤ 150 Gy     the largest fractionated course plus a brachytherapy
                                            boost is ~75 Gy physical; 4500 (cGy) is refused
interval                       0 … 36525 d  100 years
new-course prescription        ≤ 100 Gy     total; twice the largest protocol maximum in use
dates                          1900 … 2200  a typo (0202, 20224) is not a treatment date
a prior course's last fraction ≤ today      a prior course has been given (2031 for 2021)
a new course's first fraction  ≤ today      re-irradiation is planned weeks ahead, not years;
                               + 366 d      a year typo (2036 for 2026) would credit more
                                            recovery (the interval runs to that date)
=============================  ===========  ===================================================

The dose bounds apply to the doses a user enters (OAR metric doses of prior courses, prescriptions),
never to dose grids, whose hot spots (brachytherapy) may legitimately exceed them.
"""

from __future__ import annotations

import datetime as dt
import math
import numbers
from typing import Any, Optional

from .errors import InputError, echo

__all__ = [
    "MAX_COURSE_DOSE_GY",
    "MAX_DAYS_TO_PLANNED_START",
    "MAX_DOSE_PER_FRACTION_GY",
    "MAX_FRACTIONS_PER_COURSE",
    "MAX_INTERVAL_DAYS",
    "MAX_PRESCRIPTION_GY",
    "MAX_YEAR",
    "MIN_FRACTIONS_PER_COURSE",
    "MIN_YEAR",
    "check_course_dates",
    "check_course_dose",
    "check_date",
    "check_fractions",
    "check_interval_days",
    "check_prescription",
]

MIN_FRACTIONS_PER_COURSE = 1
"""Fewest fractions of a course."""
MAX_FRACTIONS_PER_COURSE = 60
"""Most fractions of a course (conventional pelvic courses have at most about 40)."""
MAX_DOSE_PER_FRACTION_GY = 35.0
"""Largest physical dose per fraction, Gy (34 Gy in 1 fraction is the largest regimen in use)."""
MAX_COURSE_DOSE_GY = 150.0
"""Largest physical dose of one course, Gy, total over its fractions (about twice any real course)."""
MAX_INTERVAL_DAYS = 36525.0
"""Longest interval between two courses, days (100 years of 365.25 days)."""
MAX_PRESCRIPTION_GY = 100.0
"""Largest new-course prescription, TOTAL physical Gy, whatever the protocol says."""
MIN_YEAR = 1900
"""Earliest year of a date in an input (a course date, a planned start)."""
MAX_YEAR = 2200
"""Latest year of a date in an input."""
MAX_DAYS_TO_PLANNED_START = 366
"""Longest wait, days, from today to a new course's first fraction (a year)."""


def _number(name: str, value: Any, unit: str) -> Any:
    """``value`` if it is a real number (not a bool), finite; ints are returned as ints (never
    converted to float here: a 400-digit int would overflow)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise InputError(f"{name} must be a number in {unit} (got {echo(value)} of type "
                         f"{type(value).__name__})")
    if isinstance(value, numbers.Integral):
        return int(value)
    if not math.isfinite(float(value)):
        raise InputError(f"{name} must be a finite number in {unit} (got {echo(value)})")
    return float(value)


def _above(name: str, value: Any, unit: str, bound: float, *, why: str,
           fix: str = "check the value and its unit") -> InputError:
    return InputError(f"{name} = {echo(value)} {unit} is above the plausible maximum of {bound:g} {unit} "
                      f"({why}); {fix}")


def check_fractions(name: str, value: Any) -> int:
    """A course's number of fractions: a whole number in 1 … :data:`MAX_FRACTIONS_PER_COURSE`.

    Parameters
    ----------
    name : str
        What the value is, for the message (e.g. ``"courses[0].n_fractions"``).
    value : int
        The number of fractions. ``bool`` and floats (``5.0``) are refused: a fraction count given as
        a float usually means two values were swapped.

    Returns
    -------
    int

    Raises
    ------
    reirrad.errors.InputError
        Not a whole number, or outside the bounds; the message names the value and the bound.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise InputError(f"{name} must be a whole number of fractions (got {echo(value)} of type "
                         f"{type(value).__name__}); write an integer such as 5")
    count = int(value)
    if count < MIN_FRACTIONS_PER_COURSE:
        raise InputError(f"{name} = {echo(count)} fractions: a course has at least "
                         f"{MIN_FRACTIONS_PER_COURSE} fraction")
    if count > MAX_FRACTIONS_PER_COURSE:
        raise _above(name, count, "fractions", MAX_FRACTIONS_PER_COURSE, why="per course",
                     fix="check the number of fractions")
    return count


def check_course_dose(name: str, dose_gy: Any, n_fractions: int) -> float:
    """A physical dose entered for one course (TOTAL over its ``n_fractions``), Gy.

    It must be finite, ≥ 0, at most :data:`MAX_COURSE_DOSE_GY` in total and at most
    :data:`MAX_DOSE_PER_FRACTION_GY` per fraction.

    Parameters
    ----------
    name : str
        What the value is, for the message.
    dose_gy : float
        TOTAL physical dose of the course, Gy.
    n_fractions : int
        The course's fractions (already checked with :func:`check_fractions`).

    Returns
    -------
    float

    Raises
    ------
    reirrad.errors.InputError
        Not a finite number, negative, or above a bound; the message names the value and the bound.
    """
    value = _number(name, dose_gy, "Gy")
    if value < 0:
        raise InputError(f"{name} = {echo(value)} Gy: a dose cannot be negative")
    if value > MAX_COURSE_DOSE_GY:
        raise _above(name, value, "Gy", MAX_COURSE_DOSE_GY,
                     why="physical dose of one course; a value in cGy must be divided by 100")
    dose = float(value)
    if n_fractions >= 1 and dose / n_fractions > MAX_DOSE_PER_FRACTION_GY:
        raise InputError(f"{name} = {dose:g} Gy in {n_fractions} fraction(s) is {dose / n_fractions:g} Gy "
                         f"per fraction, above the plausible maximum of {MAX_DOSE_PER_FRACTION_GY:g} Gy per "
                         "fraction; check the dose (TOTAL over the course) and the number of fractions")
    return dose


def check_interval_days(name: str, days: Any) -> float:
    """An interval between two courses, days: finite, 0 … :data:`MAX_INTERVAL_DAYS`.

    Parameters
    ----------
    name : str
        What the value is, for the message.
    days : float
        Days from the prior course's last fraction to the new course's first.

    Returns
    -------
    float

    Raises
    ------
    reirrad.errors.InputError
        Not a finite number, negative, or above 100 years.
    """
    value = _number(name, days, "days")
    if value < 0:
        raise InputError(f"{name} = {echo(value)} days: an interval cannot be negative (it runs from the "
                         "prior course's last fraction to the new course's first)")
    if value > MAX_INTERVAL_DAYS:
        raise _above(name, value, "days", MAX_INTERVAL_DAYS, why="100 years", fix="check the interval (days)")
    return float(value) + 0.0  # -0.0 is 0 days (it was printed as "-0 days")


def check_prescription(name: str, prescription_gy: Any, *, course: str = "new-course") -> float:
    """A new-course prescription, TOTAL physical Gy: finite, > 0, at most :data:`MAX_PRESCRIPTION_GY`.

    A prescription above the protocol's isotoxic maximum but below this ceiling is not refused here:
    it is the ``dose-above-protocol-maximum`` stop finding (:func:`reirrad.eligibility.check_eligibility`).

    Parameters
    ----------
    name : str
        What the value is, for the message (e.g. ``"--prescription-gy"``).
    prescription_gy : float
        TOTAL prescribed dose of the course, Gy.
    course : str, optional
        Which course it prescribes, for the message: ``"new-course"`` or ``"prior-course"`` (the same
        ceiling: no course of pelvic radiotherapy is prescribed above it).

    Returns
    -------
    float

    Raises
    ------
    reirrad.errors.InputError
        Not a finite number, not > 0, or above the ceiling.
    """
    value = _number(name, prescription_gy, "Gy")
    if not value > 0:
        raise InputError(f"{name} must be > 0 Gy (got {echo(value)}): a prescription is a positive TOTAL "
                         "dose")
    if value > MAX_PRESCRIPTION_GY:
        raise _above(name, value, "Gy", MAX_PRESCRIPTION_GY,
                     why=f"TOTAL {course} prescription, never exceeded whatever the protocol; a value in "
                         "cGy must be divided by 100")
    return float(value)


def check_date(name: str, value: dt.date) -> dt.date:
    """A date of an input (a course's last fraction, a planned start): year :data:`MIN_YEAR` …
    :data:`MAX_YEAR`.

    Parameters
    ----------
    name : str
        What the value is, for the message.
    value : datetime.date
        The date (a ``datetime`` is a ``date``).

    Returns
    -------
    datetime.date
        ``value`` unchanged.

    Raises
    ------
    reirrad.errors.InputError
        The year is outside the bounds.
    """
    if not MIN_YEAR <= value.year <= MAX_YEAR:
        raise InputError(f"{name} = {value.isoformat()}: the year {value.year} is outside "
                         f"{MIN_YEAR}..{MAX_YEAR}; check the date (YYYY-MM-DD)")
    return value


def check_course_dates(last_fraction: dt.date, new_first_fraction: dt.date, *, course: str,
                       today: Optional[dt.date] = None) -> None:
    """Refuse course dates that cannot be meant: a prior course's last fraction after today, or a new
    course's first fraction more than :data:`MAX_DAYS_TO_PLANNED_START` days after today.

    Found by a hostile-input review: ``new_course_start: 2036-12-07`` (for 2026) gave a 3842-day
    interval and the UK guidance's 50 % recovery instead of 30 % (small bowel 45 Gy/25: 28.08 Gy allowed
    instead of 24.91 Gy), and a prior course "ending" in 2031 was accepted, with no finding.

    Parameters
    ----------
    last_fraction, new_first_fraction : datetime.date
        The prior course's last fraction and the new course's first.
    course : str
        The prior course, for the message.
    today : datetime.date, optional
        Default: the computer's date.

    Raises
    ------
    reirrad.errors.InputError
        Naming the date, today and the fix.
    """
    today = dt.date.today() if today is None else today
    if last_fraction > today:
        raise InputError(f"the last fraction of prior course {course} is {last_fraction.isoformat()}, "
                         f"after today ({today.isoformat()}): a prior course has been given; check its date "
                         "(YYYY-MM-DD)")
    ahead = (new_first_fraction - today).days
    if ahead > MAX_DAYS_TO_PLANNED_START:
        raise InputError(f"the new course's first fraction {new_first_fraction.isoformat()} is {ahead} days "
                         f"after today ({today.isoformat()}), more than {MAX_DAYS_TO_PLANNED_START}: check "
                         "the planned start (YYYY-MM-DD); the interval, and so the recovery credited, runs "
                         "to it")
