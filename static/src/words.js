/**
 * The page's words in its language (webapp/pages/words.py): the English text is the key, as in
 * gettext, and the page's config brings the translations (none for English: the texts are).
 * Write `t('Hang up')`, with `{name}` for what is filled in: `t('Talk to {title}', { title })`;
 * tests/pages/test_words.py finds every text given to `t` and checks each language has it.
 */
let words = {};
let language = 'en';
let rightToLeft = false;

/** Takes the page's language, its words (config.lang and config.words) and its direction (the panel's `dir`). */
export function useWords(lang, catalogue, dir) {
  language = lang || 'en';
  words = catalogue || {};
  rightToLeft = dir === 'rtl';
}

const PLAIN = /^[A-Za-z0-9]+(?:[-_][A-Za-z0-9]+)*$/; // a value no text's direction can move

/**
 * `text` in the page's language, each `{name}` filled from `values`. On a right-to-left page each
 * value is isolated (FSI … PDI), so an agent named "Acme Support!" keeps its "!" at its end; not
 * a plain one (letters and digits, a request id: words.py's rule), which reads the same either
 * way and is copied without invisible characters.
 */
export function t(text, values) {
  const said = words[text] ?? text;
  if (!values) return said;
  const isolated = (value) => (rightToLeft && !PLAIN.test(value) ? `\u2068${value}\u2069` : value);
  return said.replace(/\{(\w+)\}/g, (m, name) => (name in values ? isolated(String(values[name])) : m));
}

/** The page's language (a BCP 47 code), for the browser's own formats (Intl). */
export function pageLanguage() {
  return language;
}
