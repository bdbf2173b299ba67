#!/bin/sh
# /init of the activeswap selftest guest (busybox).  TAP goes to the second serial port
# (/dev/ttyS1) so kernel messages on the console (ttyS0) cannot interleave with it; the
# host (tests/integration/kernel.sh) renumbers and relays it.  Ends with "# guest-done".
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t tmpfs -o size=64m tmpfs /tmp
mount -t tracefs tracefs /sys/kernel/tracing 2>/dev/null
mount -t cgroup2 cgroup2 /sys/fs/cgroup 2>/dev/null
T=/dev/ttyS1
tap() { echo "$1 - $2" >$T; }

while read -r m; do
	insmod /lib/modules/"$m" 2>/dev/null || echo "# insmod $m failed" >$T
done </lib/modules/list
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
	AS_STORE=/mnt/store.bin AS_RAWDEV=/dev/vdb /bin/activeswap_test >$T 2>&1
	echo "# activeswap_test exit status $?" >$T
	# contexts of killed tests free themselves once their reads finish
	i=0
	while [ "$(cat /sys/module/activeswap/refcnt)" != 0 ] && [ $i -lt 100 ]; do
		sleep 0.1; i=$((i + 1))
	done
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
