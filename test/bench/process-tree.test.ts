/**
 * The benches' peak-RSS sampler (bench/lib/process-tree.ts): a grandchild's memory counts in the
 * tree's peak, and a process that allocates nothing measures far below one that does.
 */
import { describe, expect, it } from 'vitest';
import { processTree, runMeasured, statusKiB } from '../../bench/lib/process-tree.js';

const MiB = 1024 * 1024;

// A child that starts a grandchild touching `mb` MiB and holding it for 600 ms.
const script = (mb: number): string => `
const { spawnSync } = require('node:child_process');
spawnSync(process.execPath, ['-e', ${JSON.stringify(
  `const b = Buffer.alloc(${mb} * 1024 * 1024, 1); setTimeout(() => { if (b[0] !== 1) process.exit(3); }, 600);`,
)}], { stdio: 'inherit' });
`;

describe('runMeasured', () => {
  it('counts a grandchild allocation in the tree peak', async () => {
    const env = { ...process.env, NODE_OPTIONS: '' };
    const big = await runMeasured(process.execPath, ['-e', script(300)], { env, intervalMs: 20 });
    const small = await runMeasured(process.execPath, ['-e', script(0)], { env, intervalMs: 20 });
    expect(big.code).toBe(0);
    expect(small.code).toBe(0);
    expect(big.processes).toBeGreaterThanOrEqual(2);
    expect(big.peakTreeRssBytes).toBeGreaterThan(300 * MiB);
    expect(big.maxHwmBytes).toBeGreaterThan(300 * MiB);
    expect(small.peakTreeRssBytes).toBeLessThan(big.peakTreeRssBytes - 200 * MiB);
    expect(big.wallSeconds).toBeGreaterThan(0.6);
  });

  it('reads this process in its own tree', () => {
    expect(processTree(process.pid)).toContain(process.pid);
    expect(statusKiB(process.pid, 'VmRSS')).toBeGreaterThan(10 * MiB);
    expect(statusKiB(2 ** 22 + 12345, 'VmRSS')).toBeUndefined();
  });
});
