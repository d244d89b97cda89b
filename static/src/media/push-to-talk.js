/**
 * Push-to-talk (`push_to_talk = true`): the microphone, published muted (room.js), is open only
 * while the caller holds the button or the Space key, and each turn is told to the agent through
 * the RPC methods of livekit-agents' manual turn detection: `start_turn` on press, `end_turn` on
 * release (`cancel_turn` for a press too short to be speech), so the turn ends on release, not
 * after a silence. Space counts unless the caller is typing or on another control; a click that
 * is not a hold (Enter, a screen reader) starts a turn and the next one ends it. A press within
 * TAIL_MS of a release (a stutter, a slipped finger) goes on with that turn: its end is called off.
 * webcall:push-to-talk ({talking}) tells the host page.
 */
const MIN_TURN_MS = 250; // a shorter press is a slip: the turn is cancelled
// The microphone closes on release, but its last packets are still on their way (and in the
// agent's jitter buffer): end_turn waits for them, or the turn's last syllable is lost.
const TAIL_MS = 200;
const RPC_TIMEOUT_MS = 5000;
const NATIVE_SPACE = 'input, textarea, select, button, a[href], summary, [role="button"], [contenteditable], [tabindex="0"]';

/** The push-to-talk control of `panel` (call-panel.js); see media/extras.js for the shape. */
export function create(panel, { RpcError }) {
  return new PushToTalk(panel, RpcError);
}

class PushToTalk {
  constructor(panel, RpcError) {
    this.RpcError = RpcError;
    this.panel = panel;
    this.button = panel.find('ptt');
    this.label = panel.find('ptt-label');
    this.session = null; // a voice call in progress
    this.heldBy = null; // 'pointer', 'key' or 'click' while talking
    this.pressedAt = 0; // when the turn started: its first press, if it went on after a release
    this.ending = null; // the timer that ends the released turn, TAIL_MS after the release
    // Each in order: the microphone's switches, and the calls to the agent (a slow answer
    // must not hold the microphone up).
    this.queues = { mic: Promise.resolve(), agent: Promise.resolve() };
    this.warned = false;
    this.listeners = [];
    this.bind();
  }

  /** Pointer and keyboard listeners, for the panel's life; they act only during a voice call. */
  bind() {
    const { button, panel } = this;
    const on = (target, type, listener, capture = false) => {
      target.addEventListener(type, listener, capture);
      this.listeners.push(() => target.removeEventListener(type, listener, capture));
    };
    on(button, 'pointerdown', (event) => {
      if (event.button !== 0) return;
      event.preventDefault(); // no text selection or long-press menu
      button.setPointerCapture?.(event.pointerId);
      this.press('pointer');
    });
    for (const type of ['pointerup', 'pointercancel', 'lostpointercapture']) {
      on(button, type, () => this.heldBy === 'pointer' && this.release());
    }
    // A click with a pointer was a hold (above); one without (Enter, assistive tech) toggles.
    on(button, 'click', (event) => event.detail === 0 && this.toggle());
    on(button, 'contextmenu', (event) => event.preventDefault());
    on(panel.keyTarget, 'keydown', (event) => this.onKey(event, true));
    // Let go wherever the focus went meanwhile: a widget hears only its own keys, and the caller
    // may click the host page while holding Space (the window keeps the focus: no blur).
    on(window, 'keyup', (event) => this.onKey(event, false), true);
    on(window, 'blur', () => this.heldBy && this.heldBy !== 'click' && this.release());
    on(panel.element, 'webcall:state', (event) => this.onState(event.detail.state));
  }

  /** Space held down talks, unless it means something else where the focus is. */
  onKey(event, down) {
    if (event.code !== 'Space' || !this.session || this.button.hidden) return;
    if (down && this.heldBy) {
      event.preventDefault(); // key repeat: no scrolling while talking
      return;
    }
    if (!down) {
      if (this.heldBy === 'key') {
        event.preventDefault();
        this.release();
      }
      return;
    }
    if (event.ctrlKey || event.metaKey || event.altKey || event.repeat) return;
    const focus = event.composedPath()[0];
    if (focus !== this.button && focus.closest?.(NATIVE_SPACE)) return;
    event.preventDefault();
    this.press('key');
  }

  /** In the call: the keyboard goes to the button, so Space talks instead of pressing Hang up. */
  onState(state) {
    if (state !== 'in-call' || !this.session) return;
    if (this.panel.keyboardFree(this.panel.ui.el.hangup)) this.button.focus();
  }

  begin(session) {
    this.session = session.mode === 'voice' ? session : null;
  }

  end() {
    clearTimeout(this.ending); // no end_turn once the call is over
    this.ending = null;
    if (this.heldBy) this.show(null);
    this.session = null;
  }

  destroy() {
    this.listeners.forEach((remove) => remove());
  }

  toggle() {
    if (this.heldBy === 'click') this.release();
    else if (!this.heldBy) this.press('click');
  }

  /** The caller starts talking: the microphone opens and the agent's turn-taking is told. */
  press(how) {
    if (!this.session || this.heldBy || this.button.hidden || !this.micTrack) return;
    this.show(how);
    this.enqueue('mic', () => this.micTrack?.unmute().catch(() => this.session && this.panel.unmuteFailed()));
    if (this.ending) {
      clearTimeout(this.ending); // released a moment ago: the agent is still in that turn
      this.ending = null;
      return;
    }
    this.pressedAt = performance.now();
    this.tell('start_turn');
  }

  /** The caller lets go: the microphone closes and the agent's turn ends (or is cancelled). */
  release() {
    if (!this.heldBy) return;
    const method = performance.now() - this.pressedAt < MIN_TURN_MS ? 'cancel_turn' : 'end_turn';
    this.show(null);
    this.enqueue('mic', () => this.micTrack?.mute());
    this.ending = setTimeout(() => {
      this.ending = null;
      this.tell(method); // on the agent's queue: after the turn's start_turn, however slow
    }, TAIL_MS);
  }

  /**
   * The published microphone (room.js publishes it muted), or null until it is: switched on and
   * off itself, since setMicrophoneEnabled(true) before the publication exists would publish a
   * second, open microphone that a release never closes.
   */
  get micTrack() {
    return this.session?.room.room.localParticipant.getTrackPublication('microphone')?.track ?? null;
  }

  /** Runs `step` after every earlier one in `queue`; a failure does not stop the next. */
  enqueue(queue, step) {
    this.queues[queue] = this.queues[queue].then(step).catch(() => {});
  }

  /** Calls `method` on the agent; an agent without manual turns is said once, and still hears. */
  tell(method) {
    const session = this.session;
    this.enqueue('agent', async () => {
      const agent = session?.room.agent;
      if (!agent || this.session !== session) return;
      try {
        await session.room.room.localParticipant.performRpc({
          destinationIdentity: agent.identity,
          method,
          payload: '',
          responseTimeout: RPC_TIMEOUT_MS,
        });
      } catch (error) {
        const { RpcError } = this;
        const unsupported = error instanceof RpcError && error.code === RpcError.ErrorCode.UNSUPPORTED_METHOD;
        if (unsupported && !this.warned) {
          this.warned = true;
          this.panel.ui.announce(this.panel.t('This agent decides by itself when you have finished talking.'));
        }
      }
    });
  }

  /** The button, the status line and the host page learn who is talking (`how`, or null). */
  show(how) {
    this.heldBy = how;
    const talking = Boolean(how);
    this.button.setAttribute('aria-pressed', String(talking));
    const { t } = this.panel;
    this.label.textContent = talking ? (how === 'click' ? t('Press to send') : t('Release to send')) : t('Hold to talk');
    this.panel.ui.set({ talking: how || false }); // how, for the status line's words
    this.panel.emit('push-to-talk', { talking });
  }
}
