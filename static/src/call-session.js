/**
 * One call's lifetime, from a press on Talk to its end: asks our API for the call (after the bot
 * check, if any), joins its room (room.js) speaking the protocol of the call's provider, plays
 * and meters the agent, runs the clock, and shows every step in the call panel: its state, the
 * transcript, the webcall:* events.
 */
import { AgentAudio } from './agent-audio.js';
import { ApiError, newIdempotencyKey, requestCall } from './api.js';
import { CallTimer } from './call-timer.js';
import { LevelMeters } from './level-meters.js';
import { CallRoom } from './room.js';

const AGENT_JOIN_TIMEOUT_S = 20;
// Each panel's last call request that got no answer ({key, asked}): it timed out, the connection
// dropped, or it never went out. The server may have made that call all the same, so the panel's
// next request for it sends the same Idempotency-Key and gets that call, not a second (billed) one.
// An answer of any kind, or the caller's cancel, lets the key go: the next Talk is a new call.
const unanswered = new WeakMap();

export class CallSession {
  /**
   * Starts a call for `panel` (call-panel.js): {config, element, ui, transcript, devices,
   * botCheck, extras, levels: {agent, mic}, emit(name, detail), show(state, extra),
   * ended(session, connected)}.
   * `mode` is `voice`, or `text` for a chat that never asks for the microphone (the agent's
   * voice then starts muted). Construct, then begin(), inside the click handler: the Room,
   * startAudio and the AudioContext need the gesture. `asked` is the call's request
   * (askForCall()), when the press on Talk sent it before its click.
   */
  constructor(panel, mode = 'voice', asked = askForCall(panel, mode)) {
    this.panel = panel;
    this.mode = mode;
    // The call's request goes out first: everything below happens while it is on the network.
    this.abort = asked.abort;
    const { session } = asked;
    this.meters = new LevelMeters();
    this.voice = new AgentAudio(panel.element, this.meters, panel.levels.agent);
    this.voice.setMuted(mode === 'text');
    this.timer = new CallTimer(panel.ui, panel.config.max_call_s, () => this.hangUp('time-limit'));
    panel.ui.setTimer(0, this.timer.limitS); // not the last call's time, should #timer show early
    this.info = {}; // the API's answer: call_id, room, identity, …
    this.micTrack = null; // the microphone's LocalAudioTrack, once it is open
    this.startedAt = null; // when the agent answered (a Date), for the transcript file
    this.joinedAt = 0; // performance.now() when the page joined the room
    this.durationS = 0;
    // Started without a gesture (a host calling start()), the meters wait for the first one.
    this.wake = () => this.meters.resume();
    panel.element.addEventListener('pointerdown', this.wake);
    panel.element.addEventListener('keydown', this.wake);
    this.room = new CallRoom(this.roomHooks(), { mic: micMode(mode, panel.config) });
    session.then(
      (info) => {
        this.info = info;
        this.timer.limitS = info.max_call_s ?? this.timer.limitS;
      },
      () => {},
    );
    this.request = asked;
  }

  /**
   * Joins the room of the call's request (a Promise of our API's answer); the microphone opens
   * meanwhile, or once the bot check's token, when not in hand yet, has come. Apart from the
   * constructor so that the panel holds the session first: a host's webcall:start or
   * webcall:state listener may end it (`hangUp()`, `destroy()`), and the steps after that
   * event then do nothing.
   */
  begin() {
    const { config, devices, emit } = this.panel;
    const { session, micAfter } = this.request;
    emit('start', { agent: config.agent, mode: this.mode });
    if (this.room.over) return;
    const joinTimeoutS = config.agent_join_timeout_s ?? AGENT_JOIN_TIMEOUT_S;
    this.room.join(session, joinTimeoutS, devices.preferred('audioinput'), config.livekit_url, micAfter);
    if (this.room.over) return;
    const speaker = devices.preferred('audiooutput');
    if (speaker) this.room.switchDevice('audiooutput', speaker).catch(() => {});
    this.panel.extras.begin(this); // media/extras.js: camera, screen share, push-to-talk, chat
  }

  /** Leaves the call; `reason` goes out in webcall:end. */
  hangUp(reason) {
    this.room.hangUp(reason);
  }

  /** Mutes or unmutes the microphone. */
  setMuted(muted) {
    return this.room.setMuted(muted);
  }

  /** Sends a typed message to the agent. */
  sendChat(text) {
    return this.room.sendChat(text);
  }

  /** Tells the agent `text` in the background (where its protocol can); resolves whether sent. */
  sendContext(text) {
    return this.room.sendContext(text);
  }

  /** Answers the agent's tool call `id` (from a webcall:tool-call event); false if none waits. */
  answerToolCall(id, result, isError) {
    return this.room.answerToolCall(id, result, isError);
  }

  /** Moves the microphone or the agent's voice to another device. */
  switchDevice(kind, deviceId) {
    return this.room.switchDevice(kind, deviceId);
  }

  /** "Turn on sound": retries playback with the caller's click; resolves whether the agent plays. */
  async resumeAudio() {
    await this.room.resumeAudio().catch(() => {});
    return this.voice.playAll();
  }

  /** What the room reports, turned into the panel's state, meters, transcript and events. */
  roomHooks() {
    const { ui, transcript, emit, levels } = this.panel;
    return {
      phase: (state) => this.onPhase(state),
      connected: () => {
        this.joinedAt = performance.now();
        const { call_id, room, identity } = this.info;
        if (this.micTrack) this.meters.watch(levels.mic, this.micTrack.mediaStreamTrack);
        emit('connected', { call_id, room, identity });
      },
      agent: (participant) => {
        // It talks, and its time counts (max_call_s too), while the microphone's prompt is open.
        this.startClock();
        emit('agent-joined', { identity: participant.identity });
      },
      agentState: (state) => {
        ui.set({ agentState: state });
        if (state) emit('agent-state', { state }); // (none: neither listening, thinking nor speaking)
      },
      audio: (track, subscribed) => (subscribed ? this.voice.add(track) : this.voice.remove(track)),
      video: (track, subscribed) => this.panel.extras.video(track, subscribed),
      mic: (track) => {
        // Metered from the moment the page is in the room, where its meter (in the mute button)
        // shows: painted every frame while the peer connections were still connecting, it
        // slowed them by about 40 ms on loopback (bench/README.md, "floor").
        this.micTrack = track;
        if (this.room.connected) this.meters.watch(levels.mic, track.mediaStreamTrack);
      },
      muted: (muted, lost) => {
        ui.set({ muted });
        if (lost) emit('error', { code: 'mic-lost', message: ui.showError('mic-lost') });
        else if (!muted) ['mic-lost', 'unmute-failed'].forEach((code) => ui.clearError(code));
      },
      playback: (canPlay) => this.onPlayback(canPlay),
      device: (kind, deviceId) => this.panel.devices.mark({ [kind]: deviceId }),
      quality: (quality) => {
        ui.setNetwork(quality === 'poor' || quality === 'lost');
        emit('connection-quality', { quality });
      },
      line: (line) => transcript.show(line),
      drop: (id) => transcript.remove(id),
      abilities: ({ chat }) => ui.set({ canChat: chat }),
      toolCall: (call) => emit('tool-call', call),
      end: (outcome) => this.onEnd(outcome),
    };
  }

  /** Whether the agent has answered: the clock runs from then. */
  get answered() {
    return this.timer.running;
  }

  /**
   * The clock, from when the agent answers (once). Its limit counts from the page's join, as
   * the server's does (self-hosted LiveKit deletes the room `max_call_s` after its creation, the
   * caller's join): an agent slow to join had the room deleted while the page still showed time
   * left ("The call was closed", not the time limit).
   */
  startClock() {
    if (this.timer.running) return;
    this.startedAt = new Date();
    if (this.timer.limitS && this.joinedAt) {
      const waitedS = Math.floor((performance.now() - this.joinedAt) / 1000);
      this.timer.limitS = Math.max(1, this.timer.limitS - waitedS);
    }
    this.timer.start();
  }

  /** A new phase: the clock starts when the agent answers; the pickers learn the devices in use. */
  onPhase(state) {
    const { ui, devices } = this.panel;
    if (state === 'in-call') this.startClock();
    if (state !== ui.state && (state === 'waiting-agent' || state === 'in-call')) {
      devices.mark({ audioinput: this.room.activeDevice('audioinput') });
    }
    this.panel.show(state);
  }

  /** The browser blocked the agent's voice (or let it play again). */
  onPlayback(canPlay) {
    const { ui, element, emit } = this.panel;
    if (canPlay) {
      // LiveKit may call audio unlocked when only its AudioContext was: check our players.
      this.voice.playAll().then((playing) => playing && ui.clearError('playback-blocked'));
      return;
    }
    emit('error', { code: 'playback-blocked', message: ui.showError('playback-blocked') });
    // Hand the keyboard the one thing to do, unless the caller is busy elsewhere or typing.
    const focus = element.getRootNode().activeElement; // null: focus is outside our root
    const nowhere = !document.activeElement || document.activeElement === document.body;
    const inUi = focus && element.contains(focus) && !focus.matches('input, select, textarea');
    if (nowhere || inUi) ui.el.resume.focus();
  }

  /** The end, once: releases everything, then shows how the call ended (or why it failed). */
  onEnd(outcome) {
    const { panel } = this;
    const { ui, emit, devices, element, transcript } = panel;
    const durationS = this.timer.stop();
    transcript.finishLines(); // what was still being said is all there is
    this.abort.abort();
    element.removeEventListener('pointerdown', this.wake);
    element.removeEventListener('keydown', this.wake);
    this.meters.stop();
    this.voice.stop();
    panel.extras.end(this);
    panel.ended(this, !outcome.code && durationS != null);
    this.durationS = durationS ?? 0;
    if (outcome.code) {
      const { code, message, requestId } = outcome;
      const detail = { code, message: ui.showError(code, message, requestId) };
      if (outcome.retryAfterS) detail.retry_after_s = outcome.retryAfterS;
      if (requestId) detail.request_id = requestId;
      emit('error', detail);
      panel.show('failed', { muted: false });
      if (outcome.retryAfterS) panel.waitToRetry(outcome);
    } else {
      ui.clearError();
      panel.show('ended', { endReason: outcome.reason, duration: durationS, muted: false });
    }
    emit('end', { duration_s: this.durationS, reason: outcome.reason || outcome.code });
    devices.refresh();
  }
}

/** How the room opens the microphone: never in a chat, muted between turns with push-to-talk. */
function micMode(mode, config) {
  if (mode === 'text') return 'none';
  return config.media?.push_to_talk ? 'push-to-talk' : 'open';
}

/**
 * Asks our API for `panel`'s call in `mode`, after the bot check if it is on: {session (a
 * Promise of the API's answer), abort (its AbortController), micAfter, settled, failed (as the
 * answer comes)}. Not passed yet (a challenge may show for as long as the visitor takes),
 * `micAfter` is the check's token (a Promise): the microphone waits for it, as livekit-client
 * drops a microphone that waits 15 s for its room.
 */
export function askForCall(panel, mode) {
  const abort = new AbortController();
  const botCheck = panel.config.web_bot_check ? panel.botCheck : null; // (else for the phone form only)
  const passed = !botCheck || botCheck.passed;
  const token = botCheck ? botCheck.token() : null;
  const session = requestSession(panel, mode, botCheck, token, abort.signal);
  const asked = { session, abort, micAfter: passed ? null : token, settled: false, failed: false };
  session.then(
    () => (asked.settled = true),
    () => (asked.settled = asked.failed = true),
  );
  return asked;
}

/**
 * Asks our API for `panel`'s call: the agent, the mode (voice, text), the host's variables (a
 * widget's script tag) and a sales-demo link's token when the page has them, and the bot check's
 * `token` (a Promise) when the check is on. Sent with the key of the last request if that got no
 * answer (see `unanswered`).
 */
function requestSession(panel, mode, botCheck, token, signal) {
  const { config } = panel;
  const body = { agent: config.agent, mode };
  if (config.variables && Object.keys(config.variables).length) body.variables = config.variables;
  if (config.demo?.token) body.demo_token = config.demo.token;
  const attempt = attemptFor(panel, body);
  const asking = token
    ? token.then((botToken) => {
        // Hung up while the check was pending: the token stays unspent, for the next call.
        signal.throwIfAborted();
        botCheck.reset();
        return requestCall(config.api_url, { ...body, bot_token: botToken }, signal, attempt.key);
      })
    : requestCall(config.api_url, body, signal, attempt.key);
  asking.catch((err) => {
    // An ApiError without a status never had an answer; an abort is the caller's cancel.
    if (err instanceof ApiError && err.status === 0) unanswered.set(panel, attempt);
  });
  return asking;
}

/**
 * The attempt {key, asked} that asks for `body`: the unanswered one again if it asked for the
 * same (another mode is another call: the server refuses its key for it), else a new one.
 */
function attemptFor(panel, body) {
  const asked = JSON.stringify(body); // (the bot token, new each time, is not part of it)
  const last = unanswered.get(panel);
  unanswered.delete(panel);
  return last?.asked === asked ? last : { key: newIdempotencyKey(), asked };
}
