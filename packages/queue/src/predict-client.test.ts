import { describe, expect, it } from 'vitest';
import { JobRejectedError } from './errors.js';
import { rejectReasonOf } from './predict-client.js';

describe('rejectReasonOf', () => {
  it('reads the reason code of a JobRejectedError from what BullMQ keeps (message and stack)', () => {
    const error = new JobRejectedError('corrupt_stream', 'DICOM object rejected by the decoder');
    expect(rejectReasonOf(error.message, [error.stack ?? ''])).toBe('corrupt_stream');
  });

  it('is undefined for any other failure, even one whose message looks like `code: text`', () => {
    const error = new Error('inference_error: the runtime crashed');
    expect(rejectReasonOf(error.message, [error.stack ?? ''])).toBeUndefined();
    expect(rejectReasonOf('not_dicom: x', null)).toBeUndefined();
    expect(rejectReasonOf(undefined, ['JobRejectedError: not_dicom: x'])).toBeUndefined();
  });

  it('uses the last attempt when a job failed more than once', () => {
    const transient = new Error('fetch failed');
    const rejected = new JobRejectedError('truncated', 'DICOM object rejected by the decoder');
    expect(rejectReasonOf(rejected.message, [transient.stack ?? '', rejected.stack ?? ''])).toBe('truncated');
    expect(rejectReasonOf(transient.message, [rejected.stack ?? '', transient.stack ?? ''])).toBeUndefined();
  });
});
