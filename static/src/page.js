/**
 * Where the call page starts (also the iframe embed and the sales demo; bundled as
 * static/dist/call.js): reads the page config and mounts the call panel on the document.
 */
import { mountCall } from './call-panel.js';
import { forwardEvents } from './events.js';

const config = JSON.parse(document.getElementById('webcall-config').textContent);
const framed = config.mode === 'embed' && window.parent !== window;
const host = framed ? hostOrigin(config.host_origins || []) : null;
if (host) tellTheHostPage(host);
const call = mountCall(document, config);
if (host) takeCommandsFrom(host, call);

/**
 * In the iframe embed, the origin of the page around the frame, if it is one of the agent's
 * allowed origins (the only ones that may frame it); null otherwise, and then the frame neither
 * tells that page anything nor takes its commands.
 */
function hostOrigin(allowed) {
  const origin = location.ancestorOrigins?.[0] ?? originOf(document.referrer);
  return allowed.includes(origin) ? origin : null;
}

/**
 * The page around the frame hears the call's webcall:* events too, as messages
 * `{source: 'webcall', type, detail}`: sent to its origin alone, never to '*'.
 */
function tellTheHostPage(origin) {
  forwardEvents((type, detail) => post(origin, type, detail));
}

/**
 * The page around the frame answers tool calls and sends context as the script embed's handle
 * does, by messages `{source: 'webcall', command, ...}`: 'answer-tool-call' (tool_call_id, result,
 * is_error) and 'send-context' (text). Only from that page itself (not another frame in it) on
 * the origin the events go to; anything else is ignored. Each command is answered with a message
 * saying whether it took: webcall:tool-answered {tool_call_id, answered}, webcall:context-sent {sent}.
 */
function takeCommandsFrom(origin, call) {
  window.addEventListener('message', async (event) => {
    if (event.source !== window.parent || event.origin !== origin) return;
    const message = event.data;
    if (message?.source !== 'webcall') return;
    if (message.command === 'answer-tool-call' && typeof message.tool_call_id === 'string') {
      const { tool_call_id: id, result, is_error: isError } = message;
      // A phone-only agent's call has no tools (nor context): nothing is waiting.
      const answered = Boolean(call.answerToolCall?.(id, result, Boolean(isError)));
      post(origin, 'webcall:tool-answered', { tool_call_id: id, answered });
    } else if (message.command === 'send-context' && typeof message.text === 'string') {
      const sent = await Promise.resolve(call.sendContext?.(message.text)).catch(() => false);
      post(origin, 'webcall:context-sent', { sent: Boolean(sent) });
    }
  });
}

/** One message to the page around the frame. */
function post(origin, type, detail) {
  try {
    window.parent.postMessage({ source: 'webcall', type, detail }, origin);
  } catch {
    // A detail that cannot be copied across: the event still happened in here.
  }
}

function originOf(url) {
  try {
    return new URL(url).origin;
  } catch {
    return null;
  }
}
