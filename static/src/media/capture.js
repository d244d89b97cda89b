/**
 * Publishing what the browser captured for a call (a camera, a screen), and no longer than the
 * call. livekit-client's set…Enabled() publishes too, but a call that ends while the browser asks
 * (its permission prompt, the screen picker) leaves the tracks it gets capturing until their
 * publication times out, 15 s later: the camera's light on, the screen shared, after the caller
 * hung up. Here they stop as soon as the call is over.
 */

/**
 * Publishes `tracks` (just captured for `control`'s call in `room`) with `options`. When the
 * call ended meanwhile they stop at once; while they publish, `control.end()` stops them
 * through `stopCapturing(control)`.
 */
export async function publishCaptured(control, room, tracks, options) {
  const stop = () => tracks.forEach((track) => track.stop());
  if (control.room !== room) return stop();
  control.capturing = stop;
  try {
    await Promise.all(tracks.map((track) => room.localParticipant.publishTrack(track, options)));
  } catch (error) {
    stop();
    throw error;
  } finally {
    if (control.capturing === stop) control.capturing = null;
  }
}

/** The call of `control` ended: what it was still publishing stops. */
export function stopCapturing(control) {
  control.capturing?.();
  control.capturing = null;
}
