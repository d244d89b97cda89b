// The admin view's Copy buttons: each copies the field it names (data-copy) and says so in the
// status line for it (data-copied-for). Without this script the buttons stay hidden, and the
// field, read-only, can still be selected and copied by hand.
for (const field of document.querySelectorAll("input[readonly]")) {
  field.addEventListener("focus", () => field.select()); // a click takes the whole link
}

for (const button of document.querySelectorAll("[data-copy]")) {
  const field = document.getElementById(button.dataset.copy);
  const status = document.querySelector(`[data-copied-for="${button.dataset.copy}"]`);
  if (field && navigator.clipboard) {
    button.hidden = false;
    button.addEventListener("click", async () => {
      try {
        await navigator.clipboard.writeText(field.value);
        if (status) status.textContent = "Copied.";
      } catch {
        field.select(); // the browser refused: selected, for the keyboard's copy
        if (status) status.textContent = "Selected: copy it with your keyboard.";
      }
    });
  }
}
