#!/bin/sh
# /init of the activeswap selftest guest (busybox).  TAP goes to the second serial port
# (/dev/ttyS1) so kernel messages on the console (ttyS0) cannot interleave with it; the
# host (tests/integration/kernel.sh) renumbers and relays it.  Ends with "# guest-done".
# The kernel command line can change two things (the kernel hands unknown name=value
# words to /init as environment variables):
#   as_tap=DEV      where TAP goes (the arm64 guest: /dev/hvc0, a virtio console, as the
#                   "virt" board has a single UART)
#   as_tests=LIST   the selftest programs to run, comma-separated (default: all five)
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t tmpfs -o size=64m tmpfs /tmp
mount -t tracefs tracefs /sys/kernel/tracing 2>/dev/null
mount -t cgroup2 cgroup2 /sys/fs/cgroup 2>/dev/null
T=${as_tap:-/dev/ttyS1}
tap() { echo "$1 - $2" >$T; }
check() {	# description command...: ok when the command succeeds
	d=$1
	shift
	if "$@"; then tap ok "$d"; else tap "not ok" "$d"; fi
}

# libswap's kmod backend (the module must be loaded): greedy decoding of a generated
# model's store under a 60% DRAM budget gives the same text with the kmod and io_uring
# backends (and pread, and auto, which must pick kmod); bench io runs over both with
# every fetched bundle checked, the bandwidths go out as TAP comments.
M=/mnt/model.asw
CLI=/bin/activeswap	# /bin/activeswap-asan for the sanitizer runs
gen() {	# name backend: text in /tmp/gen.NAME, JSON summary in /tmp/gen.NAME.json
	$CLI run -m $M -p "once upon a time" -n 12 --temp 0 --sparsity 0.5 \
		--group 1 --dram-budget 60% --threads 2 --json --backend "$2" \
		>/tmp/gen.$1.out 2>/tmp/gen.$1.err
	r=$?
	sed '$d' /tmp/gen.$1.out >/tmp/gen.$1
	tail -n 1 /tmp/gen.$1.out >/tmp/gen.$1.json
	[ $r = 0 ] || sed 's/^/# /' /tmp/gen.$1.err | head -n 30 >$T
	if grep -q 'runtime error\|Sanitizer' /tmp/gen.$1.err; then return 1; fi
	return $r
}
uses() {	# name backend-name: the JSON summary names it
	grep -q "\"backend\": \"$2\"" /tmp/gen.$1.json
}
bench() {	# backend: bench io with the check, bandwidth as a comment
	$CLI bench io -m $M --backend "$1" --seconds 1 --rounds 1 --no-fio \
		--bs 64K --qd 8 --budget 2M --check >/tmp/bench.$1 2>&1
	r=$?
	sed 's/^/# bench io --backend '"$1"': /' /tmp/bench.$1 | head -n 30 >$T
	[ $r = 0 ] && ! grep -q 'runtime error\|Sanitizer' /tmp/bench.$1 &&
		grep -q '^check *0 bad bundles' /tmp/bench.$1 && grep -q "^backend *$2," /tmp/bench.$1
}
libswap_kmod() {
	if gen kmod kmod && uses kmod kmod; then
		tap ok "guest: run --backend kmod (greedy, 60% budget) decodes through the module"
	else
		tap "not ok" "guest: run --backend kmod (greedy, 60% budget) decodes through the module"
	fi
	if gen uring uring && uses uring io_uring; then
		tap ok "guest: run --backend uring (greedy, 60% budget)"
	else
		tap "not ok" "guest: run --backend uring (greedy, 60% budget)"
	fi
	check "guest: greedy text identical with kmod and io_uring backends" \
		cmp -s /tmp/gen.kmod /tmp/gen.uring
	check "guest: greedy text is not empty" test -s /tmp/gen.kmod
	tr -c ' -~\n' '?' </tmp/gen.kmod | sed 's/^/# kmod text: /' >$T
	if gen pread pread && uses pread pread && cmp -s /tmp/gen.kmod /tmp/gen.pread; then
		tap ok "guest: greedy text identical with the pread backend"
	else
		tap "not ok" "guest: greedy text identical with the pread backend"
	fi
	if gen auto auto && uses auto kmod && cmp -s /tmp/gen.kmod /tmp/gen.auto; then
		tap ok "guest: --backend auto picks kmod when /dev/activeswap is usable"
	else
		tap "not ok" "guest: --backend auto picks kmod when /dev/activeswap is usable"
	fi
	if ACTIVESWAP_NO_KMOD=1 gen nokmod auto && uses nokmod io_uring; then
		tap ok "guest: auto with ACTIVESWAP_NO_KMOD falls back to io_uring"
	else
		tap "not ok" "guest: auto with ACTIVESWAP_NO_KMOD falls back to io_uring"
	fi
	for j in kmod uring; do
		sed 's/^/# '$j' run: /' /tmp/gen.$j.json >$T
	done
	check "guest: bench io --backend kmod --check (every bundle equals the file)" \
		bench kmod kmod
	check "guest: bench io --backend uring --check" bench uring io_uring
	# a store on tmpfs (no direct I/O): attached with ACTIVESWAP_STORE_ALLOW_BUFFERED
	if cp $M /tmp/model.asw; then
		M=/tmp/model.asw
		check "guest: bench io --backend kmod --check with the store on tmpfs (buffered)" \
			bench kmod kmod
		M=/mnt/model.asw
		rm -f /tmp/model.asw
	fi
	if [ -x /bin/activeswap-asan ]; then
		CLI=/bin/activeswap-asan
		if gen asan kmod && uses asan kmod && cmp -s /tmp/gen.kmod /tmp/gen.asan; then
			tap ok "guest: ASan+UBSan CLI over kmod: same text, no report"
		else
			tap "not ok" "guest: ASan+UBSan CLI over kmod: same text, no report"
		fi
		CLI=/bin/activeswap
	else
		tap ok "guest: ASan+UBSan CLI over kmod # SKIP no sanitizer build"
	fi
}

# Partial and intermittent read faults (issue #18): the ext4 disk through a device-mapper
# table that is linear but for 64 KiB of model.asw's bundles (build-guest.sh found them),
# mapped by dm-flakey. UP DOWN seconds: "0 1" fails every read there, "1 1" half the
# time. A run (one with kmod, one with io_uring) must exit 0 with the reference text or fail
# cleanly: exit status 1-127, a message, stdout a prefix of the reference text (no token
# computed from a failed read), no sanitizer report.
fault_runs() {	# up down: sets nfail (runs that failed) and nbad (runs that broke the rules)
	read -r s len total </flakey.txt
	rest=$((total - s - len))
	printf '0 %s linear /dev/vda 0\n%s %s flakey /dev/vda %s %s %s\n%s %s linear /dev/vda %s\n' \
		"$s" "$s" "$len" "$s" "$1" "$2" $((s + len)) "$rest" $((s + len)) >/tmp/flakey.table
	nfail=0 nbad=0
	if ! dmsetup --noudevsync create asflakey --readonly </tmp/flakey.table >/tmp/dm.err 2>&1; then
		sed 's/^/# dmsetup: /' /tmp/dm.err >$T
		nbad=1
		return
	fi
	dev=/dev/mapper/asflakey
	[ -b $dev ] || dev=/dev/$(for d in /sys/block/dm-*; do
		[ "$(cat $d/dm/name)" = asflakey ] && basename $d; done)
	mkdir -p /flakey
	if mount -t ext4 -o ro $dev /flakey; then
		M=/flakey/model.asw
		for b in kmod uring; do
			gen fault $b 2>/dev/null
			r=$?
			if [ $r = 0 ]; then
				cmp -s /tmp/gen.fault /tmp/gen.kmod || {
					nbad=$((nbad + 1)); echo "# $b: exit 0 with other text" >$T; }
				continue
			fi
			nfail=$((nfail + 1))
			grep -v ': auto: ' /tmp/gen.fault.err | head -n 1 |
				sed "s/^/# $b fault run (exit $r): /" >$T
			n=$(wc -c </tmp/gen.fault.out)
			if [ $r -ge 128 ] || [ ! -s /tmp/gen.fault.err ] ||
			   grep -q 'runtime error\|Sanitizer' /tmp/gen.fault.err ||
			   ! head -c "$n" /tmp/gen.kmod | cmp -s - /tmp/gen.fault.out; then
				nbad=$((nbad + 1)); echo "# $b: not a clean failure" >$T
			fi
		done
		M=/mnt/model.asw
		umount /flakey
	else
		nbad=1
		echo "# mount of the dm-flakey disk failed" >$T
	fi
	dmsetup --noudevsync remove asflakey 2>/dev/null
}
libswap_faults() {
	if [ ! -r /flakey.txt ] || [ ! -x /bin/dmsetup ]; then
		tap ok "guest: dm-flakey read faults # SKIP guest built without dmsetup or debugfs"
		return
	fi
	# dm claims /dev/vda exclusively: the ext4 mount on it goes for the while
	if ! umount /mnt; then
		tap "not ok" "guest: dm-flakey read faults (/mnt busy)"
		return
	fi
	fault_runs 0 1
	echo "# dm-flakey, every read of 64 KiB of bundles fails: $nfail of 2 runs failed" >$T
	check "guest: kmod and io_uring runs over failing bundle reads fail cleanly (some fail)" \
		test "$nbad" = 0 -a "$nfail" -ge 1
	fault_runs 1 1
	echo "# dm-flakey, 1 s up / 1 s down: $nfail of 2 runs failed" >$T
	check "guest: kmod and io_uring runs over intermittent read faults: reference text or a clean failure" \
		test "$nbad" = 0
	mount -t ext4 -o ro /dev/vda /mnt || echo "# remount of /mnt failed" >$T
}

drained() {	# wait until no context of the module is left
	i=0
	while [ "$(cat /sys/module/activeswap/refcnt)" != 0 ] && [ $i -lt 100 ]; do
		sleep 0.1; i=$((i + 1))
	done
	[ "$(cat /sys/module/activeswap/refcnt)" = 0 ]
}
# The kmod backend against other module parameters (each a fresh insmod).
libswap_kmod_limits() {
	# 16 KiB extents: every 64 KiB engine read goes out as up to 4 extents whose
	# completions the backend reassembles
	if insmod /activeswap.ko max_extent_kb=16; then
		# under the sanitizers when available (the reassembly is the delicate part)
		[ -x /bin/activeswap-asan ] && CLI=/bin/activeswap-asan
		check "guest: kmod backend splits reads into 16 KiB extents (bench io --check, $CLI)" \
			bench kmod kmod
		CLI=/bin/activeswap
		# killed with reads in flight: the module frees the context once they finish
		/bin/activeswap bench io -m $M --backend kmod --seconds 30 --rounds 1 --no-fio \
			--bs 64K --qd 8 --budget 2M >/dev/null 2>&1 &
		pid=$!
		sleep 2
		kill -9 $pid
		wait $pid 2>/dev/null
		# and 50 more, killed 0.3 s after their start (issue #18): nothing stays
		# pinned (MemAvailable back within 32 MiB of 50 x 2 MiB regions) and rmmod works
		avail0=$(sed -n 's/^MemAvailable: *\([0-9]*\).*/\1/p' /proc/meminfo)
		k=0
		while [ $k -lt 50 ]; do
			/bin/activeswap bench io -m $M --backend kmod --seconds 30 --rounds 1 \
				--no-fio --bs 64K --qd 8 --budget 2M >/dev/null 2>&1 &
			pid=$!
			sleep 0.3
			kill -9 $pid
			wait $pid 2>/dev/null
			k=$((k + 1))
		done
		if drained && rmmod activeswap; then
			tap ok "guest: CLI killed during kmod reads (51 times), then rmmod succeeds"
		else
			tap "not ok" "guest: CLI killed during kmod reads (51 times), then rmmod succeeds"
			rmmod activeswap 2>/dev/null
		fi
		avail1=$(sed -n 's/^MemAvailable: *\([0-9]*\).*/\1/p' /proc/meminfo)
		echo "# MemAvailable before the 50 kills ${avail0} kB, after rmmod ${avail1} kB" >$T
		check "guest: 50 killed kmod runs leave no memory pinned" \
			test $((avail0 - avail1)) -lt 32768
	else
		tap "not ok" "guest: insmod activeswap.ko max_extent_kb=16"
	fi
	# limits too small for the engine's reads: explicit kmod fails with one line, auto
	# falls back to another backend over the module's region (pread: io_uring registers
	# only anonymous or hugetlbfs memory as fixed buffers) and decodes the same text
	if insmod /activeswap.ko max_extent_kb=4 max_extents=1; then
		if gen small kmod 2>/dev/null; then
			tap "not ok" "guest: --backend kmod refused when the module's limits are too small"
		else
			check "guest: --backend kmod refused when the module's limits are too small" \
				grep -q "module's limits" /tmp/gen.small.err
		fi
		if gen fallback auto && { uses fallback pread || uses fallback io_uring; } &&
		   cmp -s /tmp/gen.kmod /tmp/gen.fallback; then
			tap ok "guest: auto falls back to pread/io_uring in the module's region, same text"
		else
			tap "not ok" "guest: auto falls back to pread/io_uring in the module's region, same text"
		fi
		sed -n 's/.*"backend": "\([a-z_]*\)".*/# fallback backend: \1/p' \
			/tmp/gen.fallback.json >$T
		drained
		rmmod activeswap
	else
		tap "not ok" "guest: insmod activeswap.ko max_extent_kb=4 max_extents=1"
	fi
}

insfail=""
while read -r m; do
	insmod /lib/modules/"$m" 2>/dev/null || insfail="$insfail $m"
done </lib/modules/list
# a virtio console appears once its module has probed the device
i=0
while [ ! -c "$T" ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
[ -z "$insfail" ] || echo "# insmod failed:$insfail" >$T
i=0
while [ ! -b /dev/vda ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
if mount -t ext4 -o ro /dev/vda /mnt; then
	tap ok "guest: store disk mounted (ext4 on virtio)"
else
	tap "not ok" "guest: store disk mounted (ext4 on virtio)"
fi

if insmod /activeswap.ko queue_depth=0 2>/dev/null; then
	tap "not ok" "guest: insmod with queue_depth=0 refused"
	rmmod activeswap
else
	tap ok "guest: insmod with queue_depth=0 refused"
fi
# a smaller request limit than the default keeps the queue_limit case quick
if insmod /activeswap.ko max_queued=2048 && [ -c /dev/activeswap ]; then
	tap ok "guest: insmod activeswap.ko creates /dev/activeswap"
	if [ "$(cat /sys/module/activeswap/parameters/max_queued)" = 2048 ]; then
		tap ok "guest: module parameter max_queued=2048 visible in sysfs"
	else
		tap "not ok" "guest: module parameter max_queued=2048 visible in sysfs"
	fi
	# the kselftests, one program per area (tests/selftests/activeswap/as_test.h)
	tests=${as_tests:-activeswap_test,activeswap_io_test,activeswap_limits_test,activeswap_module_test,activeswap_user_test}
	for t in $(echo "$tests" | tr , ' '); do
		if [ -x /bin/$t ]; then
			# a program that dies part-way must not drop its remaining tests silently
			t0=$(date +%s)
			AS_STORE=/mnt/store.bin AS_RAWDEV=/dev/vdb /bin/$t >$T 2>&1
			rc=$?
			echo "# $t took $(($(date +%s) - t0)) s" >$T
			if [ $rc = 0 ]; then
				tap ok "guest: selftest program $t ran to the end (exit status 0)"
			else
				tap "not ok" "guest: selftest program $t exit status $rc"
			fi
		else
			tap "not ok" "guest: selftest program $t present"
		fi
	done
	if [ -x /bin/activeswap ]; then
		check "guest: generated model store on the ext4 disk" test -f $M &&
			libswap_kmod
		[ -f /tmp/gen.kmod ] && libswap_faults
	else
		tap ok "guest: libswap kmod backend # SKIP guest built without the CLI"
	fi
	# contexts of killed tests free themselves once their reads finish
	i=0
	while [ "$(cat /sys/module/activeswap/refcnt)" != 0 ] && [ $i -lt 100 ]; do
		sleep 0.1; i=$((i + 1))
	done
	# activeswap trace sees the module's tracepoints (counts = the module's stats)
	sh /trace-guest.sh $T
	if rmmod activeswap && [ ! -e /dev/activeswap ]; then
		tap ok "guest: rmmod after the tests (no fd open)"
	else
		tap "not ok" "guest: rmmod after the tests (no fd open)"
	fi
	if insmod /activeswap.ko && rmmod activeswap; then
		tap ok "guest: second insmod/rmmod cycle"
	else
		tap "not ok" "guest: second insmod/rmmod cycle"
	fi
	[ -x /bin/activeswap ] && [ -f $M ] && libswap_kmod_limits
else
	tap "not ok" "guest: insmod activeswap.ko creates /dev/activeswap"
fi
bad=$(dmesg | grep -E 'WARNING:|BUG:|BUG [a-z]|Oops|overwritten|memory corruption|general protection|list_(add|del) corruption|refcount_t:|Bad page|UBSAN|KASAN|hung_task|INFO: task' | head -5)
if [ -z "$bad" ]; then
	tap ok "guest: no kernel warnings, oopses or bad pages in dmesg"
else
	tap "not ok" "guest: no kernel warnings, oopses or bad pages in dmesg"
	dmesg | tail -n 60 | sed 's/^/# /' >$T
fi
echo "# guest-done" >$T
sync
poweroff -f
