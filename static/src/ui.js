/**
 * Call state → DOM: data attributes on #call, #status and #error, which controls show, the
 * Talk button's words, the timer, the accent colour. Holds no call logic; the words come from
 * messages.js.
 */
import { HEX_COLOR, readableAccent } from './accent.js';
import {
  clock,
  joined,
  networkWords,
  problemWords,
  statusWords,
  talkWords,
  timeLeftWords,
  weakConnectionWords,
} from './messages.js';
import { t } from './words.js';

const IN_CALL = ['in-call', 'reconnecting'];
const JOINING = ['requesting-mic', 'connecting', 'waiting-agent'];
const AT_REST = ['ready', 'ended', 'failed'];
const JOINED = ['waiting-agent', ...IN_CALL];
// A browser that can share a screen, in a page (or frame) whose Permissions-Policy lets it.
const POLICY = document.permissionsPolicy || document.featurePolicy;
const CAN_SHARE_SCREEN =
  Boolean(navigator.mediaDevices?.getDisplayMedia) && (POLICY?.allowsFeature?.('display-capture') ?? true);

// Which controls show, given the view. The media controls are in the markup only for agents
// that use them (templates/_call_panel.html); `mode` is this call's: voice or text.
const SHOWS = {
  talk: (v) => AT_REST.includes(v.state),
  chatStart: (v) => AT_REST.includes(v.state),
  hangup: (v) => JOINING.includes(v.state) || IN_CALL.includes(v.state),
  mute: (v) => v.mode === 'voice' && !v.pushToTalk && JOINED.includes(v.state),
  ptt: (v) => v.mode === 'voice' && IN_CALL.includes(v.state),
  camera: (v) => JOINED.includes(v.state),
  screenShare: (v) => CAN_SHARE_SCREEN && JOINED.includes(v.state),
  speaker: (v) => v.mode === 'text' && JOINED.includes(v.state),
  timer: (v) => IN_CALL.includes(v.state),
  timeLeft: (v) => IN_CALL.includes(v.state), // not a red "0:10 left" while connecting, nor after
  resume: (v) => v.playbackBlocked && !AT_REST.includes(v.state), // until it plays, whatever else goes wrong
  network: (v) => v.weakNetwork && ['waiting-agent', 'in-call'].includes(v.state), // reconnecting says more
  chat: (v) => IN_CALL.includes(v.state) && v.canChat,
  devices: (v) => v.hasDevices && !['requesting-mic', 'connecting'].includes(v.state),
  consent: (v) => v.consentText !== null && AT_REST.includes(v.state),
  copy: (v) => v.hasTranscript && ['ended', 'failed'].includes(v.state),
  download: (v) => v.hasTranscript && ['ended', 'failed'].includes(v.state),
};

/**
 * Binds the UI's elements once (`find(id)` looks one up); the call code then only says what
 * changed. `title` is the agent's name, for the Talk button; `media` the agent's media settings.
 */
export function createUi(root, find, { title, consentText = null, media = {} }) {
  const el = findElements(find);
  const view = firstView(media, consentText);

  function render() {
    const hadFocus = root.contains(focused(root));
    root.dataset.state = view.state;
    if (view.agentState && IN_CALL.includes(view.state)) root.dataset.agentState = view.agentState;
    else delete root.dataset.agentState;
    root.toggleAttribute('data-muted', view.muted && IN_CALL.includes(view.state));
    for (const [name, shows] of Object.entries(SHOWS)) {
      if (el[name]) el[name].hidden = !shows(view);
    }
    showStatus(el.status, view);
    // The line's words are in the page only while it shows: hidden (another state, the next call), empty.
    if (el.network) el.network.textContent = el.network.hidden ? '' : weakConnectionWords();
    // After a chat, Talk starts a call by voice: not "Try again" (or "Start over") of that chat.
    const chatted = view.mode === 'text' && view.textOnly !== 'only';
    const label = talkWords(chatted ? 'ready' : view.state, title, view.textOnly === 'only');
    if (el.talkLabel.textContent !== label) el.talkLabel.textContent = label;
    for (const button of [el.talk, el.chatStart]) if (button) enableStart(button, view);
    // The message waits in the box (not `disabled`: Send may have the focus, which it would drop).
    el.chatSend?.setAttribute('aria-disabled', String(view.state === 'reconnecting'));
    keepFocus(root, el, hadFocus, chatted);
  }

  return {
    el,
    get state() {
      return view.state;
    },
    setState(state, extra = {}) {
      Object.assign(view, extra, { state });
      render();
    },
    /**
     * Any of: mode, talking, agentState, muted, micGranted, hasDevices, hasTranscript, canChat,
     * consented, retryWait, challenged, weakNetwork (playbackBlocked: showError and clearError).
     */
    set(changes) {
      Object.assign(view, changes);
      if ('muted' in changes) el.mute.setAttribute('aria-pressed', String(view.muted));
      render();
    },
    /** The caller's connection turned weak, or well again: shown beside the timer, read out once. */
    setNetwork(weak) {
      if (weak === view.weakNetwork) return;
      this.set({ weakNetwork: weak });
      if (weak && el.network && !el.network.hidden) this.announce(networkWords(view.mode));
    },
    setTimer(elapsedS, limitS) {
      el.timer.textContent = clock(elapsedS, true);
      const left = limitS ? limitS - elapsedS : Infinity;
      el.timeLeft.textContent = timeLeftWords(left);
      for (const part of [el.timer, el.timeLeft]) part.toggleAttribute('data-warning', left <= 30);
    },
    /** Says `words` to screen readers once (copied, time running out, a message not sent). */
    announce(words) {
      el.announce.textContent = '';
      // A fresh text node after a tick, so the same words are read out again.
      setTimeout(() => {
        el.announce.textContent = words;
      }, 50);
    },
    /**
     * Shows a problem in #error (and the server's reference for it) and returns its words, for
     * webcall:error. `quiet`: new words for the problem shown, not read out again.
     */
    showError: (code, apiMessage, requestId, { quiet = false } = {}) => {
      if (quiet) el.error.setAttribute('aria-live', 'off');
      else el.error.removeAttribute('aria-live');
      const words = showError(el, code, apiMessage, view, requestId);
      if (code === 'playback-blocked') {
        view.playbackBlocked = true;
        render();
      }
      return words;
    },
    /** Hides the problem shown (only if it is `code`, when given); the agent plays again after
     * `playback-blocked`, even when another problem has taken its place. */
    clearError(code) {
      clearError(el, code);
      if (!code || code === 'playback-blocked') view.playbackBlocked = false;
      render(); // "Turn on sound" was pressed, and hides itself: render keeps the focus in the panel
    },
  };
}

/** What the UI shows before any call (`media`: the agent's media settings). */
function firstView(media, consentText) {
  return {
    state: 'ready',
    mode: 'voice', // this call's: voice, or text (a chat without the microphone)
    textOnly: media.text_only || 'off',
    pushToTalk: Boolean(media.push_to_talk),
    talking: false, // push-to-talk: how the turn was started ('pointer', 'key', 'click'), while it lasts
    agentState: undefined,
    muted: false,
    micGranted: false,
    hasDevices: false,
    hasTranscript: false,
    canChat: true, // false when the agent's protocol reads no typed messages
    consentText,
    consented: true,
    retryWait: false, // a Retry-After is being waited out: Try again is disabled
    challenged: false, // the bot check shows the visitor a challenge to solve
    weakNetwork: false, // LiveKit scores the caller's connection poor (or lost)
    playbackBlocked: false, // the browser will not play the agent until the caller presses "Turn on sound"
  };
}

/** The UI's elements, by the names the call code uses. */
function findElements(find) {
  return {
    status: find('status'),
    timer: find('timer'),
    timeLeft: find('time-left'),
    network: find('network'),
    error: find('error'),
    errorRef: find('error-ref'),
    talk: find('talk'),
    talkLabel: find('talk-label'),
    chatStart: find('chat-start'),
    hangup: find('hangup'),
    mute: find('mute'),
    ptt: find('ptt'),
    camera: find('camera'),
    screenShare: find('screen-share'),
    speaker: find('speaker'),
    resume: find('resume-audio'),
    chat: find('chat'),
    chatInput: find('chat-input'),
    chatSend: find('chat-send'),
    devices: find('devices'),
    consent: find('consent'),
    consentAccept: find('consent-accept'),
    copy: find('transcript-copy'),
    download: find('transcript-download'),
    latest: find('transcript-latest'),
    announce: find('announce'),
  };
}

/**
 * See createUi's showError; where the agent also chats, a microphone problem before a call
 * offers the chat instead. A `requestId` shows below, so a screenshot of the problem leads to its
 * log lines and record.
 */
function showError(el, code, apiMessage, view, requestId = null) {
  const [what, fix] = problemWords(code, apiMessage, view.textOnly === 'allowed', view.pushToTalk);
  const strong = document.createElement('strong');
  strong.textContent = what;
  const text = fix ? joined(what, fix) : what;
  // What went wrong in bold, the gap `joined` leaves (none after a Japanese 。), then the fix.
  const gap = text.slice(what.length, text.length - fix.length);
  el.error.replaceChildren(...(fix ? [strong, gap, fix] : [strong]));
  el.error.dataset.code = code;
  el.error.hidden = false;
  if (el.errorRef) {
    el.errorRef.textContent = requestId ? t('Reference: {id}', { id: requestId }) : '';
    el.errorRef.hidden = !requestId;
  }
  return text;
}

/** See createUi's clearError. */
function clearError(el, code) {
  if (code && el.error.dataset.code !== code) return;
  el.error.hidden = true;
  el.error.replaceChildren();
  el.error.removeAttribute('aria-live');
  delete el.error.dataset.code;
  if (el.errorRef) el.errorRef.hidden = true;
}

/**
 * #status's words. In a call the agent's turns (listening, thinking, speaking: several a turn)
 * are shown but not read out, or a screen reader would talk over the agent (in a chat, its
 * reply is read out instead): only the call's phases are (connecting, the words on entering
 * the call, reconnecting, the end).
 */
function showStatus(status, view) {
  const turns = view.state === 'in-call' && status.dataset.shown === 'in-call';
  status.setAttribute('aria-live', turns ? 'off' : 'polite');
  status.dataset.shown = view.state;
  const words = statusWords(view);
  if (status.textContent !== words) status.textContent = words;
}

/**
 * Talk and Chat instead wait for the consent notice (disabled). A Retry-After being waited out
 * leaves them focusable (aria-disabled; a click does nothing then), so the keyboard stays on
 * Try again instead of falling to the page.
 */
function enableStart(button, { consented, retryWait }) {
  button.disabled = !consented;
  if (retryWait) button.setAttribute('aria-disabled', 'true');
  else button.removeAttribute('aria-disabled');
}

/** Keeps the keyboard where the action is when the focused control has disappeared. */
function keepFocus(root, el, hadFocus, chatted) {
  if (!hadFocus || root.contains(focused(root))) return;
  const starts = chatted ? [el.chatStart, el.talk] : [el.talk]; // after a chat, another chat first
  const next = [...starts, el.ptt, el.chatInput, el.hangup].find((e) => e && isShown(root, e) && !e.disabled);
  next?.focus();
}

/** Visible, all the way up to `root`. */
function isShown(root, element) {
  for (let e = element; e && e !== root; e = e.parentElement) if (e.hidden) return false;
  return true;
}

/** The focused element as seen from `element`'s root (a shadow root has its own). */
function focused(element) {
  return element.getRootNode().activeElement;
}

/** Sets the accent from config (a hex colour) on `element`, with text on it that reads. */
export function applyAccent(element, color) {
  if (!HEX_COLOR.test(color || '')) return;
  const { accent, onAccent } = readableAccent(color);
  element.style.setProperty('--accent', accent);
  element.style.setProperty('--on-accent', onAccent);
}
