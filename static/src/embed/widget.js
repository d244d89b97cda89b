/**
 * The widget's call code (static/dist/widget.js, with livekit-client): the loader imports it
 * when a panel first opens. Puts the panel's stylesheets and markup into the shadow root and
 * mounts the call panel (call-panel.js) there.
 */
import { mountCall } from '../call-panel.js';
import { addStyles } from './styles.js';
import css from './widget.css';
import { t } from '../words.js';

const ROOT_FONT_PX = 16; // the call page's root font size, which rem means there
const IDLE = ['ready', 'ended', 'failed']; // the call UI's states with no call joining or in progress

/**
 * Mounts the call UI into `body` (an element in the widget's shadow root) from `panel`
 * ({html, config, css_url}, from /embed/<slug>/panel); resolves with mountCall's controller,
 * or with null once `signal` says the loader gave up waiting (Try again mounts it then).
 * The script tag's theme and accent win over the agent's; its variables go out with the call.
 */
export async function mountWidget(body, panel, options, signal) {
  // After the deadline (none from a loader older than this code: embed.js is cached 5 minutes).
  if (signal?.aborted) return null;
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
  await loaded; // the markup goes in styled, not as a flash of bare HTML
  if (signal?.aborted) {
    link.remove(); // a later load brings its own
    return null;
  }
  addStyles(shadow, css); // after call.css in the cascade (as adopted sheets are)
  try {
    remToPx(link.sheet.cssRules);
  } catch {
    // No stylesheet (blocked, say) or not a CORS-clean one: the panel still works, unstyled.
  }
  body.innerHTML = panel.html;
  if (!options.inline) markCalls(body.closest('.frame'), options.label);
  const call = mountCall(body, {
    ...panel.config,
    theme: options.theme || panel.config.theme,
    accent_color: options.accent || panel.config.accent_color,
    variables: options.variables,
  });
  call.focus = () => firstControl(body)?.focus();
  const close = body.closest('.frame').querySelector('.close');
  if (close) {
    // In the panel's words (mountCall took them up), where the shell, loaded first, had English.
    close.lang = call.element.lang;
    close.setAttribute('aria-label', t('Close'));
  }
  return call;
}

/**
 * Where an opened panel puts the keyboard: Talk, or what comes before it (the consent notice
 * not yet accepted, a phone-only agent's number), or else ✕ (none, inline).
 */
function firstControl(body) {
  const usable = (e) => e && !e.disabled && !e.closest('[hidden]');
  const controls = ['#talk', '#consent-accept', '#phone-number'].map((id) => body.querySelector(id));
  return controls.find(usable) || body.closest('.frame').querySelector('.close');
}

/**
 * While a call is joining or in progress, the frame has data-in-call (Escape closes nothing
 * then: loader.js), and ✕ and the launcher, which close the panel, say that they end the call.
 */
function markCalls(frame, label) {
  const close = frame.querySelector('.close');
  const launcher = frame.parentNode.querySelector('.launcher');
  frame.addEventListener('webcall:state', (event) => {
    const inCall = !IDLE.includes(event.detail.state);
    frame.toggleAttribute('data-in-call', inCall);
    close.setAttribute('aria-label', inCall ? t('End call and close') : t('Close'));
    if (inCall) launcher.setAttribute('aria-label', t('{label} (ends the call)', { label }));
    else launcher.removeAttribute('aria-label');
  });
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
