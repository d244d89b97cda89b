/**
 * The embed loader, served as /embed.js: each `<script src=".../embed.js" data-agent="…">` tag
 * gets its own widget (a <webcall-widget> with a shadow root) and a handle in window.webcall.
 * Tiny on purpose: the call code (widget.js, with livekit-client) is imported only when a
 * visitor opens a panel. Events bubble from the <webcall-widget> element up to the document.
 */
import { emitter } from '../events.js';
import { readOptions } from './options.js';
import { LOAD_FAILED, fetchPanel, withDeadline } from './panel.js';
import { createShell } from './shell.js';

// Where Escape belongs to what has the focus (a checkbox's does not: it closes the panel).
const TYPED_IN = 'input:not([type="checkbox"], [type="radio"]), textarea, select';
// Document.prototype's own getter, not document.currentScript: an <img name="currentScript"> in
// the page (a forum post, say) would stand in for our tag, and its data-* for our options.
const script = Reflect.get(Document.prototype, 'currentScript', document);
// Ours, or another loader's on this page; not a <form id="webcall"> that the page happens to have.
const api = Array.isArray(window.webcall?.widgets) ? window.webcall : (window.webcall = createApi());
// Widgets the page took out of the document (a single-page app's view changed): the next tag
// like one of theirs puts that one back, rather than a second panel beside the one kept. On the
// API, not for the page: each tag runs this file anew.
const parked = (api.parked ||= []);

if (script?.dataset.agent) {
  const options = readOptions(script);
  const key = JSON.stringify(options); // which tag a widget is for
  defineElement();
  whenParsed(() => place(options, key));
} else {
  // A module (type="module") has no current script: no options to read.
  console.error('webcall: embed.js needs a classic <script> tag with data-agent="<agent slug>".');
}

/** window.webcall: the widgets, and shortcuts that act on them by agent slug. */
function createApi() {
  const widgets = [];
  const matching = (agent) => widgets.filter((w) => !agent || w.agent === agent);
  return {
    widgets,
    /** The first widget for `agent` (or the first of all). */
    get: (agent) => matching(agent)[0],
    // No such widget (yet: widgets mount once the page is parsed): false, as documented.
    open: async (agent) => matching(agent)[0]?.open() || false,
    start: async (agent, options) => matching(agent)[0]?.start(options) || false,
    close: (agent) => matching(agent).forEach((w) => w.close()),
    end: (agent) => matching(agent).forEach((w) => w.end()),
  };
}

/**
 * <webcall-widget> tells its widget when the host page takes it out of the document (a single
 * page app changing views): a call in it would go on unseen, the microphone open.
 */
function defineElement() {
  if (customElements.get('webcall-widget')) return; // a second loader on the page
  customElements.define(
    'webcall-widget',
    class extends HTMLElement {
      connectedCallback() {
        this.dispatchEvent(new Event('webcall-attached'));
      }

      disconnectedCallback() {
        this.dispatchEvent(new Event('webcall-detached'));
      }
    },
  );
}

/** Runs `fn` once the document is parsed: an async script may run before its body or slot. */
function whenParsed(fn) {
  if (document.readyState !== 'loading') fn();
  else document.addEventListener('DOMContentLoaded', fn, { once: true });
}

/**
 * The widget for a tag: none more when one like it is on the page already (a single-page app
 * rendering its snippet again), the one like it the page took out put back, or a new one.
 */
function place(options, key) {
  const same = (w) => w.key === key;
  if (api.widgets.some(same)) return;
  if (parked.some(same)) inSlot(options, (slot) => slot.append(parked.find(same).element));
  else createWidget(options, key);
}

/**
 * Calls `use` with the element a widget goes in: <body>, or the one data-inline names (none:
 * a console error names the selector; docs/embedding.md asks for the element before the tag).
 */
function inSlot({ inline }, use) {
  const slot = inline ? findSlot(inline) : document.body;
  if (slot) use(slot);
  else console.error(`webcall: no element matches data-inline="${inline}".`);
}

/** One widget: its shell now, its panel and call code on first open; adds its handle to the API. */
function createWidget(options, key) {
  const shell = createShell(options);
  const { host } = shell;
  let loading = null; // Promise of the mounted call UI (or null), while loading or loaded
  let call = null; // mountCall's controller, once mounted
  let destroyed = false; // by destroy(): taken out of the page but kept, a widget may come back
  let ends = 0; // end() and close() calls: one while the panel loads cancels the call start() asked for

  const emit = emitter(host);

  function load() {
    shell.showNote('Loading…');
    return loadPanel(shell, options)
      .then((mounted) => {
        call = mounted;
        if (destroyed) call.destroy(); // while it loaded
        emit('ready', { agent: options.agent });
        return call;
      })
      .catch((problem) => {
        // A refused, failed or stalled panel starts no call; Try again (or opening it again) loads anew.
        loading = null;
        // Try again had the keyboard: it goes to the panel once loaded (an inline one too).
        showProblem(shell, problem, () => handle.open().then((ok) => ok && options.inline && call.focus()));
        emit('error', { code: problem.code, message: problem.message });
        return null;
      });
  }

  const handle = {
    key, // not for the page: other loaders on it find the widget by it
    agent: options.agent,
    label: options.label,
    element: host,
    get isOpen() {
      return shell.isOpen;
    },
    /** Shows the panel; resolves true once the call UI is ready, false if it can't load. */
    open() {
      if (!shell.isOpen) {
        shell.setOpen(true);
        emit('open', { agent: options.agent });
      }
      loading ||= load();
      // Opened by the visitor, the panel takes the keyboard: ✕ while it loads, then Talk.
      if (!call && keyboardFree(shell, options)) shell.close.focus();
      return loading.then((mounted) => {
        if (mounted && keyboardFree(shell, options)) mounted.focus();
        return Boolean(mounted);
      });
    },
    /** Hides the panel, hanging up a call in progress. Inline widgets stay visible. */
    close() {
      handle.end();
      if (options.inline || !shell.isOpen) return;
      const hadFocus = host.shadowRoot.activeElement;
      shell.setOpen(false);
      if (hadFocus) shell.launcher.focus();
      emit('close', { agent: options.agent });
    },
    /**
     * Opens the panel and starts a call ({mode: 'text'}: a chat, where the agent takes one);
     * call it from a click (the browser wants a gesture); resolves whether a call started.
     */
    async start(startOptions) {
      const asked = ends;
      if (!(await handle.open())) return false;
      // Ended, closed or taken out of the page meanwhile: no call.
      if (asked !== ends || !host.isConnected || (!options.inline && !shell.isOpen)) return false;
      return Boolean(await call.start(startOptions?.mode));
    },
    /** Hangs up the call in progress, if any (or the one start() is about to place). */
    end() {
      ends += 1;
      call?.hangUp();
    },
    /** Tells the agent `text` in the background (ElevenLabs agents); resolves whether it was sent. */
    sendContext: async (text) => (call ? call.sendContext(text) : false),
    /** Answers a webcall:tool-call event; false when that call is not waiting. */
    answerToolCall: (id, result, isError) => Boolean(call?.answerToolCall(id, result, isError)),
    /** Ends any call and removes the widget from the page. */
    destroy() {
      call?.destroy();
      destroyed = true;
      host.remove();
      forget(handle);
    },
  };

  shell.setLook(options.theme, options.accent);
  bindShell(shell, handle, options);
  followPlacement(handle, options);
  inSlot(options, (slot) => {
    slot.append(host);
    emit('loaded', { agent: options.agent });
    if (options.inline) handle.open();
  });
}

/**
 * Whether the keyboard is the visitor's to give to a floating panel, like a dialog's: it is on
 * the launcher or ✕, or nowhere; not in a field of the page (webcall.open() from page script).
 * (A panel closed meanwhile takes nothing: what is hidden can't have the focus.)
 */
function keyboardFree(shell, options) {
  const focused = shell.host.shadowRoot.activeElement || document.activeElement;
  return !options.inline && [document.body, shell.launcher, shell.close].includes(focused);
}

/**
 * Out of the document (not just moved): the call ends and the page's API forgets the widget
 * until it is put back, by the page or by the next tag like its own (`place`);
 * handle.destroy() removes it for good.
 */
function followPlacement(handle, options) {
  const host = handle.element;
  host.addEventListener('webcall-detached', () =>
    queueMicrotask(() => {
      if (host.isConnected || !api.widgets.includes(handle)) return; // moved, or destroyed
      handle.end();
      forget(handle);
      parked.push(handle);
    }),
  );
  host.addEventListener('webcall-attached', () => {
    forget(handle);
    api.widgets.push(handle);
    // In the top layer (shell.js; taken out, it left it). Without popovers, where `fixed` puts it.
    if (!options.inline) host.showPopover?.();
  });
}

/** Takes `handle` out of window.webcall.widgets and the parked widgets (destroy() may come twice). */
function forget(handle) {
  for (const list of [api.widgets, parked]) {
    const index = list.indexOf(handle);
    if (index >= 0) list.splice(index, 1);
  }
}

/** The element data-inline names, or null (none, or no selector at all: the host page's typo). */
function findSlot(selector) {
  try {
    return document.querySelector(selector);
  } catch {
    return null;
  }
}

/**
 * The shell's own controls: the launcher opens and closes the panel; ✕ closes it (and ends a
 * call: widget.js names them so meanwhile), Escape too when no call is joining or in progress
 * (the frame's data-in-call, from widget.js) and no text field has it.
 */
function bindShell(shell, handle, options) {
  if (options.inline) return; // none of them: an inline panel is always open
  shell.launcher.addEventListener('click', () => (shell.isOpen ? handle.close() : handle.open()));
  shell.close.addEventListener('click', () => handle.close());
  shell.frame.addEventListener('keydown', (event) => {
    if (event.key !== 'Escape' || shell.frame.hasAttribute('data-in-call')) return;
    if (event.composedPath()[0].closest?.(TYPED_IN)) return;
    handle.close();
  });
}

/**
 * Fetches the panel, loads the call code and mounts the call UI in the shell, within one
 * deadline (a stalled load then rejects, and one that comes later mounts nothing); resolves
 * with the call UI's controller.
 */
function loadPanel(shell, options) {
  return withDeadline(async (signal) => {
    const panel = await fetchPanel(options.base, options.agent, signal, options.lang);
    shell.setLook(options.theme || panel.config.theme, options.accent || panel.config.accent_color);
    try {
      const { mountWidget } = await import(panel.script_url);
      return await mountWidget(shell.body, panel, options, signal);
    } catch (error) {
      console.error('webcall: the call code failed to load', error);
      throw LOAD_FAILED;
    }
  });
}

/**
 * Says in the panel why no call can start: a refused site, or a panel that failed to load (with
 * Try again: an inline panel has no other way back short of reloading the page).
 */
function showProblem(shell, problem, retry) {
  const refused = problem.code === 'origin_not_allowed';
  const what = refused ? "Calls aren't available on this site." : "This call can't start right now.";
  shell.showNote(what, problem.message, refused ? null : retry);
}
