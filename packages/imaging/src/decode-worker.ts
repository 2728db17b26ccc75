// Worker-thread side of DecodePool: runs tasks one at a time and posts each outcome back.
import { parentPort, workerData } from 'node:worker_threads';

import sharp from 'sharp';

import { resultTransferList, serializeError } from './decode-protocol.js';
import type { DecodeWorkerData, TaskMessage, WorkerMessage } from './decode-protocol.js';
import { runDecodeTask } from './decode-task.js';

const port = parentPort;
if (port === null) throw new Error('decode-worker.ts must run in a worker thread');

// Parallelism comes from the pool's threads; libvips' own thread pool (process-wide, sized to
// the core count by default) would oversubscribe the cores and starve the main event loop.
const { vipsConcurrency, vipsCache } = workerData as DecodeWorkerData;
if (vipsConcurrency !== undefined) sharp.concurrency(vipsConcurrency);
if (vipsCache === false) sharp.cache(false);

port.on('message', (task: TaskMessage) => {
  runDecodeTask(task.bytes, task.request).then(
    (result) => {
      const message: WorkerMessage = { type: 'result', id: task.id, ok: true, result };
      port.postMessage(message, resultTransferList(result));
    },
    (error: unknown) => {
      const message: WorkerMessage = { type: 'result', id: task.id, ok: false, error: serializeError(error) };
      port.postMessage(message);
    },
  );
});

const ready: WorkerMessage = { type: 'ready' };
port.postMessage(ready);
