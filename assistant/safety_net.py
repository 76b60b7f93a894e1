"""A safety net under the intent classifier: words of danger always reach a person.

The classifier learns distress from a few dozen examples of very different emergencies
(a fall, chest pain, a threat, a wish to die); in cross-validation it found barely half of
them, and a missed emergency is the one mistake this line must not make. This component
runs after the classifier and the fallback: when the caller's words name an unmistakable
danger, the intent becomes `distress` (confidence 1.0), whatever the classifier thought,
so the caller is handed to staff with the urgent advice at once. A false alarm costs a
caller a person on the line, which is never wrong here; the phrases are still chosen
narrowly ("救命钱" is money, "起不来床" is a long illness, not a fall just now).
"""
from __future__ import annotations

import re
from typing import Any, Dict, List, Optional, Text

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.nlu.constants import INTENT, INTENT_NAME_KEY, INTENT_RANKING_KEY, PREDICTED_CONFIDENCE_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

DISTRESS = "distress"

# One pattern per kind of danger. The normalizer has already made the text Simplified;
# spaces (pauses in recognised speech) are taken out before matching.
DANGER_PATTERNS = {
    "life": r"不想活|活不下去|活够了|不如死了|想死|寻死|自杀|轻生|一了百了|想不开|(跳楼|跳河|从楼上跳)",
    "help": r"救命(?!钱)|就命啊|快来人|叫救护车|打120|打一二零|快不行了|要不行了|撑不住了",
    "breath": r"喘不[上过动匀]|透不过气|上不来气|憋得慌|嘴唇发紫",
    "heart": r"(胸口|心口|心脏).{0,3}(疼|痛|闷|难受|压)|心脏病犯了",
    "fall": r"(摔|滑|跌|掉|倒).{0,6}(起不来|爬不起来|动不了)(?!床)|倒在?地上",
    "unconscious": r"晕过去|昏过去|昏迷|叫不醒|不省人事|抽搐|口吐白沫|嘴.?歪了",
    "bleeding": r"血止不住|流了好多血|一直流血",
    "fire": r"着火了|失火|煤气味|燃气味|冒烟了",
    "violence": r"拿刀|动刀|要杀我|弄死我|砍我|闯进我家|砸门",
    "hunger": r"(几|两|三|四|五|好几)天没吃(饭|东西)",
}
_DANGER = re.compile("|".join(f"(?:{pattern})" for pattern in DANGER_PATTERNS.values()))
_SPACES = re.compile(r"\s+")


def names_danger(text: Optional[str]) -> bool:
    """Whether the words name an unmistakable danger to a person."""
    return bool(text) and _DANGER.search(_SPACES.sub("", text)) is not None


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=False)
class DistressSafetyNet(GraphComponent):
    @classmethod
    def create(cls, config: Dict[Text, Any], model_storage: ModelStorage, resource: Resource,
               execution_context: ExecutionContext) -> "DistressSafetyNet":
        return cls()

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        return training_data

    def process(self, messages: List[Message]) -> List[Message]:
        for message in messages:
            if not names_danger(message.get(TEXT)):
                continue
            distress = {INTENT_NAME_KEY: DISTRESS, PREDICTED_CONFIDENCE_KEY: 1.0}
            ranking = [r for r in message.get(INTENT_RANKING_KEY) or [] if r.get(INTENT_NAME_KEY) != DISTRESS]
            message.set(INTENT, distress, add_to_output=True)
            message.set(INTENT_RANKING_KEY, [distress, *ranking], add_to_output=True)
        return messages
