"""Every lifecycle name, checklist stage, gate, NCR category and alert kind has its one
label, shown in both languages where asked."""

from __future__ import annotations

from construction import lifecycle
from construction.lifecycle_names import (
    ACTION_LABELS,
    ALERT_KIND_LABELS,
    GATE_LABELS,
    LOAD_STATE_LABELS,
    NCR_CATEGORY_LABELS,
    ROLE_LABELS,
    STAGE_LABELS,
    STATE_LABELS,
    bilingual,
    in_language,
)
from construction.services import alerts


def test_each_state_action_role_and_load_state_has_a_label():
    assert list(STATE_LABELS) == list(lifecycle.STATES)
    assert list(ACTION_LABELS) == list(lifecycle.ACTIONS)
    assert list(ROLE_LABELS) == list(lifecycle.ROLES)
    assert list(LOAD_STATE_LABELS) == list(lifecycle.LOAD_STATES)


def test_each_checklist_stage_gate_and_alert_kind_has_a_label():
    assert list(STAGE_LABELS) == list(lifecycle.CHECKLIST_STAGES)
    assert set(lifecycle.STAGE_FOR_STATE.values()) <= set(lifecycle.CHECKLIST_STAGES)
    assert set(lifecycle.STAGE_FOR_STATE) <= set(lifecycle.STATES)
    assert list(GATE_LABELS) == list(lifecycle.GATES)
    assert list(ALERT_KIND_LABELS) == list(alerts.ALERT_KINDS)


def test_the_ncr_categories_of_the_demo_checklists_and_the_fallbacks_have_labels(app):
    from construction.demo_production import CHECKLISTS

    named = {item["category"] for items in CHECKLISTS.values() for item in items}
    # An item naming no category opens an `inspection` NCR; the quality report counts an
    # NCR without one as `uncategorised`.
    assert named | {"inspection", "uncategorised"} <= set(NCR_CATEGORY_LABELS)
    with app.test_request_context(headers={"Accept-Language": "zh-CN"}):
        assert in_language(NCR_CATEGORY_LABELS)["dimension"] == "尺寸偏差"
        assert bilingual(NCR_CATEGORY_LABELS, "uncategorised") == ("未分类", "Uncategorised")
    with app.test_request_context(headers={"Accept-Language": "en"}):
        assert in_language(NCR_CATEGORY_LABELS)["dimension"] == "Dimensions"


def test_a_label_comes_in_chinese_and_english_whatever_the_request_language(app):
    for language in ("en", "zh-CN"):
        with app.test_request_context(headers={"Accept-Language": language}):
            assert bilingual(STATE_LABELS, "stored") == ("堆场存放", "In yard")
            # A refused load is not a component sent back: the same English, its own Chinese.
            assert bilingual(LOAD_STATE_LABELS, "rejected") == ("已拒收", "Rejected")
            assert bilingual(STATE_LABELS, "rejected") == ("退场", "Rejected")
            assert bilingual(STATE_LABELS, "unheard_of") == ("unheard_of", "unheard_of")


def test_labels_follow_the_request_language(app):
    with app.test_request_context(headers={"Accept-Language": "zh-CN"}):
        assert in_language(ACTION_LABELS)["cast"] == "浇筑"
        assert in_language(STATE_LABELS)["cast"] == "已浇筑"
        assert in_language(GATE_LABELS)["pre_pour_inspection"] == "浇筑前隐蔽工程验收"
        assert in_language(ALERT_KIND_LABELS)["label-revoked"] == "扫描到已作废的标签"
    with app.test_request_context(headers={"Accept-Language": "en"}):
        assert in_language(ACTION_LABELS)["store"] == "Put in yard"
