// A node:test reporter writing one line: "N passed[, M failed] in Xs[ — failing: …]".
// scripts/browser-test sends it to a file next to the spec reporter's output.

export default async function* summary(source) {
  const passed = [];
  const failed = [];
  const skipped = [];
  const started = Date.now();
  for await (const event of source) {
    if (event.type !== 'test:pass' && event.type !== 'test:fail') continue;
    const data = event.data;
    // count tests, not the per-file wrappers some node versions report
    if (data.details?.type === 'suite' || /\.test\.mjs$/.test(data.name)) {
      if (event.type === 'test:fail' && data.details?.error?.failureType !== 'subtestsFailed') {
        failed.push(data.name); // the file itself failed (syntax error, crash)
      }
      continue;
    }
    if (data.skip || data.todo) skipped.push(data.name);
    else if (event.type === 'test:pass') passed.push(data.name);
    else failed.push(data.name);
  }
  const parts = [`${passed.length} passed`];
  if (failed.length) parts.push(`${failed.length} failed`);
  if (skipped.length) parts.push(`${skipped.length} skipped`);
  let line = `${parts.join(', ')} in ${((Date.now() - started) / 1000).toFixed(1)}s`;
  if (failed.length) line += ` — failing: ${failed.map((n) => JSON.stringify(n)).join(' ')}`;
  if (!passed.length && !failed.length) line = 'no tests ran';
  yield `${line}\n`;
}
