// Keeps the admin view's count of calls in progress current: polls /admin/live.json while the
// tab is visible and rewrites the sentence only when the number changes (it is a live region).
const POLL_MS = 5000;
const counter = document.querySelector("[data-live-url]");

function sentence(count) {
  if (count === 0) return "No calls in progress";
  return `${count} call${count === 1 ? "" : "s"} in progress`;
}

async function refresh() {
  if (document.hidden) return;
  try {
    const response = await fetch(counter.dataset.liveUrl, {
      headers: { Accept: "application/json" },
      credentials: "same-origin",
      cache: "no-store",
    });
    if (response.status === 401) {
      window.location.assign("/admin/login");
      return;
    }
    if (!response.ok) return;
    const { in_progress: count } = await response.json();
    if (String(count) !== counter.dataset.liveCount) {
      counter.dataset.liveCount = String(count);
      counter.textContent = sentence(count);
    }
  } catch {
    // Offline for a moment: the next poll tries again.
  }
}

if (counter) {
  setInterval(refresh, POLL_MS);
  document.addEventListener("visibilitychange", refresh);
}
