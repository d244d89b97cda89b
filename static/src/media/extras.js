/**
 * What a call may have beyond the voice, each in a module of its own that esbuild puts in its
 * own chunk: the browser downloads one only when the agent's config (page_config.media) turns
 * it on, and the agent's video tile only when a video track actually arrives. The call page of
 * a voice-only agent loads none of them.
 *
 * A control module exports `create(panel, livekit)` returning {begin(session), end(session),
 * destroy()}: it binds its buttons once, and works on each call's room between begin and end.
 */
import { RoomEvent, RpcError, ScreenSharePresets, Track, TrackEvent, VideoPresets } from 'livekit-client';

// The names of livekit-client the modules use, handed to them instead of imported: a module
// importing livekit-client would make esbuild split it out of the page's one chunk (shared
// with the lazy ones), and the first load would pay a request and some compression for it.
const LIVEKIT = { RoomEvent, RpcError, ScreenSharePresets, Track, TrackEvent, VideoPresets };

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
    this.controls = Promise.all(loading).then((controls) => controls.filter(Boolean));
    this.tile = null; // Promise of the agent's video tile, once a video track came
  }

  /** A call started: each control takes its room (once loaded, if the call still runs). */
  begin(session) {
    this.session = session;
    this.controls.then((controls) => {
      if (this.session === session) controls.forEach((control) => control.begin(session));
    });
  }

  /** The call ended: controls let go of its room; the agent's video goes. */
  end(session) {
    if (this.session !== session) return;
    this.session = null;
    this.controls.then((controls) => controls.forEach((control) => control.end(session)));
    this.tile?.then((tile) => tile?.clear());
  }

  /** The room subscribed to a video track (the agent's avatar), or dropped one. */
  video(track, subscribed) {
    const { panel } = this;
    if (!panel.config.media?.agent_video) return;
    this.tile ||= import('./agent-video.js')
      .then((module) => module.create(panel, LIVEKIT))
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
