/**
 * The caller's camera, for agents that see (`camera = "optional"` or `"on"`): the Camera toggle,
 * a preview (mirrored, like a mirror, for a camera facing you; as the agent sees it for a phone's
 * back camera or a document camera, so what you point it at reads the right way) and the camera
 * picker (devices.js). The camera is asked for only when it is turned on (with "on", when the
 * call starts), published for one viewer (no simulcast) at most 960×540, and a camera that can't
 * start says why in the words the microphone uses. One that stops by itself mid-call (unplugged,
 * or taken by the system) is said too, and Camera then starts a camera that is there.
 * webcall:video-started and webcall:video-stopped ({source: "camera"}) tell the host page.
 */
const CAMERA_PROBLEMS = [
  'camera-denied',
  'camera-dismissed',
  'camera-missing',
  'camera-busy',
  'camera-failed',
  'camera-lost',
];

/** getUserMedia's error names → our error codes (messages.js has their words). */
function cameraProblem(error, dismissed) {
  const name = error?.name;
  if (dismissed(error)) return 'camera-dismissed';
  if (name === 'NotAllowedError' || name === 'SecurityError') return 'camera-denied';
  if (name === 'NotFoundError' || name === 'OverconstrainedError') return 'camera-missing';
  if (name === 'NotReadableError' || name === 'AbortError') return 'camera-busy';
  return 'camera-failed';
}

/** The Camera control of `panel` (call-panel.js); see media/extras.js for the shape. */
export function create(panel, livekit) {
  const { RoomEvent, Track, VideoPresets, facingModeFromLocalTrack, publishCaptured, stopCapturing, dismissed } =
    livekit;
  const capture = VideoPresets.h540; // 960×540, 25 fps, 800 kbit/s: plenty for a vision model
  return new CameraControl(panel, {
    RoomEvent,
    TrackEvent: livekit.TrackEvent,
    facingModeFromLocalTrack,
    publishCaptured,
    stopCapturing,
    dismissed,
    source: Track.Source.Camera,
    resolution: capture.resolution,
    // One viewer (the agent): simulcast's smaller copies would cost upload for nobody.
    publish: { simulcast: false, videoEncoding: capture.encoding },
  });
}

class CameraControl {
  constructor(panel, sdk) {
    this.sdk = sdk;
    this.panel = panel;
    this.button = panel.find('camera');
    this.preview = panel.find('self-view');
    this.room = null; // the LiveKit Room of the call in progress
    this.shown = null; // the local camera track in the preview
    this.capturing = null; // stops the camera while it is being published (capture.js)
    this.onClick = () => this.toggle();
    this.sync = () => this.showState();
    this.onPublished = (pub) => this.watch(pub);
    this.watched = new WeakSet(); // camera tracks watched for their end (published again on a reconnect)
    this.button.addEventListener('click', this.onClick);
  }

  /**
   * A call started: follow its camera, and turn it on for `camera = "on"` once the room is
   * entered: livekit-client drops a track that waits 15 s for its room (a slow answer), and the
   * camera is not asked for before a bot check the microphone waits for.
   */
  begin(session) {
    const room = (this.room = session.room.room);
    this.events.forEach((event) => room.on(event, this.sync));
    room.on(this.sdk.RoomEvent.LocalTrackPublished, this.onPublished);
    if (this.panel.config.media.camera !== 'on') return;
    if (room.state === 'connected') this.set(true);
    else room.once(this.sdk.RoomEvent.Connected, () => this.room === room && this.set(true));
  }

  /** The call ended: the room stopped the camera (this, one still publishing); the preview goes. */
  end() {
    this.sdk.stopCapturing(this);
    this.events.forEach((event) => this.room?.off(event, this.sync));
    this.room?.off(this.sdk.RoomEvent.LocalTrackPublished, this.onPublished);
    this.room = null;
    this.showState();
  }

  /** The room's events that may turn the camera on or off, or change it (the picker). */
  get events() {
    const { LocalTrackPublished, LocalTrackUnpublished, TrackMuted, TrackUnmuted, ActiveDeviceChanged } =
      this.sdk.RoomEvent;
    return [LocalTrackPublished, LocalTrackUnpublished, TrackMuted, TrackUnmuted, ActiveDeviceChanged];
  }

  destroy() {
    this.button.removeEventListener('click', this.onClick);
  }

  /** The camera's publication, when it is on. */
  get live() {
    const pub = this.room?.localParticipant.getTrackPublication(this.sdk.source);
    return pub?.track && !pub.isMuted ? pub : null;
  }

  /** Camera: on when off, off when on. */
  toggle() {
    if (this.room && !this.button.hasAttribute('data-busy')) this.set(!this.live);
  }

  /** Turns the camera on or off; a camera that can't start is said, and the call goes on. */
  async set(on) {
    const { room, panel } = this;
    this.button.toggleAttribute('data-busy', true); // until the browser answers
    try {
      const pub = room.localParticipant.getTrackPublication(this.sdk.source);
      if (on && !pub) {
        await this.capture(room);
      } else {
        // Mutes or unmutes it. Turned off, then unplugged (a camera off is stopped: no end to
        // hear), unmuting asked for it again: "No camera was found", with another one there.
        await room.localParticipant.setCameraEnabled(on, this.options, this.sdk.publish).catch(async (error) => {
          if (!on || !pub.track || cameraProblem(error, this.sdk.dismissed) !== 'camera-missing') throw error;
          await this.drop(pub.track);
          await this.capture(room);
        });
      }
      if (on && this.room === room) {
        CAMERA_PROBLEMS.forEach((code) => panel.ui.clearError(code)); // an earlier attempt's
        const active = (kind) => room.getActiveDevice(kind);
        panel.devices.mark({ audioinput: active('audioinput'), videoinput: active('videoinput') });
      }
    } catch (error) {
      if (this.room === room) this.fail(error);
    } finally {
      this.button.removeAttribute('data-busy');
      this.showState();
    }
  }

  /** Says why the camera didn't start (webcall:error too); the call is not affected. */
  fail(error) {
    const code = cameraProblem(error, this.sdk.dismissed);
    this.panel.emit('error', { code, message: this.panel.ui.showError(code) });
  }

  /**
   * A camera just published is watched for the end of its device (unplugged, or taken by the
   * system). livekit-client then asks for that same device again (exactly, once one was picked)
   * and, when it is gone, mutes the camera without a word; unmuting asks for it once more, so
   * Camera said "No camera was found" for the rest of the call, even with another one there.
   */
  watch(pub) {
    if (pub.source !== this.sdk.source || !pub.track || this.watched.has(pub.track)) return;
    this.watched.add(pub.track);
    const { Ended, Restarted, Muted } = this.sdk.TrackEvent;
    const { room } = this;
    let ended = false;
    pub.track
      .on(Ended, () => (ended = true))
      .on(Restarted, () => (ended = false)) // it found a camera again
      .on(Muted, () => ended && this.room === room && this.lost(pub.track));
  }

  /**
   * The camera stopped by itself: said (webcall:error too), and its publication is dropped, so
   * the next Camera captures anew (the remembered camera if it is still there, else the
   * system's). The call goes on.
   */
  lost(track) {
    this.drop(track).catch(() => {});
    this.panel.emit('error', { code: 'camera-lost', message: this.panel.ui.showError('camera-lost') });
  }

  /** The camera's capture: the remembered camera while it is plugged in, else the system's. */
  get options() {
    return { resolution: this.sdk.resolution, deviceId: this.panel.devices.preferred('videoinput') };
  }

  /**
   * Captures and publishes the camera: the first time, or after one was dropped. Here, so that a
   * call ending meanwhile stops it (capture.js).
   */
  async capture(room) {
    const tracks = await room.localParticipant.createTracks({ video: this.options });
    await this.sdk.publishCaptured(this, room, tracks, { ...this.sdk.publish, source: this.sdk.source });
  }

  /**
   * Unpublishes and stops a camera whose device went away, so that the next one is captured
   * anew. A camera picked in this call is also livekit-client's default for new ones (exactly
   * that one, with no second try): it is not asked for again. The picker still remembers it.
   */
  drop(track) {
    this.room.options.videoCaptureDefaults.deviceId = undefined;
    // Gone from the participant at once (a press meanwhile captures anew); the renegotiation
    // after it is the connection's business, which the room follows.
    return this.room.localParticipant.unpublishTrack(track, true);
  }

  /** The button, the preview and the events follow the camera's publication. */
  showState() {
    const pub = this.live;
    this.button.setAttribute('aria-pressed', String(Boolean(pub)));
    // Mirrored unless the camera faces away (a device that says nothing is taken to face you).
    if (pub) this.preview.dataset.facing = this.sdk.facingModeFromLocalTrack(pub.track).facingMode;
    if (pub?.track === this.shown) return;
    if (this.shown) {
      this.shown.detach();
      this.preview.replaceChildren(); // also when the room has detached it already (ended by the server)
      this.shown = null;
      this.preview.hidden = true;
      this.panel.emit('video-stopped', { source: 'camera' });
    }
    if (pub) {
      this.shown = pub.track;
      const player = pub.track.attach();
      player.setAttribute('aria-label', this.panel.t('Your camera'));
      this.preview.replaceChildren(player);
      this.preview.hidden = false;
      this.panel.emit('video-started', { source: 'camera' });
    }
  }
}
