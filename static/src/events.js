/**
 * The webcall:* DOM events, for the embedding page's analytics and for the tests.
 */

/** A function that dispatches `webcall:<name>` on `target`; it bubbles and crosses shadow roots. */
export function emitter(target) {
  return (name, detail) => {
    target.dispatchEvent(new CustomEvent(`webcall:${name}`, { detail, bubbles: true, composed: true }));
  };
}
