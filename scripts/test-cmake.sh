#!/usr/bin/env bash
# Tests the CMake build and packaging of libgmp and its C++ binding, from a clean build
# directory:
#   1. configure and build (cargo underneath; the C++ tests and examples with
#      -Wall -Wextra -Wpedantic -Wshadow -Werror, C++17)
#   2. ctest: the GoogleTest tests of <gmp/gmp.hpp> (one process each; built with and
#      without exceptions), the throw-site check under gdb, the thread callbacks, GNU MP
#      coexistence, the examples; then both GoogleTest binaries once more, each all in
#      one process
#   3. install to a temporary prefix and check the layout: the real file (DWARF split
#      off into a .debug file), its SONAME link, no libgmp.so or libgmp.a (GNU MP's
#      names), libgmp-runtime.so/.a, the headers, the CMake package (SameMinorVersion
#      for 0.x) and gmp-runtime.pc (also --static); cmake --install --strip; sizes
#   4. installing beside GNU MP's libgmp.so and libgmp.a leaves them alone
#   5. tests/cmake-consumer against the installed package (find_package), and again
#      through add_subdirectory of this tree
#   6. the pkg-config consumer (plain make and cc)
# Prints "N passed, N failed" (every check and every ctest test counts one) and exits
# non-zero if anything failed.
#
# Usage: bash scripts/test-cmake.sh [--keep]
#   --keep                 reuse the build directory instead of starting clean
# Environment:
#   GMP_CMAKE_BUILD_DIR    build directory (default build/cmake; removed first)
#   JOBS                   parallel jobs (default 2)
# Needs cmake >= 3.18, a C and C++ compiler, GoogleTest (libgtest-dev), GNU MP
# (libgmp-dev), pkg-config and make; Ninja if present.
set -uo pipefail
cd "$(dirname "$0")/.."
root=$PWD
build=${GMP_CMAKE_BUILD_DIR:-build/cmake}
jobs=${JOBS:-2}
keep=0
[ "${1:-}" = "--keep" ] && keep=1

case $build in /*) ;; *) build=$root/$build ;; esac
if [ $keep = 0 ]; then rm -rf "$build"; fi
mkdir -p "$build"
prefix=$(mktemp -d "${TMPDIR:-/tmp}/gmp-prefix.XXXXXX")
guard_prefix=$(mktemp -d "${TMPDIR:-/tmp}/gmp-guard.XXXXXX")
trap 'rm -rf "$prefix" "$guard_prefix"' EXIT
generator=()
command -v ninja >/dev/null && generator=(-G Ninja)
logs=$build/logs
mkdir -p "$logs"

passed=0
failed=0
ok() { passed=$((passed + 1)); echo "ok    $1"; }
bad() { failed=$((failed + 1)); echo "FAIL  $1"; }
# check NAME COMMAND...: runs the command, output to a log shown on failure.
check() {
  local name=$1 log
  shift
  log=$logs/$(echo "$name" | tr -c 'A-Za-z0-9_.-' '_').log
  if "$@" >"$log" 2>&1; then
    ok "$name"
  else
    bad "$name (log: $log)"
    tail -n 40 "$log" | sed 's/^/      /'
  fi
}
# ctest_counts NAME BUILD_DIR: runs ctest there; each test counts as a check.
ctest_counts() {
  local name=$1 dir=$2 log=$logs/$1.log summary p f total
  ctest --test-dir "$dir" --output-on-failure -j "$jobs" >"$log" 2>&1
  summary=$(grep -E '[0-9]+% tests passed, [0-9]+ tests? failed out of [0-9]+' "$log")
  if [ -z "$summary" ]; then
    bad "$name: ctest gave no summary (log: $log)"
    tail -n 40 "$log" | sed 's/^/      /'
    return
  fi
  f=$(echo "$summary" | sed -E 's/.* ([0-9]+) tests? failed.*/\1/')
  total=$(echo "$summary" | sed -E 's/.*out of ([0-9]+).*/\1/')
  p=$((total - f))
  passed=$((passed + p))
  failed=$((failed + f))
  echo "ok    $name: $p of $total tests passed"
  if [ "$f" != 0 ]; then
    echo "FAIL  $name: $f failed (log: $log)"
    grep -E '\(Failed\)|\(Timeout\)|\*\*\*' "$log" | sed 's/^/      /'
  fi
}

echo "== 1. configure and build ($build)"
check "configure" cmake -S . -B "$build" "${generator[@]}" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DGMP_WARNINGS_AS_ERRORS=ON -DGMP_REQUIRE_TEST_DEPS=ON
check "build (cargo, C++ tests and examples with -Werror)" \
  cmake --build "$build" --parallel "$jobs"

echo "== 2. ctest: C++ binding tests, GNU MP coexistence, examples"
ctest_counts "ctest" "$build"

check "gmp_cpp_tests, all in one process" "$build/tests/cpp/gmp_cpp_tests" --gtest_brief=1
check "gmp_cpp_tests_noexcept (-fno-exceptions), all in one process" \
  "$build/tests/cpp/gmp_cpp_tests_noexcept" --gtest_brief=1

echo "== 3. install to $prefix"
check "install" cmake --install "$build" --prefix "$prefix"
lib=$prefix/lib
version=$(sed -nE 's/^version *= *"([0-9]+\.[0-9]+\.[0-9]+)".*/\1/p' Cargo.toml | head -n 1)
major=${version%%.*}
check "lib/libgmp.so.$version is a real file" test -f "$lib/libgmp.so.$version" -a ! -L "$lib/libgmp.so.$version"
check "lib/libgmp.so.$major -> libgmp.so.$version" \
  test "$(readlink "$lib/libgmp.so.$major")" = "libgmp.so.$version"
check "no lib/libgmp.so and no lib/libgmp.a (GNU MP's names)" \
  test ! -e "$lib/libgmp.so" -a ! -L "$lib/libgmp.so" -a ! -e "$lib/libgmp.a"
check "lib/libgmp-runtime.so -> libgmp.so.$major" \
  test "$(readlink "$lib/libgmp-runtime.so")" = "libgmp.so.$major"
check "SONAME is libgmp.so.$major" \
  bash -c "readelf -d '$lib/libgmp.so.$version' | grep -q 'Library soname: \[libgmp.so.$major\]'"
check "lib/libgmp-runtime.a" test -f "$lib/libgmp-runtime.a"
check "libgmp.so.$version has no DWARF and a debuglink to lib/libgmp.so.$version.debug" \
  bash -c "test -f '$lib/libgmp.so.$version.debug' &&
           ! readelf -S '$lib/libgmp.so.$version' | grep -q '\.debug_info' &&
           readelf -x .gnu_debuglink '$lib/libgmp.so.$version' | grep -q 'libgmp.so.0.1' &&
           readelf -S '$lib/libgmp.so.$version.debug' | grep -q '\.debug_info'"
check "the archive has no DWARF" bash -c "! readelf -S '$lib/libgmp-runtime.a' | grep -q '\.debug_info'"
check "include/gmp/gmp.h and gmp.hpp" \
  test -f "$prefix/include/gmp/gmp.h" -a -f "$prefix/include/gmp/gmp.hpp" -a ! -e "$prefix/include/gmp.h"
check "lib/cmake/gmp/gmpConfig.cmake and gmpConfigVersion.cmake" \
  test -f "$lib/cmake/gmp/gmpConfig.cmake" -a -f "$lib/cmake/gmp/gmpConfigVersion.cmake"
version_compatible() {  # version_compatible WANTED -> prints TRUE/FALSE, as find_package sees it
  local want=$1
  printf '%s\n' 'include("${F}")' 'message("${PACKAGE_VERSION_COMPATIBLE}")' \
    >"$build/version-check.cmake"
  local rest=${want#*.}
  cmake -DPACKAGE_FIND_VERSION="$want" -DPACKAGE_FIND_VERSION_MAJOR="${want%%.*}" \
    -DPACKAGE_FIND_VERSION_MINOR="${rest%%.*}" -DPACKAGE_FIND_VERSION_COUNT=2 \
    -DCMAKE_SIZEOF_VOID_P=8 -DF="$lib/cmake/gmp/gmpConfigVersion.cmake" \
    -P "$build/version-check.cmake" 2>&1
}
minor_version=${version%.*}  # x.y
if [ "$major" = 0 ]; then
  next_minor="0.$(( ${minor_version#*.} + 1 ))"
  check "package $version satisfies find_package(gmp $minor_version) (SameMinorVersion for 0.x)" \
    test "$(version_compatible "$minor_version")" = TRUE
  check "package $version does not satisfy find_package(gmp $next_minor) (0.x minors break)" \
    test "$(version_compatible "$next_minor")" = FALSE
else
  check "package $version satisfies find_package(gmp $major.0) (SameMajorVersion)" \
    test "$(version_compatible "$major.0")" = TRUE
fi
check "package $version does not satisfy find_package(gmp $((major + 1)).0)" \
  test "$(version_compatible "$((major + 1)).0")" = FALSE
export PKG_CONFIG_PATH=$lib/pkgconfig
check "pkg-config gmp-runtime --modversion is $version" \
  test "$(pkg-config --modversion gmp-runtime)" = "$version"
check "pkg-config --libs gmp-runtime is -lgmp-runtime, never -lgmp" \
  bash -c "libs=\$(pkg-config --libs gmp-runtime); echo \"\$libs\"; [[ \$libs == *-lgmp-runtime* ]] &&
           ! echo \"\$libs\" | grep -qE '(^| )-lgmp( |\$)'"
check "pkg-config --static --libs gmp-runtime adds the static deps" \
  bash -c "libs=\$(pkg-config --static --libs gmp-runtime); echo \"\$libs\"; [[ \$libs == *-lgmp-runtime*-pthread*-ldl* ]]"

strip_prefix=$prefix-strip
rm -rf "$strip_prefix"
check "cmake --install --strip" cmake --install "$build" --prefix "$strip_prefix" --strip
check "the stripped libgmp.so.$version has no symbol table, still exports gmp_*" \
  bash -c "! readelf -S '$strip_prefix/lib/libgmp.so.$version' | grep -q '\.symtab' &&
           nm -D --defined-only '$strip_prefix/lib/libgmp.so.$version' | grep -q ' gmp_go\$'"
size_of() { stat -c %s "$1"; }
echo "      sizes: libgmp.so.$version $(size_of "$lib/libgmp.so.$version") (--strip: $(size_of "$strip_prefix/lib/libgmp.so.$version")), .debug $(size_of "$lib/libgmp.so.$version.debug"), libgmp-runtime.a $(size_of "$lib/libgmp-runtime.a"), cargo's libgmp.a $(size_of "$build/cargo/release/libgmp.a")"
rm -rf "$strip_prefix"

echo "== 4. beside GNU MP"
mkdir -p "$guard_prefix/lib"
ln -s libgmp.so.10.4.1 "$guard_prefix/lib/libgmp.so"  # what GNU MP's -dev package installs
echo "GNU MP's archive" >"$guard_prefix/lib/libgmp.a"
check "installing beside GNU MP's libgmp.so and libgmp.a leaves them alone" \
  bash -c "cmake --install '$build' --prefix '$guard_prefix' &&
           [ \"\$(readlink '$guard_prefix/lib/libgmp.so')\" = libgmp.so.10.4.1 ] &&
           [ \"\$(cat '$guard_prefix/lib/libgmp.a')\" = \"GNU MP's archive\" ]"

echo "== 5. tests/cmake-consumer"
consumer_find=$build/consumer-find
consumer_subdir=$build/consumer-subdir
rm -rf "$consumer_find" "$consumer_subdir" "$build/consumer-pkgconfig"  # the prefix is new
check "consumer (find_package): configure" cmake -S tests/cmake-consumer -B "$consumer_find" \
  "${generator[@]}" -DCMAKE_PREFIX_PATH="$prefix"
check "consumer (find_package): build" cmake --build "$consumer_find" --parallel "$jobs"
ctest_counts "consumer (find_package) ctest" "$consumer_find"
check "consumer_c needs libgmp.so.$major, not GNU MP's" \
  bash -c "readelf -d '$consumer_find/consumer_c' | grep NEEDED | grep -q 'libgmp.so.$major\]' &&
           ! readelf -d '$consumer_find/consumer_c' | grep -q 'libgmp.so.10'"
check "consumer_c_static needs no libgmp.so" \
  bash -c "! readelf -d '$consumer_find/consumer_c_static' | grep NEEDED | grep -q libgmp"
echo "      size: consumer_c_static (static hello world, RelWithDebInfo) $(size_of "$consumer_find/consumer_c_static")"
check "consumer_gnu_mp needs both libgmp.so.$major and GNU MP's" \
  bash -c "n=\$(readelf -d '$consumer_find/consumer_gnu_mp' | grep NEEDED | grep -c 'libgmp\.so\.'); [ \"\$n\" = 2 ]"
check "consumer (add_subdirectory): configure" cmake -S tests/cmake-consumer -B "$consumer_subdir" \
  "${generator[@]}" -DGMP_SOURCE_DIR="$root" -DGMP_CARGO_TARGET_DIR="$build/cargo"
check "consumer (add_subdirectory): build" cmake --build "$consumer_subdir" --parallel "$jobs"
ctest_counts "consumer (add_subdirectory) ctest" "$consumer_subdir"

echo "== 6. pkg-config consumer (make + cc)"
mkdir -p "$build/consumer-pkgconfig"
check "pkg-config consumer: build and run" \
  make -C tests/cmake-consumer/pkgconfig PKG_CONFIG_PATH="$PKG_CONFIG_PATH" \
  OUT="$build/consumer-pkgconfig" check

echo
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
