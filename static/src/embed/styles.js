/**
 * Adds CSS to a shadow root as a constructed stylesheet: CSSOM, so a host page's strict
 * `style-src` (no 'unsafe-inline') doesn't block it. Browsers without them get a <style>.
 * Either way it comes after the root's <link> stylesheets in the cascade.
 */
export function addStyles(shadow, css) {
  // replaceSync and adoptedStyleSheets came together (Chrome 73, Firefox 101, Safari 16.4).
  if ('replaceSync' in CSSStyleSheet.prototype) {
    const sheet = new CSSStyleSheet();
    sheet.replaceSync(css);
    shadow.adoptedStyleSheets = [...shadow.adoptedStyleSheets, sheet];
    return;
  }
  const style = document.createElement('style');
  style.textContent = css;
  shadow.append(style);
}
