# Timer messages from outside must not start timer chains: the same seed run
# with a flood of them at the start handles about as many messages as
# without (each flooded message is handled once and dropped). Before the
# guard, each started a chain that repeated for the whole run (tens of times
# more messages).
execute_process(COMMAND ${SIM} --seed=1 --check=safety
                OUTPUT_VARIABLE base RESULT_VARIABLE rc1 TIMEOUT 120)
execute_process(COMMAND ${SIM} --seed=1 --check=safety --flood=${FLOOD}
                OUTPUT_VARIABLE flooded RESULT_VARIABLE rc2 TIMEOUT 280)
message(STATUS "without flood: ${base}")
message(STATUS "with --flood=${FLOOD}: ${flooded}")
if(NOT rc1 EQUAL 0 OR NOT rc2 EQUAL 0)
  message(FATAL_ERROR "a run failed (exit ${rc1}, ${rc2})")
endif()
string(REGEX MATCH "([0-9]+) messages" m1 "${base}")
set(n1 ${CMAKE_MATCH_1})
string(REGEX MATCH "([0-9]+) messages" m2 "${flooded}")
set(n2 ${CMAKE_MATCH_1})
math(EXPR bound "${n1} * 3 / 2")
if(n2 GREATER bound)
  message(FATAL_ERROR "flooded run handled ${n2} messages, more than 1.5 x "
                      "${n1}: timer messages from outside start timer chains")
endif()
