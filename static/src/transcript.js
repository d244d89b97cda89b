/**
 * The live transcript: one <li data-speaker data-segment-id data-final> per line (the lines come
 * from the agent's protocol adapter, or the caller's typing), its text replaced in place as
 * interim results turn final. An agent's line the caller talked over gets `data-interrupted` and
 * a visible mark after its words (read out by screen readers too). Follows the newest line
 * unless the reader has scrolled up; then `onBehind(true)` lets the page offer a way back down.
 */
import { t } from './words.js';


const STICK_PX = 48;

export class Transcript {
  /**
   * `onLine({speaker, text, final, segmentId, chat?, interrupted?})` runs whenever a line changes;
   * `onBehind(behind)` when lines arrive out of view, and when the reader catches up.
   */
  constructor(list, onLine, onBehind = () => {}) {
    this.list = list;
    this.onLine = onLine;
    this.onBehind = onBehind;
    this.lines = new Map();
    this.times = new WeakMap(); // line → when it first appeared
    this.words = new WeakMap(); // line → its text, without the interrupted mark
    this.behind = false;
    this.atNewest = true; // where the reader was at the list's last scroll
    this.size = ''; // the list's size at the last scroll or resize seen
    this.scrolled = () => {
      // A scroll measured at a size not seen before (a line's own scroll as the list shrank,
      // before the resize observer ran) is no sign of the reader: the observer decides.
      const size = sizeOf(list);
      if (size !== this.size) {
        this.size = size;
        return;
      }
      this.atNewest = this.following();
      if (this.behind && this.atNewest) this.setBehind(false);
    };
    list.addEventListener('scroll', this.scrolled);
    // A list cut shorter (a smaller window, a phone's keyboard opening for the chat) keeps its
    // scrollTop, which leaves the newest lines below: a reader who was there stays there.
    this.resized = new ResizeObserver(() => {
      this.size = sizeOf(list);
      if (this.atNewest) list.scrollTop = list.scrollHeight;
    });
    this.resized.observe(list);
  }

  /** Stops following the list's scrolling and size; its lines stay. */
  destroy() {
    this.list.removeEventListener('scroll', this.scrolled);
    this.resized.disconnect();
  }

  /** Empties the list for a new call. */
  clear() {
    this.list.replaceChildren();
    this.list.removeAttribute('tabindex');
    this.lines.clear();
    this.setBehind(false);
  }

  /** Shows a message the caller typed; returns its line, to mark it if sending fails. */
  addTyped(id, text) {
    this.show({ id, speaker: 'user', text, final: true, chat: true });
    const line = this.lines.get(id);
    this.list.scrollTop = this.list.scrollHeight;
    return line;
  }

  /**
   * Shows a line ({id, speaker, text, final, chat?, interrupted?}), or its new text when the id
   * is known. A final line keeps its words against late interim ones; an interrupted one (the
   * caller talked over the agent) is marked so.
   */
  show({ id: segmentId, speaker, text: rawText, final, chat = false, interrupted = false }) {
    const text = rawText.trim();
    let line = this.lines.get(segmentId);
    if (!text || (line?.dataset.final === 'true' && !final)) return;
    const following = this.following();
    if (!line) {
      line = document.createElement('li');
      line.dataset.speaker = speaker;
      line.dataset.segmentId = segmentId;
      line.dir = 'auto'; // an agent may speak another language than the page's: English on an Arabic page
      if (chat) line.dataset.chat = '';
      // Who speaks, shown where the turn changes (call.css), in the page's language.
      line.dataset.who = speaker === 'agent' ? t('Agent') : chat ? t('You wrote') : t('You');
      this.lines.set(segmentId, line);
      this.times.set(line, new Date());
      this.list.append(line);
      this.list.tabIndex = 0; // a list that may scroll is reached by the keyboard; an empty one is no stop
    } else if (
      this.words.get(line) === text &&
      line.dataset.final === String(final) &&
      line.hasAttribute('data-interrupted') === interrupted
    ) {
      return;
    }
    this.words.set(line, text);
    line.replaceChildren(text);
    if (interrupted) line.append(' ', interruptedMark());
    line.dataset.final = String(final);
    line.toggleAttribute('data-interrupted', interrupted);
    if (following) this.list.scrollTop = this.list.scrollHeight;
    else this.setBehind(true);
    const marks = { ...(chat && { chat }), ...(interrupted && { interrupted }) };
    this.onLine({ speaker: line.dataset.speaker, text, final, segmentId, ...marks });
  }

  /**
   * The call is over: lines still open (an interim caller's line, the agent's line as it spoke)
   * become final, the agent's marked interrupted, since it was cut off.
   */
  finishLines() {
    for (const [id, line] of this.lines) {
      if (line.dataset.final === 'true') continue;
      const speaker = line.dataset.speaker;
      const chat = line.hasAttribute('data-chat');
      const text = this.words.get(line) ?? line.textContent;
      this.show({ id, speaker, text, final: true, chat, interrupted: speaker === 'agent' });
    }
  }

  /** Scrolls to the newest line. */
  catchUp() {
    this.list.scrollTop = this.list.scrollHeight;
    this.setBehind(false);
  }

  /** Every line in order: {speaker, text, at (Date), final, interrupted, failed (a typed line not sent)}. */
  entries() {
    return Array.from(this.list.children, (line) => ({
      speaker: line.dataset.speaker,
      text: this.words.get(line) ?? line.textContent,
      at: this.times.get(line),
      final: line.dataset.final === 'true',
      interrupted: line.hasAttribute('data-interrupted'),
      failed: line.hasAttribute('data-failed'),
    }));
  }

  /** Whether the newest line is (nearly) in view. */
  following() {
    const { list } = this;
    return list.scrollHeight - list.scrollTop - list.clientHeight < STICK_PX;
  }

  /** Tells the page when lines are arriving out of view, and when the reader has caught up. */
  setBehind(behind) {
    if (behind === this.behind) return;
    this.behind = behind;
    this.onBehind(behind);
  }

  /** Takes a line away (one that another kind of line supersedes). */
  remove(segmentId) {
    this.lines.get(segmentId)?.remove();
    this.lines.delete(segmentId);
  }
}

/** A list's visible size, to compare. */
function sizeOf(list) {
  return `${list.clientWidth}x${list.clientHeight}`;
}

/** The mark after an agent's line the caller talked over. */
function interruptedMark() {
  const mark = document.createElement('span');
  mark.className = 'transcript__mark';
  mark.textContent = t('— interrupted');
  return mark;
}
