# engine.sh -- sourced by docker/image.sh and tests/container*.sh: which container engine
# to use (ENGINE, podman unless set; docker works too) and the options this host needs;
# free_port for the tests.
# Sets ENGINE_OPTS (before the command: podman ${ENGINE_OPTS[@]} run ...) and RUN_OPTS
# (for run). Both are empty on an ordinary host; two host quirks fill them, both seen on
# this project's machines, where podman's defaults fail:
#  - crun refuses a hybrid cgroup hierarchy whose cgroup v2 part has controllers ("cgroups
#    in hybrid mode not supported"); runc runs there: --runtime runc.
#  - podman as root raises a container's open-file and process limits to 1048576 and
#    4194304, past the host's hard limits, which takes CAP_SYS_RESOURCE; without it every
#    run fails ("setrlimit `RLIMIT_NOFILE`: Operation not permitted"): --ulimit keeps both
#    within the host's limits.
ENGINE=${ENGINE:-podman}
ENGINE_OPTS=()
RUN_OPTS=()
if ! command -v "$ENGINE" >/dev/null 2>&1; then
  echo "$ENGINE is missing: apt-get install podman (or set ENGINE=docker)" >&2
  exit 1
fi
if [ "$ENGINE" = podman ]; then
  if grep -qs . /sys/fs/cgroup/unified/cgroup.controllers &&
     [ "$(podman info --format '{{.Host.OCIRuntime.Name}}' 2>/dev/null)" = crun ]; then
    if ! command -v runc >/dev/null 2>&1; then
      echo "crun cannot run containers on this host's hybrid cgroups: apt-get install runc" >&2
      exit 1
    fi
    ENGINE_OPTS+=(--runtime runc)
  fi
  cap_eff=$(awk '/^CapEff:/ {print $2}' /proc/self/status)
  if [ "$(id -u)" = 0 ] && (( (16#${cap_eff:-0} >> 24 & 1) == 0 )); then   # 24: CAP_SYS_RESOURCE
    nofile=$(ulimit -Hn)
    [ "$nofile" = unlimited ] && nofile=1048576
    RUN_OPTS+=(--ulimit "nofile=$nofile:$nofile" --ulimit nproc=4096:4096)
  fi
fi

# A loopback port to publish a container on (tests): one no socket holds, below the
# kernel's range for outgoing connections' ports, since a port that one of them holds
# cannot be published ("bind: address already in use"), and the many connections of a
# test run come and go in that range.
free_port() {
  local lo range p
  read -r lo _ < /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || lo=32768
  range=20000-60000
  [ "$lo" -gt 20100 ] && range=20000-$((lo - 1))
  while :; do
    p=$(shuf -i "$range" -n 1)
    [ -z "$(ss -Htan "sport = :$p")" ] && { echo "$p"; return; }
  done
}
