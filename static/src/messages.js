/**
 * Every word the call page shows: the status line for each state and, for each error code,
 * what went wrong and what to do about it.
 */

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
    'Plug in a microphone or headset (or pick one in your system settings), then press Talk again.',
  ],
  'mic-busy': [
    "Your microphone couldn't be started.",
    'Another app or tab may be using it. Close that, then press Talk again.',
  ],
  'mic-unsupported': [
    "This browser can't use a microphone on this page.",
    'Open the page over https in an up-to-date Chrome, Edge, Firefox or Safari.',
  ],
  'agent-timeout': [
    "The agent didn't join the call.",
    'It may be busy. Please try again in a moment.',
  ],
  'connection-failed': [
    "We couldn't connect the call.",
    'Check your internet connection (a VPN or firewall can block calls), then try again.',
  ],
  'connection-lost': [
    'The connection was lost.',
    'Check your internet connection, then press Talk to call again.',
  ],
  'playback-blocked': [
    "Your browser paused the agent's voice.",
    'Press “Turn on sound” to hear it.',
  ],
};

/** How to unblock the microphone in the browser at hand. */
function unblockWords() {
  const ua = navigator.userAgent;
  if (/iPhone|iPad|iPod/.test(ua)) {
    return 'Tap “aA” in the address bar, choose Website Settings, set Microphone to Allow, then press Talk again.';
  }
  if (/Firefox\//.test(ua)) {
    return 'Click the crossed-out microphone in the address bar, remove the block, then press Talk again.';
  }
  if (/Safari\//.test(ua) && !/Chrome|Chromium|Edg\//.test(ua)) {
    return 'Open Safari › Settings for This Website, set Microphone to Allow, then press Talk again.';
  }
  return 'Click the icon at the left of the address bar, set Microphone to Allow, then press Talk again. If it is already allowed, check your system’s privacy settings.';
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

/** [what went wrong, what to do] for an error code; API errors bring their own words. */
export function problemWords(code, apiMessage) {
  if (apiMessage) return [apiMessage, ''];
  if (code === 'mic-denied') return ['Microphone access is blocked.', unblockWords()];
  return PROBLEMS[code] || ['Something went wrong.', 'Please try again.'];
}
