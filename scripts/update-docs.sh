#!/usr/bin/env bash
# Regenerates docs/generated (dialect and pass docs) from the ODS files.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

install_packages
build release
cmake --build "$ROOT/build/release" --target mlir-doc
rm -rf "$ROOT/docs/generated"
cp -r "$ROOT/build/release/docs" "$ROOT/docs/generated"
find "$ROOT/docs/generated" -type d -name CMakeFiles -prune -exec rm -rf {} +
find "$ROOT/docs/generated" -name cmake_install.cmake -delete
