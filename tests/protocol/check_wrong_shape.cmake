# Builds the right-shaped send (must compile) and the wrong-shaped one (must
# fail with CAF's typed-send assertion, not for any other reason).
execute_process(COMMAND ${CMAKE_COMMAND} --build ${BUILD_DIR}
                        --target dtask-typed-shape-right
                OUTPUT_VARIABLE out ERROR_VARIABLE out RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "the right-shaped send does not compile:\n${out}")
endif()
execute_process(COMMAND ${CMAKE_COMMAND} --build ${BUILD_DIR}
                        --target dtask-typed-shape-wrong
                OUTPUT_VARIABLE out ERROR_VARIABLE out RESULT_VARIABLE rc)
if(rc EQUAL 0)
  message(FATAL_ERROR "a send of the wrong shape compiled")
endif()
if(NOT out MATCHES "receiver does not accept given message")
  message(FATAL_ERROR "the wrong-shaped send failed for another reason:\n"
                      "${out}")
endif()
message(STATUS "the wrong-shaped send does not compile, as it must")
