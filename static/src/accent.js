/**
 * An agent's accent as a button's background, with text on it that reads (WCAG AA: 4.5:1).
 * Mid tones that neither dark nor white text reads on are darkened until white text does:
 * one rule for the call page and the embed loader, which is why it has no DOM in it.
 */

export const HEX_COLOR = /^#([0-9a-f]{3}|[0-9a-f]{6})$/i; // an accent as the catalogue and data-accent give it
const DARK_TEXT = '#111318';
const LIGHT_TEXT = '#ffffff';
const AA = 4.5;

/** {accent, onAccent} for a hex colour (#rgb or #rrggbb). */
export function readableAccent(hex) {
  const full = hex.length === 4 ? hex.replace(/[0-9a-f]/gi, '$&$&') : hex;
  let rgb = [1, 3, 5].map((i) => parseInt(full.slice(i, i + 2), 16));
  const dark = luminance([17, 19, 24]); // DARK_TEXT
  for (let accent = hex; ; accent = `#${rgb.map((c) => c.toString(16).padStart(2, '0')).join('')}`) {
    const lum = luminance(rgb);
    const onDark = contrast(lum, dark);
    const onLight = contrast(lum, 1);
    if (onDark >= AA || onLight >= AA) return { accent, onAccent: onDark >= onLight ? DARK_TEXT : LIGHT_TEXT };
    rgb = rgb.map((c) => Math.floor(c * 0.92)); // dark text fell short too: darker, for white
  }
}

/** Relative luminance of 0–255 channels (WCAG 2). */
function luminance(rgb) {
  const [r, g, b] = rgb.map((v) => {
    const c = v / 255;
    return c <= 0.04045 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
  });
  return 0.2126 * r + 0.7152 * g + 0.0722 * b;
}

/** The contrast ratio of two luminances. */
function contrast(a, b) {
  return (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
}
