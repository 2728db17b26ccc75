import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from './index.js';

describe('loadConfig', () => {
  it('uses defaults when nothing is set', () => {
    const config = loadConfig({});
    expect(config.logLevel).toBe('info');
    expect(config.decode.threads).toBeGreaterThanOrEqual(1);
  });

  it('reads explicit values', () => {
    expect(
      loadConfig({
        CXR_DECODE_THREADS: '3',
        CXR_LOG_LEVEL: 'debug',
        CXR_RUNTIME: 'onnx',
        CXR_RUNTIME_THREADS: '2',
        CXR_ONNX_EXECUTION_PROVIDERS: 'cuda, cpu',
      }),
    ).toEqual({
      logLevel: 'debug',
      decode: { threads: 3 },
      runtime: { runtime: 'onnx', threads: 2, onnxExecutionProviders: ['cuda', 'cpu'] },
    });
  });

  it.each([['0'], ['-1'], ['1.5'], ['two']])('rejects CXR_DECODE_THREADS=%s naming the variable', (raw) => {
    expect(() => loadConfig({ CXR_DECODE_THREADS: raw })).toThrow(ConfigError);
    expect(() => loadConfig({ CXR_DECODE_THREADS: raw })).toThrow(/CXR_DECODE_THREADS/);
  });

  it('rejects an unknown runtime and an unknown execution provider', () => {
    expect(() => loadConfig({ CXR_RUNTIME: 'pytorch' })).toThrow(/CXR_RUNTIME must be one of auto, onnx/);
    expect(() => loadConfig({ CXR_ONNX_EXECUTION_PROVIDERS: 'cuda,rocm' })).toThrow(
      /CXR_ONNX_EXECUTION_PROVIDERS must be a comma-separated list/,
    );
  });

  it('rejects an unknown log level', () => {
    expect(() => loadConfig({ CXR_LOG_LEVEL: 'loud' })).toThrow(/CXR_LOG_LEVEL must be one of/);
  });
});
