// SPDX-License-Identifier: GPL-2.0
/*
 * activeswap ioctls: VERSION, CREATE_REGION, ATTACH_STORE, SUBMIT, CANCEL and STATS,
 * each with an extensible argument (its first __u32 is the caller's struct size).
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/blkdev.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/ktime.h>
#include <linux/magic.h>
#include <linux/nodemask.h>
#include <linux/overflow.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>
#include <linux/uaccess.h>

#include "activeswap_internal.h"
#include "activeswap_trace.h"

/* ---------------------------------------------------------------- argument copy */

/*
 * Copy an extensible ioctl argument: its first __u32 is the caller's struct size, which
 * must be at least @ver0 and at most AS_MAX_ARG_SIZE; unknown trailing bytes must be 0.
 */
static int as_copy_arg(void *karg, size_t ksize, size_t ver0, void __user *uarg, u32 *usize)
{
	u32 size;
	int ret;

	if (get_user(size, (u32 __user *)uarg))
		return -EFAULT;
	if (size < ver0 || size > AS_MAX_ARG_SIZE)
		return -EINVAL;
	ret = copy_struct_from_user(karg, ksize, uarg, size);
	if (ret)
		return ret;
	*usize = size;
	return 0;
}

static int as_copy_result(void __user *uarg, const void *karg, size_t ksize, u32 usize)
{
	if (copy_to_user(uarg, karg, min_t(size_t, ksize, usize)))
		return -EFAULT;
	return 0;
}

static bool as_zero(const void *p, size_t n)
{
	return !memchr_inv(p, 0, n);
}

/* ---------------------------------------------------------------- ioctls */

static long as_ioc_version(struct as_ctx *ctx, void __user *uarg)
{
	struct activeswap_version v;
	u32 usize;
	int ret;

	ret = as_copy_arg(&v, sizeof(v), ACTIVESWAP_VERSION_SIZE_VER0, uarg, &usize);
	if (ret)
		return ret;
	/* every field but size is output-only; reserved ones must still be zero */
	if (v.reserved0 || !as_zero(v.reserved, sizeof(v.reserved)))
		return -EINVAL;
	memset(&v, 0, sizeof(v));
	v.size = sizeof(v);
	v.abi_version = ACTIVESWAP_ABI_VERSION;
	v.features = ACTIVESWAP_FEAT_HUGE | ACTIVESWAP_FEAT_NUMA | ACTIVESWAP_FEAT_DIRECT |
		     ACTIVESWAP_FEAT_CANCEL | ACTIVESWAP_FEAT_BLKDEV | ACTIVESWAP_FEAT_TRACE;
	v.max_extents = as_max_extents;
	v.max_extent_len = as_max_extent_kb * 1024U;
	v.queue_depth = as_queue_depth;
	v.max_queued = as_max_queued;
	v.max_region_mb = as_max_region_mb;
	return as_copy_result(uarg, &v, sizeof(v), usize);
}

static long as_ioc_create_region(struct as_ctx *ctx, void __user *uarg)
{
	struct activeswap_region_create a;
	struct as_region *r;
	int node;
	u32 usize;
	int ret;

	ret = as_copy_arg(&a, sizeof(a), ACTIVESWAP_REGION_CREATE_SIZE_VER0, uarg, &usize);
	if (ret)
		return ret;
	if (a.flags & ~ACTIVESWAP_REGION_FLAGS)
		return -EINVAL;
	if (a.reserved0 || !as_zero(a.reserved, sizeof(a.reserved)))
		return -EINVAL;
	if (!a.length || !PAGE_ALIGNED(a.length))
		return -EINVAL;
	if ((a.flags & ACTIVESWAP_REGION_HUGE) && !IS_ALIGNED(a.length, PMD_SIZE))
		return -EINVAL;
	if (a.length > (u64)as_max_region_mb << 20)
		return -EINVAL;
	if ((a.length >> PAGE_SHIFT) > totalram_pages())
		return -ENOMEM;
	if (!current->mm)
		return -EINVAL;
	if (a.node == ACTIVESWAP_NODE_ANY) {
		node = NUMA_NO_NODE;
	} else {
		if (a.node < 0 || a.node >= MAX_NUMNODES || !node_online(a.node))
			return -EINVAL;
		node = a.node;
	}

	mutex_lock(&ctx->setup_lock);
	if (ctx->region) {
		ret = -EBUSY;
		goto out;
	}
	r = as_region_alloc(a.length, node, a.flags);
	if (IS_ERR(r)) {
		ret = PTR_ERR(r);
		trace_activeswap_region_create(ctx->id, a.length, a.node, a.flags, ret);
		goto out;
	}
	a.mmap_offset = 0;
	ret = as_copy_result(uarg, &a, sizeof(a), usize);
	if (ret) {
		as_region_destroy(r);
		goto out;
	}
	trace_activeswap_region_create(ctx->id, a.length, a.node, a.flags, 0);
	/* publish: pairs with smp_load_acquire in submit, stats, mmap and fault */
	smp_store_release(&ctx->region, r);
out:
	mutex_unlock(&ctx->setup_lock);
	return ret;
}

static long as_ioc_attach_store(struct as_ctx *ctx, void __user *uarg)
{
	struct activeswap_store_attach a;
	struct inode *host;
	struct block_device *bdev;
	struct file *file;
	umode_t mode;
	bool direct;
	u32 usize;
	int ret;

	ret = as_copy_arg(&a, sizeof(a), ACTIVESWAP_STORE_ATTACH_SIZE_VER0, uarg, &usize);
	if (ret)
		return ret;
	if (a.flags & ~ACTIVESWAP_STORE_FLAGS)
		return -EINVAL;
	if (!as_zero(a.reserved, sizeof(a.reserved)))
		return -EINVAL;
	if (a.queue_depth > AS_MAX_QUEUE_DEPTH)
		return -EINVAL;

	file = fget(a.fd);
	if (!file)
		return -EBADF;
	ret = -EBADF;
	if (!(file->f_mode & FMODE_READ))
		goto out_put;
	ret = -EINVAL;
	mode = file_inode(file)->i_mode;
	if (!S_ISREG(mode) && !S_ISBLK(mode))
		goto out_put;
	if (file->f_op == &as_fops || !file->f_op->read_iter || !file->f_mapping)
		goto out_put;
	host = file->f_mapping->host;
	if (S_ISBLK(mode))
		bdev = I_BDEV(host);
	else
		bdev = host->i_sb->s_bdev;
	direct = file->f_mapping->a_ops && file->f_mapping->a_ops->direct_IO;
	ret = -EOPNOTSUPP;
	if (!direct && !(a.flags & ACTIVESWAP_STORE_ALLOW_BUFFERED))
		goto out_put;
	/*
	 * A regular file must live on a block-backed filesystem, or (buffered) in memory:
	 * tmpfs, ramfs.  Never a pseudo file (procfs, sysfs, debugfs, ...), whose read_iter
	 * runs driver code with our buffers and has no business being a weight store.
	 */
	ret = -EINVAL;
	if (S_ISREG(mode) && !bdev && host->i_sb->s_magic != TMPFS_MAGIC &&
	    host->i_sb->s_magic != RAMFS_MAGIC)
		goto out_put;

	mutex_lock(&ctx->setup_lock);
	if (ctx->store) {
		ret = -EBUSY;
		goto out_unlock;
	}
	a.store_size = i_size_read(host);
	a.align = bdev ? max_t(unsigned int, bdev_logical_block_size(bdev), SECTOR_SIZE)
		       : PAGE_SIZE;
	if (!direct)
		a.align = SECTOR_SIZE;
	a.out_flags = (direct ? ACTIVESWAP_STORE_DIRECT : 0) |
		      (S_ISBLK(mode) ? ACTIVESWAP_STORE_IS_BLKDEV : 0);
	ret = as_copy_result(uarg, &a, sizeof(a), usize);
	if (ret)
		goto out_unlock;
	ctx->store_align = a.align;
	ctx->store_direct = direct;
	ctx->qd = a.queue_depth ? a.queue_depth : as_queue_depth;
	/* publish store_align, store_direct, qd with it: pairs with submit's acquire */
	smp_store_release(&ctx->store, file);
	file = NULL;	/* the ctx keeps the reference */
out_unlock:
	mutex_unlock(&ctx->setup_lock);
out_put:
	if (file)
		fput(file);
	return ret;
}

/* Validate one extent against the region and the store; build its request. */
static int as_prepare(struct as_ctx *ctx, struct as_region *r, const struct activeswap_extent *e,
		      struct as_req **out)
{
	u64 fend, rend, store_size;
	unsigned int align = ctx->store_align;
	struct as_req *req;
	loff_t pos;
	int ret;

	if (e->reserved || e->priority >= ACTIVESWAP_NR_PRIO)
		return -EINVAL;
	if (!e->length || e->length > as_max_extent_kb * 1024U)
		return -EINVAL;
	if (!IS_ALIGNED(e->file_offset, align) || !IS_ALIGNED(e->region_offset, align) ||
	    !IS_ALIGNED(e->length, align))
		return -EINVAL;
	if (check_add_overflow(e->file_offset, (u64)e->length, &fend) ||
	    check_add_overflow(e->region_offset, (u64)e->length, &rend))
		return -EINVAL;
	store_size = i_size_read(ctx->store->f_mapping->host);
	if (fend > store_size || rend > r->length)
		return -EINVAL;
	/* what read(2) checks: position limits, LSM file permission, mandatory locks */
	pos = e->file_offset;
	ret = rw_verify_area(READ, ctx->store, &pos, e->length);
	if (ret)
		return ret;

	/* the bio_vec array comes at dispatch (as_build_bvec) */
	req = kzalloc(sizeof(*req), GFP_KERNEL_ACCOUNT);
	if (!req)
		return -ENOMEM;
	req->ctx = ctx;
	req->ext = *e;
	*out = req;
	return 0;
}

static long as_ioc_submit(struct as_ctx *ctx, void __user *uarg)
{
	struct activeswap_submit a;
	struct activeswap_extent e;
	struct as_subm *subm;
	struct as_region *r;
	struct as_req *req, *tmp;
	LIST_HEAD(batch);
	u8 __user *uext;
	u32 usize, i;
	size_t total;
	u64 now;
	int ret;

	ret = as_copy_arg(&a, sizeof(a), ACTIVESWAP_SUBMIT_SIZE_VER0, uarg, &usize);
	if (ret)
		return ret;
	/* submitted and error_index are output-only and ignored on input */
	a.submitted = 0;
	a.error_index = 0;
	if (a.flags || !as_zero(a.reserved, sizeof(a.reserved)))
		return -EINVAL;
	if (a.extent_size < ACTIVESWAP_EXTENT_SIZE_VER0 || a.extent_size > AS_MAX_ARG_SIZE)
		return -EINVAL;
	if (a.count > as_max_extents)
		return -EINVAL;
	if (check_mul_overflow((size_t)a.count, (size_t)a.extent_size, &total))
		return -EINVAL;
	/* pairs with the release store in create_region */
	r = smp_load_acquire(&ctx->region);
	if (!r)
		return -EINVAL;
	/* pairs with the release store in attach_store */
	if (!smp_load_acquire(&ctx->store))
		return -EINVAL;
	if (!a.count)
		return as_copy_result(uarg, &a, sizeof(a), usize);
	uext = u64_to_user_ptr(a.extents);
	if (!access_ok(uext, total))
		return -EFAULT;
	subm = as_subm_get_current();
	if (!subm)
		return -ENOMEM;

	for (i = 0; i < a.count; i++) {
		ret = copy_struct_from_user(&e, sizeof(e), uext + (size_t)i * a.extent_size,
					    a.extent_size);
		if (!ret)
			ret = as_prepare(ctx, r, &e, &req);
		if (!ret) {
			refcount_inc(&subm->refs);
			req->subm = subm;
		}
		if (ret) {
			a.error_index = i;
			if (ret != -EFAULT && as_copy_result(uarg, &a, sizeof(a), usize))
				ret = -EFAULT;
			goto err;
		}
		list_add_tail(&req->node, &batch);
		if (!((i + 1) % AS_READ_BATCH))
			cond_resched();
	}

	now = ktime_get_ns();
	spin_lock_irq(&ctx->lock);
	if ((u64)ctx->npending + ctx->ninflight + ctx->ndone + a.count > as_max_queued) {
		spin_unlock_irq(&ctx->lock);
		ret = -EAGAIN;
		goto err;
	}
	list_for_each_entry_safe(req, tmp, &batch, node) {
		req->start_ns = now;
		trace_activeswap_fetch_submit(ctx->id, req->ext.tag, req->ext.file_offset,
					      req->ext.region_offset, req->ext.length,
					      req->ext.priority);
		list_move_tail(&req->node, &ctx->pending[req->ext.priority]);
	}
	ctx->npending += a.count;
	ctx->st_submitted += a.count;
	spin_unlock_irq(&ctx->lock);

	a.submitted = a.count;
	as_subm_put(subm);	/* the requests hold it now */
	ret = as_copy_result(uarg, &a, sizeof(a), usize);
	/* the extents are queued either way: a faulting result pointer does not undo them */
	as_dispatch(ctx);
	return ret;
err:
	list_for_each_entry_safe(req, tmp, &batch, node)
		as_req_free(req);
	as_subm_put(subm);
	return ret;
}

static long as_ioc_cancel(struct as_ctx *ctx, void __user *uarg)
{
	struct activeswap_cancel a;
	struct as_req *req, *tmp;
	u64 now = ktime_get_ns();
	u32 usize, n = 0;
	int ret, p;

	ret = as_copy_arg(&a, sizeof(a), ACTIVESWAP_CANCEL_SIZE_VER0, uarg, &usize);
	if (ret)
		return ret;
	a.cancelled = 0;	/* output-only */
	if (!as_zero(a.reserved, sizeof(a.reserved)))
		return -EINVAL;
	switch (a.flags) {
	case ACTIVESWAP_CANCEL_TAG:
		if (a.priority)
			return -EINVAL;
		break;
	case ACTIVESWAP_CANCEL_PRIORITY:
		if (a.tag || a.priority >= ACTIVESWAP_NR_PRIO)
			return -EINVAL;
		break;
	case ACTIVESWAP_CANCEL_ALL:
		if (a.tag || a.priority)
			return -EINVAL;
		break;
	default:
		return -EINVAL;
	}

	spin_lock_irq(&ctx->lock);
	for (p = 0; p < ACTIVESWAP_NR_PRIO; p++) {
		if (a.flags == ACTIVESWAP_CANCEL_PRIORITY && p != a.priority)
			continue;
		list_for_each_entry_safe(req, tmp, &ctx->pending[p], node) {
			if (a.flags == ACTIVESWAP_CANCEL_TAG && req->ext.tag != a.tag)
				continue;
			trace_activeswap_fetch_cancel(ctx->id, req->ext.tag, req->ext.priority);
			req->result = -ECANCELED;
			req->flags = ACTIVESWAP_COMPLETION_CANCELLED;
			req->latency_ns = now - req->start_ns;
			list_move_tail(&req->node, &ctx->done);
			n++;
		}
	}
	ctx->npending -= n;
	ctx->ndone += n;
	ctx->st_cancelled += n;
	spin_unlock_irq(&ctx->lock);
	if (n)
		wake_up_interruptible_poll(&ctx->wait, EPOLLIN | EPOLLRDNORM);

	a.cancelled = n;
	return as_copy_result(uarg, &a, sizeof(a), usize);
}

static long as_ioc_stats(struct as_ctx *ctx, void __user *uarg)
{
	struct activeswap_stats s;
	struct as_region *r;
	u32 usize;
	int ret;

	ret = as_copy_arg(&s, sizeof(s), ACTIVESWAP_STATS_SIZE_VER0, uarg, &usize);
	if (ret)
		return ret;
	if (s.reserved0 || !as_zero(s.reserved, sizeof(s.reserved)))
		return -EINVAL;
	memset(&s, 0, sizeof(s));
	s.size = sizeof(s);
	r = smp_load_acquire(&ctx->region);	/* pairs with create_region */
	s.region_bytes = r ? r->length : 0;
	spin_lock_irq(&ctx->lock);
	s.bytes_read = ctx->st_bytes;
	s.submitted = ctx->st_submitted;
	s.completed = ctx->st_completed;
	s.errors = ctx->st_errors;
	s.cancelled = ctx->st_cancelled;
	s.in_flight = ctx->ninflight;
	s.queued = ctx->npending;
	s.unreaped = ctx->ndone;
	spin_unlock_irq(&ctx->lock);
	return as_copy_result(uarg, &s, sizeof(s), usize);
}

/* Commands are matched without their size bits: the struct's own size field rules. */
#define AS_CMD(cmd)	((cmd) & ~(_IOC_SIZEMASK << _IOC_SIZESHIFT))

long as_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	struct as_ctx *ctx = file->private_data;
	void __user *uarg = (void __user *)arg;

	/* what changes the context needs the device open for writing; VERSION, STATS do not */
	switch (AS_CMD(cmd)) {
	case AS_CMD(ACTIVESWAP_IOC_CREATE_REGION):
	case AS_CMD(ACTIVESWAP_IOC_ATTACH_STORE):
	case AS_CMD(ACTIVESWAP_IOC_SUBMIT):
	case AS_CMD(ACTIVESWAP_IOC_CANCEL):
		if (!(file->f_mode & FMODE_WRITE))
			return -EBADF;
		break;
	}
	switch (AS_CMD(cmd)) {
	case AS_CMD(ACTIVESWAP_IOC_VERSION):
		return as_ioc_version(ctx, uarg);
	case AS_CMD(ACTIVESWAP_IOC_CREATE_REGION):
		return as_ioc_create_region(ctx, uarg);
	case AS_CMD(ACTIVESWAP_IOC_ATTACH_STORE):
		return as_ioc_attach_store(ctx, uarg);
	case AS_CMD(ACTIVESWAP_IOC_SUBMIT):
		return as_ioc_submit(ctx, uarg);
	case AS_CMD(ACTIVESWAP_IOC_CANCEL):
		return as_ioc_cancel(ctx, uarg);
	case AS_CMD(ACTIVESWAP_IOC_STATS):
		return as_ioc_stats(ctx, uarg);
	default:
		return -ENOTTY;
	}
}
