import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from './index.js';

describe('loadConfig', () => {
  it('uses defaults when nothing is set', () => {
    const config = loadConfig({});
    expect(config.logLevel).toBe('info');
    expect(config.decode.threads).toBeGreaterThanOrEqual(1);
  });

  it('reads explicit values', () => {
    expect(loadConfig({ CXR_DECODE_THREADS: '3', CXR_LOG_LEVEL: 'debug' })).toEqual({
      logLevel: 'debug',
      decode: { threads: 3 },
    });
  });

  it.each([['0'], ['-1'], ['1.5'], ['two']])('rejects CXR_DECODE_THREADS=%s naming the variable', (raw) => {
    expect(() => loadConfig({ CXR_DECODE_THREADS: raw })).toThrow(ConfigError);
    expect(() => loadConfig({ CXR_DECODE_THREADS: raw })).toThrow(/CXR_DECODE_THREADS/);
  });

  it('rejects an unknown log level', () => {
    expect(() => loadConfig({ CXR_LOG_LEVEL: 'loud' })).toThrow(/CXR_LOG_LEVEL must be one of/);
  });
});
