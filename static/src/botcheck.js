/**
 * The optional bot check before a call: Cloudflare Turnstile, rendered in the call panel.
 * Loaded only when the agent's page config names a site key; each call spends one token.
 */
import { ApiError } from './api.js';

const TOKEN_WAIT_MS = 15_000;
let scriptLoad = null; // one <script> per page, shared by every widget

function loadScript(url) {
  scriptLoad ??= new Promise((resolve, reject) => {
    const script = document.createElement('script');
    script.src = url;
    script.async = true;
    script.onload = () => (window.turnstile ? resolve(window.turnstile) : reject(new Error('no turnstile')));
    script.onerror = () => reject(new Error('turnstile did not load'));
    document.head.append(script);
  });
  return scriptLoad;
}

const unavailable = () =>
  new ApiError('bot_check_unavailable', "We couldn't check your browser. Reload the page and try again.");

/** Renders the check into `container`; `token()` resolves with a fresh token for one call. */
export function createBotCheck(container, siteKey, scriptUrl) {
  let current = null;
  let waiting = [];
  let widgetId = null;
  const settle = (token) => {
    current = token;
    for (const resolve of waiting) resolve(token);
    waiting = [];
  };
  container.hidden = false;
  const ready = loadScript(scriptUrl).then((turnstile) => {
    widgetId = turnstile.render(container, {
      sitekey: siteKey,
      callback: settle,
      'expired-callback': () => (current = null),
      'refresh-expired': 'auto',
    });
    return turnstile;
  });
  ready.catch(() => {});

  return {
    /** A token for the next call (waits for the visitor to pass the check). */
    token() {
      return ready.then(
        () =>
          new Promise((resolve, reject) => {
            if (current) return resolve(current);
            waiting.push(resolve);
            setTimeout(() => reject(unavailable()), TOKEN_WAIT_MS);
          }),
        () => Promise.reject(unavailable()),
      );
    },
    /** Tokens are single-use: ask for a new one after each call request. */
    reset() {
      current = null;
      ready.then((turnstile) => turnstile.reset(widgetId)).catch(() => {});
    },
  };
}
