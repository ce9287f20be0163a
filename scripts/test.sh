#!/usr/bin/env bash
# Runs every test: installs dependencies, builds, runs the xunit suites (the differential suites
# start their own private libvirtd), then the CLI end-to-end checks. Must run as root in CI.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
./scripts/install-deps.sh
dotnet restore VirtPool.slnx -nologo
dotnet build VirtPool.slnx -c Release --no-restore -nologo
# The CLI tests run the NativeAOT binary, as users do.
./virtpool --version >/dev/null
export VIRTPOOL_CLI="$root/artifacts/cli/virtpool"
dotnet test VirtPool.slnx -c Release --no-build -nologo --logger "console;verbosity=minimal" "$@"
