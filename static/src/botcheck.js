/**
 * The optional bot check before a call: Cloudflare Turnstile, rendered in the call panel.
 * Loaded only when the agent's page config names a site key; each call spends one token.
 */
import { ApiError } from './api.js';
import { pageLanguage, t } from './words.js';

const TOKEN_WAIT_MS = 15_000;
// The page's languages that Turnstile speaks (developers.cloudflare.com/turnstile/reference/supported-languages).
const TURNSTILE_LANGUAGES = ['en', 'es', 'fr', 'de', 'it', 'nl', 'pt', 'ja', 'hi', 'ar'];
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
  new ApiError('bot_check_unavailable', t("We couldn't check your browser. Reload the page and try again."));

/**
 * Renders the check into `container`; `token()` resolves with a fresh token for one call. The
 * wait for a token gives up after 15 s, not counting the time the visitor is shown a challenge
 * (Turnstile's interactive mode: a checkbox to tick, as long as it takes), which
 * `onChallenge(shown)` hears of.
 */
export function createBotCheck(container, siteKey, scriptUrl, onChallenge = () => {}) {
  let current = null;
  let waiting = []; // one {resolve, reject, leftMs, since, timer} per pending token()
  let challenged = false;
  let widgetId = null;
  const settle = (token) => {
    current = token;
    for (const wait of waiting) {
      clearTimeout(wait.timer);
      wait.resolve(token);
    }
    waiting = [];
  };
  const giveUp = (wait) => {
    waiting = waiting.filter((other) => other !== wait);
    wait.reject(unavailable());
  };
  const count = (wait) => {
    wait.since = Date.now();
    wait.timer = setTimeout(() => giveUp(wait), wait.leftMs);
  };
  // A challenge on show stops the clocks; they go on from where they were once it is solved.
  const pause = () => {
    if (challenged) return;
    challenged = true;
    for (const wait of waiting) {
      clearTimeout(wait.timer);
      wait.leftMs -= Date.now() - wait.since;
    }
    onChallenge(true);
  };
  const resume = () => {
    if (!challenged) return;
    challenged = false;
    waiting.forEach(count);
    onChallenge(false);
  };
  container.hidden = false;
  const ready = loadScript(scriptUrl).then((turnstile) => {
    widgetId = turnstile.render(container, {
      sitekey: siteKey,
      callback: settle,
      'expired-callback': () => (current = null),
      'before-interactive-callback': pause,
      'after-interactive-callback': resume,
      'refresh-expired': 'auto',
      // The page's language where Turnstile has it; else the browser's.
      language: TURNSTILE_LANGUAGES.includes(pageLanguage()) ? pageLanguage() : 'auto',
    });
    return turnstile;
  });
  ready.catch(() => {});

  return {
    /** Whether a token is in hand now (the visitor has passed the check). */
    get passed() {
      return Boolean(current);
    },
    /** A token for the next call (waits for the visitor to pass the check). */
    token() {
      return ready.then(
        () =>
          new Promise((resolve, reject) => {
            if (current) return resolve(current);
            const wait = { resolve, reject, leftMs: TOKEN_WAIT_MS, since: 0, timer: 0 };
            waiting.push(wait);
            if (!challenged) count(wait);
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
