/**
 * Fetches a widget's panel from the webcall app: the call UI's HTML and config, and the URLs of
 * its stylesheet and call code. Every failure becomes a {code, message} the panel can show.
 */

const TIMEOUT_MS = 20_000; // as the call's own requests (api.js): no "Loading…" for ever
export const LOAD_FAILED = {
  code: 'load_failed',
  message: 'The call panel could not be loaded. Please try again later.',
};
const NETWORK = {
  code: 'network',
  message: "We couldn't reach the call service. Check your connection, then press Try again.",
};

/**
 * Runs `load(signal)` (the panel's fetch, then its call code and stylesheet) against one
 * deadline: past it, `signal` aborts and the Promise rejects with NETWORK, whatever stalled.
 */
export function withDeadline(load) {
  const deadline = new AbortController();
  setTimeout(() => deadline.abort(), TIMEOUT_MS);
  return new Promise((resolve, reject) => {
    deadline.signal.onabort = () => reject(NETWORK);
    load(deadline.signal).then(resolve, reject);
  });
}

/**
 * Resolves with {html, config, css_url, script_url}; rejects with {code, message}. `lang` asks for
 * the panel in that language (null: the agent's page_language).
 */
export async function fetchPanel(base, agent, signal, lang = null) {
  let response;
  let data = null;
  const url = new URL(`embed/${encodeURIComponent(agent)}/panel`, base);
  if (lang) url.searchParams.set('lang', lang);
  try {
    response = await fetch(url, {
      headers: { Accept: 'application/json' },
      credentials: 'omit',
      signal,
    });
    data = await response.json().catch(() => null);
  } catch {
    throw NETWORK;
  }
  if (response.ok && data?.html && data.config) return data;
  const error = data?.error || {};
  throw {
    code: error.code || `http_${response.status}`,
    message: error.message || LOAD_FAILED.message,
  };
}
