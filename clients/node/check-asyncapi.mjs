// Parse and validate an AsyncAPI document with the official parser (its $refs resolved);
// print one line per diagnostic and exit 1 on any error. Used by the hub's tests.
import { Parser, fromFile, DiagnosticSeverity } from "@asyncapi/parser";

const path = process.argv[2] ?? "../../docs/asyncapi.yaml";
const { document, diagnostics } = await fromFile(new Parser(), path).parse();
let errors = 0;
for (const d of diagnostics) {
  const level = ["error", "warning", "info", "hint"][d.severity] ?? String(d.severity);
  if (d.severity === DiagnosticSeverity.Error) errors += 1;
  console.log(`${level} ${d.code} ${d.path.join(".")}: ${d.message}`);
}
if (!document || errors > 0) {
  console.log(`INVALID (${errors} errors)`);
  process.exit(1);
}
console.log(`valid: AsyncAPI ${document.version()}, ${document.channels().length} channels, ` +
            `${document.operations().length} operations, ${document.messages().length} messages`);
