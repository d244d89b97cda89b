/**
 * Call state → DOM: data attributes on #call, #status and #error, which buttons show, the
 * timer, the accent colour. Holds no call logic; the words come from messages.js.
 */
import { clock, problemWords, statusWords } from './messages.js';

const IN_CALL = ['in-call', 'reconnecting'];
const SHOWS = {
  talk: ['idle', 'ended', 'failed'],
  hangup: ['requesting-mic', 'connecting', 'waiting-agent', ...IN_CALL],
  mute: ['waiting-agent', ...IN_CALL],
  timer: IN_CALL,
};

/** Binds the page's elements once; the call code then only says what changed. */
export function createUi(root) {
  const $ = (id) => document.getElementById(id);
  const el = {
    status: $('status'),
    timer: $('timer'),
    error: $('error'),
    talk: $('talk'),
    hangup: $('hangup'),
    mute: $('mute'),
    resume: $('resume-audio'),
  };
  const view = { state: 'idle', agentState: undefined, muted: false, micGranted: false };

  function render() {
    const hadFocus = root.contains(document.activeElement);
    root.dataset.state = view.state;
    if (view.agentState && IN_CALL.includes(view.state)) root.dataset.agentState = view.agentState;
    else delete root.dataset.agentState;
    for (const [name, states] of Object.entries(SHOWS)) el[name].hidden = !states.includes(view.state);
    const words = statusWords(view);
    if (el.status.textContent !== words) el.status.textContent = words;
    // Keep the keyboard where the action is when the focused button disappears.
    if (hadFocus && !root.contains(document.activeElement)) {
      (el.talk.hidden ? el.hangup : el.talk).focus();
    }
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
    setAgentState(agentState) {
      view.agentState = agentState;
      render();
    },
    setMuted(muted) {
      view.muted = muted;
      el.mute.setAttribute('aria-pressed', String(muted));
      render();
    },
    setMicGranted(granted) {
      view.micGranted = granted;
    },
    setTimer(elapsedS, limitS) {
      el.timer.textContent = clock(elapsedS, true);
      const left = limitS ? limitS - elapsedS : Infinity;
      el.timer.toggleAttribute('data-warning', left <= 30);
      el.timer.title = left <= 30 ? `${Math.max(0, Math.ceil(left))} seconds left` : '';
    },
    /** Shows a problem in #error and returns its words, for webcall:error. */
    showError(code, apiMessage) {
      const [what, fix] = problemWords(code, apiMessage);
      const strong = document.createElement('strong');
      strong.textContent = what;
      el.error.replaceChildren(...(fix ? [strong, ' ', fix] : [strong]));
      el.error.dataset.code = code;
      el.error.hidden = false;
      el.resume.hidden = code !== 'playback-blocked';
      return fix ? `${what} ${fix}` : what;
    },
    clearError(code) {
      if (code && el.error.dataset.code !== code) return;
      el.error.hidden = true;
      el.error.replaceChildren();
      delete el.error.dataset.code;
      el.resume.hidden = true;
    },
  };
}

/** Sets the page accent from config, with a readable text colour on top of it. */
export function applyAccent(color) {
  if (!color || !CSS.supports('color', color)) return;
  const style = document.documentElement.style;
  style.setProperty('--accent', color);
  style.setProperty('--on-accent', luminance(color) > 0.18 ? '#111318' : '#ffffff');
}

/** Relative luminance of any CSS colour, read back through a 1×1 canvas. */
function luminance(color) {
  const ctx = document.createElement('canvas').getContext('2d');
  if (!ctx) return 0;
  ctx.fillStyle = color;
  ctx.fillRect(0, 0, 1, 1);
  const [r, g, b] = Array.from(ctx.getImageData(0, 0, 1, 1).data.slice(0, 3), (v) => {
    const c = v / 255;
    return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
  });
  return 0.2126 * r + 0.7152 * g + 0.0722 * b;
}
