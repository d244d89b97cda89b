/**
 * Retell's web-call protocol: the agent is the participant `server` (its voice is the track
 * `agent_audio`), and everything else it says comes as JSON data packets keyed by
 * `event_type`: `update` (the last few utterances, and whose turn it is),
 * `agent_start_talking` / `agent_stop_talking`. It reads nothing from the page: no chat box.
 * The call is over when `server` leaves (room.js ends a call whose agent left).
 * The shape every protocol adapter shares is in protocols/index.js.
 */
import { mergeTranscript } from './retell-transcript.js';

const AGENT_IDENTITY = 'server';
const SPEAKERS = { agent: 'agent', user: 'user' };
const decoder = new TextDecoder();

/** Listens on `room` for Retell's agent; see protocols/index.js for the shape. */
export function retell(room, hooks, _call, { RoomEvent }) {
  return new RetellAgent(room, hooks, RoomEvent);
}

class RetellAgent {
  constructor(room, hooks, RoomEvent) {
    this.hooks = hooks;
    this.lines = []; // the whole conversation so far: [{role, content}]
    this.finalCount = 0; // lines before this index are final, the newest too once it is
    this.talking = false;
    this.following = false;
    room.on(RoomEvent.DataReceived, (payload, participant) => {
      if (participant?.identity === AGENT_IDENTITY) this.receive(payload);
    });
  }

  /** Retell's agent is always the participant `server`. */
  isAgent(participant) {
    return participant.identity === AGENT_IDENTITY;
  }

  /** The room found the agent: it listens until it says otherwise. */
  follow() {
    this.following = true;
    this.hooks.agentState(this.talking ? 'speaking' : 'listening');
  }

  /** One data packet from the agent. */
  receive(payload) {
    let event;
    try {
      event = JSON.parse(decoder.decode(payload));
    } catch {
      return; // not one of Retell's events
    }
    if (event?.event_type === 'update') this.update(event);
    else if (event?.event_type === 'agent_start_talking') this.setTalking(true);
    else if (event?.event_type === 'agent_stop_talking') {
      this.setTalking(false);
      this.finalize('agent');
    }
  }

  /** The call is over: whatever was said last is all there is. */
  stop() {
    this.finalize();
  }

  /** The newest line is complete (if it is `role`'s, when given): shows it final. */
  finalize(role) {
    const newest = this.lines.length - 1;
    if (newest < this.finalCount || (role && this.lines[newest].role !== role)) return;
    this.finalCount = this.lines.length;
    this.showLine(newest);
  }

  /** The agent's voice started or stopped. */
  setTalking(talking) {
    this.talking = talking;
    if (this.following) this.hooks.agentState(talking ? 'speaking' : 'listening');
  }

  /**
   * New words, and whose turn it is: the agent thinks between the caller's turn and its voice.
   * A turn that passes completes the other side's newest line.
   */
  update({ transcript, turntaking }) {
    if (Array.isArray(transcript)) this.show(mergeTranscript(this.lines, transcript));
    if (turntaking === 'agent_turn') this.finalize('user');
    else if (turntaking === 'user_turn') this.finalize('agent');
    if (!this.following || this.talking) return;
    if (turntaking === 'agent_turn') this.hooks.agentState('thinking');
    else if (turntaking === 'user_turn') this.hooks.agentState('listening');
  }

  /**
   * Shows the lines from `from` on, and the one that was newest before; all but the newest
   * are final (the newest may still grow, until finalize() says it is complete).
   */
  show({ lines, from }) {
    for (let i = lines.length; i < this.lines.length; i += 1) this.hooks.drop(`retell-${i}`);
    const start = Math.min(from, Math.max(0, this.lines.length - 1));
    this.lines = lines;
    this.finalCount = Math.min(this.finalCount, lines.length);
    for (let i = start; i < lines.length; i += 1) this.showLine(i);
  }

  /** Shows line `i` (its id is its place in the conversation, so it stays the same). */
  showLine(i) {
    const { role, content } = this.lines[i];
    const final = i < Math.max(this.lines.length - 1, this.finalCount);
    this.hooks.line({ id: `retell-${i}`, speaker: SPEAKERS[role], text: content, final });
  }
}
