/**
 * The microphone, speaker and camera pickers: filled once the browser names the devices (after
 * microphone or camera access), remembered in this browser, applied to the call in progress.
 * The speaker picker shows only where audio output can be chosen (HTMLMediaElement.setSinkId),
 * the camera picker only for agents that take the camera.
 */

const STORE_PREFIX = 'webcall.device.';
const CAN_PICK_SPEAKER = 'setSinkId' in HTMLMediaElement.prototype;

export class DevicePickers {
  /**
   * selects: {audioinput, audiooutput, videoinput} <select> elements, null for a kind the page
   * does not offer; fields: {audiooutput, videoinput} the labels around those selects, hidden
   * while there is nothing to choose; onPick(kind, deviceId) applies a choice;
   * onAvailable(bool) says whether there is any choice.
   */
  constructor({ selects, fields, onPick, onAvailable }) {
    this.kinds = Object.keys(selects).filter((kind) => selects[kind]);
    this.selects = selects;
    this.fields = fields;
    this.onAvailable = onAvailable;
    this.known = { audioinput: [], audiooutput: [], videoinput: [] };
    this.active = {};
    // A device plugged in or out: read them again, still marking what the call uses.
    this.changed = () => this.refresh(this.active);
    this.picked = (event) => {
      const kind = this.kinds.find((k) => selects[k] === event.currentTarget);
      remember(kind, event.currentTarget.value);
      this.active = { ...this.active, [kind]: event.currentTarget.value };
      onPick(kind, event.currentTarget.value);
    };
    for (const kind of this.kinds) selects[kind].addEventListener('change', this.picked);
    navigator.mediaDevices?.addEventListener('devicechange', this.changed);
  }

  /** Re-reads the devices; `active` ({kind: deviceId}) marks what the call uses now. */
  async refresh(active = {}) {
    this.active = active;
    let devices = [];
    try {
      devices = (await navigator.mediaDevices?.enumerateDevices()) || [];
    } catch {
      devices = [];
    }
    active = this.active; // a later refresh's, should they cross (a device plugged in: two)
    for (const kind of this.kinds) {
      // Without access the browser hides the names (and mostly the devices).
      this.known[kind] = devices.filter((d) => d.kind === kind && d.deviceId && d.label);
      // What the call uses, if still plugged in; else the remembered one; else the system's.
      const present = (id) => this.known[kind].some((d) => d.deviceId === id);
      fill(this.selects[kind], this.known[kind], [active[kind], this.preferred(kind), 'default'].find(present));
    }
    const offered = (kind) =>
      this.kinds.includes(kind) && this.known[kind].length > 0 && (kind !== 'audiooutput' || CAN_PICK_SPEAKER);
    for (const [kind, field] of Object.entries(this.fields)) {
      if (field) field.hidden = !offered(kind);
    }
    this.onAvailable(this.kinds.some(offered));
  }

  /**
   * The call uses these devices now ({kind: deviceId}; the other kinds' as marked before): picked,
   * or chosen by livekit-client itself (a camera plugged in and listed first, the default device
   * changed; the browser's `devicechange` comes first). Not remembered: only a pick is.
   */
  mark(inUse) {
    const known = Object.entries(inUse).filter(([, id]) => id);
    this.refresh({ ...this.active, ...Object.fromEntries(known) });
  }

  /** The remembered device for `kind`, if it is still plugged in. */
  preferred(kind) {
    const id = recall(kind);
    return this.known[kind]?.some((d) => d.deviceId === id) ? id : undefined;
  }

  destroy() {
    for (const kind of this.kinds) this.selects[kind].removeEventListener('change', this.picked);
    navigator.mediaDevices?.removeEventListener('devicechange', this.changed);
  }
}

function fill(select, devices, selectedId) {
  const options = devices.map((d) => new Option(d.label, d.deviceId));
  select.replaceChildren(...options);
  if (devices.some((d) => d.deviceId === selectedId)) select.value = selectedId;
}

function remember(kind, id) {
  try {
    localStorage.setItem(STORE_PREFIX + kind, id);
  } catch {
    // Storage may be off (private mode, sandboxed frames): the choice lasts for this page only.
  }
}

function recall(kind) {
  try {
    return localStorage.getItem(STORE_PREFIX + kind);
  } catch {
    return null;
  }
}
