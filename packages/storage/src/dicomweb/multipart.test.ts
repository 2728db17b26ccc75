/**
 * The multipart/related parser and the WADO-RS instance reader on hand-built answers: every way a
 * PACS writes multipart (quoted or bare boundary, preamble, epilogue, LF-only lines, padding), a
 * part split at every possible byte, and every way an answer can be unusable.
 */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ObjectFetchError, ObjectTooLargeError } from '../errors.js';
import { HeadCheckFailure, readInstanceBody } from './instance-body.js';
import { MultipartFormatError, MultipartParser, parseMediaType } from './multipart.js';

interface ParsedPart {
  headers: Record<string, string>;
  body: Buffer;
}

/** Parses `body` fed in the given chunk sizes (cycled). */
function parse(boundary: string, body: Buffer, chunkSizes: readonly number[] = [body.length]): ParsedPart[] {
  const parts: ParsedPart[] = [];
  let current: { headers: Record<string, string>; chunks: Buffer[] } | undefined;
  const parser = new MultipartParser(boundary, {
    onPartBegin: (headers) => {
      current = { headers: Object.fromEntries(headers), chunks: [] };
    },
    // Copied: the view is only valid during the call.
    onPartData: (bytes) => current?.chunks.push(Buffer.from(bytes)),
    onPartEnd: () => {
      if (current) parts.push({ headers: current.headers, body: Buffer.concat(current.chunks) });
      current = undefined;
    },
  });
  let offset = 0;
  for (let i = 0; offset < body.length; i++) {
    const size = Math.max(1, chunkSizes[i % chunkSizes.length] ?? 1);
    parser.write(body.subarray(offset, offset + size));
    offset += size;
  }
  parser.end();
  return parts;
}

/** A fake DICOM instance: preamble, DICM, then random bytes that may hold CR, LF and dashes. */
function fakeInstance(size: number): Buffer {
  const bytes = randomBytes(size);
  bytes.fill(0, 0, 128);
  bytes.write('DICM', 128, 'latin1');
  // Near-delimiters inside the data: a line break and dashes, but not the boundary.
  bytes.write('\r\n--', 300, 'latin1');
  bytes.write('\n--b0undar', 600, 'latin1');
  return bytes;
}

function multipart(
  boundary: string,
  parts: readonly Buffer[],
  options: { preamble?: string; epilogue?: string; eol?: string } = {},
): Buffer {
  const eol = options.eol ?? '\r\n';
  const pieces: Buffer[] = [Buffer.from(options.preamble ?? '', 'latin1')];
  for (const part of parts) {
    pieces.push(
      Buffer.from(
        `--${boundary}${eol}Content-Type: application/dicom${eol}Content-Length: ${part.length}${eol}${eol}`,
        'latin1',
      ),
    );
    pieces.push(part);
    pieces.push(Buffer.from(eol, 'latin1'));
  }
  pieces.push(Buffer.from(`--${boundary}--${options.epilogue ?? ''}`, 'latin1'));
  return Buffer.concat(pieces);
}

async function* chunked(body: Buffer, size: number): AsyncGenerator<Uint8Array> {
  for (let offset = 0; offset < body.length; offset += size) {
    yield await Promise.resolve(body.subarray(offset, offset + size));
  }
}

const URI = 'dicomweb+http://pacs.test/dicom-web/studies/1.2/series/1.3/instances/1.4';
const isDicm = (head: Uint8Array): void => {
  if (Buffer.from(head.subarray(128, 132)).toString('latin1') !== 'DICM') throw new Error('not DICOM');
};

describe('MultipartParser', () => {
  const instance = fakeInstance(5000);

  it('reads a part whatever the chunk boundaries (every split point of a small body)', () => {
    const small = fakeInstance(700);
    const body = multipart('b0undary', [small], { preamble: 'preamble text\r\n', epilogue: '\r\nepilogue' });
    for (let split = 1; split < body.length; split++) {
      const parts = parse('b0undary', body, [split, body.length]);
      expect(parts, `split at ${split}`).toHaveLength(1);
      expect(parts[0]?.body.equals(small), `split at ${split}`).toBe(true);
    }
    // One byte at a time.
    expect(parse('b0undary', body, [1])[0]?.body.equals(small)).toBe(true);
  });

  it('reads several parts, headers in lower case', () => {
    const second = fakeInstance(700);
    const parts = parse('xyz', multipart('xyz', [instance, second]), [7, 4096, 13]);
    expect(parts.map((p) => p.body.length)).toEqual([5000, 700]);
    expect(parts[1]?.body.equals(second)).toBe(true);
    expect(parts[0]?.headers).toEqual({ 'content-type': 'application/dicom', 'content-length': '5000' });
  });

  it('accepts LF-only lines, padding after a delimiter, a part without headers, and a missing final --', () => {
    expect(parse('zz9', multipart('zz9', [instance], { eol: '\n' }))[0]?.body.equals(instance)).toBe(true);
    const padded = Buffer.concat([Buffer.from('--zz9 \t\r\n\r\n'), instance, Buffer.from('\r\n--zz9--\r\n')]);
    const [part] = parse('zz9', padded, [3]);
    expect(part?.headers).toEqual({});
    expect(part?.body.equals(instance)).toBe(true);
    const unclosed = Buffer.concat([
      Buffer.from('--zz9\r\nContent-Type: application/dicom\r\n\r\n'),
      instance,
      Buffer.from('\r\n--zz9\r\n'),
    ]);
    expect(parse('zz9', unclosed)[0]?.body.equals(instance)).toBe(true);
  });

  it('passes on a part of declared Content-Length unsearched, then finds the delimiter as usual', () => {
    // The boundary's own text inside the declared bytes does not end the part: it is not searched.
    const holding = Buffer.concat([fakeInstance(700), Buffer.from('\r\n--zz9\r\n'), fakeInstance(700)]);
    for (const sizes of [[holding.length + 200], [1], [97, 5]]) {
      expect(parse('zz9', multipart('zz9', [holding]), sizes)[0]?.body.equals(holding)).toBe(true);
    }
    // Declared shorter than it is: the search takes over after the declared bytes and the part
    // runs on to the delimiter, for the reader to refuse as longer than declared.
    const lying = multipart('zz9', [instance])
      .toString('latin1')
      .replace('Content-Length: 5000', 'Content-Length: 10');
    expect(parse('zz9', Buffer.from(lying, 'latin1'), [64])[0]?.body.equals(instance)).toBe(true);
  });

  it('reports an empty multipart as no part, a body without the boundary and a cut body as errors', () => {
    expect(parse('zz9', Buffer.from('--zz9--\r\n'))).toEqual([]);
    expect(() => parse('zz9', Buffer.from('<html>Login</html>'))).toThrow(MultipartFormatError);
    expect(() => parse('other', multipart('zz9', [instance]))).toThrow(/no boundary/);
    const cut = multipart('zz9', [instance]).subarray(0, 3000);
    let error: unknown;
    try {
      parse('zz9', cut, [1000]);
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(MultipartFormatError);
    expect((error as MultipartFormatError).truncated).toBe(true);
    expect(() => parse('zz9', Buffer.from('--zz9XYZ\r\n\r\nbody'))).toThrow(/delimiter line/);
  });
});

describe('parseMediaType', () => {
  it('reads quoted and bare parameters', () => {
    const quoted = parseMediaType(
      'Multipart/Related; type="application/dicom"; boundary="a b;c"; transfer-syntax=*',
    );
    expect(quoted.type).toBe('multipart/related');
    expect(quoted.params.get('boundary')).toBe('a b;c');
    expect(quoted.params.get('type')).toBe('application/dicom');
    expect(parseMediaType('multipart/related;boundary=abc').params.get('boundary')).toBe('abc');
  });
});

describe('readInstanceBody', () => {
  const instance = fakeInstance(20_000);

  it('reads the instance of a multipart answer, boundary quoted or bare, in any chunking', async () => {
    for (const contentType of [
      'multipart/related; type="application/dicom"; boundary="3c7da492-766a"',
      'multipart/related; type=application/dicom; boundary=3c7da492-766a',
    ]) {
      const body = multipart('3c7da492-766a', [instance]);
      for (const size of [1, 97, 65_536]) {
        const bytes = await readInstanceBody(URI, contentType, body.length, chunked(body, size), {
          head: { bytes: 132, check: isDicm },
        });
        expect(Buffer.from(bytes).equals(instance)).toBe(true);
      }
    }
  });

  it('takes a transcoded part, an octet-stream part, a part without Content-Length and a bare application/dicom answer', async () => {
    const transcoded = Buffer.concat([
      Buffer.from('--zz9\r\nContent-Type: application/dicom; transfer-syntax=1.2.840.10008.1.2.1\r\n\r\n'),
      instance,
      Buffer.from('\r\n--zz9--'),
    ]);
    const octet = Buffer.concat([
      Buffer.from('--zz9\r\nContent-Type: application/octet-stream\r\n\r\n'),
      instance,
      Buffer.from('\r\n--zz9--'),
    ]);
    for (const body of [transcoded, octet]) {
      const bytes = await readInstanceBody(
        URI,
        'multipart/related; boundary=zz9',
        undefined,
        chunked(body, 1000),
      );
      expect(Buffer.from(bytes).equals(instance)).toBe(true);
    }
    const bare = await readInstanceBody(URI, 'application/dicom', instance.length, chunked(instance, 4096));
    expect(Buffer.from(bare).equals(instance)).toBe(true);
  });

  it('refuses HTML, an empty multipart, a non-DICOM part type, and reports a non-DICOM part through the head check', async () => {
    const failure = async (contentType: string, body: Buffer, options = {}): Promise<unknown> =>
      readInstanceBody(URI, contentType, body.length, chunked(body, 512), options).then(
        () => undefined,
        (error: unknown) => error,
      );
    const html = await failure('text/html; charset=utf-8', Buffer.from('<html>Please log in</html>'));
    expect(html).toBeInstanceOf(ObjectFetchError);
    expect((html as ObjectFetchError).transient).toBe(false);
    expect((html as Error).message).toMatch(/answered text\/html, not multipart\/related/);
    const empty = await failure('multipart/related; boundary=zz9', Buffer.from('--zz9--\r\n'));
    expect((empty as Error).message).toMatch(/holds no instance \(empty multipart\)/);
    const htmlPart = await failure(
      'multipart/related; boundary=zz9',
      Buffer.from('--zz9\r\nContent-Type: text/html\r\n\r\n<html/>\r\n--zz9--'),
    );
    expect((htmlPart as Error).message).toMatch(/part is text\/html, not application\/dicom/);
    const noBoundary = await failure('multipart/related', instance);
    expect((noBoundary as Error).message).toMatch(/without a boundary/);
    const png = await failure(
      'multipart/related; boundary=zz9',
      multipart('zz9', [Buffer.from('\x89PNG\r\n'.padEnd(400, 'x'))]),
      {
        head: { bytes: 132, check: isDicm },
      },
    );
    expect(png).toBeInstanceOf(HeadCheckFailure);
    expect(((png as HeadCheckFailure).cause as Error).message).toBe('not DICOM');
  });

  it('treats a body cut inside the part as transient', async () => {
    const body = multipart('zz9', [instance]).subarray(0, 10_000);
    const error = await readInstanceBody(
      URI,
      'multipart/related; boundary=zz9',
      undefined,
      chunked(body, 4096),
    ).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(ObjectFetchError);
    expect((error as ObjectFetchError).transient).toBe(true);
  });

  it('refuses an answer larger than maxBytes before reading it, and a part that grows past it while reading', async () => {
    let pulled = 0;
    async function* counting(body: Buffer): AsyncGenerator<Uint8Array> {
      for await (const chunk of chunked(body, 1024)) {
        pulled += chunk.byteLength;
        yield chunk;
      }
    }
    const big = fakeInstance(200_000);
    const body = multipart('zz9', [big]);
    const early = await readInstanceBody(
      URI,
      'multipart/related; boundary=zz9',
      body.length,
      counting(body),
      {
        maxBytes: 100_000,
      },
    ).catch((caught: unknown) => caught);
    expect(early).toBeInstanceOf(ObjectTooLargeError);
    expect(pulled).toBe(0);
    // No Content-Length anywhere: refused once more than maxBytes arrived, not at the end.
    const headerless = Buffer.concat([Buffer.from('--zz9\r\n\r\n'), big, Buffer.from('\r\n--zz9--')]);
    pulled = 0;
    const late = await readInstanceBody(
      URI,
      'multipart/related; boundary=zz9',
      undefined,
      counting(headerless),
      { maxBytes: 100_000 },
    ).catch((caught: unknown) => caught);
    expect(late).toBeInstanceOf(ObjectTooLargeError);
    expect(pulled).toBeLessThan(110_000);
    // The part's own Content-Length above the limit: refused from its header.
    pulled = 0;
    const declared = await readInstanceBody(
      URI,
      'multipart/related; boundary=zz9',
      undefined,
      counting(body),
      {
        maxBytes: 100_000,
      },
    ).catch((caught: unknown) => caught);
    expect(declared).toBeInstanceOf(ObjectTooLargeError);
    expect(pulled).toBeLessThanOrEqual(1024);
  });

  it('awaits beforeRead with the part size before reading the instance in full', async () => {
    const sizes: number[] = [];
    const body = multipart('zz9', [instance]);
    await readInstanceBody(URI, 'multipart/related; boundary=zz9', body.length, chunked(body, 1000), {
      beforeRead: (size) => {
        sizes.push(size);
        return Promise.resolve();
      },
    });
    expect(sizes).toEqual([instance.length]);
  });
});
