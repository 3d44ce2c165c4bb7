# Step runner shared by the GPU-host scripts (gpu-check.sh, gpu-calibrate.sh). Source it after
# setting: out (the output folder), started (epoch seconds), deadline (epoch seconds), step_tag
# (the log prefix). Every step leaves one JSON line in $out/steps.jsonl whatever happens.

log() { echo "[$step_tag $(($(date +%s) - started))s] $*"; }

# run_step NAME TIMEOUT_S CMD...: stdout -> NAME.out, stderr -> NAME.log, one line in steps.jsonl.
# The timeout is cut to what is left of the global budget; past it the step is skipped (rc 125).
run_step() {
  local name="$1" limit="$2"
  shift 2
  local t0 t1 rc status left
  left=$((deadline - $(date +%s)))
  if [[ $left -lt 5 ]]; then
    printf '{"step": "%s", "status": "skipped", "rc": 125, "seconds": 0, "limit_s": 0}\n' "$name" >>"$out/steps.jsonl"
    echo "skipped: the global time budget is spent" >"$out/$name.log"
    log "$name: skipped (budget spent)"
    return 125
  fi
  [[ $left -lt $limit ]] && limit=$left
  t0="$(date +%s.%N)"
  timeout --kill-after=10 "$limit" "$@" >"$out/$name.out" 2>"$out/$name.log"
  rc=$?
  t1="$(date +%s.%N)"
  case $rc in
    0) status=ok ;;
    124 | 137) status=timeout ;;
    *) status=failed ;;
  esac
  printf '{"step": "%s", "status": "%s", "rc": %d, "seconds": %.2f, "limit_s": %d}\n' \
    "$name" "$status" "$rc" "$(awk "BEGIN { print $t1 - $t0 }")" "$limit" >>"$out/steps.jsonl"
  log "$name: $status (rc $rc)"
  if [[ $status != ok ]]; then tail -n 3 "$out/$name.log" | sed 's/^/    /'; fi
  return $rc
}

# skip_step NAME WHY: a step that could not even be attempted (a prerequisite failed).
skip_step() {
  printf '{"step": "%s", "status": "skipped", "rc": 125, "seconds": 0, "limit_s": 0, "why": "%s"}\n' "$1" "$2" >>"$out/steps.jsonl"
  echo "skipped: $2" >"$out/$1.log"
  log "$1: skipped ($2)"
}
