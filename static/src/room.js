/**
 * Where the browser joins the room: one call = one LiveKit Room. Opens the microphone while the
 * call is requested, connects with the call's token, finds the agent, follows reconnects, and
 * ends exactly once. What the agent says besides its voice is read by the protocol adapter of
 * the call's provider (protocols/). Reports through plain hook functions; knows nothing of the DOM.
 */
import {
  ConnectionState,
  DisconnectReason,
  LocalAudioTrack,
  LogLevel,
  ParticipantEvent,
  Room,
  RoomEvent,
  Track,
  TrackEvent,
  setLogLevel,
} from 'livekit-client';
import { ApiError } from './api.js';
import { dismissed } from './mic-permission.js';
import { loadProtocol } from './protocols/index.js';

// livekit-client tells the console every step of every call (about ten lines); its warnings and
// errors are what a host page's developer needs.
setLogLevel(LogLevel.warn);

// livekit-client listens to each new microphone track for 200 ms, and again once it is published,
// each time in an AudioContext of its own, only to emit AudioSilenceDetected: both run while the
// peer connections are being made, and the page has no use for the event (its own meter shows the
// microphone's level). The check now reports "not silent" at once (bench/README.md, "floor").
LocalAudioTrack.prototype.checkForSilence = async () => false;

const RECONNECT_GIVE_UP_MS = 20_000;
const ONLINE_SETTLE_MS = 2_000; // back online: how long LiveKit gets to start reconnecting

const ROOM_OPTIONS = {
  adaptiveStream: true,
  dynacast: true,
  // Records the microphone from the moment it opens and hands that audio to the agent once it
  // subscribes, so the caller's first words are not lost while the agent joins. livekit-client
  // reads the flag from here when setMicrophoneEnabled creates the track (not from the publish
  // options passed there, which we still pass as LiveKit's examples do).
  publishDefaults: { preConnectBuffer: true },
  // Two peer connections, the offer after the join (the SDK's v0 signalling). With the token in
  // hand at the click (the page asks for the call at the press on Talk: call-panel.js), one
  // connection, the offer in the join request, connected 27 ms sooner at a 50 ms round trip (319
  // against 346 ms) and 30 ms later on loopback (bench/README.md, "floor"); but with it a reliable
  // data packet the page sent as the agent joined (its track's offer on the way) now and then
  // never reached the agent, though livekit-client said it was sent: an ElevenLabs context, in 3
  // of about 45 runs of tests/e2e/test_iframe_commands.py, none in 25 with two connections.
  singlePeerConnection: false,
  audioCaptureDefaults: { echoCancellation: true, noiseSuppression: true, autoGainControl: true },
  // livekit-client would leave on 'beforeunload' too, which fires also when the visitor then
  // chooses to stay on a page that asks first ("Leave site?"): we leave on 'pagehide' only.
  disconnectOnPageLeave: false,
  // LiveKit's default policy keeps trying for ~45 s. A conversation that has been silent for
  // 20 s is over for the caller (and the agent has likely left): say so and offer Try again.
  reconnectPolicy: {
    nextRetryDelayInMs: ({ retryCount, elapsedMs }) =>
      elapsedMs > RECONNECT_GIVE_UP_MS ? null : Math.min(300 * retryCount ** 2, 5_000),
  },
};

const MIC = Track.Source.Microphone;

// Why LiveKit says a participant left when it did not mean to (livekit-server's
// ParticipantCloseReason.ToDisconnectReason): its connection failed, or its agent failed.
const AGENT_FAILURES = new Set([
  DisconnectReason.CONNECTION_TIMEOUT,
  DisconnectReason.SIGNAL_CLOSE,
  DisconnectReason.JOIN_FAILURE,
  DisconnectReason.STATE_MISMATCH,
  DisconnectReason.AGENT_ERROR,
]);

// Disconnects that end the call normally; any other reason means the connection was lost.
const NORMAL_ENDS = new Map([
  [DisconnectReason.CLIENT_INITIATED, 'hangup'],
  [DisconnectReason.ROOM_DELETED, 'room-closed'],
  [DisconnectReason.ROOM_CLOSED, 'room-closed'],
  [DisconnectReason.PARTICIPANT_REMOVED, 'removed'],
]);

/**
 * hooks: phase(state), connected(), agent(participant), audio(track, subscribed),
 * video(track, subscribed), mic(track), muted(muted, lost) (`lost`: livekit-client muted a
 * microphone whose device went away), playback(canPlay), quality(quality) (the caller's
 * connection as LiveKit scores it: excellent, good, poor, lost), abilities({chat}),
 * end(outcome) where outcome is {reason} for a normal end or {code, message?, retryAfterS?} for a
 * failure; and the protocol's agentState(state), line(line), drop(id), toolCall(call) (see
 * protocols/index.js).
 */
export class CallRoom {
  /**
   * `mic` is `open` (published from the start, with the pre-connect buffer), `push-to-talk`
   * (published muted: media/push-to-talk.js opens it while held) or `none` (a text chat: never
   * asked for). Must be constructed inside the click handler: it unlocks audio playback.
   */
  constructor(hooks, { mic = 'open' } = {}) {
    this.hooks = hooks;
    this.room = new Room(ROOM_OPTIONS);
    this.audioUnlocked = this.room.startAudio().catch(() => {});
    this.mic = mic;
    this.micReady = mic === 'none';
    this.micWaits = false; // for the bot check (join)
    this.micEnded = false; // its device went away, and livekit-client has not restarted it yet
    this.connected = false;
    this.reconnecting = false;
    this.agent = null;
    this.agentState = undefined;
    this.over = false;
    this.ending = false; // finish() has begun: the protocol's last words are on their way
    this.agentTimer = 0;
    this.agentJoinTimeoutS = 0; // (joined)
    this.giveUpTimer = 0; // (setReconnecting)
    this.protocol = null; // the call's protocol adapter, once the call (and its provider) is known
    this.listen();
    this.unwatchNetwork = this.watchNetwork();
    this.leaveWithPage = () => this.hangUp(this.agent ? 'hangup' : 'cancelled');
    window.addEventListener('pagehide', this.leaveWithPage);
  }

  /** The call state as the page shows it (before it is over). */
  get phase() {
    if (this.reconnecting) return 'reconnecting';
    if (!this.micReady) return this.micWaits ? 'connecting' : 'requesting-mic';
    if (!this.connected) return 'connecting';
    return this.agent ? 'in-call' : 'waiting-agent';
  }

  /**
   * Opens the microphone (`micDeviceId`, if the caller picked one) while the call is requested,
   * then joins the room it names. With `serverUrl` known up front (self-hosted LiveKit), the
   * connection to the server is warmed up while the token is on its way. Given `micAfter` (a
   * Promise: the bot check still to pass), the microphone opens once it has resolved.
   */
  join(session, agentJoinTimeoutS, micDeviceId, serverUrl, micAfter = null) {
    const { room } = this;
    if (serverUrl) room.prepareConnection(serverUrl).catch(() => {});
    const capture = micDeviceId ? { deviceId: micDeviceId } : undefined;
    this.micWaits = Boolean(micAfter);
    const afterCheck = () => {
      this.micWaits = false;
      if (this.over) return null;
      this.update();
      return this.openMicrophone(capture);
    };
    // A failed check fails the call's request, which says why.
    const opened = micAfter ? micAfter.then(afterCheck, () => null) : this.openMicrophone(capture);
    const entered = session.then((call) => this.enter(call));
    entered.then((inRoom) => inRoom && this.joined(agentJoinTimeoutS)).catch((err) => this.finish(joinFailure(err)));
    opened
      .catch((err) => {
        // livekit-client drops a microphone that waited 15 s for the room (PublishTrackError,
        // 408): after a slow answer, it opens again once the room is entered.
        if (err?.status !== 408 || this.over) throw err;
        return entered.then((inRoom) => (inRoom && !this.over ? this.openMicrophone(capture) : null), () => null);
      })
      .then((pub) => pub?.track && this.report('mic', pub.track))
      .catch((err) => this.finish(micFailure(err)));
    this.update();
  }

  /**
   * Speaks the protocol of the call's provider, then connects (an adapter listens before the
   * first message can arrive); resolves whether the room was entered while the call lasts.
   */
  async enter(call) {
    if (this.over) return false;
    const adapter = await loadProtocol(call.provider);
    if (this.over) return false;
    this.protocol = adapter(this.room, this.protocolHooks(), call);
    this.report('abilities', { chat: Boolean(this.protocol.sendChat) });
    await this.room.connect(call.livekit.url, call.livekit.token);
    return !this.over;
  }

  /** In the room: says so, and looks for the agent. */
  joined(agentJoinTimeoutS) {
    this.connected = true;
    this.agentJoinTimeoutS = agentJoinTimeoutS;
    this.report('connected');
    this.room.remoteParticipants.forEach((p) => this.considerAgent(p));
    this.waitForAgent();
    this.update();
  }

  /** Gives the agent, not there yet, `agentJoinTimeoutS` to join. */
  waitForAgent() {
    if (this.agent || this.over || !this.agentJoinTimeoutS) return;
    const giveUp = () => this.finish({ code: 'agent-timeout' });
    this.agentTimer = setTimeout(giveUp, this.agentJoinTimeoutS * 1000);
  }

  /** What the protocol reports, passed on while the call lasts; a state only when it changes. */
  protocolHooks() {
    return {
      agentState: (state) => {
        if (state === this.agentState) return;
        this.agentState = state;
        if (this.agent) this.report('agentState', state); // else told once the agent is (below)
      },
      line: (line) => this.report('line', line),
      drop: (id) => this.report('drop', id),
      toolCall: (call) => this.report('toolCall', call),
    };
  }

  /** Publishes the microphone as `mic` says (see the constructor); resolves with its publication. */
  async openMicrophone(capture) {
    const local = this.room.localParticipant;
    if (this.mic === 'none') return null;
    if (this.mic === 'open') return local.setMicrophoneEnabled(true, capture, { preConnectBuffer: true });
    // Push-to-talk: muted before it is published, so not a sound goes out until the button is held.
    const [track] = await local.createTracks({ audio: capture ?? true });
    await track.mute();
    if (this.over) return track.stop();
    try {
      return await local.publishTrack(track);
    } catch (error) {
      track.stop(); // ours, not yet the room's: nothing else would let the microphone go
      throw error;
    }
  }

  /** Leaves the room; `reason` ends up in the webcall:end event. */
  hangUp(reason = 'hangup') {
    this.finish({ reason });
  }

  /** Mutes or unmutes the published microphone; the muted hook confirms. */
  setMuted(muted) {
    if (muted) this.micEnded = false; // the caller's own mute, even of a microphone that just ended
    return this.room.localParticipant.setMicrophoneEnabled(!muted);
  }

  /** Sends a typed message to the agent; resolves once it is sent (rejects: no chat here). */
  sendChat(text) {
    if (this.protocol?.sendChat) return this.protocol.sendChat(text);
    return Promise.reject(new Error('This agent reads no typed messages.'));
  }

  /** Tells the agent `text` in the background; resolves whether it was sent. */
  async sendContext(text) {
    if (!this.connected || this.over || !this.protocol?.sendContext) return false;
    return (await this.protocol.sendContext(text)) !== false;
  }

  /** Answers the agent's tool call `id`; false when no such call is waiting. */
  answerToolCall(id, result, isError) {
    if (this.over || !this.protocol?.answerToolCall) return false;
    return this.protocol.answerToolCall(id, result, isError);
  }

  /** The device in use for `kind` (audioinput, audiooutput), if known. */
  activeDevice(kind) {
    return this.room.getActiveDevice(kind);
  }

  /** Moves the microphone or the agent's voice to another device, mid-call. */
  async switchDevice(kind, deviceId) {
    await this.room.switchActiveDevice(kind, deviceId);
  }

  /** Retries audio playback after the browser blocked it; needs a click. */
  resumeAudio() {
    return this.room.startAudio();
  }

  /** Passes an event to the page while the call lasts; afterwards only clean-up gets through. */
  report(hook, ...args) {
    if (!this.over) this.hooks[hook](...args);
  }

  /** Turns the Room's events into hooks and phases. */
  listen() {
    const { room } = this;
    const local = room.localParticipant;
    room
      .on(RoomEvent.ParticipantConnected, (p) => this.considerAgent(p))
      .on(RoomEvent.ParticipantDisconnected, (p, reason) => {
        if (p === this.agent) queueMicrotask(() => this.agentGone(reason));
      })
      .on(RoomEvent.ParticipantAttributesChanged, (_changed, p) => {
        if (p !== this.agent) this.considerAgent(p); // the agent's own changes: the protocol's
      })
      .on(RoomEvent.TrackSubscribed, (track) => {
        if (track.kind === Track.Kind.Audio) this.report('audio', track, true);
        if (track.kind === Track.Kind.Video) this.report('video', track, true);
      })
      .on(RoomEvent.TrackUnsubscribed, (track) => {
        // Not through report(): a track that goes away is cleaned up even after the end.
        if (track.kind === Track.Kind.Audio) this.hooks.audio(track, false);
        if (track.kind === Track.Kind.Video) this.hooks.video(track, false);
      })
      .on(RoomEvent.LocalTrackPublished, (pub) => {
        if (pub.source !== MIC || !pub.track) return;
        this.report('mic', pub.track);
        // A new MediaStreamTrack to meter whenever livekit-client restarts the microphone: another
        // one picked (at once, or at unmute when picked while muted), or the device unplugged.
        pub.track
          .on(TrackEvent.Restarted, (track) => {
            this.micEnded = false;
            this.report('mic', track);
          })
          // The device went away (unplugged, or taken by the system): livekit-client tries the
          // default one, and mutes the microphone when it can't (the muted hook's `lost`).
          .on(TrackEvent.Ended, () => (this.micEnded = true));
      })
      .on(RoomEvent.TrackMuted, (pub, p) => {
        if (p === local && pub.source === MIC) this.report('muted', true, this.micEnded);
      })
      .on(RoomEvent.TrackUnmuted, (pub, p) => {
        if (p === local && pub.source === MIC) this.report('muted', false);
      })
      .on(RoomEvent.AudioPlaybackStatusChanged, () => this.report('playback', room.canPlaybackAudio))
      // A device picked, or one livekit-client moved to by itself (plugged in or out, the
      // system's default changed): for the pickers.
      .on(RoomEvent.ActiveDeviceChanged, (kind, deviceId) => this.report('device', kind, deviceId))
      // LiveKit scores each participant's connection from the loss and jitter it measures on the
      // media (a new score at most every 5 s): the caller's own, for the panel's warning.
      .on(RoomEvent.ConnectionQualityChanged, (quality, p) => p === local && this.report('quality', quality))
      .on(RoomEvent.SignalReconnecting, () => this.setReconnecting(true))
      .on(RoomEvent.Reconnecting, () => this.setReconnecting(true))
      .on(RoomEvent.Reconnected, () => this.setReconnecting(false))
      .on(RoomEvent.Disconnected, (reason) => {
        if (NORMAL_ENDS.has(reason)) this.finish({ reason: NORMAL_ENDS.get(reason) });
        else this.finish({ code: this.connected ? 'connection-lost' : 'connection-failed' });
      });
    local.on(ParticipantEvent.AudioStreamAcquired, () => {
      this.micReady = true;
      // A microphone granted after the call already failed must not stay open.
      if (this.over) setTimeout(() => releaseMicrophone(room));
      else this.update();
    });
  }

  /**
   * Takes the first participant the protocol calls the agent. The protocol follows it before the
   * page hears of it, so what a host page sends on webcall:agent-joined goes after what the
   * protocol must send first.
   */
  considerAgent(p) {
    if (this.over || this.agent || !this.protocol?.isAgent(p)) return;
    clearTimeout(this.agentTimer);
    this.protocol.follow(p);
    this.agent = p;
    this.report('agent', p);
    // The state the protocol found while following comes after the agent itself.
    if (this.agentState !== undefined) this.report('agentState', this.agentState);
    this.update();
  }

  /**
   * The agent left the room, or seemed to: when LiveKit cannot resume a connection (or the
   * server asks for it), livekit-client leaves and joins again, and first drops every
   * participant, then says it is reconnecting (hence the microtask before this runs). Leaving
   * ends the agent's side (LiveKit's agents and ours close their session when the caller
   * leaves), so the conversation cannot go on: the connection was lost, and Try again is the
   * way back. The agent did not end the call. Nor did it when LiveKit says why it went, and
   * that is a failure (`reason`: its connection timed out, its process died, it hit an error).
   */
  agentGone(reason) {
    if (this.room.state === ConnectionState.Reconnecting) this.finish({ code: 'connection-lost' });
    else if (AGENT_FAILURES.has(reason)) this.finish({ code: 'agent-lost' });
    else this.finish({ reason: 'agent-left' });
  }

  /**
   * The browser knows at once when it goes offline, LiveKit only once its pings go unanswered
   * (about 15 s): say "reconnecting" straight away. LiveKit's own reconnection goes on; back
   * online, it usually reconnects (its events end the state); if a moment later it is still
   * connected without, the connection held. Returns a function that stops watching.
   */
  watchNetwork() {
    let settle = 0;
    const offline = () => {
      clearTimeout(settle);
      if (this.connected) this.setReconnecting(true);
    };
    const online = () => {
      clearTimeout(settle);
      settle = setTimeout(() => {
        if (this.reconnecting && this.room.state === ConnectionState.Connected) this.setReconnecting(false);
      }, ONLINE_SETTLE_MS);
    };
    window.addEventListener('offline', offline);
    window.addEventListener('online', online);
    return () => {
      clearTimeout(settle);
      window.removeEventListener('offline', offline);
      window.removeEventListener('online', online);
    };
  }

  /**
   * LiveKit lost the connection (`on`) or got it back. The page gives up by itself
   * RECONNECT_GIVE_UP_MS after it began saying so: livekit-client asks its policy (above) only
   * between attempts, and an attempt may take 15 s more ("reconnecting" lasted up to 37 s).
   * Meanwhile the wait for the agent stops: livekit-client holds the agent's arrival back while
   * it reconnects, and the caller's outage is not the agent's failure to join (back in the room,
   * the wait starts again, whole).
   */
  setReconnecting(on) {
    if (on && !this.reconnecting) {
      this.giveUpTimer = setTimeout(() => this.finish({ code: 'connection-lost' }), RECONNECT_GIVE_UP_MS);
      clearTimeout(this.agentTimer);
    } else if (!on && this.reconnecting) {
      clearTimeout(this.giveUpTimer);
      this.waitForAgent();
    }
    this.reconnecting = on;
    this.update();
  }

  /** Tells the page the phase, which every change above may have moved. */
  update() {
    this.report('phase', this.phase);
  }

  /** Ends the call once: frees the microphone, leaves the room, reports `outcome`. */
  finish(outcome) {
    if (this.ending) return; // (over is set only below)
    // The protocol's last lines (all final now) still reach the page, before the end.
    this.ending = true;
    this.protocol?.stop?.();
    this.over = true;
    clearTimeout(this.agentTimer);
    clearTimeout(this.giveUpTimer);
    this.unwatchNetwork();
    window.removeEventListener('pagehide', this.leaveWithPage);
    releaseMicrophone(this.room);
    this.room.disconnect().catch(() => {});
    releaseAudio(this.room, this.audioUnlocked);
    this.hooks.end(outcome);
  }
}

/**
 * Closes the AudioContext that startAudio() opened in the click. livekit-client closes it when a
 * room it connected disconnects; a room that never connected (the call refused, the check or the
 * microphone failed, hung up while joining) kept it running: one more per failed call.
 */
function releaseAudio(room, unlocked) {
  unlocked.then(() => {
    if (room.state === ConnectionState.Disconnected) room.audioContext?.close().catch(() => {});
  });
}

/**
 * Stops every microphone track of the room, published or not. livekit-client keeps a track that
 * waits for the signal connection in a private map and drops it only after 15 s; a call that
 * failed before connecting must free the microphone at once.
 */
function releaseMicrophone(room) {
  const local = room.localParticipant;
  local.audioTrackPublications.forEach((pub) => pub.track?.stop());
  local.pendingPublishPromises?.forEach((_publication, track) => track.stop());
}

/** getUserMedia's error names → our error codes; anything else failed while publishing. */
function micFailure(err) {
  const name = err?.name;
  if (dismissed(err)) return { code: 'mic-dismissed' };
  if (name === 'NotAllowedError' || name === 'SecurityError') return { code: 'mic-denied' };
  if (name === 'NotFoundError' || name === 'OverconstrainedError') return { code: 'mic-missing' };
  if (name === 'NotReadableError' || name === 'AbortError') return { code: 'mic-busy' };
  if (!navigator.mediaDevices?.getUserMedia) return { code: 'mic-unsupported' };
  return { code: 'connection-failed' };
}

/** A failed call request keeps the API's code and words; a failed room.connect is ours. */
function joinFailure(err) {
  if (err instanceof ApiError) {
    return { code: err.code, message: err.message, retryAfterS: err.retryAfterS, requestId: err.requestId };
  }
  return { code: 'connection-failed' };
}
