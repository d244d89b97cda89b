/**
 * Retell's `update` events carry only the last few utterances ({role, content}), the newest
 * still growing. This merges each such window into the whole conversation. No imports: the
 * tests load it as is.
 */

/**
 * Merges `window` into `lines` (both [{role, content}], oldest first); returns
 * `{lines, from}`: the whole conversation, and the index of its first line that may have
 * changed. The window is laid over the longest tail of `lines` it continues: the same roles
 * in order, each utterance the same or grown (or cut back) from the one before, except that
 * the newest line, once an older one anchors the window, may have been rewritten altogether
 * (speech recognition revises what it heard). Failing that, an older line was rewritten too
 * (a caller's line, once the agent had begun its answer): the window goes over the longest
 * tail whose roles it has, in order. It is new only where it matches nothing at all.
 */
export function mergeTranscript(lines, window) {
  const utterances = window.filter(isUtterance);
  const earliest = Math.max(0, lines.length - utterances.length);
  for (const fits of [continues, sameRoles]) {
    for (let start = earliest; start < lines.length; start += 1) {
      if (fits(lines.slice(start), utterances, start === 0)) {
        return { lines: [...lines.slice(0, start), ...utterances], from: start };
      }
    }
  }
  return { lines: [...lines, ...utterances], from: lines.length };
}

/**
 * Whether `window` picks up where `tail` is: role by role, each text the same utterance. A tail
 * is anchored by an older line it holds, or by being the whole conversation (`fromStart`: the
 * window reaches back to its first line, so even a first line rewritten is that line).
 */
function continues(tail, window, fromStart) {
  if (tail.length > window.length) return false;
  const anchored = tail.length > 1 || fromStart;
  return tail.every((line, i) => {
    if (line.role !== window[i].role) return false;
    const newest = i === tail.length - 1;
    return (newest && anchored) || sameUtterance(line.content, window[i].content);
  });
}

/** Whether `window` has `tail`'s roles, in order, from its start (two lines at least). */
function sameRoles(tail, window) {
  return tail.length > 1 && tail.length <= window.length && tail.every((line, i) => line.role === window[i].role);
}

/**
 * The same utterance: equal, or one the beginning of the other (it grew, or was revised), in
 * any case and punctuation ("book for three" became "Book for three.").
 */
function sameUtterance(before, after) {
  const a = words(before);
  const b = words(after);
  return a === b || b.startsWith(a) || a.startsWith(b);
}

/** `text`'s words, in lower case, one space apart. */
function words(text) {
  return text.toLowerCase().replace(/[^\p{L}\p{N}]+/gu, ' ').trim();
}

/** A line of the conversation (Retell also lists tool calls and such, which we don't show). */
function isUtterance(item) {
  return (item?.role === 'agent' || item?.role === 'user') && typeof item.content === 'string';
}
