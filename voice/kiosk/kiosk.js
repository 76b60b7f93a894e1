// 政务帮办 · 语音导办 — the kiosk's browser side.
//
// One session per press of 按一下，开始说话: the microphone (16 kHz, through
// capture-worklet.js) goes to /kiosk/stream as binary PCM16; the bot's speech comes back as
// binary PCM16 and is scheduled back to back on the same AudioContext; text messages carry
// marks, clear, captions, the checklist, the hand-off, the state and the end.
//
// Marks: a mark is due when the audio scheduled before it has been played, i.e. when the
// AudioContext's clock passes the play head as it stood when the mark came. A timer to that
// moment and every source's `ended` event check the queue; due marks are echoed in order.
// `clear` stops every source at once and drops the pending marks: they are never echoed.
//
// Idle: nobody touching the screen, no caption and no bot audio for data-idle-seconds opens
// the 您还需要帮忙吗？ dialog; nothing for data-prompt-seconds more starts afresh (the
// socket says `end` and closes, the microphone stops, the screen is emptied).
//
// For tests: document.body.dataset.state is start | talking | ended, and window.kioskStats
// counts the chunks sent, the seconds of bot speech played and the marks echoed.

const SAMPLE_RATE = 16000;
const BATCH = 640;             // samples per microphone chunk: 40 ms
const MAX_CAPTIONS = 6;
const LEAD = 0.05;             // seconds ahead of the clock a sentence's first chunk starts
const EPSILON = 0.002;         // seconds: float slack when comparing against the clock
const MAX_BUFFERED = 512 * 1024;   // bytes waiting in the socket before microphone audio is dropped

const TEXT = {
  preparing: '请稍等……',
  listening: '正在听您说……',
  thinking: '正在想……',
  speaking: '正在回答……',
  ended: '这次就到这儿。要看的内容还在屏幕上。',
  findingStaff: '好的，正在帮您找工作人员，请稍等……',
  micProblem: '话筒没有打开。请找工作人员帮忙。',
  lineProblem: '现在连不上。请找工作人员帮忙。',
  dropped: '连接断了。请找工作人员帮忙。',
  staffAdvice: '请到大厅的服务台找工作人员，他们会帮您办。',
  reset: '说完了，重新开始',
  restart: '重新开始',
};

const $ = (id) => document.getElementById(id);
const body = document.body;
const ui = {
  startScreen: $('start-screen'),
  talkScreen: $('talk-screen'),
  start: $('start'),
  staff: $('staff'),
  reset: $('reset'),
  captions: $('captions'),
  status: $('status'),
  statusText: $('status-text'),
  checklist: $('checklist'),
  checklistName: $('checklist-name'),
  checklistItems: $('checklist-items'),
  checklistWhere: $('checklist-where'),
  handoff: $('handoff'),
  handoffText: $('handoff-text'),
  handoffTicket: $('handoff-ticket'),
  problem: $('problem'),
  problemText: $('problem-text'),
  idlePrompt: $('idle-prompt'),
  keep: $('keep'),
};

function seconds(value, fallback) {
  const number = Number.parseFloat(value);
  return Number.isFinite(number) && number > 0 ? number : fallback;
}

const IDLE_MS = seconds(body.dataset.idleSeconds, 90) * 1000;
const PROMPT_MS = seconds(body.dataset.promptSeconds, 30) * 1000;
const reducedMotion = window.matchMedia('(prefers-reduced-motion: reduce)');

const stats = { chunksSent: 0, secondsPlayed: 0, marksPlayed: [] };
window.kioskStats = stats;

let session = null;            // the live session, or null on the start screen
let lastActivity = performance.now();
let promptOpenedAt = 0;

// ---------------------------------------------------------------- sessions

function newSession() {
  return {
    ctx: null, stream: null, source: null, capture: null, sink: null, ws: null,
    started: false,      // {"type":"start"} has gone out: audio may follow
    over: false,         // the server ended it, or it failed: nothing more is sent
    closing: false,      // we are closing the socket ourselves
    staffAsked: false,
    playHead: 0,         // AudioContext time at which the next bot chunk starts
    sources: new Set(),  // scheduled chunks: {node, start, end, stoppedAt}
    marks: [],           // pending marks: {name, at}
    markTimer: 0,
    leftover: null,      // an odd byte carried to the next binary message
  };
}

async function startSession() {
  if (session) return;
  const s = newSession();
  session = s;
  stats.chunksSent = 0;
  stats.secondsPlayed = 0;
  stats.marksPlayed = [];
  showTalkScreen();
  activity();

  if (!window.isSecureContext || !navigator.mediaDevices || !navigator.mediaDevices.getUserMedia
      || typeof AudioWorkletNode === 'undefined') {
    fail(s, TEXT.micProblem);
    return;
  }
  // Created inside the click, so the browser lets it play.
  try {
    s.ctx = new AudioContext({ sampleRate: SAMPLE_RATE, latencyHint: 'interactive' });
  } catch (error) {
    s.ctx = new AudioContext({ latencyHint: 'interactive' });
  }

  let stream;
  try {
    stream = await navigator.mediaDevices.getUserMedia({
      audio: { echoCancellation: true, noiseSuppression: true, autoGainControl: true, channelCount: 1 },
    });
  } catch (error) {
    if (s === session) fail(s, TEXT.micProblem);
    return;
  }
  if (s !== session) {           // reset while the browser was asking
    stream.getTracks().forEach((track) => track.stop());
    return;
  }
  s.stream = stream;

  try {
    await s.ctx.audioWorklet.addModule('/kiosk/static/capture-worklet.js');
    if (s !== session) return;
    let source;
    try {
      source = s.ctx.createMediaStreamSource(stream);
    } catch (error) {
      // a browser that cannot join the microphone to a 16 kHz context: its own rate, and
      // the worklet downsamples
      await s.ctx.close();
      s.ctx = new AudioContext({ latencyHint: 'interactive' });
      await s.ctx.audioWorklet.addModule('/kiosk/static/capture-worklet.js');
      if (s !== session) return;
      source = s.ctx.createMediaStreamSource(stream);
    }
    const capture = new AudioWorkletNode(s.ctx, 'kiosk-capture', {
      numberOfInputs: 1,
      numberOfOutputs: 1,
      outputChannelCount: [1],
      channelCount: 1,
      channelCountMode: 'explicit',
      channelInterpretation: 'speakers',
      processorOptions: { batch: BATCH, targetRate: SAMPLE_RATE },
    });
    capture.port.onmessage = (event) => sendAudio(s, event.data);
    // The worklet writes silence; the muted path to the speakers keeps it pulled.
    const sink = s.ctx.createGain();
    sink.gain.value = 0;
    source.connect(capture).connect(sink).connect(s.ctx.destination);
    Object.assign(s, { source, capture, sink });
    if (s.ctx.state === 'suspended') s.ctx.resume().catch(() => {});
  } catch (error) {
    if (s === session) fail(s, TEXT.micProblem);
    return;
  }
  openSocket(s);
}

function openSocket(s) {
  const url = (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/kiosk/stream';
  let ws;
  try {
    ws = new WebSocket(url);
  } catch (error) {
    fail(s, TEXT.lineProblem);
    return;
  }
  ws.binaryType = 'arraybuffer';
  s.ws = ws;
  ws.addEventListener('open', () => {
    if (s !== session || s.over) return;
    sendJson(s, { type: 'start' });
    s.started = true;
  });
  ws.addEventListener('message', (event) => {
    if (s === session) receive(s, event.data);
  });
  ws.addEventListener('close', () => {
    if (s !== session || s.closing || s.over) return;
    fail(s, s.started ? TEXT.dropped : TEXT.lineProblem);
  });
}

function sendJson(s, message) {
  if (s.ws && s.ws.readyState === WebSocket.OPEN) s.ws.send(JSON.stringify(message));
}

function sendAudio(s, buffer) {
  if (s !== session || !s.started || s.over || !s.ws || s.ws.readyState !== WebSocket.OPEN) return;
  if (s.ws.bufferedAmount > MAX_BUFFERED) return;   // a stalled network: drop, don't pile up
  s.ws.send(buffer);
  stats.chunksSent += 1;
}

function receive(s, data) {
  if (typeof data !== 'string') {
    play(s, data);
    return;
  }
  let message;
  try {
    message = JSON.parse(data);
  } catch (error) {
    return;
  }
  if (!message || typeof message !== 'object') return;
  switch (message.type) {
    case 'mark':
      queueMark(s, String(message.name ?? ''));
      break;
    case 'clear':
      clearPlayback(s);
      break;
    case 'caption':
      addCaption(message.speaker, message.text);
      activity();
      break;
    case 'checklist':
      showChecklist(message);
      activity();
      break;
    case 'handoff':
      showHandoff(message);
      activity();
      break;
    case 'state':
      setStatus(message.state);
      if (message.state !== 'listening') activity();
      break;
    case 'end':
      endedByServer(s);
      break;
    default:
      break;                     // unknown types are ignored
  }
}

// ---------------------------------------------------------------- bot speech

function play(s, data) {
  const ctx = s.ctx;
  if (!ctx || ctx.state === 'closed') return;
  let bytes = new Uint8Array(data);
  if (s.leftover !== null) {
    const joined = new Uint8Array(bytes.length + 1);
    joined[0] = s.leftover;
    joined.set(bytes, 1);
    bytes = joined;
    s.leftover = null;
  }
  if (bytes.length % 2) {
    s.leftover = bytes[bytes.length - 1];
    bytes = bytes.subarray(0, bytes.length - 1);
  }
  const count = bytes.length >> 1;
  if (!count) return;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  const buffer = ctx.createBuffer(1, count, SAMPLE_RATE);
  const samples = buffer.getChannelData(0);
  for (let i = 0; i < count; i += 1) samples[i] = view.getInt16(i * 2, true) / 32768;

  const node = ctx.createBufferSource();
  node.buffer = buffer;
  node.connect(ctx.destination);
  // back to back: the next chunk starts where the last one ends; after a pause (or at the
  // very start) a little ahead of the clock, so the first samples are not cut
  if (s.playHead < ctx.currentTime + EPSILON) s.playHead = ctx.currentTime + LEAD;
  const entry = { node, start: s.playHead, end: s.playHead + count / SAMPLE_RATE, stoppedAt: null };
  node.addEventListener('ended', () => finished(s, entry));
  node.start(entry.start);
  s.playHead = entry.end;
  s.sources.add(entry);
  activity();
}

function finished(s, entry) {
  if (!s.sources.delete(entry)) return;
  const until = entry.stoppedAt === null ? entry.end : Math.min(entry.end, entry.stoppedAt);
  stats.secondsPlayed = Math.round((stats.secondsPlayed + Math.max(0, until - entry.start)) * 1000) / 1000;
  entry.node.disconnect();
  flushMarks(s);
}

function queueMark(s, name) {
  s.marks.push({ name, at: s.playHead });   // nothing queued: the play head is behind the clock
  flushMarks(s);
}

function flushMarks(s) {
  clearTimeout(s.markTimer);
  s.markTimer = 0;
  if (!s.marks.length || !s.ctx || s.ctx.state === 'closed') return;
  const now = s.ctx.currentTime;
  while (s.marks.length && s.marks[0].at <= now + EPSILON) {
    const mark = s.marks.shift();
    if (s === session && !s.over) {
      sendJson(s, { type: 'played', mark: mark.name });
      stats.marksPlayed.push(mark.name);
    }
  }
  if (s.marks.length) {
    // the clock only moves while the context runs: if the timer comes early, it is set again
    const wait = (s.marks[0].at - now) * 1000;
    s.markTimer = setTimeout(() => flushMarks(s), Math.max(15, wait + 5));
  }
}

function clearPlayback(s) {
  clearTimeout(s.markTimer);
  s.markTimer = 0;
  s.marks = [];                  // never echoed
  s.leftover = null;
  if (!s.ctx || s.ctx.state === 'closed') return;
  const now = s.ctx.currentTime;
  for (const entry of s.sources) {
    entry.stoppedAt = now;
    try {
      entry.node.stop();
    } catch (error) {
      // not started: nothing to stop
    }
  }
  s.playHead = now;
}

function isPlaying() {
  const s = session;
  return Boolean(s && s.ctx && s.ctx.state === 'running' && s.playHead > s.ctx.currentTime && s.sources.size);
}

// ---------------------------------------------------------------- the end of a session

function stopMicrophone(s) {
  if (s.capture) {
    s.capture.port.onmessage = null;
    s.capture.port.postMessage('stop');
    s.capture.disconnect();
  }
  if (s.source) s.source.disconnect();
  if (s.sink) s.sink.disconnect();
  if (s.stream) s.stream.getTracks().forEach((track) => track.stop());
  s.capture = null;
  s.source = null;
  s.sink = null;
  s.stream = null;
}

function closeSocket(s, sayEnd) {
  const ws = s.ws;
  if (!ws) return;
  s.closing = true;
  if (ws.readyState === WebSocket.OPEN) {
    if (sayEnd && !s.over) ws.send(JSON.stringify({ type: 'end' }));
    ws.close(1000);
  } else if (ws.readyState === WebSocket.CONNECTING) {
    ws.close();
  }
}

function teardown(s) {
  stopMicrophone(s);
  closeSocket(s, true);
  s.over = true;
  clearTimeout(s.markTimer);
  s.marks = [];
  for (const entry of s.sources) {
    try {
      entry.node.stop();
    } catch (error) {
      // not started
    }
  }
  s.sources.clear();
  if (s.ctx && s.ctx.state !== 'closed') s.ctx.close().catch(() => {});
}

// The server said goodbye: the screen stays (where to go, what to bring); the bot's last
// words play out; the microphone stops.
function endedByServer(s) {
  s.over = true;
  s.closing = true;
  stopMicrophone(s);
  setStatus('ended');
  ui.reset.textContent = TEXT.restart;
  body.dataset.state = 'ended';
  activity();
}

// Something broke: one clear sentence and the advice to find staff, never a blank screen.
function fail(s, sentence) {
  stopMicrophone(s);
  closeSocket(s, false);
  s.over = true;
  ui.problemText.textContent = sentence;
  ui.problem.hidden = false;
  ui.status.hidden = true;
  ui.reset.textContent = TEXT.restart;
  body.dataset.state = 'ended';
  activity();
}

function resetToStart() {
  const s = session;
  session = null;
  if (s) teardown(s);
  closePrompt();
  ui.captions.replaceChildren();
  ui.checklist.hidden = true;
  ui.checklistItems.replaceChildren();
  ui.checklistName.hidden = true;
  ui.checklistWhere.hidden = true;
  ui.handoff.hidden = true;
  ui.handoffText.textContent = '';
  ui.handoffTicket.textContent = '';
  ui.problem.hidden = true;
  ui.problemText.textContent = '';
  ui.status.hidden = false;
  setStatus('preparing');
  ui.reset.textContent = TEXT.reset;
  ui.talkScreen.hidden = true;
  ui.startScreen.hidden = false;
  ui.start.disabled = false;
  body.dataset.state = 'start';
  window.scrollTo(0, 0);
}

// ---------------------------------------------------------------- the screen

function showTalkScreen() {
  ui.start.disabled = true;
  ui.startScreen.hidden = true;
  ui.talkScreen.hidden = false;
  ui.problem.hidden = true;
  ui.status.hidden = false;
  setStatus('preparing');
  body.dataset.state = 'talking';
  window.scrollTo(0, 0);
}

const STATES = ['preparing', 'listening', 'thinking', 'speaking', 'ended'];

function setStatus(state) {
  if (!STATES.includes(state)) return;
  ui.status.dataset.status = state;
  ui.statusText.textContent = TEXT[state];
}

function reveal(element) {
  element.scrollIntoView({ block: 'nearest', behavior: reducedMotion.matches ? 'auto' : 'smooth' });
}

function addCaption(speaker, text) {
  if ((speaker !== 'bot' && speaker !== 'caller') || typeof text !== 'string' || !text.trim()) return;
  const entry = document.createElement('p');
  entry.className = `entry ${speaker}`;
  if (speaker === 'caller') {
    const who = document.createElement('span');
    who.className = 'who';
    who.textContent = '您说：';
    entry.append(who, text.trim());
  } else {
    entry.textContent = text.trim();
  }
  ui.captions.append(entry);
  while (ui.captions.children.length > MAX_CAPTIONS) ui.captions.firstElementChild.remove();
  reveal(entry);
}

function showChecklist(message) {
  const items = Array.isArray(message.items)
    ? message.items.filter((item) => typeof item === 'string' && item.trim()) : [];
  const where = typeof message.where === 'string' ? message.where.trim() : '';
  const title = typeof message.title === 'string' ? message.title.trim() : '';
  if (!items.length && !where) return;
  ui.checklistItems.replaceChildren(...items.map((item) => {
    const li = document.createElement('li');
    const label = document.createElement('label');
    label.className = 'check';
    const box = document.createElement('input');
    box.type = 'checkbox';
    const words = document.createElement('span');
    words.textContent = item.trim();
    label.append(box, words);
    li.append(label);
    return li;
  }));
  ui.checklistName.textContent = title;
  ui.checklistName.hidden = !title || title === '要带的材料';
  ui.checklistWhere.textContent = where ? `在哪儿办：${where}` : '';
  ui.checklistWhere.hidden = !where;
  ui.checklist.hidden = false;
  reveal(ui.checklist);
}

function showHandoff(message) {
  const ticket = typeof message.ticket === 'string' ? message.ticket.trim() : '';
  const text = typeof message.text === 'string' ? message.text.trim() : '';
  const sentence = text || (ticket ? `请找工作人员，报您的编号：${ticket}` : TEXT.staffAdvice);
  // the ticket inside the sentence never breaks across lines
  const at = ticket ? sentence.indexOf(ticket) : -1;
  if (at >= 0) {
    const number = document.createElement('span');
    number.className = 'nowrap';
    number.textContent = ticket;
    ui.handoffText.replaceChildren(sentence.slice(0, at), number, sentence.slice(at + ticket.length));
  } else {
    ui.handoffText.textContent = sentence;
  }
  ui.handoffTicket.textContent = ticket;
  ui.handoffTicket.parentElement.hidden = !ticket;
  ui.handoff.hidden = false;
  if (ui.statusText.textContent === TEXT.findingStaff) setStatus(ui.status.dataset.status);
  ui.handoff.focus({ preventScroll: true });
  reveal(ui.handoff);
}

function askForStaff() {
  activity();
  const s = session;
  if (!ui.handoff.hidden) {           // already shown: show it again
    reveal(ui.handoff);
    return;
  }
  if (s && s.started && !s.over && s.ws && s.ws.readyState === WebSocket.OPEN) {
    if (!s.staffAsked) sendJson(s, { type: 'staff' });
    s.staffAsked = true;
    ui.statusText.textContent = TEXT.findingStaff;
    return;
  }
  showHandoff({ text: TEXT.staffAdvice });   // no line to the server: where to go anyway
}

// ---------------------------------------------------------------- idle

function activity() {
  lastActivity = performance.now();
  if (ui.idlePrompt.open) closePrompt();
}

function openPrompt() {
  if (ui.idlePrompt.open) return;
  promptOpenedAt = performance.now();
  ui.idlePrompt.showModal();
  ui.keep.focus();
}

function closePrompt() {
  if (ui.idlePrompt.open) ui.idlePrompt.close();
}

function idleTick() {
  if (body.dataset.state === 'start') return;
  const now = performance.now();
  if (isPlaying()) {                  // the bot is still speaking
    activity();
    return;
  }
  if (ui.idlePrompt.open) {
    if (now - promptOpenedAt >= PROMPT_MS) resetToStart();
    return;
  }
  if (now - lastActivity >= IDLE_MS) openPrompt();
}

// A touch anywhere is activity. While the prompt is open it closes on the finger's lift, so
// the tap that closes it does not also press what lies underneath.
function onPointerDown() {
  lastActivity = performance.now();
  const s = session;
  if (s && s.ctx && s.ctx.state === 'suspended') s.ctx.resume().catch(() => {});
}

function onPointerUp() {
  activity();
}

document.addEventListener('pointerdown', onPointerDown, { capture: true, passive: true });
document.addEventListener('pointerup', onPointerUp, { capture: true, passive: true });
document.addEventListener('keydown', () => activity(), { capture: true });
document.addEventListener('input', () => activity(), { capture: true });
ui.idlePrompt.addEventListener('close', () => { lastActivity = performance.now(); });

ui.start.addEventListener('click', () => { startSession(); });
ui.staff.addEventListener('click', askForStaff);
ui.reset.addEventListener('click', resetToStart);
ui.keep.addEventListener('click', () => activity());

window.addEventListener('pagehide', () => {
  if (session) teardown(session);
  session = null;
});

setInterval(idleTick, Math.max(50, Math.min(250, IDLE_MS / 8, PROMPT_MS / 8)));
