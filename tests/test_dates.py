"""French dates and times → datetimes (python-dateutil, no Duckling)."""
from datetime import datetime

import pytest

from numi.nlu import dates

NOW = datetime(2026, 11, 23, 10, 0)  # a Monday


@pytest.mark.parametrize("text,expected,has_time", [
    ("demain matin", datetime(2026, 11, 24, 9, 0), True),
    ("aujourd’hui à 15h", datetime(2026, 11, 23, 15, 0), True),
    ("lundi prochain vers 14h", datetime(2026, 11, 30, 14, 0), True),
    ("le 22/12", datetime(2026, 12, 22, 9, 0), False),
    ("le 22 décembre à 10h30", datetime(2026, 12, 22, 10, 30), True),
    ("le 22 decembre a 10h30", datetime(2026, 12, 22, 10, 30), True),
    ("après-demain à 16h", datetime(2026, 11, 25, 16, 0), True),
    ("jeudi après-midi", datetime(2026, 11, 26, 14, 0), True),
    ("dans 3 jours", datetime(2026, 11, 26, 9, 0), False),
    ("le 3/01", datetime(2027, 1, 3, 9, 0), False),  # past this year: next year
    ("vers 9h", datetime(2026, 11, 24, 9, 0), True),  # already past today: tomorrow
])
def test_french_expressions(text, expected, has_time):
    found = dates.find(text, NOW)
    assert found is not None and found.value == expected and found.has_time == has_time


@pytest.mark.parametrize("text", ["", "bonjour", "{{7*7}}", "le 45/13", "TK-00456"])
def test_no_date(text):
    assert dates.find(text, NOW) is None


def test_month_ranges_in_french():
    from datetime import datetime

    from numi.nlu.dates import month_range

    now = datetime(2026, 12, 2, 10, 0)
    assert month_range("mars", now) == ("2026-03", "2026-03")
    assert month_range("la facture de mars 2024", now) == ("2024-03", "2024-03")
    assert month_range("le mois dernier", now) == ("2026-11", "2026-11")
    assert month_range("de janvier à mars", now) == ("2026-01", "2026-03")
    assert month_range("entre novembre 2025 et février 2026", now) == ("2025-11", "2026-02")
    assert month_range("de novembre à février", now) == ("2025-11", "2026-02")
    assert month_range("les factures de l'année 2024", now) == ("2024-01", "2024-12")
    assert month_range("cette année", now) == ("2026-01", "2026-12")
    assert month_range("l'année dernière", now) == ("2025-01", "2025-12")
    assert month_range("les 3 derniers mois", now) == ("2026-09", "2026-11")
    assert month_range("toutes", now)[0] <= "2000-01"
    assert month_range("je ne sais plus", now) is None and month_range("", now) is None
