#!/usr/bin/env node
// The `cxr` command: the compiled command line (`pnpm build` writes services/cli/dist). It runs
// in this very process, so that Ctrl-C and SIGTERM reach the process doing the work and the
// command exits only after its graceful stop.
import '../dist/main.js';
