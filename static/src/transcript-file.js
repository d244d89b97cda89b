/**
 * The transcript as plain text, for the caller to keep: copied to the clipboard or saved as
 * a .txt file, one "[hh:mm:ss] Speaker: words" line each ("(interrupted)" after an agent's
 * line the caller talked over, "(not sent)" after a typed message that never left; the lines of
 * a reply of several, a list, indented under it).
 */
import { clock } from './messages.js';
import { t } from './words.js';

const speakers = () => ({ agent: t('Agent'), user: t('You') });

/** The whole transcript: a heading (who, when, how long), then one line per entry. */
export function transcriptText(entries, { title, startedAt, durationS }) {
  const head = [t('Call with {title}', { title })];
  if (startedAt) {
    const length = durationS ? ` · ${clock(durationS)}` : '';
    head.push(`${dateWords(startedAt)} ${timeWords(startedAt)}${length}`);
  }
  const who = speakers();
  const lines = entries.map(({ speaker, text, at, interrupted, failed }) => {
    const mark = (interrupted ? ` ${t('(interrupted)')}` : '') + (failed ? ` ${t('(not sent)')}` : '');
    const words = text.trimEnd().replace(/\r\n?|\n/g, '\n    '); // a line's own lines, indented under it
    return `${at ? `[${timeWords(at)}] ` : ''}${who[speaker] || speaker}: ${words}${mark}`;
  });
  return `${[...head, '', ...lines].join('\n')}\n`;
}

/** A file name like transcript-demo-2026-05-01-1402.txt. */
export function transcriptFileName(agent, startedAt = new Date()) {
  const stamp = `${dateWords(startedAt)}-${timeWords(startedAt).slice(0, 5).replace(':', '')}`;
  const slug = String(agent || 'call').replace(/[^\w-]+/g, '-');
  return `transcript-${slug}-${stamp}.txt`;
}

/** Puts `text` on the clipboard; resolves false when the browser refuses. */
export async function copyText(text, near) {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    // Without the async clipboard (plain http, older browsers) a selected textarea still works.
    const area = document.createElement('textarea');
    area.value = text;
    area.setAttribute('readonly', '');
    area.className = 'visually-hidden';
    const focused = near.getRootNode().activeElement || document.activeElement; // Copy, to go back to
    near.append(area);
    area.select();
    let copied = false;
    try {
      copied = document.execCommand('copy');
    } catch {
      copied = false;
    }
    area.remove();
    focused?.focus?.();
    return copied;
  }
}

/** Offers `text` as a download named `name`. */
export function downloadText(text, name, near) {
  const url = URL.createObjectURL(new Blob([text], { type: 'text/plain;charset=utf-8' }));
  const link = document.createElement('a');
  link.href = url;
  link.download = name;
  link.hidden = true;
  near.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

const two = (n) => String(n).padStart(2, '0');

function dateWords(d) {
  return `${d.getFullYear()}-${two(d.getMonth() + 1)}-${two(d.getDate())}`;
}

function timeWords(d) {
  return `${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}`;
}
