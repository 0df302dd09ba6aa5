# sonic-ctrmgr package: rules/sonic-ctrmgr.mk of sonic-buildimage, in the shape of
# rules/sonic-ctrmgrd-rs.mk. The repository is expected as the submodule src/sonic-ctrmgr;
# `dpkg-buildpackage -b -us -uc` there (SONIC_DPKG_DEBS) runs debian/rules, which builds with
# the cargo profile `dist` and needs Rust >= 1.89 on PATH in the slave container.
#
# An image installs one of the two (they conflict), in place of the sonic_ctrmgrd wheel, its
# ctrmgrd.service and container_startup.py copies:
#     in files/build_templates/sonic_debian_extension.j2:
#     install_deb_package $debs_path/sonic-ctrmgr_*.deb        (INCLUDE_KUBERNETES = y)
#     install_deb_package $debs_path/sonic-ctrmgr-local_*.deb  (otherwise)
#
# The wheel (rules/sonic-ctrmgrd.mk, SONIC_PYTHON_WHEELS) is no Debian package, so the
# packages cannot declare a Conflicts: on it (docs/decisions.md pkg-8). In
# sonic_debian_extension.j2, remove instead:
#     the `pip3 install $SONIC_CTRMGMT_WHEEL_NAME` block (sonic_ctrmgmt_py3_wheel_path),
#     the copy and `systemctl enable` of ctrmgrd.service,
#     the copy of remote_ctr.config.json (/etc/sonic/ctrmgr.json of the package replaces it),
#     `rm /usr/local/bin/ctrmgr_tools.py` (the wheel is no longer there to leave it);
# and keep `install_deb_package $debs_path/sonic-ctrmgrd-rs_*.deb`: database.sh and swss.sh
# still call its docker-rs and docker-wait-any-rs.
#
# No CONFIG_DB answers during the image build, so the postinst migrates nothing there: the
# package enables sonic-ctrmgr-migrate.service, which runs `sonic-kube migrate` on the image's
# first boot (after config-setup.service loads init_cfg.json or the old image's configuration)
# and not again on that image. init_cfg.json.j2 needs no change (docs/decisions.md cli-1).

SONIC_CTRMGR_VERSION = 0.1.0
SONIC_CTRMGR_NAME = sonic-ctrmgr

SONIC_CTRMGR = $(SONIC_CTRMGR_NAME)_$(SONIC_CTRMGR_VERSION)_$(CONFIGURED_ARCH).deb
$(SONIC_CTRMGR)_SRC_PATH = $(SRC_PATH)/sonic-ctrmgr
$(SONIC_CTRMGR)_VERSION = $(SONIC_CTRMGR_VERSION)
$(SONIC_CTRMGR)_NAME = $(SONIC_CTRMGR_NAME)

SONIC_DPKG_DEBS += $(SONIC_CTRMGR)

# The `container` built without Kubernetes support, from the same source package.
SONIC_CTRMGR_LOCAL = $(SONIC_CTRMGR_NAME)-local_$(SONIC_CTRMGR_VERSION)_$(CONFIGURED_ARCH).deb
$(eval $(call add_derived_package,$(SONIC_CTRMGR),$(SONIC_CTRMGR_LOCAL)))
