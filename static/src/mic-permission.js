/**
 * Whether this site may already use the microphone (the Permissions API), so the page can say
 * "Starting your microphone…" instead of asking for it.
 */

/**
 * Calls `onChange(granted)` now and whenever the permission changes; `onUnknown()` when the
 * browser can't tell. Returns a function that stops listening.
 */
export function watchMicPermission(onChange, onUnknown) {
  let permission = null;
  navigator.permissions
    ?.query({ name: 'microphone' })
    .then((status) => {
      permission = status;
      const update = () => onChange(status.state === 'granted');
      update();
      status.onchange = update;
    })
    .catch(() => onUnknown());
  return () => {
    if (permission) permission.onchange = null;
  };
}
