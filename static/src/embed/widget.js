/**
 * The widget's call code (static/dist/widget.js, with livekit-client): the loader imports it
 * when a panel first opens. Puts the panel's stylesheets and markup into the shadow root and
 * mounts the call panel (call-panel.js) there.
 */
import { mountCall } from '../call-panel.js';
import { addStyles } from './styles.js';
import css from './widget.css';

const ROOT_FONT_PX = 16; // the call page's root font size, which rem means there

/**
 * Mounts the call UI into `body` (an element in the widget's shadow root) from `panel`
 * ({html, config, css_url}, from /embed/<slug>/panel); resolves with mountCall's controller.
 * The script tag's theme and accent win over the agent's; its variables go out with the call.
 */
export async function mountWidget(body, panel, options) {
  const shadow = body.getRootNode();
  // crossorigin: a CORS-clean sheet (/static answers CORS) is one whose rules we may rewrite.
  const link = Object.assign(document.createElement('link'), {
    rel: 'stylesheet',
    href: panel.css_url,
    crossOrigin: 'anonymous',
  });
  const loaded = new Promise((resolve) => {
    link.onload = link.onerror = resolve;
  });
  shadow.prepend(link);
  addStyles(shadow, css); // after call.css in the cascade
  await loaded; // the markup goes in styled, not as a flash of bare HTML
  try {
    remToPx(link.sheet.cssRules);
  } catch {
    // No stylesheet (blocked, say) or not a CORS-clean one: the panel still works, unstyled.
  }
  body.innerHTML = panel.html;
  if (!options.inline) keepTabInside(body.closest('.frame'), shadow);
  return mountCall(body, {
    ...panel.config,
    theme: options.theme || panel.config.theme,
    accent_color: options.accent || panel.config.accent_color,
    variables: options.variables,
  });
}

// shell.css's full-screen panel (a phone, a short window): then it is all there is.
const FULL_SCREEN = matchMedia('(max-width: 480px), (max-height: 520px)');
const FOCUSABLE = 'button, input, select, textarea, summary, a[href], [tabindex]:not([tabindex="-1"])';
const CLOSED_DETAILS = 'details:not([open]) > :not(summary)';

/** Full screen, Tab from the panel's last control goes to its first (Shift+Tab the other way). */
function keepTabInside(frame, shadow) {
  frame.addEventListener('keydown', (event) => {
    if (event.key !== 'Tab' || !FULL_SCREEN.matches) return;
    const inside = [...frame.querySelectorAll(FOCUSABLE)].filter(canFocus);
    const [first, last] = [inside[0], inside.at(-1)];
    if (shadow.activeElement !== (event.shiftKey ? first : last)) return;
    event.preventDefault();
    (event.shiftKey ? last : first).focus();
  });
}

/** Shown and enabled: not hidden, and not inside a closed <details> (only its summary shows). */
function canFocus(element) {
  return !element.disabled && element.getClientRects().length && !element.closest(CLOSED_DETAILS);
}

/**
 * rem means the host page's root font size, and a shadow root doesn't isolate that: a page
 * with `html { font-size: 40px }` would blow the panel up. Inside the widget, 1rem is 16px.
 */
function remToPx(rules) {
  for (const rule of rules) {
    if (rule.cssRules) remToPx(rule.cssRules); // @media, @supports
    const text = rule.style?.cssText;
    if (text?.includes('rem')) {
      rule.style.cssText = text.replace(/(\d*\.?\d+)rem\b/g, (_, n) => `${n * ROOT_FONT_PX}px`);
    }
  }
}
