# The attention tiling that calibration and validation time, shared by gpu-run-steps.sh
# (use_picked_attention) and gpu-node-validate.sh: the one gpu-run.sh's attention step picked
# (KVR_CUDA_ATTENTION=... in its state.env), else one set by the caller (KVR_CUDA_ATTENTION), else
# the kernel's default.
# export_picked_attention STATE_ENV: exports KVR_CUDA_ATTENTION when the step picked one, so the
# Node addon that kvr calibrate / validate load sees it; sets attention_from to attention-step,
# environment or default.
export_picked_attention() {
  local picked
  picked="$(sed -n 's/^KVR_CUDA_ATTENTION=//p' "$1" 2>/dev/null | tail -n 1)"
  attention_from=default
  [[ -n "${KVR_CUDA_ATTENTION:-}" ]] && attention_from=environment
  if [[ -n "$picked" ]]; then
    export KVR_CUDA_ATTENTION="$picked"
    attention_from=attention-step
  fi
}
