/**
 * Entry point of the call page (also the iframe embed and the sales demo): reads the page
 * config and mounts the call UI on the document.
 */
import { mountCall } from './app.js';

const config = JSON.parse(document.getElementById('webcall-config').textContent);
mountCall(document, config);
