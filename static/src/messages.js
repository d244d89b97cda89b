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
  'playback-blocked': [
    "Your browser paused the agent's voice.",
    'Press “Turn on sound” to hear the agent.',
  ],
};

/** How to unblock the microphone in the browser at hand (Chrome/Edge, Firefox, Safari). */
function unblockWords() {
  const ua = navigator.userAgent;
  const again = 'then press Try again.';
  if (/iPhone|iPad|iPod/.test(ua) || (/Macintosh/.test(ua) && navigator.maxTouchPoints > 1)) {
    return `Tap “aA” in the address bar, choose Website Settings, set Microphone to Allow, ${again}`;
  }
  if (/Firefox\//.test(ua)) {
    return `Click the crossed-out microphone in the address bar, choose “Allow” (or clear the block), ${again}`;
  }
  if (/Edg\//.test(ua)) {
    return `Click the lock icon in the address bar, choose Permissions for this site, set Microphone to Allow, ${again}`;
  }
  if (/Android/.test(ua)) {
    return `Tap the icon left of the address bar, choose Permissions, turn Microphone on, ${again}`;
  }
  if (/Safari\//.test(ua) && !/Chrome|Chromium/.test(ua)) {
    return `Choose Safari › Settings for This Website, set Microphone to Allow, ${again}`;
  }
  return `Click the site settings icon left of the address bar, turn Microphone on, ${again} If it is already on, allow this browser to use the microphone in your system’s privacy settings.`;
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
      return 'Connecting…';
    case 'waiting-agent':
      return 'Waiting for the agent…';
    case 'in-call': {
      const words = AGENT_WORDS[view.agentState] || 'Connected';
      return view.muted ? `${words} · you are muted` : words;
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

/** The Talk button's words: a first call, a new one after a call, or another try. */
export function talkWords(state, title) {
  if (state === 'ended') return 'Start over';
  if (state === 'failed') return 'Try again';
  return `Talk to ${title}`;
}

/** "0:42 left" near the end of a call with a time limit; '' before. */
export function timeLeftWords(leftS) {
  return leftS <= 60 ? `${clock(Math.max(0, leftS))} left` : '';
}

/** [what went wrong, what to do] for an error code; API errors bring their own words. */
export function problemWords(code, apiMessage) {
  if (apiMessage) {
    const what = firstSentence(apiMessage);
    return [what, apiMessage.slice(what.length).trim()];
  }
  if (code === 'mic-denied') return ['Microphone access is blocked.', unblockWords()];
  return PROBLEMS[code] || ['Something went wrong.', 'Please try again.'];
}
