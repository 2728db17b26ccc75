import { describe, expect, it } from 'vitest';
import type { FetchOptions, ObjectFetcher } from '@cxr/storage';
import { withUploads } from './upload-fetcher.js';

describe('withUploads', () => {
  it('passes the fetch limits and checks on to the object fetcher', async () => {
    const seen: (FetchOptions | undefined)[] = [];
    const objects: ObjectFetcher = {
      fetch: (_uri, options) => {
        seen.push(options);
        return Promise.resolve(new Uint8Array(1));
      },
      close: () => Promise.resolve(),
    };
    const options: FetchOptions = { maxBytes: 10, head: { bytes: 4, check: () => undefined } };
    const fetcher = withUploads(objects, { get: () => Promise.reject(new Error('not an upload')) });
    await fetcher.fetch('file:///archive/a.dcm', options);
    // Dropping them read a 3 GiB file whole (the worker's size limit never reached node:fs).
    expect(seen).toEqual([options]);
  });
});
