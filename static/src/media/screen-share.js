/**
 * Screen share, for agents that look at what the caller shows (`screen_share = true`): the
 * "Share screen" toggle, shown where the browser can share a screen (ui.js). The browser's own
 * "Stop sharing" ends the track; livekit-client then unpublishes it and the button follows.
 * Published for one viewer (no simulcast), at most 1080p at 15 frames a second, tuned for text.
 * webcall:video-started and webcall:video-stopped ({source: "screen"}) tell the host page.
 */
/** The screen-share control of `panel` (call-panel.js); see media/extras.js for the shape. */
export function create(panel, { RoomEvent, ScreenSharePresets, Track, publishCaptured, stopCapturing }) {
  const preset = ScreenSharePresets.h1080fps15;
  return new ScreenShareControl(panel, {
    RoomEvent,
    publishCaptured,
    stopCapturing,
    source: Track.Source.ScreenShare,
    capture: { audio: false, resolution: preset.resolution, contentHint: 'detail', selfBrowserSurface: 'exclude' },
    publish: { simulcast: false, screenShareEncoding: preset.encoding },
  });
}

class ScreenShareControl {
  constructor(panel, sdk) {
    this.sdk = sdk;
    this.panel = panel;
    this.button = panel.find('screen-share');
    this.room = null;
    this.sharing = false;
    this.capturing = null; // stops the screen while it is being published (capture.js)
    this.onClick = () => this.toggle();
    this.onPublished = (pub) => pub.source === sdk.source && this.showState();
    this.button.addEventListener('click', this.onClick);
  }

  begin(session) {
    const { LocalTrackPublished, LocalTrackUnpublished } = this.sdk.RoomEvent;
    this.room = session.room.room;
    this.room.on(LocalTrackPublished, this.onPublished).on(LocalTrackUnpublished, this.onPublished);
  }

  end() {
    this.sdk.stopCapturing(this);
    const { LocalTrackPublished, LocalTrackUnpublished } = this.sdk.RoomEvent;
    this.room?.off(LocalTrackPublished, this.onPublished).off(LocalTrackUnpublished, this.onPublished);
    this.room = null;
    this.showState();
  }

  destroy() {
    this.button.removeEventListener('click', this.onClick);
  }

  /** Share screen: starts sharing (the browser asks what to share), or stops. */
  async toggle() {
    const { room, panel } = this;
    if (!room || this.button.hasAttribute('data-busy')) return;
    this.button.toggleAttribute('data-busy', true); // until the browser answers
    try {
      const { localParticipant } = room;
      if (this.sharing) {
        await localParticipant.setScreenShareEnabled(false);
      } else {
        // Captured here, so that a call ending while the browser's picker is open stops it.
        const tracks = await localParticipant.createScreenTracks(this.sdk.capture);
        await this.sdk.publishCaptured(this, room, tracks, this.sdk.publish);
      }
    } catch (error) {
      if (this.room !== room) return; // the call ended meanwhile: nothing to say
      // Cancelling the browser's picker is a choice, not a failure.
      const cancelled = error?.name === 'NotAllowedError' || error?.name === 'AbortError';
      const { t } = panel;
      panel.ui.announce(cancelled ? t('Screen sharing was cancelled.') : t('Your screen could not be shared.'));
      if (!cancelled) panel.emit('error', { code: 'screen-share-failed', message: t('Your screen could not be shared.') });
    } finally {
      this.button.removeAttribute('data-busy');
      this.showState();
    }
  }

  /** The button and the events follow the screen share's publication. */
  showState() {
    const sharing = Boolean(this.room?.localParticipant.getTrackPublication(this.sdk.source)?.track);
    this.button.setAttribute('aria-pressed', String(sharing));
    if (sharing === this.sharing) return;
    this.sharing = sharing;
    const { t } = this.panel;
    this.panel.ui.announce(sharing ? t('You are sharing your screen.') : t('You stopped sharing your screen.'));
    this.panel.emit(sharing ? 'video-started' : 'video-stopped', { source: 'screen' });
  }
}
