/**
 * Every word the call page shows: the status line for each state and, for each error code,
 * what went wrong and what to do about it, in the page's language (words.js).
 */
import { pageLanguage, t } from './words.js';

/**
 * "Too many calls right now." of "Too many calls right now. Please wait a moment…" (a sentence
 * ends at . ! ? ؟, the danda । or Urdu's ۔ before a space, or at a Japanese 。！？ with none).
 */
export function firstSentence(text) {
  return text.split(/(?<=[.!?।؟۔])\s+|(?<=[。！？])/)[0];
}

/** Two sentences as one text: a space between them, but none after a Japanese 。！？. */
export function joined(first, second) {
  return /[。！？]$/.test(first) ? first + second : `${first} ${second}`;
}

// The agent's states in a call, and (in a chat, without the microphone) in a chat's words.
const agentWords = () => ({
  speaking: t('Agent is speaking'),
  thinking: t('Agent is thinking…'),
  listening: t('Agent is listening'),
});
const chatWords = () => ({
  speaking: t('Agent is replying'),
  thinking: t('Agent is thinking…'),
  listening: t('Agent is waiting for your message'),
});

const endWords = () => ({
  hangup: t('Call ended'),
  cancelled: t('Call cancelled'),
  'time-limit': t('Time limit reached · call ended'),
  'agent-left': t('The agent ended the call'),
  'room-closed': t('The call was closed'),
  removed: t('The call was ended'),
});

// What went wrong, and what to do about it. API errors bring their own message.
const problems = () => ({
  'mic-dismissed': [
    t('The microphone prompt was closed.'),
    t('Press Try again and choose Allow when the browser asks for your microphone.'),
  ],
  'camera-dismissed': [
    t('The camera prompt was closed.'),
    t('Press Camera again and choose Allow when the browser asks for your camera.'),
  ],
  'mic-missing': [
    t('No microphone was found.'),
    t('Plug in a microphone or headset (or turn one on in your system settings), then press Try again.'),
  ],
  'mic-busy': [
    t("Your microphone couldn't be started."),
    t('Another app or browser tab may be using it. Close that, then press Try again.'),
  ],
  'mic-unsupported': [
    t("This browser can't use a microphone on this page."),
    t('Open the page over https in an up-to-date Chrome, Edge, Firefox or Safari.'),
  ],
  'agent-timeout': [
    t("The agent didn't join the call."),
    t('It may be busy or offline. Please try again in a moment.'),
  ],
  'agent-lost': [
    t('The agent left the call unexpectedly.'),
    t('It may be busy or offline. Please try again in a moment.'),
  ],
  'connection-failed': [
    t("We couldn't connect the call."),
    t('Check your internet connection (a VPN or firewall can block calls), then try again.'),
  ],
  'connection-lost': [
    t('The connection was lost.'),
    t('Check your internet connection, then press Try again to call again.'),
  ],
  'unmute-failed': [
    t("Your microphone couldn't be turned back on, so the agent can't hear you."),
    t('Check that it is plugged in and that this site may use it, then {unmute}', { unmute: muteStep() }),
  ],
  // Its device went away mid-call and the browser had no other to fall back on: muted.
  'mic-lost': [
    t("Your microphone stopped, so the agent can't hear you."),
    t('Check that it is plugged in and that this site may use it, then {unmute}', { unmute: muteStep() }),
  ],
  'playback-blocked': [
    t("Your browser paused the agent's voice."),
    t('Press “Turn on sound” to hear the agent.'),
  ],
  // The camera (media/camera.js): the call goes on without it.
  'camera-missing': [
    t('No camera was found.'),
    t('Plug in a camera (or turn one on in your system settings), then press Camera again.'),
  ],
  'camera-busy': [
    t("Your camera couldn't be started."),
    t('Another app or browser tab may be using it. Close that, then press Camera again.'),
  ],
  'camera-failed': [
    t("Your camera couldn't be shared."),
    t('The call goes on without it. Press Camera to try again.'),
  ],
  // It stopped mid-call (unplugged, or taken by the system): Camera starts one that is there.
  'camera-lost': [
    t("Your camera stopped, so the agent can't see you."),
    t('Check that it is plugged in, then press Camera again.'),
  ],
});

/**
 * How to unblock the microphone (or with `camera`, the camera) in the browser at hand
 * (Chrome/Edge, Firefox, Safari), then what to press.
 */
function unblockWords(camera = false) {
  const ua = navigator.userAgent;
  // As the browser's settings name it, and as a sentence says it.
  const words = camera
    ? { device: t('Camera'), thing: t('camera'), again: t('then press Camera again.') }
    : { device: t('Microphone'), thing: t('microphone'), again: t('then press Try again.') };
  if (/iPhone|iPad|iPod/.test(ua) || (/Macintosh/.test(ua) && navigator.maxTouchPoints > 1)) {
    return t('Tap “aA” in the address bar, choose Website Settings, set {device} to Allow, {again}', words);
  }
  if (/Firefox\//.test(ua)) {
    return t('Click the crossed-out {thing} in the address bar, choose “Allow” (or clear the block), {again}', words);
  }
  if (/Edg\//.test(ua)) {
    return t(
      'Click the lock icon in the address bar, choose Permissions for this site, set {device} to Allow, {again}',
      words,
    );
  }
  if (/Android/.test(ua)) {
    return t('Tap the icon left of the address bar, choose Permissions, turn {device} on, {again}', words);
  }
  if (/Safari\//.test(ua) && !/Chrome|Chromium/.test(ua)) {
    return t('Choose Safari › Settings for This Website, set {device} to Allow, {again}', words);
  }
  return t(
    'Click the site settings icon left of the address bar, turn {device} on, {again} If it is already on, allow this browser to use the {thing} in your system’s privacy settings.',
    words,
  );
}

/**
 * "in 1 second", "in 40 seconds", "in 3 minutes", "in 2 hours", in the page's language, with the
 * digits the rest of the page uses (Bengali and Marathi would otherwise write ১৪ and १४ here
 * beside a timer's 00:14).
 */
function inWords(seconds) {
  const format = new Intl.RelativeTimeFormat(`${pageLanguage()}-u-nu-latn`, { numeric: 'always' });
  if (seconds < 60) return format.format(seconds, 'second');
  if (seconds < 55 * 60) return format.format(Math.ceil(seconds / 60), 'minute');
  return format.format(Math.round(seconds / 3600), 'hour');
}

/** "You can try again in 14 seconds." (after a Retry-After), or "You can try again now." at 0. */
export function tryAgainWords(seconds) {
  return seconds > 0 ? t('You can try again {when}.', { when: inWords(seconds) }) : t('You can try again now.');
}

/** "1:23" for the status line; `pad` gives "01:23" for the timer. */
export function clock(seconds, pad = false) {
  const m = String(Math.floor(seconds / 60));
  const s = String(Math.floor(seconds % 60)).padStart(2, '0');
  return `${pad ? m.padStart(2, '0') : m}:${s}`;
}

/** The #status line for `view` ({state, agentState, muted, micGranted, endReason, duration}). */
export function statusWords(view) {
  switch (view.state) {
    case 'requesting-mic':
      return view.micGranted ? t('Starting your microphone…') : t('Allow microphone access to start');
    case 'connecting':
      return view.challenged ? t('Confirm you are human to start the call') : t('Connecting…');
    case 'waiting-agent':
      return t('Waiting for the agent…');
    case 'in-call': {
      // A turn started with a click (Enter, Space or a screen reader's tap) ends with another.
      if (view.talking === 'click') return t('You are talking · press to send');
      if (view.talking) return t('You are talking · release to send');
      const words = (view.mode === 'text' ? chatWords() : agentWords())[view.agentState] || t('Connected');
      // Push-to-talk keeps the microphone muted between turns: that is no news.
      return view.muted && view.mode === 'voice' && !view.pushToTalk ? t('{state} · you are muted', { state: words }) : words;
    }
    case 'reconnecting':
      return t('Connection lost · reconnecting…');
    case 'ended': {
      const words = endWords()[view.endReason] || t('Call ended');
      return view.duration === null ? words : `${words} · ${clock(view.duration)}`;
    }
    case 'failed':
      return t('Call failed');
    default:
      return t('Ready when you are');
  }
}

/** Beside the timer while LiveKit scores the caller's connection poor (or lost). */
export const weakConnectionWords = () => t('Weak connection');

/** The same, read out once. */
export function networkWords(mode) {
  return mode === 'text'
    ? t('Weak connection: replies may be slow.')
    : t('Weak connection: the agent may not hear you clearly.');
}

/** The Talk button's words: a first call (a chat, for a text-only agent), a new one, another try. */
export function talkWords(state, title, chat = false) {
  if (state === 'ended') return t('Start over');
  if (state === 'failed') return t('Try again');
  return chat ? t('Chat with {title}', { title }) : t('Talk to {title}', { title });
}

/** "0:42 left" near the end of a call with a time limit; '' before. */
export function timeLeftWords(leftS) {
  return leftS <= 60 ? t('{time} left', { time: clock(Math.max(0, leftS)) }) : '';
}

/**
 * [what went wrong, what to do] for an error code; API errors bring their own words. With
 * `canChat` (the agent takes chats), a microphone problem also offers the chat.
 */
export function problemWords(code, apiMessage, canChat = false, pushToTalk = false) {
  if (apiMessage) {
    const what = firstSentence(apiMessage);
    return [what, apiMessage.slice(what.length).trim()];
  }
  const [what, fix] =
    code === 'mic-denied'
      ? [t('Microphone access is blocked.'), unblockWords()]
      : code === 'camera-denied'
        ? [t('Camera access is blocked.'), unblockWords(true)]
        : problems()[code] || [t('Something went wrong.'), t('Please try again.')];
  if (pushToTalk && MID_CALL_MIC.includes(code)) return [what, fix.replace(muteStep(), t('hold to talk again.'))];
  // Before a call: a microphone problem need not stop a chat. In one, the call goes on.
  const chat = canChat && code.startsWith('mic-') && !MID_CALL_MIC.includes(code);
  return [what, chat ? joined(fix, t('Or press “Chat instead” to type to the agent.')) : fix];
}

// The microphone's problems in a call, and their last step (push-to-talk has no Mute button).
const MID_CALL_MIC = ['unmute-failed', 'mic-lost'];
const muteStep = () => t('press Mute (or M) to turn it on.');
