/**
 * Where dcmjs-dimse puts a C-STORE data set while its fragments arrive: the fragments themselves,
 * kept as received (no parse, no re-encoding), up to a byte limit. The library normally parses
 * the data set into a dcmjs Dataset, which would re-encode it on the way to disk and could change
 * its bytes; `RawDataSet` takes that object's place and carries the fragments instead.
 */
import { Writable } from 'node:stream';

/** Collects the fragments of one data set; past `maxBytes` it keeps counting but drops them. */
export class DataSetCollector extends Writable {
  readonly chunks: Buffer[] = [];
  bytes = 0;
  #overflow = false;

  constructor(readonly maxBytes: number) {
    // Every write completes at once, so the library never waits for 'drain'.
    super({ highWaterMark: Number.MAX_SAFE_INTEGER });
  }

  /** Whether the data set was larger than `maxBytes` (its fragments were dropped). */
  get overflow(): boolean {
    return this.#overflow;
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.bytes += chunk.length;
    if (this.bytes > this.maxBytes) {
      this.#overflow = true;
      this.chunks.length = 0;
    } else {
      this.chunks.push(chunk);
    }
    callback();
  }
}

/** What the C-STORE handler gets in place of a parsed dcmjs Dataset. */
export class RawDataSet {
  constructor(
    readonly collector: DataSetCollector,
    readonly transferSyntaxUid: string,
  ) {}

  /** The dcmjs Dataset method the library itself calls on a received data set. */
  getTransferSyntaxUid(): string {
    return this.transferSyntaxUid;
  }
}

/** The collector of a request's data set, if it arrived through a DataSetCollector. */
export function rawDataSetOf(dataset: unknown): RawDataSet | undefined {
  return dataset instanceof RawDataSet ? dataset : undefined;
}
