# A block of random seeds (its first seed printed, to replay a failure with
# dtask-sim --seed=S --trace). Safety invariants only (see tests/sim/sim.hpp).
string(RANDOM LENGTH 9 ALPHABET 0123456789 first)
string(REGEX REPLACE "^0+" "" first "${first}1")
message(STATUS "random block: dtask-sim --seeds=${SEEDS} --first-seed=${first}")
execute_process(COMMAND ${SIM} --seeds=${SEEDS} --first-seed=${first}
                        --check=safety
                OUTPUT_VARIABLE out RESULT_VARIABLE rc TIMEOUT 280)
message(STATUS "${out}")
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "random block from seed ${first} failed (exit ${rc})")
endif()
