/**
 * "Call my phone": the form (country, number formatted as typed, consent) and the status of
 * one callback, polled from the API until it ends. Loaded only for agents that call phones;
 * the number formatter (libphonenumber) only once the form is in use. It imports nothing of
 * the page (the API calls and the words are handed in), so the page's own code stays one chunk.
 */

const POLL_MS = 3_000;
// A call with no news for this long (still ringing: in progress renews it) is left to the phone.
const POLL_FOR_MS = 15 * 60_000;
// Each in the page's language: `t` is words.js's, handed in.
const statusWords = (t) => ({
  initiated: t('Calling you now…'),
  in_progress: t("You're on the call."),
  completed: t('The call has ended. Thanks for talking with us!'),
  no_answer: t('No one answered. You can ask for another call later.'),
  busy: t('The line was busy. You can ask for another call later.'),
  voicemail: t('We reached voicemail.'),
  failed: t("The call couldn't be completed. Please try again later."),
  unknown: t('Calling you now…'),
});
const FINAL = new Set(['completed', 'no_answer', 'busy', 'voicemail', 'failed']);
// Said when the page stops following a call it was told of (no status after POLL_FOR_MS, or a
// call the server no longer knows): the phone itself has the rest.
const notFollowed = (t) => t("We can't follow this call here any more. You can ask for another call.");
// Refusals about the number only: another number may be asked for at once.
const PER_NUMBER = new Set(['number_cooldown', 'number_daily_cap']);
// The server's words for a provider that may have dialled without telling it so.
const UNKNOWN_OUTCOME = new Set(['provider_timeout', 'provider_unavailable', 'provider_bad_response']);
// Where to send the caller's eyes (and focus) for each refusal.
const FIELD_FOR = {
  invalid_phone_number: 'number',
  number_type_not_allowed: 'number',
  country_not_allowed: 'country',
  consent_required: 'consent',
};

/**
 * Mounts the phone form found in `find` (an id lookup in the panel's root). `options`:
 * {api: {requestPhoneCall, getStatus, newIdempotencyKey} (api.js), t (words.js's), botCheck,
 * emit(name, detail), web (the panel also offers a web call), onToggle(open)}. Returns
 * {open(), destroy()}.
 */
export function mountPhone(find, config, options) {
  const phone = new PhonePanel(find, config, options);
  phone.bind();
  return { open: () => phone.open(), destroy: () => phone.destroy() };
}

class PhonePanel {
  /** Finds the form's parts; nothing listens yet. */
  constructor(find, config, { api, t, botCheck = null, emit = () => {}, web = true, onToggle = () => {} }) {
    this.api = api;
    this.t = t;
    this.config = config;
    this.botCheck = botCheck;
    this.emit = emit;
    this.web = web;
    this.onToggle = onToggle;
    this.el = {
      open: find('phone-open'),
      form: find('phone-form'),
      country: find('phone-country'),
      number: find('phone-number'),
      consent: find('phone-consent'),
      problem: find('phone-problem'),
      submit: find('phone-submit'),
      back: find('phone-back'),
      status: find('phone-status'),
      statusText: find('phone-status-text'),
      statusNumber: find('phone-status-number'),
      again: find('phone-again'),
    };
    this.cleanups = [];
    this.formatter = null; // libphonenumber's AsYouType, once loaded
    this.polling = null; // the call being followed: {timer}
    this.lastStatus = null;
    // The last request that got no answer ({key, asked}; see attemptFor).
    this.unanswered = null;
    this.submitTimer = 0;
    this.destroyed = false;
  }

  /** Every listener of the form. */
  bind() {
    const { el } = this;
    this.on(el.open, 'click', () => this.open());
    this.on(el.back, 'click', () => this.close());
    this.on(el.again, 'click', () => {
      this.showForm();
      el.consent.checked = false; // the consent was for the number called: a new one asks again
      el.number.focus(); // the button has hidden itself
    });
    this.on(el.form, 'submit', (event) => this.submit(event));
    // Not while deleting: "(415" would come straight back as "(415)", and Backspace never get past it.
    this.on(el.number, 'input', (event) => event.inputType?.startsWith('delete') || this.formatNumber());
    this.on(el.country, 'change', () => this.formatNumber());
    this.on(el.number, 'focus', () => this.loadFormatter());
    nameCountries(el.country, this.config.lang || 'en');
    if (!this.web) this.loadFormatter();
    el.submit.disabled = false; // the page sends it (submit) from now on: never the browser, by GET
  }

  /** Listens until destroy(); missing elements (a phone-only page has no Back) are skipped. */
  on(target, type, listener) {
    if (!target) return;
    target.addEventListener(type, listener);
    this.cleanups.push(() => target.removeEventListener(type, listener));
  }

  /** Shows the form (from "Call my phone instead"), or the call still being followed. */
  open() {
    const following = Boolean(this.polling);
    if (following) this.el.status.hidden = false;
    else this.showForm();
    this.el.open?.setAttribute('aria-expanded', 'true');
    this.onToggle(true);
    if (following) return this.el.statusText.focus();
    this.loadFormatter();
    this.el.number.focus();
  }

  /** Back to the web call. */
  close() {
    this.el.form.hidden = true;
    this.el.status.hidden = true;
    this.el.open?.setAttribute('aria-expanded', 'false');
    this.onToggle(false);
    this.el.open?.focus();
  }

  /** The form again, cleared of the last problem. */
  showForm() {
    this.stopPolling();
    this.el.status.hidden = true;
    this.el.form.hidden = false;
    this.showProblem(null);
  }

  /** libphonenumber's as-you-type formatter, in a chunk of its own. */
  async loadFormatter() {
    if (this.formatter) return;
    try {
      const { AsYouType } = await import('./number-format.js');
      this.formatter = AsYouType;
      this.formatNumber();
    } catch {
      // Unformatted digits work just as well: the server parses whatever is typed.
    }
  }

  /** The number as it is written in the chosen country, as the caller types it. */
  formatNumber() {
    const { number, country } = this.el;
    if (!this.formatter || !number.value) return;
    const atEnd = number.selectionStart === number.value.length;
    const formatted = new this.formatter(country.value).input(number.value);
    if (atEnd && formatted !== number.value) number.value = formatted;
  }

  /** Asks for the call: the consent first, then the bot check (when on), then the API. */
  async submit(event) {
    event.preventDefault();
    const { el } = this;
    if (!el.number.value.trim()) return this.showProblem(this.t('Please enter your phone number.'), 'number');
    if (!el.consent.checked) return this.showProblem(this.t('Please confirm that we may call this number.'), 'consent');
    this.showProblem(null);
    el.submit.disabled = true;
    let waitS = 0;
    const body = this.body();
    const attempt = this.attemptFor(body);
    try {
      if (this.botCheck) body.bot_token = await this.botToken();
      const call = await this.api.requestPhoneCall(this.config.phone.api_url, body, undefined, attempt.key);
      if (!this.destroyed) this.showCalling(call); // (the phone rings all the same)
    } catch (error) {
      // No answer, or the provider's never came to the server: the call may be ringing all the
      // same, and a retry sends the same key (the provider's own then dials once, Convoi's).
      if (error.status === 0 || UNKNOWN_OUTCOME.has(error.code)) this.unanswered = attempt;
      if (this.destroyed) return;
      const code = error.code || 'network';
      this.showProblem(error.message || this.t('The call could not be requested. Please try again.'), FIELD_FOR[code]);
      // As a web call's: the server's reference, and how long to wait when it said.
      const reference = error.requestId ? { request_id: error.requestId } : {};
      const wait = error.retryAfterS ? { retry_after_s: error.retryAfterS } : {};
      this.emit('error', { code, message: error.message, channel: 'phone', ...reference, ...wait });
      if (!PER_NUMBER.has(code)) waitS = error.retryAfterS || 0; // "try again in N seconds": not sooner
    } finally {
      clearTimeout(this.submitTimer);
      if (waitS) this.submitTimer = setTimeout(() => (el.submit.disabled = false), waitS * 1000);
      else el.submit.disabled = false;
    }
  }

  /** What the API is asked for: the agent, the number as typed with its country, the consent. */
  body() {
    const { config, el } = this;
    const body = { agent: config.agent, phone_number: el.number.value.trim(), country: el.country.value, consent: true };
    if (config.variables && Object.keys(config.variables).length) body.variables = config.variables;
    if (config.demo?.token) body.demo_token = config.demo.token;
    return body;
  }

  /**
   * The Idempotency-Key of a request for `body`, as {key, asked}. A request that got no answer
   * (it timed out, the connection dropped, or it never went out) may have made the call all
   * the same: a retry for the same number sends its key again, and the server answers with that
   * call instead of ringing the phone twice. Any answer lets the key go: the next is a new call,
   * as is a request for another number (the server refuses a key sent for something else).
   */
  attemptFor(body) {
    const asked = JSON.stringify(body); // (without the bot token: a retry has a new one)
    const last = this.unanswered;
    this.unanswered = null;
    return last?.asked === asked ? last : { key: this.api.newIdempotencyKey(), asked };
  }

  /** A bot check token for one request; the check starts over for the next. */
  async botToken() {
    const token = await this.botCheck.token();
    this.botCheck.reset();
    return token;
  }

  /** The refusal in plain words beside the field it is about (null clears it). */
  showProblem(message, field) {
    const { el } = this;
    el.problem.textContent = message || '';
    el.problem.hidden = !message;
    const fields = { number: el.number, country: el.country, consent: el.consent };
    for (const [name, input] of Object.entries(fields)) {
      // "true", not empty: an empty aria-invalid is false to assistive technology.
      if (name === field) input.setAttribute('aria-invalid', 'true');
      else input.removeAttribute('aria-invalid');
    }
    const target = fields[field];
    if (message && target) target.focus();
  }

  /** "Calling you now…", then the call's status until it ends (even after Back: it was asked for). */
  showCalling(call) {
    const { el } = this;
    el.open?.setAttribute('aria-expanded', 'true');
    this.onToggle(true);
    el.form.hidden = true;
    el.status.hidden = false;
    el.again.hidden = true;
    el.statusNumber.textContent = call.phone_number;
    this.lastStatus = null; // a new call: its first status is news
    this.showStatus(call.status, call.call_id);
    el.statusText.focus(); // the form that had the keyboard is gone: the news has it now
    if (this.config.phone.follows === false) {
      // Its provider reports nothing of the call: no status to wait for, the phone has the rest.
      el.statusText.textContent = this.t('Calling you now. Your phone should ring in a moment.');
      el.again.hidden = false;
      return;
    }
    this.poll(`${this.config.phone.api_url}/${encodeURIComponent(call.call_id)}`, call.call_id);
  }

  /** One status in words; the host page hears it as webcall:phone-call. */
  showStatus(status, callId) {
    if (status === this.lastStatus) return;
    this.lastStatus = status;
    const words = statusWords(this.t);
    this.el.statusText.textContent = words[status] || words.unknown;
    this.emit('phone-call', { status, call_id: callId });
    if (FINAL.has(status)) {
      this.stopPolling();
      this.el.again.hidden = false;
    }
  }

  /**
   * Asks for the status a few seconds after each answer while the call is live (one request at
   * a time, so a late answer never undoes a newer one), longer when the server says to wait.
   */
  poll(url, callId) {
    this.stopPolling();
    let until = Date.now() + POLL_FOR_MS;
    const following = { timer: 0 };
    this.polling = following;
    const ask = async () => {
      if (Date.now() > until) return this.notFollowed();
      let waitMs = POLL_MS;
      try {
        const { status } = await this.api.getStatus(url);
        if (status === 'in_progress') until = Date.now() + POLL_FOR_MS; // a long talk is followed to its end
        if (this.polling === following) this.showStatus(status, callId);
      } catch (error) {
        // A missed poll is not a failed call: the next one asks again, unless the call is gone.
        if (this.polling === following && error.code === 'unknown_call') return this.notFollowed();
        waitMs = Math.max(waitMs, (error.retryAfterS || 0) * 1000);
      }
      if (this.polling === following) following.timer = setTimeout(ask, waitMs);
    };
    following.timer = setTimeout(ask, POLL_MS);
  }

  /** The page stops following the call, says so, and offers another. */
  notFollowed() {
    this.stopPolling();
    this.el.statusText.textContent = notFollowed(this.t);
    this.el.again.hidden = false;
  }

  stopPolling() {
    clearTimeout(this.polling?.timer);
    this.polling = null;
  }

  destroy() {
    this.destroyed = true;
    this.stopPolling();
    clearTimeout(this.submitTimer);
    this.el.submit.disabled = true; // nothing listens to the form any more (see bind)
    this.cleanups.forEach((cleanup) => cleanup());
    this.cleanups.length = 0;
  }
}

/**
 * "United States (+1)" for each option, in the page's language, where the browser can name
 * countries; the code isolated left to right, else an Arabic or Urdu page shows "(1+)".
 */
function nameCountries(select, language) {
  if (!select || typeof Intl.DisplayNames !== 'function') return;
  const names = new Intl.DisplayNames([language], { type: 'region' });
  for (const option of select.options) {
    const name = names.of(option.value);
    if (name) option.textContent = `${name} (\u2066+${option.dataset.dial}\u2069)`;
  }
}
