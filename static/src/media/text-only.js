/**
 * A chat instead of a call (`text_only = "allowed"` or `"only"`): the room joins without the
 * microphone (room.js) and the agent's replies arrive as text in the transcript; its voice is
 * optional, off to begin with, and the "Agent's voice" toggle turns it on. The keyboard goes to
 * the message box. webcall:agent-voice ({on}) tells the host page.
 */

/** The chat control of `panel` (call-panel.js); see media/extras.js for the shape. */
export function create(panel) {
  return new TextOnly(panel);
}

class TextOnly {
  constructor(panel) {
    this.panel = panel;
    this.button = panel.find('speaker');
    this.session = null; // a chat in progress
    this.onClick = () => this.setVoice(this.button.getAttribute('aria-pressed') !== 'true');
    this.onState = (event) => {
      if (event.detail.state === 'in-call' && this.session) this.focusChat();
    };
    this.button.addEventListener('click', this.onClick);
    panel.element.addEventListener('webcall:state', this.onState);
  }

  begin(session) {
    this.session = session.mode === 'text' ? session : null;
    this.button.setAttribute('aria-pressed', 'false'); // call-session.js starts a chat muted
  }

  end() {
    this.session = null;
  }

  destroy() {
    this.button.removeEventListener('click', this.onClick);
    this.panel.element.removeEventListener('webcall:state', this.onState);
  }

  /** Plays the agent's voice (`on`) or keeps it silent; the transcript shows its words anyway. */
  setVoice(on) {
    const { session, panel } = this;
    if (!session) return;
    session.voice.setMuted(!on);
    this.button.setAttribute('aria-pressed', String(on));
    if (on) session.resumeAudio(); // a click: playback may start now
    panel.emit('agent-voice', { on });
  }

  /** The message box takes the keyboard, unless the caller is busy elsewhere on the page. */
  focusChat() {
    const { hangup, chatInput } = this.panel.ui.el;
    if (this.panel.keyboardFree(hangup)) chatInput.focus();
  }
}
