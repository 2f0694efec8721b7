#!/usr/bin/env bash
# Runs every fuzz target for SECONDS (default 600) each, two at a time, and prints a summary.
# Needs cargo-fuzz (`cargo install cargo-fuzz`). The machine's toolchain is stable:
# RUSTC_BOOTSTRAP=1 lets it accept the sanitizer flags cargo-fuzz passes.
set -euo pipefail
cd "$(dirname "$0")"
seconds="${1:-600}"
export RUSTC_BOOTSTRAP=1
targets=(engage_envelope zenvia_event analytics_query verification_query plain_text time_sheet llm_answer)
cargo fuzz build
mkdir -p logs
run() {
  cargo fuzz run "$1" -- -max_total_time="$seconds" -print_final_stats=1 >"logs/$1.log" 2>&1
  echo "$1: exit $? $(grep -E '^stat::number_of_executed_units' "logs/$1.log" | tail -1)"
}
for ((i = 0; i < ${#targets[@]}; i += 2)); do
  run "${targets[i]}" &
  if [ $((i + 1)) -lt ${#targets[@]} ]; then run "${targets[i + 1]}" & fi
  wait
done
