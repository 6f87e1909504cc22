# The sluice .deb (docs/operations.md): install() rules for what the package
# holds, and CPack. Included at the end of the top-level CMakeLists.txt.
#
#   cmake --build build && (cd build && cpack -G DEB)   ->  sluice_<ver>_<arch>.deb
#
#   /usr/bin/sluiced                      (broker/CMakeLists.txt installs it to bin)
#   /usr/bin/sluicectl
#   /etc/sluice/sluiced.toml              conffile, generated below
#   /lib/systemd/system/sluiced.service
#
# Relative destinations land under CPACK_PACKAGING_INSTALL_PREFIX (/usr for
# the DEB generator); /etc and /lib are absolute on purpose.

install(TARGETS sluicectl RUNTIME DESTINATION bin)

# The packaged config is config/sluiced.toml with data_dir pointed at the
# unit's StateDirectory, generated at configure time so the two never drift
# (tests/packaging checks that only data_dir differs). A dev config whose
# data_dir line no longer matches stops the configure rather than packaging a
# config that writes into the service's working directory by accident.
set(_sluice_dev_config ${PROJECT_SOURCE_DIR}/config/sluiced.toml)
set(_sluice_pkg_config ${PROJECT_BINARY_DIR}/packaging/sluiced.toml)
set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${_sluice_dev_config})
file(READ ${_sluice_dev_config} _sluice_config_text)
set(_sluice_dev_data_dir "data_dir = \"./sluice-data\"")
string(FIND "${_sluice_config_text}" "\n${_sluice_dev_data_dir}\n" _sluice_at)
if(_sluice_at EQUAL -1)
  message(FATAL_ERROR "packaging: config/sluiced.toml has no line '${_sluice_dev_data_dir}'; "
                      "update packaging/Packaging.cmake, which rewrites it for the package")
endif()
string(REPLACE "\n${_sluice_dev_data_dir}\n" "\ndata_dir = \"/var/lib/sluice\"\n"
               _sluice_config_text "${_sluice_config_text}")
string(PREPEND _sluice_config_text
       "# Installed by the sluice package as /etc/sluice/sluiced.toml (a conffile:\n"
       "# your edits survive upgrades). Generated from config/sluiced.toml; the only\n"
       "# difference is storage.data_dir, the systemd unit's StateDirectory.\n"
       "# After an edit: systemctl restart sluiced\n#\n")
file(WRITE ${_sluice_pkg_config}.tmp "${_sluice_config_text}")
configure_file(${_sluice_pkg_config}.tmp ${_sluice_pkg_config} COPYONLY)

install(FILES ${_sluice_pkg_config} DESTINATION /etc/sluice PERMISSIONS OWNER_READ OWNER_WRITE
                                                                        GROUP_READ WORLD_READ)
install(FILES ${PROJECT_SOURCE_DIR}/packaging/sluiced.service DESTINATION /lib/systemd/system
        PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)

set(CPACK_PACKAGE_NAME sluice)
set(CPACK_PACKAGE_VENDOR "sluice")
set(CPACK_PACKAGE_CONTACT "sluice maintainers <sluice@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "durable priority task broker (sluiced, sluicectl)")
set(CPACK_PACKAGE_DESCRIPTION
    "sluiced is a single-binary, durable, priority task broker for fleets of AI agents\n\
and GPU inference workers, and sluicectl its admin CLI. This package runs sluiced\n\
as the systemd service sluiced.service, user sluice, data in /var/lib/sluice.")
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
# The binaries are stripped in the package (a RelWithDebInfo sluiced is ~100 MB
# of mostly debug info); the build tree keeps the unstripped ones.
set(CPACK_STRIP_FILES ON)
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
# Library dependencies from the binaries (dpkg-shlibdeps, in dpkg-dev); the
# maintainer scripts' tools beside them. CPack appends the computed list to
# CPACK_DEBIAN_PACKAGE_DEPENDS.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "adduser")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${PROJECT_SOURCE_DIR}/packaging/debian/conffiles
    ${PROJECT_SOURCE_DIR}/packaging/debian/postinst
    ${PROJECT_SOURCE_DIR}/packaging/debian/prerm
    ${PROJECT_SOURCE_DIR}/packaging/debian/postrm)
# Control files get the modes Debian expects (0755 scripts, 0644 conffiles).
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
# Only the DEB generator is meant; its tools are named by install-deps.sh.
set(CPACK_GENERATOR DEB)
include(CPack)
