#!/usr/bin/env bash
# The sluice .deb, end to end without installing it on this machine:
#   1. cpack -G DEB against the build tree (sluiced and sluicectl must be built)
#   2. control: name, Depends (dpkg-shlibdeps ran), conffiles, maintainer
#      scripts present, executable and `sh -n` clean; postinst and postrm run
#      against stub tools: the user, the 0640 config, the 0750 data dir, purge
#      keeps the data
#   3. contents: exactly the four files, nothing else
#   4. dpkg -x into a scratch root; the packaged config equals
#      config/sluiced.toml but for storage.data_dir
#   5. systemd-analyze verify of the unit in the scratch root (and of two
#      broken copies, which must fail, so the check can fail)
#   6. the extracted sluiced with the packaged config (data dir and listen
#      address overridden) starts and serves the extracted sluicectl; SIGTERM
#      with a client still connected: exit 0 within the unit's TimeoutStopSec
#
# Usage: deb_package_test.sh BUILD_DIR SOURCE_DIR [CPACK [PYTHON3]]
#   PYTHON3 needs tomllib (3.11, Debian 12's /usr/bin/python3).
set -euo pipefail

build_dir=$1
src_dir=$2
cpack=${3:-cpack}
python3=${4:-python3}
work=$(mktemp -d "${TMPDIR:-/tmp}/sluice-deb-test.XXXXXX")
broker_pid=
cleanup() {
  if [[ -n "$broker_pid" ]] && kill -0 "$broker_pid" 2>/dev/null; then
    kill -KILL "$broker_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }
step() { echo "--- $*"; }

for tool in "$cpack" dpkg-deb dpkg-shlibdeps systemd-analyze "$python3"; do
  command -v "$tool" >/dev/null || fail "$tool not found (tools/install-deps.sh installs it)"
done

step "cpack -G DEB"
"$cpack" -G DEB --config "$build_dir/CPackConfig.cmake" -B "$work/out" >"$work/cpack.log" 2>&1 ||
  { cat "$work/cpack.log"; fail "cpack failed"; }
shopt -s nullglob
debs=("$work"/out/sluice_*.deb)
shopt -u nullglob
((${#debs[@]} == 1)) || { cat "$work/cpack.log"; fail "expected one sluice_*.deb, got ${#debs[@]}"; }
deb=${debs[0]}
echo "built $(basename "$deb")"

step "control"
dpkg-deb -I "$deb"
[[ "$(dpkg-deb -f "$deb" Package)" == sluice ]] || fail "package name is not sluice"
depends=$(dpkg-deb -f "$deb" Depends)
[[ -n "$depends" ]] || fail "Depends is empty"
# Computed by dpkg-shlibdeps from the binaries (libc, libstdc++, toml++;
# RocksDB is linked statically), beside the hand-listed adduser for postinst.
for dep in adduser libc6 libstdc++6 libtomlplusplus; do
  [[ "$depends" == *"$dep"* ]] || fail "Depends lacks $dep: $depends"
done
dpkg-deb -e "$deb" "$work/control"
[[ "$(cat "$work/control/conffiles")" == /etc/sluice/sluiced.toml ]] ||
  fail "conffiles is not exactly /etc/sluice/sluiced.toml: $(cat "$work/control/conffiles")"
for script in postinst prerm postrm; do
  f=$work/control/$script
  [[ -f "$f" && -x "$f" ]] || fail "maintainer script $script missing or not executable"
  sh -n "$f" || fail "$script: sh -n found a syntax error"
done

# The maintainer scripts, run against stubs that log their arguments (the
# real adduser, systemctl, ... would change this machine), with DPKG_ROOT (the
# scripts' root for files) in a scratch tree. getent finds no sluice user, so
# postinst must create it.
stubs=$work/stubs
fake=$work/dpkg-root
mkdir -p "$stubs" "$fake"
# getent: no such user; dpkg-statoverride --list: no override yet.
for cmd in getent addgroup adduser install deb-systemd-helper deb-systemd-invoke systemctl \
  dpkg-statoverride; do
  cat >"$stubs/$cmd" <<STUB
#!/bin/sh
echo "$cmd \$*" >>"$work/calls.log"
[ "$cmd" = getent ] && exit 2
[ "$cmd" = dpkg-statoverride ] && [ "\$1" = --list ] && exit 1
exit 0
STUB
  chmod +x "$stubs/$cmd"
done
run_script() { DPKG_ROOT=$fake PATH="$stubs:/usr/bin:/bin" sh "$work/control/$1" "${@:2}"; }
: >"$work/calls.log"
run_script postinst configure || fail "postinst configure exited non-zero"
cat "$work/calls.log"
grep -q '^addgroup --system .*sluice$' "$work/calls.log" || fail "postinst did not create group sluice"
grep -q '^adduser --system .*--ingroup sluice --home /var/lib/sluice .*sluice$' "$work/calls.log" ||
  fail "postinst did not create the system user sluice"
grep -qx "install -d -m 0750 -o sluice -g sluice $fake/var/lib/sluice" "$work/calls.log" ||
  fail "postinst did not create /var/lib/sluice 0750 sluice:sluice"
grep -qx 'dpkg-statoverride --update --add root sluice 0640 /etc/sluice/sluiced.toml' \
  "$work/calls.log" || fail "postinst did not make the config 0640 root:sluice"
grep -qx 'deb-systemd-helper enable sluiced.service' "$work/calls.log" ||
  fail "postinst did not enable sluiced.service"
run_script prerm remove || fail "prerm remove exited non-zero"
run_script postrm remove || fail "postrm remove exited non-zero"
# purge keeps queued data: a non-empty /var/lib/sluice stays, and says so ...
mkdir -p "$fake/etc/sluice" "$fake/var/lib/sluice"
touch "$fake/var/lib/sluice/CURRENT"
: >"$work/calls.log"
run_script postrm purge 2>"$work/purge.err" || fail "postrm purge exited non-zero"
cat "$work/calls.log" "$work/purge.err"
grep -qx 'deb-systemd-helper purge sluiced.service' "$work/calls.log" ||
  fail "postrm purge did not purge the unit's state"
[[ -f "$fake/var/lib/sluice/CURRENT" ]] || fail "postrm purge deleted the data in /var/lib/sluice"
grep -q 'kept /var/lib/sluice' "$work/purge.err" || fail "postrm purge did not say it kept the data"
[[ ! -e "$fake/etc/sluice" ]] || fail "postrm purge left the empty /etc/sluice"
# ... and an empty one goes.
rm "$fake/var/lib/sluice/CURRENT"
run_script postrm purge 2>"$work/purge.err" || fail "postrm purge exited non-zero"
[[ ! -e "$fake/var/lib/sluice" ]] || fail "postrm purge left an empty /var/lib/sluice"

step "contents"
dpkg-deb -c "$deb" | tee "$work/contents"
# Non-directory entries, as paths, must be exactly these (no stray install()).
awk '$1 !~ /^d/ {print $6}' "$work/contents" | sort >"$work/files"
printf '%s\n' ./etc/sluice/sluiced.toml ./lib/systemd/system/sluiced.service \
  ./usr/bin/sluicectl ./usr/bin/sluiced | sort >"$work/files.expected"
diff -u "$work/files.expected" "$work/files" || fail "package files differ from the expected four"
grep -Eq '^-rwxr-xr-x root/root .* \./usr/bin/sluiced$' "$work/contents" ||
  fail "/usr/bin/sluiced is not 0755 root:root"

step "dpkg -x into a scratch root"
root=$work/root
dpkg -x "$deb" "$root"
"$root/usr/bin/sluiced" --help >/dev/null ||
  fail "extracted sluiced does not run"

step "packaged config vs config/sluiced.toml"
"$python3" - "$src_dir/config/sluiced.toml" "$root/etc/sluice/sluiced.toml" <<'PY'
import sys, tomllib

def flat(d, prefix=""):
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(flat(v, prefix + k + "."))
        else:
            out[prefix + k] = v
    return out

dev = flat(tomllib.load(open(sys.argv[1], "rb")))
pkg = flat(tomllib.load(open(sys.argv[2], "rb")))
missing = sorted(set(dev) - set(pkg))
extra = sorted(set(pkg) - set(dev))
changed = sorted(k for k in dev.keys() & pkg.keys() if dev[k] != pkg[k])
print(f"{len(dev)} keys; missing {missing}, extra {extra}, changed {changed}")
assert not missing and not extra, "the packaged config's keys differ from config/sluiced.toml"
assert changed == ["storage.data_dir"], f"only storage.data_dir may differ, not {changed}"
assert pkg["storage.data_dir"] == "/var/lib/sluice", pkg["storage.data_dir"]
PY

step "systemd-analyze verify"
unit=$root/lib/systemd/system/sluiced.service
grep -qx 'User=sluice' "$unit" && grep -qx 'Group=sluice' "$unit" || fail "unit does not run as sluice"
grep -qx 'ExecStart=/usr/bin/sluiced --config /etc/sluice/sluiced.toml' "$unit" ||
  fail "unit ExecStart is not the packaged binary and config"
grep -qx 'Restart=on-failure' "$unit" || fail "unit lacks Restart=on-failure"
grep -qx 'KillSignal=SIGTERM' "$unit" || fail "unit lacks KillSignal=SIGTERM"
grep -qx 'StateDirectory=sluice' "$unit" || fail "unit lacks StateDirectory=sluice"
stop_timeout=$(sed -n 's/^TimeoutStopSec=\([0-9]\+\)s\?$/\1/p' "$unit")
[[ -n "$stop_timeout" ]] || fail "unit lacks TimeoutStopSec=<seconds>"
# Above sluiced's drain bound (kDrainBound, 5 s) with room for the flush.
((stop_timeout >= 15)) || fail "TimeoutStopSec=$stop_timeout is too close to the 5 s drain bound"
# --root: the unit's paths (ExecStart=/usr/bin/sluiced) are looked up in the
# scratch root, so the packaged unit is verified unmodified. Its implicit
# dependencies (sysinit.target, ...) are systemd's own units, which a real
# system has: they are copied from this machine into the root's
# /usr/lib/systemd/system (the package's unit stays in /lib/systemd/system).
# User=sluice needs no such user here: verify checks the name's syntax (a bad
# one is a warning, which fails below), not that the user exists; that is
# resolved when the service starts, and postinst creates it (checked above).
host_units=/usr/lib/systemd/system
[[ -f $host_units/sysinit.target ]] || host_units=/lib/systemd/system
[[ -f $host_units/sysinit.target ]] || fail "systemd's units (sysinit.target) not found on this machine"
mkdir -p "$root/usr/lib/systemd/system"
cp -a "$host_units/." "$root/usr/lib/systemd/system/"
rm -f "$root/usr/lib/systemd/system/sluiced.service"
verify() { SYSTEMD_LOG_COLOR=0 systemd-analyze verify --man=no --root="$root" "$@"; }
verify /lib/systemd/system/sluiced.service >"$work/verify.log" 2>&1 ||
  { cat "$work/verify.log"; fail "systemd-analyze verify rejected the unit"; }
if [[ -s "$work/verify.log" ]]; then
  cat "$work/verify.log"
  fail "systemd-analyze verify warned about the unit"
fi
# The check can fail: a misspelt setting and a missing binary are refused.
sed -e 's/^Restart=on-failure$/Restart=on-falure/' "$unit" >"$root/lib/systemd/system/broken1.service"
sed -e 's|^ExecStart=/usr/bin/sluiced |ExecStart=/usr/bin/no-such-sluiced |' "$unit" \
  >"$root/lib/systemd/system/broken2.service"
for broken in broken1 broken2; do
  if verify "/lib/systemd/system/$broken.service" >"$work/verify-$broken.log" 2>&1 &&
    [[ ! -s "$work/verify-$broken.log" ]]; then
    fail "systemd-analyze verify accepted the broken unit $broken"
  fi
  rm "$root/lib/systemd/system/$broken.service"
done

step "extracted sluiced with the packaged config"
data=$work/data
"$root/usr/bin/sluiced" --config "$root/etc/sluice/sluiced.toml" --data-dir "$data" \
  --listen 127.0.0.1:0 >"$work/sluiced.out" 2>"$work/sluiced.err" &
broker_pid=$!
address=
for _ in $(seq 300); do
  address=$(sed -n 's/^sluiced listening on //p' "$work/sluiced.out")
  [[ -n "$address" ]] && break
  kill -0 "$broker_pid" 2>/dev/null || { cat "$work/sluiced.err"; fail "sluiced exited at start-up"; }
  sleep 0.1
done
[[ -n "$address" ]] || { cat "$work/sluiced.err"; fail "sluiced did not start within 30 s"; }
echo "sluiced listening on $address"
[[ -d "$data" ]] || fail "sluiced did not create its data dir $data"
"$root/usr/bin/sluicectl" --broker "$address" --json enqueue --queue pkg --payload hi \
  >"$work/enqueue.out" || fail "the packaged sluicectl could not enqueue"
grep -q '"id"' "$work/enqueue.out" || fail "enqueue answered $(cat "$work/enqueue.out")"

# A connected client that never says Hello: the drain must still end.
port=${address##*:}
exec 3<>"/dev/tcp/127.0.0.1/$port"
start=$(date +%s)
kill -TERM "$broker_pid"
rc=0
for _ in $(seq $((stop_timeout * 10))); do
  kill -0 "$broker_pid" 2>/dev/null || break
  sleep 0.1
done
if kill -0 "$broker_pid" 2>/dev/null; then
  cat "$work/sluiced.err"
  fail "sluiced still running ${stop_timeout} s after SIGTERM (systemd would SIGKILL it)"
fi
wait "$broker_pid" || rc=$?
broker_pid=
exec 3>&-
elapsed=$(($(date +%s) - start))
cat "$work/sluiced.err"
((rc == 0)) || fail "sluiced exited $rc after SIGTERM, not 0"
grep -q 'shutdown complete' "$work/sluiced.err" || fail "sluiced did not log 'shutdown complete'"
echo "SIGTERM -> exit 0 in ${elapsed} s (TimeoutStopSec=${stop_timeout})"
echo "PASS"
