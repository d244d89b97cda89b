/**
 * Where the call page starts (also the iframe embed and the sales demo; bundled as
 * static/dist/call.js): reads the page config and mounts the call panel on the document.
 */
import { mountCall } from './call-panel.js';
import { forwardEvents } from './events.js';

const config = JSON.parse(document.getElementById('webcall-config').textContent);
if (config.mode === 'embed' && window.parent !== window) tellTheHostPage(config.host_origins || []);
mountCall(document, config);

/**
 * In the iframe embed, the page around the frame hears the call's webcall:* events too, as
 * messages `{source: 'webcall', type, detail}`, if it is on one of the agent's allowed origins
 * (the only ones that may frame it): sent to that origin alone, never to '*'.
 */
function tellTheHostPage(allowed) {
  const host = location.ancestorOrigins?.[0] ?? originOf(document.referrer);
  if (!allowed.includes(host)) return;
  forwardEvents((type, detail) => {
    try {
      window.parent.postMessage({ source: 'webcall', type, detail }, host);
    } catch {
      // A detail that cannot be copied across: the event still happened in here.
    }
  });
}

function originOf(url) {
  try {
    return new URL(url).origin;
  } catch {
    return null;
  }
}
