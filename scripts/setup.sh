#!/usr/bin/env bash
# Installs the project's pinned toolchain into ./.tools (git-ignored): anvil, forge and cast
# (npm @foundry-rs/*-linux-amd64), solc-js with a `solc` executable that forge can drive.
# Idempotent: a second run checks versions and does nothing. Nothing global is touched.
set -euo pipefail

FOUNDRY_VERSION=1.7.1
SOLC_VERSION=0.8.37

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
tools="$root/.tools"
npm_dir="$tools/npm"
bin="$tools/bin"
stamp="$tools/.installed"
want="foundry=$FOUNDRY_VERSION solc=$SOLC_VERSION"

say() { printf 'setup: %s\n' "$*"; }

# `--with-just` also installs the `just` command runner (a Rust crate) into .tools/bin when it is
# not on PATH. The README's two commands do not need it.
if [ "${1:-}" = "--with-just" ] && ! command -v just >/dev/null && [ ! -x "$tools/bin/just" ]; then
  say "installing just (cargo install --locked just --root .tools)"
  cargo install --locked --quiet just --root "$tools"
fi

if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -x "$bin/forge" ] && [ -x "$bin/solc" ]; then
  say "toolchain up to date in .tools ($want)"
  exit 0
fi

command -v npm >/dev/null || { echo "setup: npm is required (node/npm) but was not found" >&2; exit 1; }
mkdir -p "$npm_dir" "$bin"
[ -f "$npm_dir/package.json" ] || echo '{"name":"verdict-tools","private":true}' >"$npm_dir/package.json"

npm install --prefix "$npm_dir" --ignore-scripts --no-audit --no-fund --loglevel=error \
  "@foundry-rs/anvil-linux-amd64@$FOUNDRY_VERSION" \
  "@foundry-rs/forge-linux-amd64@$FOUNDRY_VERSION" \
  "@foundry-rs/cast-linux-amd64@$FOUNDRY_VERSION" \
  "solc@$SOLC_VERSION"

for tool in anvil forge cast; do
  src=$(find "$npm_dir/node_modules/@foundry-rs/$tool-linux-amd64" -type f -name "$tool" -path '*bin*' | head -n 1)
  [ -n "$src" ] || { echo "setup: no $tool binary in the npm package" >&2; exit 1; }
  chmod +x "$src"
  ln -sf "$src" "$bin/$tool"
done

# forge cannot download compilers here: a small executable answers `--version` like native solc
# and compiles standard JSON from stdin with solc-js.
cat >"$bin/solc" <<SOLC
#!/usr/bin/env node
const solc = require("$npm_dir/node_modules/solc");
const args = process.argv.slice(2);
if (args.includes("--version")) {
  process.stdout.write("solc, the solidity compiler commandline interface\nVersion: " + solc.version() + "\n");
  process.exit(0);
}
if (!args.includes("--standard-json")) {
  process.stderr.write("solc (verdict wrapper): only --version and --standard-json are supported\n");
  process.exit(2);
}
let input = "";
process.stdin.setEncoding("utf8");
process.stdin.on("data", (c) => (input += c));
process.stdin.on("end", () => {
  const fs = require("fs");
  const path = require("path");
  const allow = [];
  for (let i = 0; i < args.length; i++) {
    if (args[i] === "--allow-paths" && args[i + 1]) allow.push(...args[i + 1].split(","));
    if (args[i] === "--base-path" && args[i + 1]) allow.push(args[i + 1]);
  }
  const findImports = (p) => {
    const candidates = [p, ...allow.map((a) => path.join(a, p))];
    for (const c of candidates) {
      try { return { contents: fs.readFileSync(c, "utf8") }; } catch (_) {}
    }
    return { error: "file not found: " + p };
  };
  process.stdout.write(solc.compile(input, { import: findImports }));
});
SOLC
chmod +x "$bin/solc"

"$bin/forge" --version | head -n 1 | sed 's/^/setup: /'
"$bin/anvil" --version | head -n 1 | sed 's/^/setup: /'
"$bin/solc" --version | tail -n 1 | sed 's/^/setup: solc /'
echo "$want" >"$stamp"
say "done: add $bin to PATH, or use the scripts, which do"
