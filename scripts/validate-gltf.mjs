// Validate glTF/GLB files with the official Khronos glTF validator.
// Usage: node scripts/validate-gltf.mjs FILE... ; prints one JSON report summary per line
// ({"file", "errors", "warnings", "messages": [first errors]}) and exits 1 if any file has errors.
import { readFile } from "node:fs/promises";
import path from "node:path";
import validator from "gltf-validator";

async function validate(file) {
  const data = new Uint8Array(await readFile(file));
  const report = await validator.validateBytes(data, {
    uri: path.basename(file),
    maxIssues: 200,
    externalResourceFunction: (uri) =>
      readFile(path.resolve(path.dirname(file), decodeURIComponent(uri))).then(
        (buf) => new Uint8Array(buf),
      ),
  });
  const issues = report.issues;
  const messages = issues.messages
    .filter((m) => m.severity === 0)
    .slice(0, 10)
    .map((m) => `${m.code} ${m.pointer ?? ""}: ${m.message}`);
  return {
    file,
    errors: issues.numErrors,
    warnings: issues.numWarnings,
    messages,
    warning_codes: [...new Set(issues.messages.filter((m) => m.severity === 1).map((m) => m.code))],
  };
}

let failed = false;
for (const file of process.argv.slice(2)) {
  const result = await validate(file);
  if (result.errors > 0) failed = true;
  process.stdout.write(`${JSON.stringify(result)}\n`);
}
process.exit(failed ? 1 : 0);
