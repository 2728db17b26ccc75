// Worker-thread side of WorkerRuntime: loads one engine, then runs batches strictly in order.
import { parentPort } from 'node:worker_threads';
import { createEngine } from './engine.js';
import type { Engine } from './engine-types.js';
import { serializeError, type HostMessage, type WorkerMessage } from './worker-protocol.js';

const port = parentPort;
if (port === null) throw new Error('runtime-worker.ts must run in a worker thread');

let engine: Engine | undefined;
// One batch at a time, in arrival order: the engine is single-session and close() must wait for
// the batches posted before it.
let tail: Promise<unknown> = Promise.resolve();

function send(message: WorkerMessage, transfer: ArrayBuffer[] = []): void {
  port!.postMessage(message, transfer);
}

function handle(message: HostMessage): Promise<void> {
  switch (message.type) {
    case 'load':
      return createEngine(message.spec).then(
        (loaded) => {
          engine = loaded;
          send({ type: 'loaded', info: loaded.info });
        },
        (error: unknown) => {
          send({ type: 'load-failed', error: serializeError(error) });
        },
      );
    case 'predict': {
      const current = engine;
      if (current === undefined) {
        send({ type: 'failed', id: message.id, error: { name: 'Error', message: 'predict before load' } });
        return Promise.resolve();
      }
      return current.predict(message.batch, message.batchSize).then(
        (scores) => {
          // Scores are tiny (batch x labels); an exact-size copy may be transferred whatever
          // buffer the engine returned (a wasm heap view, a native external buffer).
          const own = scores.slice();
          send({ type: 'result', id: message.id, scores: own }, [own.buffer]);
        },
        (error: unknown) => {
          send({ type: 'failed', id: message.id, error: serializeError(error) });
        },
      );
    }
    case 'close':
      return (engine?.close() ?? Promise.resolve()).then(
        () => {
          send({ type: 'closed' });
        },
        () => {
          send({ type: 'closed' });
        },
      );
  }
}

port.on('message', (message: HostMessage) => {
  tail = tail.then(() => handle(message));
});
