/**
 * The live transcript: one <li data-speaker data-segment-id data-final> per segment, its text
 * replaced in place as interim results turn final. Follows the newest line unless the reader
 * has scrolled up; then `onBehind(true)` lets the page offer a way back down.
 */

const STICK_PX = 48;

export class Transcript {
  /**
   * `onLine({speaker, text, final, segmentId, chat?})` runs whenever a line changes;
   * `onBehind(behind)` when lines arrive out of view, and when the reader catches up.
   */
  constructor(list, onLine, onBehind = () => {}) {
    this.list = list;
    this.onLine = onLine;
    this.onBehind = onBehind;
    this.lines = new Map();
    this.times = new WeakMap(); // line → when it first appeared
    this.streamed = false;
    this.behind = false;
    list.addEventListener('scroll', () => {
      if (this.behind && this.following()) this.setBehind(false);
    });
  }

  get size() {
    return this.lines.size;
  }

  clear() {
    this.list.replaceChildren();
    this.lines.clear();
    this.streamed = false;
    this.setBehind(false);
  }

  /**
   * Reads one `lk.transcription` text stream. Each stream carries one segment: the agent's
   * speech arrives as deltas, the caller's interim results as whole new streams with the same
   * segment id. `lk.transcription_final` may arrive only with the stream's trailer.
   */
  async readStream(reader, speaker) {
    if (!this.streamed) this.dropLegacy();
    this.streamed = true;
    const id = reader.info.attributes?.['lk.segment_id'] || reader.info.id;
    let text = '';
    try {
      for await (const chunk of reader) {
        text += chunk;
        this.show(id, speaker, text, false);
      }
    } catch {
      // The stream was cut off (the agent was interrupted, say): keep what arrived.
    }
    const attributes = reader.info.attributes ?? {};
    this.show(id, speaker, text, attributes['lk.transcription_final'] === 'true', {
      interrupted: attributes['webcall.interrupted'] === 'true', // the caller talked over it
    });
  }

  /** A chat message (`lk.chat`): whole once its stream ends. */
  async readChat(reader, speaker) {
    let text = '';
    try {
      text = await reader.readAll();
    } catch {
      return;
    }
    this.show(`chat-${reader.info.id}`, speaker, text, true, { chat: true });
  }

  /** Shows a message the caller typed; returns its line, to mark it if sending fails. */
  addTyped(id, text) {
    this.show(id, 'user', text, true, { chat: true });
    const line = this.lines.get(id);
    this.list.scrollTop = this.list.scrollHeight;
    return line;
  }

  /** RoomEvent.TranscriptionReceived, for agents that only send the legacy packets. */
  showLegacy(segments, speaker) {
    // Current agents send both kinds with different segment ids; the streams win.
    if (this.streamed) return;
    for (const segment of segments) {
      this.show(segment.id, speaker, segment.text, segment.final, { legacy: true });
    }
  }

  show(segmentId, speaker, rawText, final, { legacy = false, chat = false, interrupted = false } = {}) {
    const text = rawText.trim();
    let line = this.lines.get(segmentId);
    if (!text || (line?.dataset.final === 'true' && !final)) return;
    const following = this.following();
    if (!line) {
      line = document.createElement('li');
      line.dataset.speaker = speaker;
      line.dataset.segmentId = segmentId;
      if (legacy) line.dataset.legacy = '';
      if (chat) line.dataset.chat = '';
      this.lines.set(segmentId, line);
      this.times.set(line, new Date());
      this.list.append(line);
    } else if (line.textContent === text && line.dataset.final === String(final)) {
      return;
    }
    line.textContent = text;
    line.dataset.final = String(final);
    line.toggleAttribute('data-interrupted', interrupted);
    if (following) this.list.scrollTop = this.list.scrollHeight;
    else this.setBehind(true);
    this.onLine({ speaker: line.dataset.speaker, text, final, segmentId, ...(chat && { chat }) });
  }

  /** Scrolls to the newest line. */
  catchUp() {
    this.list.scrollTop = this.list.scrollHeight;
    this.setBehind(false);
  }

  /** Every line in order: {speaker, text, at (Date), final}. */
  entries() {
    return Array.from(this.list.children, (line) => ({
      speaker: line.dataset.speaker,
      text: line.textContent,
      at: this.times.get(line),
      final: line.dataset.final === 'true',
    }));
  }

  following() {
    const { list } = this;
    return list.scrollHeight - list.scrollTop - list.clientHeight < STICK_PX;
  }

  setBehind(behind) {
    if (behind === this.behind) return;
    this.behind = behind;
    this.onBehind(behind);
  }

  dropLegacy() {
    for (const line of this.list.querySelectorAll('[data-legacy]')) {
      this.lines.delete(line.dataset.segmentId);
      line.remove();
    }
  }
}
