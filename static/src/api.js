/**
 * Asks our backend for a web call: one POST, every failure turned into an ApiError.
 */

import { firstSentence, joined, tryAgainWords } from './messages.js';
import { t } from './words.js';

const REQUEST_TIMEOUT_MS = 20_000;

/** A failed call request; `code` is the API's error.code, or `network`/`timeout`/`http_<status>`. */
export class ApiError extends Error {
  constructor(code, message, status = 0, retryAfterS = null, requestId = null) {
    super(message);
    this.name = 'ApiError';
    this.code = code;
    this.status = status;
    this.retryAfterS = retryAfterS;
    this.requestId = requestId; // the server's X-Request-ID: it leads to the logs and the call log
  }
}

/**
 * POSTs `body` ({agent, participant_name?, variables?}) to `apiUrl` and resolves with the
 * call: {call_id, room, identity, livekit: {url, token}, max_call_s, ...}. `key` is its
 * Idempotency-Key (newIdempotencyKey()): sent again with a retry, it gets the call the server
 * made the first time, if it made one, not a second.
 * A caller's abort rejects with the AbortError untouched, so a cancel is not reported as a failure.
 */
export async function requestCall(apiUrl, body, signal, key) {
  const { response, data } = await send(apiUrl, postJson(body, key), signal);
  if (response.ok && data?.livekit?.url && data.livekit.token) return data;
  throw errorFrom(response, data);
}

/**
 * POSTs a phone callback ({agent, phone_number, consent, ...}) with the Idempotency-Key `key`
 * (as requestCall's); resolves with {call_id, status, phone_number (masked)} once the provider
 * is calling.
 */
export async function requestPhoneCall(apiUrl, body, signal, key) {
  const { response, data } = await send(apiUrl, postJson(body, key), signal);
  if (response.ok && data?.call_id) return data;
  throw errorFrom(response, data);
}

/** POSTs the caller's `feedback` ({rating, comment?}) to a call's `url`; resolves with what was kept. */
export async function sendFeedback(url, feedback, signal) {
  const headers = { 'Content-Type': 'application/json', Accept: 'application/json' };
  const init = { method: 'POST', headers, body: JSON.stringify(feedback) };
  const { response, data } = await send(url, init, signal);
  if (response.ok && data?.rating) return data;
  throw errorFrom(response, data);
}

/** GETs `url` (a phone call's status); resolves with its JSON. */
export async function getStatus(url, signal) {
  const { response, data } = await send(url, { method: 'GET', headers: { Accept: 'application/json' } }, signal);
  if (response.ok && data) return data;
  throw errorFrom(response, data);
}

/** The request init of a JSON POST with the idempotency key `key` (a new one without). */
function postJson(body, key = newIdempotencyKey()) {
  return {
    method: 'POST',
    headers: {
      'Content-Type': 'application/json',
      Accept: 'application/json',
      // One key per attempt at a call, kept by its retries until an answer reaches the page: a
      // request repeated (by a proxy, or by Try again after a timeout) never starts a second call.
      'Idempotency-Key': key,
    },
    body: JSON.stringify(body),
  };
}

/** One request with a timeout; network failures become ApiErrors, a caller's abort passes through. */
async function send(url, init, signal) {
  signal?.throwIfAborted(); // cancelled while it waited (for a bot-check token, say): never sent
  const controller = new AbortController();
  const cancel = () => controller.abort();
  signal?.addEventListener('abort', cancel, { once: true });
  const timer = setTimeout(cancel, REQUEST_TIMEOUT_MS);
  try {
    const response = await fetch(url, { ...init, credentials: 'same-origin', signal: controller.signal });
    const data = await response.json().catch(() => null);
    return { response, data };
  } catch (err) {
    if (signal?.aborted) throw err;
    if (controller.signal.aborted) {
      throw new ApiError('timeout', t('The server took too long to answer. Please try again.'));
    }
    throw new ApiError(
      'network',
      t("We couldn't reach the server. Check your internet connection and try again."),
    );
  } finally {
    clearTimeout(timer);
    signal?.removeEventListener('abort', cancel);
  }
}

/** Builds the ApiError for a non-2xx (or malformed 2xx) response. */
function errorFrom(response, data) {
  const { status } = response;
  const code = data?.error?.code || `http_${status}`;
  // The API speaks English: the page's language has words for each message a caller can get.
  let message = data?.error?.message ? t(data.error.message) : fallbackMessage(status);
  // A Retry-After (rate limits, a busy provider, an open circuit) says how long to wait.
  const retryAfterS = retryAfterSeconds(response.headers.get('Retry-After'));
  // "Please wait a moment" would contradict a known wait: say how long instead.
  if (retryAfterS !== null) {
    message = joined(firstSentence(message), tryAgainWords(retryAfterS));
  }
  const requestId = data?.error?.request_id || response.headers.get('X-Request-ID');
  return new ApiError(code, message, status, retryAfterS, requestId);
}

/** Words for a response without a JSON error body (a proxy's HTML page, say). */
function fallbackMessage(status) {
  if (status === 429) return t('Too many calls are being started right now.');
  if (status >= 500) return t('The call service is having trouble. Please try again in a moment.');
  if (status >= 200 && status < 300) return t('The server sent an unexpected answer. Please try again.');
  return t('The call could not be started. Please reload the page and try again.');
}

/** Retry-After is either delay-seconds or an HTTP date; null when absent or unreadable. */
function retryAfterSeconds(header) {
  if (!header) return null;
  const seconds = Number(header);
  if (Number.isFinite(seconds)) return Math.max(1, Math.ceil(seconds));
  const at = Date.parse(header);
  return Number.isNaN(at) ? null : Math.max(1, Math.ceil((at - Date.now()) / 1000));
}

/** A key for a new attempt at a call: a v4 UUID (crypto.randomUUID exists only in secure contexts). */
export function newIdempotencyKey() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}
