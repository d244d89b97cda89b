/**
 * The embed loader, served as /embed.js: each `<script src=".../embed.js" data-agent="…">` tag
 * gets its own widget (a <webcall-widget> with a shadow root) and a handle in window.webcall.
 * Tiny on purpose: the call code (widget.js, with livekit-client) is imported only when a
 * visitor opens a panel. Events bubble from the <webcall-widget> element up to the document.
 */
import { emitter } from '../events.js';
import { readOptions } from './options.js';
import { fetchPanel } from './panel.js';
import { createShell } from './shell.js';

const LOAD_FAILED = {
  code: 'load_failed',
  message: 'The call panel could not be loaded. Please try again later.',
};
// Where Escape belongs to what has the focus (a checkbox's does not: it closes the panel).
const TYPED_IN = 'input:not([type="checkbox"], [type="radio"]), textarea, select';
const script = document.currentScript;
const api = window.webcall?.widgets ? window.webcall : (window.webcall = createApi());

if (script?.dataset.agent) {
  const options = readOptions(script);
  defineElement();
  whenParsed(() => createWidget(options));
} else {
  console.error('webcall: add data-agent="<agent slug>" to the embed.js <script> tag.');
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
    open: (agent) => matching(agent)[0]?.open() ?? Promise.resolve(false),
    start: (agent, options) => matching(agent)[0]?.start(options) ?? Promise.resolve(false),
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

/** One widget: its shell now, its panel and call code on first open; adds its handle to the API. */
function createWidget(options) {
  const shell = createShell(options);
  const { host } = shell;
  let loading = null; // Promise of the mounted call UI (or null), while loading or loaded
  let call = null; // mountCall's controller, once mounted
  let destroyed = false; // by destroy(): taken out of the page but kept, a widget may come back

  const emit = emitter(host);

  function load() {
    shell.showNote('Loading…');
    return fetchPanel(options.base, options.agent)
      .then(async (panel) => {
        call = await mountPanel(shell, panel, options);
        if (destroyed) call.destroy(); // while it loaded
        emit('ready', { agent: options.agent });
        return call;
      })
      .catch((problem) => {
        // A refused or failed panel starts no call; Try again (or opening the panel again) retries.
        loading = null;
        // Try again had the keyboard: it goes to the panel once loaded (an inline one too).
        const focusLoaded = (ok) => ok && options.inline && firstControl(call.element, shell).focus();
        showProblem(shell, problem, () => handle.open().then(focusLoaded));
        emit('error', { code: problem.code, message: problem.message });
        return null;
      });
  }

  const handle = {
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
      return loading.then((mounted) => {
        // A floating panel takes the focus, like a dialog; an inline one never steals it.
        const focusInside = shell.frame.contains(host.shadowRoot.activeElement);
        if (mounted && !options.inline && shell.isOpen && !focusInside) firstControl(mounted.element, shell).focus();
        return Boolean(mounted);
      });
    },
    /** Hides the panel, hanging up a call in progress. Inline widgets stay visible. */
    close() {
      call?.hangUp();
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
      if (!(await handle.open())) return false;
      if (!host.isConnected || (!options.inline && !shell.isOpen)) return false; // closed meanwhile
      return Boolean(await call.start(startOptions?.mode));
    },
    /** Hangs up the call in progress, if any. */
    end() {
      call?.hangUp();
    },
    /** Tells the agent `text` in the background (ElevenLabs agents); resolves whether it was sent. */
    sendContext: (text) => (call ? call.sendContext(text) : Promise.resolve(false)),
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

  const slot = options.inline ? findSlot(options.inline) : document.body;
  if (!slot) {
    console.error(`webcall: no element matches data-inline="${options.inline}".`);
    return;
  }
  followPlacement(handle);
  slot.append(host);
  emit('loaded', { agent: options.agent });
  if (options.inline) handle.open();
}

/**
 * Out of the document (not just moved): the call ends and the page's API forgets the widget
 * until it is put back; handle.destroy() is the way to remove it for good.
 */
function followPlacement(handle) {
  const host = handle.element;
  host.addEventListener('webcall-detached', () =>
    queueMicrotask(() => {
      if (host.isConnected) return;
      handle.end();
      forget(handle);
    }),
  );
  host.addEventListener('webcall-attached', () => {
    if (!api.widgets.includes(handle)) api.widgets.push(handle);
  });
}

/** Takes `handle` out of window.webcall.widgets (if it is there: destroy() may come twice). */
function forget(handle) {
  const index = api.widgets.indexOf(handle);
  if (index >= 0) api.widgets.splice(index, 1);
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
 * Where an opened panel puts the keyboard: Talk, or what comes before it (the consent notice
 * not yet accepted, a phone-only agent's number), or else ✕.
 */
function firstControl(element, shell) {
  const usable = (e) => e && !e.disabled && !e.closest('[hidden]');
  return ['#talk', '#consent-accept', '#phone-number'].map((id) => element.querySelector(id)).find(usable) || shell.close;
}

/**
 * The shell's own controls: the launcher opens and closes the panel; ✕ closes it (and, named
 * so, ends a call), Escape too when no call is joining or in progress and no text field has it.
 */
function bindShell(shell, handle, options) {
  let inCall = false;
  shell.launcher?.addEventListener('click', () => (shell.isOpen ? handle.close() : handle.open()));
  shell.close?.addEventListener('click', () => handle.close());
  shell.frame.addEventListener('webcall:state', (event) => {
    inCall = !['ready', 'ended', 'failed'].includes(event.detail.state);
    shell.close?.setAttribute('aria-label', inCall ? 'End call and close' : 'Close');
    // The launcher closes the panel too, and with it the call: its name says so meanwhile.
    if (inCall) shell.launcher?.setAttribute('aria-label', `${options.label} (ends the call)`);
    else shell.launcher?.removeAttribute('aria-label');
  });
  shell.frame.addEventListener('keydown', (event) => {
    if (event.key !== 'Escape' || options.inline || inCall) return;
    if (event.composedPath()[0].closest?.(TYPED_IN)) return;
    handle.close();
  });
}

/** Loads the call code and mounts the panel's call UI in the shell; resolves with its controller. */
async function mountPanel(shell, panel, options) {
  shell.setLook(options.theme || panel.config.theme, options.accent || panel.config.accent_color);
  try {
    const { mountWidget } = await import(panel.script_url);
    return await mountWidget(shell.body, panel, options);
  } catch (error) {
    console.error('webcall: the call code failed to load', error);
    throw LOAD_FAILED;
  }
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
