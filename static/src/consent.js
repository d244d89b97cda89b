/**
 * The consent notice: an agent may ask callers to accept a text before their first call. The
 * acceptance is remembered in this browser per agent, and only for that exact text, so a
 * changed notice is asked again.
 */

const STORE_PREFIX = 'webcall.consent.';
const accepted = new Map(); // for browsers without storage: remembered while the page lives

export function hasConsent(agent, text) {
  if (!text) return true;
  try {
    if (localStorage.getItem(STORE_PREFIX + agent) === text) return true;
  } catch {
    // No storage (private mode, sandboxed frames): fall back to this page's memory.
  }
  return accepted.get(agent) === text;
}

export function setConsent(agent, text, given) {
  if (given) accepted.set(agent, text);
  else accepted.delete(agent);
  try {
    if (given) localStorage.setItem(STORE_PREFIX + agent, text);
    else localStorage.removeItem(STORE_PREFIX + agent);
  } catch {
    // See hasConsent.
  }
}
