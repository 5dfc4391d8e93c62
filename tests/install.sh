#!/bin/sh
# Installs into a temporary prefix, then builds and runs a C and a C++
# program, and every public header alone, using only pkg-config.
set -eu
build=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
DESTDIR="$tmp/dest" meson install -C "$build" --no-rebuild --quiet >/dev/null
prefix=$(meson introspect "$build" --buildoptions |
  python3 -c 'import json,sys; print([o["value"] for o in json.load(sys.stdin) if o["name"]=="prefix"][0])')
root="$tmp/dest$prefix"
pcdir=$(dirname "$(find "$root" -name vbpr.pc | head -n 1)")
[ -f "$pcdir/vbpr.pc" ] || { echo "vbpr.pc not installed"; exit 1; }
export PKG_CONFIG_PATH="$pcdir"
pc() { pkg-config --define-variable=prefix="$root" "$@" vbpr; }

static_libs=$(pc --static --libs)
for want in -lvbpr -lblis -lm; do
  case " $static_libs " in *" $want "*) ;; *) echo "pkg-config --static --libs lacks $want: $static_libs"; exit 1;; esac
done
case "$static_libs" in *pthread*) ;; *) echo "pkg-config --static --libs lacks threads: $static_libs"; exit 1;; esac

cat > "$tmp/prog.c" <<'C'
#include <stdio.h>
#include <string.h>
#include <vbpr/vbpr.h>
int main(void) {
  if (vbpr_version_number() != VBPR_VERSION_NUMBER) return 1;
  if (vbpr_set_num_threads(-1) != VBPR_ERR_INVALID_ARGUMENT) return 2;
  if (strstr(vbpr_last_error(), "num_threads") == NULL) return 3;
  printf("C program linked libvbpr %s\n", vbpr_version_string());
  return 0;
}
C
cat > "$tmp/prog.cpp" <<'CPP'
#include <cstring>
#include <iostream>
#include <vbpr/vbpr.h>
int main() {
  if (vbpr_version_number() != VBPR_VERSION_NUMBER) return 1;
  if (std::strcmp(vbpr_status_string(VBPR_OK), "ok") != 0) return 2;
  std::cout << "C++ program linked libvbpr " << vbpr_version_string() << "\n";
  return 0;
}
CPP
libdir=$(pc --variable=libdir)
# A sanitizer build of the library needs the runtime in the program too.
san=""
if ldd "$libdir/libvbpr.so" | grep -q libasan; then san="-fsanitize=address,undefined"; fi
cc -std=c11 -Wall -Wextra -pedantic -Werror $san "$tmp/prog.c" -o "$tmp/prog_c" $(pc --cflags --libs)
LD_LIBRARY_PATH="$libdir" "$tmp/prog_c"
if command -v c++ >/dev/null 2>&1; then
  c++ -std=c++11 -Wall -Wextra -pedantic -Werror $san "$tmp/prog.cpp" -o "$tmp/prog_cpp" $(pc --cflags --libs)
  LD_LIBRARY_PATH="$libdir" "$tmp/prog_cpp"
else
  echo "no C++ compiler: C++ check not run"; exit 1
fi

# each public header stands alone, as C11 and as C++
n=0
for h in "$root"/include/vbpr/*.h; do
  name=$(basename "$h")
  printf '#include <vbpr/%s>\nint main(void) { return 0; }\n' "$name" > "$tmp/h.c"
  cc -std=c11 -Wall -Wextra -pedantic -Werror -c "$tmp/h.c" -o "$tmp/h.o" $(pc --cflags)
  cp "$tmp/h.c" "$tmp/h.cpp"
  c++ -std=c++11 -Wall -Wextra -pedantic -Werror -c "$tmp/h.cpp" -o "$tmp/h.o" $(pc --cflags)
  n=$((n + 1))
done
echo "ok: installed, pkg-config C and C++ programs ran, $n headers compile alone"
