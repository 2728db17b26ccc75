/** Reading a DICOM file given on the command line, shared by the dicom, predict and model actions. */
import { readFile } from 'node:fs/promises';
import { isDicomRejectedError } from '@cxr/dicom/errors';
import { CliError, ExitCode, RejectedInputError } from '../output.js';

/** Reads a file and turns a DICOM rejection into an error that names the file. */
export async function readInput<T>(file: string, work: (bytes: Uint8Array) => Promise<T> | T): Promise<T> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(file);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'read error';
    throw new CliError(`${file}: cannot read (${code})`, ExitCode.Failure);
  }
  try {
    return await work(bytes);
  } catch (error) {
    if (isDicomRejectedError(error)) throw new RejectedInputError(file, error);
    throw error;
  }
}

/** Little-endian float32 bytes whatever the host byte order is. */
export function float32LittleEndian(values: Float32Array): Uint8Array {
  const out = new Uint8Array(values.length * 4);
  const view = new DataView(out.buffer);
  for (let i = 0; i < values.length; i++) view.setFloat32(i * 4, values[i]!, true);
  return out;
}
