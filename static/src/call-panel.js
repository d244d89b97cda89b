/**
 * The call panel: the call UI mounted into any root (the page's Document, a widget's ShadowRoot,
 * an Element) that holds the markup of templates/_call_panel.html. Wires its controls (Talk,
 * hang up, mute and the M key, the text box, transcript copy and download, the consent notice,
 * the device pickers, the question after a call: feedback.js) and starts one CallSession
 * (call-session.js) per press on Talk. The webcall:* DOM events go out on #call; they bubble and
 * cross a shadow boundary.
 */
import { getStatus, newIdempotencyKey, requestPhoneCall } from './api.js';
import { createBotCheck } from './botcheck.js';
import { CallSession, askForCall } from './call-session.js';
import { hasConsent, setConsent, watchConsent } from './consent.js';
import { DevicePickers } from './devices.js';
import { emitter } from './events.js';
import { FeedbackForm } from './feedback.js';
import { MediaExtras } from './media/extras.js';
import { watchMicPermission } from './mic-permission.js';
import { loadProtocol } from './protocols/index.js';
import { waitToRetry } from './retry-wait.js';
import { Transcript } from './transcript.js';
import { copyText, downloadText, transcriptFileName, transcriptText } from './transcript-file.js';
import { applyAccent, createUi } from './ui.js';
import { t, useWords } from './words.js';

// Where a host page's visitor types (the panel takes no keyboard from them).
const HOST_FIELDS = 'input, textarea, select, [contenteditable]:not([contenteditable="false"])';

const THEMES = ['system', 'light', 'dark'];
const phoneApi = { requestPhoneCall, getStatus, newIdempotencyKey }; // handed to the phone form's chunk
const MAX_CHAT_CHARS = 1000;
// Hang up takes Talk's place (and the keyboard's focus): while the call is still joining, an
// activation this soon after Talk's is the second half of a double click or a double Enter, not
// a hang-up. Once the agent is there (which can take less), Hang up always hangs up. The other
// way round, Talk (Start over) comes back where Hang up was: the second click of a double click
// there, or a held Enter's repeats, are not a new (paid) call. Measured between the clicks' own
// times (`event.timeStamp`: in Chrome and Safari, the key or mouse input's that made the click,
// however late a busy page got to it; Firefox stamps a key's click when it handles it).
const DOUBLE_ACTIVATION_MS = 600;
// How long the call a press on Talk asked for waits for a click once answered (askEarly).
const EARLY_KEPT_MS = 10_000;

/**
 * Mounts the call UI found in `root` and returns its controller:
 * { start(mode?), hangUp(), sendContext(text), answerToolCall(id, result, isError), destroy(),
 * element } where element is the #call element. start() must run inside a user gesture (a click),
 * like a press on Talk; start('text') is "Chat instead", for agents that take chats.
 */
export function mountCall(root, config) {
  useWords(config.lang, config.words, root.querySelector('#call')?.dir); // its dir: words.py's rule
  if (config.web === false) return mountPhoneOnly(root, config);
  const panel = new CallPanel(root, config);
  panel.bindControls();
  panel.bindMuteKey(panel.keyTarget);
  panel.becomeReady();
  if (config.phone) panel.offerPhone();
  return {
    element: panel.element,
    start: (mode) => panel.start(mode === 'text' && panel.media.text_only !== 'off' ? 'text' : 'voice'),
    hangUp: () => panel.hangUp(),
    /** Tells the agent `text` in the background; resolves whether it was sent. */
    sendContext: async (text) => Boolean(await panel.current?.sendContext(String(text))),
    /** Answers a webcall:tool-call event's call; false when no such call is waiting. */
    answerToolCall: (id, result, isError = false) =>
      Boolean(panel.current?.answerToolCall(String(id), result, Boolean(isError))),
    /** Ends any call and detaches every listener; the markup stays where it is. */
    destroy: () => panel.destroy(),
  };
}

/**
 * A phone-only agent (UnleashX): the page offers just the phone form; start() opens it.
 * The form's code is loaded at once.
 */
function mountPhoneOnly(root, config) {
  const find = (id) => root.querySelector(`#${id}`);
  const element = find('call');
  element.dataset.theme = THEMES.includes(config.theme) ? config.theme : 'system';
  applyAccent(element, config.accent_color);
  const botCheck = config.turnstile_site_key
    ? createBotCheck(find('botcheck'), config.turnstile_site_key, config.turnstile_script_url)
    : null;
  let phone = null;
  let destroyed = false;
  const mounted = import('./phone/phone-panel.js').then(({ mountPhone }) => {
    if (destroyed) return;
    phone = mountPhone(find, config, { api: phoneApi, t, botCheck, emit: emitter(element), web: false });
    element.toggleAttribute('data-ready', true);
  });
  return {
    element,
    start: () =>
      mounted.then(() => {
        if (!phone) return false; // destroyed first
        phone.open();
        return true;
      }),
    hangUp: () => {},
    // No call in the browser: nothing to tell, nothing waiting for an answer (embedding.md).
    sendContext: async () => false,
    answerToolCall: () => false,
    destroy: () => {
      destroyed = true;
      phone?.destroy();
      phone = null;
      element.removeAttribute('data-ready');
    },
  };
}

class CallPanel {
  /** Finds the panel's parts in `root`; nothing listens yet. */
  constructor(root, config) {
    const find = (id) => root.querySelector(`#${id}`);
    this.find = find;
    this.config = config;
    this.media = config.media || {};
    this.element = find('call');
    // On a page of its own the whole document's keys count; in someone else's page, only the UI's.
    this.keyTarget = root.nodeType === Node.DOCUMENT_NODE ? root : this.element;
    // The page's words, for the modules loaded later (they import nothing of the page).
    this.t = t;
    this.title = config.title || t('the agent');
    this.consentText = config.consent_text || null;
    const { title, consentText, media } = this;
    this.ui = createUi(this.element, find, { title, consentText, media });
    this.emit = emitter(this.element);
    this.levels = { agent: find('agent-level'), mic: find(media.push_to_talk ? 'ptt-level' : 'mic-level') };
    this.transcript = new Transcript(
      find('transcript'),
      (line) => {
        this.ui.set({ hasTranscript: true });
        this.emit('transcript', line);
        // In a chat the reply is only text: read it out (in a voice call, or a chat with the agent's
        // voice turned on, the agent says it: a screen reader would talk over it).
        const { current } = this;
        const silent = current?.mode === 'text' && current.voice.muted;
        if (silent && line.speaker === 'agent' && line.final) this.ui.announce(line.text);
      },
      (behind) => {
        this.ui.el.latest.hidden = !behind;
      },
    );
    this.devices = new DevicePickers({
      selects: {
        audioinput: find('mic-select'),
        audiooutput: find('speaker-select'),
        videoinput: find('camera-select'),
      },
      fields: { audiooutput: find('speaker-field'), videoinput: find('camera-field') },
      onPick: (kind, id) => {
        this.current?.switchDevice(kind, id).catch(() => this.ui.announce(t('That device could not be used.')));
      },
      onAvailable: (hasDevices) => this.ui.set({ hasDevices }),
    });
    // "Confirm you are human…" where a call waits on it (else only the phone form's check shows).
    const onChallenge = config.web_bot_check ? (shown) => this.ui.set({ challenged: shown }) : undefined;
    this.botCheck = config.turnstile_site_key
      ? createBotCheck(find('botcheck'), config.turnstile_site_key, config.turnstile_script_url, onChallenge)
      : null;
    this.feedback = config.feedback ? new FeedbackForm(find, this.emit) : null; // "How was your call?"
    // Camera, screen share, push-to-talk, chat, the agent's video: loaded as the agent needs them.
    this.extras = new MediaExtras(this);
    // The code that reads the agent in the room: fetched now, not after the click's API answer.
    loadProtocol(config.provider).catch(() => {});
    this.cleanups = [() => this.devices.destroy(), () => this.extras.destroy(), () => this.transcript.destroy()];
    if (this.feedback) this.cleanups.push(() => this.feedback.destroy());
    this.current = null; // the CallSession in progress, if any
    this.early = null; // the call a press on Talk asked for, its click still to come (askEarly)
    this.last = null; // the latest CallSession, for the transcript file
    this.typedCount = 0; // ids for the caller's typed lines
    this.micPermission = null; // 'granted', 'denied' or 'prompt', once the browser says
    this.talkAt = -Infinity; // when Talk was last pressed (on performance.now()'s clock)
    this.stopWaiting = null; // set while Try again waits out a Retry-After
    this.destroyed = false;
  }

  /** Shows `state`, and tells the page (webcall:state) when it changed. */
  show(state, extra) {
    const changed = state !== this.ui.state;
    this.ui.setState(state, extra);
    if (changed) this.emit('state', { state });
  }

  /** The session says it is over; one that connected may ask how it went (`info`: the API's answer). */
  ended(session, connected) {
    if (this.current === session) this.current = null;
    const url = session.info.feedback_url;
    if (connected && url) this.feedback?.ask(url, this.config.api_url, session.info.call_id);
  }

  /**
   * Whether the panel may take the keyboard: it is on nothing (the page's body), on one of
   * `ours` (a control the call has moved past) or on a button of the host page (its "Chat with
   * us"); not in a field of the host page, whose visitor would type on into the panel. (A
   * shadow root's activeElement is null while the focus is outside it: the document's says where.)
   */
  keyboardFree(...ours) {
    const focus = this.element.getRootNode().activeElement;
    if (focus) return focus === document.body || ours.includes(focus);
    return !document.activeElement?.closest(HOST_FIELDS);
  }

  /** Listens on `target` until destroy(). */
  on(target, type, listener) {
    target.addEventListener(type, listener);
    this.cleanups.push(() => target.removeEventListener(type, listener));
  }

  /** Every button and form of the panel. */
  bindControls() {
    const { el } = this.ui;
    // (A click's detail counts the clicks of a double click.)
    for (const [button, mode] of [[el.talk, 'voice'], [el.chatStart, 'text']]) {
      if (!button) continue;
      this.on(button, 'click', (event) => event.detail > 1 || this.start(mode, event.timeStamp));
      this.on(button, 'keydown', (event) => {
        if (event.repeat) event.preventDefault(); // a held key
        else if (event.key === ' ' && !modified(event)) this.askEarly(mode); // Space clicks when let go
      });
      // A mouse's or a pen's press (a finger's comes just before its click: a touch may be a
      // scroll); not the second of a double click, whose click starts nothing, nor a Control-click
      // (a Mac's context menu).
      this.on(button, 'mousedown', (event) => {
        if (event.button === 0 && event.detail < 2 && !modified(event)) this.askEarly(mode);
      });
    }
    // Held from Talk, the key would repeat onto Hang up, which takes the focus as the call starts.
    this.on(el.hangup, 'keydown', (event) => event.repeat && event.preventDefault());
    this.on(el.hangup, 'click', (event) => {
      const joining = this.ui.state !== 'in-call';
      if (event.detail > 1 || (joining && event.timeStamp - this.talkAt < DOUBLE_ACTIVATION_MS)) return;
      this.hangUp();
    });
    this.on(el.resume, 'click', () => this.resumeAudio());
    this.on(el.mute, 'click', () => this.toggleMute());
    this.on(el.chat, 'submit', (event) => this.sendChat(event));
    this.on(el.latest, 'click', () => {
      this.transcript.catchUp();
      this.find('transcript').focus(); // the button has hidden itself: read on from the newest
    });
    this.on(el.copy, 'click', () => this.copyTranscript());
    this.on(el.download, 'click', () => this.downloadTranscript());
    const consent = el.consentAccept;
    const showConsent = () => {
      const given = hasConsent(this.config.agent, this.consentText);
      if (consent) consent.checked = given;
      this.ui.set({ consented: given });
    };
    if (consent) {
      this.on(consent, 'change', () => setConsent(this.config.agent, this.consentText, consent.checked));
      // Given or taken back here (setConsent tells every watcher of this document) or in another
      // widget, tab or frame of the same agent.
      this.cleanups.push(watchConsent(this.config.agent, showConsent));
    }
    showConsent();
  }

  /**
   * "m" mutes, unless the caller is typing. On a page of its own the whole document listens;
   * mounted in someone else's page, only keys pressed inside the call UI count.
   */
  bindMuteKey(target) {
    this.on(target, 'keydown', (event) => {
      // The key where M is, whatever the layout writes on it (Cyrillic ь, Arabic ة, …), or an M.
      if ((event.code !== 'KeyM' && event.key?.toLowerCase() !== 'm') || event.repeat) return;
      if (event.ctrlKey || event.metaKey || event.altKey) return;
      const pressedIn = event.composedPath()[0];
      if (pressedIn.isContentEditable || pressedIn.closest?.('input, textarea, select')) return;
      event.preventDefault();
      this.toggleMute();
    });
  }

  /** The agent's look; the microphone permission; then Talk may be pressed. */
  becomeReady() {
    const { element, ui } = this;
    element.dataset.theme = THEMES.includes(this.config.theme) ? this.config.theme : 'system';
    applyAccent(element, this.config.accent_color);
    // Says "Starting your microphone…" instead of asking, when access was granted before.
    const unwatch = watchMicPermission(
      (state) => {
        this.micPermission = state;
        ui.set({ micGranted: state === 'granted' });
        this.devices.refresh();
      },
      () => this.devices.refresh(),
    );
    this.cleanups.push(unwatch);
    element.toggleAttribute('data-ready', true);
  }

  /**
   * Talk (a `voice` call) or "Chat instead" (`text`: no microphone), once the consent notice
   * (if any) is accepted. A text-only agent's calls are all chats. `pressedAt` is the press's
   * own time (its event's timeStamp) for the double-activation guard. Returns whether one started.
   */
  start(mode = 'voice', pressedAt = performance.now()) {
    if (this.current || this.stopWaiting) return false;
    this.talkAt = pressedAt;
    const callMode = this.callMode(mode);
    const { ui } = this;
    if (!this.consented()) {
      ui.el.consentAccept?.focus();
      ui.announce(t('Please accept the notice first.'));
      return false;
    }
    if (this.micBlocked(callMode)) {
      this.refuse('mic-denied');
      return false;
    }
    this.transcript.clear();
    this.feedback?.hide();
    ui.clearError();
    const fresh = { agentState: undefined, hasTranscript: false, canChat: true, weakNetwork: false };
    ui.set({ mode: callMode, talking: false, muted: false, ...fresh });
    this.current = this.last = new CallSession(this, callMode, this.takeEarly(callMode));
    this.current.begin();
    return true;
  }

  /** What a `mode` button starts: a text-only agent's calls are all chats. */
  callMode(mode) {
    return this.media.text_only === 'only' ? 'text' : mode;
  }

  /** Whether the consent notice, if any, is accepted. */
  consented() {
    return hasConsent(this.config.agent, this.consentText);
  }

  /** Blocked for this site: asking would fail, so no `callMode` call is requested (and paid for). */
  micBlocked(callMode) {
    return callMode === 'voice' && this.micPermission === 'denied';
  }

  /**
   * A press on Talk (or "Chat instead") asks for the call at once: its click comes as the button
   * is let go, a tenth of a second later for a person, and on a real network our API's answer is
   * then often in hand already (bench/README.md, "floor"). Only where that click would start a
   * call, and not with the bot check on (the request spends its token). The click takes the
   * request as it stands, answered or failed, as if it had sent it. A press let go elsewhere
   * leaves it for the next click: while it waits for its answer, and EARLY_KEPT_MS after the
   * press once answered (a press again asks anew if it failed).
   */
  askEarly(mode) {
    const callMode = this.callMode(mode);
    if (this.current || this.stopWaiting || this.config.web_bot_check) return;
    if (!this.consented() || this.micBlocked(callMode)) return;
    const kept = this.earlyFor(callMode);
    if (kept && !kept.failed) return;
    this.dropEarly();
    this.early = Object.assign(askForCall(this, callMode), { mode: callMode, at: performance.now() });
  }

  /** The request a press sent for a `mode` call, while it is good for a click. */
  earlyFor(mode) {
    const { early } = this;
    const fresh = early && (!early.settled || performance.now() - early.at < EARLY_KEPT_MS);
    return fresh && early.mode === mode ? early : null;
  }

  /** The request a press sent for a `mode` call, handed to its click; any other is let go. */
  takeEarly(mode) {
    const early = this.earlyFor(mode);
    if (early) this.early = null;
    else this.dropEarly();
    return early ?? undefined;
  }

  /** Lets a press's request go: a call it made is never joined. */
  dropEarly() {
    this.early?.abort.abort();
    this.early = null;
  }

  /** Says why a call can't start (`code`) without requesting one. */
  refuse(code) {
    this.ui.clearError();
    const message = this.ui.showError(code);
    this.emit('error', { code, message });
    this.show('failed', { muted: false });
  }

  /** Keeps Talk disabled while the error of a failed call (`outcome`) counts its Retry-After down. */
  waitToRetry(outcome) {
    this.stopWaiting = waitToRetry(this.ui, outcome, () => {
      this.stopWaiting = null;
    });
  }

  /** "Call my phone instead": the form's code loads with the page, out of the first bundle. */
  offerPhone() {
    import('./phone/phone-panel.js').then(({ mountPhone }) => {
      if (this.destroyed) return;
      const { botCheck, emit } = this;
      const phone = mountPhone(this.find, this.config, { api: phoneApi, t, botCheck, emit, web: true });
      this.cleanups.push(() => phone.destroy());
    });
  }

  /** Hangs up a call the agent has answered (the microphone's prompt may still be open), or
   * cancels one still starting, or the request of a press whose click has not come. */
  hangUp() {
    this.dropEarly();
    this.current?.hangUp(this.current.answered ? 'hangup' : 'cancelled');
  }

  /** Mute or unmute (the button, the M key), while the mute button shows. */
  toggleMute() {
    const { mute } = this.ui.el;
    if (!this.current || mute.hidden) return;
    const muted = mute.getAttribute('aria-pressed') !== 'true';
    this.current.setMuted(muted).then(
      // The button says so when it has focus; from the M key anywhere else, the page does.
      () =>
        mute.getRootNode().activeElement !== mute && this.ui.announce(muted ? t('Microphone muted') : t('Microphone on')),
      () => !muted && this.unmuteFailed(),
    );
  }

  /**
   * The microphone could not be started again (unplugged, or the site's permission taken back)
   * at unmute or a push-to-talk press: the call goes on, muted, and the caller is told why the
   * agent can't hear them (until an unmute works: the session's muted hook).
   */
  unmuteFailed() {
    this.emit('error', { code: 'unmute-failed', message: this.ui.showError('unmute-failed') });
  }

  /** "Turn on sound": unlocks audio with the caller's click, then the warning goes. */
  async resumeAudio() {
    const playing = this.current ? await this.current.resumeAudio() : true;
    if (playing) this.ui.clearError('playback-blocked');
  }

  /**
   * Sends the typed message to the agent and shows it as the caller's line. Not while the call
   * reconnects (Send is off then): livekit-client would take it and hold it, and a call that
   * does not come back loses it, shown as sent. One that could not be sent goes back in the box.
   */
  async sendChat(event) {
    event.preventDefault();
    const { ui } = this;
    const input = ui.el.chatInput;
    const text = input.value.trim().slice(0, MAX_CHAT_CHARS);
    if (!text || !this.current || ui.state === 'reconnecting') return;
    input.value = '';
    const call = this.current;
    this.typedCount += 1;
    const line = this.transcript.addTyped(`typed-${this.typedCount}`, text);
    try {
      await call.sendChat(text);
    } catch {
      line.dataset.failed = '';
      line.title = t('Not sent');
      if (!input.value) input.value = text; // to send again, unless another one is being typed
      ui.announce(t('Your message could not be sent.'));
    }
  }

  /** The transcript as text, headed by who the call was with, when, and how long. */
  transcriptText() {
    const { title, last } = this;
    const details = { title, startedAt: last?.startedAt, durationS: last?.durationS ?? 0 };
    return transcriptText(this.transcript.entries(), details);
  }

  /** "Copy": the transcript to the clipboard. */
  async copyTranscript() {
    const copied = await copyText(this.transcriptText(), this.element);
    this.ui.announce(copied ? t('Transcript copied.') : t('The transcript could not be copied.'));
    this.emit('transcript-copied', { ok: copied });
  }

  /** "Download": the transcript as a .txt file. */
  downloadTranscript() {
    const name = transcriptFileName(this.config.agent, this.last?.startedAt || new Date());
    downloadText(this.transcriptText(), name, this.element);
    this.ui.announce(t('Transcript downloaded.'));
  }

  /** Ends any call (hung up, or cancelled while it joins) and detaches every listener. */
  destroy() {
    this.destroyed = true;
    this.hangUp();
    this.stopWaiting?.();
    this.cleanups.forEach((cleanup) => cleanup());
    this.cleanups.length = 0;
    this.ui.el.talk.disabled = true;
    this.element.removeAttribute('data-ready');
  }
}

/** Whether a press came with Control, Alt or Command held (not a plain click or Space). */
function modified(event) {
  return event.ctrlKey || event.altKey || event.metaKey;
}
