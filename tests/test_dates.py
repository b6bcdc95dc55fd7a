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
