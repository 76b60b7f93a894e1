"""What the gateway sends Rasa for events that are not words, and how staff read them
in a ticket's transcript (None: not shown)."""
from __future__ import annotations

GREET, SILENCE, HUMAN, REPEAT = "/greet", "/silence", "/request_human", "/repeat"

READABLE = {HUMAN: "（按了0号键：转人工）", REPEAT: "（按了*号键：再说一遍）", SILENCE: "（没有说话）", GREET: None}
