# Runs at install time, before libgmp's files are copied: refuses to overwrite GNU MP's
# development files. Both projects name their library libgmp, so installing this one into
# a libdir that holds GNU MP's libgmp.so symlink or libgmp.a (a distribution's
# /usr/lib/<arch>, usually) would break every program that links GNU MP with -lgmp.
# Install to another prefix, or set GMP_INSTALL_FORCE=1 in the environment to overwrite.
#
# Inputs: GMP_GUARD_LIBDIR (relative to the install prefix), GMP_GUARD_MAJOR.

if("$ENV{GMP_INSTALL_FORCE}" STREQUAL "1")
  return()
endif()
if(IS_ABSOLUTE "${GMP_GUARD_LIBDIR}")
  set(_gmp_libdir "$ENV{DESTDIR}${GMP_GUARD_LIBDIR}")
else()
  set(_gmp_libdir "$ENV{DESTDIR}${CMAKE_INSTALL_PREFIX}/${GMP_GUARD_LIBDIR}")
endif()

# GNU MP's files define its mpz functions as __gmpz_*; ours have none.
function(_gmp_is_gnu_mp_file path out)
  file(STRINGS "${path}" _hit REGEX "__gmpz_init" LIMIT_COUNT 1)
  if(_hit)
    set(${out} TRUE PARENT_SCOPE)
  else()
    set(${out} FALSE PARENT_SCOPE)
  endif()
endfunction()

set(_gmp_conflicts "")
set(_gmp_so "${_gmp_libdir}/libgmp.so")
if(IS_SYMLINK "${_gmp_so}")
  # Ours points to libgmp.so.<major>; GNU MP's to libgmp.so.10.x (even if dangling).
  file(READ_SYMLINK "${_gmp_so}" _gmp_target)
  get_filename_component(_gmp_target_name "${_gmp_target}" NAME)
  if(NOT _gmp_target_name MATCHES "^libgmp\\.so\\.${GMP_GUARD_MAJOR}(\\.|$)")
    list(APPEND _gmp_conflicts "${_gmp_so} -> ${_gmp_target}")
  endif()
elseif(EXISTS "${_gmp_so}")
  _gmp_is_gnu_mp_file("${_gmp_so}" _gmp_gnu)
  if(_gmp_gnu)
    list(APPEND _gmp_conflicts "${_gmp_so} (GNU MP's)")
  endif()
endif()
if(EXISTS "${_gmp_libdir}/libgmp.a")
  _gmp_is_gnu_mp_file("${_gmp_libdir}/libgmp.a" _gmp_gnu)
  if(_gmp_gnu)
    list(APPEND _gmp_conflicts "${_gmp_libdir}/libgmp.a (GNU MP's)")
  endif()
endif()
if(_gmp_conflicts)
  string(REPLACE ";" "\n  " _gmp_list "${_gmp_conflicts}")
  message(FATAL_ERROR
    "libgmp: refusing to overwrite GNU MP's files:\n  ${_gmp_list}\n"
    "Both libraries are named libgmp. Install libgmp (the scheduler) to another prefix, "
    "e.g. cmake --install <build> --prefix /opt/libgmp, or set GMP_INSTALL_FORCE=1.")
endif()
