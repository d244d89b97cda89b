/**
 * A widget's options, read from its <script> tag's data attributes (docs/embedding.md lists
 * them). Unknown values fall back to the defaults instead of breaking the host page.
 */
import { HEX_COLOR } from '../accent.js';

const POSITIONS = ['bottom-right', 'bottom-left'];
const THEMES = ['light', 'dark', 'system'];
const VAR_PREFIX = 'data-var-';

/** {agent, base, position, label, theme, accent, inline, lang, variables} for one script tag. */
export function readOptions(script) {
  const data = script.dataset;
  const variables = {};
  for (const { name, value } of script.attributes) {
    // HTML lower-cases attribute names; a hyphen becomes "_" (data-var-first-name → first_name).
    if (name.startsWith(VAR_PREFIX)) variables[name.slice(VAR_PREFIX.length).replace(/-/g, '_')] = value;
  }
  return {
    agent: data.agent,
    base: new URL('.', script.src).href, // the webcall app that served embed.js
    position: POSITIONS.includes(data.position) ? data.position : POSITIONS[0],
    label: data.label || 'Talk to us',
    theme: THEMES.includes(data.theme) ? data.theme : null, // null: the agent's theme
    accent: HEX_COLOR.test(data.accent || '') ? data.accent : null, // null: the agent's accent
    inline: data.inline || null, // a CSS selector: render there instead of floating
    lang: data.lang || null, // the panel's language (the server knows which it has); null: the agent's
    variables,
  };
}
