/**
 * Fetches a widget's panel from the webcall app: the call UI's HTML and config, and the URLs of
 * its stylesheet and call code. Every failure becomes a {code, message} the panel can show.
 */

const TIMEOUT_MS = 20_000; // as the call's own requests (api.js): a stalled fetch must not load for ever
const NETWORK = {
  code: 'network',
  message: "We couldn't reach the call service. Check your connection, then press Try again.",
};

/** Resolves with {html, config, css_url, script_url}; rejects with {code, message}. */
export async function fetchPanel(base, agent) {
  let response;
  let data = null;
  try {
    response = await fetch(new URL(`embed/${encodeURIComponent(agent)}/panel`, base), {
      headers: { Accept: 'application/json' },
      credentials: 'omit',
      signal: AbortSignal.timeout?.(TIMEOUT_MS),
    });
    data = await response.json().catch(() => null);
  } catch {
    throw NETWORK;
  }
  if (response.ok && data?.html && data.config) return data;
  throw {
    code: data?.error?.code || `http_${response.status}`,
    message: data?.error?.message || 'The call panel could not be loaded. Please try again later.',
  };
}
