/**
 * The consent notice: an agent may ask callers to accept a text before their first call. The
 * acceptance is remembered in this browser per agent, and only for that exact text, so a
 * changed notice is asked again. Every panel of the agent hears of a change at once: another
 * widget on the page, another tab, a frame (same origin, as the storage is).
 */

const STORE_PREFIX = 'webcall.consent.';
const CHANNEL = 'webcall.consent';
// agent → {text, given}: the latest change made in this document or heard of from another. It
// wins over the storage, which another tab's change may reach later than its message does.
const heard = new Map();
const watchers = new Set(); // {agent, onChange}
let channel = null; // this document's one end of the channel: its own messages don't come back

export function hasConsent(agent, text) {
  if (!text) return true;
  const latest = heard.get(agent);
  if (latest) return latest.given && latest.text === text;
  try {
    return localStorage.getItem(STORE_PREFIX + agent) === text;
  } catch {
    return false; // no storage (private mode, sandboxed frames): asked again on each page
  }
}

export function setConsent(agent, text, given) {
  try {
    if (given) localStorage.setItem(STORE_PREFIX + agent, text);
    else localStorage.removeItem(STORE_PREFIX + agent);
  } catch {
    // See hasConsent: this document remembers it (below) while it lives.
  }
  learn(agent, text, given);
  openChannel()?.postMessage({ agent, text, given });
}

/**
 * Calls `onChange()` whenever `agent`'s consent is given or taken back in a panel (this
 * document's own changes included). Returns a function that stops listening.
 */
export function watchConsent(agent, onChange) {
  openChannel();
  const watcher = { agent, onChange };
  watchers.add(watcher);
  return () => {
    watchers.delete(watcher);
    if (watchers.size === 0 && channel) {
      channel.close();
      channel = null;
    }
  };
}

function learn(agent, text, given) {
  heard.set(agent, { text, given });
  watchers.forEach((watcher) => watcher.agent === agent && watcher.onChange());
}

function openChannel() {
  if (channel || typeof BroadcastChannel !== 'function') return channel;
  channel = new BroadcastChannel(CHANNEL);
  channel.onmessage = ({ data }) => {
    if (typeof data?.agent === 'string' && typeof data.text === 'string') {
      learn(data.agent, data.text, data.given === true);
    }
  };
  return channel;
}
