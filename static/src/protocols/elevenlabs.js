/**
 * ElevenLabs Agents' protocol: every message both ways is JSON with a `type`, in a reliable
 * data packet. The page sends `conversation_initiation_client_data` (from our API's answer,
 * with the call's variables) as soon as it is in the room with the agent, and a `pong` for
 * every `ping`; typed
 * messages go out as `user_message`, the host page's context as `contextual_update`. The agent
 * (a participant whose identity contains `agent`) sends what was heard (`user_transcript`, after
 * interim guesses in `tentative_user_transcript`, shown as the line growing), what it says (`agent_response`, or streamed as `agent_chat_response_part`), `interruption`
 * (the caller cut it off) and `client_tool_call`, which the host page answers through the JS
 * API; unanswered, it gets an error after a while. Whether the agent is speaking is read from
 * the room's active speakers. The shape every adapter shares is in protocols/index.js.
 */
const INITIATION = { type: 'conversation_initiation_client_data' };
const TOOL_ANSWER_TIMEOUT_MS = 10_000;
// Data sent while the agent is still joining can be lost: the initiation goes again until the
// agent says anything at all (it waits for the initiation before it does).
const INITIATION_RETRY_MS = 1_500;
const INITIATION_TRIES = 4;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Listens on `room` for an ElevenLabs agent; `call` is our API's answer. */
export function elevenLabs(room, hooks, call, { RoomEvent }) {
  return new ElevenLabsAgent(room, hooks, call?.protocol?.initiation || INITIATION, RoomEvent);
}

class ElevenLabsAgent {
  constructor(room, hooks, initiation, RoomEvent) {
    this.room = room;
    this.hooks = hooks;
    this.initiation = initiation;
    this.agent = null;
    this.lineCount = 0;
    this.reply = null; // the agent's newest line (see newReply)
    this.interrupted = null; // the reply the latest interruption came during
    this.hearing = undefined; // the id of the caller's line ElevenLabs is still guessing at
    this.speaking = false;
    this.thinking = false;
    this.toolTimers = new Map(); // tool_call_id → the timer that answers for an absent host page
    this.heardFromAgent = false;
    this.initiationTimer = 0;
    // Settles once the first initiation is on its way: chat and context wait for it, as the
    // agent must read the conversation's settings before anything else.
    this.initiated = null;
    room
      .on(RoomEvent.DataReceived, (payload, participant) => {
        if (!participant || this.isAgent(participant)) this.receive(payload);
      })
      .on(RoomEvent.ActiveSpeakersChanged, (speakers) => {
        this.speaking = Boolean(this.agent) && speakers.includes(this.agent);
        if (this.speaking) this.thinking = false;
        this.reportState();
      });
  }

  /** ElevenLabs' agent has `agent` in its identity. */
  isAgent(participant) {
    return participant.identity.includes('agent');
  }

  /**
   * The room found the agent (right after connecting, when it is already there): the first
   * message is the conversation's settings, which it waits for. Sent now, not on connecting, as
   * data reaches only those in the room.
   */
  follow(participant) {
    this.agent = participant;
    this.initiate(INITIATION_TRIES);
    this.reportState();
  }

  /** Sends the initiation, and again a little later unless the agent has spoken up by then. */
  initiate(tries) {
    if (this.heardFromAgent || tries === 0) return;
    const unsent = (err) => console.warn('webcall: the initiation was not sent', err);
    const sent = this.send(this.initiation).catch(unsent);
    this.initiated ??= sent;
    this.initiationTimer = setTimeout(() => this.initiate(tries - 1), INITIATION_RETRY_MS);
  }

  /**
   * Sends `message` once the initiation has gone (messages asked for meanwhile go in the order
   * asked); resolves false, sending nothing, while there is no agent to read it.
   */
  async sendAfterInitiation(message) {
    if (!this.initiated) return false;
    await this.initiated;
    await this.send(message);
    return true;
  }

  /** A typed message; the agent will answer it. */
  async sendChat(text) {
    if (!(await this.sendAfterInitiation({ type: 'user_message', text }))) {
      throw new Error('The agent has not joined yet.');
    }
    closeReply(this);
    this.thinking = true;
    this.reportState();
  }

  /** Something the agent should know, without a reply; resolves whether it was sent. */
  sendContext(text) {
    return this.sendAfterInitiation({ type: 'contextual_update', text });
  }

  /** Answers tool call `id` once (results are text: anything else is sent as JSON). */
  answerToolCall(id, result, isError = false) {
    if (!this.toolTimers.has(id)) return false;
    clearTimeout(this.toolTimers.get(id));
    this.toolTimers.delete(id);
    const text = typeof result === 'string' ? result : JSON.stringify(result ?? null);
    this.send({ type: 'client_tool_result', tool_call_id: id, result: text, is_error: isError })
      .catch((err) => console.warn('webcall: a tool result was not sent', err));
    return true;
  }

  /** The call is over: nobody answers the tool calls still open. */
  stop() {
    clearTimeout(this.initiationTimer);
    this.toolTimers.forEach((timer) => clearTimeout(timer));
    this.toolTimers.clear();
  }

  /** One message to the agent. */
  send(message) {
    const data = encoder.encode(JSON.stringify(message));
    return this.room.localParticipant.publishData(data, { reliable: true });
  }

  /** `listening`, `thinking` (the caller's turn is over) or `speaking`, once the agent is here. */
  reportState() {
    if (!this.agent) return;
    this.hooks.agentState(this.speaking ? 'speaking' : this.thinking ? 'thinking' : 'listening');
  }

  /** One message from the agent. */
  receive(payload) {
    let message;
    try {
      message = JSON.parse(decoder.decode(payload));
    } catch {
      return; // not an ElevenLabs message
    }
    this.heardFromAgent = true;
    clearTimeout(this.initiationTimer);
    const handle = HANDLERS[message?.type];
    if (handle) handle(this, message);
  }

  /** A line of the transcript: the caller's, or one of the agent's (`interrupted`: cut off). */
  line(speaker, text, final, id = `el-${(this.lineCount += 1)}`, interrupted = false) {
    this.hooks.line({ id, speaker, text, final, interrupted });
    return id;
  }
}

/**
 * A message's fields: ElevenLabs' SDK nests them under `key`, our providers' notes list
 * `client_tool_call`'s (and leave `agent_response_correction`'s open) as the message's own.
 * Both are read; the nested ones win.
 */
function body(message, key) {
  const nested = message[key];
  return nested && typeof nested === 'object' ? nested : message;
}

// What to do with each message type from the agent (the others are ignored).
const HANDLERS = {
  ping: (agent, { ping_event: ping }) => {
    if (ping?.event_id === undefined) return;
    agent.send({ type: 'pong', event_id: ping.event_id }).catch(() => {});
  },
  tentative_user_transcript: (agent, { tentative_user_transcription_event: guess }) => {
    const text = guess?.user_transcript?.trim();
    if (!text) return;
    agent.hearing = agent.line('user', text, false, agent.hearing);
  },
  user_transcript: (agent, { user_transcription_event: heard }) => {
    const text = heard?.user_transcript?.trim();
    const guessed = agent.hearing;
    agent.hearing = undefined;
    if (!text) {
      if (guessed) agent.hooks.drop(guessed); // it was not speech after all
      return;
    }
    closeReply(agent);
    agent.line('user', text, true, guessed);
    agent.thinking = true;
    agent.reportState();
  },
  agent_response: (agent, { agent_response_event: said }) => respond(agent, said?.agent_response),
  agent_chat_response_part: (agent, { text_response_part: part }) => streamPart(agent, part),
  interruption: (agent) => cutReply(agent),
  agent_response_correction: (agent, message) => {
    const fix = body(message, 'agent_response_correction_event');
    const text = fix?.corrected_agent_response?.trim();
    const { reply } = agent;
    if (!reply || !text) return;
    // Cut to what was said before an interruption, which may have come as its voice went quiet.
    const cut = reply.cut || agent.interrupted === reply;
    Object.assign(reply, { text, streaming: false, confirmed: true, cut }); // its last word
    agent.line('agent', text, true, reply.id, cut);
  },
  client_tool_call: (agent, message) => {
    stopThinking(agent);
    askHostPage(agent, body(message, 'client_tool_call'));
  },
  // No answer is coming for what it was thinking about: "Agent is thinking…" for good otherwise.
  error: (agent, message) => {
    stopThinking(agent);
    console.warn('webcall: the agent reported an error', message);
  },
};

/**
 * The agent's next line: {id, text, streaming, confirmed (by agent_response), closed (by the
 * caller's turn), cut}.
 */
function newReply(agent, streaming) {
  agent.lineCount += 1;
  const id = `el-${agent.lineCount}`;
  agent.reply = { id, text: '', streaming, confirmed: false, closed: false, cut: false };
  return agent.reply;
}

/**
 * The caller's turn: the agent's line so far is done, so the next response is a line of its own
 * even when no `agent_response` confirmed the one streamed before.
 */
function closeReply(agent) {
  if (agent.reply) agent.reply.closed = true;
}

/**
 * A whole response: it completes the line streamed for it, if any, or is a line of its own. The
 * caller's turn during the stream (a message typed while it came) does not make its own
 * response a second line of the same words, nor end the thinking about that message.
 */
function respond(agent, response) {
  const text = response?.trim();
  const { reply: last } = agent;
  const open = last && !last.confirmed && !last.cut && (!last.closed || streamedFor(last, text));
  if (!open || !last.closed) stopThinking(agent);
  if (!text) return;
  const reply = open ? last : newReply(agent, false);
  Object.assign(reply, { text, streaming: false, confirmed: true });
  agent.line('agent', text, true, reply.id);
}

/** Whether `text` is the response streamed into `reply`: what came so far, or all of it once stopped. */
function streamedFor(reply, text = '') {
  const words = (s) => s.replace(/\s+/g, ' ').trim();
  const [streamed, whole] = [words(reply.text), words(text)];
  return Boolean(streamed) && (reply.streaming ? whole.startsWith(streamed) : whole === streamed);
}

/** A streamed response grows one line in place: `start`, then `delta`s, then `stop`. */
function streamPart(agent, part) {
  if (!part) return;
  let { reply } = agent;
  if (part.type === 'start') {
    reply = newReply(agent, true);
  } else if (reply?.cut) {
    return; // what is still streamed after the caller cut the agent off was never said
  } else if (!reply?.streaming) {
    if (part.type === 'stop') return;
    reply = newReply(agent, true); // a delta without its start
  }
  if (part.type === 'delta' || (part.type === 'start' && part.text)) reply.text += part.text || '';
  if (part.type === 'stop') {
    reply.streaming = false;
    if (!reply.closed) stopThinking(agent); // (closed: the caller wrote since, and waits for that answer)
  }
  if (reply.text.trim()) agent.line('agent', reply.text, !reply.streaming, reply.id);
}

/**
 * The agent has answered: it no longer thinks, even if it does not say the answer aloud (a text
 * reply); its voice, if any, shows as speaking through the active speakers.
 */
function stopThinking(agent) {
  if (!agent.thinking) return;
  agent.thinking = false;
  agent.reportState();
}

/** The caller cut the agent off: its line stops where it was, marked; nothing is added to it. */
function cutReply(agent) {
  const { reply } = agent;
  agent.thinking = false;
  agent.reportState();
  agent.interrupted = reply; // a correction of it then says where it was cut
  if (!reply || reply.cut || !(reply.streaming || agent.speaking)) return; // nothing being said
  reply.cut = true;
  reply.streaming = false;
  if (reply.text.trim()) agent.line('agent', reply.text, true, reply.id, true);
}

/** A tool the host page runs: a webcall:tool-call event, answered with answerToolCall(). */
function askHostPage(agent, call) {
  const id = call?.tool_call_id;
  if (typeof id !== 'string' || agent.toolTimers.has(id)) return;
  const waitedS = TOOL_ANSWER_TIMEOUT_MS / 1000;
  const nobody = () => agent.answerToolCall(id, `The page did not answer in ${waitedS} s.`, true);
  agent.toolTimers.set(id, setTimeout(nobody, TOOL_ANSWER_TIMEOUT_MS));
  const { tool_name: name, parameters } = call;
  const detail = { tool_call_id: id, tool_name: String(name ?? ''), parameters: parameters ?? {} };
  agent.hooks.toolCall(detail);
}
