# Runs seeds of dtask-sim twice each and fails unless both runs print the
# same trace hash (see tests/sim/sim.hpp). A seed's violations do not fail
# this test: it checks that a seed is a replayable description of its run.
foreach(seed 1 7 4242)
  foreach(round 1 2)
    execute_process(COMMAND ${SIM} --seed=${seed} --trace-hash
                    OUTPUT_VARIABLE out RESULT_VARIABLE rc TIMEOUT 60)
    if(NOT rc EQUAL 0 AND NOT rc EQUAL 1)
      message(FATAL_ERROR "dtask-sim --seed=${seed} failed (${rc}):\n${out}")
    endif()
    string(REGEX MATCH "trace hash [0-9a-f]+ \\([0-9]+ bytes\\)" hash "${out}")
    if(hash STREQUAL "")
      message(FATAL_ERROR "no trace hash for seed ${seed}:\n${out}")
    endif()
    set(hash_${round} "${hash}")
  endforeach()
  if(NOT hash_1 STREQUAL hash_2)
    message(FATAL_ERROR "seed ${seed}: ${hash_1}, then ${hash_2}")
  endif()
  message(STATUS "seed ${seed}: ${hash_1} twice")
endforeach()
