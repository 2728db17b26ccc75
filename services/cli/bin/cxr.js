#!/usr/bin/env node
// The `cxr` command. Runs the command line in this very process (tsx's loader compiles the
// TypeScript sources on the fly), so that Ctrl-C and SIGTERM reach the process doing the work and
// the command exits only after its graceful stop: a wrapper that spawned a child would exit at
// once and leave the child running, reparented to PID 1.
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { register } from 'tsx/esm/api';

register();
await import(pathToFileURL(join(dirname(fileURLToPath(import.meta.url)), '..', 'src', 'main.ts')).href);
