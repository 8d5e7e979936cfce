#!/usr/bin/env node
// The AWS SDK warns on every start under Node 20 about its future releases; the
// CLI's stderr is for its own messages (scripts parse it), so that notice lives in the README.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
const { main } = await import('../lib/cli/main.js');

process.exitCode = await main(process.argv.slice(2));
