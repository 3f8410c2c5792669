#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (ASan+UBSan) in build-fuzz/ and runs each for
# FUZZ_SECONDS (default 30) from the seed corpus in tests/fuzz/corpus/<target>/. New inputs
# go to build-fuzz/corpus/<target>/ (the seeds stay as committed); a crash leaves its input in
# build-fuzz/artifacts/<target>/ and makes the script exit 1. Turn every crash into a
# regression test in the normal suite (tests/sim/bad_input_test.cpp or the reader's tests).
#
#   make fuzz                        # 30 s per target
#   FUZZ_SECONDS=3600 make fuzz      # a longer hunt
#   FUZZ_TARGETS="trace" make fuzz   # one target
#   FUZZ_RUNS=30000 make fuzz        # a fixed number of inputs from a fixed seed (FUZZ_SEED,
#                                    # default 1) instead of a time: the same inputs every run
set -euo pipefail

# -h/--help: the comment block above is the usage. The script takes no arguments.
case "${1:-}" in
  -h|--help) echo "usage: $0 (no arguments)"; sed -n '2,/^[^#]/{/^#/s/^# \{0,1\}//p}' "$0"; exit 0 ;;
  "") ;;
  *) echo "fuzz: unknown argument '$1' (see --help)" >&2; exit 2 ;;
esac
cd "$(dirname "$0")/.."

seconds=${FUZZ_SECONDS:-30}
runs=${FUZZ_RUNS:-}
targets=${FUZZ_TARGETS:-"config model_config trace"}
build=${FUZZ_BUILD_DIR:-build-fuzz}
jobs=${JOBS:-$(nproc 2>/dev/null || echo 2)}
cxx=${FUZZ_CXX:-clang++}

if ! command -v "$cxx" >/dev/null 2>&1; then
  echo "fuzz: $cxx not found; install clang (Debian: apt-get install clang)" >&2
  exit 2
fi
launcher=()
command -v ccache >/dev/null 2>&1 && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMLASIM_FUZZ=ON \
  -DCMAKE_CXX_COMPILER="$cxx" "${launcher[@]}" >/dev/null
cmake --build "$build" -j"$jobs" --target $(printf 'fuzz_%s ' $targets)

status=0
for t in $targets; do
  corpus="$build/corpus/$t"
  artifacts="$build/artifacts/$t"
  mkdir -p "$corpus" "$artifacts"
  if [ -n "$runs" ]; then
    budget=(-runs="$runs" -seed="${FUZZ_SEED:-1}")
    echo "fuzz: $t for $runs inputs from seed ${FUZZ_SEED:-1}" >&2
  else
    budget=(-max_total_time="$seconds")
    echo "fuzz: $t for ${seconds} s" >&2
  fi
  # -rss_limit_mb and -timeout turn runaway memory or time on one input into findings too.
  if ! "$build/fuzz/fuzz_$t" "${budget[@]}" -timeout=10 -rss_limit_mb=2048 \
      -print_final_stats=1 -artifact_prefix="$artifacts/" "$corpus" "tests/fuzz/corpus/$t" \
      2> "$build/fuzz_$t.log"; then
    echo "fuzz: $t FOUND A CRASH; input in $artifacts/, log in $build/fuzz_$t.log" >&2
    tail -30 "$build/fuzz_$t.log" >&2
    status=1
  else
    grep -E "^stat::number_of_executed_units|^stat::peak_rss_mb" "$build/fuzz_$t.log" |
      sed "s/^/fuzz: $t: /" >&2 || true
  fi
done
exit $status
