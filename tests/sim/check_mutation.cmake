# Runs dtask-sim with a mutation (a known bug class put back) until the first
# failing seed, and fails unless the simulation finds it (exit code 1) within
# the seeds given. A crash (any other code) fails too.
execute_process(COMMAND ${SIM} --seeds=${SEEDS} --check=safety
                        --mutate=${MUTATION} --stop-at-first
                OUTPUT_VARIABLE out RESULT_VARIABLE rc TIMEOUT 280)
message(STATUS "${out}")
if(NOT rc EQUAL 1)
  message(FATAL_ERROR "--mutate=${MUTATION} was not found in ${SEEDS} seeds "
                      "(exit ${rc})")
endif()
