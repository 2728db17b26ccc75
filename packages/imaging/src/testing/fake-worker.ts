// A stand-in decode worker for DecodePool tests of crash handling: it speaks the pool's message
// protocol without decoding. First byte 0xff: throw an uncaught error (the thread dies);
// 0xfe: process.exit(7); otherwise reply with the byte count after `bytes[1]` milliseconds.
import { parentPort } from 'node:worker_threads';

import type { TaskMessage } from '../decode-protocol.js';

/** What the stand-in sends back instead of a DecodeResult. */
export interface FakeReply {
  readonly length: number;
  readonly first: number;
}

const port = parentPort;
if (port === null) throw new Error('fake-worker.ts must run in a worker thread');

port.on('message', (task: TaskMessage) => {
  const first = task.bytes[0] ?? 0;
  if (first === 0xff) {
    setImmediate(() => {
      throw new Error('simulated decoder crash');
    });
    return;
  }
  if (first === 0xfe) process.exit(7);
  setTimeout(() => {
    const result: FakeReply = { length: task.bytes.length, first };
    port.postMessage({ type: 'result', id: task.id, ok: true, result });
  }, task.bytes[1] ?? 0);
});
port.postMessage({ type: 'ready' });
