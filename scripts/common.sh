# Shared by the README's commands: install what is missing, configure, build.
# Sourced, not run.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
LLVM_DIR_PREFIX=/usr/lib/llvm-22
PACKAGES=(cmake ninja-build ccache clang-22 libclang-rt-22-dev
          llvm-22-dev llvm-22-tools libmlir-22-dev mlir-22-tools
          libomp-22-dev python3-numpy)

install_packages() {
  local missing=()
  for p in "${PACKAGES[@]}"; do
    dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
  done
  if [ ${#missing[@]} -eq 0 ]; then
    return
  fi
  echo "== installing: ${missing[*]}"
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}"
}

# build_dir NAME [extra cmake args...]: configures and builds into build/NAME.
build() {
  local dir="$ROOT/build/$1"
  shift
  echo "== building $dir"
  cmake -S "$ROOT" -B "$dir" -G Ninja \
    -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_C_COMPILER=clang-22 -DCMAKE_CXX_COMPILER=clang++-22 \
    -DCMAKE_CXX_COMPILER_LAUNCHER=ccache \
    -DMLIR_DIR="$LLVM_DIR_PREFIX/lib/cmake/mlir" \
    -DLLVM_EXTERNAL_LIT="$LLVM_DIR_PREFIX/bin/lit" "$@" >/dev/null
  cmake --build "$dir"
}

# Debian's python3 has NumPy; the first python3 on PATH may not.
PYTHON=/usr/bin/python3
export PATH="$LLVM_DIR_PREFIX/bin:$PATH"
