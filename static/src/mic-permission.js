/**
 * Whether this site may already use the microphone (the Permissions API), so the page can say
 * "Starting your microphone…" instead of asking for it, and place no call while it is blocked.
 */

/**
 * Calls `onChange(state)` ('granted', 'denied' or 'prompt') now and whenever the permission
 * changes; `onUnknown()` when the browser can't tell. Returns a function that stops listening.
 */
export function watchMicPermission(onChange, onUnknown) {
  let permission = null;
  navigator.permissions
    ?.query({ name: 'microphone' })
    .then((status) => {
      permission = status;
      const update = () => onChange(status.state);
      update();
      status.onchange = update;
    })
    .catch(() => onUnknown());
  return () => {
    if (permission) permission.onchange = null;
  };
}
