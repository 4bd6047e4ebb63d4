#!/usr/bin/env bash
# Checks docs/openapi.json with the tools API consumers run on it: `redocly lint` (Redocly CLI's
# recommended rules: no error and no warning) and `swagger-cli validate` (the OpenAPI 3.0 schema
# and every $ref). Then it breaks copies of the document the ways it was once broken (a response
# reference where a media type belongs; a nullable field without a type) and expects both tools to
# refuse them, so that a tool that stopped checking cannot pass. The tools come from
# `scripts/install-deps.sh --conformance`; without them this fails, or, with
# OPENAPI_LINT_MISSING_OK=1 outside CI, exits 77 (ctest's SKIP_RETURN_CODE).
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${PODNETSTAT_TOOLS_DIR:-/opt/podnetstat-tools}/bin
for tool in redocly swagger-cli node; do
  if [ ! -x "$bin/$tool" ] && ! command -v "$tool" >/dev/null; then
    echo "openapi-lint: $tool missing: scripts/install-deps.sh --conformance installs it" >&2
    if [ "${OPENAPI_LINT_MISSING_OK:-}" = 1 ] && [ "${CI:-}" != true ]; then
      exit 77
    fi
    exit 1
  fi
done
export PATH="$bin:$PATH"
# No telemetry, no update check: the tools run offline.
export REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true NO_UPDATE_NOTIFIER=1

work=$(mktemp -d "${TMPDIR:-/tmp}/podnetstat-openapi-lint.XXXXXX")
trap 'rm -rf "$work"' EXIT

lint() {  # FILE: 0 when both tools accept it, redocly without a warning
  local out
  out=$(redocly lint "$1" 2>&1) || { echo "$out"; return 1; }
  if ! grep -q 'Your API description is valid' <<<"$out" || grep -qE 'You have [0-9]+ warning' <<<"$out"; then
    echo "$out"
    return 1
  fi
  swagger-cli validate "$1" 2>&1 || return 1
}

echo "openapi-lint: redocly $(redocly --version 2>/dev/null | tail -1), swagger-cli $(swagger-cli --version)" >&2
lint docs/openapi.json

# The breakages the tools must see.
node -e '
  const fs = require("fs");
  const doc = JSON.parse(fs.readFileSync("docs/openapi.json", "utf8"));
  const media = structuredClone(doc);
  media.components.responses.SocketList.content["503"] = {$ref: "#/components/responses/NotReady"};
  fs.writeFileSync(process.argv[1] + "/media.json", JSON.stringify(media));
  const nullable = structuredClone(doc);
  nullable.components.schemas.PodSummary.properties.netns = {allOf: [{$ref: "#/components/schemas/NetnsRef"}], nullable: true};
  fs.writeFileSync(process.argv[1] + "/nullable.json", JSON.stringify(nullable));
' "$work"
if redocly lint "$work/media.json" >/dev/null 2>&1 || swagger-cli validate "$work/media.json" >/dev/null 2>&1; then
  echo "openapi-lint: a response reference among the media types was not refused" >&2
  exit 1
fi
if lint "$work/nullable.json" >/dev/null 2>&1; then
  echo "openapi-lint: a nullable field without a type was not refused" >&2
  exit 1
fi
echo "openapi-lint: docs/openapi.json passes redocly lint and swagger-cli validate; the broken copies do not"
