/**
 * Where the call page starts (also the iframe embed and the sales demo; bundled as
 * static/dist/call.js): reads the page config and mounts the call panel on the document.
 */
import { mountCall } from './call-panel.js';

const config = JSON.parse(document.getElementById('webcall-config').textContent);
mountCall(document, config);
