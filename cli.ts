#!/usr/bin/env node
// The AWS SDK is pinned to releases that support Node 20; its upgrade reminder is not actionable here.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
const { run } = await import('./cli/main.js');
await run(process.argv);
