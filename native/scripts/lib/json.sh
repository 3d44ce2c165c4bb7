# JSON helpers shared by gpu-run.sh and its steps (sourced, not run).

# A shell string as a JSON string literal: backslash, quote and newline escaped, tabs as spaces,
# other control characters dropped.
json_str() {
  local s="$1"
  s="${s//\\/\\\\}"
  s="${s//\"/\\\"}"
  s="${s//$'\n'/\\n}"
  s="${s//$'\t'/ }"
  s="$(printf '%s' "$s" | tr -d '\000-\010\013-\037')"
  printf '"%s"' "$s"
}
