"""A Rasa featurizer that reads words by their sound: toneless-pinyin n-grams.

Speech recognition slips homophones (公鸡金 for 公积金, 射保卡 for 社保卡, 养老经 for 养老金):
different characters, (nearly) the same syllables. Next to the character and word
features, this component adds the n-grams (1–3) of each token's toneless syllables, with
the sounds telephone audio and accents blur folded together (jing/jin, shi/si, n/l:
voice.asr.pinyin.fold), as sequence features, and the n-grams across the whole sentence
as its sentence features. The n-grams are hashed into a fixed number of columns (a stable
CRC32, not Python's per-process hash), so the component has nothing to learn or store:
training data and new sentences are featurized the same way, always.
"""
from __future__ import annotations

import re
import zlib
from typing import Any, Dict, List, Text, Type

import numpy as np
import scipy.sparse
from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.constants import TOKENS_NAMES
from rasa.nlu.featurizers.sparse_featurizer.sparse_featurizer import SparseFeaturizer
from rasa.nlu.tokenizers.tokenizer import Tokenizer
from rasa.shared.nlu.constants import TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

_HAN = re.compile(r"[\u3400-\u9fff]")


def sounds(text: str) -> list[str]:
    """The folded toneless syllables of the Chinese characters in `text` (幺 read as yi)."""
    from pypinyin import Style, lazy_pinyin

    from voice.asr.pinyin import fold

    han = "".join(_HAN.findall(text.replace("幺", "一")))
    return [fold(s) for s in lazy_pinyin(han, style=Style.NORMAL)] if han else []


def ngrams(syllables: list[str], low: int, high: int) -> list[str]:
    return [" ".join(syllables[i:i + n]) for n in range(low, high + 1) for i in range(len(syllables) - n + 1)]


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.MESSAGE_FEATURIZER, is_trainable=False)
class PinyinFeaturizer(SparseFeaturizer, GraphComponent):
    @classmethod
    def required_components(cls) -> List[Type]:
        return [Tokenizer]

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        return {**SparseFeaturizer.get_default_config(), "min_ngram": 1, "max_ngram": 3, "columns": 4096}

    @classmethod
    def validate_config(cls, config: Dict[Text, Any]) -> None:
        if not 1 <= config["min_ngram"] <= config["max_ngram"] or config["columns"] < 1:
            raise ValueError(f"{cls.__name__}: need 1 <= min_ngram <= max_ngram and columns >= 1, got {config}")

    def __init__(self, config: Dict[Text, Any], execution_context: ExecutionContext) -> None:
        super().__init__(execution_context.node_name, config)
        self.low, self.high, self.columns = config["min_ngram"], config["max_ngram"], config["columns"]

    @classmethod
    def create(cls, config: Dict[Text, Any], model_storage: ModelStorage, resource: Resource,
               execution_context: ExecutionContext) -> "PinyinFeaturizer":
        return cls(config, execution_context)

    @classmethod
    def load(cls, config: Dict[Text, Any], model_storage: ModelStorage, resource: Resource,
             execution_context: ExecutionContext, **kwargs: Any) -> "PinyinFeaturizer":
        return cls(config, execution_context)

    def _row(self, grams: list[str]) -> dict[int, float]:
        counts: dict[int, float] = {}
        for gram in grams:
            column = zlib.crc32(gram.encode()) % self.columns
            counts[column] = counts.get(column, 0.0) + 1.0
        return counts

    def _matrix(self, rows: list[dict[int, float]]) -> scipy.sparse.coo_matrix:
        cells = [(r, c, v) for r, row in enumerate(rows) for c, v in row.items()]
        data = np.array([v for _, _, v in cells], dtype=np.float32)
        return scipy.sparse.coo_matrix((data, ([r for r, _, _ in cells], [c for _, c, _ in cells])),
                                       shape=(len(rows), self.columns))

    def _featurize(self, message: Message) -> None:
        tokens = message.get(TOKENS_NAMES[TEXT])
        if not tokens:
            return
        sequence = self._matrix([self._row(ngrams(sounds(token.text), self.low, self.high)) for token in tokens])
        sentence = self._matrix([self._row(ngrams(sounds(message.get(TEXT) or ""), self.low, self.high))])
        self.add_features_to_message(sequence=sequence, sentence=sentence, attribute=TEXT, message=message)

    def process(self, messages: List[Message]) -> List[Message]:
        for message in messages:
            self._featurize(message)
        return messages

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        self.process(training_data.training_examples)
        return training_data
