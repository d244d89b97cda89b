/**
 * Every word the call page shows: the status line for each state and, for each error code,
 * what went wrong and what to do about it.
 */

/** "Too many calls right now." of "Too many calls right now. Please wait a moment…". */
export function firstSentence(text) {
  return text.split(/(?<=[.!?])\s+/)[0];
}

const AGENT_WORDS = {
  speaking: 'Agent is speaking',
  thinking: 'Agent is thinking…',
  listening: 'Agent is listening',
};
// In a chat (no microphone), the same states in a chat's words.
const CHAT_WORDS = {
  speaking: 'Agent is replying',
  thinking: 'Agent is thinking…',
  listening: 'Agent is waiting for your message',
};

const END_WORDS = {
  hangup: 'Call ended',
  cancelled: 'Call cancelled',
  'time-limit': 'Time limit reached · call ended',
  'agent-left': 'The agent ended the call',
  'room-closed': 'The call was closed',
  removed: 'The call was ended',
};

// What went wrong, and what to do about it. API errors bring their own message.
const PROBLEMS = {
  'mic-dismissed': [
    'The microphone prompt was closed.',
    'Press Try again and choose Allow when the browser asks for your microphone.',
  ],
  'camera-dismissed': [
    'The camera prompt was closed.',
    'Press Camera again and choose Allow when the browser asks for your camera.',
  ],
  'mic-missing': [
    'No microphone was found.',
    'Plug in a microphone or headset (or turn one on in your system settings), then press Try again.',
  ],
  'mic-busy': [
    "Your microphone couldn't be started.",
    'Another app or browser tab may be using it. Close that, then press Try again.',
  ],
  'mic-unsupported': [
    "This browser can't use a microphone on this page.",
    'Open the page over https in an up-to-date Chrome, Edge, Firefox or Safari.',
  ],
  'agent-timeout': [
    "The agent didn't join the call.",
    'It may be busy or offline. Please try again in a moment.',
  ],
  'connection-failed': [
    "We couldn't connect the call.",
    'Check your internet connection (a VPN or firewall can block calls), then try again.',
  ],
  'connection-lost': [
    'The connection was lost.',
    'Check your internet connection, then press Try again to call again.',
  ],
  'unmute-failed': [
    "Your microphone couldn't be turned back on, so the agent can't hear you.",
    'Check that it is plugged in and that this site may use it, then press Mute (or M) to turn it on.',
  ],
  // Its device went away mid-call and the browser had no other to fall back on: muted.
  'mic-lost': [
    "Your microphone stopped, so the agent can't hear you.",
    'Check that it is plugged in and that this site may use it, then press Mute (or M) to turn it on.',
  ],
  'playback-blocked': [
    "Your browser paused the agent's voice.",
    'Press “Turn on sound” to hear the agent.',
  ],
  // The camera (media/camera.js): the call goes on without it.
  'camera-missing': [
    'No camera was found.',
    'Plug in a camera (or turn one on in your system settings), then press Camera again.',
  ],
  'camera-busy': [
    "Your camera couldn't be started.",
    'Another app or browser tab may be using it. Close that, then press Camera again.',
  ],
  'camera-failed': ["Your camera couldn't be shared.", 'The call goes on without it. Press Camera to try again.'],
};

/**
 * How to unblock a `device` ('Microphone', 'Camera') in the browser at hand (Chrome/Edge,
 * Firefox, Safari); `again` is what to press afterwards.
 */
function unblockWords(device = 'Microphone', again = 'then press Try again.') {
  const ua = navigator.userAgent;
  const lower = device.toLowerCase();
  if (/iPhone|iPad|iPod/.test(ua) || (/Macintosh/.test(ua) && navigator.maxTouchPoints > 1)) {
    return `Tap “aA” in the address bar, choose Website Settings, set ${device} to Allow, ${again}`;
  }
  if (/Firefox\//.test(ua)) {
    return `Click the crossed-out ${lower} in the address bar, choose “Allow” (or clear the block), ${again}`;
  }
  if (/Edg\//.test(ua)) {
    return `Click the lock icon in the address bar, choose Permissions for this site, set ${device} to Allow, ${again}`;
  }
  if (/Android/.test(ua)) {
    return `Tap the icon left of the address bar, choose Permissions, turn ${device} on, ${again}`;
  }
  if (/Safari\//.test(ua) && !/Chrome|Chromium/.test(ua)) {
    return `Choose Safari › Settings for This Website, set ${device} to Allow, ${again}`;
  }
  return `Click the site settings icon left of the address bar, turn ${device} on, ${again} If it is already on, allow this browser to use the ${lower} in your system’s privacy settings.`;
}

/** "1 second", "40 seconds", "3 minutes", "1 hour", "2 hours". */
function waitWords(seconds) {
  const count = (n, unit) => (n === 1 ? `1 ${unit}` : `${n} ${unit}s`);
  if (seconds < 60) return count(seconds, 'second');
  if (seconds < 55 * 60) return count(Math.ceil(seconds / 60), 'minute');
  return count(Math.round(seconds / 3600), 'hour');
}

/** "You can try again in 14 seconds." (after a Retry-After), or "You can try again now." at 0. */
export function tryAgainWords(seconds) {
  return seconds > 0 ? `You can try again in ${waitWords(seconds)}.` : 'You can try again now.';
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
      return view.micGranted ? 'Starting your microphone…' : 'Allow microphone access to start';
    case 'connecting':
      return view.challenged ? 'Confirm you are human to start the call' : 'Connecting…';
    case 'waiting-agent':
      return 'Waiting for the agent…';
    case 'in-call': {
      if (view.talking) return 'You are talking · release to send';
      const words = (view.mode === 'text' ? CHAT_WORDS : AGENT_WORDS)[view.agentState] || 'Connected';
      // Push-to-talk keeps the microphone muted between turns: that is no news.
      return view.muted && view.mode === 'voice' && !view.pushToTalk ? `${words} · you are muted` : words;
    }
    case 'reconnecting':
      return 'Connection lost · reconnecting…';
    case 'ended': {
      const words = END_WORDS[view.endReason] || 'Call ended';
      return view.duration === null ? words : `${words} · ${clock(view.duration)}`;
    }
    case 'failed':
      return 'Call failed';
    default:
      return 'Ready when you are';
  }
}

/** Beside the timer while LiveKit scores the caller's connection poor (or lost). */
export const WEAK_CONNECTION = 'Weak connection';

/** The same, read out once. */
export function networkWords(mode) {
  return `${WEAK_CONNECTION}: ${mode === 'text' ? 'replies may be slow.' : 'the agent may not hear you clearly.'}`;
}

/** The Talk button's words: a first call (a chat, for a text-only agent), a new one, another try. */
export function talkWords(state, title, chat = false) {
  if (state === 'ended') return 'Start over';
  if (state === 'failed') return 'Try again';
  return chat ? `Chat with ${title}` : `Talk to ${title}`;
}

/** "0:42 left" near the end of a call with a time limit; '' before. */
export function timeLeftWords(leftS) {
  return leftS <= 60 ? `${clock(Math.max(0, leftS))} left` : '';
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
      ? ['Microphone access is blocked.', unblockWords()]
      : code === 'camera-denied'
        ? ['Camera access is blocked.', unblockWords('Camera', 'then press Camera again.')]
        : PROBLEMS[code] || ['Something went wrong.', 'Please try again.'];
  if (pushToTalk && MID_CALL_MIC.includes(code)) return [what, fix.replace(MUTE_STEP, 'hold to talk again.')];
  // Before a call: a microphone problem need not stop a chat. In one, the call goes on.
  const chat = canChat && code.startsWith('mic-') && !MID_CALL_MIC.includes(code);
  return [what, fix + (chat ? ' Or press “Chat instead” to type to the agent.' : '')];
}

// The microphone's problems in a call, and their last step (push-to-talk has no Mute button).
const MID_CALL_MIC = ['unmute-failed', 'mic-lost'];
const MUTE_STEP = 'press Mute (or M) to turn it on.';
