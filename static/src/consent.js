/**
 * The consent notice: an agent may ask callers to accept a text before their first call. The
 * acceptance is remembered in this browser per agent, and only for that exact text, so a
 * changed notice is asked again. Every panel of the agent hears of a change at once: another
 * widget on the page, another tab, a frame (same origin, as the storage is).
 */

const STORE_PREFIX = 'webcall.consent.';
const CHANNEL = 'webcall.consent';
const accepted = new Map(); // for browsers without storage: remembered while the page lives
let sender = null; // this document's end of the channel, opened on the first change

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
  remember(agent, text, given);
  try {
    if (given) localStorage.setItem(STORE_PREFIX + agent, text);
    else localStorage.removeItem(STORE_PREFIX + agent);
  } catch {
    // See hasConsent.
  }
  if (typeof BroadcastChannel !== 'function') return;
  sender ??= new BroadcastChannel(CHANNEL);
  sender.postMessage({ agent, text, given });
}

/**
 * Calls `onChange()` whenever `agent`'s consent is given or taken back in a panel (this
 * document's own changes included). Returns a function that stops listening.
 */
export function watchConsent(agent, onChange) {
  if (typeof BroadcastChannel !== 'function') return () => {};
  const channel = new BroadcastChannel(CHANNEL);
  channel.onmessage = ({ data }) => {
    if (data?.agent !== agent || typeof data.text !== 'string') return;
    remember(agent, data.text, data.given === true); // for a page without storage
    onChange();
  };
  return () => channel.close();
}

function remember(agent, text, given) {
  if (given) accepted.set(agent, text);
  else accepted.delete(agent);
}
