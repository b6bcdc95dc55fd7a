"""Issue 18, point 3: after hours, a handoff says what will really happen."""
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from numi.db import models as m
from numi.settings import Settings
from tests.test_walker import Conversation


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    """Open half an hour a day, three hours from now: closed at the time of the test."""
    hour = (datetime.now(ZoneInfo("Europe/Paris")).hour + 3) % 24
    return Settings.from_env(env={"NUMI_OPENING_HOURS": f"mon-sun {hour:02d}:00-{hour:02d}:30",
                                  "NUMI_HOTLINE_PHONE": "01 84 60 00 00"},
                             database_url=database_url, secret="test-secret", admin_token="admin-test-token",
                             mailbox_dir=tmp_path / "mailbox", scheduler_enabled=False)


async def test_a_handoff_after_hours_does_not_claim_to_put_anyone_in_touch(db):
    conv = Conversation(db, sender="night-1")
    await conv.say("je veux parler à un conseiller", "request_human")
    assert "je transmets votre demande à un conseiller" in conv.texts.lower()
    await conv.say("non", "deny")
    assert "nous rouvrons le" in conv.texts and "rappeler dès la réouverture" in conv.texts
    await conv.say("Laisser ma demande par écrit", "inform")
    said = conv.texts
    assert "mets en relation" not in said
    assert "reprendra votre demande le" in said and "nos conseillers sont absents" in said
    handoff = db.scalars(select(m.Handoff).where(m.Handoff.conversation_id == "night-1")).one()
    assert handoff.status == "waiting" and m.ticket_ref(handoff.ticket_number) in said


async def test_after_hours_a_call_back_at_reopening_is_offered_and_booked(db):
    conv = Conversation(db, sender="night-2")
    await conv.say("je veux parler à un conseiller", "request_human")
    await conv.say("ma box ne marche plus depuis hier", "inform")
    await conv.say("Être rappelé(e) à la réouverture", "request_callback")
    assert "À quel numéro" in conv.texts
    await conv.say("06 12 34 56 78", "inform")
    assert "un conseiller vous rappellera le" in conv.texts and "06 12 34 56 78" in conv.texts
    callback = db.scalars(select(m.Callback).where(m.Callback.conversation_id == "night-2")).one()
    assert callback.phone == "06 12 34 56 78" and "box" in callback.subject
    assert db.scalars(select(m.Handoff).where(m.Handoff.conversation_id == "night-2")).first() is None


async def test_a_security_incident_gives_the_protective_rule_and_the_hotline_first(db):
    conv = Conversation(db, sender="night-sec")
    await conv.say("au secours, mon compte Gmail a été piraté cette nuit", "report_security_incident")
    first = conv.bot[0]["text"]
    assert "ne vous demandera jamais votre mot de passe" in first and "01 84 60 00 00" in first
