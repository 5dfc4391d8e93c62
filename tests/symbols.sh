#!/bin/sh
# The shared library exports exactly the vbpr_* functions declared with
# VBPR_API in the public headers: nothing internal, nothing from BLIS.
set -eu
lib=$1
root=${VBPR_SOURCE_ROOT:?}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

nm -D --defined-only "$lib" | awk '$2 ~ /^[TtDdBbRrVvWwiu]$/ {print $3}' |
  sed 's/@.*//' | grep -v '^VBPR_0$' | sort -u > "$tmp/exported"

# declared: every identifier followed by '(' on a VBPR_API line
cat "$root"/include/vbpr/*.h "$root"/include/vbpr/version.h.in |
  tr '\n' ' ' | sed 's/;/;\n/g' | grep 'VBPR_API' |
  sed -n 's/.*[ *]\(vbpr_[a-z0-9_]*\) *(.*/\1/p' | sort -u > "$tmp/declared"

status=0
bad=$(grep -v '^vbpr_' "$tmp/exported" || true)
if [ -n "$bad" ]; then echo "exported symbols outside vbpr_*:"; echo "$bad"; status=1; fi
internal=$(grep '^vbpr__' "$tmp/exported" || true)
if [ -n "$internal" ]; then echo "internal vbpr__ symbols exported:"; echo "$internal"; status=1; fi
extra=$(comm -23 "$tmp/exported" "$tmp/declared")
if [ -n "$extra" ]; then echo "exported but not declared VBPR_API:"; echo "$extra"; status=1; fi
missing=$(comm -13 "$tmp/exported" "$tmp/declared")
if [ -n "$missing" ]; then echo "declared VBPR_API but not exported:"; echo "$missing"; status=1; fi
n=$(wc -l < "$tmp/exported")
if [ "$n" -lt 5 ]; then echo "only $n symbols exported: the check itself is broken"; status=1; fi
soname=$(readelf -d "$lib" | sed -n 's/.*SONAME.*\[\(.*\)\]/\1/p')
if [ "$soname" != "libvbpr.so.0" ]; then echo "soname is '$soname', expected libvbpr.so.0"; status=1; fi
[ $status -eq 0 ] && echo "ok: $n exported symbols, all vbpr_* and declared; soname $soname"
exit $status
