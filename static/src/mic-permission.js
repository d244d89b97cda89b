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

/**
 * Whether getUserMedia failed because the visitor closed the browser's prompt without choosing
 * (Chromium's words; its block says "Permission denied"): asking again will prompt again, so
 * this is not the blocked case, whose fix is in the site settings. Other browsers do not tell.
 */
export function dismissed(error) {
  return error?.name === 'NotAllowedError' && error.message === 'Permission dismissed';
}
