#!/usr/bin/env bash
# `sam build` offline: it must produce the function's bootstrap. SAM runs
# cargo-lambda, which cross-compiles with zig (both from .venv). The arm64
# standard library comes from `rustup target add`; where that cannot reach its
# server, the check builds for x86-64 instead and says so.
set -euo pipefail
cd "$(dirname "$0")/.."
export SAM_CLI_TELEMETRY=0 PATH="$PWD/.venv/bin:$PATH"
template=template.yaml
arch=arm64
if ! rustup target list --installed 2>/dev/null | grep -q '^aarch64-unknown-linux-gnu$' \
   && ! rustup target add aarch64-unknown-linux-gnu >/dev/null 2>&1; then
  arch=x86_64
  template=$(mktemp --suffix=.yaml -p .)
  trap 'rm -f "$template"' EXIT
  sed 's/Architectures: \[arm64\]/Architectures: [x86_64]/' template.yaml > "$template"
  echo "check_sam_build: the aarch64 standard library cannot be installed here; building for x86_64 instead."
  echo "check_sam_build: a real deployment builds arm64 (template.yaml); see README 'Architecture'."
fi
.venv-sam/bin/sam build --beta-features --template-file "$template" --build-dir target/sam-build >/dev/null
boot=target/sam-build/SigninWatchFunction/bootstrap
test -x "$boot" || { echo "check_sam_build: no bootstrap at $boot" >&2; exit 1; }
# ELF e_machine (bytes 18-19): 0xb7 aarch64, 0x3e x86-64.
machine=$(python3 -c 'import sys; b=open(sys.argv[1],"rb").read(20); print("elf" if b[:4]==b"\x7fELF" else "not-elf", hex(int.from_bytes(b[18:20],"little")))' "$boot")
want=$([ "$arch" = arm64 ] && echo "elf 0xb7" || echo "elf 0x3e")
[ "$machine" = "$want" ] || { echo "check_sam_build: $boot is '$machine', expected '$want' ($arch)" >&2; exit 1; }
echo "check_sam_build: sam build produced $boot ($arch, $(du -h "$boot" | cut -f1))"
