"""The distress safety net: words of danger become distress whatever the classifier said."""
from __future__ import annotations

import pytest
from rasa.shared.nlu.constants import INTENT, INTENT_RANKING_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message

from assistant.safety_net import DistressSafetyNet, names_danger

# Written for this test, none from the training data; spaces as the recogniser leaves them.
DANGER = [
    "我 我不想活了",
    "活着没啥意思 想一了百了",
    "快快 我爸喘不上气了",
    "我胸口闷得慌 一身汗",
    "俺娘在院子里摔了一跤 爬不起来",
    "老伴倒在地上 叫他不应",
    "我妈吃了药一直叫不醒",
    "救命 救命啊",
    "厨房里一股煤气味",
    "他拿刀站在门口",
    "我三天没吃饭了",
]
# Errand talk with words a careless pattern would take for danger.
SAFE = [
    "这是我的救命钱 公积金能不能先取出来",
    "我妈摔了以后一直起不来床 想办残疾证",
    "你们打我电话就行",
    "我要给我爸办高龄补贴 他八十五了",
    "我社保卡丢了怎么补办",
    "",
]


@pytest.mark.parametrize("text", DANGER)
def test_danger_is_recognised(text):
    assert names_danger(text)


@pytest.mark.parametrize("text", SAFE)
def test_errand_talk_is_left_to_the_classifier(text):
    assert not names_danger(text)


def classified(text: str, intent: str, confidence: float) -> Message:
    message = Message(data={TEXT: text})
    message.set(INTENT, {"name": intent, "confidence": confidence}, add_to_output=True)
    message.set(INTENT_RANKING_KEY, [{"name": intent, "confidence": confidence},
                                     {"name": "distress", "confidence": 0.01}], add_to_output=True)
    return message


def test_the_net_overrides_the_classifier_and_the_fallback_only_on_danger():
    net = DistressSafetyNet.create({}, None, None, None)
    fell, asked = classified("我摔倒了动不了", "nlu_fallback", 0.6), classified("我社保卡丢了", "ask_social_security", 0.9)
    net.process([fell, asked])
    assert fell.get(INTENT) == {"name": "distress", "confidence": 1.0}
    assert [r["name"] for r in fell.get(INTENT_RANKING_KEY)] == ["distress", "nlu_fallback"]
    assert asked.get(INTENT)["name"] == "ask_social_security"


def test_a_danger_the_classifier_never_saw_reaches_a_person(rasa):
    replies = rasa.send("test-safety-net", "我老伴突然嘴歪了 说话也说不清")
    text = " ".join(r.get("text", "") for r in replies)
    assert "120" in text and any(r.get("custom", {}).get("handoff") for r in replies)
