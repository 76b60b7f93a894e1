"""The service catalogue: its content rules and its tolerant matching."""
from __future__ import annotations

import re

import pytest

from catalogue import load_catalogue

CATALOGUE = load_catalogue()
SENTENCE_END = re.compile(r"[。！？]")


def test_at_least_14_errands_spread_over_the_ask_intents():
    assert len(CATALOGUE.items) >= 14
    assert len(CATALOGUE.intents) == 10


@pytest.mark.parametrize("item", CATALOGUE.items, ids=lambda item: item.code)
def test_item_is_complete_and_its_answer_short(item):
    sentences = [s for s in SENTENCE_END.split(item.answer) if s.strip()]
    assert 1 <= len(sentences) <= 3
    assert item.materials and item.synonyms
    assert set(item.channels) == {"online", "terminal", "window"}
    assert set(item.offers) == {"proxy", "assisted", "home_visit"}


@pytest.mark.parametrize("said,code", [
    ("我想把公鸡金取出来", "provident_fund_withdrawal"),   # same sounds: 公积金
    ("身分证过期了", "id_card"),
    ("一地就医要备案吗", "cross_province_medical"),
    ("高领津贴怎么申请", "elderly_allowance"),            # near miss: 高龄
    ("我妈的残疾人证到期了", "disability_certificate"),
])
def test_match_tolerates_recognition_slips(said, code):
    assert [item.code for item in CATALOGUE.match(said)] == [code]


@pytest.mark.parametrize("said", ["医保", "社保", "养老金", "今天天气不错", "", "😀"])
def test_generic_or_unrelated_words_name_no_single_item(said):
    assert len(CATALOGUE.match(said)) != 1


def test_a_name_may_belong_to_only_one_item(tmp_path):
    from catalogue import load_catalogue as load

    bad = tmp_path / "services.yml"
    bad.write_text(
        "items:\n"
        "  - {code: a, intent: ask_id_card, name: 甲, synonyms: [同名], answer: 好。, materials: [x]}\n"
        "  - {code: b, intent: ask_id_card, name: 乙, synonyms: [同名], answer: 好。, materials: [x]}\n",
        encoding="utf-8",
    )
    with pytest.raises(ValueError, match="同名"):
        load(str(bad))
