"""The ticket lifecycle: one state machine, forbidden transitions change nothing."""
import pytest
from hypothesis import given, settings as hsettings, strategies as st

from numi.tickets import lifecycle
from numi.tickets.lifecycle import Transition, TransitionError


def test_every_status_has_its_transitions():
    assert set(lifecycle.TRANSITIONS) == set(lifecycle.STATUSES)
    assert lifecycle.allowed("closed") == {"in_progress"}  # reopening only


@pytest.mark.parametrize("src,dst", [("new", "new"), ("closed", "waiting_customer"), ("closed", "escalated"),
                                     ("in_progress", "new"), ("waiting_customer", "new"), ("new", "bogus")])
def test_forbidden_transitions_are_refused(src, dst):
    with pytest.raises(TransitionError):
        lifecycle.check(src, Transition(dst, waiting_reason="feedback", close_reason="other", note="n"))


def test_waiting_needs_a_reason_and_closing_needs_motif_and_note():
    with pytest.raises(TransitionError, match="motif d'attente"):
        lifecycle.check("in_progress", Transition("waiting_customer"))
    with pytest.raises(TransitionError, match="motif"):
        lifecycle.check("in_progress", Transition("closed", note="fini"))
    with pytest.raises(TransitionError, match="note interne"):
        lifecycle.check("in_progress", Transition("closed", close_reason="resolution", note="  "))
    lifecycle.check("in_progress", Transition("closed", close_reason="resolution", note="résolu au téléphone"))


transition_st = st.builds(
    Transition,
    to_status=st.sampled_from(lifecycle.STATUSES + ("bogus",)),
    waiting_reason=st.one_of(st.none(), st.sampled_from(lifecycle.WAITING_REASONS + ("x",))),
    close_reason=st.one_of(st.none(), st.sampled_from(lifecycle.CLOSE_REASONS + ("x",))),
    note=st.one_of(st.none(), st.just(""), st.just("note")),
)


@hsettings(max_examples=300, deadline=None)
@given(st.lists(transition_st, max_size=30))
def test_random_sequences_never_reach_an_invalid_state(seq):
    status = "new"
    for t in seq:
        try:
            lifecycle.check(status, t)
        except TransitionError:
            continue  # refused: nothing changes
        assert t.to_status in lifecycle.TRANSITIONS[status]
        status = t.to_status
        assert status in lifecycle.STATUSES
