/**
 * The LiveKit Agents protocol: what a livekit-agents worker tells the page besides its voice.
 * Its state is a participant attribute (`lk.agent.state`), the words heard and spoken arrive as
 * text streams on `lk.transcription` (older agents: transcription packets), typed messages go
 * both ways on `lk.chat`. Only this module knows those names.
 *
 * The shape every protocol adapter shares is in protocols/index.js; agents that speak another
 * protocol (Retell's, ElevenLabs') have modules of their own.
 */
const AGENT_STATE = 'lk.agent.state';
// What the page shows and tells of it; LiveKit's agents also say `initializing` and `idle`, which
// are none of these (no state, then).
const STATES = ['listening', 'thinking', 'speaking'];
const stateOf = (participant) => {
  const state = participant.attributes[AGENT_STATE];
  return STATES.includes(state) ? state : undefined;
};
const ON_BEHALF = 'lk.publish_on_behalf';
const TRANSCRIPTION = 'lk.transcription';
const SEGMENT_ID = 'lk.segment_id';
const FINAL = 'lk.transcription_final';
const INTERRUPTED = 'webcall.interrupted'; // our demo agent's mark on a line it cut short
const TRANSCRIBED_TRACK = 'lk.transcribed_track_id';
const CHAT = 'lk.chat';

/** Listens on `room` for a livekit-agents worker; see the module's comment for the shape. */
export function livekitAgents(room, hooks, _call, { RoomEvent }) {
  let agent = null;
  let streamed = false; // the agent sends text streams: its legacy packets are duplicates
  const legacyIds = new Set();

  /** "agent" or "user" for a transcript line, from its track id first, then from its sender. */
  function speakerFor(trackId, senderIdentity) {
    const local = room.localParticipant;
    if (trackId && local.trackPublications.has(trackId)) return 'user';
    if (senderIdentity === local.identity) return 'user';
    return room.remoteParticipants.get(senderIdentity)?.isAgent ? 'agent' : 'user';
  }

  /**
   * One `lk.transcription` stream carries one segment: the agent's speech arrives as deltas,
   * the caller's interim results as whole new streams with the same segment id. Whether the
   * segment is final may arrive only with the stream's trailer.
   */
  async function readTranscription(reader, { identity }) {
    const attributes = reader.info.attributes;
    const speaker = speakerFor(attributes?.[TRANSCRIBED_TRACK], identity);
    if (!streamed) legacyIds.forEach((id) => hooks.drop(id));
    streamed = true;
    const id = attributes?.[SEGMENT_ID] || reader.info.id;
    let text = '';
    try {
      for await (const chunk of reader) {
        text += chunk;
        hooks.line({ id, speaker, text, final: false });
      }
    } catch {
      // The stream was cut off (the agent was interrupted, say): keep what arrived.
    }
    const trailer = reader.info.attributes ?? {}; // read again: the final flags come last
    hooks.line({
      id,
      speaker,
      text,
      final: trailer[FINAL] === 'true',
      interrupted: trailer[INTERRUPTED] === 'true', // the caller talked over the agent
    });
  }

  /** Agents that answer in text send it on lk.chat: a whole message once its stream ends. */
  async function readChat(reader, { identity }) {
    const speaker = speakerFor(undefined, identity);
    let text = '';
    try {
      text = await reader.readAll();
    } catch {
      return;
    }
    hooks.line({ id: `chat-${reader.info.id}`, speaker, text, final: true, chat: true });
  }

  /** Transcription packets, for agents that send no text streams (current ones send both). */
  function readLegacy(segments, participant, publication) {
    if (streamed) return;
    const speaker = speakerFor(publication?.trackSid, participant?.identity);
    for (const segment of segments) {
      legacyIds.add(segment.id);
      hooks.line({ id: segment.id, speaker, text: segment.text, final: segment.final });
    }
  }

  room
    .on(RoomEvent.ParticipantAttributesChanged, (_changed, participant) => {
      if (participant === agent) hooks.agentState(stateOf(participant));
    })
    .on(RoomEvent.TranscriptionReceived, readLegacy);
  room.registerTextStreamHandler(TRANSCRIPTION, readTranscription);
  room.registerTextStreamHandler(CHAT, readChat);

  return {
    /** The agent to talk to: an agent participant, not an avatar publishing on its behalf. */
    isAgent: (participant) => participant.isAgent && !participant.attributes[ON_BEHALF],
    /** The room has found its agent: report its state from now on, starting with the current one. */
    follow(participant) {
      agent = participant;
      hooks.agentState(stateOf(participant));
    },
    /** Sends a typed message to the agent; resolves once it is sent. */
    sendChat: (text) => room.localParticipant.sendText(text, { topic: CHAT }),
  };
}
