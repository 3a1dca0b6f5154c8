"""The lifecycle rule book, checked against a table written out by hand."""

import itertools

import pytest

from construction import lifecycle
from construction.lifecycle import LedgerEntry, Status, TransitionError

ALL = set(lifecycle.STATES)
# action -> the states it is allowed from (no flags set), written out independently.
ALLOWED_FROM = {
    "cast": {"planned"},
    "demould": {"cast"},
    "qc_pass": {"demoulded"},
    "qc_fail": {"demoulded", "qc_passed", "stored"},
    "store": {"qc_passed", "rejected"},
    "load": {"qc_passed", "stored"},
    "depart": {"loaded"},
    "arrive": {"in_transit"},
    "accept_delivery": {"delivered"},
    "reject_delivery": {"delivered"},
    "install": {"accepted_on_site"},
    "connect": {"installed"},
    "accept": {"connected"},
    "hold": ALL - {"scrapped"},
    "release": set(),  # only when on hold
    "report_damage": ALL - {"planned", "scrapped"},
    "repair": set(),  # only when damaged or an NCR is open
    "scrap": {"planned", "cast", "demoulded", "qc_passed", "stored", "loaded", "in_transit",
              "delivered", "accepted_on_site", "rejected"},
}
STATE_AFTER = {"cast": "cast", "demould": "demoulded", "qc_pass": "qc_passed",
               "store": "stored", "load": "loaded", "depart": "in_transit",
               "arrive": "delivered", "accept_delivery": "accepted_on_site",
               "reject_delivery": "rejected", "install": "installed", "connect": "connected",
               "accept": "accepted", "scrap": "scrapped"}
ROLE_ACTIONS = {
    "factory_worker": {"cast", "demould", "store", "load", "depart"},
    "qc_inspector": {"qc_pass", "qc_fail", "hold", "release", "repair"},
    "site_supervisor": {"arrive", "accept_delivery", "reject_delivery", "install", "connect",
                        "accept", "report_damage", "hold"},
    "project_manager": set(lifecycle.ACTIONS),
    "admin": set(lifecycle.ACTIONS),
    "regulator": set(),
}
RECORD = {"record": "GJ-1"}


def test_the_public_action_names():
    assert set(lifecycle.ACTIONS) == set(ALLOWED_FROM) | {"correct"}


@pytest.mark.parametrize("state,action", list(itertools.product(lifecycle.STATES, ALLOWED_FROM)))
def test_every_transition_from_a_clean_state(state, action):
    status = Status(state)
    if state in ALLOWED_FROM[action]:
        after = lifecycle.apply(status, action, RECORD)
        assert after.state == STATE_AFTER.get(action, state)
        assert action in lifecycle.allowed_actions(status)
    else:
        with pytest.raises(TransitionError) as refused:
            lifecycle.apply(status, action, RECORD)
        assert refused.value.kind == "invalid-transition"
        assert action not in lifecycle.allowed_actions(status)


@pytest.mark.parametrize("role,action", list(itertools.product(ROLE_ACTIONS, lifecycle.ACTIONS)))
def test_role_action_matrix(role, action):
    assert lifecycle.role_may(role, action) == (action in ROLE_ACTIONS[role])


@pytest.mark.parametrize("action", ["load", "depart", "accept_delivery", "install", "qc_pass",
                                    "connect", "accept"])
@pytest.mark.parametrize("flag", ["on_hold", "damaged", "ncr_open"])
def test_flags_block_moving_on(action, flag):
    state = next(iter(sorted(ALLOWED_FROM[action])))
    with pytest.raises(TransitionError) as refused:
        lifecycle.apply(Status(state, **{flag: True}), action, RECORD)
    assert refused.value.kind == "action-blocked"


def test_hold_and_release():
    held = lifecycle.apply(Status("stored"), "hold")
    assert held == Status("stored", on_hold=True)
    with pytest.raises(TransitionError):
        lifecycle.apply(held, "hold")
    assert lifecycle.apply(held, "release") == Status("stored")
    with pytest.raises(TransitionError):
        lifecycle.apply(Status("stored"), "release")


def test_qc_fail_opens_a_non_conformance_that_only_a_recorded_repair_closes():
    failed = lifecycle.apply(Status("demoulded"), "qc_fail", {"reason": "honeycombing"})
    assert failed == Status("demoulded", ncr_open=True)
    with pytest.raises(TransitionError) as refused:
        lifecycle.apply(failed, "qc_pass")
    assert refused.value.kind == "action-blocked"
    with pytest.raises(TransitionError) as no_record:
        lifecycle.apply(failed, "repair", {"record": "  "})
    assert no_record.value.kind == "record-required"
    repaired = lifecycle.apply(failed, "repair", RECORD)
    assert repaired == Status("demoulded")
    assert lifecycle.apply(repaired, "qc_pass").state == "qc_passed"


def test_damage_then_repair():
    damaged = lifecycle.apply(Status("delivered"), "report_damage")
    assert damaged.damaged
    assert "accept_delivery" not in lifecycle.allowed_actions(damaged)
    assert lifecycle.apply(damaged, "repair", RECORD) == Status("delivered")


def test_connect_needs_a_record():
    with pytest.raises(TransitionError) as refused:
        lifecycle.apply(Status("installed"), "connect", {})
    assert refused.value.kind == "record-required"


def test_correct_is_not_applied_directly():
    with pytest.raises(TransitionError):
        lifecycle.apply(Status(), "correct")


def test_replay_skips_corrected_events():
    entries = [LedgerEntry(1, "cast", None, None), LedgerEntry(2, "demould", None, None),
               LedgerEntry(3, "correct", None, 2)]
    assert lifecycle.replay(entries) == Status("cast")
    assert lifecycle.replay(entries[:2]) == Status("demoulded")


def test_replay_refuses_a_broken_history():
    with pytest.raises(TransitionError):
        lifecycle.replay([LedgerEntry(1, "demould", None, None)])


def test_every_action_maps_to_an_epcis_business_step():
    for action in lifecycle.ACTIONS.values():
        assert action.biz_step and action.disposition
