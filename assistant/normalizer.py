"""A pipeline component that puts what callers type or say into the shape we trained on.

Runs first in the NLU pipeline, at prediction time only (the training data is already in
this shape): Traditional characters become Simplified, full-width letters and digits
half-width, emoji and control characters are dropped, whitespace is collapsed, and the
text is cut to a length no spoken turn reaches, so a 10 000-character paste costs no
more than a sentence.
"""
from __future__ import annotations

import re
import unicodedata
from typing import Any, Dict, List, Optional, Text

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.nlu.constants import TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

_SPACES = re.compile(r"\s+")
# Full-width digits and Latin letters → ASCII; Chinese punctuation (also full-width) stays,
# since the training data uses it.
_FULL_WIDTH = {code: code - 0xFEE0 for start, end in ((0xFF10, 0xFF19), (0xFF21, 0xFF3A), (0xFF41, 0xFF5A))
               for code in range(start, end + 1)}


def _keep(char: str) -> bool:
    """Letters, digits, punctuation and spaces stay; symbols such as emoji and controls go."""
    category = unicodedata.category(char)
    return category[0] in "LNPZ"


def normalize_text(text: str, max_characters: int) -> str:
    from zhconv import convert

    text = (text or "").translate(_FULL_WIDTH)
    text = "".join(char if _keep(char) else " " for char in text)
    text = _SPACES.sub(" ", text).strip()
    return convert(text[:max_characters], "zh-cn").strip()


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.MESSAGE_FEATURIZER], is_trainable=False)
class SpokenTextNormalizer(GraphComponent):
    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        return {"max_characters": 200}

    def __init__(self, config: Dict[Text, Any]) -> None:
        self._max = int(config["max_characters"])

    @classmethod
    def create(cls, config: Dict[Text, Any], model_storage: ModelStorage, resource: Resource,
               execution_context: ExecutionContext) -> "SpokenTextNormalizer":
        return cls(config)

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        return training_data

    def process(self, messages: List[Message]) -> List[Message]:
        for message in messages:
            text: Optional[str] = message.get(TEXT)
            if text is not None:
                message.set(TEXT, normalize_text(text, self._max))
        return messages
