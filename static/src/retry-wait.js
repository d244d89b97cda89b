/**
 * Waiting out a Retry-After (a rate limit, a busy provider): the error's "You can try again in …"
 * counts down, and Talk ("Try again") and "Chat instead" stay disabled until the wait is over.
 */
import { firstSentence, joined, tryAgainWords } from './messages.js';

/**
 * Counts down the failure `outcome` ({code, message, retryAfterS, requestId}) that `ui` shows;
 * `onDone()` runs when Talk is enabled again. Returns a function that stops early.
 */
export function waitToRetry(ui, { code, message, retryAfterS, requestId }, onDone) {
  const what = firstSentence(message || '');
  const until = Date.now() + retryAfterS * 1000;
  let timer = 0;
  const stop = () => {
    clearTimeout(timer);
    ui.set({ retryWait: false });
    onDone();
  };
  const tick = () => {
    const leftMs = until - Date.now();
    if (leftMs <= 0) {
      stop();
      ui.showError(code, joined(what, tryAgainWords(0)), requestId, { quiet: true });
      ui.announce(tryAgainWords(0));
      return;
    }
    // Read out once when shown; each second's new words after that would interrupt the reader.
    ui.showError(code, joined(what, tryAgainWords(Math.ceil(leftMs / 1000))), requestId, { quiet: true });
    timer = setTimeout(tick, leftMs % 1000 || 1000);
  };
  ui.set({ retryWait: true });
  timer = setTimeout(tick, (until - Date.now()) % 1000 || 1000);
  return stop;
}
