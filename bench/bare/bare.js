// The floor: livekit-client alone. Connect (with a token handed in, or fetched first from
// webcall's API), then enable the microphone. What the benchmark compares our page with.
import { Room } from 'livekit-client';

const params = new URLSearchParams(location.hash.slice(1));
const talk = document.getElementById('talk');

async function credentials() {
  if (!params.get('api')) return { url: params.get('url'), token: params.get('token') };
  const answer = await fetch(params.get('api'), {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ agent: params.get('agent') }),
  });
  const call = await answer.json();
  return call.livekit;
}

talk.addEventListener('click', async () => {
  const { url, token } = await credentials();
  // v0=1: the SDK's older signalling (two peer connections, the offer after the join).
  const room = new Room(params.get('v0') ? { singlePeerConnection: false } : {});
  window.room = room;
  await room.connect(url, token);
  document.dispatchEvent(new CustomEvent('webcall:connected'));
  await room.localParticipant.setMicrophoneEnabled(true);
});
talk.disabled = false;
