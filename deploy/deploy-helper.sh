#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# Router side of deploy/deploy.py: snapshot what a deploy changes, arm a rollback
# timer (LuCI-style apply/confirm) and restore byte for byte when it runs out.
#
#   deploy-helper snapshot DIR PATH...   save PATHs; absent ones are recorded too
#   deploy-helper arm DIR SECONDS        restore unless confirmed within SECONDS
#   deploy-helper extend DIR SECONDS     move the deadline to now + SECONDS
#   deploy-helper confirm DIR            keep the new state; prints "confirmed"
#   deploy-helper restore DIR [WHY]      restore now; prints "restored"
#   deploy-helper state DIR              prints snapshot|armed|confirmed|restoring|restored|failed
#   deploy-helper start DIR NAME CMD...  run a step detached (a lost SSH session cannot
#                                        kill it halfway); the timer waits for it
#   deploy-helper wait DIR NAME SECONDS  prints "rc=N" when the step ended, else "running"
#   deploy-helper install DIR            unpack DIR/data.tar.gz into / (no package manager)
#
# DIR is a folder root made for this deploy with `mktemp -d /tmp/torbox-deploy.XXXXXX`
# (mode 0700); the tool checks it (owner root, mode 0700, a sticky /tmp) before every
# command it runs here, and runs this file by its absolute path
# (deploy/torbox_deploy/routerdir.py). This file lives only in the deploy tool, which
# uploads it with each deploy: the package does not ship it.
#
# DIR holds: entries ("P path" saved, "A path" absent, "D dir" absent parent),
# snap/ (the saved copies), sums, pkg (method=, was_installed=, name=, added=),
# state, deadline, log. POSIX sh for busybox ash: OpenWrt's busybox has no nohup,
# setsid, stat or timeout. Time is /proc/uptime: routers have no RTC and NTP steps
# the wall clock.

set -u

die() {
	echo "deploy-helper: $*" >&2
	exit 1
}

now() {
	cut -d. -f1 /proc/uptime
}

log() {
	echo "$(now) $*" >>"$d/log"
}

state() {
	cat "$d/state" 2>/dev/null || echo none
}

set_state() {
	echo "$1" >"$d/state.tmp" && mv -f "$d/state.tmp" "$d/state"
}

# Paths come from the tool; refuse anything that could hit more than it should.
check_path() {
	case $1 in
	/*/*) ;;
	*) return 1 ;;
	esac
	case $1 in
	*..* | *"
"* | */) return 1 ;;
	esac
	return 0
}

pkg_value() {
	# key=value lines; read, never sourced
	sed -n "s/^$1=//p" "$d/pkg" 2>/dev/null | head -n 1
}

cmd_snapshot() {
	[ -e "$d/state" ] && die "$d already holds a snapshot"
	mkdir -p "$d/snap" || die "cannot create $d"
	: >"$d/entries"
	: >"$d/sums"
	for p in "$@"; do
		check_path "$p" || die "refusing path $p"
		if [ -e "$p" ] || [ -L "$p" ]; then
			if [ -d "$p" ] && [ ! -L "$p" ]; then
				# whole directories only for our own (torbox) directories
				case ${p##*/} in
				*torbox*) ;;
				*) die "refusing to snapshot directory $p" ;;
				esac
				find "$p" -type f -exec sha256sum {} \; >>"$d/sums" || die "cannot hash $p"
			elif [ -f "$p" ]; then
				sha256sum "$p" >>"$d/sums" || die "cannot hash $p"
			fi
			if ! { mkdir -p "$d/snap${p%/*}" && cp -a "$p" "$d/snap$p"; }; then
				die "cannot copy $p"
			fi
			echo "P $p" >>"$d/entries"
		else
			echo "A $p" >>"$d/entries"
			# directories the deploy may create: removed again (only if empty)
			q=${p%/*}
			while [ -n "$q" ] && [ ! -e "$q" ]; do
				grep -qx "D $q" "$d/entries" || echo "D $q" >>"$d/entries"
				q=${q%/*}
			done
		fi
	done
	set_state snapshot
	log "snapshot of $# paths"
	echo "snapshot $d"
}

cmd_arm() {
	secs=$1
	[ "$(state)" = snapshot ] || die "cannot arm: state is $(state)"
	echo $(($(now) + secs)) >"$d/deadline"
	set_state armed
	log "armed for ${secs}s"
	# Detached: must outlive the SSH session that started it.
	(
		trap '' HUP INT PIPE
		exec sh "$0" watch "$d"
	) </dev/null >/dev/null 2>&1 &
	echo $! >"$d/watch.pid"
	echo "armed $secs"
}

cmd_extend() {
	secs=$1
	if [ "$(state)" != armed ]; then
		state
		exit 1
	fi
	echo $(($(now) + secs)) >"$d/deadline.tmp" && mv -f "$d/deadline.tmp" "$d/deadline"
	echo "extended $secs"
}

cmd_watch() {
	trap '' HUP INT PIPE
	while [ "$(state)" = armed ]; do
		deadline=$(cat "$d/deadline" 2>/dev/null || echo 0)
		if [ "$(now)" -ge "$deadline" ]; then
			cmd_restore timer >/dev/null 2>&1
			exit 0
		fi
		sleep 1
	done
}

# The decision (confirm or restore) is taken once: mkdir is atomic.
decide() {
	mkdir "$d/decided" 2>/dev/null
}

cmd_confirm() {
	if decide; then
		set_state confirmed
		log "confirmed"
		echo confirmed
	else
		state
		exit 1
	fi
}

step_running() {
	[ -f "$d/step.pid" ] && kill -0 "$(cat "$d/step.pid")" 2>/dev/null
}

# A step still running (an install, an apply) finishes before files go back.
wait_step() {
	n=0
	while step_running; do
		if [ $n -ge 900 ]; then
			log "step still running after ${n}s: stopping it"
			kill "$(cat "$d/step.pid")" 2>/dev/null
			sleep 2
			break
		fi
		sleep 1
		n=$((n + 1))
	done
}

uninstall_new() {
	[ "$(pkg_value was_installed)" = 0 ] || return 0
	name=$(pkg_value name)
	[ -n "$name" ] || return 0
	case $(pkg_value method) in
	opkg)
		if opkg status "$name" 2>/dev/null | grep -q '^Status:.* installed'; then
			log "opkg remove $name"
			opkg remove --autoremove "$name" >>"$d/log" 2>&1
		fi
		;;
	apk)
		if apk info -e "$name" >/dev/null 2>&1; then
			log "apk del $name"
			apk del "$name" >>"$d/log" 2>&1
		fi
		;;
	manual)
		if [ "$unpacked" = 1 ] && [ -s /lib/functions.sh ] && [ -f "$d/files" ]; then
			# default_prerm's steps (it would not find an unpacked package's files); the
			# snapshot below puts every file back, so prerm-pkg's restore is not needed
			grep '^/etc/init.d/' "$d/files" | while read -r f; do
				[ -x "$f" ] || continue
				log "$f stop; $f disable"
				"$f" stop >>"$d/log" 2>&1
				"$f" disable >>"$d/log" 2>&1
			done
		elif [ "$unpacked" = 1 ] && [ -f "$d/ctl/prerm" ]; then
			log "prerm remove"
			sh "$d/ctl/prerm" remove >>"$d/log" 2>&1
		fi
		;;
	esac
	# the table a new install loaded; its prerm should have removed it already
	if command -v nft >/dev/null 2>&1 && nft list table inet torbox >/dev/null 2>&1; then
		log "nft delete table inet torbox"
		nft delete table inet torbox >>"$d/log" 2>&1
	fi
	return 0
}

# Dependencies the deploy added with apk (OpenWrt 25.x) go again.
remove_added() {
	added=$(pkg_value added)
	[ -n "$added" ] || return 0
	if command -v apk >/dev/null 2>&1; then
		log "apk del $added"
		# shellcheck disable=SC2086 # a list of package names
		apk del $added >>"$d/log" 2>&1
	fi
	return 0
}

restore_files() {
	while read -r kind p; do
		check_path "$p" || continue
		case $kind in
		P)
			if [ -f "$d/snap$p" ] && [ ! -L "$d/snap$p" ]; then
				# atomic per file: readers see the old or the new file, never half
				if ! { mkdir -p "${p%/*}" && cp -a "$d/snap$p" "$p.tbx-restore" &&
					{ [ ! -d "$p" ] || rm -rf "$p"; } && mv -f "$p.tbx-restore" "$p"; }; then
					log "cannot restore $p"
				fi
			else
				if ! { rm -rf "$p" && mkdir -p "${p%/*}" && cp -a "$d/snap$p" "$p"; }; then
					log "cannot restore $p"
				fi
			fi
			;;
		A) rm -rf "$p" ;;
		esac
	done <"$d/entries"
	# directories that did not exist at snapshot time: all they hold is new (even the
	# __pycache__ Python wrote), so they go whole
	sed -n 's/^D //p' "$d/entries" | sort -r | while read -r p; do
		check_path "$p" && rm -rf "$p"
	done
	return 0
}

reload_services() {
	if [ -f /etc/openwrt_release ]; then
		for s in network dnsmasq firewall; do
			[ -x "/etc/init.d/$s" ] && "/etc/init.d/$s" reload >>"$d/log" 2>&1
		done
		command -v wifi >/dev/null 2>&1 && wifi reload >>"$d/log" 2>&1
		if [ "$(pkg_value was_installed)" = 1 ] && [ -x /etc/init.d/torbox ]; then
			/etc/init.d/torbox restart >>"$d/log" 2>&1
		fi
	elif [ "$(pkg_value was_installed)" = 1 ] && [ -x /usr/sbin/torbox ]; then
		# plain Linux: torbox itself loads its nft table and reloads its services
		/usr/sbin/torbox apply --target linux >>"$d/log" 2>&1
	fi
	return 0
}

verify() {
	[ -s "$d/sums" ] || return 0
	sha256sum -c "$d/sums" >/dev/null 2>&1
}

cmd_restore() {
	why=${1:-requested}
	if ! decide; then
		# someone else decided; wait for a restore already under way
		n=0
		while [ "$(state)" = restoring ] && [ $n -lt 1200 ]; do
			sleep 1
			n=$((n + 1))
		done
		st=$(state)
		echo "$st"
		[ "$st" = restored ] && return 0
		exit 1
	fi
	set_state restoring
	log "restore ($why)"
	wait_step
	# a package unpacked by hand (this deploy, or one a --rollback is undoing)
	unpacked=0
	if [ -e "$d/install.started" ] || [ -e /usr/sbin/torbox ]; then
		unpacked=1
	fi
	uninstall_new
	restore_files
	if [ "$(pkg_value method)" = manual ] && [ "$unpacked" = 1 ] &&
		[ "$(pkg_value was_installed)" = 0 ] && [ -f "$d/ctl/postrm" ]; then
		sh "$d/ctl/postrm" remove >>"$d/log" 2>&1
	fi
	remove_added
	reload_services
	# services may touch files while reloading; put the saved bytes back last
	restore_files
	if verify; then
		set_state restored
		log "restored ($why)"
		echo restored
	else
		set_state failed
		log "restore incomplete ($why)"
		echo failed
		exit 1
	fi
}

cmd_start() {
	name=$1
	shift
	case $name in
	*[!a-z0-9_-]*) die "bad step name $name" ;;
	esac
	step_running && die "another step is running"
	rm -f "$d/$name.rc"
	(
		trap '' HUP INT PIPE
		"$@" </dev/null >"$d/$name.log" 2>&1
		echo $? >"$d/$name.rc.tmp"
		mv -f "$d/$name.rc.tmp" "$d/$name.rc"
	) </dev/null >/dev/null 2>&1 &
	echo $! >"$d/step.pid"
	echo "started $name"
}

cmd_wait() {
	name=$1
	secs=$2
	n=0
	while [ ! -f "$d/$name.rc" ] && [ $n -lt "$secs" ]; do
		sleep 1
		n=$((n + 1))
	done
	if [ -f "$d/$name.rc" ]; then
		echo "rc=$(cat "$d/$name.rc")"
	else
		echo running
	fi
}

# Plain Linux, or OpenWrt with apk and an .ipk: unpack like opkg would.
cmd_install() {
	[ -f "$d/data.tar.gz" ] || die "no $d/data.tar.gz"
	: >"$d/install.started"
	if [ -f "$d/ctl/preinst" ]; then
		sh "$d/ctl/preinst" install || die "preinst failed"
	fi
	rm -rf "$d/stage"
	if ! { mkdir -p "$d/stage" && tar -xzf "$d/data.tar.gz" -C "$d/stage"; }; then
		die "cannot unpack $d/data.tar.gz"
	fi
	# the user's configuration survives an upgrade (opkg's conffiles rule)
	if [ -f "$d/ctl/conffiles" ]; then
		while read -r c; do
			check_path "$c" || continue
			[ -e "$c" ] && rm -f "$d/stage$c"
		done <"$d/ctl/conffiles"
	fi
	(cd "$d/stage" && find . ! -type d | sed 's/^\.//') >"$d/files"
	# files and links one by one: never copy the archive's directory modes onto /
	(cd "$d/stage" && find . ! -type d) | while read -r f; do
		p=${f#.}
		check_path "$p" || die "bad path in package: $p"
		mkdir -p "${p%/*}" || die "cannot create ${p%/*}"
		rm -f "$p.tbx-new"
		if ! { cp -a "$d/stage$p" "$p.tbx-new" && mv -f "$p.tbx-new" "$p"; }; then
			die "cannot install $p"
		fi
	done || exit 1
	rm -rf "$d/stage"
	if [ -s /lib/functions.sh ]; then
		openwrt_postinst
	elif [ -f "$d/ctl/postinst" ]; then
		sh "$d/ctl/postinst" configure || die "postinst failed"
	fi
	echo installed
}

# OpenWrt's generated postinst is `default_postinst`, which finds the package's files
# through opkg's or apk's file list: an unpacked package has none, so it would do nothing.
# Do its steps here with the list of what was unpacked: run and delete the package's
# uci-defaults, commit, then enable and start its init scripts (then the package's own
# postinst-pkg, if it has one).
openwrt_postinst() {
	[ -d /tmp/.uci ] || mkdir -p /tmp/.uci
	grep '^/etc/uci-defaults/' "$d/files" | while read -r f; do
		[ -f "$f" ] || continue
		log "uci-defaults $f"
		# shellcheck disable=SC1090  # the package's uci-defaults script
		( cd /etc/uci-defaults && . "$f" ) >>"$d/log" 2>&1 && rm -f "$f"
	done
	uci commit >>"$d/log" 2>&1
	if [ -f "$d/ctl/postinst-pkg" ]; then
		sh "$d/ctl/postinst-pkg" configure || die "postinst-pkg failed"
	fi
	grep '^/etc/init.d/' "$d/files" | while read -r f; do
		log "$f enable; $f start"
		"$f" enable >>"$d/log" 2>&1
		"$f" start >>"$d/log" 2>&1
	done
}

[ $# -ge 2 ] || die "usage: deploy-helper COMMAND DIR [ARGS]"
cmd=$1
d=$2
shift 2
case $d in
/*) ;;
*) die "DIR must be absolute" ;;
esac

case $cmd in
snapshot) cmd_snapshot "$@" ;;
arm) cmd_arm "${1:?seconds}" ;;
extend) cmd_extend "${1:?seconds}" ;;
watch) cmd_watch ;;
confirm) cmd_confirm ;;
restore) cmd_restore "${1:-requested}" ;;
state) state ;;
start) cmd_start "$@" ;;
wait) cmd_wait "${1:?name}" "${2:-0}" ;;
install) cmd_install ;;
*) die "unknown command $cmd" ;;
esac
