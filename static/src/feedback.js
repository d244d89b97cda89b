/**
 * "How was your call?": once a call that connected has ended, an agent with `feedback` on asks.
 * A thumb is kept at once (the caller may change their mind); the comment box comes with it, and
 * its Send keeps the comment too. Everything goes to the call's `feedback_url`.
 */
import { sendFeedback } from './api.js';
import { t } from './words.js';

export class FeedbackForm {
  /** The form's parts in the panel (`find`), and `emit` for webcall:feedback. */
  constructor(find, emit) {
    this.form = find('feedback');
    this.buttons = [find('feedback-good'), find('feedback-bad')];
    this.more = find('feedback-more');
    this.comment = find('feedback-comment');
    this.status = find('feedback-status');
    this.emit = emit;
    this.call = null; // {url, callId} of the call being rated
    this.rating = null;
    this.abort = null;
    const rate = (event) => this.send({ rating: event.currentTarget.value });
    this.buttons.forEach((button) => button.addEventListener('click', rate));
    const submit = (event) => {
      event.preventDefault();
      const comment = this.comment.value.trim();
      if (!comment) this.comment.focus();
      else if (this.rating) this.send({ rating: this.rating, comment });
    };
    this.form.addEventListener('submit', submit);
    this.destroy = () => {
      this.hide();
      this.buttons.forEach((button) => button.removeEventListener('click', rate));
      this.form.removeEventListener('submit', submit);
    };
  }

  /** Asks about the call whose feedback goes to `url` (resolved against `base`, the API's address). */
  ask(url, base, callId) {
    this.hide();
    this.call = { url: new URL(url, new URL(base, document.baseURI)).href, callId };
    this.form.hidden = false;
  }

  /** Puts the question away (a new call starts), with anything still being sent. */
  hide() {
    this.abort?.abort();
    this.call = this.rating = null;
    this.form.hidden = this.more.hidden = true;
    this.comment.value = this.status.textContent = '';
    this.buttons.forEach((button) => button.setAttribute('aria-pressed', 'false'));
  }

  /** Sends `feedback` for the call; says how it went. */
  async send(feedback) {
    const { call } = this;
    if (!call) return;
    this.abort?.abort();
    const abort = (this.abort = new AbortController());
    this.form.setAttribute('aria-busy', 'true');
    try {
      const kept = await sendFeedback(call.url, feedback, abort.signal);
      this.rating = kept.rating;
      this.buttons.forEach((button) => button.setAttribute('aria-pressed', String(button.value === kept.rating)));
      if (feedback.comment) {
        this.more.hidden = true;
        this.status.textContent = t('Thanks, your comment was sent.');
      } else {
        this.more.hidden = false;
        this.status.textContent = t('Thanks for your feedback.');
      }
      this.emit('feedback', { call_id: call.callId, rating: kept.rating, commented: Boolean(kept.comment) });
    } catch {
      if (abort.signal.aborted) return; // put away, or replaced by a newer choice
      this.status.textContent = t('Your feedback could not be sent. Please try again.');
    } finally {
      if (this.abort === abort) {
        this.abort = null;
        this.form.removeAttribute('aria-busy');
      }
    }
  }
}
