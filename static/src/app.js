/**
 * The call UI, mountable into any root (the page's Document, a widget's ShadowRoot, an Element)
 * that holds the markup of templates/_call_panel.html. Turns Talk into a Call and wires the
 * Call's hooks to the UI (ui.js), the meters (audio.js), the transcript, the device pickers
 * and the webcall:* DOM events on #call, which bubble and cross a shadow boundary.
 */
import { requestCall } from './api.js';
import { LevelMeters } from './audio.js';
import { createBotCheck } from './botcheck.js';
import { Call } from './connection.js';
import { livekitAgents } from './protocols/livekit-agents.js';
import { hasConsent, setConsent } from './consent.js';
import { DevicePickers } from './devices.js';
import { Transcript } from './transcript.js';
import { copyText, downloadText, transcriptFileName, transcriptText } from './transcript-file.js';
import { applyAccent, createUi } from './ui.js';

const THEMES = ['system', 'light', 'dark'];
const MAX_CHAT_CHARS = 1000;

/**
 * Mounts the call UI found in `root` and returns its controller:
 * { start(), hangUp(), destroy(), element } where element is the #call element.
 * start() must run inside a user gesture (a click), like a press on Talk.
 */
export function mountCall(root, config) {
  const find = (id) => root.querySelector(`#${id}`);
  const element = find('call');
  const title = config.title || 'the agent';
  const consentText = config.consent_text || null;
  const ui = createUi(element, find, { title, consentText });
  const agentLevel = find('agent-level');
  const micLevel = find('mic-level');
  const transcript = new Transcript(
    find('transcript'),
    (line) => {
      ui.set({ hasTranscript: true });
      emit('transcript', line);
    },
    (behind) => {
      ui.el.latest.hidden = !behind;
    },
  );
  const devices = new DevicePickers({
    selects: { audioinput: find('mic-select'), audiooutput: find('speaker-select') },
    speakerField: find('speaker-field'),
    onPick(kind, id) {
      current?.switchDevice(kind, id).catch(() => ui.announce('That device could not be used.'));
    },
    onAvailable: (hasDevices) => ui.set({ hasDevices }),
  });
  const botCheck = config.turnstile_site_key
    ? createBotCheck(find('botcheck'), config.turnstile_site_key, config.turnstile_script_url)
    : null;
  const cleanups = [() => devices.destroy()];
  let current = null; // the Call in progress, if any
  const players = new Set(); // its <audio> elements
  let last = { startedAt: null, durationS: 0 }; // the latest call, for the transcript file
  let typedCount = 0; // ids for the caller's typed lines

  /** Dispatches `webcall:<name>` on #call for the embedding page and the tests. */
  function emit(name, detail) {
    element.dispatchEvent(new CustomEvent(`webcall:${name}`, { detail, bubbles: true, composed: true }));
  }

  function show(state, extra) {
    const changed = state !== ui.state;
    ui.setState(state, extra);
    if (changed) emit('state', { state });
  }

  function on(target, type, listener) {
    target.addEventListener(type, listener);
    cleanups.push(() => target.removeEventListener(type, listener));
  }

  /**
   * The API request: the agent, the host's variables (a widget's script tag) and a sales-demo
   * link's token when the page has them.
   */
  function callRequest() {
    const body = { agent: config.agent };
    if (config.variables && Object.keys(config.variables).length) body.variables = config.variables;
    if (config.demo?.token) body.demo_token = config.demo.token;
    return body;
  }

  /** Runs inside the click handler: Room, startAudio and the AudioContext need the gesture. */
  function startCall() {
    const abort = new AbortController();
    const meters = new LevelMeters();
    let info = {};
    let limitS = config.max_call_s;
    let startedAt = 0;
    let ticker = 0;
    let meteredTrack = null;
    let warned = false;
    last = { startedAt: null, durationS: 0 };

    const tick = () => {
      const elapsedS = Math.floor((performance.now() - startedAt) / 1000);
      ui.setTimer(elapsedS, limitS);
      if (limitS && !warned && limitS - elapsedS <= 30 && limitS > 30) {
        warned = true;
        ui.announce(`${limitS - elapsedS} seconds left in this call.`);
      }
      if (limitS && elapsedS >= limitS) call.hangUp('time-limit');
    };

    // Started without a gesture (a host calling start()), the meters wait for the first one.
    const wake = () => meters.resume();
    element.addEventListener('pointerdown', wake);
    element.addEventListener('keydown', wake);

    const call = new Call(livekitAgents, {
      phase(state) {
        if (state === 'in-call' && !startedAt) {
          startedAt = performance.now();
          last.startedAt = new Date();
          tick();
          ticker = setInterval(tick, 1000);
        }
        if (state !== ui.state && (state === 'waiting-agent' || state === 'in-call')) {
          devices.refresh({ audioinput: call.activeDevice('audioinput') });
        }
        show(state);
      },
      connected() {
        emit('connected', { call_id: info.call_id, room: info.room, identity: info.identity });
      },
      agent(participant) {
        emit('agent-joined', { identity: participant.identity });
      },
      agentState(state) {
        ui.set({ agentState: state });
        emit('agent-state', { state });
      },
      audio(track, subscribed) {
        if (subscribed) {
          // An attached <audio> element inside the UI (a shadow root works) makes the agent audible.
          const player = track.attach();
          players.add(player);
          element.append(player);
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
      muted: (muted) => ui.set({ muted }),
      playback(canPlay) {
        if (canPlay) {
          // LiveKit may call audio unlocked when only its AudioContext was: check our players.
          playAll().then((playing) => playing && ui.clearError('playback-blocked'));
          return;
        }
        emit('error', { code: 'playback-blocked', message: ui.showError('playback-blocked') });
        // Hand the keyboard the one thing to do, unless the caller is busy elsewhere or typing.
        const focus = element.getRootNode().activeElement; // null: focus is outside our root
        const nowhere = !document.activeElement || document.activeElement === document.body;
        const inUi = focus && element.contains(focus) && !focus.matches('input, select, textarea');
        if (nowhere || inUi) ui.el.resume.focus();
      },
      line: (line) => transcript.show(line),
      drop: (id) => transcript.remove(id),
      end(outcome) {
        clearInterval(ticker);
        abort.abort();
        element.removeEventListener('pointerdown', wake);
        element.removeEventListener('keydown', wake);
        meters.stop();
        players.forEach((player) => player.remove());
        players.clear();
        current = null;
        const duration_s = startedAt ? Math.round((performance.now() - startedAt) / 1000) : 0;
        last.durationS = duration_s;
        const reason = outcome.reason || outcome.code;
        if (outcome.code) {
          const detail = { code: outcome.code, message: ui.showError(outcome.code, outcome.message) };
          if (outcome.retryAfterS) detail.retry_after_s = outcome.retryAfterS;
          emit('error', detail);
          show('failed', { muted: false });
        } else {
          ui.clearError();
          const duration = startedAt ? duration_s : null;
          show('ended', { endReason: outcome.reason, duration, muted: false });
        }
        emit('end', { duration_s, reason });
        devices.refresh();
      },
    });

    const session = botCheck
      ? botCheck.token().then((token) => {
          botCheck.reset();
          return requestCall(config.api_url, { ...callRequest(), bot_token: token }, abort.signal);
        })
      : requestCall(config.api_url, callRequest(), abort.signal);
    session.then(
      (s) => {
        info = s;
        limitS = s.max_call_s ?? limitS;
      },
      () => {},
    );
    emit('start', { agent: config.agent });
    call.start(
      session,
      config.agent_join_timeout_s ?? 20,
      devices.preferred('audioinput'),
      config.livekit_url,
    );
    const speaker = devices.preferred('audiooutput');
    if (speaker) call.switchDevice('audiooutput', speaker).catch(() => {});
    return call;
  }

  /** Plays every paused player; resolves whether all of them play now. */
  function playAll() {
    const paused = [...players].filter((player) => player.paused);
    return Promise.all(paused.map((player) => player.play())).then(
      () => true,
      () => false,
    );
  }

  /** "Turn on sound": unlocks audio with the caller's click, then the warning goes. */
  async function resumeAudio() {
    await current?.resumeAudio().catch(() => {});
    if (await playAll()) ui.clearError('playback-blocked');
  }

  function start() {
    if (current) return;
    if (!hasConsent(config.agent, consentText)) {
      ui.el.consentAccept?.focus();
      ui.announce('Please accept the notice first.');
      return;
    }
    transcript.clear();
    ui.clearError();
    ui.set({ muted: false, agentState: undefined, hasTranscript: false });
    current = startCall();
  }

  function hangUp() {
    current?.hangUp(['in-call', 'reconnecting'].includes(ui.state) ? 'hangup' : 'cancelled');
  }

  function toggleMute() {
    if (!current || ui.el.mute.hidden) return;
    current.setMuted(ui.el.mute.getAttribute('aria-pressed') !== 'true').catch(() => {});
  }

  /** Sends the typed message on lk.chat and shows it as the caller's line. */
  async function sendChat(event) {
    event.preventDefault();
    const input = ui.el.chatInput;
    const text = input.value.trim().slice(0, MAX_CHAT_CHARS);
    if (!text || !current) return;
    input.value = '';
    const call = current;
    typedCount += 1;
    const line = transcript.addTyped(`typed-${typedCount}`, text);
    try {
      await call.sendChat(text);
    } catch {
      line.dataset.failed = '';
      line.title = 'Not sent';
      ui.announce('Your message could not be sent.');
    }
  }

  function fileDetails() {
    return { title, startedAt: last.startedAt, durationS: last.durationS };
  }

  on(ui.el.talk, 'click', start);
  on(ui.el.hangup, 'click', hangUp);
  on(ui.el.resume, 'click', resumeAudio);
  on(ui.el.mute, 'click', toggleMute);
  on(ui.el.chat, 'submit', sendChat);
  on(ui.el.latest, 'click', () => transcript.catchUp());
  on(ui.el.copy, 'click', async () => {
    const copied = await copyText(transcriptText(transcript.entries(), fileDetails()), element);
    ui.announce(copied ? 'Transcript copied.' : 'The transcript could not be copied.');
    emit('transcript-copied', { ok: copied });
  });
  on(ui.el.download, 'click', () => {
    const name = transcriptFileName(config.agent, last.startedAt || new Date());
    downloadText(transcriptText(transcript.entries(), fileDetails()), name, element);
    ui.announce('Transcript downloaded.');
  });
  if (ui.el.consentAccept) {
    const consent = ui.el.consentAccept;
    consent.checked = hasConsent(config.agent, consentText);
    on(consent, 'change', () => {
      setConsent(config.agent, consentText, consent.checked);
      ui.set({ consented: consent.checked });
    });
  }
  ui.set({ consented: hasConsent(config.agent, consentText) });

  // "m" mutes, unless the caller is typing. On a page of its own the whole document listens;
  // mounted in someone else's page, only keys pressed inside the call UI count.
  const keyTarget = root.nodeType === Node.DOCUMENT_NODE ? root : element;
  on(keyTarget, 'keydown', (event) => {
    if (event.key?.toLowerCase() !== 'm' || event.repeat) return;
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    const target = event.composedPath()[0];
    if (target.isContentEditable || target.closest?.('input, textarea, select')) return;
    event.preventDefault();
    toggleMute();
  });

  element.dataset.theme = THEMES.includes(config.theme) ? config.theme : 'system';
  applyAccent(element, config.accent_color);
  // Says "Starting your microphone…" instead of asking, when access was granted before.
  let permission = null;
  navigator.permissions
    ?.query({ name: 'microphone' })
    .then((status) => {
      permission = status;
      const update = () => {
        ui.set({ micGranted: status.state === 'granted' });
        devices.refresh();
      };
      update();
      status.onchange = update;
    })
    .catch(() => devices.refresh());
  element.toggleAttribute('data-ready', true);

  return {
    element,
    start,
    hangUp,
    /** Ends any call and detaches every listener; the markup stays where it is. */
    destroy() {
      current?.hangUp('cancelled');
      cleanups.forEach((cleanup) => cleanup());
      cleanups.length = 0;
      if (permission) permission.onchange = null;
      ui.el.talk.disabled = true;
      element.removeAttribute('data-ready');
    },
  };
}
