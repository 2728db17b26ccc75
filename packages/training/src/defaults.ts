/** Defaults of a training that a command line shows in its help (no heavy imports here). */
import { homedir } from 'node:os';
import path from 'node:path';

/** Default feature cache: per user, shared by every training run on this machine. */
export const DEFAULT_CACHE_DIR = path.join(homedir(), '.cache', 'cxr', 'features');
