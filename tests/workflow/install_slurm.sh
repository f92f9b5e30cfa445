#!/bin/sh
# Install Debian's SLURM (slurmctld, slurmd, the client commands) and MUNGE for the SLURM test,
# only when they are missing. Exit status 0 when sbatch, slurmctld, slurmd and munged are there
# afterwards, non-zero otherwise. Starts no daemon (the test starts and stops its own).
set -eu
have() {
    for tool in sbatch squeue scontrol slurmctld slurmd munged mungekey; do
        command -v "$tool" >/dev/null 2>&1 || [ -x "/usr/sbin/$tool" ] || return 1
    done
}
if have; then
    exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        SUDO="sudo -n"
    else
        echo "install_slurm: not root and no sudo; cannot install slurm-wlm and munge" >&2
        exit 1
    fi
fi
export DEBIAN_FRONTEND=noninteractive
# policy-rc.d 101: the packages' post-install scripts must not start the daemons themselves
POLICY=/usr/sbin/policy-rc.d
ADDED_POLICY=""
if [ ! -e "$POLICY" ]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$POLICY" >/dev/null && $SUDO chmod +x "$POLICY"
    ADDED_POLICY=1
fi
status=0
$SUDO apt-get install -y --no-install-recommends slurm-wlm munge >&2 \
    || { $SUDO apt-get update >&2 && $SUDO apt-get install -y --no-install-recommends slurm-wlm munge >&2; } \
    || status=$?
if [ -n "$ADDED_POLICY" ]; then
    $SUDO rm -f "$POLICY"
fi
[ "$status" -eq 0 ] && have
