// Validates HTTP answers against docs/openapi.json with Stoplight Prism's own validator (the
// module `prism proxy` validates with), for the answers Prism's proxy cannot carry: requests its
// Node.js front end or its router refuse before forwarding (a method the document does not
// declare on the path, a method HTTP does not define, a request body, an HTTP version other than
// 1.x). Each answer is checked against the GET operation of its path, where the document declares
// what the path answers to such requests.
//
//   node prism_validate.mjs PRISM_BINARY OPENAPI_JSON < answers.json
// answers.json: [{"path": "/api/v1/sockets", "status": 405, "headers": {...}, "body": "..."}]
// Prints one line per violation ("<path> <status>: <message>") and exits 1 if there is any.
import { readFileSync, realpathSync } from "node:fs";
import { createRequire } from "node:module";

const [prismBinary, documentPath] = process.argv.slice(2);
const require = createRequire(realpathSync(prismBinary));
const { getHttpOperationsFromSpec } = require("@stoplight/prism-http");
const { validateOutput } = require("@stoplight/prism-http/dist/validator");

const operations = await getHttpOperationsFromSpec(documentPath);
const answers = JSON.parse(readFileSync(0, "utf8"));

function operationFor(path) {
  return operations.find((op) => {
    if (op.method !== "get") return false;
    const pattern = "^" + op.path.replace(/[.*+?^$()|[\]\\]/g, "\\$&").replace(/\\?\{[^}]+\\?\}/g, "[^/]+") + "$";
    return new RegExp(pattern).test(path);
  });
}

let violations = 0;
for (const answer of answers) {
  const where = `${answer.path} ${answer.status}`;
  const operation = operationFor(answer.path);
  if (!operation) {
    console.log(`${where}: no GET operation of the document matches the path`);
    violations++;
    continue;
  }
  const type = answer.headers["content-type"] ?? "";
  let body = answer.body;
  if (/json/.test(type)) {
    try {
      body = JSON.parse(answer.body);
    } catch (e) {
      console.log(`${where}: the body is not JSON: ${e.message}`);
      violations++;
      continue;
    }
  }
  const result = validateOutput({ resource: operation, element: { statusCode: answer.status, headers: answer.headers, body } });
  for (const d of result._tag === "Left" ? result.left : []) {
    console.log(`${where}: ${(d.path ?? []).join(".")} ${d.message}`);
    violations++;
  }
}
console.log(`${answers.length} answers checked, ${violations} violations`);
process.exit(violations === 0 ? 0 : 1);
