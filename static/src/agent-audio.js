/**
 * The agent's voice: an <audio> element per subscribed track, attached inside the call UI (a
 * shadow root works) so the agent is heard, and the agent's level meter on the newest track.
 */

export class AgentAudio {
  /** Players go into `container`; `meters` (level-meters.js) shows the level in `levelElement`. */
  constructor(container, meters, levelElement) {
    this.container = container;
    this.meters = meters;
    this.levelElement = levelElement;
    this.players = new Map(); // <audio> → its volumechange listener
    this.metered = null; // the track the meter shows
    this.muted = false;
  }

  /** Silences the agent's voice (or lets it be heard again); the meter keeps showing it. */
  setMuted(muted) {
    this.muted = muted;
    this.players.forEach((_listener, player) => {
      player.muted = muted;
    });
  }

  /** Plays a track the room subscribed to, and meters it. */
  add(track) {
    const player = track.attach();
    player.muted = this.muted;
    // livekit-client's startAudio() (the "Turn on sound" click, and iOS on every return to the
    // page) unmutes every element it attached: the voice toggle decides, not the SDK. (Removed
    // with the player: the SDK hands a detached <audio> to the next track, another call's too.)
    const listener = () => {
      if (player.muted !== this.muted) player.muted = this.muted;
    };
    player.addEventListener('volumechange', listener);
    this.players.set(player, listener);
    this.container.append(player);
    this.metered = track;
    this.meters.watch(this.levelElement, track.mediaStreamTrack);
  }

  /** Stops playing a track the room unsubscribed from. */
  remove(track) {
    for (const player of track.detach()) {
      this.drop(player);
    }
    if (track === this.metered) this.meters.unwatch(this.levelElement);
  }

  /** Plays every paused player; resolves whether all of them play now. */
  playAll() {
    const paused = [...this.players.keys()].filter((player) => player.paused);
    return Promise.all(paused.map((player) => player.play())).then(
      () => true,
      () => false,
    );
  }

  /** Removes every player, at the end of the call. */
  stop() {
    [...this.players.keys()].forEach((player) => this.drop(player));
  }

  /** Takes `player` out of the page and forgets it. */
  drop(player) {
    player.removeEventListener('volumechange', this.players.get(player));
    this.players.delete(player);
    player.remove();
  }
}
