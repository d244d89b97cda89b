/**
 * Which protocol adapter reads the agent of a call: chosen by the call's `provider` (from our
 * API's answer) and loaded only when a call needs it, each adapter a chunk of its own.
 *
 * An adapter is a function `(room, hooks, call, livekit) → protocol`, called by room.js once the
 * call is known and before the room connects (so no message is missed). `call` is our API's
 * answer (its `protocol` field holds what this provider's adapter needs); `livekit` holds the
 * livekit-client names it uses (`RoomEvent`): an adapter imports nothing, as a lazy chunk that
 * imported livekit-client would make esbuild split it from the page's own code. The protocol
 * object has:
 *   isAgent(participant)   whether this participant is the agent to talk to
 *   follow(agent)          the room found its agent (right after connecting, if it is there):
 *                          report its state from now on, send what must go first
 *   sendChat(text)         optional: send a typed message (a Promise); without it, no chat box
 *   sendContext(text)      optional: tell the agent something in the background (a Promise;
 *                          resolving false: not sent)
 *   answerToolCall(id, result, isError)  optional: answer a tool call; false if none is waiting
 *   stop()                 optional: the call is over; drop timers, report what is final now
 * It reports through hooks:
 *   hooks.agentState(state)  the agent is `listening`, `thinking` or `speaking` (or undefined)
 *   hooks.line({id, speaker, text, final, chat?, interrupted?})  a transcript line appeared or
 *     changed; `speaker` is 'agent' or 'user', the same id again replaces that line's text, and
 *     `interrupted` marks an agent's line the caller talked over
 *   hooks.drop(id)  a line is superseded: take it away
 *   hooks.toolCall({tool_call_id, tool_name, parameters})  the agent asks the page to run a tool
 */

import { RoomEvent } from 'livekit-client';

const LIVEKIT = { RoomEvent };

const ADAPTERS = {
  retell: () => import('./retell.js').then((module) => module.retell),
  elevenlabs: () => import('./elevenlabs.js').then((module) => module.elevenLabs),
};

// Our own agents and the LiveKit-based providers whose agents are LiveKit Agents workers.
const LIVEKIT_AGENTS = () => import('./livekit-agents.js').then((module) => module.livekitAgents);

const loading = new Map(); // provider → Promise of its adapter, fetched once per page

/**
 * Resolves with the adapter for `provider`'s agents, as `(room, hooks, call) → protocol`. The call
 * panel asks at once for its agent's provider, so a click does not wait for the chunk to download.
 */
export function loadProtocol(provider) {
  const load = ADAPTERS[provider] || LIVEKIT_AGENTS;
  if (!loading.has(load)) {
    const adapter = load().then((speak) => (room, hooks, call) => speak(room, hooks, call, LIVEKIT));
    adapter.catch(() => loading.delete(load)); // offline for a moment: the next call tries again
    loading.set(load, adapter);
  }
  return loading.get(load);
}
