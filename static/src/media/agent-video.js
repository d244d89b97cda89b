/**
 * The agent's video (an avatar): shown in place of the audio visualizer while the agent, or an
 * avatar worker publishing on its behalf, sends a video track; the visualizer returns when the
 * track ends or pauses. The status line keeps saying what the agent is doing. Loaded the first
 * time a video track arrives (media/extras.js). webcall:video-started and webcall:video-stopped
 * ({source: "agent"}) tell the host page.
 */
/** The tile of the panel (call-panel.js) whose markup has #agent-video; `livekit`: see extras.js. */
export function create(panel, { TrackEvent }) {
  return new AgentVideo(panel, TrackEvent);
}

class AgentVideo {
  constructor({ element, find, emit, title, t }, TrackEvent) {
    this.TrackEvent = TrackEvent;
    this.call = element;
    this.box = find('agent-video');
    this.emit = emit;
    this.title = title;
    this.t = t;
    this.track = null; // the track shown, or waiting for its first frame
    this.player = null;
    this.showing = false;
    this.onMuted = () => this.hideTile();
    this.onUnmuted = () => this.showTile();
  }

  /** Shows `track` (the newest video wins), once its first frame is decoded. */
  show(track) {
    if (!this.box) return;
    if (this.track) this.remove(this.track);
    this.track = track;
    const player = track.attach();
    player.className = 'agent-video__frame';
    player.setAttribute('aria-label', this.t('{title}: video', { title: this.title }));
    player.disablePictureInPicture = true;
    this.player = player;
    this.box.replaceChildren(player);
    // Laid out (LiveKit's adaptive stream sends no frames to an element it can't see) but
    // transparent over the visualizer until a frame is there: no black box while it starts.
    this.box.hidden = false;
    const { Muted, Unmuted } = this.TrackEvent;
    track.on(Muted, this.onMuted).on(Unmuted, this.onUnmuted);
    const firstFrame = () => this.track === track && !track.isMuted && this.showTile();
    if (player.requestVideoFrameCallback) player.requestVideoFrameCallback(firstFrame);
    else player.addEventListener('loadeddata', firstFrame, { once: true });
  }

  /** `track` went away: the visualizer comes back. */
  remove(track) {
    if (track !== this.track) return;
    const { Muted, Unmuted } = this.TrackEvent;
    track.off(Muted, this.onMuted).off(Unmuted, this.onUnmuted);
    track.detach(this.player);
    this.player.remove();
    this.track = this.player = null;
    this.hideTile();
    this.box.hidden = true;
  }

  /** The call ended: nothing of the video stays. */
  clear() {
    if (this.track) this.remove(this.track);
  }

  /** The video in place of the orb. */
  showTile() {
    if (this.showing || !this.player) return;
    this.showing = true;
    this.box.toggleAttribute('data-playing', true);
    this.call.toggleAttribute('data-agent-video', true);
    this.emit('video-started', { source: 'agent' });
  }

  /** The orb in place of the video. */
  hideTile() {
    if (!this.showing) return;
    this.showing = false;
    this.box.removeAttribute('data-playing');
    this.call.removeAttribute('data-agent-video');
    this.emit('video-stopped', { source: 'agent' });
  }
}
