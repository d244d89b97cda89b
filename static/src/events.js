/**
 * The webcall:* DOM events, for the embedding page's analytics and for the tests.
 */

const forwards = new Set(); // where else this document's events go (an iframe embed's host page)

/** A function that dispatches `webcall:<name>` on `target`; it bubbles and crosses shadow roots. */
export function emitter(target) {
  return (name, detail) => {
    target.dispatchEvent(new CustomEvent(`webcall:${name}`, { detail, bubbles: true, composed: true }));
    forwards.forEach((forward) => forward(`webcall:${name}`, detail));
  };
}

/** Also hands every webcall:* event this document dispatches to `forward(type, detail)`. */
export function forwardEvents(forward) {
  forwards.add(forward);
}
