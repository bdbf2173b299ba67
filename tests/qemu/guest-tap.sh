# Sourced by tests/integration/kernel.sh and kernel_arm64.sh: relays a guest's TAP
# (run-guest.sh's LOGDIR/tap.log) with the caller's numbering, then checks that the guest
# ran to the end and that its console shows no kernel warning.  Uses and updates the
# caller's n and failed and its ok/notok functions.
# guest_relay LOGDIR SECONDS QEMU_STATUS PREFIX (other than "guest", PREFIX replaces the
# guest's "guest:" and names the kselftests' results too)
guest_relay() {
	_logs=$1 _secs=$2 _rc=$3 _pfx=$4
	# with another prefix, every result is named "PREFIX: ..." (the kselftests' too)
	_re='^\(\(not \)\{0,1\}ok [0-9]* *-\{0,1\} *\)'
	if [ "$_pfx" = guest ]; then
		tr -d '\r' <"$_logs/tap.log"
	else
		tr -d '\r' <"$_logs/tap.log" | sed -e "s/${_re}guest: */\1/" -e "s/${_re}/\1$_pfx: /"
	fi >"$_logs/tap.clean"
	while IFS= read -r _line; do
		case "$_line" in
		"not ok "*)
			n=$((n + 1)); failed=1
			echo "not ok $n - $(echo "$_line" | sed -E 's/^not ok [0-9]* *(- )?//')" ;;
		"ok "*)
			n=$((n + 1))
			echo "ok $n - $(echo "$_line" | sed -E 's/^ok [0-9]* *(- )?//')" ;;
		"#"*) echo "$_line" ;;
		esac
	done <"$_logs/tap.clean"

	_bad='WARNING:|BUG:|BUG [a-z]|Oops|Kernel panic|general protection|Bad page|overwritten|memory corruption'
	if grep -q '^# guest-done' "$_logs/tap.clean"; then
		ok "$_pfx ran to completion and powered off (${_secs}s)"
		if [ "$failed" -ne 0 ]; then
			echo "# --- last console lines ---"
			tail -n 40 "$_logs/console.log" | tr -d '\r' | sed 's/^/# /'
		fi
	else
		notok "$_pfx ran to completion and powered off (status $_rc after ${_secs}s)"
		echo "# --- last console lines ---"
		tail -n 40 "$_logs/console.log" | tr -d '\r' | sed 's/^/# /'
	fi
	if grep -qE "$_bad" "$_logs/console.log"; then
		notok "no kernel warnings or oopses on the $_pfx console"
		grep -E -A5 "$_bad" "$_logs/console.log" | head -n 40 | tr -d '\r' | sed 's/^/# /'
	else
		ok "no kernel warnings or oopses on the $_pfx console"
	fi
}
