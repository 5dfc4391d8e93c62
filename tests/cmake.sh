#!/bin/sh
# Installs into a temporary prefix, then builds C++ programs with CMake
# through find_package(vbpr 0.2 CONFIG REQUIRED) and vbpr::vbpr: a small
# consumer, and the per-sample example (examples/legacy_sgd), which it runs
# on a few lines of data. Against the shared library, and the static one
# when the build installs it (-Ddefault_library=both or static). Versions
# that the installed library cannot satisfy must be refused.
set -eu
build=$1
src=${VBPR_SOURCE_ROOT:?}
if ! command -v cmake >/dev/null 2>&1; then
  if [ "${CI:-}" = true ]; then echo "cmake not found; CI must have it"; exit 1; fi
  echo "SKIP: cmake not found"
  exit 77
fi
# the programs must find the installed library by themselves (CMake's
# RUNPATH), not the build tree's through meson test's LD_LIBRARY_PATH
unset LD_LIBRARY_PATH
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
DESTDIR="$tmp/dest" meson install -C "$build" --no-rebuild --quiet >/dev/null
prefix=$(meson introspect "$build" --buildoptions |
  python3 -c 'import json,sys; print([o["value"] for o in json.load(sys.stdin) if o["name"]=="prefix"][0])')
version=$(meson introspect "$build" --projectinfo |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["version"])')
root="$tmp/dest$prefix"
config=$(find "$root" -name vbprConfig.cmake | head -n 1)
[ -n "$config" ] || { echo "vbprConfig.cmake not installed"; exit 1; }
[ -f "$(dirname "$config")/vbprConfigVersion.cmake" ] || { echo "no vbprConfigVersion.cmake"; exit 1; }
shared=$(find "$root" -name 'libvbpr.so.*' | head -n 1)
static=$(find "$root" -name libvbpr.a | head -n 1)

# A sanitizer build of the library needs the runtime in the programs too.
flags=""
lib=${shared:-$static}
if nm -A "$lib" 2>/dev/null | grep -q __asan_; then flags="-fsanitize=address,undefined"; fi

mkdir -p "$tmp/consumer"
cat > "$tmp/consumer/CMakeLists.txt" <<CMAKE
cmake_minimum_required(VERSION 3.10)
project(consumer CXX)
# versions this installation cannot satisfy are refused, quietly
foreach(v 1.0 0.99 $version.1)
  find_package(vbpr \${v} CONFIG QUIET)
  if(vbpr_FOUND)
    message(FATAL_ERROR "find_package(vbpr \${v}) accepted version \${vbpr_VERSION}")
  endif()
endforeach()
find_package(vbpr CONFIG REQUIRED)
find_package(vbpr 0.1 CONFIG REQUIRED)
find_package(vbpr 0.2 CONFIG REQUIRED)
if(NOT VBPR_VERSION STREQUAL "$version" OR NOT vbpr_VERSION STREQUAL "$version")
  message(FATAL_ERROR "VBPR_VERSION is '\${VBPR_VERSION}', expected $version")
endif()
if(NOT TARGET vbpr::vbpr)
  message(FATAL_ERROR "no vbpr::vbpr target")
endif()
add_executable(prog prog.cpp)
target_link_libraries(prog PRIVATE vbpr::vbpr)
CMAKE
cat > "$tmp/consumer/prog.cpp" <<'CPP'
#include <cstdio>
#include <vbpr/vbpr.h>
int main() {
  if (vbpr_version_number() != VBPR_VERSION_NUMBER) return 1;
  vbpr_loss *loss = nullptr;
  if (vbpr_loss_create(VBPR_LOSS_VARIATIONAL, &loss) != VBPR_OK) return 2;
  if (vbpr_loss_set_preset(loss, "best") != VBPR_OK) return 3;
  double w[4];
  if (vbpr_loss_preset_prior_weights("best", &w[0], &w[1], &w[2], &w[3]) != VBPR_OK) return 4;
  const double counts[3] = {5, 1, 0};
  float lp[3], ln[3];
  if (vbpr_loss_item_log_priors(3, counts, nullptr, w[0], w[1], w[2], w[3], lp, ln) != VBPR_OK)
    return 5;
  vbpr_loss_destroy(loss);
  std::printf("CMake consumer linked libvbpr %s\n", vbpr_version_string());
  return 0;
}
CPP

# tiny data for the example engine: 6 users, 8 items
for f in train test; do printf 'user\titem\trating\n' > "$tmp/$f.tsv"; done
for u in 0 1 2 3 4 5; do
  for i in 0 1 2 3 4 5 6 7; do
    case $(( (u + i) % 4 )) in
      0) printf '%d\t%d\t4\n' $u $i >> "$tmp/train.tsv" ;;
      1) printf '%d\t%d\t5\n' $u $i >> "$tmp/test.tsv" ;;
    esac
  done
done

# configure_build NAME SOURCE [cmake options...]
configure_build() {
  name=$1
  source=$2
  shift 2
  cmake -S "$source" -B "$tmp/$name" -DCMAKE_PREFIX_PATH="$root" \
    -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_FLAGS="$flags" "$@" > "$tmp/$name.log" 2>&1 &&
  cmake --build "$tmp/$name" >> "$tmp/$name.log" 2>&1 ||
    { cat "$tmp/$name.log"; echo "CMake build $name failed"; exit 1; }
}

run_checks() {
  kind=$1
  shift
  configure_build "consumer-$kind" "$tmp/consumer" "$@"
  "$tmp/consumer-$kind/prog"
  configure_build "sgd-$kind" "$src/examples/legacy_sgd" "$@"
  out=$("$tmp/sgd-$kind/vbpr_after" --train "$tmp/train.tsv" --test "$tmp/test.tsv" \
    --epochs 2 --dim 4 --eval-every 1 --threads 2)
  echo "$out" | grep -q '^final recall@20' || { echo "$out"; echo "example failed"; exit 1; }
  if [ "$kind" = static ]; then
    if ldd "$tmp/consumer-$kind/prog" "$tmp/sgd-$kind/vbpr_after" | grep -q libvbpr; then
      echo "the static build links libvbpr.so"; exit 1
    fi
  elif ! ldd "$tmp/sgd-$kind/vbpr_after" | grep -q "libvbpr.so.0 => $root"; then
    echo "the example does not use the installed shared library:"
    ldd "$tmp/sgd-$kind/vbpr_after"
    exit 1
  fi
  echo "ok: $kind library found by CMake; consumer and per-sample example built and ran"
}

checked=0
if [ -n "$shared" ]; then run_checks shared; checked=$((checked + 1)); fi
if [ -n "$static" ]; then run_checks static -DVBPR_USE_STATIC_LIBS=ON; checked=$((checked + 1)); fi
[ $checked -gt 0 ] || { echo "neither libvbpr.so nor libvbpr.a installed"; exit 1; }
