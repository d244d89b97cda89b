/**
 * Entry point of the call page: reads the page config, turns a click on Talk into a Call, and
 * wires the Call's hooks to the page (ui.js), the meters (audio.js), the transcript and the
 * webcall:* DOM events on #call.
 */
import { requestCall } from './api.js';
import { LevelMeters } from './audio.js';
import { Call } from './connection.js';
import { Transcript } from './transcript.js';
import { applyAccent, createUi } from './ui.js';

const root = document.getElementById('call');
const config = JSON.parse(document.getElementById('webcall-config').textContent);
const ui = createUi(root);
const agentLevel = document.getElementById('agent-level');
const micLevel = document.getElementById('mic-level');
const transcript = new Transcript(document.getElementById('transcript'), (line) =>
  emit('transcript', line),
);
let current = null; // the Call in progress, if any

/** Dispatches `webcall:<name>` on #call for the embedding page and the tests. */
function emit(name, detail) {
  root.dispatchEvent(new CustomEvent(`webcall:${name}`, { detail, bubbles: true, composed: true }));
}

function show(state, extra) {
  const changed = state !== ui.state;
  ui.setState(state, extra);
  if (changed) emit('state', { state });
}

/** Runs inside the click handler: Room, startAudio and the AudioContext need the gesture. */
function startCall() {
  const abort = new AbortController();
  const meters = new LevelMeters();
  const players = new Set();
  let info = {};
  let limitS = config.max_call_s;
  let startedAt = 0;
  let ticker = 0;
  let meteredTrack = null;

  const tick = () => {
    const elapsedS = Math.floor((performance.now() - startedAt) / 1000);
    ui.setTimer(elapsedS, limitS);
    if (limitS && elapsedS >= limitS) call.hangUp('time-limit');
  };

  const call = new Call({
    phase(state) {
      if (state === 'in-call' && !startedAt) {
        startedAt = performance.now();
        tick();
        ticker = setInterval(tick, 1000);
      }
      show(state);
    },
    connected() {
      emit('connected', { call_id: info.call_id, room: info.room, identity: info.identity });
    },
    agent(participant) {
      emit('agent-joined', { identity: participant.identity });
    },
    agentState: (state) => ui.setAgentState(state),
    audio(track, _participant, subscribed) {
      if (subscribed) {
        // Attaching an <audio> element to the document is what makes the agent audible.
        const player = track.attach();
        players.add(player);
        document.body.append(player);
        meteredTrack = track;
        meters.watch(agentLevel, track.mediaStreamTrack);
        return;
      }
      for (const player of track.detach()) {
        players.delete(player);
        player.remove();
      }
      if (track === meteredTrack) meters.unwatch(agentLevel);
    },
    mic: (track) => meters.watch(micLevel, track.mediaStreamTrack),
    muted: (muted) => ui.setMuted(muted),
    playback(canPlay) {
      if (canPlay) ui.clearError('playback-blocked');
      else emit('error', { code: 'playback-blocked', message: ui.showError('playback-blocked') });
    },
    transcript: (reader, speaker) => transcript.readStream(reader, speaker),
    legacyTranscript: (segments, speaker) => transcript.showLegacy(segments, speaker),
    end(outcome) {
      clearInterval(ticker);
      abort.abort();
      meters.stop();
      players.forEach((player) => player.remove());
      current = null;
      const duration_s = startedAt ? Math.round((performance.now() - startedAt) / 1000) : 0;
      const reason = outcome.reason || outcome.code;
      if (outcome.code) {
        emit('error', { code: outcome.code, message: ui.showError(outcome.code, outcome.message) });
        show('failed');
      } else {
        ui.clearError();
        show('ended', { endReason: outcome.reason, duration: startedAt ? duration_s : null });
      }
      emit('end', { duration_s, reason });
    },
  });

  const session = requestCall(config.api_url, { agent: config.agent }, abort.signal);
  session.then(
    (s) => {
      info = s;
      limitS = s.max_call_s ?? limitS;
    },
    () => {},
  );
  emit('start', { agent: config.agent });
  call.start(session, config.agent_join_timeout_s ?? 20);
  return call;
}

ui.el.talk.addEventListener('click', () => {
  if (current) return;
  transcript.clear();
  ui.clearError();
  ui.setMuted(false);
  ui.setAgentState(undefined);
  current = startCall();
});

ui.el.hangup.addEventListener('click', () => {
  current?.hangUp(['in-call', 'reconnecting'].includes(ui.state) ? 'hangup' : 'cancelled');
});

ui.el.resume.addEventListener('click', () => current?.resumeAudio().catch(() => {}));

function toggleMute() {
  if (!current || ui.el.mute.hidden) return;
  current.setMuted(ui.el.mute.getAttribute('aria-pressed') !== 'true').catch(() => {});
}

ui.el.mute.addEventListener('click', toggleMute);

// "m" mutes, unless the caller is typing somewhere.
document.addEventListener('keydown', (event) => {
  if (event.key?.toLowerCase() !== 'm' || event.repeat) return;
  if (event.ctrlKey || event.metaKey || event.altKey) return;
  const target = event.target;
  if (target.isContentEditable || target.closest?.('input, textarea, select')) return;
  event.preventDefault();
  toggleMute();
});

applyAccent(config.accent_color);
// Says "Starting your microphone…" instead of asking, when access was granted before.
navigator.permissions
  ?.query({ name: 'microphone' })
  .then((status) => {
    ui.setMicGranted(status.state === 'granted');
    status.onchange = () => ui.setMicGranted(status.state === 'granted');
  })
  .catch(() => {});
ui.el.talk.disabled = false;
