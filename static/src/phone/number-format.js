/**
 * Phone numbers formatted as they are typed, by libphonenumber (its small metadata): a chunk
 * loaded only when a phone form is in use.
 */
export { AsYouType } from 'libphonenumber-js/min';
