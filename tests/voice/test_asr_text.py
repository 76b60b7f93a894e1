"""Text side of speech recognition: near-miss service names, the model's pinyin, the
restricted vocabularies and how a constrained turn's result is chosen."""
from __future__ import annotations

import pytest

from voice.asr import normalize_service_names
from voice.asr.lexicon import tones_for
from voice.asr.pinyin import Syllable, ascii_token, fold, model_tokens, syllables, text_syllables, word_pinyin
from voice.asr.service_names import targets
from voice.asr.vocabularies import (GLOBAL_COMMANDS, IN_VOCABULARY, OPEN, PHRASES, VOCABULARIES, agreement,
                                    choose, digit_strings, parses, phrase_search, phrases)
from voice.asr.vosk_engine import clean_transcript


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


def heard(pinyin: str) -> list[Syllable]:
    """Syllables as the transducer reports them: 'she4 bao3' → [("she", "4"), ("bao", "3")]."""
    return [Syllable(s[:-1], s[-1]) if s[-1].isdigit() else Syllable(s, "5") for s in pinyin.split()]


def test_model_tokens_get_ascii_names_and_join_into_syllables():
    assert [ascii_token(t) for t in ("uǎng", "ī", "üè", "ǜ", "ń", "e", "sh", "#3", "A", "<blk>")] == \
        ["uang3", "i1", "ve4", "v4", "n2", "e", "sh", "#3", "A", "<blk>"]
    assert ascii_token("○") == "U25CB" and syllables(["U25CB", "sh", "i4"]) == [Syllable("shi", "4")]
    tokens = "g uang3 zh ou1 sh i4 #3 d e l v4 n2 A zh".split()
    assert syllables(tokens) == heard("guang3 zhou1 shi4 de lv4 n2")
    # the model's tokens file as `make train` rewrites it: every name unique, ASCII only
    from voice.asr import build

    names = [line.split()[0] for line in (build.model_dir() / "tokens.txt").read_text().splitlines()]
    assert len(names) == len(set(names)) == 227 and all(name.isascii() for name in names)


def test_words_are_pronounced_with_the_tones_they_may_be_heard_with():
    assert word_pinyin("你好") == (("ni", frozenset({"3", "2"})), ("hao", frozenset({"3"})))   # third-tone sandhi
    assert word_pinyin("女士") == (("nv", frozenset({"3"})), ("shi", frozenset({"4"})))
    assert word_pinyin("app") is None and word_pinyin("") is None
    assert model_tokens("社保卡") == ["sh", "e4", "b", "ao3", "k", "a3"]
    assert model_tokens("学") == ["x", "ue2"] and model_tokens("女儿") == ["n", "v3", "er2"]
    assert model_tokens("嗯") == ["n2"]
    assert text_syllables("幺三八，社保卡 OK") == ["yi", "san", "ba", "she", "bao", "ka"]
    # a reading the dictionary gives that pypinyin would not pick: that reading's own tones
    assert tones_for("银行", ("yin", "hang")) == ("2", "2")
    assert tones_for("行长", ("hang", "zhang")) == ("2", "3")


def test_blurred_sounds_fold_together():
    assert [fold(s) for s in ("shi", "si", "zhang", "neng", "leng", "ying", "ang", "an")] == \
        ["si", "si", "zan", "len", "len", "yin", "an", "an"]


def test_vosk_transcript_cleanup():
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


@pytest.mark.parametrize("pinyin, vocabulary, expected", [
    ("shi4 de", "yes_no", "是的"),
    ("si4 de", "yes_no", "是的"),                  # shi heard as si: folded
    ("bu2 shi4 a", "yes_no", "不是"),              # a particle costs little
    ("dai4 ban4", "mode", "代办"),
    ("shang4 men2 fu2 wu4", "mode", "上门服务"),
    ("ming2 tian1 shang4 wu3", "day", "明天上午"),
    ("zhuan3 ren2 gong1", "day", "转人工"),        # a global command in any state
    ("wo3 xiang3 wen4 yi2 xia4 she4 bao3 ka3 zen3 me5 bu3 ban4", "yes_no", ""),   # off the list
    ("she4 bao3 ka3", "mode", ""),
    ("", "yes_no", ""),
])
def test_phrase_search_on_the_heard_syllables(pinyin, vocabulary, expected):
    assert phrase_search(heard(pinyin), phrases(vocabulary)) == expected
