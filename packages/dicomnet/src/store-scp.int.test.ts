/**
 * The C-STORE SCP over loopback with this package's own SCU: an unexpected error while a C-STORE
 * is handled still answers the sender (Processing Failure) instead of leaving it waiting for a
 * response until its timeout, and the SCP goes on serving the association; the PDU size it
 * announces is its own receive limit.
 */
import { execFile } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cEcho, cStore } from './scu.js';
import { DimseStatus } from './status.js';
import { RECEIVE_MAX_PDU_LENGTH, startStoreScp, type RunningStoreScp } from './store-scp.js';

describe('C-STORE SCP over loopback', () => {
  let scp: RunningStoreScp;
  const errors: string[] = [];

  beforeAll(async () => {
    scp = await startStoreScp({
      aeTitle: 'CXR',
      host: '127.0.0.1',
      port: 0,
      maxObjectBytes: 1024 * 1024,
      onInstance: () => Promise.resolve(),
      // A faulty observer (a metrics bug) throws while a refusal is being counted.
      observer: {
        instance: (outcome) => {
          if (outcome === 'refused') throw new Error('observer failed');
        },
      },
      log: (level, msg) => {
        if (level === 'error') errors.push(msg);
      },
    });
  });

  afterAll(async () => {
    await scp.close();
  });

  const peer = () => ({
    host: '127.0.0.1',
    port: scp.port,
    calledAeTitle: 'CXR',
    callingAeTitle: 'TEST',
    timeoutMs: 5000,
  });

  it('answers Processing Failure at once when handling a C-STORE throws, and keeps serving', async () => {
    const started = Date.now();
    const status = await cStore(peer(), {
      sopClassUid: '1.2.840.10008.5.1.4.1.1.1',
      sopInstanceUid: '1.2.3.4',
      transferSyntaxUid: '1.2.840.10008.1.2.1',
      dataSet: new Uint8Array(Buffer.from('not a data set')),
    });
    expect(status).toBe(DimseStatus.ProcessingFailure);
    expect(Date.now() - started).toBeLessThan(4000);
    expect(errors).toEqual(['instance not stored']);
    await cEcho(peer());
  });

  it('announces its own receive limit, not the smaller one the requestor takes (fewer PDUs per instance)', async () => {
    // dcmtk's echoscu takes 16 KB PDUs and prints what the acceptor announced.
    const output = await new Promise<string>((resolve) => {
      execFile(
        'echoscu',
        ['-d', '--max-pdu', '16384', '-aet', 'TEST', '-aec', 'CXR', '127.0.0.1', String(scp.port)],
        (_error, stdout, stderr) => {
          resolve(`${stdout}${stderr}`);
        },
      );
    });
    expect(output).toMatch(/Association Accepted/);
    // The first line is the request's (before any answer), the last the acceptor's.
    const announced = [...output.matchAll(/Their Max PDU Receive Size:\s+(\d+)/g)].map((m) => Number(m[1]));
    expect(announced.at(-1)).toBe(RECEIVE_MAX_PDU_LENGTH);
  });
});
