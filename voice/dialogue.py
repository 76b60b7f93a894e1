"""The gateway's side of the dialogue: one caller turn to Rasa's REST channel, one bot turn back.

`sender` is the call's id (CallSid), metadata carries the caller number and the channel.
Custom JSON from the actions controls the call: `handoff` (ticket, transfer or callback),
`hangup`, `collect_digits` (keypad), `expect` (what kind of answer comes next), `show`
(a checklist for a screen). When Rasa
does not answer in time, the turn is an apology and a callback offer, never silence.
"""
from __future__ import annotations

import asyncio
import logging
import os
from dataclasses import dataclass, field
from urllib.parse import quote

import aiohttp

from contract import COLLECT_DIGITS, EXPECT, HANDOFF, HANGUP, SHOW
from voice import settings

log = logging.getLogger(__name__)
RASA_URL = os.environ.get("RASA_URL", "http://localhost:5005")
RASA_TIMEOUT = float(os.environ.get("RASA_TIMEOUT_SECONDS", "6"))
APOLOGY = "抱歉，系统有点忙，没能马上回答您。需要工作人员给您回电话吗？"


@dataclass
class BotTurn:
    texts: list[str] = field(default_factory=list)
    handoff: dict | None = None
    hangup: bool = False
    collect_digits: dict | None = None
    expect: str | None = None     # what the bot asked for: yes_no | digits | mode | day (recogniser vocabulary)
    failed: bool = False          # Rasa did not answer: the gateway offers a callback itself
    show: dict | None = None      # something to read on a screen: a checklist (title, items, where)


def bot_turn(replies: list[dict]) -> BotTurn:
    turn = BotTurn()
    for reply in replies:
        if reply.get("text"):
            turn.texts.append(reply["text"])
        custom = reply.get("custom") or {}
        if isinstance(custom, dict):
            turn.handoff = custom.get(HANDOFF) or turn.handoff
            turn.hangup = turn.hangup or bool(custom.get(HANGUP))
            turn.collect_digits = custom.get(COLLECT_DIGITS) or turn.collect_digits
            turn.expect = custom.get(EXPECT) or turn.expect
            turn.show = custom.get(SHOW) or turn.show
    return turn


RETRYABLE = (502, 503)   # the balancer's "the instance failed" and "no instance up"


class RasaBridge:
    def __init__(self, url: str = RASA_URL, timeout: float = RASA_TIMEOUT, api_token: str | None = None):
        self.url, self.timeout = url.rstrip("/"), timeout
        # The REST channel is open; the tracker API (rewind) needs Rasa's token.
        self.api = {"token": api_token or settings.RASA_API_TOKEN}

    async def send(self, call_id: str, text: str, *, caller: str | None, channel: str = "phone") -> BotTurn:
        """Rasa's answer to one caller turn. A turn that did not reach Rasa, or that the
        instance dropped (a Rasa of a cluster killed mid-turn: the balancer answers 502/503),
        is sent once more within the same time budget: that is safe, since Rasa keeps a turn
        only once it is done and the actions' writes carry the turn's idempotency key."""
        body = {"sender": call_id, "message": text, "metadata": {"caller": caller, "channel": channel}}
        deadline = asyncio.get_running_loop().time() + self.timeout
        for attempt in (1, 2):
            left = deadline - asyncio.get_running_loop().time()
            try:
                async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=left)) as session:
                    async with session.post(f"{self.url}/webhooks/rest/webhook", json=body) as response:
                        if response.status in RETRYABLE and attempt == 1:
                            log.warning("rasa answered HTTP %s for a call turn: sending it once more", response.status)
                            continue
                        response.raise_for_status()
                        return bot_turn(await response.json())
            except aiohttp.ClientConnectionError as error:
                if attempt == 1 and deadline - asyncio.get_running_loop().time() > 0.5:
                    log.warning("rasa dropped a call turn (%s): sending it once more", type(error).__name__)
                    continue
                log.error("rasa did not answer for a call turn: %s", type(error).__name__)
            except (aiohttp.ClientError, asyncio.TimeoutError, ValueError) as error:
                log.error("rasa did not answer for a call turn: %s", type(error).__name__)
            break
        return BotTurn(texts=[APOLOGY], failed=True)

    async def rewind(self, call_id: str) -> bool:
        """Make Rasa forget the caller's latest turn and its reply: the caller was only
        pausing, and the whole turn follows. A `rewind` also takes back the listen before
        that turn, so one is put back (as Rasa does after its own fallback's rewind)."""
        url = f"{self.url}/conversations/{quote(call_id, safe='')}/tracker/events"
        events = [{"event": "rewind"}, {"event": "action", "name": "action_listen"}]
        try:
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout)) as session:
                async with session.post(url, params=self.api, json=events) as response:
                    return response.status == 200
        except (aiohttp.ClientError, asyncio.TimeoutError) as error:
            log.error("rasa did not take a rewind: %s", type(error).__name__)
            return False
