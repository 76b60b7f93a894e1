"""Text side of speech recognition: near-miss service names, pronunciations, the
restricted vocabularies and how a constrained turn's result is chosen."""
from __future__ import annotations

import pytest

from voice.asr import normalize_service_names, settings
from voice.asr.lexicon import HAN, Dictionary, clean_transcript, compose, syllable_phones
from voice.asr.service_names import targets
from voice.asr.vocabularies import (GLOBAL_COMMANDS, IN_VOCABULARY, OPEN, PHRASES, VOCABULARIES, agreement,
                                    choose, digit_strings, parses, phrases, search_corpus)


@pytest.mark.parametrize("heard, meant", [
    ("我想问一下公鸡金怎么取", "我想问一下公积金怎么取"),
    ("射保卡丢了怎么办", "社保卡丢了怎么办"),
    ("我的身分证过期了", "我的身份证过期了"),
    ("我想办户口签移", "我想办户口迁移"),                 # 签/迁: same sounds
    ("异地就一备案要什么材料", "异地就医备案要什么材料"),
    ("我的残疾正到期了", "我的残疾证到期了"),
    ("高林津贴怎么领", "高龄津贴怎么领"),                   # lin/ling: a folded near miss
    ("养老经认证怎么做", "养老金认证怎么做"),               # jing/jin
    ("老年人优带证在哪办", "老年人优待证在哪办"),
    ("一保报销需要带啥", "医保报销需要带啥"),
    ("不动产登记查寻", "不动产登记查询"),                   # extends an exact name, keeps it
    ("社保开丢了", "社保卡丢了"),                           # one letter off in a five-syllable name
    ("我想交射保", "我想交社保"),                           # a slip the catalogue lists
])
def test_near_miss_service_names_are_repaired(heard, meant):
    assert normalize_service_names(heard) == meant


@pytest.mark.parametrize("text", [
    "今天天气怎么样",
    "我想问一下社保怎么交",                 # 社保 alone: two syllables are never a target
    "我想问一下社保卡怎么不办了",           # must not become 新社保卡 (xia ≠ xin)
    "社保卡丢了",
    "我想交社保", "我想缴社保", "医保交费",  # accepted spellings stay as they are
    "我家公鸡不下蛋了",
    "帮我约明天上午上门",
    "我要办理退休手续",
    "老人家身体不好",
    "是这样的 我想问个事",
    "你们几点上班",
    "幺三八零零一二三四五六",
    "",
    "hello 123",
])
def test_ordinary_sentences_stay_unchanged(text):
    assert normalize_service_names(text) == text


def test_catalogue_slips_are_told_from_accepted_spellings():
    slips = targets().slips
    assert slips["射保卡"] == "社保卡" and slips["公鸡金"] == "公积金" and slips["身份正"] == "身份证"
    assert slips["一地就医"] == "异地就医" and slips["护口迁移"] == "户口迁移"
    for accepted in ("交社保", "缴社保", "医保交费", "医保缴费", "社保卡", "公积金提取"):
        assert accepted not in slips
    names = targets().names
    assert "社保卡" in names and "公积金" in names and "射保卡" not in names
    assert all(len(name) >= 3 for name in names)


def test_composed_pronunciations_follow_the_dictionary():
    assert compose("社保卡") == "sh e b ao k a"
    assert compose("转人工") == "zh uan r en g ong"
    assert compose("元月") == "uxs an uxs uxe"
    assert compose("绿卡") == "l ux k a"
    assert compose("去居") == "q ux j ux"
    assert compose("是字") == "sh ib z if"
    assert compose("安恩欧") == "as an es en os ou"
    assert compose("app") is None and syllable_phones("xyz") is None
    # The rules reproduce the model dictionary's own spelling of nearly every character.
    from pypinyin import Style, pinyin

    dictionary = Dictionary.read(settings.pocketsphinx_dict())
    singles = [(w, p) for w, p in dictionary.entries.items() if len(w) == 1 and HAN.match(w)]
    agree = sum(bool({syllable_phones(r) for r in pinyin(w, style=Style.NORMAL, heteronym=True)[0]} & set(p))
                for w, p in singles)
    assert agree / len(singles) > 0.95, agree / len(singles)


def test_dictionary_max_match_and_transcript_cleanup():
    dictionary = Dictionary({"社保": ["sh e b ao"], "社": ["sh e"], "保": ["b ao"], "卡": ["k a"]})
    assert dictionary.max_match("社保卡") == ["社保", "卡"]
    assert clean_transcript("我 想 问 一下 <sil> 社保卡 [unk] ++cough++") == "我想问一下社保卡"
    assert clean_transcript("尾号 5678") == "尾号五六七八"
    assert clean_transcript("네 아니요") == "네 아니요"


def test_every_vocabulary_holds_the_global_commands():
    assert set(VOCABULARIES) == {"yes_no", "digits", "mode", "day"}
    for name in VOCABULARIES:
        assert set(GLOBAL_COMMANDS) <= set(phrases(name))
    assert {"是", "对", "不是"} <= set(phrases("yes_no"))
    assert set("零一二三四五六七八九幺") <= set(phrases("digits"))
    assert {"帮办", "代办", "上门"} <= set(phrases("mode"))
    assert {"今天", "明天", "后天", "上午", "下午", "星期一", "星期天"} <= set(phrases("day"))
    with pytest.raises(ValueError, match="unknown vocabulary"):
        phrases("colours")
    # The small search LMs: every phrase alone, plus the sequences callers say.
    for name in VOCABULARIES:
        corpus = search_corpus(name)
        assert {p for words, _ in corpus for p in words} == set(phrases(name))
    assert (["明天", "上午"], 1) in search_corpus("day")
    assert any(len(words) == 11 for words, _ in search_corpus("digits"))
    strings = digit_strings(30)
    assert strings == digit_strings(30) and all(set(s) <= set("零幺一二三四五六七八九") for s in strings)


@pytest.mark.parametrize("text, vocabulary, expected", [
    ("幺三八零零幺二三四五六", "digits", True),
    ("明天上午", "day", True),
    ("下周三下午", "day", True),
    ("对的", "yes_no", True),
    ("转人工的", "yes_no", True),               # a particle at the end is fine
    ("我想问一下社保卡怎么补办", "yes_no", False),
    ("上门去", "mode", False),
    ("", "yes_no", False),
])
def test_parsing_a_transcript_into_phrases(text, vocabulary, expected):
    assert parses(text, phrases(vocabulary)) is expected


def test_a_constrained_turn_keeps_off_list_speech():
    # The open transcript is made of phrases: it is taken as it is.
    assert choose("两三八", "幺三八", phrases("digits")) == ("幺三八", IN_VOCABULARY)
    # Nearly the same sounds: the phrase result is taken.
    assert choose("上门", "上门去", phrases("mode"), threshold=60) == ("上门", PHRASES)
    # The grammar forced a question onto yes/no: the open transcript wins.
    text, source = choose("是", "我想问一下社保卡怎么补办", phrases("yes_no"))
    assert (text, source) == ("我想问一下社保卡怎么补办", OPEN)
    assert choose("五十", "不是", phrases("digits"))[1] != PHRASES      # wu shi vs bu shi: too far
    assert choose("[unk]", "今天天气怎么样", phrases("yes_no")) == ("今天天气怎么样", OPEN)
    assert agreement("明天上午", "明天上午") == 100 and agreement("是", "") == 0
