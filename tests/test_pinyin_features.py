"""The pinyin featurizer: words that sound alike get the same features."""
from __future__ import annotations

from rasa.engine.graph import ExecutionContext, GraphSchema
from rasa.nlu.constants import TOKENS_NAMES
from rasa.nlu.tokenizers.tokenizer import Token
from rasa.shared.nlu.constants import TEXT
from rasa.shared.nlu.training_data.message import Message

from assistant.pinyin_features import PinyinFeaturizer, ngrams, sounds


def featurized(*words: str) -> Message:
    text, tokens = "", []
    for word in words:
        tokens.append(Token(word, len(text)))
        text += word
    message = Message(data={TEXT: text, TOKENS_NAMES[TEXT]: tokens})
    config = PinyinFeaturizer.get_default_config()
    featurizer = PinyinFeaturizer.create(config, None, None, ExecutionContext(GraphSchema({}), "test"))
    featurizer.process([message])
    return message


def features(message: Message):
    sequence, sentence = message.get_sparse_features(TEXT)
    return sequence.features.toarray(), sentence.features.toarray()


def test_homophone_slips_get_the_same_features():
    for slip, meant in (("公鸡金", "公积金"), ("射保卡", "社保卡"), ("养老经", "养老金"), ("一保", "医保")):
        _, heard = features(featurized("我的", slip, "怎么", "取"))
        _, said = features(featurized("我的", meant, "怎么", "取"))
        assert (heard == said).all(), slip
    _, other = features(featurized("我的", "身份证", "怎么", "取"))
    _, said = features(featurized("我的", "公积金", "怎么", "取"))
    assert (other != said).any()


def test_one_row_per_token_and_the_same_columns_in_every_process():
    sequence, sentence = features(featurized("社保卡", "丢了"))
    assert sequence.shape == (2, 4096) and sentence.shape == (1, 4096)
    assert sequence[0].sum() == len(ngrams(sounds("社保卡"), 1, 3)) == 6       # she, bao, ka, she bao, …
    import zlib

    assert sentence[0, zlib.crc32("se bao ka".encode()) % 4096] >= 1             # 社 folded: she → se
    assert sounds("幺三八") == ["yi", "san", "ba"] and sounds("abc") == []
