# Runs `dtask-bench --quick --json` and checks that it ran: exit code 0 and
# every figure present in the JSON object.
execute_process(COMMAND ${BENCH} --quick --json
                OUTPUT_VARIABLE out RESULT_VARIABLE rc TIMEOUT 110)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "dtask-bench --quick failed (${rc}): ${out}")
endif()
foreach(key baseline_tcp_rtt_us_p50 baseline_caf_rtt_us_p50
            baseline_caf_pipelined_per_s start_latency_us_p50
            start_latency_us_p99 starts_per_s_sequential
            starts_per_s_pipelined completions_per_s status_latency_us_p50
            status_latency_us_p99 failover_ms_p50 failover_ms_max
            failover_client_errors failover_stop_ms_p50 failover_stop_ms_max
            failover_stop_client_errors hang_detect_ms_p50 bytes_per_running_task
            spread_max_over_mean param_n param_nodes machine_cores)
  string(FIND "${out}" "\"${key}\":" pos)
  if(pos EQUAL -1)
    message(FATAL_ERROR "dtask-bench --json lacks ${key}: ${out}")
  endif()
endforeach()
message(STATUS "${out}")
