"""Proleptic Gregorian calendar arithmetic on day numbers counted from 1970-01-01.

Integer only, so any year works; cron matching and the exports use it.
"""

from __future__ import annotations

# One Gregorian cycle: dates and weekdays repeat exactly after this many days.
CYCLE_DAYS = 146_097
# The longest each month can be (February of a leap year), indexed 1-12.
MAX_MONTH_DAYS = (0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def days_from_civil(year: int, month: int, day: int) -> int:
    """Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm)."""
    year -= month <= 2
    era = year // 400
    year_of_era = year - era * 400
    day_of_year = (153 * (month + (-3 if month > 2 else 9)) + 2) // 5 + day - 1
    day_of_era = year_of_era * 365 + year_of_era // 4 - year_of_era // 100 + day_of_year
    return era * CYCLE_DAYS + day_of_era - 719_468


def civil_from_days(days: int) -> tuple[int, int, int]:
    """The (year, month, day) of a day number counted from 1970-01-01."""
    days += 719_468
    era = days // CYCLE_DAYS
    day_of_era = days - era * CYCLE_DAYS
    year_of_era = (
        day_of_era - day_of_era // 1460 + day_of_era // 36_524 - day_of_era // 146_096
    ) // 365
    day_of_year = day_of_era - (365 * year_of_era + year_of_era // 4 - year_of_era // 100)
    shifted_month = (5 * day_of_year + 2) // 153
    day = day_of_year - (153 * shifted_month + 2) // 5 + 1
    month = shifted_month + (3 if shifted_month < 10 else -9)
    return year_of_era + era * 400 + (month <= 2), month, day


def weekday_of(days: int) -> int:
    """Day of the week of a day number, Sunday = 0 (1970-01-01 was a Thursday)."""
    return (days + 4) % 7


def days_in_month(year: int, month: int) -> int:
    """Number of days in a month of the proleptic Gregorian calendar."""
    if month == 2:
        leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
        return 29 if leap else 28
    return MAX_MONTH_DAYS[month]
