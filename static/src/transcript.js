/**
 * The live transcript: one <li data-speaker data-segment-id data-final> per segment, its text
 * replaced in place as interim results turn final. Follows the newest line unless the reader
 * has scrolled up.
 */

const STICK_PX = 48;

export class Transcript {
  /** `onLine({speaker, text, final, segmentId})` runs whenever a line changes. */
  constructor(list, onLine) {
    this.list = list;
    this.onLine = onLine;
    this.lines = new Map();
    this.streamed = false;
  }

  clear() {
    this.list.replaceChildren();
    this.lines.clear();
    this.streamed = false;
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
    this.show(id, speaker, text, reader.info.attributes?.['lk.transcription_final'] === 'true');
  }

  /** RoomEvent.TranscriptionReceived, for agents that only send the legacy packets. */
  showLegacy(segments, speaker) {
    // Current agents send both kinds with different segment ids; the streams win.
    if (this.streamed) return;
    for (const segment of segments) {
      this.show(segment.id, speaker, segment.text, segment.final, true);
    }
  }

  show(segmentId, speaker, rawText, final, legacy = false) {
    const text = rawText.trim();
    let line = this.lines.get(segmentId);
    if (!text || (line?.dataset.final === 'true' && !final)) return;
    const list = this.list;
    const following = list.scrollHeight - list.scrollTop - list.clientHeight < STICK_PX;
    if (!line) {
      line = document.createElement('li');
      line.dataset.speaker = speaker;
      line.dataset.segmentId = segmentId;
      if (legacy) line.dataset.legacy = '';
      this.lines.set(segmentId, line);
      list.append(line);
    } else if (line.textContent === text && line.dataset.final === String(final)) {
      return;
    }
    line.textContent = text;
    line.dataset.final = String(final);
    if (following) list.scrollTop = list.scrollHeight;
    this.onLine({ speaker: line.dataset.speaker, text, final, segmentId });
  }

  dropLegacy() {
    for (const line of this.list.querySelectorAll('[data-legacy]')) {
      this.lines.delete(line.dataset.segmentId);
      line.remove();
    }
  }
}
