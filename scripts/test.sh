#!/usr/bin/env bash
# Installs what is missing, builds the project twice (plain, and with
# AddressSanitizer + UndefinedBehaviorSanitizer) and runs check-attn on both.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

install_packages
build release
build sanitize -DATTN_ENABLE_SANITIZERS=ON

echo "== check-attn (release)"
cmake --build "$ROOT/build/release" --target check-attn
echo "== check-attn (address,undefined sanitizers)"
cmake --build "$ROOT/build/sanitize" --target check-attn

echo "== generated docs are up to date"
cmake --build "$ROOT/build/release" --target mlir-doc
diff -ru "$ROOT/docs/generated" "$ROOT/build/release/docs" \
  || { echo "docs/generated differs from the ODS: run scripts/update-docs.sh"; exit 1; }
