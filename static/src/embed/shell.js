/**
 * A widget's shadow root: the launcher button and the panel's frame (only the frame, inline).
 * The host page's CSS can't reach inside and ours can't leak out; the call UI is put into
 * `body` later, by widget.js.
 */
import css from './shell.css';
import { readableAccent } from '../accent.js';
import { addStyles } from './styles.js';

const ICON = 'viewBox="0 0 24 24" aria-hidden="true"'; // (no focusable="false": IE can't run us)
const MIC = `<svg ${ICON}><path d="M12 3a3 3 0 0 0-3 3v6a3 3 0 0 0 6 0V6a3 3 0 0 0-3-3z"/><path d="M19 11a7 7 0 0 1-14 0M12 18v3"/></svg>`;
const CROSS = `<svg ${ICON}><path d="M6 6l12 12M18 6L6 18"/></svg>`;
const FOCUSABLE = 'button, summary, a[href], [tabindex]:not([tabindex="-1"]), input, textarea, select';
const CLOSED_DETAILS = 'details:not([open]) > :not(summary)';

/** Builds the <webcall-widget> element; nothing is fetched until the panel opens. */
export function createShell(options) {
  const host = document.createElement('webcall-widget');
  host.dataset.agent = options.agent;
  host.dataset.position = options.position;
  if (options.inline) host.dataset.inline = '';
  // Floating, in the top layer (showPopover(), once it is in the page): a transform or filter on
  // the page's <body> would otherwise make `position: fixed` follow the body, off the screen.
  else host.setAttribute('popover', 'manual');
  // Open, so that the host page's scripts and tests can look inside; styles stay isolated anyway.
  const shadow = host.attachShadow({ mode: 'open' });
  const floating = !options.inline;
  shadow.innerHTML =
    // No lang: the launcher and the dialog are named by the host page's label, in its language.
    '<div class="wc">' +
    (floating ? `<button class="launcher" type="button" aria-expanded="false" aria-controls="panel">${MIC}<span></span></button>` : '') +
    `<div class="frame" role="${floating ? 'dialog' : 'region'}"${floating ? ' id="panel" hidden' : ''}>` +
    (floating ? `<button class="close" type="button" aria-label="Close">${CROSS}</button>` : '') +
    '<div class="body"></div></div></div>';
  addStyles(shadow, css);
  const $ = (selector) => shadow.querySelector(selector);
  const wc = $('.wc');
  const frame = $('.frame');
  const launcher = $('.launcher');
  const body = $('.body');
  frame.setAttribute('aria-label', options.label);
  if (launcher) {
    launcher.lastChild.textContent = options.label;
    keepTabInside(frame, launcher, shadow); // from the moment it opens: Loading…, then the call UI
  }

  return {
    host,
    launcher,
    close: $('.close'),
    frame,
    body,
    get isOpen() {
      return !frame.hidden;
    },
    setOpen(open) {
      frame.hidden = !open;
      launcher?.setAttribute('aria-expanded', String(open));
    },
    /** Theme (light, dark, system) and a hex accent for everything in the widget. */
    setLook(theme, accent) {
      host.dataset.theme = theme || 'system';
      if (!accent) return;
      const { accent: background, onAccent } = readableAccent(accent);
      wc.style.setProperty('--accent', background);
      wc.style.setProperty('--on-accent', onAccent);
    },
    /**
     * A line in the panel while it loads, or why it can't (a refusal, a network failure), with
     * a Try again button that calls `retry` when one is given.
     */
    showNote(text, problem, retry) {
      const note = document.createElement('p');
      note.className = problem ? 'note note--problem' : 'note';
      note.setAttribute('role', problem ? 'alert' : 'status');
      const what = problem ? document.createElement('strong') : note;
      what.textContent = text;
      if (problem) note.append(what, problem);
      body.replaceChildren(note);
      if (!retry) return;
      body.insertAdjacentHTML('beforeend', '<button class="retry" type="button">Try again</button>');
      body.lastChild.addEventListener('click', retry, { once: true });
    },
  };
}

/**
 * Full screen (a phone, a short window: shell.css then hides the launcher), the panel is all
 * there is: Tab from its last control goes to its first (Shift+Tab the other way).
 */
function keepTabInside(frame, launcher, shadow) {
  frame.addEventListener('keydown', (event) => {
    if (event.key !== 'Tab' || launcher.offsetWidth) return;
    const inside = [...frame.querySelectorAll(FOCUSABLE)].filter(canFocus);
    if (event.shiftKey) inside.reverse(); // backwards, the first control is the last
    if (shadow.activeElement !== inside[inside.length - 1]) return;
    event.preventDefault();
    inside[0].focus();
  });
}

/** Shown and enabled: not hidden, and not inside a closed <details> (only its summary shows). */
function canFocus(element) {
  return !element.disabled && element.getClientRects().length && !element.closest(CLOSED_DETAILS);
}
