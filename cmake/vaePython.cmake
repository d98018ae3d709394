# VAE_PYTHON: a python3 that can import NumPy, for the Python package's tests and its install
# path. Debian's python3-numpy belongs to /usr/bin/python3, which is tried first.
if(NOT VAE_PYTHON)
  foreach(vae_candidate /usr/bin/python3 python3)
    find_program(vae_candidate_path ${vae_candidate} NO_CACHE)
    if(vae_candidate_path)
      execute_process(COMMAND ${vae_candidate_path} -c "import numpy" RESULT_VARIABLE vae_rc
                      OUTPUT_QUIET ERROR_QUIET)
      if(vae_rc EQUAL 0)
        set(VAE_PYTHON ${vae_candidate_path} CACHE FILEPATH "python3 with NumPy, for python/vae")
        break()
      endif()
    endif()
    unset(vae_candidate_path)
  endforeach()
endif()
