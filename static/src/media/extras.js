/**
 * What a call may have beyond the voice, each in a module of its own that esbuild puts in its
 * own chunk: the browser downloads one only when the agent's config (page_config.media) turns
 * it on, and the agent's video tile only when a video track actually arrives. The call page of
 * a voice-only agent loads none of them.
 *
 * A control module exports `create(panel, livekit)` returning {begin(session), end(session),
 * destroy()}: it binds its buttons once, and works on each call's room between begin and end.
 */
import {
  RoomEvent,
  RpcError,
  ScreenSharePresets,
  Track,
  TrackEvent,
  VideoPresets,
  facingModeFromLocalTrack,
} from 'livekit-client';
import { dismissed } from '../mic-permission.js';
import { publishCaptured, stopCapturing } from './capture.js';

// The names of livekit-client (and of capture.js and mic-permission.js) the modules use, handed
// to them instead of imported: a module importing livekit-client would make esbuild split it out
// of the page's one chunk (shared with the lazy ones), and the first load would pay a request and
// some compression for it; capture.js, imported by two lazy modules, would be a chunk of its own,
// one more fetch after theirs (and mic-permission.js, imported by the page too, likewise).
const LIVEKIT = {
  RoomEvent,
  RpcError,
  ScreenSharePresets,
  Track,
  TrackEvent,
  VideoPresets,
  facingModeFromLocalTrack,
  publishCaptured,
  stopCapturing,
  dismissed,
};

const LOADERS = {
  camera: () => import('./camera.js'),
  screenShare: () => import('./screen-share.js'),
  pushToTalk: () => import('./push-to-talk.js'),
  textOnly: () => import('./text-only.js'),
};

/** The control modules `media` ({camera, screen_share, push_to_talk, text_only}) asks for. */
function wanted(media) {
  return [
    media.camera && media.camera !== 'off' && LOADERS.camera,
    media.screen_share && LOADERS.screenShare,
    media.push_to_talk && LOADERS.pushToTalk,
    ['allowed', 'only'].includes(media.text_only) && LOADERS.textOnly,
  ].filter(Boolean);
}

export class MediaExtras {
  /** Starts loading the modules the panel's agent uses (call-panel.js), before any call. */
  constructor(panel) {
    this.panel = panel;
    this.session = null; // the call in progress
    // One that fails to load (offline, say) leaves the others working.
    const loading = wanted(panel.config.media || {}).map((load) =>
      load()
        .then((module) => module.create(panel, LIVEKIT))
        .catch((error) => console.error('webcall: a media control failed to load', error)),
    );
    this.controls = Promise.all(loading).then((controls) => (this.loaded = controls.filter(Boolean)));
    this.loaded = null; // the controls, once loaded
    this.tile = null; // Promise of the agent's video tile, once a video track came
    this.shownTile = null; // the tile, once loaded
  }

  /** A call started: each control takes its room (once loaded, if the call still runs). */
  begin(session) {
    this.session = session;
    this.controls.then((controls) => {
      if (this.session === session) controls.forEach((control) => control.begin(session));
    });
  }

  /**
   * The call ended: controls let go of its room; the agent's video goes. At once when loaded,
   * so that what they say on the way (webcall:video-stopped, push-to-talk) comes before the end.
   */
  end(session) {
    if (this.session !== session) return;
    this.session = null;
    const release = (controls) => controls.forEach((control) => control.end(session));
    if (this.loaded) release(this.loaded);
    else this.controls.then(release);
    if (this.shownTile) this.shownTile.clear();
    else this.tile?.then((tile) => tile?.clear());
  }

  /** The room subscribed to a video track (the agent's avatar), or dropped one. */
  video(track, subscribed) {
    const { panel } = this;
    if (!panel.config.media?.agent_video) return;
    this.tile ||= import('./agent-video.js')
      .then((module) => (this.shownTile = module.create(panel, LIVEKIT)))
      .catch((error) => {
        console.error("webcall: the agent's video failed to load", error);
        return null;
      });
    this.tile.then((tile) => (subscribed ? tile?.show(track) : tile?.remove(track)));
  }

  /** The panel goes away. */
  destroy() {
    this.controls.then((controls) => controls.forEach((control) => control.destroy()));
  }
}
