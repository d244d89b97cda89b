// Keeps the admin view's count of calls in progress current: polls /admin/live.json while the
// tab is visible, one poll at a time, and rewrites the sentence only when it changes (it is a
// live region). A poll that fails or takes too long makes the count unknown until one succeeds.
const POLL_MS = 5000;
const TIMEOUT_MS = 4000; // a poll ends before the next is due
const counter = document.querySelector("[data-live-url]");
let polling = false;

function sentence(count) {
  if (count === null) return "Calls in progress: unknown"; // as webapp/admin/display.py's live_text
  if (count === 0) return "No calls in progress";
  return `${count} call${count === 1 ? "" : "s"} in progress`;
}

function show(count) {
  const value = count === null ? "" : String(count);
  if (value !== counter.dataset.liveCount) {
    counter.dataset.liveCount = value;
    counter.textContent = sentence(count);
  }
}

async function refresh() {
  if (document.hidden || polling) return;
  polling = true;
  try {
    const response = await fetch(counter.dataset.liveUrl, {
      headers: { Accept: "application/json" },
      credentials: "same-origin",
      cache: "no-store",
      signal: AbortSignal.timeout(TIMEOUT_MS),
    });
    if (response.status === 401) {
      // Signed out: sign in again, then back here (as the server sends a page it refuses).
      const next = window.location.pathname + window.location.search;
      window.location.assign(`/admin/login?${new URLSearchParams({ next })}`);
      return;
    }
    const { in_progress: count } = response.ok ? await response.json() : {};
    show(Number.isInteger(count) ? count : null);
  } catch {
    show(null); // offline, or too slow: the next poll tries again
  } finally {
    polling = false;
  }
}

if (counter) {
  setInterval(refresh, POLL_MS);
  document.addEventListener("visibilitychange", refresh);
}
