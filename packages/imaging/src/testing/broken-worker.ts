// A decode worker that fails while loading, for the pool's "cannot start" path.
throw new Error('simulated module load failure');
